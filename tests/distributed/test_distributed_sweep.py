"""``descend.distributed.sweep`` and ``descend sweep`` on a 2-worker LocalCluster of processes."""

import csv
import io
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import tomllib

import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from typer.testing import CliRunner  # noqa: E402 (after the optional-dependency check above)

from descend import distributed as dd  # noqa: E402 (after the optional-dependency check above)
from descend.cli import app  # noqa: E402 (after the optional-dependency check above)
from descend.distributed import ParameterGrid, SweepResult  # noqa: E402 (after the optional-dependency check above)

# The workers import this module's helpers by value: the test folder is not on their path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    with dd.client(n_workers=2, threads_per_worker=1, set_as_default=False) as c:
        assert len(c.scheduler_info(n_workers=-1)["workers"]) == 2
        yield c


def quadratic_run(config):
    """A small gradient-descent run: minimise (w - 3)^2 with the configuration's lr and steps."""
    w = 0.0
    for _ in range(config["steps"]):
        w -= config["lr"] * 2 * (w - 3.0)
    return {"w": w, "loss": (w - 3.0) ** 2, "pid": os.getpid()}


def failing_run(config):
    if config["lr"] < 0:
        raise ValueError(f"negative learning rate {config['lr']}")
    return quadratic_run(config)


# ----------------------------------------------------------------------------- the grid
def test_parameter_grid_matches_scikit_learn_order():
    grid = ParameterGrid({"b": [True, False], "a": [1, 2]})
    expected = [{"a": 1, "b": True}, {"a": 1, "b": False}, {"a": 2, "b": True}, {"a": 2, "b": False}]
    assert list(grid) == expected
    assert len(grid) == 4
    assert [grid[i] for i in range(4)] == expected and grid[-1] == expected[-1]
    both = ParameterGrid([{"a": [1]}, {"c": [5, 6], "d": ["x"]}])
    assert list(both) == [{"a": 1}, {"c": 5, "d": "x"}, {"c": 6, "d": "x"}]
    assert [both[i] for i in range(len(both))] == list(both)
    with pytest.raises(IndexError):
        grid[4]


@pytest.mark.parametrize("bad,error", [
    ({"a": 1}, TypeError), ({"a": "abc"}, TypeError), ({"a": []}, ValueError), (3, TypeError),
])
def test_parameter_grid_refuses_bad_grids(bad, error):
    with pytest.raises(error):
        ParameterGrid(bad)


# ----------------------------------------------------------------------------- sweep()
def test_sweep_runs_every_configuration_on_the_workers(cluster, tmp_path):
    grid = {"lr": [0.05, 0.1, 0.2], "steps": [5, 20]}
    result = dd.sweep(quadratic_run, grid, cluster=cluster, progress=False)
    assert isinstance(result, SweepResult) and len(result) == 6
    assert [r["config"] for r in result] == list(ParameterGrid(grid))
    workers = set(cluster.scheduler_info(n_workers=-1)["workers"])
    for r in result:
        assert r["status"] == "ok" and r["error"] is None
        assert r["result"] == pytest.approx({**quadratic_run(r["config"]), "pid": r["result"]["pid"]})
        assert r["worker"] in workers and r["wall_time"] >= 0
    assert len({r["result"]["pid"] for r in result}) <= 2 and os.getpid() not in {r["result"]["pid"] for r in result}
    best = result.best("loss")
    assert best["config"] == {"lr": 0.2, "steps": 20}
    assert result.best("loss", mode="max")["config"] == {"lr": 0.05, "steps": 5}
    # the table: one row per configuration, scikit-learn's param_ columns, floats exact
    path = tmp_path / "sweep.csv"
    result.to_csv(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0])[:3] == ["index", "param_lr", "param_steps"]
    assert list(rows[0])[-4:] == ["status", "error", "wall_time", "worker"]
    for row, r in zip(rows, result, strict=True):
        assert float(row["w"]) == r["result"]["w"] and row["status"] == "ok"
    assert result.to_csv() == path.read_text()


def test_a_failing_configuration_is_recorded_and_the_others_finish(cluster):
    configs = [{"lr": 0.1, "steps": 10}, {"lr": -1.0, "steps": 10}, {"lr": 0.3, "steps": 10}]
    seen = []
    result = dd.sweep(failing_run, configs=configs, cluster=cluster, progress=False, on_record=seen.append)
    assert [r["status"] for r in result] == ["ok", "error", "ok"]
    bad = result[1]
    assert bad["error"] == "ValueError: negative learning rate -1.0"
    assert "failing_run" in bad["traceback"] and bad["result"] is None
    assert result.errors == [bad] and len(result.ok) == 2
    assert sorted(r["index"] for r in seen) == [0, 1, 2]
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert rows[1]["status"] == "error" and "negative learning rate" in rows[1]["error"] and rows[1]["w"] == ""


