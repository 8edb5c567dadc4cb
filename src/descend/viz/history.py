"""Training curves, learning-rate schedules and the learning-rate range test."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._common import figure_and_axes, finish, new_figure
from .palette import LINE_COLORS, OKABE_ITO, color

__all__ = ["plot_history", "plot_lr_schedule", "plot_lr_find", "plot_curve_groups"]

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


def _looks_like_history(obj) -> bool:
    return isinstance(obj, Mapping) or hasattr(obj, "step_loss") or hasattr(obj, "epochs")


def _named_histories(history) -> dict | None:
    """``{name: history}`` when ``history`` is a dict of several runs' histories, else None.

    A single history given as a dict holds lists (``{"train_loss": [...], ...}``); a dict of runs
    holds History objects or such dicts (anything else in it is an error naming the run).
    """
    if isinstance(history, Mapping) and any(_looks_like_history(v) for v in history.values()):
        return {str(k): v for k, v in history.items()}
    return None


class _Run:
    """One history's curves, with the optimizer step at which each epoch ended.

    ``boundaries``: ``[0, steps after epoch 1, steps after epoch 2, ...]``, from the epochs'
    ``step`` entries, or spread evenly over ``step_loss`` for a plain dict of lists.
    """

    def __init__(self, history, name: str):
        self.name = name
        self.step_loss, self.cols, steps_at_epoch_end = _history_columns(history, name)
        n_epochs = max((len(v) for v in self.cols.values()), default=0)
        n_steps = 0 if self.step_loss is None else len(self.step_loss)
        if steps_at_epoch_end is not None and len(steps_at_epoch_end) == n_epochs:
            self.boundaries = np.r_[0.0, steps_at_epoch_end]
        elif n_epochs and n_steps:
            self.boundaries = np.linspace(0.0, n_steps, n_epochs + 1)
        else:
            self.boundaries = None
        self.n_epochs = n_epochs

    def at_steps(self, steps, axis: str, examples_per_epoch):
        """Positions on ``axis`` of the moments after ``steps`` optimizer steps."""
        steps = np.asarray(steps, dtype=np.float64)
        if axis == "step":
            return steps
        epochs = np.interp(steps, self.boundaries, np.arange(len(self.boundaries)))
        return epochs if axis == "epoch" else epochs * examples_per_epoch

    def epoch_x(self, n: int, axis: str, examples_per_epoch):
        """Positions on ``axis`` of the first ``n`` epochs' ends."""
        if axis == "epoch":
            return np.arange(1, n + 1, dtype=np.float64)
        if self.boundaries is None:  # epoch columns alone: on the examples axis, whole epochs
            return np.arange(1, n + 1, dtype=np.float64) * examples_per_epoch
        return self.at_steps(self.boundaries[1: n + 1], axis, examples_per_epoch)


def _history_columns(history, name: str = ""):
    """(step_loss array or None, {column: array}, steps at each epoch's end or None) from a
    History-like object or a dict."""
    where = f" ({name!r})" if name else ""
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
            f"plot_history{where}: expected a History (attributes step_loss and epochs), a dict of "
            f"lists, or a dict of named histories, got {type(history).__name__}"
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
    if sl is None and not columns:
        raise ValueError(f"plot_history{where}: the history is empty (no step_loss, no epoch columns)")
    ends = _numeric(list(table.get("step") or []))
    ends = ends if ends is not None and ends.size and np.all(np.isfinite(ends)) else None
    return sl, columns, ends


def _rows_to_columns(rows):
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    return {k: [r.get(k) for r in rows] for k in keys}


def _constant_value(values) -> float | None:
    """The value when every finite entry is the same (to rounding), else None."""
    finite = np.concatenate([np.ravel(v) for v in values]) if values else np.array([])
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    return hi if hi - lo <= 1e-9 * max(abs(lo), abs(hi)) else None


