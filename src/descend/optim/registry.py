"""The optimizers by name: ``get("adam", params, lr=0.01)``, for the command line, the landscape
explorer, the estimators and :mod:`descend.optim.transforms`."""

from __future__ import annotations

import difflib
import inspect

from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["get", "get_class", "names"]


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
        raise ValueError(unknown_name_message(name, list(_REGISTRY)))
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


def unknown_name_message(name, known: list[str]) -> str:
    close = difflib.get_close_matches(str(name).lower(), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown optimizer {name!r}: known names are {', '.join(known)}{hint}"
