"""Runs that diverge say so early, in every front end (issue 16, items 4, 5 and 6).

* the growth rule: a loss far above its best stops training long before it overflows
  (``fit``, ``landscapes.minimize``), with the learning-rate hint;
* parameters of absurd size are divergence where the loss cannot show it;
* ``descend train`` exits with its own code (3), prints one warning line, and writes a
  ``metrics.json`` that agrees with ``steps.csv`` and the saved parameters; ``descend sweep``
  marks such runs;
* no negative zero is printed or stored.
"""

import json
import math
import re
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import descend
from descend import landscapes, nn, optim
from descend.cli import app
from descend.train import DivergenceWarning, fit

runner = CliRunner()


def _line():
    X = np.linspace(0, 10, 50, dtype=np.float32)[:, None]
    return X, 2 * X


def _fit_line(**kw):
    descend.manual_seed(0)
    m = nn.Linear(1, 1)
    with pytest.warns(DivergenceWarning) as caught:
        h = fit(m, _line(), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.1), batch_size=None,
                epochs=1000, progress=False, **kw)
    return m, h, str(caught[0].message)


def test_a_growing_loss_is_divergence_long_before_it_overflows():
    m, h, message = _fit_line()
    assert h.stop_reason == "diverged" and len(h.step_loss) <= 5  # it overflowed after 23 steps
    assert "divergence_factor=10000" in message and "lr-find" in message
    # the parameters are those of the last accepted step: they give its loss again
    X, y = _line()
    loss = nn.functional.mse_loss(m(descend.tensor(X)), descend.tensor(y)).item()
    assert loss == pytest.approx(h.step_loss[-1], rel=1e-5)


def test_the_growth_rule_can_be_turned_off():
    _, h, message = _fit_line(divergence_factor=None)
    assert h.stop_reason == "diverged" and len(h.step_loss) > 20 and "the loss is inf" in message


@pytest.mark.parametrize("factor", [1.0, 0, -3, float("nan"), float("inf"), "big", True])
def test_a_bad_divergence_factor_is_refused_before_anything_changes(factor):
    m = nn.Linear(1, 1)
    before = m.weight.data.copy()
    with pytest.raises(ValueError, match="divergence_factor must be a finite number > 1 or None"):
        fit(m, _line(), loss="mse", optimizer="sgd", divergence_factor=factor, progress=False)
    assert np.array_equal(m.weight.data, before)


def test_noisy_but_healthy_training_is_not_called_diverged():
    X, y = descend.data.load_digits()
    descend.manual_seed(0)
    m = nn.MLP([64, 32, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        h = fit(m, (X, y), loss="cross_entropy", optimizer="adam", batch_size=8, epochs=3, seed=0,
                progress=False)
    assert h.stop_reason == "epochs"


def test_parameters_of_absurd_size_are_divergence_where_the_loss_cannot_show_it():
    # separable data, one full-batch Adam step of 1e7: the loss drops to 0, the weights are absurd
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    X[:, 0] += np.where(y == 1, 1.0, -1.0)
    descend.manual_seed(0)
    m = nn.Linear(2, 2)
    with pytest.warns(DivergenceWarning, match="largest magnitude of parameter 'weight' is 1e\\+07"):
        h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.Adam(m.parameters(), lr=1e7),
                batch_size=None, epochs=5, progress=False)
    assert h.stop_reason == "diverged" and len(h.epochs) == 1


@pytest.mark.parametrize("lr", [0.21, 0.5])
def test_minimize_reports_a_growing_value_as_diverged(lr):
    r = landscapes.minimize(landscapes.get("quadratic"), [2.0, 2.0], lr=lr)
    assert not r.success and r.message.startswith("diverged: f = ") and "lr-find" in r.message
    assert r.nit < 60 and abs(r.fun) < 1e6  # it used to run all 1000 steps to 3e83
    off = landscapes.minimize(landscapes.get("quadratic"), [2.0, 2.0], lr=lr, divergence_factor=None)
    assert off.nit > r.nit


def test_fit_and_minimize_end_with_one_hint_and_one_growth_clause():
    # one definition of both (train.guards): the same words for the same rule, whichever front end
    from descend.train import guards

    _, _, fitted = _fit_line()
    walked = landscapes.minimize(landscapes.get("quadratic"), [2.0, 2.0], lr=0.5).message
    for message in (fitted, walked):
        assert message.endswith(". " + guards.DIVERGENCE_HINT)
        assert re.search(r", more than divergence_factor=10000 times [0-9.e+]+ above the "
                         r"(best loss|lowest value) so far \([0-9.e+-]+\)", message), message
    assert guards.DIVERGENCE_HINT == "Learning rate too high? try `descend lr-find`"


def _train(tmp_path, *args, progress="--no-progress"):
    return runner.invoke(app, ["train", "--runs-dir", str(tmp_path / "runs"), progress, "--name", "r", *args])


@pytest.mark.parametrize("progress", ["--no-progress", "--progress"])
def test_a_diverged_train_run_exits_3_with_one_warning_and_consistent_files(tmp_path, progress):
    r = _train(tmp_path, "--dataset", "iris", "--optimizer", "sgd", "--lr", "100", "--epochs", "3",
               "--batch-size", "full", "--val-size", "0", progress=progress)
    assert r.exit_code == 3, r.output
    warnings_printed = [line for line in r.output.splitlines() if "diverged at" in line]
    assert len(warnings_printed) == 1 and warnings_printed[0].startswith("warning: training diverged")
    assert "DivergenceWarning" not in r.output and ".py:" not in r.output
    run = tmp_path / "runs" / "r"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["diverged"] is True and metrics["stop_reason"] == "diverged"
    last_step = float((run / "steps.csv").read_text().split()[-1].split(",")[1])
    assert metrics["last_step_loss"] == pytest.approx(last_step)
    # full batch: the saved parameters are those of the last accepted step, so the final
    # evaluation on the training split repeats that step's loss (float32 training, float64 here)
    assert metrics["train_loss"] == pytest.approx(last_step, rel=1e-4)
    history_last = float((run / "history.csv").read_text().split()[-1].split(",")[2])
    assert history_last == pytest.approx(last_step)
    assert runner.invoke(app, ["evaluate", str(run)]).exit_code == 0


def test_a_healthy_train_run_still_exits_0(tmp_path):
    r = _train(tmp_path, "--dataset", "iris", "--epochs", "2")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())["diverged"] is False


