"""``descend landscape``, ``descend basins`` and ``descend search`` through typer's CliRunner."""

import json
import re

import pytest
from typer.testing import CliRunner

from descend.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_list_shows_functions_and_minima():
    r = _run("landscape", "--list")
    assert r.exit_code == 0, r.output
    for name in ("himmelblau", "rosenbrock", "goldstein_price", "six_hump_camel", "styblinski_tang"):
        assert name in r.output
    assert "(3.5844, -1.8481)" in r.output and "840" in r.output


def test_landscape_runs_and_writes_everything(tmp_path):
    out = tmp_path / "him"
    r = _run("landscape", "himmelblau", "--optimizers", "sgd,momentum,nesterov,adam", "--steps", "60",
             "--start", "-1,-1", "--frames", "4", "--out", str(out))
    assert r.exit_code == 0, r.output
    for opt in ("sgd", "momentum", "nesterov", "adam"):
        assert opt in r.output
    for f in ("paths.png", "paths.gif", "report.html", "results.json"):
        assert (out / f).stat().st_size > 0
    data = json.loads((out / "results.json").read_text())
    rows = {row["method"]: row for row in data["rows"]}
    assert set(rows) == {"sgd", "momentum", "nesterov", "adam"}
    sgd = rows["sgd"]  # lr 0.01 from (-1, -1) lands on (-3.7793, -3.2832)
    assert sgd["distance"] < 1e-6 and sgd["nearest_is_global"] and sgd["steps_to_reach"] > 0
    assert sgd["nfev"] == sgd["njev"] and sgd["evals_to_reach"] == sgd["steps_to_reach"] + 1
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "data:image/gif;base64," in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # opens offline


def test_landscape_per_optimizer_lrs_and_lbfgs(tmp_path):
    r = _run("landscape", "rosenbrock", "--optimizers", "adam,lbfgs", "--lr", "0.02,1", "--steps", "30",
             "--out", str(tmp_path), "--no-plots")
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in json.loads((tmp_path / "results.json").read_text())["rows"]}
    assert rows["adam"]["settings"] == "lr=0.02"
    assert rows["lbfgs"]["nfev"] > 31  # line searches are counted
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("args,message", [
    (["landscape", "nope"], "unknown landscape"),
    (["landscape", "himmelblau", "--start", "1"], "needs 2 coordinates"),
    (["landscape", "himmelblau", "--start", "a,b"], "expected numbers"),
    (["landscape", "himmelblau", "--optimizers", "sgd,bogus"], "unknown optimizer"),
    (["landscape", "himmelblau", "--optimizers", "sgd,adam", "--lr", "0.1,0.2,0.3"], "one per optimizer"),
    (["landscape", "himmelblau", "--steps", "-1"], "--steps"),
    (["basins", "himmelblau", "--optimizer", "lbfgs"], "lbfgs"),
    (["search", "himmelblau", "--method", "telepathy"], "unknown method"),
    (["search", "himmelblau", "--budget", "1"], "--budget"),
])
def test_usage_errors_exit_2(args, message):
    r = _run(*args)
    assert r.exit_code == 2
    assert message in r.output


def test_landscape_without_a_name_lists_them():
    r = _run("landscape")  # its usage shows NAME as optional: without one, the choices
    assert r.exit_code == 0, r.output
    assert r.output == _run("landscape", "--list").output and "rastrigin" in r.output


@pytest.mark.parametrize("command", ["basins", "search"])
def test_basins_and_search_without_a_name_list_them_too(command, tmp_path):
    # their usage shows [name] as optional as well; they used to exit 2 ("missing landscape name")
    r = _run(command, "--out", str(tmp_path / "o"))
    assert r.exit_code == 0, r.output
    assert f"Landscapes (descend {command} NAME)" in r.output and "rastrigin" in r.output
    assert not (tmp_path / "o").exists()