def suicidal_run(config):
    """Kills its own worker process the first time the marked configuration runs."""
    marker = config.get("die")
    if marker is not None:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return quadratic_run(config)


def test_a_killed_worker_does_not_lose_the_sweep(cluster, tmp_path):
    marker = str(tmp_path / "died")
    configs = [{"lr": 0.1, "steps": 5 + i} for i in range(8)]
    configs[2]["die"] = marker
    result = dd.sweep(suicidal_run, configs=configs, cluster=cluster, retries=2, progress=False)
    assert os.path.exists(marker)  # the worker really died
    assert [r["status"] for r in result] == ["ok"] * 8
    for r, cfg in zip(result, configs, strict=True):
        assert r["result"]["w"] == quadratic_run(cfg)["w"]
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts it


def test_serial_records_match(cluster):
    configs = [{"lr": 0.1, "steps": 3}, {"lr": 0.2, "steps": 3}]
    result = dd.sweep(quadratic_run, configs=configs, cluster=cluster, progress=False)
    local = [dd.run_config(quadratic_run, c, i) for i, c in enumerate(configs)]
    assert [r["result"]["w"] for r in result] == [r["result"]["w"] for r in local]
    assert local[0]["worker"] == "local"


def test_progress_lines_when_not_a_terminal(cluster, capsys):
    dd.sweep(quadratic_run, {"lr": [0.1], "steps": [1, 2]}, cluster=cluster, progress=True)
    out = capsys.readouterr().out
    assert "sweep: 2/2 done, 0 failed" in out


@pytest.mark.parametrize("kwargs,error,match", [
    ({"grid": {"lr": [0.1]}, "configs": [{"lr": 0.1}]}, ValueError, "either grid"),
    ({}, ValueError, "either grid"),
    ({"grid": {"lr": 0.1}}, TypeError, "must be a list"),
    ({"configs": []}, ValueError, "no configurations"),
    ({"configs": [1, 2]}, TypeError, r"configs\[0\]"),
    ({"configs": [{"lock": threading.Lock()}]}, TypeError, "does not pickle"),
    ({"grid": {"lr": [0.1]}, "retries": -1}, ValueError, "retries"),
])
def test_bad_sweeps_fail_before_anything_runs(kwargs, error, match):
    with pytest.raises(error, match=match):
        dd.sweep(quadratic_run, cluster="tcp://127.0.0.1:1", progress=False, **kwargs)


def test_run_must_be_callable():
    with pytest.raises(TypeError, match="run must be a callable"):
        dd.sweep("train", {"lr": [1]}, cluster="tcp://127.0.0.1:1")


# ----------------------------------------------------------------------------- descend sweep
runner = CliRunner()

SWEEP = """\
dataset = "moons"
epochs = 2
model = [6]
val_size = 0.2

[grid]
optimizer = ["sgd", "adam"]
lr = [0.05]
"""