def _settle_constant_axis(ax, values, log: bool = False, span=None) -> bool:
    """Give series with nothing to show over time a y range that shows so, and say so on the axes.

    Left alone, matplotlib spreads a constant value ``v`` over ``v ± 4%`` (a learning rate of
    0.001 drawn from 0.00096 to 0.00104), which reads as a change, and zooms onto a few single
    points (two one-epoch accuracies fill the height between 0.28 and 0.33). A constant series
    gets ``span`` when given (``(0, 1)`` for accuracies), else ``[0, 2v]`` (``[v/10, 10v]`` on a
    log axis), and a note with its value; series of one point each get ``span`` or a range from
    zero (a decade either side on a log axis) and a note. Returns whether the range was set.
    """
    value = _constant_value(list(values))
    counts = [int(np.isfinite(np.ravel(v)).sum()) for v in values]
    if value is None and not (counts and max(counts) == 1):
        return False
    finite = np.concatenate([np.ravel(v)[np.isfinite(np.ravel(v))] for v in values])
    lo, hi = float(finite.min()), float(finite.max())
    if span is not None and span[0] <= lo and hi <= span[1]:
        ax.set_ylim(*span)
    elif log and lo > 0:
        ax.set_ylim(lo / 10, hi * 10)
    elif lo == hi == 0:
        ax.set_ylim(-1.0, 1.0)
    elif lo == hi:
        ax.set_ylim(*sorted((0.0, 2.0 * lo)))
    else:  # from zero to the points, with a margin on the side away from zero
        bottom, top = min(0.0, lo), max(0.0, hi)
        margin = 0.1 * (top - bottom)
        ax.set_ylim(bottom - (margin if bottom < 0 else 0.0), top + (margin if top > 0 else 0.0))
    if value is not None:
        note = f"{'one value' if sum(counts) == 1 else 'constant'}: {value:.4g}"
    else:
        note = "one value each"
    ax.text(0.02, 0.94, note, transform=ax.transAxes, va="top", fontsize=8, color="0.3")
    return True


_PANELS = ("loss", "metrics", "lr", "grad_norm")
_X_AXES = ("epoch", "step", "examples")
_X_LABELS = {"epoch": "epoch", "step": "optimizer step (update)", "examples": "examples seen"}
_KEY_STYLES = ("-", "--", ":", "-.")


def _panel_keys(cols) -> dict[str, list[str]]:
    loss = [k for k in cols if "loss" in k]
    lr = [k for k in cols if k == "lr" or k.endswith("_lr") or k.startswith("lr")]
    norm = [k for k in cols if "grad_norm" in k]
    metrics = [k for k in cols if k not in loss and k not in lr and k not in norm]
    return {"loss": loss, "metrics": metrics, "lr": lr, "grad_norm": norm}


def _step_count_ratio(step_losses) -> float:
    """Ratio of the most steps a run took to the fewest (1 when a run has none)."""
    counts = [len(sl) for sl in step_losses if sl is not None]
    return max(counts) / min(counts) if counts and min(counts) else 1.0


def _x_axes(x, several: bool, examples_per_epoch) -> list[str]:
    if x is None:
        x = ["step", "epoch"] if several else ["epoch"]
        if several and examples_per_epoch is not None:
            x.append("examples")
    elif isinstance(x, str):
        x = [x]
    x = list(x)
    unknown = [a for a in x if a not in _X_AXES]
    if unknown or not x or len(set(x)) != len(x):
        raise ValueError(f"plot_history: x must be one of {list(_X_AXES)} or a list of them without "
                         f"repeats, got {x}")
    if "examples" in x:
        if isinstance(examples_per_epoch, bool) or not isinstance(examples_per_epoch, numbers.Real) \
                or not examples_per_epoch > 0:
            raise ValueError("plot_history: x='examples' needs examples_per_epoch, the number of "
                             f"training examples in one epoch (a positive number), got {examples_per_epoch!r}")
    return x


