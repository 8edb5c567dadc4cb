"""Checks and guards that every training loop shares (the :class:`~descend.train.Trainer`
behind ``fit``, ``lr_find`` and ``descend.distributed.fit``).

Argument validation with messages that name the argument, the model, optimizer and
data checks, whether a learning-rate scheduler wants a metric, the gradient norm
that cannot overflow, and what a run that diverged says about itself.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "DivergenceWarning", "LR_FIND_HINT", "DIVERGENCE_HINT", "growth_detail", "DIVERGENCE_FACTOR",
    "PARAMETER_GROWTH", "check_divergence_factor", "loss_exploded", "counted", "column_targets",
    "parameter_scale", "parameter_exploded", "check_positive_int", "check_nonnegative", "check_seed",
    "wants_metric", "finite_grad_norm", "diverged_message", "model_params", "resolve_optimizer",
    "cast_arrays", "check_finite_arrays", "supervised", "training_loader", "validation_arrays",
]

LR_FIND_HINT = "learning rate too high? try `descend lr-find`"
#: The same advice as the sentence that ends a divergence message (fit, lr_find, minimize).
DIVERGENCE_HINT = LR_FIND_HINT[0].upper() + LR_FIND_HINT[1:]

#: The default growth factor of the divergence rule (see :func:`loss_exploded`).
DIVERGENCE_FACTOR = 1e4
#: Parameters count as diverged when their largest magnitude exceeds this many times the
#: divergence factor times their starting scale (1e6 by default, see :func:`parameter_exploded`).
PARAMETER_GROWTH = 100.0


class DivergenceWarning(UserWarning):
    """Training stopped because the loss or the gradient became inf or nan, the loss grew
    without bound, or the parameters reached absurd sizes."""


def check_divergence_factor(factor, where="fit"):
    """``factor`` as a float > 1, or None (the growth rule off); a ValueError otherwise."""
    if factor is None:
        return None
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 1 \
            or not math.isfinite(factor):
        raise ValueError(f"{where}: divergence_factor must be a finite number > 1 or None, got {factor!r}")
    return float(factor)


def loss_exploded(value: float, first: float, best: float, factor: float | None) -> bool:
    """Whether a finite ``value`` has grown without bound: ``value - best > factor * scale``.

    ``first`` is the first value of the run, ``best`` the lowest so far and ``scale =
    max(|first|, |best|)`` (a loss that starts at 100 and diverges must pass ``best + 1e6``
    at the default factor 1e4; a loss that dips near 0 by chance does not make ordinary
    noise look like divergence). Off when ``factor`` is None or the scale is 0.
    """
    if factor is None:
        return False
    scale = max(abs(first), abs(best))
    return scale > 0 and value - best > factor * scale


def parameter_scale(params) -> float:
    """The largest magnitude among ``params`` (arrays or Tensors), at least 1 (the reference
    of :func:`parameter_exploded`: parameters drawn at scale 0.1 or zeros start from 1)."""
    return max([1.0] + [float(np.abs(_array(p)).max()) for p in params if _array(p).size])


def parameter_exploded(named_params, scale0: float, factor: float | None):
    """``(name, largest magnitude)`` of the first parameter beyond ``PARAMETER_GROWTH * factor
    * scale0`` (or non-finite), else None: a run can diverge where its loss cannot show it
    (a saturated softmax has loss 0 whatever the size of its weights)."""
    if factor is None:
        return None
    limit = PARAMETER_GROWTH * factor * scale0
    for name, p in named_params:
        a = _array(p)
        if a.size:
            top = float(np.abs(a).max())
            if not top <= limit:  # nan too
                return name, top
    return None


def _array(p):
    return getattr(p, "data", p)


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless n is 1: "1 epoch", "30 epochs"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def check_positive_int(v, name, allow_none=True, where="fit"):
    """``v`` as an int >= 1 (or None when allowed); a ValueError naming ``where`` and ``name``
    otherwise."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{where}: {name} must be a positive integer{' or None' if allow_none else ''}, "
                         f"got {v!r}")
    return int(v)


def check_nonnegative(v, name, positive=False):
    """``v`` as a float >= 0 (> 0 with ``positive``) or None; a ValueError naming ``name`` otherwise."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"fit: {name} must be a {'positive' if positive else 'non-negative'} number or None, got {v!r}")
    return float(v)


def check_seed(seed, where="fit"):
    """``seed`` as an int >= 0 or None; a ValueError naming ``seed`` otherwise."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"{where}: seed must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


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


def diverged_message(what, value, step, epoch, lr, history, restored, detail="") -> str:
    """The warning of a run stopped because its ``what`` ("loss", "gradient norm" or
    "parameter ...") is ``value``; ``detail`` says why a finite value counts (grown too far)."""
    where = f"step {step + 1} (epoch {epoch + 1})"
    msg = f"training diverged at {where}: the {what} is {value:.6g}{detail} with learning rate {lr:.3g}; "
    if what == "loss":
        if restored:
            msg += (f"stopped and restored the parameters that gave the last accepted loss "
                    f"({history.step_loss[-1]:.6g}, step {step})")
        elif step == 0:
            msg += "stopped before any update (check the inputs and targets for inf/nan)"
        else:
            msg += "stopped"
    elif "parameter" in what:
        msg += "stopped (the parameters are unusable)"
    else:
        msg += "stopped before applying it (the parameters are those of the last finite loss)"
    return msg + f". {DIVERGENCE_HINT}"


