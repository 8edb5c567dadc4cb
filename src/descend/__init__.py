"""descend: gradient descent and backpropagation from first principles on NumPy.

The core (this package, ``nn``, ``optim``, ``train``, ``data``, ``landscapes``,
``search``, ``backprop``) needs NumPy alone. Subpackages load on first use.
"""

from __future__ import annotations

import importlib

from . import ops
from .autograd import enable_grad, grad, no_grad, set_grad_enabled, value_and_grad
from .gradcheck import GradcheckError, gradcheck
from .ops import *  # noqa: F403 - descend.exp, descend.sum, ...: ops.__all__ is the one list
from .tensor import Tensor, is_grad_enabled, tensor

__version__ = "0.1.0"

_SUBMODULES = {
    "nn", "optim", "train", "data", "landscapes", "search", "backprop", "viz", "sklearn",
    "distributed", "cli", "random", "autograd",
}
# Loaded on first use: numpy.random (behind manual_seed) and json (behind save/load) would
# otherwise add tens of milliseconds to ``import descend``.
_LAZY_ATTRS = {
    "lr_find": "descend.train", "fit": "descend.train", "manual_seed": "descend.random",
    "save": "descend.serialization", "load": "descend.serialization",
    "CheckpointError": "descend.serialization",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"descend.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    raise AttributeError(f"module 'descend' has no attribute {name!r}")


__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "grad", "value_and_grad", "gradcheck", "GradcheckError",
    "manual_seed", "save", "load", "CheckpointError",  # noqa: F405 - served by __getattr__
    *ops.__all__,
]
