"""Activation functions and softmax, in numerically stable forms.

None of these overflow for inputs of magnitude 1e4: sigmoid and softplus are
evaluated through e^(-|x|) ≤ 1, softmax and log-softmax subtract the maximum.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, as_tensor, record
from .rule import EAGER, Rule
from .special import erf

__all__ = ["sigmoid", "relu", "leaky_relu", "softplus", "gelu", "elu", "softmax", "log_softmax"]


def _sigmoid_kernel(k, x):
    # σ(x) = 1/(1+e^-x) for x ≥ 0 and e^x/(1+e^x) for x < 0; both use z = e^(-|x|) ≤ 1.
    # (Each result goes to its buffer by name, never to a previous result: eagerly a
    # 0-d input gives NumPy scalars, which cannot be written into.)
    zb, db = k.buffer(x.shape, x.dtype), k.buffer(x.shape, x.dtype)
    z = k.exp(k.negative(k.abs(x, out=zb), out=zb), out=zb)
    d = k.add(1, z, out=db)
    y = k.divide(z, d, out=k.empty(x.shape, x.dtype))  # x < 0 (an array: written into below)
    d = k.divide(1, d, out=db)  # x ≥ 0
    pos = k.greater_equal(x, 0, out=k.buffer(x.shape, bool))
    k.copyto(y, d, where=pos)
    return y


def _stable_sigmoid(v: np.ndarray) -> np.ndarray:
    return _sigmoid_kernel(EAGER, v)


def _sigmoid_forward(k, xs, attrs):
    return _sigmoid_kernel(k, xs[0]), None


def _sigmoid_vjp(k, i, xs, y, saved, attrs, g, out=None):
    # σ' = σ(1 − σ)
    one_minus = k.subtract(1, y, out=k.buffer(y.shape, y.dtype))
    return k.multiply(k.multiply(g, y, out=out), one_minus, out=out)


_SIGMOID = Rule("sigmoid", _sigmoid_forward, _sigmoid_vjp)


def sigmoid(x) -> Tensor:
    """σ(x) = 1/(1 + e^(-x)).  σ' = σ(1 - σ)."""
    x = as_tensor(x)
    if x.data.dtype.kind != "f":  # integers and booleans: computed in float64, as NumPy would
        x = Tensor._wrap(x.data.astype(np.float64))
    return _SIGMOID((x,))


_ZEROS: dict = {}


def _zero(dtype) -> np.ndarray:
    """A 0-d zero of ``dtype``: NumPy converts a Python 0 anew on every call, an array it does not."""
    z = _ZEROS.get(dtype)
    if z is None:
        z = _ZEROS[dtype] = np.zeros((), dtype)
        z.flags.writeable = False
    return z


def _relu_forward(k, xs, attrs):
    (x,) = xs
    return k.maximum(x, _zero(x.dtype), out=k.buffer(x.shape, x.dtype)), None


def _relu_vjp(k, i, xs, y, saved, attrs, g, out=None):
    # d/dx max(x, 0) = [x > 0] = [y > 0]
    mask = k.greater(y, _zero(y.dtype), out=k.buffer(y.shape, bool))
    return k.multiply(g, mask, out=out)


_RELU = Rule("relu", _relu_forward, _relu_vjp)


def relu(x) -> Tensor:
    """max(x, 0).  d/dx = 1 for x > 0, else 0."""
    return _RELU((x if isinstance(x, Tensor) else as_tensor(x),))


def _leaky_relu_forward(k, xs, attrs):
    (x,) = xs
    pos = k.greater(x, 0, out=k.buffer(x.shape, bool))
    # slope·x everywhere (a Python float: computed in x's dtype), then x where x > 0
    y = k.multiply(x, attrs["negative_slope"], out=k.empty(x.shape, x.dtype), casting="unsafe")
    k.copyto(y, x, where=pos)
    return y, pos


def _leaky_relu_vjp(k, i, xs, y, pos, attrs, g, out=None):
    # d/dx = 1 where x > 0, else the slope (rounded once to g's dtype)
    local = k.empty(g.shape, g.dtype)
    k.copyto(local, np.asarray(attrs["negative_slope"], dtype=g.dtype))
    k.copyto(local, np.ones((), g.dtype), where=pos)
    return k.multiply(g, local, out=out)


_LEAKY_RELU = Rule("leaky_relu", _leaky_relu_forward, _leaky_relu_vjp)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope·x otherwise."""
    return _LEAKY_RELU((as_tensor(x),), {"negative_slope": negative_slope})


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/β) log(1 + e^(βx)); linear above ``threshold`` (PyTorch's convention).  d/dx = σ(βx)."""
    x = as_tensor(x)
    v = x.data
    bx = v * beta
    # log(1 + e^t) = max(t, 0) + log1p(e^(-|t|)): never overflows.
    soft = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / beta
    linear = bx > threshold
    out = np.where(linear, v, soft).astype(v.dtype, copy=False)
    return record(out, "softplus", (x, lambda g: g * np.where(linear, 1, _stable_sigmoid(bx)).astype(g.dtype, copy=False)))


def gelu(x, approximate: str = "none") -> Tensor:
    """x·Φ(x), Φ the standard normal CDF (``approximate="tanh"`` for the tanh form).

    exact:  Φ(x) = ½(1 + erf(x/√2)),  d/dx = Φ(x) + x φ(x),  φ(x) = e^(-x²/2)/√(2π).
    tanh:   ½x(1 + tanh(u)),  u = √(2/π)(x + 0.044715x³).
    """
    x = as_tensor(x)
    v = x.data
    if approximate == "none":
        cdf = (0.5 * (1.0 + erf(v / np.sqrt(2.0)))).astype(v.dtype, copy=False)
        out = v * cdf

        def vjp(g):
            # Python-float constants: a NumPy float64 scalar would promote float32 to float64.
            pdf = np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
            return g * (cdf + v * pdf)

    elif approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (v + 0.044715 * v**3))
        out = 0.5 * v * (1 + t)

        def vjp(g):
            du = k * (1 + 3 * 0.044715 * v * v)
            return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)

    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return record(out, "gelu", (x, vjp))


def elu(x, alpha: float = 1.0) -> Tensor:
    """x for x > 0, α(e^x - 1) otherwise.  d/dx = 1 or α e^x."""
    x = as_tensor(x)
    v = x.data
    pos = v > 0
    em1 = np.expm1(np.minimum(v, 0))  # never exponentiates a large positive number
    out = np.where(pos, v, alpha * em1).astype(v.dtype, copy=False)
    return record(out, "elu", (x, lambda g: g * np.where(pos, 1, alpha * (em1 + 1)).astype(g.dtype, copy=False)))


def softmax(x, axis: int = -1) -> Tensor:
    """e^(x_i) / Σ_j e^(x_j) along ``axis`` (shifted by the maximum: no overflow).

    Backward: dL/dx = s ⊙ (g - Σ g ⊙ s).
    """
    x = as_tensor(x)
    v = x.data
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    s = e / e.sum(axis=axis, keepdims=True)
    return record(s, "softmax", (x, lambda g: s * (g - (g * s).sum(axis=axis, keepdims=True))))


def log_softmax(x, axis: int = -1) -> Tensor:
    """x_i - logsumexp(x) along ``axis``.  Backward: dL/dx = g - softmax(x) Σ g."""
    x = as_tensor(x)
    v = x.data
    shifted = v - v.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return record(out, "log_softmax", (x, lambda g: g - np.exp(out) * g.sum(axis=axis, keepdims=True)))