def test_sweep_command_writes_runs_csv_and_report(cluster, tmp_path):
    cfg = tmp_path / "grid.toml"
    cfg.write_text(SWEEP + "momentum = [0.5]\n")
    # adam takes no momentum: that run fails, the sgd one is kept
    r = runner.invoke(app, ["sweep", str(cfg), "--cluster", cluster.scheduler.address, "--name", "s1",
                            "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 0, r.output
    sweep_dir = tmp_path / "runs" / "s1"
    runs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert runs == ["000-optimizer=sgd-lr=0.05-momentum=0.5", "001-optimizer=adam-lr=0.05-momentum=0.5"]
    ok_dir, bad_dir = (sweep_dir / n for n in runs)
    for f in ("model.npz", "metrics.json", "history.csv", "report.html", "config.toml"):
        assert (ok_dir / f).stat().st_size > 0, f
    assert "momentum" in (bad_dir / "error.txt").read_text()
    assert not (bad_dir / "model.npz").exists()
    # the run's config.toml re-runs beside the run (runs_dir "..": the sweep folder), not into the
    # worker's temporary folder, and a copied run re-runs beside the copy, not into the sweep
    saved = tomllib.loads((ok_dir / "config.toml").read_text())
    assert saved["runs_dir"] == ".." and saved["optimizer"] == "sgd" and saved["momentum"] == 0.5
    copied = tmp_path / "elsewhere" / "copied"
    shutil.copytree(ok_dir, copied)
    before = sorted(p.name for p in sweep_dir.iterdir())
    again = runner.invoke(app, ["train", "--config", str(copied / "config.toml"), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in sweep_dir.iterdir()) == before
    assert len([p for p in copied.parent.iterdir() if p.is_dir()]) == 2  # the copy and its re-run
    rows = list(csv.DictReader(io.StringIO((sweep_dir / "sweep.csv").read_text())))
    assert [row["status"] for row in rows] == ["ok", "error"]
    assert float(rows[0]["test_accuracy"]) == json.loads((ok_dir / "metrics.json").read_text())["test_accuracy"]
    assert (sweep_dir / "sweep.toml").read_text() == cfg.read_text()
    page = (sweep_dir / "report.html").read_text()
    assert "Best configuration" in page and "data:image/png;base64," in page
    assert f'href="{runs[0]}/report.html"' in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # opens offline
    assert "1 of 2 runs finished" in r.output and "failed: run 1" in r.output
    assert "best by val_loss: run 0" in r.output


@pytest.mark.parametrize("text,match", [
    ('epochs = 2\n', "no \\[grid\\] table"),
    ('[grid]\nlr = 0.1\n', "must be a list"),
    ('[grid]\nlr = []\n', "empty list"),
    ('[grid]\nlrr = [0.1]\n', "did you mean 'lr'"),
    ('name = "x"\n[grid]\nlr = [0.1]\n', "cannot be set in a sweep"),
    ('[grid]\nlr = [0.1, -1.0]\n', "must be positive"),
    ('[grid]\noptimizer = ["sgd", "adamm"]\n', "unknown optimizer 'adamm'"),
    ('lr = 0.1\n[grid]\nlr = [0.1]\n', "both a base key and in \\[grid\\]"),
    ('[grid]\nlr = [0.1]\n[other]\nx = 1\n', "only table is \\[grid\\]"),
    ('[grid\n', "not valid TOML"),
])
def test_bad_sweep_files_are_usage_errors(tmp_path, text, match):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    r = runner.invoke(app, ["sweep", str(cfg), "--runs-dir", str(tmp_path / "runs")], env={"COLUMNS": "300"})
    assert r.exit_code == 2, r.output
    flat = " ".join(re.sub("[\u2500-\u257f]", " ", r.output).split())  # without rich's box
    assert re.search(match, flat), r.output
    assert not (tmp_path / "runs").exists()  # nothing was started or written


def always_dying_run(config):
    """Kills its worker every time the marked configuration runs, counting the attempts in a folder."""
    if config.get("tally"):
        with open(os.path.join(config["tally"], f"{os.getpid()}-{time.monotonic_ns()}"), "w"):
            pass
        if config.get("forever") or len(os.listdir(config["tally"])) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
    return quadratic_run(config)


def test_lost_tasks_are_resubmitted_then_recorded_as_errors(tmp_path):
    """Past the scheduler's allowed-failures (0 here) the sweep itself resubmits, `retries` times."""
    import dask

    once, forever = tmp_path / "once", tmp_path / "forever"
    once.mkdir()
    forever.mkdir()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with dd.client(n_workers=2, threads_per_worker=1, set_as_default=False) as c:
            # one death: the task that died (and any queued behind it on that worker) is lost
            # once, resubmitted once, and then runs
            configs = [{"lr": 0.1, "steps": 4 + i} for i in range(4)]
            configs[1]["tally"] = str(once)
            result = dd.sweep(always_dying_run, configs=configs, cluster=c, retries=1, progress=False)
            assert [r["status"] for r in result] == ["ok"] * 4
            assert len(os.listdir(once)) == 2
            for r, cfg in zip(result, configs, strict=True):
                assert r["result"]["w"] == quadratic_run(cfg)["w"]
            # a configuration that kills every worker it lands on: given up after 1 + retries
            # losses (alone, so that no other task can be lost with its workers)
            c.wait_for_workers(2, timeout=60)
            configs = [{"lr": 0.1, "steps": 3, "tally": str(forever), "forever": True}]
            result = dd.sweep(always_dying_run, configs=configs, cluster=c, retries=1, progress=False)
    assert [r["status"] for r in result] == ["error"]
    assert len(os.listdir(forever)) == 2  # the first attempt and one retry
    bad = result[0]
    assert bad["error"].startswith("KilledWorker") and "task lost 2 times" in bad["error"]
    assert bad["result"] is None and bad["worker"] is None
