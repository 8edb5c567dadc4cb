"""Adam and its family: AdamW, Adamax, NAdam, RAdam."""

from __future__ import annotations

from . import functional as F
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


class _AdamFamily(Optimizer):
    """Shared validation and moment state of the Adam family."""

    _nonnegative = ("lr", "eps", "weight_decay", "momentum_decay")
    _flags = ("amsgrad", "maximize", "decoupled_weight_decay")
    _from_state = ("step",)

    def _buffers(self, group):
        return ("exp_avg", "exp_avg_sq")


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

    _rule = staticmethod(F.adam_)
    _from_group = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")

    def _buffers(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if group["amsgrad"] else None)


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

    _rule = staticmethod(F.adamax_)
    _from_group = ("lr", "betas", "eps", "weight_decay", "maximize")

    def _buffers(self, group):
        return ("exp_avg", "exp_inf")


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

    _rule = staticmethod(F.nadam_)
    _from_group = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "maximize")
    _from_state = _scalars = ("step", "mu_product")

    def _init_state(self, state, param, group):
        super()._init_state(state, param, group)
        state["mu_product"] = 1.0

    def _advance(self, state, group):
        super()._advance(state, group)
        # Πₜ = μ₁⋯μₜ, kept as a float64 number whatever the parameter's dtype
        state["mu_product"] *= F.nadam_momentum(state["step"], group["betas"][0], group["momentum_decay"])


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

    _rule = staticmethod(F.radam_)
    _from_group = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")
