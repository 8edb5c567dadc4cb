"""The ``descend`` command itself: --version, flag help, a reader that closes the pipe."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

import descend
from descend.cli import app

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"descend {descend.__version__}"


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["batch-modes", "--help"]])
def test_on_off_flags_show_no_type(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.output and "--help" in r.output


@pytest.mark.parametrize("args", [["train", "--help"], ["--help"]])
def test_a_reader_that_closes_the_pipe_early_is_no_failure(args):
    # `descend train --help | head -2`: here the reader leaves before a byte is written
    proc = subprocess.Popen([sys.executable, "-m", "descend", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0 and err == b""


@pytest.mark.parametrize("args", [["predict"], ["train", "--no-such-flag"]])
def test_a_usage_error_cut_short_by_the_reader_keeps_its_exit_code(args):
    # `descend predict 2>&1 | head -2`: rich meets the closed pipe while typer prints the usage
    # error and exits 1; the command still failed to parse, so the exit stays 2
    proc = subprocess.Popen([sys.executable, "-m", "descend", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    proc.stdout.close()
    assert proc.wait(timeout=120) == 2
    assert subprocess.run([sys.executable, "-m", "descend", *args], capture_output=True,
                          timeout=120).returncode == 2


def test_a_run_whose_reader_leaves_early_is_still_trained_and_written(tmp_path):
    # `descend train | head -1`: the command used to stop at its next line of output and exit 0
    # with no run folder; the rest of its output now goes nowhere and the run is written
    proc = subprocess.Popen([sys.executable, "-m", "descend", "train", "--dataset", "iris", "--epochs", "1",
                             "--runs-dir", str(tmp_path), "--name", "r"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0 and err == b""
    assert (tmp_path / "r" / "model.npz").is_file() and (tmp_path / "r" / "report.html").is_file()