def plot_history(history, title=None, path=None, log_loss: bool | None = None, panels=None, x=None,
                 examples_per_epoch: int | None = None):
    """Loss, metrics and learning rate of one training run, or of several on shared axes.

    Parameters
    ----------
    history : History, dict of lists, or dict of named histories
        An object with ``step_loss`` (loss after every optimizer step) and ``epochs`` (one
        dict per epoch: ``step``, ``train_loss``, ``val_loss``, ``train_accuracy``,
        ``val_accuracy``, ``lr``, ...), as ``descend.train`` returns; or a plain dict of lists
        (one entry per epoch, plus optionally ``step_loss``). Several runs to compare are a
        dict ``{name: history}``, e.g. ``{"batch": h1, "stochastic": h2, "mini-batch 32": h3}``:
        each run gets its own colour, each column its own line style.
    log_loss : bool, optional
        Log scale for the loss axis (default: when the loss falls by more than 100×).
    panels : sequence of str, optional
        Which panels to draw, in this order: any of ``"loss"``, ``"metrics"`` (accuracy and
        other metrics), ``"lr"`` and ``"grad_norm"`` (default: every one the histories have
        data for). Asking for a panel without data is an error naming the ones available.
    x : str or sequence of str, optional
        The horizontal axis, one column of panels each: ``"epoch"``, ``"step"`` (optimizer
        updates) or ``"examples"`` (training examples seen). Default: ``"epoch"`` for one run;
        ``"step"`` and ``"epoch"`` (and ``"examples"`` when ``examples_per_epoch`` is given)
        for several, since batch, mini-batch and stochastic descent differ exactly in how many
        updates an epoch of examples buys.
    examples_per_epoch : int, optional
        Training examples in one epoch, for ``x="examples"``: epoch ``e`` ends at
        ``e * examples_per_epoch`` and the steps within an epoch are spread evenly over it.

    The per-step loss is drawn faint, the per-epoch columns bold; steps sit at their place
    within the epoch (from each epoch's ``step`` count). A series that never changes (a
    constant learning rate, a one-epoch run) is drawn on a range that shows it as constant,
    with its value noted. ``time`` columns are not drawn.
    """
    named = _named_histories(history)
    runs = [_Run(h, name) for name, h in named.items()] if named else [_Run(history, "")]
    several = named is not None
    axes_x = _x_axes(x, several, examples_per_epoch)
    for run in runs:
        which = f"the history {run.name!r}" if run.name else "the history"
        if "step" in axes_x and run.step_loss is None and run.boundaries is None:
            raise ValueError(f"plot_history: x='step' needs the optimizer steps, which {which} does not "
                             "record (no step_loss, no 'step' column)")
        if several and "epoch" in axes_x and run.n_epochs == 0:
            raise ValueError(f"plot_history: x='epoch' needs epochs, which {which} does not record "
                             "(only step_loss); use x='step'")
        if "examples" in axes_x and run.n_epochs == 0:
            raise ValueError(f"plot_history: x='examples' needs epochs, which {which} does not record "
                             "(only step_loss)")
    keys = {p: [] for p in _PANELS}
    for run in runs:
        for p, ks in _panel_keys(run.cols).items():
            keys[p] += [k for k in ks if k not in keys[p]]
    available = (["loss"] + (["metrics"] if keys["metrics"] else []) + (["lr"] if keys["lr"] else [])
                 + (["grad_norm"] if keys["grad_norm"] else []))
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

    rows, ncols = len(panels), len(axes_x)
    fig = new_figure(figsize=(6.2 * ncols, 2.6 * rows + 0.6))
    grid = [[fig.add_subplot(rows, ncols, r * ncols + c + 1) for c in range(ncols)] for r in range(rows)]
    steps_only = all(run.n_epochs == 0 for run in runs)
    dots = {"marker": "o" if max(run.n_epochs for run in runs) <= 30 else None, "ms": 4}

    def draw(ax, panel, axis):
        """Draw one panel against one axis; return every value drawn (for the y range)."""
        drawn = []
        for i, run in enumerate(runs):
            prefix = f"{run.name}: " if several else ""
            if panel == "loss" and run.step_loss is not None:
                steps = np.arange(1, len(run.step_loss) + 1)
                sx = steps if run.boundaries is None else run.at_steps(steps, axis, examples_per_epoch)
                ax.plot(sx, run.step_loss, color=color(i) if several else OKABE_ITO["sky_blue"], lw=0.8,
                        alpha=0.45 if several else 0.7, label=f"{prefix}loss per step")
                drawn.append(run.step_loss)
            first = {"loss": 0, "metrics": 0, "lr": 2, "grad_norm": 4}[panel]
            for j, k in enumerate(kk for kk in keys[panel] if kk in run.cols):
                vals = run.cols[k]
                style = ({"color": color(i), "ls": _KEY_STYLES[j % len(_KEY_STYLES)]} if several
                         else {"color": color(first + j)})
                if panel in ("loss", "metrics"):
                    style.update(dots)
                elif len(vals) == 1:  # one point draws no line
                    style["marker"] = "o"
                if panel == "lr":
                    style["drawstyle"] = "steps-post"
                ax.plot(run.epoch_x(len(vals), axis, examples_per_epoch), vals, lw=2,
                        label=prefix + k.replace("_", " "), **style)
                drawn.append(vals)
        return drawn

    for r, panel in enumerate(panels):
        for c, axis in enumerate(axes_x):
            ax = grid[r][c]
            drawn = draw(ax, panel, axis)
            finite = np.concatenate([d[np.isfinite(d)] for d in drawn]) if drawn else np.array([])
            positive = bool(finite.size and finite.min() > 0)
            if panel == "loss":
                log = log_loss if log_loss is not None else bool(positive and finite.max() / finite.min() > 100)
                ylabel = "loss"
            elif panel == "metrics":
                log = False
                ylabel = "accuracy" if all("acc" in k for k in keys["metrics"]) else "metric"
            else:  # rates and norms: log scale unless one is zero or negative
                log = positive
                ylabel = "learning rate" if panel == "lr" else "gradient norm"
            if log:
                ax.set_yscale("log")
            _settle_constant_axis(ax, drawn, log, (0.0, 1.0) if ylabel == "accuracy" else None)
            ax.set_ylabel(ylabel)
            ax.set_xlabel("step" if steps_only else _X_LABELS[axis])
            if axis == "epoch" and not steps_only:
                # a one-epoch run is one point: show the epoch axis from its start, not 0.96 to 1.04
                ax.set_xlim(0, max(run.n_epochs for run in runs) * 1.04)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            elif axis == "step" and several and _step_count_ratio(run.step_loss for run in runs) > 10:
                # batch descent takes an update per epoch, stochastic one per example: on a linear
                # axis the first would be squashed against zero
                ax.set_xscale("log")
            elif axis != "epoch":
                ax.set_xlim(left=0)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    grid[0][0].set_title(title or ("Training history" if not several else
                                   "Training histories: " + ", ".join(run.name for run in runs)))
    if ncols > 1:
        for c, axis in enumerate(axes_x[1:], start=1):
            grid[0][c].set_title(f"by {_X_LABELS[axis]}")
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
    drawn = []
    for i, (label, sched) in enumerate(items):
        vals = _schedule_values(sched, steps)
        ax.plot(np.arange(len(vals)), vals, color=color(i), lw=2, label=str(label))
        drawn.append(vals)
    if log:
        ax.set_yscale("log")
    _settle_constant_axis(ax, drawn, log)
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


