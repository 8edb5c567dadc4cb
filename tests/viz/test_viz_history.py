"""plot_history: several named runs on shared axes (by step, epoch, examples), constant series."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from descend import viz


def _run(n_epochs: int, steps_per_epoch: int, lr: float = 0.1) -> dict:
    """A history as descend.train records it: a loss per step, an epoch record with its step count."""
    n = n_epochs * steps_per_epoch
    step_loss = list(np.exp(-np.arange(n) / n))
    epochs = [{"epoch": e + 1, "step": (e + 1) * steps_per_epoch,
               "train_loss": float(np.mean(step_loss[e * steps_per_epoch:(e + 1) * steps_per_epoch])),
               "lr": lr} for e in range(n_epochs)]
    return {"step_loss": step_loss, "epochs": epochs}


RUNS = {"batch": _run(4, 1), "stochastic": _run(4, 100), "mini-batch 32": _run(4, 4)}


def _lines(ax, label):
    return [ln for ln in ax.get_lines() if ln.get_label() == label]


def test_several_named_histories_share_axes_by_step_epoch_and_examples(tmp_path):
    fig = viz.plot_history(RUNS, x=["step", "epoch", "examples"], examples_per_epoch=100,
                           path=tmp_path / "runs.png")
    assert (tmp_path / "runs.png").stat().st_size > 2000
    loss_step, loss_epoch, loss_examples = fig.axes[:3]  # first row: the loss panel
    assert [ax.get_xlabel() for ax in fig.axes[:3]] == ["optimizer step (update)", "epoch", "examples seen"]
    # by step: the stochastic run takes 400 updates, the batch run 4
    assert loss_step.get_xscale() == "log"  # 4 updates beside 400
    np.testing.assert_array_equal(_lines(loss_step, "stochastic: loss per step")[0].get_xdata(),
                                  np.arange(1, 401))
    np.testing.assert_array_equal(_lines(loss_step, "batch: train loss")[0].get_xdata(), [1, 2, 3, 4])
    # by epoch and by examples, every run's epoch points line up
    for name in RUNS:
        np.testing.assert_allclose(_lines(loss_epoch, f"{name}: train loss")[0].get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(_lines(loss_examples, f"{name}: train loss")[0].get_xdata(),
                                   [100, 200, 300, 400])
    # a mini-batch step sits at its place within the epoch: step 6 of 4 per epoch is 1.5 epochs
    assert _lines(loss_epoch, "mini-batch 32: loss per step")[0].get_xdata()[5] == pytest.approx(1.5)
    # each run has one colour in every panel
    colours = {name: _lines(loss_epoch, f"{name}: train loss")[0].get_color() for name in RUNS}
    assert len(set(colours.values())) == 3
    assert _lines(loss_step, "batch: loss per step")[0].get_color() == colours["batch"]


def test_several_histories_accept_history_objects_and_default_axes():
    from descend.train import History

    runs = {}
    for name, run in RUNS.items():
        h = History()
        h.step_loss, h.epochs = run["step_loss"], run["epochs"]
        runs[name] = h
    fig = viz.plot_history(runs, panels=["loss"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["optimizer step (update)", "epoch"]
    fig = viz.plot_history(runs, panels=["loss"], examples_per_epoch=1000)
    assert [ax.get_xlabel() for ax in fig.axes][-1] == "examples seen"


def test_named_histories_errors_name_the_run_and_the_argument():
    with pytest.raises(ValueError, match=r"'empty'.*empty"):
        viz.plot_history({"fine": RUNS["batch"], "empty": {}})
    with pytest.raises(ValueError, match="examples_per_epoch"):
        viz.plot_history(RUNS, x="examples")
    with pytest.raises(ValueError, match="x must be one of"):
        viz.plot_history(RUNS, x="time")
    with pytest.raises(ValueError, match=r"x='step' needs the optimizer steps, which the history 'epochs only'"):
        viz.plot_history({"a": RUNS["batch"], "epochs only": {"train_loss": [1.0, 0.5]}}, x="step")
    with pytest.raises(TypeError, match="History"):
        viz.plot_history({"a": RUNS["batch"], "b": 3})


def test_a_constant_learning_rate_gets_a_sensible_range_and_a_note():
    fig = viz.plot_lr_schedule([1e-3] * 50, path=None)
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((0.0, 2e-3))
    assert any(t.get_text() == "constant: 0.001" for t in ax.texts)
    fig = viz.plot_lr_schedule([100.0] * 10, log=True)
    assert fig.axes[0].get_ylim() == pytest.approx((10.0, 1000.0))
    # a changing schedule keeps matplotlib's range and no note
    fig = viz.plot_lr_schedule([0.1] * 5 + [0.01] * 5)
    assert not fig.axes[0].texts and fig.axes[0].get_ylim()[0] > 0


def test_a_one_epoch_run_is_not_drawn_on_a_hair_thin_axis():
    one = {"train_loss": [0.3], "train_accuracy": [0.9], "lr": [1e-3]}
    fig = viz.plot_history(one)
    loss, acc, lr = fig.axes
    assert acc.get_xlim()[0] == 0 and acc.get_xlim()[1] >= 1  # not 0.96 to 1.04
    assert acc.get_ylim() == pytest.approx((0.0, 1.0))  # an accuracy's own range
    assert lr.get_ylim() == pytest.approx((1e-4, 1e-2))  # a log axis a decade either side
    assert [t.get_text() for t in lr.texts] == ["one value: 0.001"]
    # one lr per epoch over several epochs is constant, and its line is drawn
    fig = viz.plot_history({"train_loss": [0.3, 0.2], "lr": [1e-3, 1e-3]}, panels=["lr"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["constant: 0.001"]
    # two one-epoch accuracies (train, validation) are drawn on the accuracy's own range
    fig = viz.plot_history({"train_accuracy": [0.28], "val_accuracy": [0.33], "train_loss": [1.1],
                            "val_loss": [1.0]})
    loss, acc = fig.axes
    assert acc.get_ylim() == pytest.approx((0.0, 1.0)) and [t.get_text() for t in acc.texts] == ["one value each"]
    assert loss.get_ylim() == pytest.approx((0.0, 1.21))
