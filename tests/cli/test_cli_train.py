"""``descend train``, ``lr-find``, ``evaluate`` and ``predict`` (typer's CliRunner and subprocesses).

The default run (no arguments at all) is made once per module, in a fresh
working directory, exactly as a new user would type it; the other tests use
tiny models and one or two epochs.
"""

import base64
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("typer")
pytest.importorskip("matplotlib")

from typer.testing import CliRunner

import descend
from descend.cli import app, job
from descend.cli import config as C

runner = CliRunner()

RUN_FILES = ("history.csv", "metrics.json", "model.npz", "loss.png", "accuracy.png", "lr.png", "report.html",
             "config.toml", "config.json", "steps.csv")
TINY = ("--model", "16", "--epochs", "2", "--no-progress")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _visible(runs_dir: Path) -> list[str]:
    return sorted(p.name for p in runs_dir.iterdir()) if runs_dir.exists() else []


def _cli(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "descend", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


# --------------------------------------------------------------------------- the default run

@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """``python -m descend train`` with no arguments, in an empty folder."""
    cwd = tmp_path_factory.mktemp("newuser")
    proc = _cli("train", cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [p for p in (cwd / "runs").iterdir()]
    assert len(runs) == 1 and runs[0].name.startswith("digits-")
    return proc, runs[0]


def test_default_config_values():
    d = C.DEFAULTS
    assert d["dataset"] == "digits" and d["data"] is None
    assert d["optimizer"] == "adam" and d["batch_size"] == 32  # mini-batch Adam
    assert d["model"] == [256] and d["activation"] == "relu" and d["epochs"] == 30 and d["lr"] == 1e-3
    assert d["progress"] is True and d["runs_dir"] == "runs" and d["seed"] == 0


def test_default_train_reaches_097_and_writes_everything(default_run):
    proc, run = default_run
    out = proc.stdout
    acc = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert acc >= 0.97
    assert "digits" in out and "run folder:" in out and "report.html" in out
    for name in RUN_FILES:
        assert (run / name).stat().st_size > 0, name
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".")]  # no staging left over
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(acc, abs=5e-5)
    assert metrics["epochs"] == 30 and metrics["stop_reason"] == "epochs"
    with open(run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30
    assert {"epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    for png in ("loss.png", "accuracy.png", "lr.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = tomllib.loads((run / "config.toml").read_text())
    assert cfg["dataset"] == "digits" and cfg["optimizer"] == "adam" and cfg["model"] == [256]


def test_default_report_is_self_contained_and_complete(default_run):
    _, run = default_run
    page = (run / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)  # opens offline
    assert "<script" not in page and "@import" not in page
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # loss, accuracy and lr plots, then one image per misclassified test digit
    wrong = round((1 - json.loads((run / "metrics.json").read_text())["test_accuracy"]) * 360)
    assert len(uris) == 3 + min(wrong, 60)
    assert all(base64.b64decode(u)[:4] == b"\x89PNG" for u in uris)
    for section in ("Final metrics", "Configuration", "Confusion matrix", "Misclassified test examples",
                    "Learning-rate schedule", "validation"):
        assert section in page, section
    # the confusion matrix counts every test example once; the grid names true and predicted labels
    cm_rows = re.findall(r"<tr><th>\d</th>(.*?)</tr>", re.search(r'<table class="cm">(.*?)</table>', page).group(1))
    cm = np.array([[int(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", row)[:-1]] for row in cm_rows])
    assert cm.shape == (10, 10) and cm.sum() == 360  # the last cell of a row is its recall
    assert cm.sum() - np.trace(cm) == wrong
    grid = re.findall(r"true (\d)<br><span class='bad'>pred (\d)", page)
    assert grid and all(t != p for t, p in grid)


def test_evaluate_and_predict_on_the_runs_own_test_split(default_run):
    _, run = default_run
    r = _run("evaluate", run, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    metrics = json.loads((run / "metrics.json").read_text())
    assert res["examples"] == 360 and "test split" in res["data"]
    assert res["metrics"]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    assert res["metrics"]["loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)
    r = _run("predict", run)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(r.output.splitlines()))
    assert len(rows) == 360 and set(rows[0]) == {"prediction", "target"}
    agree = np.mean([row["prediction"] == row["target"] for row in rows])
    assert agree == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_evaluate_and_predict_with_a_data_file(default_run, tmp_path):
    _, run = default_run
    X, y = descend.data.load_digits()
    path = tmp_path / "digits.csv"
    np.savetxt(path, np.column_stack([X[:200], y[:200]]), delimiter=",", fmt="%g")
    r = _run("evaluate", run, "--data", path)
    assert r.exit_code == 0, r.output
    assert "200 examples" in r.output and "accuracy" in r.output
    out = tmp_path / "pred.csv"
    r = _run("predict", run, "--data", path, "--proba", "--output", out)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 200 and len(rows[0]) == 11  # prediction + p_0..p_9
    p = np.array([[float(row[f"p_{k}"]) for k in range(10)] for row in rows])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)
    assert [int(row["prediction"]) for row in rows] == p.argmax(axis=1).tolist()
    assert np.mean(p.argmax(axis=1) == y[:200]) > 0.95
    # features only (no label column) works too; an existing output file is never overwritten
    np.savetxt(tmp_path / "x.csv", X[:5], delimiter=",", fmt="%g")
    r = _run("predict", run, "--data", tmp_path / "x.csv")
    assert r.exit_code == 0 and r.output.splitlines()[1:] == [row["prediction"] for row in rows[:5]]
    before = out.read_text()
    r = _run("predict", run, "--data", path, "--output", out)
    assert r.exit_code == 1 and "already exists" in r.output and out.read_text() == before
    assert "--force" in r.output
    r = _run("predict", run, "--data", tmp_path / "x.csv", "--output", out, "--force")  # replaced whole
    assert r.exit_code == 0, r.output
    assert out.read_text().splitlines()[1:] == [row["prediction"] for row in rows[:5]]
    r = _run("predict", run, "--data", path, "--force")
    assert r.exit_code == 2 and "--output" in r.output
    # wrong number of features: one clear line
    np.savetxt(tmp_path / "bad.csv", np.ones((3, 5)), delimiter=",")
    r = _run("evaluate", run, "--data", tmp_path / "bad.csv")
    assert r.exit_code == 1 and "expects 64" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- configuration

def test_help_shows_defaults_for_every_command():
    r = _run("train", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for default in ("[default: digits]", "[default: adam]", "[default: 0.001]", "[default: 32]",
                    "[default: 30]", "[default: 256]", "[default: runs]", "[default: none]"):
        assert default in text, default
    for cmd in ("lr-find", "evaluate", "predict"):
        r = _run(cmd, "--help")
        assert r.exit_code == 0 and "Usage" in r.output
    assert "[default: 1e-07]" in " ".join(_run("lr-find", "--help").output.split())  # lr_find's own


def test_config_file_and_flags(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "iris"\nmodel = "8"\nepochs = 3\nlr = 0.01\nbatch-size = "full"\n'
                   'runs_dir = "out"\nprogress = false\nseed = 5\n')
    r = _run("train", "--config", cfg, "--epochs", "2", "--name", "a")
    assert r.exit_code == 0, r.output
    run = tmp_path / "out" / "a"  # runs_dir is relative to the config file
    saved = tomllib.loads((run / "config.toml").read_text())
    assert saved["epochs"] == 2  # the flag beat the file
    assert saved["dataset"] == "iris" and saved["model"] == [8] and saved["lr"] == 0.01 and saved["seed"] == 5
    assert saved["batch_size"] == "full"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["steps"] == 2  # full batch: one step per epoch
    # the saved config re-runs the same training bit for bit
    r = _run("train", "--config", run / "config.toml", "--name", "b", "--runs-dir", tmp_path / "out",
             "--no-progress")
    assert r.exit_code == 0, r.output
    again = json.loads((tmp_path / "out" / "b" / "metrics.json").read_text())
    assert again["test_loss"] == metrics["test_loss"] and again["train_loss"] == metrics["train_loss"]


def test_a_copied_runs_config_writes_beside_the_copy(tmp_path, monkeypatch):
    r = _run("train", "--dataset", "iris", "--model", "4", "--epochs", "1", "--no-progress", "--name", "a",
             "--runs-dir", tmp_path / "first")
    assert r.exit_code == 0, r.output
    saved = tomllib.loads((tmp_path / "first" / "a" / "config.toml").read_text())
    assert saved["runs_dir"] == ".."  # the folder holding the run, whatever it is called
    assert not {"start_lr", "end_lr", "steps"} & set(saved)  # lr-find's keys are not train's
    assert not {"start_lr", "end_lr", "steps"} & set(json.loads((tmp_path / "first" / "a" / "config.json").read_text()))
    shutil.copytree(tmp_path / "first", tmp_path / "copy")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = _run("train", "--config", tmp_path / "copy" / "a" / "config.toml", "--name", "b")
    assert r.exit_code == 0, r.output
    assert _visible(tmp_path / "copy") == ["a", "b"] and _visible(tmp_path / "first") == ["a"]
    assert not (elsewhere / "runs").exists()


def test_unknown_config_key_is_a_usage_error_listing_valid_keys(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("learning_rate = 0.1\n")
    r = _run("train", "--config", cfg, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "unknown key 'learning_rate'" in text and "valid keys are:" in text and "batch_size" in text
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, flag", [
    (("--lr", "-1"), "--lr"),
    (("--batch-size", "many"), "--batch-size"),
    (("--model", "64,x"), "--model"),
    (("--scheduler", "sometimes"), "--scheduler"),
    (("--epochs", "two"), "--epochs"),
    (("--resume",), "--resume"),
    (("--dataset", "nope"), "--dataset"),
    (("--optimizer", "nope"), "--optimizer"),
    (("--optimizer", "adam", "--momentum", "0.9"), "--momentum"),
])
def test_bad_values_are_usage_errors_naming_the_flag(tmp_path, args, flag):
    r = _run("train", *TINY, "--runs-dir", tmp_path / "runs", *args)  # the last of a repeated flag wins
    assert r.exit_code == 2, r.output
    assert flag in r.output and "Traceback" not in r.output
    assert _visible(tmp_path / "runs") == []


def test_failures_are_one_line_and_debug_shows_the_traceback(tmp_path):
    proc = _cli("train", "--data", "missing.csv", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: data file 'missing.csv' does not exist"]
    proc = _cli("train", "--data", "missing.csv", "--debug", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "missing.csv" in proc.stderr
    proc = _cli("evaluate", tmp_path / "nowhere", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
    proc = _cli("train", "--epochs", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--epochs" in proc.stderr
    assert not (tmp_path / "runs").exists() or _visible(tmp_path / "runs") == []


# --------------------------------------------------------------------------- run folders

def test_a_name_clash_never_overwrites(tmp_path):
    runs = tmp_path / "runs"
    assert _run("train", "--name", "mine", "--runs-dir", runs, *TINY).exit_code == 0
    before = {p.name: p.read_bytes() for p in (runs / "mine").iterdir()}
    r = _run("train", "--name", "mine", "--runs-dir", runs, *TINY)
    assert r.exit_code == 2 and "already exists" in r.output
    assert {p.name: p.read_bytes() for p in (runs / "mine").iterdir()} == before
    # without a name, two runs in the same second get different folders
    for _ in range(2):
        assert _run("train", "--runs-dir", runs, "--dataset", "iris", *TINY).exit_code == 0
    names = _visible(runs)
    assert len(names) == 3 and sum(n.startswith("iris-") for n in names) == 2


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_run_leaves_nothing_behind(tmp_path, monkeypatch, exc):
    calls = []

    def fail_in_report(*args, **kwargs):
        calls.append(1)
        raise exc

    # fail after the model, metrics and history are written, while the report is being made
    monkeypatch.setattr(job.rep, "render_report", fail_in_report)
    r = _run("train", "--runs-dir", tmp_path / "runs", *TINY)
    assert calls and r.exit_code == (1 if isinstance(exc, RuntimeError) else 130)  # 130: interrupted (SIGINT)
    if isinstance(exc, RuntimeError):
        assert "error: disk full" in r.output
    assert os.listdir(tmp_path / "runs") == []  # neither the run nor its hidden staging folder


def test_staged_run_publishes_atomically(tmp_path):
    from descend.cli.runs import RunError, StagedRun

    s = StagedRun(tmp_path, "x")
    (s.path / "f.txt").write_text("done")
    assert s.path.name.startswith(".x.") and _visible(tmp_path) == [s.path.name]
    final = s.publish()
    assert final == tmp_path / "x" and (final / "f.txt").read_text() == "done"
    with pytest.raises(RunError, match="already exists"):
        StagedRun(tmp_path, "x")
    # a run that takes an automatic name while another is staging gets the next free one
    a, b = StagedRun(tmp_path, None, stem="d"), StagedRun(tmp_path, None, stem="d")
    assert a.name == b.name
    (a.path / "f").write_text("a")
    (b.path / "f").write_text("b")
    pa, pb = a.publish(), b.publish()
    assert pa != pb and pb.name == pa.name + "-2"
    assert (pa / "f").read_text() == "a" and (pb / "f").read_text() == "b"
    # an explicit name taken while staging: the finished work is published as y-2, visibly
    c = StagedRun(tmp_path, "y")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "other").write_text("someone else's")
    assert c.publish() == tmp_path / "y-2" and c.renamed
    assert (tmp_path / "y" / "other").read_text() == "someone else's" and c.path.exists()


# --------------------------------------------------------------------------- other data and options

def test_checkpoint_and_resume_end_like_an_uninterrupted_run(tmp_path):
    runs, ck = tmp_path / "runs", tmp_path / "ck"
    common = ("--runs-dir", runs, "--dataset", "iris", "--model", "8", "--lr", "0.01", "--no-progress")
    assert _run("train", *common, "--epochs", "2", "--checkpoint-dir", ck, "--name", "first").exit_code == 0
    assert (ck / "checkpoint.npz").exists()
    r = _run("train", *common, "--epochs", "4", "--checkpoint-dir", ck, "--resume", "--name", "resumed")
    assert r.exit_code == 0, r.output
    assert _run("train", *common, "--epochs", "4", "--name", "straight").exit_code == 0
    resumed = json.loads((runs / "resumed" / "metrics.json").read_text())
    straight = json.loads((runs / "straight" / "metrics.json").read_text())
    assert resumed["epochs"] == 4 and resumed["test_loss"] == straight["test_loss"]
    assert (runs / "resumed" / "history.csv").read_text().count("\n") == 5  # all four epochs recorded



def test_regression_run_and_evaluate(tmp_path):
    runs = tmp_path / "runs"
    r = _run("train", "--dataset", "diabetes", "--model", "16", "--epochs", "3", "--lr", "0.01",
             "--name", "reg", "--runs-dir", runs, "--scheduler", "cosine", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "test R²" in r.output
    run = runs / "reg"
    assert not (run / "accuracy.png").exists() and (run / "loss.png").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test_loss", "test_mse", "test_mae", "test_r2"} <= set(metrics)
    r = _run("evaluate", run, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["metrics"]["r2"] == pytest.approx(metrics["test_r2"], rel=1e-9)
    rows = list(csv.DictReader(_run("predict", run).output.splitlines()))
    assert set(rows[0]) == {"prediction", "target"} and len(rows) == res["examples"] == 89
    pred = np.array([float(row["prediction"]) for row in rows])
    target = np.array([float(row["target"]) for row in rows])
    mse = np.mean((pred - target) ** 2)  # predictions come back in the target's own units
    assert mse == pytest.approx(metrics["test_mse"], rel=1e-4)
    page = (run / "report.html").read_text()
    assert "Misclassified" not in page and "Confusion" not in page


def test_csv_data_with_labels_and_a_step_scheduler(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, 7, 3)  # labels need not be 0..k-1
    path = tmp_path / "points.csv"
    with open(path, "w") as fh:
        fh.write("a,b,c,label\n")
        for row, label in zip(X, y, strict=True):
            fh.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    runs = tmp_path / "runs"
    r = _run("train", "--data", path, "--target", "label", "--model", "8", "--epochs", "4", "--lr", "0.05",
             "--batch-size", "16", "--scheduler", "onecycle", "--runs-dir", runs, "--no-progress")
    assert r.exit_code == 0, r.output
    (run,) = (runs / n for n in _visible(runs))
    assert run.name.startswith("points-")
    with open(run / "steps.csv", newline="") as fh:
        lrs = [float(row["lr"]) for row in csv.DictReader(fh)]
    spe = -(-int(0.9 * 120) // 16)
    assert len(lrs) == 4 * spe and len(set(lrs[:spe])) == spe  # onecycle changes the rate every step
    page = (run / "report.html").read_text()
    assert "<table><tr><th>true</th><th>predicted</th>" in page or "No test example" in page
    r = _run("predict", run, "--data", path)
    preds = r.output.split()[1:]
    assert r.exit_code == 0 and len(preds) == 150 and set(preds) <= {"3", "7"}


def test_report_without_matplotlib_says_the_plots_need_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "descend.viz", None)  # `from descend import viz` now fails...
    monkeypatch.delattr(descend, "viz", raising=False)  # ...even after another test imported it
    r = _run("train", "--runs-dir", tmp_path, "--name", "plain", "--scheduler", "cosine", *TINY)
    assert r.exit_code == 0, r.output
    run = tmp_path / "plain"
    assert not list(run.glob("*.png"))
    page = (run / "report.html").read_text()
    assert "The plots need matplotlib" in page
    assert page.count("data:image/png;base64,") == min(60, len(re.findall(r"true \d<br>", page)))


def test_small_models_use_one_blas_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    cfg = dict(C.DEFAULTS)
    with job.blas_threads(cfg, [64, 256, 10], 32):  # the default run: 5e5 multiply-adds per product
        assert set(blas_threads()) <= {1}
    big = job.blas_threads(cfg, [784, 512, 10], 128)
    assert type(big).__name__ == "nullcontext"  # large products keep the library's own choice
    with job.blas_threads({**cfg, "threads": 1}, [784, 512, 10], 128):
        assert set(blas_threads()) <= {1}


def test_lr_find_prints_a_suggestion_and_writes_the_plot(tmp_path):
    out = tmp_path / "lr.png"
    r = _run("lr-find", "--model", "16", "--steps", "30", "--output", out)
    assert r.exit_code == 0, r.output
    lr = float(re.search(r"suggested learning rate: (\S+)", r.output).group(1))
    assert 1e-6 <= lr <= 1.0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"next: descend train --dataset digits --model 16 --optimizer adam --lr {lr:.3g}" in r.output
    assert "a tenth of the rate at the lowest smoothed loss" in r.output and "from 1e-07 to 10" in r.output
    r = _run("lr-find", "--model", "16", "--steps", "30", "--output", out)
    assert r.exit_code == 1 and "already exists" in r.output
    r = _run("lr-find", "--model", "16", "--steps", "20", "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 0, r.output
    (plot,) = (tmp_path / "runs").iterdir()
    assert plot.name.startswith("lr-find-digits-") and plot.suffix == ".png"
    r = _run("lr-find", "--start-lr", "1", "--end-lr", "0.1")
    assert r.exit_code == 2 and "start_lr" in r.output
    # the hint names the model the rate was found for: a linear model as '' (quoted for the shell)
    r = _run("lr-find", "--model", "", "--steps", "20", "--output", tmp_path / "linear.png")
    assert r.exit_code == 0, r.output
    assert "next: descend train --dataset digits --model '' --optimizer adam --lr " in r.output


@pytest.mark.parametrize("suggestion, tenth, word", [(0.0102, 0.0167, "higher"), (0.0102, 0.0031, "lower")])
def test_lr_find_says_which_rule_gave_the_lower_rate(tmp_path, monkeypatch, suggestion, tenth, word):
    # a tenth of the rate at the lowest loss is not always below the steepest-fall rate
    # (0.0167 against 0.0102 on a real curve): the output must not call it the cautious one
    monkeypatch.setattr(job, "lr_find_job", lambda cfg, output: {
        "data": "iris", "steps": 20, "stop_reason": "steps", "suggestion": suggestion,
        "lr_min_loss": tenth, "plot": None})
    r = _run("lr-find", "--dataset", "iris", "--model", "4", "--output", tmp_path / "lr.png")
    assert r.exit_code == 0, r.output
    assert "cautious" not in r.output and "conservative" not in r.output
    assert f"gives {tenth:.3g}, {word} than the suggestion" in r.output
    assert f"suggested learning rate: {suggestion:.3g}" in r.output


def _next_train_params(output: str) -> dict:
    """The options of the printed ``next: descend train ...`` line, parsed by train's own parser."""
    import typer

    (line,) = [text for text in output.splitlines() if text.startswith("next: ")]
    words = shlex.split(line[len("next: "):])
    assert words[:2] == ["descend", "train"]
    train_command = typer.main.get_command(app).commands["train"]
    return train_command.make_context("train", words[2:]).params


def test_lr_find_hint_reproduces_the_setting_it_ran(tmp_path):
    # copying the hint must train on the data, batch size and loss the rate was found for
    r = _run("lr-find", "--dataset", "iris", "--model", "8,4", "--batch-size", "16", "--l1", "0.001",
             "--no-standardize", "--seed", "3", "--steps", "20", "--output", tmp_path / "a.png")
    assert r.exit_code == 0, r.output
    params = _next_train_params(r.output)
    lr = float(re.search(r"suggested learning rate: (\S+)", r.output).group(1))
    assert params["dataset"] == "iris" and params["batch_size"] == "16" and params["l1"] == 0.001
    assert params["model"] == "8,4" and params["standardize"] is False and params["seed"] == 3
    assert params["lr"] == float(f"{lr:.3g}") and params["data"] is None
    # a data file, in a folder whose name needs quoting, with its target column
    folder = tmp_path / "my data"
    folder.mkdir()
    rows = "a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(40))
    (folder / "d.csv").write_text(rows)
    r = _run("lr-find", "--data", folder / "d.csv", "--target", "label", "--model", "", "--batch-size", "full",
             "--steps", "10", "--output", tmp_path / "b.png")
    assert r.exit_code == 0, r.output
    params = _next_train_params(r.output)
    assert params["data"] == str(folder / "d.csv") and params["target"] == "label"
    assert params["batch_size"] == "full" and params["model"] == ""


def test_python_dash_m_is_the_same_command(tmp_path):
    a = _cli("--help", cwd=tmp_path)
    script = shutil.which("descend")  # the console script, when installed; else its entry point
    cmd = [script] if script else [sys.executable, "-c", "import sys; from descend.cli import main; sys.exit(main())"]
    b = subprocess.run([*cmd, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert a.returncode == 0 and b.returncode == 0
    assert a.stdout == b.stdout and "train" in a.stdout and "lr-find" in a.stdout


def test_a_dead_single_hidden_unit_is_reported_and_the_linear_model_named(tmp_path):
    # `--model 1` is one ReLU unit, not y = Wx + b; here it dies and the model predicts a constant
    dead = _run("train", "--dataset", "linear", "--model", "1", "--epochs", "3", "--no-progress",
                "--runs-dir", tmp_path)
    assert dead.exit_code == 0, dead.output
    assert "hidden layer 1 (1 relu unit) is dead" in dead.output and "--model ''" in dead.output
    linear = _run("train", "--dataset", "linear", "--model", "", "--epochs", "3", "--no-progress",
                  "--runs-dir", tmp_path)
    assert linear.exit_code == 0, linear.output
    assert "is dead" not in linear.output
    assert "linear model y = Wx + b" in C.fields_by_name()["model"].help  # what --help shows
