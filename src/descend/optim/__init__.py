"""Optimizers: gradient descent and its classic refinements, as in :mod:`torch.optim`.

Classes (same names, hyperparameters, defaults and update semantics as
PyTorch): :class:`SGD` (plain, momentum, Nesterov), :class:`Adagrad`,
:class:`RMSprop`, :class:`Adadelta`, :class:`Adam`, :class:`AdamW`,
:class:`Adamax`, :class:`NAdam`, :class:`RAdam`, :class:`LBFGS`.

The mathematics lives in :mod:`descend.optim.functional`: in-place rules
over NumPy arrays, the only copy of each update (the classes are thin
wrappers over them), and Optax-style transformations adapted from them.
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

from . import functional, lr_scheduler
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .lbfgs import LBFGS
from .optimizer import NonFiniteGradientError, Optimizer, required
from .sgd import SGD

__all__ = [
    "Optimizer", "NonFiniteGradientError", "required",
    "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "LBFGS",
    "functional", "lr_scheduler", "get", "get_class", "names",
]

#: Registry: lowercase name -> (class, hyperparameters preset by the name).
_REGISTRY: dict[str, tuple[type, dict]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adadelta": (Adadelta, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
    "adamax": (Adamax, {}),
    "nadam": (NAdam, {}),
    "radam": (RAdam, {}),
    "lbfgs": (LBFGS, {}),
}


def names() -> list[str]:
    """The registry's names, e.g. for a command-line ``--optimizer`` choice."""
    return list(_REGISTRY)


def get_class(name: str) -> tuple[type, dict]:
    """``(class, preset hyperparameters)`` for a registry name (case-insensitive)."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(functional._unknown_name_message(name, list(_REGISTRY)))
    cls, preset = _REGISTRY[key]
    return cls, dict(preset)


def get(name: str, params, **hyperparameters) -> Optimizer:
    """Build the optimizer called ``name`` over ``params``.

    ``get("adam", model.parameters(), lr=0.01)`` is ``Adam(model.parameters(), lr=0.01)``;
    ``"momentum"`` is ``SGD(momentum=0.9)`` and ``"nesterov"`` ``SGD(momentum=0.9,
    nesterov=True)`` (both overridable). An unknown hyperparameter raises a
    TypeError naming it and the ones the optimizer accepts.
    """
    cls, preset = get_class(name)
    kwargs = {**preset, **hyperparameters}
    import inspect

    accepted = [
        p.name for p in inspect.signature(cls.__init__).parameters.values()
        if p.name not in ("self", "params") and p.kind is not p.VAR_KEYWORD
    ]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise TypeError(
            f"optimizer {str(name).lower()!r} ({cls.__name__}) has no hyperparameter "
            f"{', '.join(map(repr, unknown))}; it accepts {', '.join(accepted)}"
        )
    return cls(params, **kwargs)
