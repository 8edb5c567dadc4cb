"""Adam and its family: AdamW, Adamax, NAdam, RAdam."""

from __future__ import annotations

import numpy as np

from . import functional as F
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _zeros(param: np.ndarray) -> np.ndarray:
    return np.zeros(param.shape, dtype=param.dtype)


class _AdamFamily(Optimizer):
    """Shared validation and moment state of the Adam family."""

    def _validate(self, group, where):
        for key in ("lr", "eps", "weight_decay", "momentum_decay"):
            self._number(group, key, where, low=0)
        self._betas(group, where)
        for key in ("amsgrad", "maximize", "decoupled_weight_decay"):
            self._flag(group, key, where)

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["exp_avg"] = _zeros(param)
        state["exp_avg_sq"] = _zeros(param)


class Adam(_AdamFamily):
    r"""Adam: momentum (first moment ``m``) over a per-coordinate RMS scaling (second moment ``v``).

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
        \theta \leftarrow \theta - \mathrm{lr}\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}

    Combines RMSprop's insensitivity to gradient scale with momentum's
    smoothing of noisy gradients; the bias corrections undo the zero start of
    ``m`` and ``v``. ``amsgrad`` uses the running maximum of ``v`` (a
    non-increasing step size, which fixes a convergence counterexample).
    ``weight_decay`` adds ``λθ`` to the gradient (L2); for decoupled decay use
    :class:`AdamW` or ``decoupled_weight_decay=True``. Rule:
    :func:`descend.optim.functional.adam_`.

    Parameters (as :class:`torch.optim.Adam`): ``lr=1e-3``,
    ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=0``, ``amsgrad=False``,
    ``maximize=False``, ``decoupled_weight_decay=False``; plus ``skip_nonfinite``.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq``).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False, skip_nonfinite=False):
        defaults = {
            "lr": lr, "betas": tuple(betas) if isinstance(betas, list) else betas, "eps": eps,
            "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        vmax = None
        if group["amsgrad"]:
            vmax = state.get("max_exp_avg_sq")
            if vmax is None:
                vmax = state["max_exp_avg_sq"] = _zeros(param)
        self._apply(
            F.adam_, param, grad, (state["exp_avg"], state["exp_avg_sq"], vmax),
            lr=group["lr"], step=state["step"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], maximize=group["maximize"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )


class AdamW(Adam):
    r"""AdamW: Adam with *decoupled* weight decay, ``θ ← (1 − lr·λ)θ`` before the Adam step.

    In Adam, an L2 penalty's gradient ``λθ`` is divided by ``√v`` like the
    rest of the gradient, so coordinates with large gradients are barely
    regularised; decoupling applies the same relative shrinkage everywhere
    (Loshchilov & Hutter). Same as ``Adam(..., decoupled_weight_decay=True)``
    but with the default ``weight_decay=1e-2``, as :class:`torch.optim.AdamW`.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, skip_nonfinite=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, skip_nonfinite=skip_nonfinite)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class Adamax(_AdamFamily):
    r"""Adamax: Adam with the infinity norm ``u ← max(β₂u, |g|+ε)`` in place of the RMS.

    ``θ ← θ − lr/(1−β₁ᵗ) · m/u``. The max is robust to rare huge gradients
    and needs no bias correction of its own. Rule:
    :func:`descend.optim.functional.adamax_`.

    Parameters (as :class:`torch.optim.Adamax`): ``lr=2e-3``,
    ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=0``, ``maximize=False``;
    plus ``skip_nonfinite``.

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False,
                 skip_nonfinite=False):
        defaults = {
            "lr": lr, "betas": tuple(betas) if isinstance(betas, list) else betas, "eps": eps,
            "weight_decay": weight_decay, "maximize": maximize,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["exp_avg"] = _zeros(param)
        state["exp_inf"] = _zeros(param)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        self._apply(
            F.adamax_, param, grad, (state["exp_avg"], state["exp_inf"]),
            lr=group["lr"], step=state["step"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
        )


class NAdam(_AdamFamily):
    r"""NAdam: Adam with Nesterov momentum, whose step looks one momentum step ahead.

    The momentum coefficient follows the schedule ``μₜ = β₁(1 − ½·0.96^{tψ})``
    (``ψ`` = ``momentum_decay``) and the step mixes the current gradient and
    the momentum with their Nesterov weights (Dozat, 2016). Rule:
    :func:`descend.optim.functional.nadam_`.

    Parameters (as :class:`torch.optim.NAdam`): ``lr=2e-3``,
    ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=0``,
    ``momentum_decay=4e-3``, ``decoupled_weight_decay=False``, ``maximize=False``;
    plus ``skip_nonfinite``.

    State per parameter: ``step``, ``mu_product`` (``Πμ``, a float64 number
    whatever the parameter's dtype), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, maximize=False, skip_nonfinite=False):
        defaults = {
            "lr": lr, "betas": tuple(betas) if isinstance(betas, list) else betas, "eps": eps,
            "weight_decay": weight_decay, "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _init_state(self, state, param, group):
        super()._init_state(state, param, group)
        state["mu_product"] = 1.0

    def _update(self, param, grad, state, group):
        state["step"] += 1
        beta1 = group["betas"][0]
        state["mu_product"] = state["mu_product"] * F.nadam_momentum(state["step"], beta1, group["momentum_decay"])
        self._apply(
            F.nadam_, param, grad, (state["exp_avg"], state["exp_avg_sq"]),
            lr=group["lr"], step=state["step"], mu_product=state["mu_product"], betas=group["betas"],
            eps=group["eps"], weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"],
        )


class RAdam(_AdamFamily):
    r"""RAdam: Adam whose adaptive scaling is phased in by a variance rectification term.

    In the first steps ``v`` rests on very few gradients, so ``1/√v`` is
    wildly uncertain; RAdam takes plain (bias-corrected) momentum steps until
    the estimate is trustworthy, then multiplies Adam's step by the
    rectification ``rₜ → 1``. It removes the need for a learning-rate warm-up
    (Liu et al., 2020). Rule: :func:`descend.optim.functional.radam_`.

    Parameters (as :class:`torch.optim.RAdam`): ``lr=1e-3``,
    ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=0``,
    ``decoupled_weight_decay=False``, ``maximize=False``; plus ``skip_nonfinite``.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, maximize=False, skip_nonfinite=False):
        defaults = {
            "lr": lr, "betas": tuple(betas) if isinstance(betas, list) else betas, "eps": eps,
            "weight_decay": weight_decay, "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        self._apply(
            F.radam_, param, grad, (state["exp_avg"], state["exp_avg_sq"]),
            lr=group["lr"], step=state["step"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"], decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"],
        )
