"""Checks and guards that every training loop shares (``fit`` and ``descend.distributed.fit``).

Argument validation with messages that name the argument, whether a learning-rate
scheduler wants a metric, the gradient norm that cannot overflow, and what a run
that diverged says about itself.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "DivergenceWarning", "LR_FIND_HINT", "check_positive_int", "check_nonnegative", "wants_metric",
    "finite_grad_norm", "diverged_message",
]

LR_FIND_HINT = "learning rate too high? try `descend lr-find`"


class DivergenceWarning(UserWarning):
    """Training stopped because the loss or the gradient became inf or nan."""


def check_positive_int(v, name, allow_none=True):
    """``v`` as an int >= 1 (or None when allowed); a ValueError naming ``name`` otherwise."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"fit: {name} must be a positive integer{' or None' if allow_none else ''}, got {v!r}")
    return int(v)


def check_nonnegative(v, name, positive=False):
    """``v`` as a float >= 0 (> 0 with ``positive``) or None; a ValueError naming ``name`` otherwise."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"fit: {name} must be a {'positive' if positive else 'non-negative'} number or None, got {v!r}")
    return float(v)


def wants_metric(scheduler) -> bool:
    """Whether ``scheduler.step`` wants a metric (ReduceLROnPlateau, or a chain holding one)."""
    needs = getattr(scheduler, "_needs_metrics", None)
    if callable(needs):
        return bool(needs())
    return type(scheduler).__name__ == "ReduceLROnPlateau"


def finite_grad_norm(params) -> float:
    """The gradient norm in float64 (the float32 sum of squares can overflow for finite grads)."""
    total = 0.0
    for p in params:
        if p.grad is not None:
            g = p.grad.astype(np.float64).reshape(-1)
            if not np.all(np.isfinite(g)):
                return math.nan
            scale = float(np.abs(g).max()) if g.size else 0.0
            if scale > 0:
                total += scale * scale * float(np.dot(g / scale, g / scale))
    return math.sqrt(total)


def diverged_message(what, value, step, epoch, lr, history, restored) -> str:
    """The warning of a run stopped because its ``what`` ("loss" or "gradient norm") is ``value``."""
    where = f"step {step + 1} (epoch {epoch + 1})"
    msg = f"training diverged at {where}: the {what} is {value} with learning rate {lr:.3g}; "
    if what == "loss":
        if restored:
            msg += (f"stopped and restored the parameters that gave the last finite loss "
                    f"({history.step_loss[-1]:.6g}, step {step})")
        elif step == 0:
            msg += "stopped before any update (check the inputs and targets for inf/nan)"
        else:
            msg += "stopped"
    else:
        msg += "stopped before applying it (the parameters are those of the last finite loss)"
    return msg + f". {LR_FIND_HINT[0].upper() + LR_FIND_HINT[1:]}"
