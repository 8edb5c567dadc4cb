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
