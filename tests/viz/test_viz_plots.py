"""Every plotting function returns a Figure, labels it, and writes a non-empty image."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from descend import landscapes as L
from descend import search as S
from descend import viz

PNG = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000
    with Image.open(path) as im:
        assert im.size[0] > 100 and im.size[1] > 100


def _check_labels(fig):
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert any(a.get_title() for a in axes)
    assert all(a.get_xlabel() and a.get_ylabel() for a in axes)


@pytest.fixture(scope="module")
def himmelblau_runs():
    land = L.himmelblau()
    return land, {opt: L.minimize(land, [0.5, -4.5], optimizer=opt, steps=40) for opt in ("sgd", "adam")}


@pytest.mark.parametrize("kind", ["contour", "surface"])
def test_plot_landscape(tmp_path, kind):
    fig = viz.plot_landscape(L.goldstein_price(), kind=kind, resolution=40, path=tmp_path / "l.png")
    assert isinstance(fig, Figure)
    _check_png(tmp_path / "l.png")
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert ax.get_legend() is not None  # the known minima are labelled


def test_plot_landscape_plain_function_needs_a_domain(tmp_path):
    def f(p):
        return np.sum(np.asarray(p) ** 2, axis=-1)

    with pytest.raises(ValueError, match="domain"):
        viz.plot_landscape(f)
    viz.plot_landscape(f, domain=((-1, 1), (-1, 1)), resolution=20, path=tmp_path / "f.png")
    _check_png(tmp_path / "f.png")
    with pytest.raises(ValueError, match="kind"):
        viz.plot_landscape(L.booth(), kind="pie")


def test_plot_paths(tmp_path, himmelblau_runs):
    land, runs = himmelblau_runs
    fig = viz.plot_paths(land, runs, resolution=40, path=tmp_path / "p.png")
    _check_png(tmp_path / "p.png")
    _check_labels(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for expected in ("sgd", "adam", "global minimum", "start", "end"):
        assert expected in labels
    # a single Result, a bare array and a list work too
    viz.plot_paths(land, runs["sgd"], resolution=20)
    viz.plot_paths(land, [runs["sgd"].path, runs["adam"]], labels=["a", "b"], resolution=20)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        viz.plot_paths(land, np.zeros((3, 3)))


def test_animate_paths_gif(tmp_path, himmelblau_runs):
    land, runs = himmelblau_runs
    fig = viz.animate_paths(land, runs, path=tmp_path / "a.gif", frames=6, resolution=30)
    assert isinstance(fig, Figure)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.format == "GIF" and im.n_frames == 6
    with pytest.raises(ValueError, match=".gif or .mp4"):
        viz.animate_paths(land, runs, path=tmp_path / "a.avi")


def test_animate_paths_mp4_needs_ffmpeg(tmp_path, himmelblau_runs):
    from matplotlib import animation

    land, runs = himmelblau_runs
    if animation.writers.is_available("ffmpeg"):
        viz.animate_paths(land, runs, path=tmp_path / "a.mp4", frames=3, resolution=20)
        assert (tmp_path / "a.mp4").stat().st_size > 0
    else:
        with pytest.raises(RuntimeError, match="ffmpeg"):
            viz.animate_paths(land, runs, path=tmp_path / "a.mp4", frames=3)


def test_plot_basins(tmp_path):
    bm = L.basins(L.six_hump_camel(), optimizer="sgd", lr=0.02, steps=100, resolution=25)
    fig = viz.plot_basins(bm, path=tmp_path / "b.png")
    _check_png(tmp_path / "b.png")
    _check_labels(fig)
    assert len([a for a in fig.axes if a.get_label() != "<colorbar>"]) == 2
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("global" in t for t in texts) and any("local" in t for t in texts)
    one = viz.plot_basins(bm, show_steps=False)
    assert len(one.axes) == 1
    with pytest.raises(TypeError, match="BasinMap"):
        viz.plot_basins({"labels": []})


def test_plot_convergence(tmp_path):
    land = L.sphere()
    runs = {"random": S.random_search(land, n_samples=50, seed=0),
            "gd": L.minimize(land, [3.0, 4.0], steps=20)}
    fig = viz.plot_convergence(runs, land, path=tmp_path / "c.png")
    _check_png(tmp_path / "c.png")
    _check_labels(fig)
    assert fig.axes[0].get_yscale() == "log"


class _History:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.step_loss = list(np.exp(-np.linspace(0, 4, 60)) + 0.01 * rng.random(60))
        self.epochs = [{"epoch": i + 1, "train_loss": float(np.exp(-i / 2)), "val_loss": float(np.exp(-i / 2) + 0.1),
                        "train_accuracy": 1 - float(np.exp(-i / 2)) / 2, "val_accuracy": None if i == 0 else 0.8,
                        "lr": 0.1 * 0.5 ** (i // 2), "grad_norm": 1.0 / (i + 1), "time": 0.1 * i,
                        "epoch_time": 0.1} for i in range(6)]


def test_plot_history_object_and_dict(tmp_path):
    fig = viz.plot_history(_History(), path=tmp_path / "h.png")
    _check_png(tmp_path / "h.png")
    # loss, accuracy, learning rate, gradient norm; the time columns are not drawn
    assert [a.get_ylabel() for a in fig.axes] == ["loss", "accuracy", "learning rate", "gradient norm"]
    assert fig.axes[2].get_yscale() == "log"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["loss per step", "train loss", "val loss"]
    fig = viz.plot_history({"train_loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.5]}, path=tmp_path / "d.png")
    _check_png(tmp_path / "d.png")
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "epoch"
    with pytest.raises(TypeError, match="History"):
        viz.plot_history(42)
    with pytest.raises(ValueError, match="empty"):
        viz.plot_history({})


def test_plot_history_panels(tmp_path):
    fig = viz.plot_history(_History(), panels=["metrics"], title="Accuracy", path=tmp_path / "a.png")
    _check_png(tmp_path / "a.png")
    assert [a.get_ylabel() for a in fig.axes] == ["accuracy"] and fig.axes[0].get_title() == "Accuracy"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["train accuracy", "val accuracy"]
    fig = viz.plot_history(_History(), panels=("lr", "loss"))
    assert [a.get_ylabel() for a in fig.axes] == ["learning rate", "loss"]
    assert fig.axes[0].get_title() == "Training history"
    with pytest.raises(ValueError, match="unknown panel"):
        viz.plot_history(_History(), panels=["accuracy"])
    with pytest.raises(ValueError, match="no data for panel"):
        viz.plot_history({"train_loss": [1.0, 0.5]}, panels=["metrics"])
    with pytest.raises(ValueError, match="non-empty"):
        viz.plot_history(_History(), panels=[])


def test_plot_lr_schedule(tmp_path):
    fig = viz.plot_lr_schedule({"step": [0.1] * 5 + [0.01] * 5, "inverse": lambda k: 0.1 / (1 + k)}, steps=10,
                               path=tmp_path / "s.png")
    _check_png(tmp_path / "s.png")
    _check_labels(fig)
    line = fig.axes[0].get_lines()[1]
    np.testing.assert_allclose(line.get_ydata(), 0.1 / (1 + np.arange(10)))
    with pytest.raises(ValueError, match="steps"):
        viz.plot_lr_schedule(lambda k: 0.1)


def test_plot_lr_schedule_steps_a_scheduler(tmp_path):
    from descend import optim, tensor

    p = tensor(np.zeros(2), requires_grad=True)
    sched = optim.lr_scheduler.StepLR(optim.SGD([p], lr=0.1), step_size=3, gamma=0.5)
    fig = viz.plot_lr_schedule(sched, steps=7)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.1] * 3 + [0.05] * 3 + [0.025])


def test_plot_lr_find(tmp_path):
    lrs = np.geomspace(1e-5, 1.0, 50)
    losses = 2.0 - np.tanh(np.log10(lrs) + 3) + np.where(lrs > 0.1, 30 * lrs, 0)
    fig = viz.plot_lr_find(lrs, losses, suggestion=1e-3, path=tmp_path / "f.png")
    _check_png(tmp_path / "f.png")
    _check_labels(fig)
    assert fig.axes[0].get_xscale() == "log"
    assert any("1e-03" in t.get_text() or "0.001" in t.get_text() for t in fig.axes[0].get_legend().get_texts())

    class Found:
        pass

    r = Found()
    r.lrs, r.losses, r.suggestion = lrs, losses, 1e-3
    viz.plot_lr_find(r, path=tmp_path / "g.png")
    _check_png(tmp_path / "g.png")
    with pytest.raises(ValueError, match="equal length"):
        viz.plot_lr_find(lrs, losses[:-1])
