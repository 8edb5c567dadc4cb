"""A table of bad inputs to the ``descend`` command, each with the error it must give.

Every row is a command line (with the files it needs made first) and what must come back:
the exit code (2: usage error, 1: failure reported as one ``error:`` line) and a pattern the
message must contain — naming the file, the field and what was expected. After each, nothing
in the folder has changed: no run, no output file, no temporary left behind.

Rows marked ``issue16`` are the cases that used to say too little (items 7-14): a tampered
model with nan/integer weights, a preprocessing ``mean`` of the wrong length, a short
``classes`` array, absurd layer sizes, an output in a missing folder, a non-UTF-8 or
out-of-range TOML file, an IDX header whose size wraps around 64 bits.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import descend
from descend.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small iris run, copied into each test's folder."""
    runs = tmp_path_factory.mktemp("trained")
    r = runner.invoke(app, ["train", "--dataset", "iris", "--epochs", "2", "--model", "4", "--no-progress",
                            "--runs-dir", str(runs), "--name", "iris"])
    assert r.exit_code == 0, r.output
    return runs / "iris"


def _tampered(base: Path, folder: Path, mutate) -> Path:
    shutil.copytree(base, folder)
    state = descend.load(folder / "model.npz")
    mutate(state)
    descend.save(state, folder / "model.npz")
    return folder


def _first_weight(state):
    return next(iter(state["state_dict"]))


def _set_weight(state, value):
    key = _first_weight(state)
    w = state["state_dict"][key].copy()
    w.flat[0] = value
    state["state_dict"][key] = w


def _write(path: Path, data) -> Path:
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def _idx(path: Path, dims, payload: bytes) -> Path:
    return _write(path, bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload)


