r"""Learning-rate schedules, with the semantics of :mod:`torch.optim.lr_scheduler`.

A scheduler changes ``group["lr"]`` of an optimizer's parameter groups each
time its ``step()`` is called: once per epoch, after ``optimizer.step()``,
unless the class says otherwise (``OneCycleLR`` and ``CyclicLR`` are stepped
once per batch). ``get_last_lr()`` returns the rates just set and
``state_dict()`` / ``load_state_dict()`` checkpoint the schedule (the dicts
can be written with :func:`descend.save`).

Why schedules: a step size that is right far from a minimum is too large near
it, where the noise of stochastic gradients keeps the parameters bouncing;
shrinking the rate (step, exponential, cosine, ``1/t`` decay) lets them
settle, while warm-ups and cycles avoid early instability or help escape poor
regions.

Schedulers as in PyTorch: :class:`LambdaLR`, :class:`MultiplicativeLR`,
:class:`StepLR`, :class:`MultiStepLR`, :class:`ConstantLR`, :class:`LinearLR`,
:class:`ExponentialLR`, :class:`PolynomialLR`, :class:`CosineAnnealingLR`,
:class:`CosineAnnealingWarmRestarts`, :class:`CyclicLR`, :class:`OneCycleLR`,
:class:`ReduceLROnPlateau`, :class:`SequentialLR`, :class:`ChainedScheduler`.
Added: :class:`InverseTimeLR` (the classic ``lr/(1 + decay·t)^power``) and
:func:`preview` (the sequence of rates, without training, for plots).

Difference from PyTorch: :class:`ReduceLROnPlateau` may be part of a
:class:`SequentialLR` or :class:`ChainedScheduler`; pass the monitored value to
the composite's ``step(metrics)``, which hands it on.
"""

from __future__ import annotations

import math
import numbers
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .optimizer import Optimizer

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
    "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler", "InverseTimeLR", "preview",
]


