"""Parameter initialisation, in place, with PyTorch's conventions.

Every function fills ``tensor.data`` in place (keeping its dtype), records
nothing in the graph, and returns the tensor. Random draws come from
``generator`` if given, else from the global generator, so
:func:`descend.manual_seed` reproduces them.

Fans. For a weight of shape (out, in, *k) — a Linear weight (out, in) or a
convolution kernel — the receptive field r is the product of k (1 for
Linear), and

    fan_in = in · r,    fan_out = out · r.

Gains (:func:`calculate_gain`), the factor that keeps activations' variance
from shrinking or growing layer after layer for a given nonlinearity:

    linear, identity, sigmoid, conv*: 1
    tanh:        5/3
    relu:        √2
    leaky_relu:  √(2 / (1 + a²)), a the negative slope (default 0.01)
    selu:        3/4

Xavier / Glorot (for tanh- and sigmoid-like nets; balances the forward and
backward pass):  std = gain · √(2 / (fan_in + fan_out));
uniform on [−√3·std, √3·std] or normal(0, std²).

Kaiming / He (for ReLU-like nets; preserves the forward variance with
``mode="fan_in"``, the backward one with ``mode="fan_out"``):
std = gain / √fan, gain from ``nonlinearity`` and ``a``; uniform on
[−√3·std, √3·std] or normal(0, std²). Note the default
``nonlinearity="leaky_relu"`` with ``a=0`` gives gain √2, as for ReLU.

PyTorch's default for :class:`~descend.nn.Linear` is
``kaiming_uniform_(weight, a=√5)``, i.e. weights uniform on
[−1/√fan_in, 1/√fan_in], and the bias uniform on the same interval.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as _random
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "constant_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "default_affine_",
]


def _target(tensor, name: str) -> np.ndarray:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a descend Tensor or Parameter, got {type(tensor).__name__}")
    return tensor.data


def _rng(generator) -> np.random.Generator:
    if generator is None:
        return _random.generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    return generator


def _fill(tensor: Tensor, values) -> Tensor:
    tensor.data[...] = values  # in place: keeps dtype and every reference to the array
    return tensor


#: Values drawn per slice when filling a large array: the float64 draws of a
#: float32 weight matrix would otherwise need twice its memory at once.
_DRAW_CHUNK = 1 << 20


def _draw(tensor: Tensor, draw, p1: float, p2: float) -> Tensor:
    """Fill with ``draw(p1, p2, n)`` (a Generator method), slice by slice for large arrays.

    The generator produces the same sequence whether drawn at once or in slices,
    so the values do not depend on the slicing.
    """
    data = tensor.data
    if data.size <= _DRAW_CHUNK or not data.flags.c_contiguous:
        return _fill(tensor, draw(p1, p2, data.shape))
    flat = data.reshape(-1)
    for lo in range(0, flat.size, _DRAW_CHUNK):
        hi = min(lo + _DRAW_CHUNK, flat.size)
        flat[lo:hi] = draw(p1, p2, hi - lo)
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity`` (see the table in this module's docstring)."""
    linear_like = {"linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
                   "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
    if nonlinearity in linear_like:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(data: np.ndarray, name: str) -> tuple[int, int]:
    if data.ndim < 2:
        raise ValueError(
            f"{name}: fan in and fan out need a tensor with at least 2 dimensions, got shape {data.shape}"
        )
    receptive = int(np.prod(data.shape[2:])) if data.ndim > 2 else 1
    return data.shape[1] * receptive, data.shape[0] * receptive


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with values drawn uniformly from [a, b)."""
    _target(tensor, "uniform_")  # validates the tensor
    if not a <= b:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    return _draw(tensor, _rng(generator).uniform, a, b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with values drawn from the normal distribution N(mean, std²)."""
    _target(tensor, "normal_")  # validates the tensor
    if not std >= 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _draw(tensor, _rng(generator).normal, mean, std)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _target(tensor, "constant_")
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(−a, a) with a = gain · √(6 / (fan_in + fan_out))."""
    data = _target(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(data, "xavier_uniform_")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return _draw(tensor, _rng(generator).uniform, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    data = _target(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(data, "xavier_normal_")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _draw(tensor, _rng(generator).normal, 0.0, std)


def _kaiming_std(data, a, mode, nonlinearity, name) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(data, name)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{name}: cannot initialise a tensor with zero {mode} (shape {data.shape})")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He uniform: U(−bound, bound), bound = √3 · gain / √fan (gain from ``nonlinearity``, ``a``)."""
    data = _target(tensor, "kaiming_uniform_")
    bound = math.sqrt(3.0) * _kaiming_std(data, a, mode, nonlinearity, "kaiming_uniform_")
    return _draw(tensor, _rng(generator).uniform, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He normal: N(0, std²), std = gain / √fan (gain from ``nonlinearity``, ``a``)."""
    data = _target(tensor, "kaiming_normal_")
    std = _kaiming_std(data, a, mode, nonlinearity, "kaiming_normal_")
    return _draw(tensor, _rng(generator).normal, 0.0, std)


def default_affine_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default for an affine layer (``Linear``, ``Conv2d``): W by
    ``kaiming_uniform_(a=√5)``, i.e. uniform on [−1/√fan_in, 1/√fan_in], and b uniform on the
    same interval; fan_in = the product of W's dimensions after the first (an empty W is zeros)."""
    fan_in = math.prod(weight.data.shape[1:])
    if weight.data.size:
        kaiming_uniform_(weight, a=math.sqrt(5))
    else:
        zeros_(weight)
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)
