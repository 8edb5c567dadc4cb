"""Arithmetic: ``+ - * / ** @`` and negation, with NumPy broadcasting.

Each function computes its result and, beside it, the local derivative with
respect to each input as a vjp ``g -> dL/d(input)``. Broadcast inputs get their
gradient summed back to their own shape by :func:`unbroadcast`.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor, record, unbroadcast

__all__ = ["add", "subtract", "multiply", "divide", "power", "negative", "matmul"]


def _pair(a, b) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def _broadcast_error(op: str, a: Tensor, b: Tensor, exc: Exception) -> Exception:
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        return ValueError(f"{op}: operands with shapes {a.shape} and {b.shape} cannot be broadcast together")
    return exc  # not a shape problem (e.g. integers to negative integer powers): NumPy's own error


def add(a, b) -> Tensor:
    """a + b.  d/da = 1, d/db = 1."""
    a, b = _pair(a, b)
    try:
        out = a.data + b.data
    except ValueError as exc:
        raise _broadcast_error("add", a, b, exc) from None
    sa, sb = a.shape, b.shape
    return record(out, "add", (a, lambda g: unbroadcast(g, sa)), (b, lambda g: unbroadcast(g, sb)))


def subtract(a, b) -> Tensor:
    """a - b.  d/da = 1, d/db = -1."""
    a, b = _pair(a, b)
    try:
        out = a.data - b.data
    except ValueError as exc:
        raise _broadcast_error("subtract", a, b, exc) from None
    sa, sb = a.shape, b.shape
    return record(out, "subtract", (a, lambda g: unbroadcast(g, sa)), (b, lambda g: unbroadcast(-g, sb)))


def multiply(a, b) -> Tensor:
    """a * b.  d/da = b, d/db = a."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    try:
        out = x * y
    except ValueError as exc:
        raise _broadcast_error("multiply", a, b, exc) from None
    return record(
        out, "multiply",
        (a, lambda g: unbroadcast(g * y, x.shape)),
        (b, lambda g: unbroadcast(g * x, y.shape)),
    )


def divide(a, b) -> Tensor:
    """a / b.  d/da = 1/b, d/db = -a/b^2 = -out/b."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    try:
        out = x / y
    except ValueError as exc:
        raise _broadcast_error("divide", a, b, exc) from None
    return record(
        out, "divide",
        (a, lambda g: unbroadcast(g / y, x.shape)),
        (b, lambda g: unbroadcast(-g * out / y, y.shape)),
    )


def power(a, b) -> Tensor:
    """a ** b.  d/da = b a^(b-1), d/db = a^b log a (0 where a = 0)."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    try:
        out = x**y
    except ValueError as exc:
        raise _broadcast_error("power", a, b, exc) from None

    def d_base(g):
        if y.ndim == 0 and y == 2:
            return unbroadcast(g * 2 * x, x.shape)  # the common square, without a second power
        with np.errstate(divide="ignore", invalid="ignore"):
            local = np.where(y == 0, 0, y * x ** (y - 1))
        return unbroadcast(g * local, x.shape)

    def d_exponent(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            local = out * np.log(np.where(x == 0, 1, x))
        return unbroadcast(g * local, y.shape)

    return record(out, "power", (a, d_base), (b, d_exponent))


def negative(a) -> Tensor:
    """-a.  d/da = -1."""
    a = as_tensor(a)
    return record(-a.data, "negative", (a, lambda g: -g))


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's ``@`` semantics (1-D, 2-D and batched).

    For C = A B:  dL/dA = dL/dC Bᵀ,  dL/dB = Aᵀ dL/dC. A 1-D operand is treated
    as a row (left) or column (right) vector, and batch dimensions that were
    broadcast are summed away.
    """
    a, b = _pair(a, b)
    A, B = a.data, b.data
    if A.ndim == 0 or B.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {A.shape} and {B.shape}")
    try:
        out = A @ B
    except ValueError:
        raise ValueError(
            f"matmul: shapes {A.shape} and {B.shape} are not aligned "
            f"({A.shape[-1]} != {B.shape[-2] if B.ndim > 1 else B.shape[0]})"
        ) from None
    if A.ndim == 2 and B.ndim == 2:
        return record(out, "matmul", (a, lambda g: g @ B.T), (b, lambda g: A.T @ g))

    A2 = A[None, :] if A.ndim == 1 else A
    B2 = B[:, None] if B.ndim == 1 else B

    def lift(g):  # put back the axes that 1-D operands dropped from the result
        if B.ndim == 1:
            g = g[..., None]
        if A.ndim == 1:
            g = np.expand_dims(g, -2)
        return g

    def d_a(g):
        ga = lift(g) @ np.swapaxes(B2, -1, -2)
        return unbroadcast(ga, A2.shape).reshape(A.shape)

    def d_b(g):
        gb = np.swapaxes(A2, -1, -2) @ lift(g)
        return unbroadcast(gb, B2.shape).reshape(B.shape)

    return record(out, "matmul", (a, d_a), (b, d_b))
