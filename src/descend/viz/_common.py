"""Figure creation and saving, shared by every plotting function.

Figures are made with ``matplotlib.figure.Figure`` directly (not pyplot): no global figure
registry to leak memory or warn after twenty figures, and no display needed. Jupyter shows
a returned Figure; ``fig.savefig`` or the ``path=`` argument writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100


def new_figure(figsize=(6.4, 4.8)):
    """A Figure with an Agg canvas (renders anywhere, no display)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_and_axes(ax, figsize=(6.4, 4.8), **kwargs):
    """Use the caller's axes, or make a figure with one."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot(**kwargs)


def finish(fig, path=None, dpi=None):
    """Save ``fig`` to ``path`` (format from the extension; parent folders created) and return it."""
    if path is not None:
        p = Path(os.fspath(path))
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=dpi or DPI)
    return fig
