"""train.batch_modes: batch, stochastic and mini-batch descent on equal terms."""

import numpy as np
import pytest

import descend
from descend import nn, train
from descend.train.batch_modes import DEFAULT_MODES

from ._helpers import params_of


def _line(n=200, seed=0):
    """The first article's problem: y = 2x, plus a little noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
    y = (2 * X + 0.05 * rng.normal(size=(n, 1))).astype(np.float32)
    return X, y


def _model(seed=0):
    descend.manual_seed(seed)
    return nn.Linear(1, 1)


@pytest.fixture(scope="module")
def line_result():
    return train.batch_modes(_model(), _line(), loss="mse", lr=0.05, epochs=4, seed=0)


def test_same_budget_different_numbers_of_updates(line_result):
    r = line_result
    assert list(r.runs) == list(DEFAULT_MODES) and r.n_examples == 200
    batch, sgd, mini = (r.runs[k] for k in ("batch", "stochastic", "mini-batch 32"))
    assert (batch.batch_size, sgd.batch_size, mini.batch_size) == (200, 1, 32)
    assert batch.history.steps == 4 and sgd.history.steps == 800 and mini.history.steps == 4 * 7
    for run in r.runs.values():  # every mode sees the same examples: 4 epochs of 200
        assert run.examples[0] == 0 and run.examples[-1] == 800 and run.updates[-1] == run.history.steps
        assert run.step_examples[-1] == 800 and len(run.step_examples) == run.history.steps
        assert len(run.full_loss) == len(run.examples) == len(run.updates)
    assert mini.step_examples[6] == 200 and mini.step_examples[5] == 192  # the epoch's last batch is 8


def test_the_articles_claims_are_visible(line_result):
    batch, sgd, mini = (line_result.runs[k] for k in ("batch", "stochastic", "mini-batch 32"))
    # all start from the same parameters, so from the same loss
    assert batch.full_loss[0] == sgd.full_loss[0] == mini.full_loss[0]
    # batch descent is smooth (its loss never rises, its updates see the exact loss) but slow per example
    assert batch.noise == 0 and batch.rises == 0 and np.all(np.diff(batch.full_loss) < 0)
    # stochastic descent goes furthest per example seen, but noisily
    assert sgd.final_loss < mini.final_loss < batch.final_loss
    assert sgd.noise > mini.noise > batch.noise
    assert sgd.rises > 0


def test_the_full_loss_is_the_loss_on_the_whole_set(line_result):
    X, y = _line()
    run = line_result.runs["batch"]
    # batch descent's update k sees the whole set: its step loss is the full loss before it
    np.testing.assert_allclose(run.history.step_loss, run.full_loss[:-1], rtol=1e-6)


def test_model_is_left_alone_and_one_seed_reproduces_everything():
    model = _model(3)
    before = params_of(model)
    X, y = _line(120, seed=1)
    a = train.batch_modes(model, (X, y), loss="mse", lr=0.1, epochs=2, seed=4, modes={"sgd": 1, "mb": 16})
    b = train.batch_modes(model, (X, y), loss="mse", lr=0.1, epochs=2, seed=4, modes={"sgd": 1, "mb": 16})
    after = params_of(model)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    for name in ("sgd", "mb"):
        assert a.runs[name].history.step_loss == b.runs[name].history.step_loss
        np.testing.assert_array_equal(a.runs[name].full_loss, b.runs[name].full_loss)
    c = train.batch_modes(model, (X, y), loss="mse", lr=0.1, epochs=2, seed=5, modes={"sgd": 1})
    assert c.runs["sgd"].history.step_loss != a.runs["sgd"].history.step_loss  # another order


def test_table_and_histories(line_result):
    rows = line_result.table()
    assert [row[0] for row in rows] == list(DEFAULT_MODES)
    assert len(rows[0]) == len(line_result.TABLE_HEAD)
    assert set(line_result.histories) == set(DEFAULT_MODES)
    assert "stochastic" in repr(line_result.runs["stochastic"])


def test_classification_with_cross_entropy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    descend.manual_seed(0)
    r = train.batch_modes(nn.MLP([2, 4, 2]), (X, y), loss="cross_entropy", lr=0.1, epochs=2,
                          modes={"batch": None, "mini-batch 8": 8})
    assert r.runs["mini-batch 8"].final_loss < r.runs["batch"].full_loss[0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0), "lr must be a positive number"),
    (dict(lr=float("nan")), "lr must be a positive number"),
    (dict(lr=0.1, epochs=0), r"batch_modes: epochs \(the budget\) must be a positive integer, got 0"),
    (dict(lr=0.1, epochs=None), r"batch_modes: epochs \(the budget\) must be a positive integer, got None"),
    (dict(lr=0.1, probes_per_epoch=0), "batch_modes: probes_per_epoch must be a positive integer, got 0"),
    (dict(lr=0.1, modes={}), "at least one"),
    (dict(lr=0.1, modes={"x": 0}), r"modes\['x'\]"),
    (dict(lr=0.1, optimizer="nope"), "unknown optimizer"),
    (dict(lr=0.1, batch_size=4), "set by batch_modes"),
    (dict(lr=0.1, loss="nope"), "unknown loss"),
])
def test_bad_arguments_are_named(kwargs, match):
    kwargs = {"loss": "mse", **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        train.batch_modes(_model(), _line(20), **kwargs)


def test_a_dataloader_is_refused():
    from descend.data import DataLoader, Dataset

    with pytest.raises(TypeError, match="not a DataLoader"):
        train.batch_modes(_model(), DataLoader(Dataset(*_line(20)), batch_size=4), loss="mse", lr=0.1)


def test_probes_are_dense_where_stochastic_descent_moves_fast(line_result):
    sgd, mini = line_result.runs["stochastic"], line_result.runs["mini-batch 32"]
    # every n / 10 = 20 examples, and at 1, 2, 4, 8, 16 before that
    np.testing.assert_array_equal(sgd.examples[:8], [0, 1, 2, 4, 8, 16, 20, 40])
    assert list(mini.examples[:3]) == [0, 32, 64]  # measured after the update that passes a point
    assert np.all(np.diff(sgd.examples) > 0) and np.all(np.diff(mini.examples) > 0)


def test_the_last_measurement_is_at_the_end_of_the_budget():
    # n = 97 is no multiple of the probe spacing (9): the end of the budget is measured all the same
    X, y = _line(97)
    r = train.batch_modes(_model(), (X, y), loss="mse", lr=0.05, epochs=3, seed=0)
    for run in r.runs.values():
        assert run.examples[-1] == 3 * 97 and run.updates[-1] == run.history.steps