def test_failure_is_one_line_exit_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = _run("landscape", "booth", "--steps", "3", "--no-plots", "--out", str(blocker / "sub"))
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in r.output


def test_help_shows_defaults():
    r = runner.invoke(app, ["landscape", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "[default: sgd,momentum,nesterov,adam]" in r.output and "[default: 300]" in r.output
    r = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "200"})
    assert "[default: random,local,annealing,multistart,gd]" in r.output and "[default: 1000]" in r.output


def test_basins_command(tmp_path):
    r = _run("basins", "himmelblau", "--optimizer", "sgd", "--lr", "0.01", "--steps", "100",
             "--resolution", "20", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "100.0%" in r.output and "global minimum reached from 100.0% of starts" in r.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert sum(row["starts"] for row in data["rows"]) == 400
    assert (tmp_path / "basins.png").stat().st_size > 0 and (tmp_path / "report.html").exists()


def test_search_compares_methods_at_one_budget(tmp_path):
    r = _run("search", "himmelblau", "--budget", "200", "--method", "random,local,annealing,multistart,gd",
             "--seed", "3", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in json.loads((tmp_path / "results.json").read_text())["rows"]}
    assert set(rows) == {"random", "local", "annealing", "multistart", "gd"}
    for name, row in rows.items():
        assert row["nfev"] <= 200, name
    assert rows["random"]["njev"] == rows["local"]["njev"] == rows["annealing"]["njev"] == 0
    assert rows["gd"]["distance"] < 1e-6  # gradient descent gets there; blind search does not
    assert rows["random"]["distance"] > 1e-3
    for f in ("paths.png", "convergence.png", "report.html"):
        assert (tmp_path / f).stat().st_size > 0
    again = tmp_path / "again"
    _run("search", "himmelblau", "--budget", "200", "--method", "random,local,annealing,multistart,gd",
         "--seed", "3", "--out", str(again), "--no-plots")
    rows2 = {row["method"]: row for row in json.loads((again / "results.json").read_text())["rows"]}
    assert rows2 == rows  # one seed reproduces the comparison


def test_the_table_says_how_far_from_the_global_minimum_a_run_ended(tmp_path):
    def wide(*args):  # a terminal wide enough that no cell of the table wraps
        return runner.invoke(app, list(args), env={"COLUMNS": "240"})

    r = wide("landscape", "rosenbrock", "--optimizers", "sgd", "--steps", "300", "--out", str(tmp_path),
             "--no-plots")
    assert r.exit_code == 0, r.output
    row = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert row["distance"] > 1 and row["distance_to_global"] == row["distance"]
    assert "2.314 from a global minimum" in r.output and "(global)" not in r.output
    r = wide("landscape", "himmelblau", "--optimizers", "sgd", "--start", "-1,-1", "--steps", "60",
             "--out", str(tmp_path / "h"), "--no-plots")
    assert "at a global minimum (" in r.output
    r = wide("landscape", "six_hump_camel", "--optimizers", "sgd", "--start", "1.8,0.9", "--steps", "300",
             "--out", str(tmp_path / "c"), "--no-plots")
    row = json.loads((tmp_path / "c" / "results.json").read_text())["rows"][0]
    assert not row["nearest_is_global"] and row["distance_to_global"] > row["distance"]
    assert "local minimum" in r.output and "from the global" in r.output


def test_search_tunnel_leaves_rastrigins_dimple_within_the_budget(tmp_path):
    out = tmp_path / "tunnel"
    r = _run("search", "rastrigin", "--start", "3.1,-2.2", "--method", "gd,tunnel", "--budget", "4000",
             "--out", str(out))
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in json.loads((out / "results.json").read_text())["rows"]}
    assert rows["gd"]["fun"] == pytest.approx(12.93, abs=0.01)  # one descent stays in the dimple
    assert rows["tunnel"]["fun"] < 1e-8 and rows["tunnel"]["nfev"] <= 4000
