"""Activation functions as modules (each wraps the function of the same name in
:mod:`descend.nn.functional`, with PyTorch's constructor arguments), ``Identity`` (the
``"identity"`` activation) and the registry of activation names."""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softplus", "ELU", "Softmax", "LogSoftmax",
           "Identity", "ACTIVATIONS", "activation_module"]


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope``·x otherwise."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """σ(x) = 1/(1 + e^(−x))."""

    def forward(self, x) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    """x·Φ(x) (``approximate="tanh"`` for the tanh approximation)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """(1/β) log(1 + e^(βx)), linear where βx > ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        if not beta > 0:
            raise ValueError(f"Softplus: beta must be positive, got {beta!r}")
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, x) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """x for x > 0, α(e^x − 1) otherwise."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class _AlongDim(Module):
    """An activation that normalises along one axis, ``dim`` (None: the last axis)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """softmax along ``dim`` (None: the last axis)."""

    def forward(self, x) -> Tensor:
        return F.softmax(x, self.dim)


class LogSoftmax(_AlongDim):
    """log-softmax along ``dim`` (None: the last axis)."""

    def forward(self, x) -> Tensor:
        return F.log_softmax(x, self.dim)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a skipped activation)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


#: Activation names accepted by :class:`~descend.nn.MLP` (and :mod:`descend.backprop`).
ACTIVATIONS = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU,
    "softplus": Softplus, "elu": ELU, "identity": Identity,
}


def activation_module(name: str) -> Module:
    """A fresh activation module from its name (``"identity"`` gives :class:`~descend.nn.Identity`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
