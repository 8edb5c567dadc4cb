"""Pictures of optimisation (extra ``plot``: matplotlib, Pillow).

Every function returns a ``matplotlib.figure.Figure`` and, given ``path=``, also saves it
(the format follows the extension). Colours are colour-blind safe (Okabe-Ito lines,
viridis fields). Figures are drawn on the Agg canvas, so nothing needs a display.

* :func:`plot_landscape`: contour or 3-D surface of a landscape, known minima marked;
* :func:`plot_paths`: several optimizers' walks over the contour;
* :func:`animate_paths`: the same as a GIF (Pillow) or MP4 (when ffmpeg is installed);
* :func:`plot_basins`: which minimum each start reaches, and how fast;
* :func:`plot_convergence`: best value against evaluations, for comparing methods;
* :func:`plot_history`: loss, accuracy and learning rate of a training run, or of several
  named runs on shared axes (by step, epoch or examples seen);
* :func:`plot_lr_schedule`: learning-rate schedules against steps;
* :func:`plot_lr_find`: the learning-rate range test;
* :func:`plot_curve_groups`: many configurations' curves, mean and range over seeds;
* :func:`plot_decision_surface`: a model's decision regions or regression surface on 2-D data;
* :func:`plot_filters`, :func:`plot_feature_maps`: a convolution layer's kernels and feature maps;
* :func:`plot_batch_modes`: batch, stochastic and mini-batch descent against updates and examples.
"""

from __future__ import annotations

try:
    import matplotlib  # noqa: F401  (checked here so the error names the extra)
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("descend.viz needs the 'plot' extra: pip install 'descend[plot]'") from exc

from .batch_modes import plot_batch_modes
from .conv import plot_feature_maps, plot_filters
from .history import plot_curve_groups, plot_history, plot_lr_find, plot_lr_schedule
from .landscape import (
    animate_paths,
    plot_basins,
    plot_convergence,
    plot_landscape,
    plot_paths,
)
from .palette import LINE_COLORS, OKABE_ITO
from .surface import plot_decision_surface

__all__ = [
    "plot_landscape", "plot_paths", "animate_paths", "plot_basins", "plot_convergence", "plot_history",
    "plot_lr_schedule", "plot_lr_find", "plot_curve_groups", "plot_decision_surface", "OKABE_ITO", "LINE_COLORS",
    "plot_filters", "plot_feature_maps", "plot_batch_modes",
]
