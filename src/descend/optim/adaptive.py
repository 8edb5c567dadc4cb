"""Per-coordinate adaptive learning rates: Adagrad, RMSprop, Adadelta."""

from __future__ import annotations

import numpy as np

from . import functional as F
from .optimizer import Optimizer

__all__ = ["Adagrad", "RMSprop", "Adadelta"]


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

    _nonnegative = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _flags = ("maximize",)
    _rule = staticmethod(F.adagrad_)
    _from_group = ("lr", "lr_decay", "eps", "weight_decay", "maximize")
    _from_state = ("step",)

    def _buffers(self, group):
        return ("sum",)

    def _new_buffer(self, key, shape, dtype, group):
        return np.full(shape, group["initial_accumulator_value"], dtype=dtype)


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

    _nonnegative = ("lr", "eps", "momentum", "weight_decay", "alpha")
    _flags = ("centered", "maximize")
    _rule = staticmethod(F.rmsprop_)
    _from_group = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")

    def _buffers(self, group):
        return (
            "square_avg",
            "grad_avg" if group["centered"] else None,
            "momentum_buffer" if group["momentum"] > 0 else None,
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

    _rule = staticmethod(F.adadelta_)
    _from_group = ("lr", "rho", "eps", "weight_decay", "maximize")
    _nonnegative = ("lr", "eps", "weight_decay")
    _flags = ("maximize",)

    def _validate(self, group, where):
        super()._validate(group, where)
        self._number(group, "rho", where, low=0, high=1)

    def _buffers(self, group):
        return ("square_avg", "acc_delta")
