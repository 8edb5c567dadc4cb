"""``descend playground``: starts, serves the page on loopback, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("typer")
pytest.importorskip("uvicorn")
from typer.testing import CliRunner  # noqa: E402

from descend.cli import app  # noqa: E402
from descend.playground import server  # noqa: E402


def test_serves_the_page_on_loopback_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "descend", "playground", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, f"no address announced: {line!r} {proc.stderr.read() if proc.poll() else ''}"
        with urllib.request.urlopen(url.group(0), timeout=10) as response:
            assert b"descend playground" in response.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in proc.stderr.read()


def test_a_host_other_than_loopback_is_announced_with_a_warning(monkeypatch):
    seen = {}

    def fake_serve(host, port, open_browser, announce):
        seen.update(host=host, port=port, open_browser=open_browser)

    monkeypatch.setattr(server, "serve", fake_serve)
    result = CliRunner().invoke(app, ["playground", "--host", "0.0.0.0", "--port", "8123",
                                      "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "warning: listening on 0.0.0.0" in result.output
    assert seen == {"host": "0.0.0.0", "port": 8123, "open_browser": False}
    result = CliRunner().invoke(app, ["playground", "--no-browser"])
    assert "warning" not in result.output and seen["host"] == "127.0.0.1"


def test_a_port_in_use_is_a_usage_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["playground", "--no-browser", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_the_exported_config_trains_with_descend_train(tmp_path):
    from .helpers import DrivenSession

    driven = DrivenSession()
    try:
        driven.configure(hidden=[5, 3], batch_size=16, optimizer="momentum", lr=0.05)
        for _ in range(30):
            driven.send({"type": "step"})
        driven.wait_for("frame", where=lambda f: f["step"] == 30)
        for what in ("config", "data"):
            driven.send({"type": "export", "what": what})
            export = driven.wait_for("export")
            (tmp_path / export["filename"]).write_text(export["text"])
    finally:
        driven.close()
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "config.toml"),
                                      "--no-progress", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "model 2,5,3,2 (tanh), momentum lr=0.05, batch 16" in result.output