def _group_colours(n: int) -> list:
    """Distinct colours for n groups: the colour-blind-safe line colours while they last, then
    evenly spaced hues of a perceptually uniform map (with the legend as the key)."""
    if n <= len(_LINES_NO_YELLOW):
        return list(_LINES_NO_YELLOW[:n])
    from matplotlib import colormaps

    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


_LINES_NO_YELLOW = [c for c in LINE_COLORS if c != OKABE_ITO["yellow"]]


def plot_curve_groups(groups, highlight=None, xlabel: str = "epoch", ylabel: str = "loss",
                      log: bool | None = None, ax=None, title=None, path=None):
    """Curves of several configurations, each the mean over its repeats with their range shaded.

    Parameters
    ----------
    groups : mapping label -> sequence of curves
        One entry per configuration; a curve is a sequence of values (one per epoch, None or
        NaN where missing), one curve per repeat (seed). Curves of a group may differ in length
        (early stopping): the mean at epoch ``e`` is over the repeats that reached it.
    highlight : str, optional
        The label drawn thick (the best configuration).
    log : bool, optional
        Log scale for the values (default: when they are positive and span more than 10×).

    Every group is in the legend (outside the axes, in columns when there are many), so each
    line can be told apart even with dozens of them.
    """
    items = [(str(label), [_numeric(list(c)) for c in curves]) for label, curves in groups.items()]
    items = [(label, [c for c in curves if c is not None and c.size]) for label, curves in items]
    items = [(label, curves) for label, curves in items if curves]
    if not items:
        raise ValueError("plot_curve_groups: no curves to draw")
    if highlight is not None and str(highlight) not in dict(items):
        raise ValueError(f"plot_curve_groups: highlight {highlight!r} is not one of the groups")
    n_cols = 1 if len(items) <= 16 else 2 if len(items) <= 36 else 3
    fig, ax = figure_and_axes(ax, figsize=(7.5 + 2.6 * n_cols, 4.8))
    colours = _group_colours(len(items))
    drawn = []
    # beyond the few safe colours, neighbouring hues also differ in line style
    styles = ["-"] * len(items) if len(items) <= len(_LINES_NO_YELLOW) else \
        [_KEY_STYLES[i % len(_KEY_STYLES)] for i in range(len(items))]
    for (label, curves), c, ls in zip(items, colours, styles, strict=True):
        length = max(len(curve) for curve in curves)
        stack = np.full((len(curves), length), np.nan)
        for i, curve in enumerate(curves):
            stack[i, : len(curve)] = curve
        seen = np.isfinite(stack)
        count = seen.sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.where(count > 0, np.nansum(np.where(seen, stack, 0.0), axis=0) / np.maximum(count, 1), np.nan)
        x = np.arange(1, length + 1)
        best = str(highlight) == label
        ax.plot(x, mean, color=c, ls=ls, lw=2.8 if best else 1.3, zorder=3 if best else 2,
                label=label + (f" (mean of {len(curves)})" if len(curves) > 1 else "") + (" — best" if best else ""))
        if len(curves) > 1:
            lo = np.where(count > 0, np.min(np.where(seen, stack, np.inf), axis=0), np.nan)
            hi = np.where(count > 0, np.max(np.where(seen, stack, -np.inf), axis=0), np.nan)
            ax.fill_between(x, lo, hi, color=c, alpha=0.15, lw=0)
        drawn.append(stack)
    values = np.concatenate([d[np.isfinite(d)] for d in drawn])
    if log is None:
        log = bool(values.size and values.min() > 0 and values.max() / values.min() > 10)
    if log:
        ax.set_yscale("log")
    _settle_constant_axis(ax, drawn, log)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=n_cols, frameon=False,
              title="configuration", title_fontsize=8)
    ax.set_title(title or f"{ylabel} per {xlabel}" + (" (shaded: range over seeds)"
                                                     if any(len(c) > 1 for _, c in items) else ""))
    return finish(fig, path)
