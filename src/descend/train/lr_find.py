"""The learning-rate range test (L. Smith, "Cyclical learning rates", 2017).

Train for ``steps`` mini-batches while the learning rate grows exponentially
from ``start_lr`` to ``end_lr``:

    lr_i = start_lr * (end_lr / start_lr) ** (i / (steps - 1))

and record the loss. Too small a rate barely moves the loss; a good one makes
it fall fastest; too large a one makes it blow up. The raw mini-batch losses
are noisy, so they are smoothed with a bias-corrected exponential moving
average (``a_i = beta a_{i-1} + (1 - beta) loss_i``, ``s_i = a_i / (1 - beta^(i+1))``),
and the test stops early once ``s_i > diverge_threshold * min_j s_j`` or the
loss is not finite.

The suggested rate is where the smoothed loss falls fastest against
``log10(lr)`` (the steepest negative slope, before the minimum). A second rule
of thumb, a tenth of the rate at the lowest smoothed loss, is returned too; it
is not always the smaller of the two (lower only when the steepest fall lies
less than a decade below the minimum).

Unlike most implementations this one leaves no trace: the model's
parameters and buffers, the optimizer (state and hyperparameters), the
model's train/eval mode, the global random generator and a passed
DataLoader's position are restored exactly afterwards, and the same seed gives
the same curve and suggestion.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..data.loader import DataLoader
from ..random import manual_seed
from ..tensor import Tensor
from .checkpoint import rng_state, set_rng_state
from .guards import model_params as _model_params
from .guards import resolve_optimizer as _resolve_optimizer
from .guards import training_loader as _make_loader
from .metrics import resolve_loss

__all__ = ["lr_find", "LRFinderResult"]


class LRFinderResult:
    """Outcome of :func:`lr_find`.

    Attributes: ``lrs``, ``losses`` (raw), ``smoothed_losses`` (float64 arrays,
    one entry per step taken), ``suggestion`` (the suggested learning rate),
    ``lr_min_loss`` (the rate of the lowest smoothed loss, divided by 10: a
    second rule of thumb, which may come out lower or higher than ``suggestion``,
    as the steepest fall may lie more or less than a decade before the minimum) and
    ``stop_reason``
    (``"steps"`` or ``"diverged"``).
    """

    def __init__(self, lrs, losses, smoothed, suggestion, lr_min_loss, stop_reason):
        self.lrs = np.asarray(lrs, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.smoothed_losses = np.asarray(smoothed, dtype=np.float64)
        self.suggestion = suggestion
        self.lr_min_loss = lr_min_loss
        self.stop_reason = stop_reason

    def __repr__(self) -> str:
        sug = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return f"LRFinderResult(steps={len(self.lrs)}, suggestion={sug}, stop_reason={self.stop_reason!r})"

    def to_dict(self) -> dict:
        return {"lrs": self.lrs.tolist(), "losses": self.losses.tolist(),
                "smoothed_losses": self.smoothed_losses.tolist(), "suggestion": self.suggestion,
                "lr_min_loss": self.lr_min_loss, "stop_reason": self.stop_reason}

    def plot(self, **kwargs):
        """Smoothed loss against the learning rate (log axis); needs matplotlib (``descend.viz``)."""
        from .. import viz

        return viz.plot_lr_find(self.lrs, self.smoothed_losses, self.suggestion, **kwargs)


def _suggest(lrs: np.ndarray, smoothed: np.ndarray):
    """(steepest-descent rate, min-loss rate / 10) from a smoothed range-test curve."""
    n = len(smoothed)
    if n == 0:
        return None, None
    i_min = int(np.argmin(smoothed))
    lr_min = float(lrs[i_min] / 10)
    if n < 3:
        return lr_min, lr_min
    skip = max(1, n // 10)  # the moving average is still warming up at the start
    hi = max(i_min, skip + 2)
    lo = min(skip, hi - 2)
    seg = smoothed[lo:hi + 1]
    x = np.log10(lrs[lo:hi + 1])
    slope = np.gradient(seg, x)
    return float(lrs[lo + int(np.argmin(slope))]), lr_min


def lr_find(model, train, loss, optimizer, start_lr: float = 1e-7, end_lr: float = 10,
            steps: int = 100, seed=None, *, batch_size: int = 32, beta: float = 0.98,
            diverge_threshold: float = 4.0) -> LRFinderResult:
    """Run the learning-rate range test and suggest a learning rate.

    ``train``, ``loss`` and ``optimizer`` are as for :func:`descend.train.fit`
    (the data are shuffled, cycling through epochs if ``steps`` exceeds one
    epoch). Everything the test touches is restored afterwards (see the module
    docstring), so ``fit`` can follow directly with the suggested rate.
    """
    where = "lr_find"
    params = _model_params(model, where)
    dtype = params[0].data.dtype
    for name, v in (("start_lr", start_lr), ("end_lr", end_lr)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{where}: {name} must be a positive number, got {v!r}")
    if not start_lr < end_lr:
        raise ValueError(f"{where}: start_lr ({start_lr}) must be smaller than end_lr ({end_lr})")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 2:
        raise ValueError(f"{where}: steps must be an integer >= 2, got {steps!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"{where}: seed must be a non-negative integer or None, got {seed!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"{where}: beta must be in [0, 1), got {beta!r}")
    if not diverge_threshold > 1:
        raise ValueError(f"{where}: diverge_threshold must be > 1, got {diverge_threshold!r}")
    loss_fn = resolve_loss(loss, where)
    optimizer = _resolve_optimizer(optimizer, model, where)

    # ---- snapshot everything the test changes --------------------------------------------
    saved_model = model.state_dict()
    saved_opt = optimizer.state_dict()
    saved_rng = rng_state()
    was_training = getattr(model, "training", None)
    user_loader = train if isinstance(train, DataLoader) else None
    saved_loader = user_loader.state_dict() if user_loader is not None else None

    lrs, losses, smoothed = [], [], []
    stop_reason = "steps"
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")  # divergence is expected
    errstate.__enter__()
    try:
        if seed is not None:
            manual_seed(int(seed))
        loader = _make_loader(train, batch_size, True, seed, dtype, model=model)
        if hasattr(model, "train"):
            model.train()
        ratio = float(end_lr) / float(start_lr)
        avg = 0.0
        best = math.inf
        epoch = loader.epoch
        batches = loader.batches(epoch)
        for i in range(steps):
            try:
                xb, yb = next(batches)
            except StopIteration:
                epoch += 1
                batches = loader.batches(epoch)
                xb, yb = next(batches)
            if xb.dtype.kind == "f" and xb.dtype != dtype:
                xb = xb.astype(dtype)
            if yb.dtype.kind == "f" and yb.dtype != dtype:
                yb = yb.astype(dtype)
            lr = float(start_lr) * ratio ** (i / (steps - 1))
            for g in optimizer.param_groups:
                g["lr"] = lr
            for p in params:
                p.grad = None
            lt = loss_fn(model(Tensor._wrap(xb)), Tensor._wrap(yb))
            lv = float(lt.data)
            if not math.isfinite(lv):
                stop_reason = "diverged"
                break
            lt.backward()
            if not all(p.grad is None or np.isfinite(p.grad).all() for p in params):
                stop_reason = "diverged"
                break
            optimizer.step()
            avg = beta * avg + (1 - beta) * lv
            s = avg / (1 - beta ** (i + 1))
            lrs.append(lr)
            losses.append(lv)
            smoothed.append(s)
            if s > diverge_threshold * best:
                stop_reason = "diverged"
                break
            best = min(best, s)
    finally:
        errstate.__exit__(None, None, None)
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_opt)
        set_rng_state(saved_rng)
        for p in params:
            p.grad = None
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)
        if user_loader is not None:
            user_loader.load_state_dict(saved_loader)
    if stop_reason == "diverged" and smoothed and smoothed[-1] > diverge_threshold * min(smoothed):
        curve_end = len(smoothed) - 1  # drop the blown-up point from the suggestion's search
    else:
        curve_end = len(smoothed)
    sug, lr_min = _suggest(np.asarray(lrs[:curve_end]), np.asarray(smoothed[:curve_end]))
    return LRFinderResult(lrs, losses, smoothed, sug, lr_min, stop_reason)