def test_no_negative_zero_is_printed_or_stored(tmp_path):
    from descend.cli.job import evaluate_arrays

    class Perfect:
        def eval(self):
            return self

        def __call__(self, x):
            out = np.zeros((len(x.data), 2), np.float32)
            out[:, 0] = 1e4
            return descend.tensor(out)

    metrics = evaluate_arrays(Perfect(), "classification", np.zeros((4, 3), np.float32), np.zeros(4, np.int64))
    assert metrics["loss"] == 0.0 and math.copysign(1.0, metrics["loss"]) == 1.0
    from descend.cli.runs import write_csv, write_json

    write_json(tmp_path / "m.json", {"a": -0.0, "b": [np.float32(-0.0)]})
    write_csv(tmp_path / "h.csv", [{"a": -0.0}])
    assert "-0" not in (tmp_path / "m.json").read_text() + (tmp_path / "h.csv").read_text()


def test_values_that_round_to_zero_are_printed_without_a_sign(tmp_path):
    from descend.cli.report import fixed, fmt

    assert [fixed(v) for v in (-0.0, -3e-11, -4e-5, -0.00005001, 0.5)] == ["0.0000", "0.0000", "0.0000",
                                                                       "-0.0001", "0.5000"]
    assert fmt(-0.0) == "0" and fmt(np.float32(-0.0)) == "0"
    # a walk to Rastrigin's origin ends a hair below zero on one axis: the table said (0.9950, -0.0000)
    r = runner.invoke(app, ["search", "rastrigin", "--method", "tunnel", "--start", "3.1,-2.2", "--no-plots",
                            "--out", str(tmp_path / "s")], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "(0.9950, 0.0000)" in r.output and "-0.0000" not in r.output


@pytest.mark.slow
def test_sweep_marks_diverged_runs(tmp_path):
    pytest.importorskip("distributed")
    grid = tmp_path / "grid.toml"
    grid.write_text('dataset = "iris"\nepochs = 2\nmodel = [4]\noptimizer = "sgd"\n\n[grid]\nlr = [0.05, 100.0]\n')
    r = runner.invoke(app, ["sweep", str(grid), "--workers", "1", "--name", "s", "--runs-dir",
                            str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert re.search(r"diverged: run 1 \(lr=100(\.0)?\): training diverged", r.output), r.output
    assert r.output.count("training diverged at step") == 1
    header = (tmp_path / "runs" / "s" / "sweep.csv").read_text().splitlines()[0].split(",")
    assert "param_lr" in header and not {"param_steps", "param_start_lr", "param_end_lr"} & set(header)
    page = (tmp_path / "runs" / "s" / "report.html").read_text()
    assert ">diverged<" in page


def test_a_sweep_worker_prints_nothing_and_hands_its_warnings_back(capsys):
    # a diverged run's warning was printed by the worker and again in the sweep's summary;
    # other warnings (a dead hidden layer) went to the workers' stderr without saying which run
    from descend.cli.config import merge
    from descend.cli.sweep import train_config

    capsys.readouterr()
    diverged = train_config(merge({}, {"dataset": "iris", "epochs": 2, "model": [4], "optimizer": "sgd",
                                       "lr": 100.0, "progress": False},
                                  {"dataset", "epochs", "model", "optimizer", "lr", "progress"}))
    dead = train_config(merge({}, {"dataset": "linear", "epochs": 3, "model": [1], "progress": False},
                              {"dataset", "epochs", "model", "progress"}))
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert diverged["diverged"] and diverged["warnings"] == []
    assert len(dead["warnings"]) == 1 and dead["warnings"][0].startswith("hidden layer 1 (1 relu unit) is dead")
