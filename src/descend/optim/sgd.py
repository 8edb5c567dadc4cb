"""Stochastic gradient descent, with optional momentum and Nesterov momentum."""

from __future__ import annotations

from . import functional as F
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Gradient descent: ``θ ← θ − lr·d`` with ``d`` the gradient or a momentum of it.

    .. math::
        g \leftarrow \pm\nabla L(\theta) + \lambda\theta, \quad
        b \leftarrow \mu b + (1-\tau) g \ (b_1 = g_1), \quad
        d = g + \mu b \ \text{(nesterov)} \ \text{or}\ b \ \text{or}\ g \ (\mu = 0)

    With ``momentum=0`` this is plain gradient descent. Whether it is *batch*,
    *stochastic* or *mini-batch* gradient descent depends only on the data the
    gradient was computed from, not on this class. The rule is
    :func:`descend.optim.functional.sgd_`.

    Parameters (as :class:`torch.optim.SGD`)
    ----------------------------------------
    lr : float, default 1e-3
    momentum : float, default 0 (``μ``)
    dampening : float, default 0 (``τ``; scales the gradient's share of the buffer)
    weight_decay : float, default 0 (``λ``, L2 penalty)
    nesterov : bool, default False (needs ``momentum > 0`` and ``dampening == 0``)
    maximize : bool, default False (ascend the objective instead)
    skip_nonfinite : bool, default False (see :class:`~descend.optim.Optimizer`)

    State per parameter: ``step`` and, once momentum is used, ``momentum_buffer``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, skip_nonfinite=False):
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
            "nesterov": nesterov, "maximize": maximize,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    _nonnegative = ("lr", "momentum", "weight_decay")
    _flags = ("nesterov", "maximize")

    def _validate(self, group, where):
        super()._validate(group, where)
        self._number(group, "dampening", where)
        if group.get("nesterov") and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: invalid nesterov=True{where}: Nesterov momentum requires momentum > 0 and "
                f"dampening == 0 (got momentum={group['momentum']!r}, dampening={group['dampening']!r})"
            )

    _rule = staticmethod(F.sgd_)
    _from_group = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")

    def _buffers(self, group):
        return ("momentum_buffer" if group["momentum"] != 0 else None,)

    # b₁ = g₁: a momentum buffer just created (also when momentum is switched on later)
    _fresh_as = "first"
