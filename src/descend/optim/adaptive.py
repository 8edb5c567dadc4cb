"""Per-coordinate adaptive learning rates: Adagrad, RMSprop, Adadelta."""

from __future__ import annotations

import numpy as np

from . import functional as F
from .optimizer import Optimizer

__all__ = ["Adagrad", "RMSprop", "Adadelta"]


def _zeros(param: np.ndarray) -> np.ndarray:
    return np.zeros(param.shape, dtype=param.dtype)


class Adagrad(Optimizer):
    r"""Adagrad: ``θ ← θ − lr/(1+(t−1)η) · g/(√s + ε)`` with ``s`` the sum of squared gradients.

    Each coordinate's step shrinks with the total size of the gradients it has
    seen, so rarely active (sparse) features keep large steps. The sum never
    forgets, so on long runs the steps decay towards zero. Rule:
    :func:`descend.optim.functional.adagrad_`.

    Parameters (as :class:`torch.optim.Adagrad`): ``lr=1e-2``, ``lr_decay=0``
    (``η``), ``weight_decay=0``, ``initial_accumulator_value=0`` (the start of
    ``s``), ``eps=1e-10``, ``maximize=False``; plus ``skip_nonfinite``.

    State per parameter: ``step``, ``sum``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 *, maximize=False, skip_nonfinite=False):
        defaults = {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "maximize": maximize,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _validate(self, group, where):
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._number(group, key, where, low=0)
        self._flag(group, "maximize", where)

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["sum"] = np.full(param.shape, group["initial_accumulator_value"], dtype=param.dtype)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        self._apply(
            F.adagrad_, param, grad, (state["sum"],),
            lr=group["lr"], step=state["step"], lr_decay=group["lr_decay"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
        )


class RMSprop(Optimizer):
    r"""RMSprop: ``θ ← θ − lr · g/(√v + ε)`` with ``v`` a moving average of ``g²``.

    Adagrad with a forgetting average (``alpha``), so steps adapt to the
    recent gradient scale instead of decaying for ever; suits non-stationary
    and noisy objectives. ``centered`` divides by an estimate of the
    gradient's standard deviation instead; ``momentum`` adds a velocity on top.
    Rule: :func:`descend.optim.functional.rmsprop_`.

    Parameters (as :class:`torch.optim.RMSprop`): ``lr=1e-2``, ``alpha=0.99``,
    ``eps=1e-8``, ``weight_decay=0``, ``momentum=0``, ``centered=False``,
    ``maximize=False``; plus ``skip_nonfinite``.

    State per parameter: ``step``, ``square_avg``, and ``momentum_buffer`` /
    ``grad_avg`` when used.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 maximize=False, *, skip_nonfinite=False):
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "maximize": maximize,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _validate(self, group, where):
        for key in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            self._number(group, key, where, low=0)
        self._flag(group, "centered", where)
        self._flag(group, "maximize", where)

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["square_avg"] = _zeros(param)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        grad_avg = buf = None
        if group["centered"]:
            grad_avg = state.get("grad_avg")
            if grad_avg is None:
                grad_avg = state["grad_avg"] = _zeros(param)
        if group["momentum"] > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _zeros(param)
        self._apply(
            F.rmsprop_, param, grad, (state["square_avg"], grad_avg, buf),
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
            momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"],
        )


class Adadelta(Optimizer):
    r"""Adadelta: ``Δ = √(a+ε)/√(v+ε) · g``, ``θ ← θ − lr·Δ`` with running averages ``v`` of ``g²``, ``a`` of ``Δ²``.

    The ratio of two RMS values gives the step the units of the parameter, so
    the method is insensitive to the learning rate (the default ``lr=1`` is
    meant to be left alone). Rule: :func:`descend.optim.functional.adadelta_`.

    Parameters (as :class:`torch.optim.Adadelta`): ``lr=1.0``, ``rho=0.9``,
    ``eps=1e-6``, ``weight_decay=0``, ``maximize=False``; plus ``skip_nonfinite``.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    _n_scratch = 3

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False,
                 skip_nonfinite=False):
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _validate(self, group, where):
        for key in ("lr", "eps", "weight_decay"):
            self._number(group, key, where, low=0)
        self._number(group, "rho", where, low=0, high=1)
        self._flag(group, "maximize", where)

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["square_avg"] = _zeros(param)
        state["acc_delta"] = _zeros(param)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        self._apply(
            F.adadelta_, param, grad, (state["square_avg"], state["acc_delta"]),
            lr=group["lr"], rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )
