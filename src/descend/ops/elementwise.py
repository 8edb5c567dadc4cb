"""Elementwise functions and their local derivatives.

Each vjp multiplies the incoming gradient by the derivative of the function at
the saved input (or output, where that is cheaper: d exp(x)/dx = exp(x)).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor, record, unbroadcast
from .arithmetic import _pair
from .rule import Rule

__all__ = [
    "exp", "log", "log1p", "sqrt", "abs", "sin", "cos", "tanh",
    "maximum", "minimum", "clip", "where", "square", "sign", "astype",
]


def exp(x) -> Tensor:
    """e^x.  d/dx = e^x."""
    x = as_tensor(x)
    out = np.exp(x.data)
    return record(out, "exp", (x, lambda g: g * out))


def log(x) -> Tensor:
    """Natural logarithm.  d/dx = 1/x."""
    x = as_tensor(x)
    v = x.data
    out = np.log(v)
    return record(out, "log", (x, lambda g: g / v))


def log1p(x) -> Tensor:
    """log(1 + x), accurate for small x.  d/dx = 1/(1 + x)."""
    x = as_tensor(x)
    v = x.data
    out = np.log1p(v)
    return record(out, "log1p", (x, lambda g: g / (1 + v)))


def sqrt(x) -> Tensor:
    """√x.  d/dx = 1/(2√x)."""
    x = as_tensor(x)
    out = np.sqrt(x.data)
    return record(out, "sqrt", (x, lambda g: g / (2 * out)))


def square(x) -> Tensor:
    """x².  d/dx = 2x."""
    x = as_tensor(x)
    v = x.data
    return record(np.square(v), "square", (x, lambda g: g * (2 * v)))


def abs(x) -> Tensor:  # NumPy's name, shadowing the builtin on purpose
    """|x|.  d/dx = sign(x) (0 at 0, as PyTorch)."""
    x = as_tensor(x)
    v = x.data
    return record(np.abs(v), "abs", (x, lambda g: g * np.sign(v)))


def sign(x) -> Tensor:
    """sign(x); its derivative is 0 wherever it exists."""
    x = as_tensor(x)
    return record(np.sign(x.data), "sign", (x, lambda g: np.zeros_like(g)))


def sin(x) -> Tensor:
    """sin x.  d/dx = cos x."""
    x = as_tensor(x)
    v = x.data
    return record(np.sin(v), "sin", (x, lambda g: g * np.cos(v)))


def cos(x) -> Tensor:
    """cos x.  d/dx = -sin x."""
    x = as_tensor(x)
    v = x.data
    return record(np.cos(v), "cos", (x, lambda g: -g * np.sin(v)))


def _tanh_forward(k, xs, attrs):
    (x,) = xs
    return k.tanh(x, out=k.buffer(x.shape, x.dtype)), None


def _tanh_vjp(k, i, xs, y, saved, attrs, g, out=None):
    # d/dx tanh x = 1 − tanh² x
    buf = k.buffer(y.shape, y.dtype)
    local = k.subtract(1, k.multiply(y, y, out=buf), out=buf)
    return k.multiply(g, local, out=out)


_TANH = Rule("tanh", _tanh_forward, _tanh_vjp)


def tanh(x) -> Tensor:
    """tanh x.  d/dx = 1 - tanh² x."""
    return _TANH((as_tensor(x),))


def _select(name, a, b, pick_a):
    a, b = _pair(a, b)
    x, y = a.data, b.data
    try:
        out = pick_a(x, y)
    except ValueError:
        raise ValueError(f"{name}: operands with shapes {x.shape} and {y.shape} cannot be broadcast together") from None
    # The larger (smaller) input gets the gradient; a tie splits it evenly (as PyTorch).
    def share(first):
        def vjp(g):
            mine, other = (x, y) if first else (y, x)
            w = np.where(mine == other, 0.5, (pick_a(mine, other) == mine)).astype(g.dtype)
            return unbroadcast(g * w, mine.shape)
        return vjp
    return record(out, name, (a, share(True)), (b, share(False)))


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b); the gradient goes to the larger input, half each on ties."""
    return _select("maximum", a, b, np.maximum)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b); the gradient goes to the smaller input, half each on ties."""
    return _select("minimum", a, b, np.minimum)


def clip(x, a_min=None, a_max=None) -> Tensor:
    """Clamp x to [a_min, a_max].  d/dx = 1 inside the interval (ends included), 0 outside."""
    if a_min is None and a_max is None:
        raise ValueError("clip: at least one of a_min and a_max must be given")
    x = as_tensor(x)
    v = x.data
    lo = a_min.data if isinstance(a_min, Tensor) else a_min
    hi = a_max.data if isinstance(a_max, Tensor) else a_max
    out = np.clip(v, lo, hi)
    if out.dtype != v.dtype and v.dtype.kind == "f":
        out = out.astype(v.dtype)

    def vjp(g):
        keep = np.ones(v.shape, dtype=bool)
        if lo is not None:
            keep &= v >= lo
        if hi is not None:
            keep &= v <= hi
        return unbroadcast(g * keep, v.shape)

    return record(out, "clip", (x, vjp))


def where(condition, x, y) -> Tensor:
    """Pick from x where condition holds, else from y; each gets the gradient where it was picked."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    x, y = _pair(x, y)
    a, b = x.data, y.data
    try:
        out = np.where(cond, a, b)
    except ValueError:
        raise ValueError(
            f"where: condition {cond.shape}, x {a.shape} and y {b.shape} cannot be broadcast together"
        ) from None
    return record(
        out, "where",
        (x, lambda g: unbroadcast(np.where(cond, g, 0), a.shape)),
        (y, lambda g: unbroadcast(np.where(cond, 0, g), b.shape)),
    )


def astype(x, dtype) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    x = as_tensor(x)
    dtype = np.dtype(dtype)
    src = x.data.dtype
    if dtype.kind not in "biuf":
        raise TypeError(f"astype: unsupported dtype {dtype}")
    out = x.data.astype(dtype)
    if dtype.kind != "f":
        return Tensor._wrap(out)
    return record(out, "astype", (x, lambda g: g.astype(src)))
