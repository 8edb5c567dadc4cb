"""viz.plot_filters and viz.plot_feature_maps: one image per kernel or map, on shared or own scales."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from descend import nn, viz


def _images(ax):
    return ax.get_images()


def test_plot_filters_draws_every_kernel_on_one_symmetric_scale(tmp_path):
    conv = nn.Conv2d(2, 5, 3)
    fig = viz.plot_filters(conv.weight, path=tmp_path / "f.png")
    axes = [ax for ax in fig.axes if _images(ax)]
    assert len(axes) == 5 * 2  # one image per (output, input) channel pair
    limit = float(np.abs(conv.weight.data).max())
    for ax in axes:
        lo, hi = _images(ax)[0].get_clim()
        assert lo == pytest.approx(-limit) and hi == pytest.approx(limit)
    shown = _images(axes[0])[0].get_array()
    np.testing.assert_allclose(shown, conv.weight.data[0, 0])
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


def test_plot_feature_maps_rows_are_examples_and_columns_the_channels():
    images = np.random.default_rng(0).random((3, 1, 6, 6))
    maps = np.random.default_rng(1).random((3, 10, 4, 4))
    fig = viz.plot_feature_maps(images, maps, max_channels=4)
    assert len([ax for ax in fig.axes if _images(ax)]) == 3 * (1 + 4)
    np.testing.assert_allclose(_images(fig.axes[1])[0].get_array(), maps[0, 0])


def test_three_channel_images_are_drawn_in_colour_and_others_by_their_first_channel():
    rng = np.random.default_rng(0)
    images, maps = rng.normal(size=(2, 3, 5, 6)), rng.random((2, 4, 3, 3))
    images[1] = 0.5  # one colour all over: drawn at its lowest colour, not divided by zero
    fig = viz.plot_feature_maps(images, maps, max_channels=2)
    first, flat = _images(fig.axes[0])[0].get_array(), _images(fig.axes[3])[0].get_array()
    assert first.shape == (5, 6, 3)  # (H, W, RGB)
    np.testing.assert_allclose(first, (images[0].transpose(1, 2, 0) - images[0].min()) / np.ptp(images[0]))
    assert np.all(flat == 0)
    two = viz.plot_feature_maps(rng.normal(size=(2, 2, 5, 6)), maps, max_channels=2)
    assert _images(two.axes[0])[0].get_array().shape == (5, 6)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="weight must be 4-D"):
        viz.plot_filters(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="images must be"):
        viz.plot_feature_maps(np.zeros((2, 6, 6)), np.zeros((3, 4, 4, 4)))
