"""What a convolutional network looks at: its first layer's kernels and the feature maps they make."""

from __future__ import annotations

import math

import numpy as np

from ._common import finish, new_figure
from .palette import SEQUENTIAL

__all__ = ["plot_filters", "plot_feature_maps"]

#: Signed weights: a diverging map centred on 0 (red-blue is readable with colour-blindness).
DIVERGING = "RdBu_r"


def _as_array(a, what: str, ndim: int) -> np.ndarray:
    arr = np.asarray(getattr(a, "data", a), dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{what} must be {ndim}-D, got shape {arr.shape}")
    return arr


def plot_filters(weight, title=None, columns: int | None = None, path=None):
    """Every kernel of a convolution layer as a small image, in a grid.

    ``weight`` (out_channels, in_channels, kh, kw) (a ``Conv2d.weight``, tensor or array):
    one image per (output, input) channel pair, output channels along the grid, the input
    channels of one kernel side by side. Colours are the weights themselves on a scale
    symmetric about 0 shared by all kernels (red positive, blue negative), so that kernels
    compare: a first-layer kernel is the pattern of pixels that excites its channel most.
    """
    w = _as_array(weight, "weight", 4)
    K, C, kh, kw = w.shape
    if K == 0 or C == 0:
        raise ValueError(f"weight has no kernel to draw (shape {w.shape})")
    cols = columns or min(K, 8)
    rows = math.ceil(K / cols)
    limit = float(np.abs(w).max()) or 1.0
    fig = new_figure((max(2.0, 1.1 * cols * C), max(1.6, 1.15 * rows + 0.5)))
    grid = fig.add_gridspec(rows, cols * C)
    image = None
    for k in range(K):
        r, c = divmod(k, cols)
        for ch in range(C):
            ax = fig.add_subplot(grid[r, c * C + ch])
            image = ax.imshow(w[k, ch], cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if ch == 0:
                ax.set_title(f"{k}", fontsize=8)
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="weight")
    fig.suptitle(title or f"{K} kernels of {kh}x{kw} over {C} input channel(s)")
    return finish(fig, path)


def plot_feature_maps(images, maps, title=None, max_channels: int = 8, path=None):
    """A few inputs beside the feature maps a layer makes of them.

    ``images`` (n, H, W) or (n, C, H, W) (three channels are drawn in colour, red, green and
    blue, each image stretched over the full range of colours, since a network's inputs are
    standardised, not pixels in [0, 1]; otherwise the first channel in grey),
    ``maps`` (n, K, h, w): one row per example, its input first, then its first ``max_channels``
    feature maps, each on its own colour scale (what matters is where a channel responds, not
    how much).
    """
    maps = _as_array(maps, "maps", 4)
    img = np.asarray(getattr(images, "data", images), dtype=np.float64)
    if img.ndim == 4 and img.shape[1] == 3:
        img = img.transpose(0, 2, 3, 1)  # (n, H, W, 3): what imshow draws as colours
        low = img.min(axis=(1, 2, 3), keepdims=True)
        span = img.max(axis=(1, 2, 3), keepdims=True) - low
        img = (img - low) / np.where(span > 0, span, 1.0)  # (a flat image: its lowest colour)
    elif img.ndim == 4:
        img = img[:, 0]
    if img.ndim not in (3, 4) or len(img) != len(maps):
        raise ValueError(f"images must be (n, H, W) or (n, C, H, W) for the {len(maps)} examples of maps, "
                         f"got shape {np.shape(images)}")
    n, K = maps.shape[:2]
    shown = min(K, max_channels)
    fig = new_figure((1.3 * (shown + 1) + 0.4, 1.35 * n + 0.6))
    for i in range(n):
        ax = fig.add_subplot(n, shown + 1, i * (shown + 1) + 1)
        ax.imshow(img[i], cmap="Greys", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title("input", fontsize=8)
        for k in range(shown):
            ax = fig.add_subplot(n, shown + 1, i * (shown + 1) + k + 2)
            ax.imshow(maps[i, k], cmap=SEQUENTIAL, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"channel {k}", fontsize=8)
    fig.suptitle(title or f"feature maps ({shown} of {K} channels)")
    return finish(fig, path)
