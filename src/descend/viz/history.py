"""Training curves, learning-rate schedules and the learning-rate range test."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from ._common import figure_and_axes, finish, new_figure
from .palette import OKABE_ITO, color

__all__ = ["plot_history", "plot_lr_schedule", "plot_lr_find"]

_SKIP = {"epoch", "time", "epoch_time", "step", "steps", "seconds"}


def _numeric(values) -> np.ndarray | None:
    """A float array (None entries -> NaN), or None when the column is not numeric."""
    out = []
    for v in values:
        if v is None:
            out.append(np.nan)
        elif isinstance(v, numbers.Real) and not isinstance(v, bool):
            out.append(float(v))
        elif isinstance(v, np.ndarray) and v.size == 1:
            out.append(float(v))
        else:
            return None
    return np.array(out, dtype=np.float64)


def _history_columns(history):
    """(step_loss array or None, {column: array}) from a History-like object or a dict."""
    if isinstance(history, Mapping):
        step_loss = history.get("step_loss")
        if "epochs" in history and isinstance(history["epochs"], Sequence) and not isinstance(history["epochs"], str):
            epochs = list(history["epochs"])
            table = _rows_to_columns(epochs) if epochs and isinstance(epochs[0], Mapping) else {}
        else:
            table = {k: v for k, v in history.items() if k not in ("step_loss", "epochs")}
    elif hasattr(history, "step_loss") or hasattr(history, "epochs"):
        step_loss = getattr(history, "step_loss", None)
        table = _rows_to_columns(list(getattr(history, "epochs", None) or []))
    else:
        raise TypeError(
            "plot_history: expected a History (attributes step_loss and epochs) or a dict of "
            f"lists, got {type(history).__name__}"
        )
    columns = {}
    for k, v in table.items():
        if k in _SKIP or isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)):
            continue
        arr = _numeric(list(v))
        if arr is not None and arr.size and np.isfinite(arr).any():
            columns[str(k)] = arr
    sl = None
    if step_loss is not None and len(step_loss):
        sl = _numeric(list(step_loss))
    return sl, columns


def _rows_to_columns(rows):
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    return {k: [r.get(k) for r in rows] for k in keys}


_PANELS = ("loss", "metrics", "lr", "grad_norm")


def plot_history(history, title=None, path=None, log_loss: bool | None = None, panels=None):
    """Loss, metrics and learning rate of a training run, one panel each.

    Parameters
    ----------
    history : History or dict
        An object with ``step_loss`` (loss after every optimizer step) and ``epochs`` (one
        dict per epoch: ``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy``,
        ``lr``, ...), as ``descend.train`` returns; or a plain dict of lists (one entry per
        epoch, plus optionally ``step_loss``).
    log_loss : bool, optional
        Log scale for the loss axis (default: when the loss falls by more than 100×).
    panels : sequence of str, optional
        Which panels to draw, in this order: any of ``"loss"``, ``"metrics"`` (accuracy and
        other metrics), ``"lr"`` and ``"grad_norm"`` (default: every one the history has
        data for). Asking for a panel without data is an error naming the ones available.

    Panels: losses (the per-step loss faint, per-epoch losses bold; steps are placed at
    fractions of an epoch), accuracies and other metrics, the learning rate and the gradient
    norm (``grad_norm``), each only when present; ``time`` columns are not drawn.
    """
    step_loss, cols = _history_columns(history)
    loss_keys = [k for k in cols if "loss" in k]
    lr_keys = [k for k in cols if k == "lr" or k.endswith("_lr") or k.startswith("lr")]
    norm_keys = [k for k in cols if "grad_norm" in k]
    metric_keys = [k for k in cols if k not in loss_keys and k not in lr_keys and k not in norm_keys]
    if step_loss is None and not cols:
        raise ValueError("plot_history: the history is empty (no step_loss, no epoch columns)")
    available = (["loss"] + (["metrics"] if metric_keys else []) + (["lr"] if lr_keys else [])
                 + (["grad_norm"] if norm_keys else []))
    if panels is None:
        panels = available
    else:
        if isinstance(panels, str):
            panels = [panels]
        panels = list(panels)
        unknown = [p for p in panels if p not in _PANELS]
        if unknown:
            raise ValueError(f"plot_history: unknown panel(s) {unknown}; choose from {list(_PANELS)}")
        missing = [p for p in panels if p not in available]
        if missing:
            raise ValueError(f"plot_history: the history has no data for panel(s) {missing}; "
                             f"it has {available}")
        if not panels or len(set(panels)) != len(panels):
            raise ValueError(f"plot_history: panels must be a non-empty list without repeats, got {panels}")
    fig = new_figure(figsize=(6.2, 2.6 * len(panels) + 0.6))
    axes = [fig.add_subplot(len(panels), 1, i + 1) for i in range(len(panels))]
    n_epochs = max((len(v) for v in cols.values()), default=0)
    epoch_x = np.arange(1, n_epochs + 1)
    xlabel = "epoch" if n_epochs else "step"

    dots = {"marker": "o" if n_epochs <= 30 else None, "ms": 4}  # epoch points, while they are few

    def curves(ax, keys, first_color=0, **style):
        for i, k in enumerate(keys):
            ax.plot(epoch_x[: len(cols[k])], cols[k], color=color(first_color + i), lw=2,
                    label=k.replace("_", " "), **style)

    def all_positive(keys) -> bool:
        vals = np.concatenate([cols[k] for k in keys])
        return bool(np.all(vals[np.isfinite(vals)] > 0))

    def label_panel(ax, ylabel, log=False):
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)

    if "loss" in panels:
        ax = axes[panels.index("loss")]
        all_losses = []
        if step_loss is not None:
            spe = len(step_loss) / n_epochs if n_epochs else 1.0
            sx = (np.arange(len(step_loss)) + 1) / spe
            ax.plot(sx, step_loss, color=OKABE_ITO["sky_blue"], lw=0.8, alpha=0.7, label="loss per step")
            all_losses.append(step_loss)
        curves(ax, loss_keys, **dots)
        all_losses += [cols[k] for k in loss_keys]
        finite = np.concatenate([a[np.isfinite(a)] for a in all_losses]) if all_losses else np.array([])
        if log_loss is None:
            log_loss = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 100)
        label_panel(ax, "loss", log_loss)
    if "metrics" in panels:
        ax = axes[panels.index("metrics")]
        curves(ax, metric_keys, **dots)
        label_panel(ax, "accuracy" if all("acc" in k for k in metric_keys) else "metric")
    if "lr" in panels:
        # log scale for the rates (and norms below) unless one is zero or negative
        ax = axes[panels.index("lr")]
        curves(ax, lr_keys, 2, drawstyle="steps-post")
        label_panel(ax, "learning rate", all_positive(lr_keys))
    if "grad_norm" in panels:
        ax = axes[panels.index("grad_norm")]
        curves(ax, norm_keys, 4)
        label_panel(ax, "gradient norm", all_positive(norm_keys))
    axes[0].set_title(title or "Training history")
    for ax in axes:
        ax.set_xlabel(xlabel)
    return finish(fig, path)


def _schedule_values(schedule, steps):
    if isinstance(schedule, np.ndarray) or (isinstance(schedule, Sequence) and not isinstance(schedule, str)):
        arr = _numeric(list(schedule))
        if arr is None:
            raise ValueError("plot_lr_schedule: a sequence of learning rates must hold numbers")
        return arr
    if steps is None:
        raise ValueError("plot_lr_schedule: steps must be given for a scheduler or a function")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"plot_lr_schedule: steps must be >= 1, got {steps}")
    if hasattr(schedule, "get_last_lr") and hasattr(schedule, "step"):
        out = []
        for _ in range(steps):  # advances the scheduler (and its optimizer's lr) by `steps`
            out.append(float(schedule.get_last_lr()[0]))
            schedule.step()
        return np.array(out)
    if callable(schedule):
        return np.array([float(schedule(k)) for k in range(steps)])
    raise TypeError(
        "plot_lr_schedule: expected a sequence of learning rates, a dict of them, a function "
        f"step -> lr or a scheduler, got {type(schedule).__name__}"
    )


def plot_lr_schedule(schedule, steps: int | None = None, log: bool = False, ax=None, title=None,
                     path=None, xlabel: str = "step"):
    """Learning rate against step, for one schedule or several (a dict label -> schedule).

    A schedule is a sequence of learning rates, a function ``step -> lr``, or a scheduler
    with ``get_last_lr()``/``step()`` (stepped ``steps`` times: it is advanced).
    """
    items = schedule.items() if isinstance(schedule, Mapping) else [("lr", schedule)]
    fig, ax = figure_and_axes(ax, figsize=(6.4, 3.6))
    for i, (label, sched) in enumerate(items):
        vals = _schedule_values(sched, steps)
        ax.plot(np.arange(len(vals)), vals, color=color(i), lw=2, label=str(label))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title or "Learning-rate schedule")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return finish(fig, path)


def plot_lr_find(lrs, losses=None, suggestion=None, ax=None, title=None, path=None):
    """The learning-rate range test: loss against learning rate (log axis), suggestion marked.

    ``lrs`` may also be a result object (attributes ``lrs``, ``losses``, ``suggestion``) or a
    dict with those keys.
    """
    if losses is None:
        src = lrs
        get = (lambda k: src.get(k)) if isinstance(src, Mapping) else (lambda k: getattr(src, k, None))
        lrs, losses = get("lrs"), get("losses")
        suggestion = get("suggestion") if suggestion is None else suggestion
        if lrs is None or losses is None:
            raise TypeError("plot_lr_find: give lrs and losses, or an object/dict holding them")
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if lrs.shape != losses.shape or lrs.ndim != 1 or lrs.size == 0:
        raise ValueError(f"plot_lr_find: lrs and losses must be 1-D of equal length, got {lrs.shape} and {losses.shape}")
    if np.any(lrs <= 0):
        raise ValueError("plot_lr_find: learning rates must be positive (log axis)")
    fig, ax = figure_and_axes(ax, figsize=(6.4, 4.0))
    ax.plot(lrs, losses, color=color(0), lw=2, label="loss")
    ax.set_xscale("log")
    finite = losses[np.isfinite(losses)]
    if finite.size:  # the loss usually explodes at the end; keep the interesting part in view
        low, first = finite.min(), finite[0]
        top = max(first, low) + 0.5 * (max(first, low) - low + 1e-12)
        ax.set_ylim(low - 0.05 * (top - low + 1e-12), top)
    if suggestion is not None:
        s = float(suggestion)
        ax.axvline(s, color=OKABE_ITO["vermillion"], ls="--", lw=1.5, label=f"suggested lr = {s:.3g}")
        ax.plot([s], [np.interp(np.log(s), np.log(lrs), losses)], marker="o", ms=8,
                color=OKABE_ITO["vermillion"])
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    ax.set_title(title or "Learning-rate range test")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)
