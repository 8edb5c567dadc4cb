"""Optimizers: gradient descent and its classic refinements, as in :mod:`torch.optim`.

Classes (same names, hyperparameters, defaults and update semantics as
PyTorch): :class:`SGD` (plain, momentum, Nesterov), :class:`Adagrad`,
:class:`RMSprop`, :class:`Adadelta`, :class:`Adam`, :class:`AdamW`,
:class:`Adamax`, :class:`NAdam`, :class:`RAdam`, :class:`LBFGS`.

The mathematics lives in :mod:`descend.optim.functional`: in-place rules
over NumPy arrays, the only copy of each update (the classes are thin
wrappers over them); :mod:`descend.optim.transforms` adapts them as
Optax-style transformations.
Learning-rate schedules are in :mod:`descend.optim.lr_scheduler`; a
conformance kit for any optimizer in :mod:`descend.optim.testing`.

``get(name, params, **hyperparameters)`` builds an optimizer from a registry
name (``names()``), which is how the CLI, the landscape explorer and the
scikit-learn estimators accept ``optimizer="adam"``.

No library code here starts threads or changes how many threads NumPy's BLAS
uses; to limit those, use e.g. ``threadpoolctl.threadpool_limits(1)`` around
the training loop.
"""

from __future__ import annotations

from . import functional, lr_scheduler, transforms
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .lbfgs import LBFGS
from .optimizer import NonFiniteGradientError, Optimizer, required
from .registry import get, get_class, names
from .sgd import SGD

__all__ = [
    "Optimizer", "NonFiniteGradientError", "required",
    "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "LBFGS",
    "functional", "transforms", "lr_scheduler", "get", "get_class", "names",
]
