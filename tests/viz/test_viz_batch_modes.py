"""viz.plot_batch_modes: one line per mode on both axes."""

import numpy as np
import pytest

import descend
from descend import nn, train, viz


def test_one_line_per_mode_against_updates_and_examples(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(64, 1)).astype(np.float32)
    descend.manual_seed(0)
    result = train.batch_modes(nn.Linear(1, 1), (X, 2 * X), loss="mse", lr=0.1, epochs=2, seed=0)
    fig = viz.plot_batch_modes(result, path=tmp_path / "modes.png")
    by_updates, by_examples = fig.axes[:2]
    assert by_updates.get_xscale() == "log"
    for ax in (by_updates, by_examples):
        assert len(ax.get_lines()) == 3
    colours = {tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color()
               for line in by_examples.get_lines()}
    assert len(colours) == 3
    sgd = by_examples.get_lines()[1]
    np.testing.assert_array_equal(sgd.get_xdata(), result.runs["stochastic"].examples)
    assert (tmp_path / "modes.png").stat().st_size > 0


def test_refuses_what_is_not_a_batch_modes_result():
    with pytest.raises(TypeError, match="batch_modes"):
        viz.plot_batch_modes({"a": 1})
