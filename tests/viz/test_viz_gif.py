"""GIF animations keep every series' colour (one palette for all frames, series colours reserved)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from descend import landscapes as L
from descend import viz
from descend.viz.landscape import gif_palette

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def _last_frame_rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        im.seek(im.n_frames - 1)
        return np.asarray(im.convert("RGB")).astype(np.int16)


def _closest_pixels(frame: np.ndarray, rgb) -> tuple[tuple[int, int, int], int]:
    """The frame's colour nearest ``rgb`` and how many pixels have it."""
    colours, counts = np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)
    target = np.array([round(255 * v) for v in rgb])
    k = int(np.abs(colours - target).max(axis=1).argmin())
    return tuple(int(v) for v in colours[k]), int(counts[k])


def test_the_four_series_colours_stay_distinct_in_the_last_frame(tmp_path):
    land = L.himmelblau()
    runs = {opt: L.minimize(land, land.start, optimizer=opt, steps=60) for opt in OPTIMIZERS}
    viz.animate_paths(land, runs, path=tmp_path / "paths.gif", frames=8, resolution=60)
    frame = _last_frame_rgb(tmp_path / "paths.gif")
    found = []
    for i, opt in enumerate(OPTIMIZERS):
        series = to_rgb(viz.LINE_COLORS[i])
        nearest, count = _closest_pixels(frame, series)
        # the series colour itself is in the picture (a path, its head, its legend entry)
        assert max(abs(a - round(255 * b)) for a, b in zip(nearest, series, strict=True)) <= 4, opt
        assert count >= 30, (opt, count)
        found.append(nearest)
    assert len(set(found)) == len(OPTIMIZERS)


def test_gif_palette_reserves_the_colours_and_fits_the_rest():
    rng = np.random.default_rng(0)
    grey = rng.integers(100, 230, size=(40, 40, 1)).repeat(3, axis=2).astype(np.uint8)
    image = Image.fromarray(grey)
    palette = gif_palette(image, ["#0072B2", "#56B4E9", (0.0, 0.62, 0.45)])
    entries = np.array(palette.getpalette()[:768]).reshape(256, 3)
    assert entries[:5].tolist() == [[0, 114, 178], [86, 180, 233], [0, 158, 115], [255, 255, 255],
                                    [0, 0, 0]]
    # the picture itself is still reproduced closely by the remaining entries
    back = np.asarray(image.quantize(palette=palette, dither=Image.Dither.NONE).convert("RGB"))
    assert np.abs(back.astype(int) - grey.astype(int)).max() <= 8
    with pytest.raises(ValueError, match="at most 126"):
        gif_palette(image, [(i / 255, 0.5, 0.5) for i in range(127)])


@pytest.mark.parametrize("draw", ["plot_paths", "animate_paths"])
def test_the_legend_leaves_the_paths_ends_in_sight(draw, tmp_path):
    # himmelblau's four paths from the start all end at (3, 2), in the upper right, where the
    # legend used to sit over them
    land = L.himmelblau()
    runs = {opt: L.minimize(land, land.start, optimizer=opt, lr=0.01, steps=300) for opt in OPTIMIZERS}
    kw = {"frames": 4, "path": tmp_path / "p.gif"} if draw == "animate_paths" else {}
    fig = getattr(viz, draw)(land, runs, resolution=40, **kw)
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    ends = ax.transData.transform(np.array([r.x for r in runs.values()], dtype=np.float64))
    assert not any(box.contains(*end) for end in ends)
