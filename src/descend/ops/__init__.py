"""Every differentiable operation descend knows, and the Tensor methods built on them.

``REGISTRY`` maps each public operation's name to its function. The test suite
generates its gradient checks from a matching table of sample inputs, and
fails if an operation here has no entry there: no op can exist untested.
"""

from __future__ import annotations

from ..tensor import Tensor
from . import activation, arithmetic, conv, elementwise, reduction, shape
from .activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, softplus
from .arithmetic import add, divide, matmul, multiply, negative, power, subtract
from .comparison import equal, greater, greater_equal, less, less_equal, not_equal
from .conv import adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d, pad
from .elementwise import (
    abs,
    astype,
    clip,
    cos,
    exp,
    log,
    log1p,
    maximum,
    minimum,
    sign,
    sin,
    sqrt,
    square,
    tanh,
    where,
)
from .reduction import logsumexp, max, mean, min, std, sum, var
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    getitem,
    reshape,
    squeeze,
    stack,
    transpose,
)

REGISTRY = {
    name: getattr(module, name)
    for module in (arithmetic, elementwise, reduction, shape, activation, conv)
    for name in module.__all__
}

# Spelled out (tests/ops checks it is exactly REGISTRY's names and the comparisons), so that
# tools and readers see what ``from descend.ops import *`` gives.
__all__ = [
    "abs", "adaptive_avg_pool2d", "add", "astype", "avg_pool2d", "broadcast_to", "clip",
    "concatenate", "conv2d", "cos", "divide", "elu", "exp",
    "expand_dims", "flatten", "gelu", "getitem", "leaky_relu", "log", "log1p", "log_softmax",
    "logsumexp", "matmul", "max", "max_pool2d", "maximum", "mean", "min", "minimum", "multiply",
    "negative", "pad",
    "power", "relu", "reshape", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "square",
    "squeeze", "stack", "std", "subtract", "sum", "tanh", "transpose", "var", "where",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
]


def _install_tensor_methods() -> None:
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: subtract(a, b)
    T.__rsub__ = lambda a, b: subtract(b, a)
    T.__mul__ = lambda a, b: multiply(a, b)
    T.__rmul__ = lambda a, b: multiply(b, a)
    T.__truediv__ = lambda a, b: divide(a, b)
    T.__rtruediv__ = lambda a, b: divide(b, a)
    T.__pow__ = lambda a, b: power(a, b)
    T.__rpow__ = lambda a, b: power(b, a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__neg__ = lambda a: negative(a)
    T.__pos__ = lambda a: a
    T.__abs__ = lambda a: abs(a)
    T.__getitem__ = lambda a, index: getitem(a, index)
    T.__eq__ = lambda a, b: equal(a, b)
    T.__ne__ = lambda a, b: not_equal(a, b)
    T.__lt__ = lambda a, b: less(a, b)
    T.__le__ = lambda a, b: less_equal(a, b)
    T.__gt__ = lambda a, b: greater(a, b)
    T.__ge__ = lambda a, b: greater_equal(a, b)
    T.T = property(lambda a: transpose(a), doc="The tensor with its axes reversed.")
    T.mT = property(lambda a: transpose(a, tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)),
                    doc="Transpose of the last two axes (batched matrices).")
    for name in ("sum", "mean", "max", "min", "var", "std", "logsumexp"):
        setattr(T, name, REGISTRY[name])
    for name in ("exp", "log", "log1p", "sqrt", "sin", "cos", "tanh", "clip", "square",
                 "sigmoid", "relu", "softmax", "log_softmax", "squeeze",
                 "astype", "flatten"):
        setattr(T, name, REGISTRY[name])
    T.abs = abs
    T.transpose = lambda a, *axes: transpose(
        a, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None)
    )
    T.reshape = reshape
    T.expand_dims = expand_dims
    T.broadcast_to = broadcast_to
    T.matmul = matmul
    T.float = lambda a: astype(a, "float32")
    T.double = lambda a: astype(a, "float64")


_install_tensor_methods()
