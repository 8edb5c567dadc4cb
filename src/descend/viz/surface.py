"""What a model learned on two-feature data: its decision regions or regression surface, with
the data drawn over them."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.lines import Line2D

from ._common import figure_and_axes, finish
from .palette import SEQUENTIAL, color

__all__ = ["plot_decision_surface"]


def _grid(X: np.ndarray, resolution: int, margin: float = 0.08):
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * margin, 1.0)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()])


def plot_decision_surface(predict, X, y, task: str = "classification", class_names=None,
                          resolution: int = 200, feature_names=("x0", "x1"), ax=None, title=None,
                          path=None):
    """The data over what the model predicts at every point of the plane around it.

    Parameters
    ----------
    predict : callable
        Points ``(n, 2)`` (in the data's own units) -> class ids ``(n,)`` for classification, or
        values ``(n,)`` / ``(n, 1)`` for regression.
    X : array (n, 2)
        The examples to draw.
    y : array (n,)
        Their class ids (``0 .. k-1``) or target values.
    task : "classification" or "regression"
        Classification colours the plane by predicted class (decision boundaries drawn) and
        marks the examples the model gets wrong with a cross; regression fills it with the
        predicted value on the colour scale the examples' targets use.
    class_names : sequence of str, optional
        Legend labels of the classes (default: the ids).
    resolution : int
        Grid points per axis.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_surface: X must have shape (n, 2), got {X.shape}")
    if y.shape[:1] != X.shape[:1] or y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ValueError(f"plot_decision_surface: y must have one value per row of X, got {y.shape} "
                         f"for X {X.shape}")
    if task not in ("classification", "regression"):
        raise ValueError(f"plot_decision_surface: task must be 'classification' or 'regression', got {task!r}")
    # (the plane around the data is drawn from its extent: none, or an infinite one, has no plane)
    if len(X) == 0 or not np.all(np.isfinite(X)):
        raise ValueError(f"plot_decision_surface: X must hold at least one row of finite numbers, "
                         f"got {'no rows' if len(X) == 0 else 'a non-finite value'}")
    if task == "classification" and (y.dtype.kind not in "iub" or y.min() < 0):
        # class ids index the colours: -1 would silently take the last class's colour
        raise ValueError("plot_decision_surface: y must hold class ids 0 .. k-1 for classification "
                         f"(task='regression' for real targets), got {y.dtype} values from {y.min()!r}")
    if int(resolution) < 2:
        raise ValueError(f"plot_decision_surface: resolution must be at least 2, got {resolution!r}")
    y = y.reshape(-1)
    gx, gy, points = _grid(X, int(resolution))
    fig, ax = figure_and_axes(ax, figsize=(6.4, 5.2))
    if task == "classification":
        y = y.astype(np.int64)
        pred = np.asarray(predict(points)).reshape(gx.shape).astype(np.int64)
        k = int(max(y.max(initial=0), pred.max(initial=0))) + 1
        names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
        colours = [color(i) for i in range(k)]
        ax.contourf(gx, gy, pred, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colours), alpha=0.22)
        if k > 1:
            ax.contour(gx, gy, pred, levels=np.arange(k - 1) + 0.5, colors="0.2", linewidths=1.0)
        ax.scatter(X[:, 0], X[:, 1], c=[colours[i] for i in y], s=16, edgecolors="white", linewidths=0.4,
                   zorder=3)
        wrong = np.asarray(predict(X)).reshape(-1).astype(np.int64) != y
        ax.scatter(X[wrong, 0], X[wrong, 1], marker="x", c="black", s=22, linewidths=1.0, zorder=4)
        handles = [Line2D([], [], marker="o", ls="", mfc=c, mec="white", ms=7, label=n)
                   for c, n in zip(colours, names, strict=False)]
        handles.append(Line2D([], [], marker="x", ls="", color="black", ms=6,
                              label=f"misclassified ({int(wrong.sum())} of {len(y)})"))
        handles.append(Line2D([], [], color="0.2", lw=1.0, label="decision boundary"))
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
        default_title = "Decision regions the model learned"
    else:
        y = y.astype(np.float64)
        pred = np.asarray(predict(points), dtype=np.float64).reshape(gx.shape)
        finite = np.concatenate([pred[np.isfinite(pred)], y[np.isfinite(y)]])
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:  # a constant surface still needs a colour scale
            lo, hi = lo - 1.0, hi + 1.0
        norm = Normalize(lo, hi)
        cs = ax.contourf(gx, gy, pred, levels=np.linspace(lo, hi, 21), cmap=SEQUENTIAL, norm=norm, alpha=0.75)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap=SEQUENTIAL, norm=norm, s=18, edgecolors="white",
                   linewidths=0.6, zorder=3)
        fig.colorbar(cs, ax=ax, label="prediction (fill) and target (points)")
        default_title = "Regression surface the model learned"
    ax.set_xlabel(str(feature_names[0]))
    ax.set_ylabel(str(feature_names[1]))
    ax.set_title(title or default_title)
    return finish(fig, path)
