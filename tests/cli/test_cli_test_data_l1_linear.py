"""``descend train --test-data``, ``--l1`` and ``--activation linear`` (typer's CliRunner)."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("typer")
pytest.importorskip("matplotlib")

from typer.testing import CliRunner

import descend
from descend.cli import app, job

runner = CliRunner()
QUIET = ("--no-progress", "--val-size", "0", "--no-standardize")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _write(path: Path, X, y, header="a,b,y"):
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.17g")
    return path


@pytest.fixture
def plane(tmp_path):
    """y = 1.5 a - 2 b + noise: 120 training rows and 40 test rows in two files."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(160, 2))
    y = X @ np.array([1.5, -2.0]) + 0.05 * rng.normal(size=160)
    return (_write(tmp_path / "train.csv", X[:120], y[:120]),
            _write(tmp_path / "test.csv", X[120:], y[120:]), X, y)


def _metrics(runs: Path) -> dict:
    (run,) = list(runs.iterdir())
    return json.loads((run / "metrics.json").read_text()), run


def test_test_data_is_the_test_set_and_the_data_all_training(tmp_path, plane):
    train, test, X, y = plane
    runs = tmp_path / "runs"
    result = _run("train", "--data", train, "--test-data", test, "--model", "", "--batch-size", 30,
                  "--epochs", 2, "--runs-dir", runs, *QUIET)
    assert result.exit_code == 0, result.output
    assert "120 train / 0 validation / 40 test" in result.output
    metrics, run = _metrics(runs)
    assert metrics["steps"] == 2 * 4  # all 120 rows train: 4 batches of 30 an epoch
    loaded = job.load_run(run)
    predicted, _ = job.predict_arrays(loaded, X[120:])
    assert metrics["test_mse"] == pytest.approx(float(np.mean((predicted[:, 0] - y[120:]) ** 2)), rel=1e-5)
    # descend evaluate without --data rebuilds the run's test set: the test file
    evaluated = job.evaluate_job(run, None, None)
    assert evaluated["examples"] == 40
    assert evaluated["metrics"]["mse"] == pytest.approx(metrics["test_mse"], rel=1e-9)


@pytest.mark.parametrize("test_text, says", [
    ("a,b\n1,2\n3,4\n", "test_data: (1,) features per example, but the data has (2,)"),
    ("a,b,y\n1,2,0\n3,4,7\n", "test_data: labels [7] are not among the training data's classes"),
])
def test_a_test_file_that_does_not_fit_is_refused(tmp_path, test_text, says):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    train = _write(tmp_path / "train.csv", X, (X[:, 0] > 0).astype(int))
    (tmp_path / "bad.csv").write_text(test_text)
    runs = tmp_path / "runs"
    result = _run("train", "--data", train, "--test-data", tmp_path / "bad.csv", "--model", "4",
                  "--epochs", 1, "--runs-dir", runs, *QUIET)
    assert result.exit_code != 0 and says in result.output
    assert not runs.exists() or not list(runs.iterdir())  # nothing half-written


def test_l1_adds_the_penalty_on_the_weights_alone(tmp_path, plane):
    train, test, X, y = plane
    sums = {}
    for rate in (0.0, 0.2):
        runs = tmp_path / f"runs-{rate}"
        result = _run("train", "--data", train, "--test-data", test, "--model", "8", "--lr", 0.01,
                      "--epochs", 30, "--l1", rate, "--runs-dir", runs, *QUIET)
        assert result.exit_code == 0, result.output
        metrics, run = _metrics(runs)
        state = descend.load(run / "model.npz")["state_dict"]
        sums[rate] = sum(float(np.abs(v).sum()) for k, v in state.items() if k.endswith("weight"))
        if rate:
            # the training objective (steps.csv) is the data loss plus the penalty, more than
            # the data loss alone that metrics.json reports for the final parameters
            last = float((run / "steps.csv").read_text().splitlines()[-1].split(",")[1])
            assert last > metrics["train_loss"] + 0.5 * rate * sums[rate]
    assert sums[0.2] < 0.8 * sums[0.0]
    result = _run("train", "--data", train, "--l1", -1, "--runs-dir", tmp_path / "r", *QUIET)
    assert result.exit_code != 0 and "must be non-negative" in result.output


def test_l1_penalized_leaves_the_biases_alone():
    model = descend.nn.MLP([2, 3, 1])
    loss = job.l1_penalized(lambda out, target: (out * 0).sum(), model, 0.5)
    expected = 0.5 * sum(float(np.abs(layer.weight.data).sum()) for layer in model.linears)
    assert float(loss(model(descend.tensor(np.ones((1, 2), np.float32))), None).item()) == \
        pytest.approx(expected, rel=1e-6)


def test_a_linear_activation_makes_the_network_affine(tmp_path, plane):
    train, test, X, y = plane
    runs = tmp_path / "runs"
    result = _run("train", "--data", train, "--test-data", test, "--model", "6,6",
                  "--activation", "linear", "--epochs", 3, "--runs-dir", runs, *QUIET)
    assert result.exit_code == 0, result.output
    assert "(linear)" in result.output
    _, run = _metrics(runs)
    loaded = job.load_run(run)
    a, b = np.array([[1.0, -2.0]]), np.array([[-3.0, 0.5]])
    fa, fb, fmid = (job.predict_arrays(loaded, p)[0] for p in (a, b, (a + b) / 2))
    assert fmid == pytest.approx((fa + fb) / 2, abs=1e-4)
