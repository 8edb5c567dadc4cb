"""Training steps: how the :class:`~descend.train.Trainer` turns one batch into one update.

The loop is the same for every kind of step; a step only computes. Every
implementation has

``forward_backward(x, y) -> float``
    The batch loss ``L_B(theta) = 1/|B| sum_{i in B} loss(model(x_i), y_i)``;
    when it is finite, also the gradient ``g = dL_B/dtheta`` (kept for ``update``).
``update() -> float``
    ``||g||_2`` over all parameters. The optimizer's update ``theta <- rule(theta, g)``
    is applied only when that norm is finite (a float32 sum of squares that
    overflows is re-checked in float64 first); the parameters from before it
    are kept for ``restore_previous``.
``restore_previous() -> bool``
    Put back the parameters from before the last update (False if none).
``metric_sums(track, y, threshold) -> list[float]``
    For each ``(name, fn)`` of ``track``, the metric summed over the batch's
    examples (``fn(output, y, threshold)``).
``sync()``
    Make ``model`` hold the current parameters (a no-op unless they live elsewhere).
``replayed``
    Whether the last step was replayed by the traced fast path.

Implementations: :class:`EagerStep` (autograd graph, ``optimizer.step()``),
:class:`ClosureStep` (optimizers that re-evaluate the loss, e.g. L-BFGS:
``optimizer.step(closure)``), :class:`TracedStep` (``descend.compile.TrainStep``),
and the data-parallel step of :mod:`descend.distributed`.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor
from .guards import finite_grad_norm

__all__ = ["EagerStep", "ClosureStep", "TracedStep", "make_step"]


class EagerStep:
    """Forward and backward through the autograd graph, then ``optimizer.step()``."""

    replayed = False

    def __init__(self, model, loss_fn, optimizer):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.params = list(model.parameters())
        # Parameters before the last update (for restore_previous), allocated once.
        self._snap = [np.empty_like(p.data) for p in self.params]
        self._have_snap = False
        self.output = None  # the model's output of the last forward pass (an array)

    def forward_backward(self, x, y) -> float:
        for p in self.params:
            p.grad = None
        out = self.model(Tensor._wrap(x))
        lt = self.loss_fn(out, Tensor._wrap(y))
        lv = float(lt.data)
        self.output = out.data
        if math.isfinite(lv):
            lt.backward()
        return lv

    def update(self) -> float:
        sq = 0.0
        for p in self.params:
            g = p.grad
            if g is not None:
                gv = g.reshape(-1)
                sq += float(np.dot(gv, gv))
        gnorm = math.sqrt(sq)
        if not math.isfinite(gnorm):
            gnorm = finite_grad_norm(self.params)
            if not math.isfinite(gnorm):
                return gnorm
        for p, s in zip(self.params, self._snap, strict=True):
            np.copyto(s, p.data)
        self._have_snap = True
        self._apply()
        return gnorm

    def _apply(self) -> None:
        self.optimizer.step()

    def restore_previous(self) -> bool:
        if not self._have_snap:
            return False
        for p, s in zip(self.params, self._snap, strict=True):
            np.copyto(p.data, s)
        self._have_snap = False
        return True

    def metric_sums(self, track, y, threshold) -> list:
        out = self.output
        return [fn(out, y, threshold) for _, fn in track]

    def sync(self) -> None:
        pass


class ClosureStep(EagerStep):
    """For optimizers whose ``step`` takes a closure that re-evaluates the loss (``requires_closure``).

    The closure's first call returns the loss this step already computed (its
    gradient is in ``.grad``); later calls (line-search trials) recompute loss
    and gradient on the same batch.
    """

    def forward_backward(self, x, y) -> float:
        lv = super().forward_backward(x, y)
        self._last = (x, y, lv)
        return lv

    def _apply(self) -> None:
        x, y, first_loss = self._last
        model, loss_fn, params = self.model, self.loss_fn, self.params
        calls = 0

        def closure():
            nonlocal calls
            calls += 1
            if calls == 1:
                return first_loss
            with enable_grad():
                for p in params:
                    p.grad = None
                loss = loss_fn(model(Tensor._wrap(x)), Tensor._wrap(y))
                loss.backward()
            return float(loss.data)

        self.optimizer.step(closure)


class TracedStep:
    """The traced fast path: :class:`descend.compile.TrainStep` (same results as :class:`EagerStep`)."""

    def __init__(self, model, loss_fn, optimizer):
        from ..compile import TrainStep

        self.runner = TrainStep(model, loss_fn, optimizer)
        self.params = list(model.parameters())

    @property
    def output(self):
        return self.runner.output

    @property
    def replayed(self) -> bool:
        return self.runner.replayed

    def forward_backward(self, x, y) -> float:
        return self.runner.forward_backward(x, y)

    def update(self) -> float:
        runner = self.runner
        gnorm = runner.update(check=True)  # applied only if the norm is finite
        if not math.isfinite(gnorm):
            gnorm = finite_grad_norm(self.params)  # a float32 sum of squares can overflow
            if not math.isfinite(gnorm):
                return gnorm
            runner.update(check=False)
        return gnorm

    def restore_previous(self) -> bool:
        return self.runner.restore_previous()

    def metric_sums(self, track, y, threshold) -> list:
        out = self.runner.output
        return [fn(out, y, threshold) for _, fn in track]

    def sync(self) -> None:
        pass


def make_step(model, loss_fn, optimizer, compile=None):
    """The step for ``fit(compile=...)``: closure, traced or eager.

    Optimizers with ``requires_closure`` (L-BFGS) get a :class:`ClosureStep`;
    otherwise ``compile=None`` traces models built from descend.nn's layers with
    one of descend's losses, ``True`` traces any model, ``False`` never traces.
    """
    if getattr(optimizer, "requires_closure", False):
        return ClosureStep(model, loss_fn, optimizer)
    if compile is False:
        return EagerStep(model, loss_fn, optimizer)
    from ..compile import is_traceable_module

    if compile is None:
        modules = list(model.modules()) if hasattr(model, "modules") else [model]
        if not all(is_traceable_module(m) for m in modules) or not is_traceable_module(loss_fn):
            return EagerStep(model, loss_fn, optimizer)
    return TracedStep(model, loss_fn, optimizer)