# Each case: name -> (setup(tmp, run) returning the argument list, exit code, pattern, issue16?)
CASES = {
    # ---- training options and config files
    "epochs zero": (lambda t, r: ["train", "--epochs", "0"], 2, r"'--epochs'.*must be at least 1, got 0"),
    "negative lr": (lambda t, r: ["train", "--lr", "-1"], 2, r"'--lr'.*must be positive, got -1"),
    "test size above 1": (lambda t, r: ["train", "--test-size", "1.5"], 2, r"must be in \(0, 1\), got 1.5"),
    "batch size zero": (lambda t, r: ["train", "--batch-size", "0"], 2, r"must be at least 1 \(or 'full'\)"),
    "unknown optimizer": (lambda t, r: ["train", "--optimizer", "adamm"], 2, r"unknown optimizer 'adamm'"),
    "unknown data set": (lambda t, r: ["train", "--dataset", "nope"], 2, r"unknown data set 'nope'"),
    "name with a path": (lambda t, r: ["train", "--name", "a/b"], 2, r"must be a plain folder name"),
    "resume without folder": (lambda t, r: ["train", "--resume"], 2, r"needs --checkpoint-dir"),
    "divergence factor below 1": (lambda t, r: ["train", "--divergence-factor", "0.5"], 2,
                                  r"'--divergence-factor'.*must be > 1, or 0"),
    "lr-find range reversed": (lambda t, r: ["lr-find", "--start-lr", "2", "--end-lr", "1"], 2,
                               r"need 0 < start_lr < end_lr"),
    "config missing": (lambda t, r: ["train", "--config", str(t / "none.toml")], 2, r"none\.toml' does not exist"),
    "config is a folder": (lambda t, r: ["train", "--config", str(t)], 2, r"is a directory"),
    "config not TOML": (lambda t, r: ["train", "--config", str(_write(t / "c.toml", "epochs = = 3\n"))], 2,
                        r"c\.toml' is not valid TOML"),
    "config unknown key": (lambda t, r: ["train", "--config", str(_write(t / "c.toml", "epoch = 3\n"))], 2,
                           r"unknown key 'epoch' \(did you mean 'epochs'\?\)"),
    "config key of lr-find in train": (
        lambda t, r: ["train", "--config", str(_write(t / "c.toml", "epochs = 1\nsteps = 50\n"))], 2,
        r"c\.toml': key 'steps' is not read by descend train \(key of descend lr-find\)"),
    "config key of train in lr-find": (
        lambda t, r: ["lr-find", "--config", str(_write(t / "c.toml", "epochs = 1\n"))], 2,
        r"c\.toml': key 'epochs' is not read by descend lr-find \(key of descend train\)"),
    "sweep key of lr-find": (
        lambda t, r: ["sweep", str(_write(t / "s.toml", "steps = 50\n[grid]\nlr = [0.1]\n"))], 2,
        r"s\.toml: 'steps' cannot be set in a sweep \(it is a key of descend lr-find"),
    "config wrong type": (lambda t, r: ["train", "--config", str(_write(t / "c.toml", 'epochs = "ten"\n'))], 2,
                          r"'epochs' in .*c\.toml: expected an integer, got 'ten'"),
    "config not UTF-8": (lambda t, r: ["train", "--config", str(_write(t / "c.toml", b"\xff\xfeepochs = 3\n"))],
                         2, r"c\.toml' is not UTF-8 text \(byte 0xff at position 0\)", True),
    "config integer beyond 64 bits": (
        lambda t, r: ["train", "--config", str(_write(t / "c.toml", "epochs = 99999999999999999999\n"))], 2,
        r"'epochs' in .*c\.toml: 99999999999999999999 is out of range", True),
    "layer sizes beyond memory": (lambda t, r: ["train", "--dataset", "iris", "--model", "64,1000000000000,10"], 2,
                                  r"'--model'.*64,1000000000000,10.*TiB in float32.*more than this machine's",
                                  True),
    "data file missing": (lambda t, r: ["train", "--data", str(t / "none.csv")], 1, r"none\.csv' does not exist"),
    "data csv with text": (lambda t, r: ["train", "--data", str(_write(t / "d.csv", "1,2,0\n3,x,1\n"))], 1,
                           r"d\.csv"),
    "data unknown type": (lambda t, r: ["train", "--data", str(_write(t / "d.bin", "1"))], 2,
                          r"unknown file type"),
    "idx size wraps 64 bits": (
        lambda t, r: ["train", "--data", f"{_idx(t / 'i-idx3-ubyte', (65536,) * 4, b'x' * 10)},"
                                         f"{_idx(t / 'l-idx1-ubyte', (1,), b'x')}"], 1,
        r"i-idx3-ubyte is truncated: shape \(65536, 65536, 65536, 65536\) needs 18446744073709551616 bytes",
        True),
    "idx bad magic": (lambda t, r: ["train", "--data", f"{_write(t / 'i-idx3-ubyte', b'PK' + bytes(20))},"
                                                       f"{_idx(t / 'l-idx1-ubyte', (1,), b'x')}"], 1,
                      r"i-idx3-ubyte is not an IDX file: bad magic number"),
    # ---- landscapes: a failure leaves no empty output folder behind
    "basins grid beyond memory": (lambda t, r: ["basins", "himmelblau", "--resolution", "1000000", "--no-plots"],
                                  2, r"--resolution.*a 1000000×1000000 grid of 1,000,000,000,000 starts needs at "
                                     r"least \d+ TiB, more than this machine's .* of memory"),
    "landscape steps beyond memory": (
        lambda t, r: ["landscape", "himmelblau", "--steps", "9000000000000000000", "--no-plots"], 2,
        r"--steps.*9000000000000000000 steps of 4 optimizers record paths of .* PiB, more than this machine's"),
    "landscape frames beyond memory": (
        lambda t, r: ["landscape", "himmelblau", "--steps", "5", "--frames", "9000000000000000000"], 2,
        r"--frames.*9000000000000000000 frames need .* PiB to list their steps, more than this machine's"),
    "search budget beyond memory": (
        lambda t, r: ["search", "himmelblau", "--budget", "9000000000000000000", "--no-plots"], 2,
        r"--budget.*9000000000000000000 evaluations of \d+ methods record .* PiB, more than this machine's"),
    "batch-modes epochs beyond memory": (lambda t, r: ["batch-modes", "--epochs", "9000000000000000000"], 2,
                                         r"--epochs.*9000000000000000000 epochs of \d+ examples make .* updates, "
                                         r"whose losses take .* PiB, more than this machine's"),
    "sweep workers beyond memory": (
        lambda t, r: ["sweep", str(_write(t / "s.toml", "epochs = 1\n[grid]\nlr = [0.1]\n")),
                      "--workers", "1000000000"], 2,
        r"--workers.*a local cluster of 1000000000 worker processes needs at least .* PiB \(64 MiB each\), "
        r"more than this machine's"),
    # ---- every integer flag of every command lies in 64 bits, as train's flags and TOML keys do
    **{f"{words[0]} {words[-1]} beyond 64 bits": (
        lambda t, r, words=words: [*words, "99999999999999999999"], 2,
        rf"'{words[-1]}'.*99999999999999999999 is out of range \(integers must lie in "
        r"\[-9223372036854775808, 9223372036854775807\]\)")
       for words in (("train", "--epochs"), ("batch-modes", "--epochs"), ("batch-modes", "--batch-size"),
                     ("batch-modes", "--seed"), ("landscape", "himmelblau", "--steps"),
                     ("landscape", "himmelblau", "--frames"), ("basins", "himmelblau", "--steps"),
                     ("basins", "himmelblau", "--resolution"), ("search", "himmelblau", "--budget"),
                     ("search", "himmelblau", "--seed"), ("search", "himmelblau", "--starts"),
                     ("sweep", "s.toml", "--workers"), ("sweep", "s.toml", "--retries"),
                     ("playground", "--threads"))},
    "playground port beyond 65535": (lambda t, r: ["playground", "--port", "99999999999999999999"], 2,
                                     r"'--port'.*less than or equal to 65535"),
    "landscape output is a file": (lambda t, r: ["landscape", "himmelblau", "--out", str(_write(t / "o", "x"))],
                                   2, r"'--out'.*: dir '.*o' is a file"),
    # ---- evaluate and predict
    "run folder missing": (lambda t, r: ["evaluate", str(t / "nope")], 1, r"run folder .*nope' does not exist"),
    "not a run folder": (lambda t, r: ["evaluate", str(t)], 1, r"is not a run folder \(no model\.npz\)"),
    "model not npz": (lambda t, r: ["evaluate", str(_write(t / "model.npz", "text"))], 1,
                      r"model\.npz' is corrupt or not a descend checkpoint"),
    "nan weight": (lambda t, r: ["evaluate", str(_tampered(r, t / "run", lambda s: _set_weight(s, np.nan)))], 1,
                   r"model\.npz': parameter '0\.weight' holds 1 non-finite value", True),
    "inf weight (predict)": (lambda t, r: ["predict", str(_tampered(r, t / "run", lambda s: _set_weight(s, np.inf)))],
                             1, r"parameter '0\.weight' holds 1 non-finite value\(s\) \(inf", True),
    "integer weights": (lambda t, r: ["predict", str(_tampered(
        r, t / "run", lambda s: s["state_dict"].update({_first_weight(s): np.ones((4, 4), np.int64)})))], 1,
        r"parameter '0\.weight' has dtype int64; parameters are floating-point", True),
    "mean of wrong length": (lambda t, r: ["evaluate", str(_tampered(
        r, t / "run", lambda s: s["preprocessing"].update(mean=np.zeros(5))))], 1,
        r"model\.npz': the preprocessing 'mean' has shape \(5,\); the model has 4 features", True),
    "scale zero": (lambda t, r: ["predict", str(_tampered(
        r, t / "run", lambda s: s["preprocessing"].update(scale=np.zeros(4))))], 1,
        r"the preprocessing 'scale' must be positive"),
    "classes too short (predict)": (lambda t, r: ["predict", str(_tampered(
        r, t / "run", lambda s: s["preprocessing"].update(classes=s["preprocessing"]["classes"][:2])))], 1,
        r"model\.npz': the preprocessing 'classes' lists 2 labels; the model has 3 outputs", True),
    "classes too short (evaluate)": (lambda t, r: ["evaluate", str(_tampered(
        r, t / "run", lambda s: s["preprocessing"].update(classes=s["preprocessing"]["classes"][:2])))], 1,
        r"the preprocessing 'classes' lists 2 labels; the model has 3 outputs", True),
    "absurd sizes in a model file": (lambda t, r: ["evaluate", str(_tampered(
        r, t / "run", lambda s: s["architecture"].update(sizes=[4, 10**12, 3])))], 1,
        r"model\.npz' is damaged.*4,1000000000000,3 make 8,000,000,000,003 parameters", True),
    "output in a missing folder": (lambda t, r: ["predict", str(r), "-o", str(t / "missing_dir" / "x.csv")], 1,
                                   r"cannot write .*x\.csv': the folder .*missing_dir' does not exist", True),
    "output below a file": (lambda t, r: ["predict", str(r), "-o", str(_write(t / "f.csv", "mine") / "x.csv")], 1,
                            r"cannot write .*x\.csv': '.*f\.csv' is a file, not a folder"),
    "output exists": (lambda t, r: ["predict", str(r), "-o", str(_write(t / "x.csv", "mine"))], 1,
                      r"x\.csv' already exists \(never overwritten\)"),
    "features of the wrong width": (lambda t, r: ["predict", str(r), "--data", str(_write(t / "d.csv", "1,2\n3,4\n"))],
                                    1, r"data has 2 features per example; the model in .* expects 4"),
    "unseen labels": (lambda t, r: ["evaluate", str(r), "--data", str(_write(t / "d.csv", "1,2,3,4,9\n1,2,3,4,8\n"))],
                      1, r"labels \[8, 9\] were not seen in training"),
}


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_its_error_and_changes_nothing(case, tmp_path, trained, monkeypatch):
    setup, code, pattern, *_ = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default runs folder would be ./runs
    args = setup(work, trained)
    before = _snapshot(work)
    trained_before = _snapshot(trained)
    r = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert r.exit_code == code, r.output
    flat = " ".join(re.sub("[\u2500-\u257f]", " ", r.output).split())  # without rich's box
    assert re.search(pattern, flat), flat
    if code == 1:
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert _snapshot(work) == before and _snapshot(trained) == trained_before


def test_the_table_covers_the_issue_16_cases():
    issue16 = [name for name, case in CASES.items() if len(case) > 3 and case[3]]
    assert len(CASES) >= 35 and len(issue16) == 12


def test_core_only_command_says_which_extra_to_install():
    # typer missing, as after `pip install descend` without extras (the console script runs
    # descend.__main__:main, as `python -m descend` does)
    code = ("import sys; sys.modules['typer'] = None; import runpy; "
            "runpy.run_module('descend', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "error: the descend command needs the 'cli' extra (typer is not installed): pip install 'descend[cli]'"]


def test_the_console_script_is_the_guarded_entry():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["descend"] == "descend.__main__:main"