def growth_detail(factor: float, first: float, best: float, best_name: str = "best loss") -> str:
    """Why a finite value counts as diverged under :func:`loss_exploded`'s rule, as a clause:
    ", more than divergence_factor=F times S above the best loss so far (B)"."""
    return (f", more than divergence_factor={factor:g} times {max(abs(first), abs(best)):.6g} above the "
            f"{best_name} so far ({best:.6g})")


# ----------------------------------------------------------------------------- model, optimizer, data
def model_params(model, where):
    """The model's parameters (a list of floating-point Tensors, at least one), checked."""
    from ..tensor import Tensor

    if not hasattr(model, "parameters") or not callable(model):
        raise TypeError(f"{where}: model must be a descend.nn.Module (callable, with parameters()), got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError(f"{where}: the model has no parameters to train")
    for p in params:
        if not isinstance(p, Tensor) or p.data.dtype.kind != "f":
            raise TypeError(f"{where}: every model parameter must be a floating-point Tensor")
    return params


def resolve_optimizer(optimizer, model, where):
    """An optimizer instance: ``optimizer`` itself, or ``optim.get(name, model.parameters())``."""
    if isinstance(optimizer, str):
        from .. import optim

        return optim.get(optimizer, model.parameters())
    if isinstance(optimizer, type):
        raise TypeError(
            f"{where}: optimizer is the class {optimizer.__name__}; pass an instance, e.g. "
            f"{optimizer.__name__}(model.parameters(), lr=0.01), or a name like 'adam'"
        )
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "param_groups")):
        raise TypeError(f"{where}: optimizer must be an optimizer instance or a name, got {optimizer!r}")
    return optimizer


def cast_arrays(arrays, dtype):
    """Float arrays in the model's dtype (once, before training); labels untouched."""
    return tuple(a.astype(dtype) if a.dtype.kind == "f" and a.dtype != dtype else a for a in arrays)


def check_finite_arrays(arrays, what):
    """``arrays`` (inputs, targets) unchanged; a ValueError locating the first inf/nan otherwise."""
    for name, a in zip(("inputs", "targets"), arrays, strict=False):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(
                f"fit: the {what} {name} contain a non-finite value ({a[tuple(bad)]} at index "
                f"{tuple(int(i) for i in bad)}); remove or impute it before training"
            )
    return arrays


def supervised(arrays, what):
    """``arrays`` if they are exactly (inputs, targets); a ValueError naming ``what`` otherwise."""
    if len(arrays) < 2:
        raise ValueError(f"fit: {what} must provide inputs and targets, e.g. ({what[:1].upper()}X, y); got {len(arrays)} array(s)")
    if len(arrays) > 2:
        raise ValueError(f"fit: {what} must be (inputs, targets); got {len(arrays)} arrays")
    return arrays


def column_targets(model, arrays):
    """scikit-learn's convention for one output: ``(X, y)`` with ``y`` of shape ``(n,)`` becomes
    ``(X, y[:, None])`` when ``model`` gives one column, ``(1, 1)`` for one example.

    The losses refuse ``(n,)`` against ``(n, 1)`` rather than broadcast them to ``(n, n)``;
    a 1-D target for a single-output regression (``y = 2x`` as a list of numbers) is still
    what a user means (the first article's ``y = np.array([2, 4, 6, 8, 10])`` is even integer),
    so the arrays are reshaped once, before training. The model is asked in eval mode without
    recording (no dropout draw, no statistics updated); a model whose output is ``(n,)`` or has
    several columns (class scores, whose labels stay ``(n,)``) and 2-D targets are left as they are.
    """
    X, y = arrays
    if model is None or y.ndim != 1 or len(X) == 0:
        return arrays
    from ..autograd import no_grad
    from ..tensor import Tensor

    was_training = getattr(model, "training", False)
    if was_training and hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            shape = tuple(getattr(model(Tensor._wrap(X[:1])), "shape", ()))
    except Exception:  # noqa: BLE001 - a model that cannot take this batch fails in the loop, with its own message
        shape = ()
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return (X, y[:, None]) if shape == (1, 1) else arrays


def training_loader(train, batch_size, shuffle, seed, dtype, model=None):
    """``train`` as a DataLoader: itself, or one over its arrays cast to ``dtype`` and checked
    (with ``model``, a 1-D float target of a single-output model as a column: :func:`column_targets`)."""
    from ..data.dataset import Dataset, as_arrays
    from ..data.loader import DataLoader

    if isinstance(train, DataLoader):
        return train
    try:
        arrays = check_finite_arrays(supervised(cast_arrays(as_arrays(train, "train"), dtype), "train"), "training")
    except TypeError as exc:
        raise TypeError(f"fit: train must be a Dataset, a tuple (X, y) or a DataLoader ({exc})") from None
    return DataLoader(Dataset(*column_targets(model, arrays)), batch_size=batch_size, shuffle=shuffle, seed=seed)


def validation_arrays(data, dtype, what="validation", model=None):
    """``(X, y)`` of a Dataset, tuple or DataLoader, cast to ``dtype``; finite values checked;
    with ``model``, :func:`column_targets`."""
    from ..data.dataset import as_arrays
    from ..data.loader import DataLoader

    src = data.dataset if isinstance(data, DataLoader) else data
    return column_targets(model, check_finite_arrays(supervised(cast_arrays(as_arrays(src, what), dtype), what), what))
