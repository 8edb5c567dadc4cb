"""``descend playground``: starts, serves the page on loopback, stops cleanly on Ctrl-C."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import zipfile

import pytest

pytest.importorskip("typer")
pytest.importorskip("uvicorn")
from typer.testing import CliRunner  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

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
        # a tab that is training when Ctrl-C comes: its session is stopped with the server
        with connect(url.group(0).replace("http://", "ws://") + "ws", open_timeout=10) as ws:
            assert json.loads(ws.recv())["type"] == "hello"
            ws.send(json.dumps({"type": "config", "config": {"hidden": [32] * 6}}))
            ws.send(json.dumps({"type": "play"}))
            for _ in range(6):
                if json.loads(ws.recv(timeout=10))["type"] == "frame":
                    ws.send(json.dumps({"type": "drawn"}))
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
        driven.send({"type": "export", "what": "config"})
        export = driven.wait_for("export")
        zipfile.ZipFile(io.BytesIO(base64.b64decode(export["base64"]))).extractall(tmp_path)
    finally:
        driven.close()
    # classification: descend train's softmax over two logits is not the page's one logit
    assert "Not the same run" in (tmp_path / "config.toml").read_text()
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "config.toml"),
                                      "--no-progress", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "model 2,5,3,2 (tanh), momentum lr=0.05, batch 16" in result.output
    assert "350 train / 0 validation / 150 test" in result.output  # the page's split


def test_descend_train_repeats_the_exported_run(tmp_path, monkeypatch):
    """Regression with a linear activation, L1, dropout, Adam and mini-batches: the exported
    config run by ``descend train`` ends at the page's train and test loss."""
    from .helpers import DrivenSession

    driven = DrivenSession()
    try:
        driven.configure(dataset="plane", hidden=[6, 5], activation="linear", regularization="l1",
                         reg_rate=0.003, optimizer="adam", lr=0.02, batch_mode="minibatch",
                         batch_size=16, dropout=0.1, steps_per_frame=23)
        driven.send({"type": "play"})
        driven.wait_for("frame", where=lambda f: f["step"] >= 40)
        driven.send({"type": "pause"})
        driven.wait_for("status", where=lambda s: not s["playing"])
        now = driven.session.frame()
        driven.send({"type": "export", "what": "config"})
        export = driven.wait_for("export")
    finally:
        driven.close()
    zipfile.ZipFile(io.BytesIO(base64.b64decode(export["base64"]))).extractall(tmp_path)
    text = (tmp_path / "config.toml").read_text()
    assert "Not the same run" not in text and "l1 = 0.003" in text
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "--config", "config.toml", "--no-progress",
                                      "--runs-dir", "runs"])
    assert result.exit_code == 0, result.output
    (run,) = list((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == now["step"]
    assert metrics["train_loss"] == pytest.approx(now["train_loss"], rel=1e-6)
    assert metrics["test_loss"] == pytest.approx(now["test_loss"], rel=1e-6)