def _check_optimizer(optimizer, who: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{who}: optimizer must be a descend.optim.Optimizer, got {type(optimizer).__name__}")


def _real(value, name: str, who: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{who}: {name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{who}: {name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{who}: {name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def _positive_int(value, name: str, who: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise ValueError(f"{who}: {name} must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
    return int(value)


def _per_group(name: str, optimizer: Optimizer, value, who: str) -> list:
    """One value per parameter group (a list/tuple of that length, or one value for all)."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{who}: {name} has {len(value)} values but the optimizer has "
                f"{len(optimizer.param_groups)} parameter groups"
            )
        return list(value)
    return [value] * len(optimizer.param_groups)


def _plain(value):
    """A copy of ``value`` made of types :func:`descend.save` writes (Counter → dict)."""
    if isinstance(value, Counter):
        return {int(k): int(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _one_of(value, name: str, allowed: tuple, who: str, hint: str = "") -> None:
    """Raise ValueError unless ``value`` is one of ``allowed``: "mode must be 'min' or 'max', got ..."."""
    if value not in allowed:
        *first, last = (repr(a) for a in allowed)
        raise ValueError(f"{who}: {name} must be {', '.join(first)} or {last}{hint}, got {value!r}")


class LRScheduler:
    """Base class: keeps ``base_lrs`` (each group's ``initial_lr``), ``last_epoch`` and ``_last_lr``.

    Subclasses implement :meth:`get_lr`, the rates for epoch ``last_epoch``.
    Most follow PyTorch's *chainable* form (a factor applied to the current
    ``group["lr"]``), so that several schedulers can act on one optimizer.
    Creating a scheduler sets the rates of epoch 0.
    """

    #: attributes that are not part of ``state_dict()`` (objects, functions, children)
    _not_saved: tuple = ("optimizer",)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{who}: param_groups[{i}] has no 'initial_lr', needed to resume with "
                        f"last_epoch={last_epoch}; load the optimizer's state first, or use last_epoch=-1"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _current(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """The rates for epoch ``last_epoch`` (called by :meth:`step`)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rates set by the last :meth:`step` (one per parameter group)."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch (or batch, for per-batch schedules) and set the new rates."""
        self._step_count += 1
        self._update_lr(None)

    def _update_lr(self, epoch: int | None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = self._current()

    def _needs_metrics(self) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        """The schedule's position and settings (everything but the optimizer and functions)."""
        return {k: _plain(v) for k, v in self.__dict__.items() if k not in self._not_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict, got {type(state_dict).__name__}")
        for k, v in state_dict.items():
            if k not in self._not_saved:
                setattr(self, k, _plain(v))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={getattr(self, 'last_epoch', None)}, last_lr={getattr(self, '_last_lr', None)})"


class _LambdaMixin:
    """State handling for schedulers holding user functions (saved only if they are callable objects)."""

    _not_saved = ("optimizer", "lr_lambdas")

    def _set_lambdas(self, optimizer, lr_lambda, who):
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"{who}: expected {len(optimizer.param_groups)} lr_lambdas, got {len(lr_lambda)}")
            lambdas = list(lr_lambda)
        else:
            lambdas = [lr_lambda] * len(optimizer.param_groups)
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"{who}: lr_lambda must be callable, got {type(fn).__name__}")
        self.lr_lambdas = lambdas

    def state_dict(self):
        out = LRScheduler.state_dict(self)
        out["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else _plain(dict(fn.__dict__)) for fn in self.lr_lambdas
        ]
        return out

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        LRScheduler.load_state_dict(self, state_dict)
        for fn, saved in zip(self.lr_lambdas, lambdas, strict=True):
            if saved is not None:
                fn.__dict__.update(saved)


class LambdaLR(_LambdaMixin, LRScheduler):
    """``lr = base_lr · f(epoch)`` for a function ``f`` (one per group, or one for all)."""

    def __init__(self, optimizer, lr_lambda: Callable[[int], float] | Sequence, last_epoch: int = -1):
        _check_optimizer(optimizer, "LambdaLR")
        self._set_lambdas(optimizer, lr_lambda, "LambdaLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]


class MultiplicativeLR(_LambdaMixin, LRScheduler):
    """``lr ← lr · f(epoch)`` each epoch (the factor compounds)."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        _check_optimizer(optimizer, "MultiplicativeLR")
        self._set_lambdas(optimizer, lr_lambda, "MultiplicativeLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current()
        return [g["lr"] * fn(self.last_epoch) for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups, strict=True)]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs: ``base·γ^⌊t/step_size⌋``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = _real(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch listed in ``milestones``."""

    def __init__(self, optimizer, milestones: Sequence[int], gamma: float = 0.1, last_epoch: int = -1):
        milestones = list(milestones)
        for m in milestones:
            _positive_int(m, "each milestone", "MultiStepLR", allow_zero=True)
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = _real(gamma, "gamma", "MultiStepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        ms = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(ms, self.last_epoch) for base in self.base_lrs]

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.milestones = Counter({int(k): int(v) for k, v in dict(self.milestones).items()})


class ConstantLR(LRScheduler):
    """``base·factor`` for the first ``total_iters`` epochs, then ``base``."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        self.factor = _real(factor, "factor", "ConstantLR", low=0, high=1)
        self.total_iters = _positive_int(total_iters, "total_iters", "ConstantLR", allow_zero=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return self._current()
        return [g["lr"] * (1.0 / self.factor) for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [
            base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
            for base in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """Warm-up (or down) linearly from ``base·start_factor`` to ``base·end_factor`` over ``total_iters`` epochs."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1):
        self.start_factor = _real(start_factor, "start_factor", "LinearLR", low=0, high=1, low_open=True)
        self.end_factor = _real(end_factor, "end_factor", "LinearLR", low=0, high=1)
        self.total_iters = _positive_int(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current()
        # the ratio of consecutive points on the line, applied to the current rate
        delta = self.end_factor - self.start_factor
        factor = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [
            base * (self.start_factor + (self.end_factor - self.start_factor)
                    * min(self.total_iters, self.last_epoch) / self.total_iters)
            for base in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """``lr ← γ·lr`` every epoch: ``base·γᵗ``."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _real(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """``base·(1 − t/total_iters)^power`` until ``total_iters``, then 0."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = _positive_int(total_iters, "total_iters", "PolynomialLR")
        self.power = _real(power, "power", "PolynomialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current()
        factor = ((1.0 - self.last_epoch / self.total_iters)
                  / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [
            base * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
            for base in self.base_lrs
        ]


class InverseTimeLR(LRScheduler):
    r"""The classic ``1/t`` decay: ``lr = base / (1 + decay·t)^power``.

    With ``power=1`` the rates satisfy the Robbins–Monro conditions
    (``Σ lr = ∞``, ``Σ lr² < ∞``) under which stochastic gradient descent
    provably converges; ``power=0.5`` gives the ``1/√t`` rate of online
    convex optimisation. Chainable, like :class:`ExponentialLR`.
    """

    def __init__(self, optimizer, decay: float, power: float = 1.0, last_epoch: int = -1):
        self.decay = _real(decay, "decay", "InverseTimeLR", low=0)
        self.power = _real(power, "power", "InverseTimeLR", low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch == 0:
            return self._current()
        t = self.last_epoch
        factor = ((1.0 + self.decay * (t - 1)) / (1.0 + self.decay * t)) ** self.power
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base / (1.0 + self.decay * self.last_epoch) ** self.power for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from ``base`` to ``eta_min`` over ``T_max`` epochs.

    ``lr = η_min + (base − η_min)(1 + cos(π t / T_max))/2``, computed in
    PyTorch's chainable (recursive) form; beyond ``T_max`` it rises again.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = _real(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and t > 0:
            return [lo + (base - lo) * (1 + math.cos(t * math.pi / T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # the bottom of the cosine: the ratio form would divide by 0
            return [
                g["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                for base, g in zip(self.base_lrs, self.optimizer.param_groups, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (g["lr"] - lo) + lo for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [
            self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for base in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""SGDR: cosine annealing restarted every ``T_i`` epochs, ``T_i`` growing by ``T_mult``.

    ``lr = η_min + (base − η_min)(1 + cos(π T_cur/T_i))/2``. ``step(epoch)``
    also accepts fractional epochs (``epoch + i / batches_per_epoch``) for
    per-batch annealing.
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_0 = _positive_int(T_0, "T_0", "CosineAnnealingWarmRestarts")
        self.T_i = self.T_0
        self.T_mult = _positive_int(T_mult, "T_mult", "CosineAnnealingWarmRestarts")
        self.eta_min = _real(eta_min, "eta_min", "CosineAnnealingWarmRestarts")
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [
            self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
            for base in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts.step: epoch must be >= 0, got {epoch!r}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # number of completed cycles n: T_0·(T_mult^n − 1)/(T_mult − 1) <= epoch
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self._step_count = getattr(self, "_step_count", 0) + 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = self._current()

    def _update_lr(self, epoch):
        if epoch is None:
            self.step()
        else:
            self.step(epoch)


def _set_momentum(group: dict, value: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class CyclicLR(LRScheduler):
    r"""Cyclical learning rate: triangle waves between ``base_lr`` and ``max_lr`` (step per *batch*).

    A cycle takes ``step_size_up + step_size_down`` steps. ``mode``:
    ``"triangular"`` (constant amplitude), ``"triangular2"`` (amplitude halved
    each cycle), ``"exp_range"`` (amplitude ``γ^iteration``), or a custom
    ``scale_fn(x)`` with ``scale_mode`` ``"cycle"`` or ``"iterations"``. With
    ``cycle_momentum`` the momentum (or Adam's β₁) moves inversely between
    ``max_momentum`` and ``base_momentum``.
    """

    _not_saved = ("optimizer", "_scale_fn_custom")

    def __init__(self, optimizer, base_lr, max_lr, step_size_up: int = 2000, step_size_down: int | None = None,
                 mode: str = "triangular", gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9,
                 last_epoch: int = -1):
        who = "CyclicLR"
        _check_optimizer(optimizer, who)
        self.optimizer = optimizer
        base_lrs = _per_group("base_lr", optimizer, base_lr, who)
        for v in base_lrs:
            _real(v, "base_lr", who, low=0)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                group["lr"] = lr
        self.max_lrs = _per_group("max_lr", optimizer, max_lr, who)
        for v in self.max_lrs:
            _real(v, "max_lr", who, low=0)
        up = float(_positive_int(step_size_up, "step_size_up", who))
        down = float(_positive_int(step_size_down, "step_size_down", who)) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None:
            _one_of(mode, "mode", ("triangular", "triangular2", "exp_range"), who, " (or give scale_fn)")
        _one_of(scale_mode, "scale_mode", ("cycle", "iterations"), who)
        self.mode = mode
        self.gamma = _real(gamma, "gamma", who)
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{who}: cycle_momentum=True needs an optimizer with momentum or betas")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum, who)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum, who)
            if last_epoch == -1:
                for m_max, m_base, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups, strict=True):
                    _set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The amplitude factor of cycle (or iteration) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle  # position in the cycle, [0, 1)
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        amplitude = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + ((top - base) * scale_factor) * amplitude for base, top in zip(self.base_lrs, self.max_lrs, strict=True)]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums, strict=True):
                _set_momentum(group, m_max - ((m_max - m_base) * scale_factor) * amplitude, self.use_beta1)
        return lrs

    def state_dict(self):
        out = super().state_dict()
        fn = self._scale_fn_custom
        out["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) else _plain(dict(fn.__dict__))
        return out

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop("_scale_fn_custom", None)
        super().load_state_dict(state_dict)
        if saved is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved)


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy: warm up to ``max_lr``, then anneal far below the start (step per *batch*).

    Starts at ``max_lr/div_factor``, rises to ``max_lr`` over ``pct_start`` of
    ``total_steps`` (or ``epochs·steps_per_epoch``), then falls to
    ``initial_lr/final_div_factor`` (cosine or linear ``anneal_strategy``);
    ``three_phase`` makes the descent symmetric before a final annihilation
    phase. Momentum (or β₁) moves inversely when ``cycle_momentum``.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        who = "OneCycleLR"
        _check_optimizer(optimizer, who)
        self.optimizer = optimizer
        if total_steps is not None:
            self.total_steps = _positive_int(total_steps, "total_steps", who)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _positive_int(epochs, "epochs", who) * _positive_int(steps_per_epoch, "steps_per_epoch", who)
        else:
            raise ValueError(f"{who}: give total_steps, or both epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"{who}: pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{who}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        _real(div_factor, "div_factor", who, low=0, low_open=True)
        _real(final_div_factor, "final_div_factor", who, low=0, low_open=True)
        self._anneal_func_type = anneal_strategy
        n = self.total_steps
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * n) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * n) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": n - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * n) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": n - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        max_lrs = _per_group("max_lr", optimizer, max_lr, who)
        for v in max_lrs:
            _real(v, "max_lr", who, low=0)
        if last_epoch == -1:
            for top, group in zip(max_lrs, optimizer.param_groups, strict=True):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{who}: cycle_momentum=True needs an optimizer with momentum or betas")
            self.use_beta1 = "betas" in optimizer.defaults
            m_maxes = _per_group("max_momentum", optimizer, max_momentum, who)
            m_bases = _per_group("base_momentum", optimizer, base_momentum, who)
            if last_epoch == -1:
                for m_max, m_base, group in zip(m_maxes, m_bases, optimizer.param_groups, strict=True):
                    _set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: stepped {step} times, but the schedule has total_steps={self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                _set_momentum(group, momentum, self.use_beta1)
        return lrs


class ReduceLROnPlateau(LRScheduler):
    r"""Divide the rate by ``1/factor`` when a monitored value stops improving.

    ``step(metrics)`` takes the value (validation loss with ``mode="min"``,
    accuracy with ``"max"``). After more than ``patience`` epochs without an
    improvement beyond ``threshold`` (relative or absolute,
    ``threshold_mode``), each group's rate becomes ``max(lr·factor, min_lr)``
    (changes smaller than ``eps`` are skipped), then ``cooldown`` epochs pass
    before counting again.

    Unlike PyTorch's, it can be part of :class:`SequentialLR` and
    :class:`ChainedScheduler` (give them ``step(metrics)``); in a
    :class:`SequentialLR` it restarts, at its milestone, from the groups'
    ``initial_lr`` with a fresh patience count.
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0,
                 eps: float = 1e-8):
        who = "ReduceLROnPlateau"
        _check_optimizer(optimizer, who)
        self.factor = _real(factor, "factor", who, low=0, high=1, high_open=True)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group("min_lr", optimizer, min_lr, who)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        for v in self.min_lrs:
            _real(v, "min_lr", who, low=0)
        self.patience = _positive_int(patience, "patience", who, allow_zero=True)
        self.cooldown = _positive_int(cooldown, "cooldown", who, allow_zero=True)
        self.eps = _real(eps, "eps", who, low=0)
        _one_of(mode, "mode", ("min", "max"), who)
        _one_of(threshold_mode, "threshold_mode", ("rel", "abs"), who)
        self.mode = mode
        self.threshold = _real(threshold, "threshold", who)
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._step_count = 0
        self._is_initial = False
        self._last_lr = self._current()
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _initial_step(self) -> None:  # as the first scheduler of a SequentialLR
        self._reset()
        self._last_lr = self._current()

    def _restart(self) -> None:
        """Start afresh from the groups' ``initial_lr`` (at a SequentialLR milestone)."""
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base
        self._reset()
        self._last_lr = self._current()

    def _needs_metrics(self) -> bool:
        return True

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics) -> None:  # type: ignore[override]
        """Record this epoch's monitored value and reduce the rates if it has plateaued."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number, got {metrics!r}") from None
        self._step_count += 1
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer now has {len(groups)} parameter groups but min_lr "
                    f"has {len(self.min_lrs)} values; update min_lrs"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, floor in zip(groups, self.min_lrs, strict=True):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new


def _check_children(schedulers, optimizer, who: str) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{who}: expects at least one scheduler")
    for i, s in enumerate(schedulers):
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{who}: schedulers[{i}] is a {type(s).__name__}, not a learning-rate scheduler")
        if s.optimizer is not optimizer:
            raise ValueError(f"{who}: schedulers[{i}] ({type(s).__name__}) belongs to a different optimizer")


def _child_step(s: LRScheduler, metrics, who: str, i: int) -> None:
    if s._needs_metrics():
        if metrics is None:
            raise TypeError(
                f"{who}.step(): schedulers[{i}] ({type(s).__name__}) needs the monitored value; "
                "call step(metrics)"
            )
        s.step(metrics)
    else:
        s.step()


class _Composite(LRScheduler):
    """A scheduler made of ``_schedulers``, whose states are saved and restored with its own."""

    _not_saved = ("optimizer", "_schedulers")

    def state_dict(self):
        out = super().state_dict()
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        children = state_dict.pop("_schedulers", None)
        super().load_state_dict(state_dict)
        if children is not None:
            for s, sd in zip(self._schedulers, children, strict=True):
                s.load_state_dict(sd)


class SequentialLR(_Composite):
    """Hand over from one scheduler to the next at the given epochs (``milestones``).

    E.g. a linear warm-up for 5 epochs, then cosine annealing:
    ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, 95)], milestones=[5])``.
    At a milestone the next scheduler starts from its own epoch 0.
    """

    def __init__(self, optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int], last_epoch: int = -1):
        who = "SequentialLR"
        _check_optimizer(optimizer, who)
        schedulers = list(schedulers)
        _check_children(schedulers, optimizer, who)
        milestones = [int(_positive_int(m, "each milestone", who)) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"{who}: expects one milestone fewer than schedulers, got {len(schedulers)} schedulers and "
                f"{len(milestones)} milestones"
            )
        if milestones != sorted(milestones):
            raise ValueError(f"{who}: milestones must be increasing, got {milestones}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:  # undo the initial steps the children took when created
            _undo_step(s)
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _needs_metrics(self) -> bool:
        return self._schedulers[bisect_right(self._milestones, self.last_epoch + 1)]._needs_metrics()

    def step(self, metrics=None) -> None:  # type: ignore[override]
        """Advance the active scheduler (``metrics`` is passed to a ReduceLROnPlateau)."""
        epoch = self.last_epoch + 1
        idx = bisect_right(self._milestones, epoch)
        s = self._schedulers[idx]
        if s._needs_metrics() and metrics is None:
            raise TypeError(
                f"SequentialLR.step(): the active scheduler, schedulers[{idx}] ({type(s).__name__}), needs "
                "the monitored value; call step(metrics)"
            )
        self.last_epoch = epoch
        if idx > 0 and self._milestones[idx - 1] == epoch:
            if isinstance(s, ReduceLROnPlateau):
                s._restart()
                s.step(metrics)
            elif isinstance(s, (SequentialLR, ChainedScheduler)):
                _child_step(s, metrics, "SequentialLR", idx)
            else:
                s._update_lr(0)
        else:
            _child_step(s, metrics, "SequentialLR", idx)
        self._last_lr = s.get_last_lr()


def _undo_step(s) -> None:
    if isinstance(s, (SequentialLR, ChainedScheduler)):
        for child in s._schedulers:
            _undo_step(child)
    elif isinstance(s, ReduceLROnPlateau):
        pass
    else:
        s.last_epoch -= 1


class ChainedScheduler(_Composite):
    """Step several schedulers together each epoch; chainable ones multiply their factors.

    ``step(metrics)`` passes ``metrics`` to any :class:`ReduceLROnPlateau` in the chain.
    """

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler: expects at least one scheduler")
        optimizer = optimizer if optimizer is not None else getattr(schedulers[0], "optimizer", None)
        _check_optimizer(optimizer, "ChainedScheduler")
        _check_children(schedulers, optimizer, "ChainedScheduler")
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = self._current()

    def _needs_metrics(self) -> bool:
        return any(s._needs_metrics() for s in self._schedulers)

    def step(self, metrics=None) -> None:  # type: ignore[override]
        if metrics is None:
            for i, s in enumerate(self._schedulers):
                if s._needs_metrics():
                    raise TypeError(
                        f"ChainedScheduler.step(): schedulers[{i}] ({type(s).__name__}) needs the monitored "
                        "value; call step(metrics)"
                    )
        for i, s in enumerate(self._schedulers):
            _child_step(s, metrics, "ChainedScheduler", i)
        self._last_lr = self._current()


def preview(
    scheduler_factory: Callable[[Optimizer], LRScheduler],
    steps: int,
    *,
    lr: float | Sequence[float] = 0.1,
    metrics: Sequence[float] | Callable[[int], float] | None = None,
) -> np.ndarray:
    """The learning rates a schedule would use for ``steps`` steps, without training.

    ``scheduler_factory(optimizer)`` builds the scheduler on a stand-in SGD
    optimizer (``momentum=0.9``, so momentum-cycling schedules work) whose
    rate is ``lr`` (a list gives one parameter group per value). Element ``k``
    of the result is the rate in force during step ``k`` (shape ``(steps,)``,
    or ``(steps, groups)`` for a list ``lr``). ``metrics`` (a sequence, or a
    function of the step) feeds :class:`ReduceLROnPlateau`.

    >>> preview(lambda opt: StepLR(opt, step_size=2, gamma=0.5), 5, lr=1.0)
    array([1.  , 1.  , 0.5 , 0.5 , 0.25])
    """
    from ..tensor import Tensor
    from .sgd import SGD

    steps = _positive_int(steps, "steps", "preview", allow_zero=True)
    many = isinstance(lr, (list, tuple))
    lrs = list(lr) if many else [lr]
    groups = [{"params": [Tensor(np.zeros(1), requires_grad=True)], "lr": v} for v in lrs]
    optimizer = SGD(groups, lr=lrs[0], momentum=0.9)
    scheduler = scheduler_factory(optimizer)
    if not isinstance(scheduler, LRScheduler):
        raise TypeError(f"preview: scheduler_factory returned a {type(scheduler).__name__}, not a scheduler")
    needs = scheduler._needs_metrics() or isinstance(scheduler, (SequentialLR, ChainedScheduler)) and any(
        s._needs_metrics() for s in scheduler._schedulers
    )
    if needs and metrics is None:
        raise ValueError("preview: this schedule reacts to a monitored value; pass metrics=[...] (one per step)")
    out = np.empty((steps, len(lrs)), dtype=np.float64)
    for k in range(steps):
        out[k] = [g["lr"] for g in optimizer.param_groups]
        if k == steps - 1:
            break
        if needs:
            value = metrics(k) if callable(metrics) else metrics[k]
            scheduler.step(value)
        else:
            scheduler.step()
    return out if many else out[:, 0]
