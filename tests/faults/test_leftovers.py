"""What a crash or a race leaves behind (issue 16, items 2 and 3).

* two ``descend train --name same`` at once: the loser's run is published, visibly, as
  ``same-2`` (it used to be deleted while the message pointed at a hidden folder);
* temporary files and staging folders of descend's naming that a killed process left are
  removed by the next write (``descend.save``) or the next run in that runs folder, while those
  of live processes, here or on another machine, are left alone.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import descend
from descend.serialization import process_tag, remove_stale_temps

ROOT = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="200")


def test_two_runs_with_the_same_name_both_keep_their_results(tmp_path):
    runs = tmp_path / "RC"
    # 400 epochs (one to two seconds of training) so that both check the name before either publishes
    cmd = [sys.executable, "-m", "descend", "train", "--dataset", "iris", "--epochs", "400", "--no-progress",
           "--runs-dir", str(runs), "--name", "same"]
    procs = [subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(os.listdir(runs)) == ["same", "same-2"]  # nothing hidden is left either
    loser = next(out for out, _ in outs if "same-2" in out)
    assert "appeared while training" in loser and str(runs / "same-2") in loser
    for name in ("same", "same-2"):
        r = subprocess.run([sys.executable, "-m", "descend", "evaluate", str(runs / name)], env=_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "accuracy" in r.stdout, r.stderr


def test_save_removes_a_killed_writers_temporaries_only(tmp_path):
    host, _ = process_tag().split("-")
    dead = tmp_path / f".descend-{host}-{_dead_pid()}-{'0' * 16}.tmp"
    live = tmp_path / f".descend-{host}-{os.getppid()}-{'1' * 16}.tmp"  # the parent runs
    other_host = tmp_path / f".descend-{'f' * 6 if host != 'f' * 6 else 'e' * 6}-{_dead_pid()}-{'2' * 16}.tmp"
    someone_elses = tmp_path / ".descend-notes.tmp"
    for p in (dead, live, other_host, someone_elses):
        p.write_bytes(b"x" * 1000)
    descend.save({"w": np.ones(3)}, tmp_path / "model.npz")
    assert not dead.exists()
    assert live.exists() and other_host.exists() and someone_elses.exists()
    assert remove_stale_temps(tmp_path) == []


def test_old_untagged_temporaries_go_after_an_hour(tmp_path):
    old, new = tmp_path / f".descend-{'a' * 16}.tmp", tmp_path / f".descend-{'b' * 16}.tmp"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (0, 0))
    assert remove_stale_temps(tmp_path) == [str(old)]
    assert new.exists()


def test_a_new_run_removes_a_killed_runs_staging_folder(tmp_path):
    from descend.cli.runs import StagedRun

    host, _ = process_tag().split("-")
    dead = tmp_path / f".digits.{host}-{_dead_pid()}.abc123.partial"
    live = tmp_path / f".digits.{host}-{os.getppid()}.abc123.partial"
    for p in (dead, live):
        p.mkdir()
        (p / "config.toml").write_text("x = 1\n")
    staged = StagedRun(tmp_path, "next")
    assert not dead.exists() and live.exists()
    assert staged.path.name.startswith(f".next.{process_tag()}.")
    staged.discard()


def test_an_old_versions_staging_folder_is_left_alone(tmp_path):
    # named without a process (before process_tag): whether its run still trains cannot be told,
    # so it stays, however old (the README says to delete it by hand)
    from descend.cli.runs import remove_stale_partials

    old = tmp_path / ".digits.abc123.partial"
    old.mkdir()
    os.utime(old, (0, 0))
    assert remove_stale_partials(tmp_path) == [] and old.is_dir()
