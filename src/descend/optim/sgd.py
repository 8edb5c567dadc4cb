"""Stochastic gradient descent, with optional momentum and Nesterov momentum."""

from __future__ import annotations

import numpy as np

from . import _blas
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

    def _validate(self, group, where):
        self._number(group, "lr", where, low=0)
        self._number(group, "momentum", where, low=0)
        self._number(group, "dampening", where)
        self._number(group, "weight_decay", where, low=0)
        self._flag(group, "nesterov", where)
        self._flag(group, "maximize", where)
        if group.get("nesterov") and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: invalid nesterov=True{where}: Nesterov momentum requires momentum > 0 and "
                f"dampening == 0 (got momentum={group['momentum']!r}, dampening={group['dampening']!r})"
            )

    def _init_state(self, state, param, group):
        state["step"] = 0

    @staticmethod
    def _plain(group) -> bool:
        """No momentum, no weight decay: the step is θ ← θ ∓ lr·g, one BLAS axpy."""
        return group["momentum"] == 0 and group["weight_decay"] == 0

    def _updates_on_blas_threads(self):
        # plain descent is one threaded BLAS axpy per parameter (see _update_group)
        return all(self._plain(g) for g in self.param_groups)

    def _update_group(self, group):
        if not self._plain(group):
            return super()._update_group(group)
        # Plain descent θ ← θ ∓ lr·g is one BLAS axpy per parameter, which BLAS
        # threads itself (faster, measured, than slices on descend's threads);
        # the slices of sgd_ where BLAS cannot take a parameter.
        lr = group["lr"]
        alpha = lr if group["maximize"] else -lr
        state, axpy = self.state, _blas.try_axpy_
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            st = state[p]
            if not st:
                self._init_state(st, p.data, group)
            if axpy(alpha, grad, p.data):
                st["step"] += 1
            else:
                self._update(p.data, grad, st, group)

    def _update(self, param, grad, state, group):
        state["step"] += 1
        momentum = group["momentum"]
        buf, first = None, False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # b₁ = g₁ (also when momentum is switched on later)
                buf = state["momentum_buffer"] = np.zeros(param.shape, dtype=param.dtype)
                first = True
        self._apply(
            F.sgd_, param, grad, (buf,),
            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
            maximize=group["maximize"], first=first,
        )
