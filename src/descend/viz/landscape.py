"""Landscapes, the paths optimizers walk on them, and their basins of attraction."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator

from ..landscapes.basins import BasinMap
from ..landscapes.functions import Landscape, as_landscape
from ..landscapes.result import Result
from ._common import figure_and_axes, finish, new_figure
from .palette import BACKGROUND, NONE_COLOR, SEQUENTIAL, color

__all__ = ["plot_landscape", "plot_paths", "animate_paths", "plot_basins", "plot_convergence"]

_GLOBAL_MARK = {"marker": "*", "s": 220, "c": "white", "edgecolors": "black", "linewidths": 1.2, "zorder": 6}
_LOCAL_MARK = {"marker": "^", "s": 90, "c": "white", "edgecolors": "black", "linewidths": 1.2, "zorder": 6}


# -- evaluating a function on a grid ------------------------------------------------------


def _domain_of(fn, domain):
    land = fn if isinstance(fn, Landscape) else None
    if domain is None:
        if land is None:
            raise ValueError("domain must be given ((xmin, xmax), (ymin, ymax)) for a plain function")
        domain = land.domain
    try:
        (x0, x1), (y0, y1) = domain
        dom = ((float(x0), float(x1)), (float(y0), float(y1)))
    except (TypeError, ValueError):
        raise ValueError(f"domain must be ((xmin, xmax), (ymin, ymax)), got {domain!r}") from None
    if not (dom[0][0] < dom[0][1] and dom[1][0] < dom[1][1]):
        raise ValueError(f"domain: each range needs min < max, got {domain!r}")
    return dom


def _evaluate_grid(fn, domain, resolution):
    (x0, x1), (y0, y1) = domain
    n = int(resolution)
    if n < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution!r}")
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx, gy], axis=-1)
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(fn, Landscape):
            if fn.dim != 2:
                raise ValueError(f"only 2-D landscapes can be drawn; {fn.name} has dim={fn.dim}")
            z = np.asarray(fn(pts), dtype=np.float64)
        else:
            try:  # a vectorised function of (..., 2) arrays
                z = np.asarray(fn(pts), dtype=np.float64)
            except Exception:  # noqa: BLE001 - fall back to one point at a time
                z = None
            if z is None or z.shape != gx.shape:
                z = np.array([[float(fn(p)) for p in row] for row in pts])
    return xs, ys, gx, gy, z


def _reference_value(fn, z):
    """f* for the colour scale: the global minimum's value, or the grid's minimum."""
    finite = z[np.isfinite(z)]
    low = float(finite.min()) if finite.size else 0.0
    if isinstance(fn, Landscape) and fn.minima:
        return min(fn.global_minimum.value, low)
    return low


def _wants_log(z, ref, scale):
    if scale not in ("auto", "log", "linear"):
        raise ValueError(f"scale must be 'auto', 'log' or 'linear', got {scale!r}")
    if scale != "auto":
        return scale == "log"
    finite = z[np.isfinite(z)] - ref
    if finite.size == 0 or finite.max() <= 0:
        return False
    # Log colouring when the linear scale would paint most of the picture in the lowest
    # few colours (steep walls around a flat floor: Rosenbrock, Beale, Goldstein-Price).
    return float(np.median(finite)) < 0.08 * float(finite.max())


def _field(fn, z, scale, levels):
    """What to contour and how: (values, levels, norm, label, is_log)."""
    ref = _reference_value(fn, z)
    if _wants_log(z, ref, scale):
        shifted = z - ref
        top = float(np.nanmax(np.where(np.isfinite(shifted), shifted, np.nan)))
        floor = max(top * 1e-7, np.finfo(np.float64).tiny)
        shifted = np.where(np.isfinite(shifted), np.maximum(shifted, floor), top)
        low = max(float(np.quantile(shifted, 0.002)), floor)
        lv = np.geomspace(low, top, int(levels))
        return shifted, lv, LogNorm(lv[0], lv[-1]), "f(x) − f* (log scale)", True
    zz = np.where(np.isfinite(z), z, np.nanmax(np.where(np.isfinite(z), z, np.nan)))
    lv = np.linspace(float(zz.min()), float(zz.max()), int(levels))
    if lv[0] == lv[-1]:
        lv = np.linspace(lv[0] - 1, lv[0] + 1, int(levels))
    return zz, lv, None, "f(x)", False


def _free_corner(dom, paths, fn) -> str:
    """The corner of the plot whose legend would hide the fewest path points and minima.

    A legend fixed in the upper right hid where himmelblau's four paths end (3, 2); matplotlib's
    "best" cannot help an animation, whose lines are empty when the legend is placed. Each
    corner is scored by the points inside a box of 40% x 35% of the domain there."""
    (x0, x1), (y0, y1) = dom
    pts = [p[:, :2] for _, p in paths if len(p)]
    if isinstance(fn, Landscape) and fn.dim == 2:
        pts.append(np.array([m.x for m in fn.minima], dtype=np.float64).reshape(-1, 2))
    pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    u, v = (pts[:, 0] - x0) / (x1 - x0), (pts[:, 1] - y0) / (y1 - y0)
    covered = {"upper right": (u > 0.6) & (v > 0.65), "upper left": (u < 0.4) & (v > 0.65),
               "lower left": (u < 0.4) & (v < 0.35), "lower right": (u > 0.6) & (v < 0.35)}
    return min(covered, key=lambda corner: int(np.count_nonzero(covered[corner])))  # ties: upper right


def _mark_minima(ax, fn, label=True, z_of=None):
    if not isinstance(fn, Landscape) or fn.dim != 2:
        return
    g = [m for m in fn.minima if m.is_global]
    loc = [m for m in fn.minima if not m.is_global]
    for group, style, name in ((g, _GLOBAL_MARK, "global minimum"), (loc, _LOCAL_MARK, "local minimum")):
        if not group:
            continue
        pts = np.array([m.x for m in group])
        if z_of is None:
            ax.scatter(pts[:, 0], pts[:, 1], label=name if label else None, **style)
        else:
            ax.scatter(pts[:, 0], pts[:, 1], z_of(pts), label=name if label else None, **style)


def _backdrop_cmap():
    """The light half of the grey ramp: the landscape stays readable under coloured paths."""
    from matplotlib import colormaps

    greys = colormaps[BACKGROUND]
    return ListedColormap(greys(np.linspace(0.0, 0.5, 256)))


def _backdrop(ax, fn, domain, resolution, levels, scale, filled=True, cmap=None, alpha=0.8):
    xs, ys, gx, gy, z = _evaluate_grid(fn, domain, resolution)
    vals, lv, norm, label, is_log = _field(fn, z, scale, levels)
    cs = None
    if filled:
        cs = ax.contourf(gx, gy, vals, levels=lv, norm=norm, cmap=cmap or _backdrop_cmap(), alpha=alpha,
                         extend="both")
    ax.contour(gx, gy, vals, levels=lv, norm=norm, colors="0.35", linewidths=0.4, alpha=0.7)
    (x0, x1), (y0, y1) = domain
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return cs, label


# -- public functions -------------------------------------------------------------------


def plot_landscape(fn, kind: str = "contour", domain=None, resolution: int = 200, levels: int = 30,
                   scale: str = "auto", show_minima: bool = True, ax=None, title=None, path=None,
                   cmap: str = SEQUENTIAL):
    """Draw a 2-D landscape as filled contours (``kind="contour"``) or a 3-D surface.

    Parameters
    ----------
    fn : Landscape, landscape factory or callable
        A plain callable takes points of shape (..., 2) (or one point (2,)) and needs
        ``domain``.
    domain : ((xmin, xmax), (ymin, ymax)), optional
    resolution : int
        Grid points per axis.
    levels : int
        Contour levels.
    scale : "auto", "log" or "linear"
        "log" colours by f(x) - f* on a log scale (f* the global minimum), which shows the
        floor of steep valleys; "auto" picks it when a linear scale would not.
    show_minima : bool
        Mark the known minima (star: global, triangle: local).
    ax : matplotlib Axes, optional
        Draw into it (a 3-D Axes for a surface); the Figure is ``ax.figure``.
    path : str or Path, optional
        Save the figure there.
    """
    fn = as_landscape(fn)
    dom = _domain_of(fn, domain)
    name = fn.title if isinstance(fn, Landscape) else getattr(fn, "__name__", "f")
    if kind == "contour":
        fig, ax = figure_and_axes(ax, figsize=(6.4, 5.2))
        xs, ys, gx, gy, z = _evaluate_grid(fn, dom, resolution)
        vals, lv, norm, label, _ = _field(fn, z, scale, levels)
        cs = ax.contourf(gx, gy, vals, levels=lv, norm=norm, cmap=cmap, extend="both")
        ax.contour(gx, gy, vals, levels=lv, norm=norm, colors="white", linewidths=0.3, alpha=0.5)
        if norm is not None:
            fig.colorbar(cs, ax=ax, label=label, ticks=LogLocator(), format=LogFormatterSciNotation())
        else:  # round ticks, not the contour levels' odd values
            ticks = MaxNLocator(8).tick_values(lv[0], lv[-1])
            fig.colorbar(cs, ax=ax, label=label, ticks=ticks[(ticks >= lv[0]) & (ticks <= lv[-1])])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_aspect("auto")
    elif kind == "surface":
        fig, ax = figure_and_axes(ax, figsize=(7.0, 5.6), projection="3d")
        xs, ys, gx, gy, z = _evaluate_grid(fn, dom, min(int(resolution), 120))
        vals, lv, norm, label, is_log = _field(fn, z, scale, levels)
        shown = np.log10(vals) if is_log else vals
        surf = ax.plot_surface(gx, gy, shown, cmap=cmap, linewidth=0, antialiased=True, alpha=0.9)
        fig.colorbar(surf, ax=ax, shrink=0.6, label="log₁₀(f(x) − f*)" if is_log else "f(x)")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("log₁₀(f − f*)" if is_log else "f(x)")
    else:
        raise ValueError(f"kind must be 'contour' or 'surface', got {kind!r}")
    if show_minima and isinstance(fn, Landscape):
        if kind == "surface":
            ref = _reference_value(fn, z)
            floor = np.nanmax(vals) * 1e-7 if is_log else 0.0

            def z_of(pts):
                v = np.asarray(fn(pts), dtype=np.float64)
                # on a log axis the minimum itself is at -inf: draw it on the surface's floor
                return np.maximum(np.log10(np.maximum(v - ref, floor)), np.nanmin(shown)) if is_log else v

            _mark_minima(ax, fn, z_of=z_of)
        else:
            _mark_minima(ax, fn)
        if fn.minima:
            ax.legend(loc="upper right", fontsize=8, framealpha=0.85)
    ax.set_title(title or (f"{name}" + (f"  —  {fn.formula}" if isinstance(fn, Landscape) and len(fn.formula) < 40 else "")))
    return finish(fig, path)


def _is_result(item) -> bool:
    return isinstance(item, Result) or (isinstance(item, Mapping) and "path" in item)


def _label_of(item, default):
    return item.get("method") or item.get("optimizer") or default


def _as_paths(results, labels=None):
    """[(label, points (n, 2))] from a Result, an array, a mapping or a sequence of them."""
    def one(item, default):
        if _is_result(item):
            pts = item["path"]
            lab = _label_of(item, default)
        else:
            pts, lab = item, default
        pts = np.asarray(pts, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"a path must have shape (n, 2), got {pts.shape}")
        return str(lab), pts

    if isinstance(results, Mapping) and not _is_result(results):
        out = [(str(k), one(v, k)[1]) for k, v in results.items()]
    elif _is_result(results) or (isinstance(results, np.ndarray) and results.ndim == 2):
        out = [one(results, "path")]
    else:
        out = [one(r, f"path {i + 1}") for i, r in enumerate(results)]
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(out):
            raise ValueError(f"labels has {len(labels)} entries for {len(out)} paths")
        out = [(str(lab), p) for lab, (_, p) in zip(labels, out, strict=True)]
    if not out:
        raise ValueError("results: no paths to draw")
    return out


def _legend_handles(ax):
    handles, _ = ax.get_legend_handles_labels()
    extra = [
        Line2D([], [], marker="o", ls="", mfc="white", mec="black", ms=7, label="start"),
        Line2D([], [], marker="X", ls="", mfc="white", mec="black", ms=8, label="end"),
    ]
    return handles + extra


def plot_paths(fn, results, domain=None, labels=None, resolution: int = 200, levels: int = 30,
               scale: str = "auto", show_minima: bool = True, ax=None, title=None, path=None):
    """Draw optimizers' paths over the landscape's contours.

    Parameters
    ----------
    fn : Landscape, landscape factory or callable (2-D)
    results : Result, array (n, 2), mapping label -> Result/array, or a sequence of them
        The walks: each Result's ``path`` (from ``minimize`` or a search method).
    labels : sequence of str, optional
        Legend labels (default: the mapping's keys or each Result's optimizer/method).
    domain, resolution, levels, scale
        As in :func:`plot_landscape`; the view is the landscape's domain (paths that leave
        it, diverging, run off the edge).
    show_minima : bool
        Mark the known minima.

    Each path is a line in its own colour, the start a circle, the end a cross.
    """
    fn = as_landscape(fn)
    dom = _domain_of(fn, domain)
    paths = _as_paths(results, labels)
    fig, ax = figure_and_axes(ax, figsize=(6.8, 5.6))
    _backdrop(ax, fn, dom, resolution, levels, scale)
    for i, (lab, pts) in enumerate(paths):
        c = color(i)
        marker = "." if len(pts) <= 80 else None
        ax.plot(pts[:, 0], pts[:, 1], color=c, lw=1.8, marker=marker, ms=4, label=lab, zorder=4)
        ax.plot(*pts[0], marker="o", ms=8, mfc=c, mec="white", mew=1.2, zorder=5)
        ax.plot(*pts[-1], marker="X", ms=10, mfc=c, mec="white", mew=1.2, zorder=5)
    if show_minima:
        _mark_minima(ax, fn)
    ax.legend(handles=_legend_handles(ax), loc=_free_corner(dom, paths, fn), fontsize=8, framealpha=0.85)
    name = fn.title if isinstance(fn, Landscape) else getattr(fn, "__name__", "f")
    ax.set_title(title or f"{name}: optimizer paths")
    return finish(fig, path)


def animate_paths(fn, results, path=None, frames: int | None = None, fps: int = 15,
                  domain=None, labels=None, resolution: int = 150, levels: int = 30,
                  scale: str = "auto", dpi: int = 80, title=None):
    """Animate optimizers walking their paths; save as GIF (Pillow) or MP4 (ffmpeg).

    Parameters
    ----------
    fn, results, domain, labels, resolution, levels, scale
        As in :func:`plot_paths`.
    path : str or Path, optional
        ``.gif`` is written with Pillow (always available with the ``plot`` extra); ``.mp4``
        needs ffmpeg on the PATH (a clear error otherwise). Without a path nothing is written.
    frames : int, optional
        Frames in the animation (default: one per step, at most 120); step indices are spread
        evenly over the longest path, and shorter paths stay at their end.
    fps : int
        Frames per second.

    Returns the Figure showing the last frame.
    """
    from matplotlib import animation

    fn = as_landscape(fn)
    dom = _domain_of(fn, domain)
    paths = _as_paths(results, labels)
    longest = max(len(p) for _, p in paths)
    n_frames = min(longest, 120) if frames is None else int(frames)
    if n_frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames!r}")
    writer = None
    if path is not None:
        ext = Path(os.fspath(path)).suffix.lower()
        if ext == ".mp4":
            if not animation.writers.is_available("ffmpeg"):
                raise RuntimeError(
                    f"animate_paths: writing {path} needs ffmpeg, which is not installed; "
                    "save as .gif instead (Pillow)"
                )
            writer = animation.FFMpegWriter(fps=fps)
        elif ext != ".gif":
            raise ValueError(f"animate_paths: path must end in .gif or .mp4, got {os.fspath(path)!r}")

    fig = new_figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    _backdrop(ax, fn, dom, resolution, levels, scale)
    _mark_minima(ax, fn)
    lines, heads = [], []
    for i, (lab, pts) in enumerate(paths):
        c = color(i)
        ax.plot(*pts[0], marker="o", ms=8, mfc=c, mec="white", mew=1.2, zorder=5)
        (line,) = ax.plot([], [], color=c, lw=1.8, label=lab, zorder=4)
        (head,) = ax.plot([], [], marker="X", ms=10, mfc=c, mec="white", mew=1.2, ls="", zorder=5)
        lines.append(line)
        heads.append(head)
    ax.legend(handles=_legend_handles(ax), loc=_free_corner(dom, paths, fn), fontsize=8, framealpha=0.85)
    name = fn.title if isinstance(fn, Landscape) else getattr(fn, "__name__", "f")
    base = title or f"{name}: optimizer paths"
    steps_shown = np.unique(np.round(np.linspace(0, longest - 1, n_frames)).astype(int))

    def draw(step):
        for (_, pts), line, head in zip(paths, lines, heads, strict=True):
            k = min(step, len(pts) - 1)
            line.set_data(pts[: k + 1, 0], pts[: k + 1, 1])
            head.set_data([pts[k, 0]], [pts[k, 1]])
        ax.set_title(f"{base} — step {step}")

    if path is not None:
        p = Path(os.fspath(path))
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.set_dpi(dpi)
        if writer is None:
            _write_gif(fig, ax, lines + heads, draw, steps_shown, p, fps,
                       [color(i) for i in range(len(paths))])
        else:
            with writer.saving(fig, str(p), dpi):
                for step in steps_shown:
                    draw(int(step))
                    writer.grab_frame()
    draw(int(steps_shown[-1]))
    return fig


def _write_gif(fig, ax, moving, draw, steps_shown, path, fps, series_colors):
    """Render the frames by blitting (the contour backdrop is drawn once) and save with Pillow."""
    from PIL import Image

    canvas = fig.canvas
    draw(int(steps_shown[0]))
    canvas.draw()  # settles the layout, which must then stay fixed from frame to frame
    fig.set_layout_engine("none")
    title = ax.title
    for artist in [*moving, title]:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    try:
        for step in steps_shown:
            draw(int(step))
            canvas.restore_region(background)
            for artist in [*moving, title]:
                ax.draw_artist(artist)
            rgba = np.asarray(canvas.buffer_rgba())
            images.append(Image.fromarray(rgba[..., :3].copy()))
    finally:
        for artist in [*moving, title]:
            artist.set_animated(False)
    palette = gif_palette(images[-1], series_colors)
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=max(int(1000 / fps), 20),
                   loop=0, optimize=False)


def gif_palette(image, keep):
    """A 256-colour Pillow palette image for GIF frames: the colours in ``keep`` exactly, the rest
    of the entries fitted to ``image`` by Pillow's median cut.

    One palette serves the whole animation (fitted to the last frame, where every path is drawn),
    so colours do not flicker between frames. The series' colours are reserved entries because a
    palette fitted to the picture alone spends its entries on the large grey backdrop and merges
    thin lines of similar hue (sgd and nesterov became one teal, momentum and adam one orange).

    ``keep``: colours matplotlib understands (``"#0072B2"``, names, RGB tuples).
    """
    from matplotlib.colors import to_rgb
    from PIL import Image

    reserved = []
    for c in [*keep, "white", "black"]:
        rgb = tuple(int(round(255 * v)) for v in to_rgb(c))
        if rgb not in reserved:
            reserved.append(rgb)
    if len(reserved) > 128:
        raise ValueError(f"a GIF palette can keep at most 126 series colours, got {len(reserved) - 2}")
    fitted = image.convert("RGB").quantize(colors=256 - len(reserved), method=Image.Quantize.MEDIANCUT)
    rest = np.array(fitted.getpalette()[: 3 * (256 - len(reserved))]).reshape(-1, 3)
    # Fitted entries a shade away from a reserved colour would catch some of its pixels (Pillow
    # matches colours at reduced precision); leave those pixels to the reserved entry.
    gap = np.abs(rest[:, None, :] - np.array(reserved)[None, :, :]).max(axis=2).min(axis=1)
    entries = [v for rgb in reserved for v in rgb] + rest[gap > 8].ravel().tolist()
    entries += [0] * (768 - len(entries))  # unused entries (a small picture has few colours)
    palette = Image.new("P", (1, 1))
    palette.putpalette(entries)
    return palette


def plot_basins(basin_map: BasinMap, show_steps: bool = True, ax=None, title=None, path=None,
                contours: bool = True):
    """Colour each start by the minimum it converged to; optionally map steps to converge.

    Parameters
    ----------
    basin_map : BasinMap
        From :func:`descend.landscapes.basins`.
    show_steps : bool
        Add a second panel with the steps each start took to converge (ignored with ``ax``).
    ax : matplotlib Axes, optional
        Draw the label map into it.
    contours : bool
        Overlay the landscape's contour lines.

    Grey: no known minimum reached (still travelling, or stuck somewhere not listed); black:
    diverged. The legend gives each minimum's share of starts.
    """
    if not isinstance(basin_map, BasinMap):
        raise TypeError(f"plot_basins: expected a BasinMap, got {type(basin_map).__name__}")
    bm = basin_map
    land = bm.landscape
    if ax is not None:
        fig = ax.figure
        axes = [ax]
    elif show_steps:
        fig = new_figure(figsize=(11.5, 4.8))
        axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)]
    else:
        fig = new_figure(figsize=(6.4, 5.2))
        axes = [fig.add_subplot()]
    m = len(bm.minima)
    codes = np.where(bm.diverged, m + 1, np.where(bm.labels < 0, m, bm.labels))
    colours = [color(i) for i in range(m)] + [NONE_COLOR, "#000000"]
    extent = (bm.xs[0], bm.xs[-1], bm.ys[0], bm.ys[-1])
    a0 = axes[0]
    a0.imshow(codes, origin="lower", extent=extent, aspect="auto", cmap=ListedColormap(colours),
              vmin=-0.5, vmax=m + 1.5, interpolation="nearest")
    if contours:
        _backdrop(a0, land, ((extent[0], extent[1]), (extent[2], extent[3])), 120, 20, "auto",
                  filled=False)
    _mark_minima(a0, land, label=False)
    shares = bm.shares
    handles = []
    for i, mn in enumerate(bm.minima):
        coords = ", ".join(f"{c:.3g}" for c in mn.x)
        kind = "global" if mn.is_global else "local"
        handles.append(Patch(color=colours[i], label=f"({coords}) {kind}, f={mn.value:.4g}: {shares[i]:.0%}"))
    stuck = float((bm.labels < 0).mean() - bm.diverged.mean())
    if stuck > 0:
        handles.append(Patch(color=NONE_COLOR, label=f"no known minimum: {stuck:.0%}"))
    if bm.diverged.any():
        handles.append(Patch(color="#000000", label=f"diverged: {bm.diverged.mean():.0%}"))
    a0.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=7,
              frameon=False)
    a0.set_xlabel("start x")
    a0.set_ylabel("start y")
    lr = bm.hyperparameters.get("lr")
    setting = f"{bm.optimizer}" + (f", lr={lr:g}" if lr is not None else "") + f", {bm.n_steps} steps"
    a0.set_title(title or f"{land.title}: basins of attraction ({setting})\n"
                          f"global minimum reached from {bm.global_share:.0%} of starts", fontsize=10)
    if len(axes) > 1:
        a1 = axes[1]
        steps = np.ma.masked_where(bm.labels < 0, bm.steps)
        im = a1.imshow(steps, origin="lower", extent=extent, aspect="auto", cmap=SEQUENTIAL,
                       interpolation="nearest")
        fig.colorbar(im, ax=a1, label=f"steps to stay within {bm.tol:g} of the minimum")
        _mark_minima(a1, land, label=False)
        a1.set_xlabel("start x")
        a1.set_ylabel("start y")
        a1.set_title("steps to converge (blank: did not)", fontsize=10)
    return finish(fig, path)


def plot_convergence(results, fn=None, log_x: bool = False, ax=None, title=None, path=None):
    """Best value found against function evaluations spent, one line per method.

    Parameters
    ----------
    results : mapping label -> Result, or a sequence of Results
        From :func:`~descend.landscapes.minimize` or any :mod:`descend.search` method;
        :meth:`Result.best_trace` gives each line (restarts chained in the order they ran).
    fn : Landscape, optional
        With a known global minimum f*, the y axis is f - f* on a log scale (the gap to the
        optimum); otherwise the best value itself.
    log_x : bool
        Log scale for the evaluations axis.
    """
    fn = as_landscape(fn) if fn is not None else None
    if isinstance(results, Mapping) and not _is_result(results):
        items = list(results.items())
    elif _is_result(results):
        items = [(_label_of(results, "run"), results)]
    else:
        items = [(_label_of(r, f"run {i + 1}"), r) for i, r in enumerate(results)]
    if not items:
        raise ValueError("plot_convergence: no results to draw")
    f_star = fn.global_minimum.value if isinstance(fn, Landscape) and fn.minima else None
    fig, ax = figure_and_axes(ax, figsize=(6.4, 4.2))
    positive = True
    for i, (label, res) in enumerate(items):
        if not hasattr(res, "best_trace"):
            raise TypeError(f"plot_convergence: {label!r} is not a Result")
        evals, best, _ = res.best_trace()
        y = best - f_star if f_star is not None else best
        if f_star is not None:
            # A value at the optimum to machine precision has no place on a log axis.
            y = np.maximum(y, 1e-16 * max(1.0, abs(f_star)))
        positive &= bool(np.all(y[np.isfinite(y)] > 0))
        ax.step(evals, y, where="post", color=color(i), lw=2, label=f"{label} ({int(res['nfev'])} evals)")
    if f_star is not None and positive:
        ax.set_yscale("log")
        ax.set_ylabel("best f(x) − f* (log scale)")
    else:
        ax.set_ylabel("best f(x) found")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("function evaluations")
    name = fn.title if isinstance(fn, Landscape) else "f"
    ax.set_title(title or f"{name}: best value against evaluations spent")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)
