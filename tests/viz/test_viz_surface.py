"""plot_decision_surface (what a model learned on 2-D data) and plot_curve_groups (many runs)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from descend import viz


def _xor(n=200):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def test_classification_regions_boundaries_and_mistakes(tmp_path):
    X, y = _xor()
    fig = viz.plot_decision_surface(lambda P: (P[:, 0] > 0).astype(int), X, y, class_names=["a", "b"],
                                    resolution=50, path=tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 2000
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    wrong = int(((X[:, 0] > 0).astype(int) != y).sum())
    assert labels == ["a", "b", f"misclassified ({wrong} of 200)", "decision boundary"]
    crosses = ax.collections[-1].get_offsets()
    assert len(crosses) == wrong  # the examples the model gets wrong, marked
    points = ax.collections[-2]
    assert np.allclose(points.get_facecolors()[y == 1][0], to_rgba(viz.LINE_COLORS[1]))


def test_regression_surface_shares_the_targets_colour_scale():
    X, _ = _xor()
    y = X[:, 0] + 2 * X[:, 1]
    fig = viz.plot_decision_surface(lambda P: P[:, 0] + 2 * P[:, 1], X, y, task="regression", resolution=30)
    filled, points = fig.axes[0].collections[0], fig.axes[0].collections[-1]
    assert points.norm.vmin == filled.norm.vmin and points.norm.vmax == filled.norm.vmax
    assert "Regression surface" in fig.axes[0].get_title()


def test_bad_input_is_named():
    X, y = _xor()
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        viz.plot_decision_surface(lambda P: P[:, 0], np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="one value per row"):
        viz.plot_decision_surface(lambda P: P[:, 0], X, y[:-1])
    with pytest.raises(ValueError, match="task"):
        viz.plot_decision_surface(lambda P: P[:, 0], X, y, task="ranking")
    with pytest.raises(ValueError, match="at least one row of finite numbers, got no rows"):
        viz.plot_decision_surface(lambda P: P[:, 0], np.zeros((0, 2)), np.zeros(0, int))
    with pytest.raises(ValueError, match="a non-finite value"):
        viz.plot_decision_surface(lambda P: P[:, 0], np.where(X > 0.9, np.nan, X), y)
    with pytest.raises(ValueError, match="class ids 0 .. k-1"):
        viz.plot_decision_surface(lambda P: P[:, 0], X, y - 1)
    with pytest.raises(ValueError, match="task='regression' for real targets"):
        viz.plot_decision_surface(lambda P: P[:, 0], X, y + 0.5)


def test_curve_groups_draw_the_mean_and_key_every_group():
    groups = {f"lr={lr}": [[1.0, 0.5 * s, 0.25 * s] for s in (0.8, 1.0, 1.2)] for lr in range(12)}
    groups["short"] = [[1.0, 0.4], [1.0, 0.6, 0.2]]  # repeats of different lengths (early stopping)
    fig = viz.plot_curve_groups(groups, highlight="lr=3")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 13 and "lr=3 (mean of 3) — best" in labels
    short = next(ln for ln in ax.get_lines() if ln.get_label().startswith("short"))
    np.testing.assert_allclose(short.get_ydata(), [1.0, 0.5, 0.2])  # the last mean is of one repeat
    colours = {ln.get_label(): (to_rgba(ln.get_color()), ln.get_linestyle()) for ln in ax.get_lines()}
    assert len(set(colours.values())) == 13  # colour and style tell every group apart
    with pytest.raises(ValueError, match="highlight"):
        viz.plot_curve_groups(groups, highlight="nope")
    with pytest.raises(ValueError, match="no curves"):
        viz.plot_curve_groups({"a": []})
