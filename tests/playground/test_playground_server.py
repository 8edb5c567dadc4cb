"""The server through Starlette's test client: the page and its files, the WebSocket protocol,
validation of every message, one session per connection, freed when it closes."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")  # what starlette.testclient needs
from starlette.testclient import TestClient  # noqa: E402

from descend.playground import landscape, server  # noqa: E402


@pytest.fixture
def client():
    app = server.create_app()
    with TestClient(app) as c:
        yield c


def receive(ws, kind, where=None, limit=500):
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == "frame":
            ws.send_json({"type": "drawn"})  # as the page does once a frame is on screen
        if message["type"] == kind and (where is None or where(message)):
            return message
        if message["type"] == "error" and kind != "error":
            raise AssertionError(message["message"])
    raise AssertionError(f"no {kind!r} message")


def test_the_page_and_its_files_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for src in ("/static/common.js", "/static/network.js", "/static/landscape.js",
                "/static/playground.css"):
        assert src in page.text
        assert client.get(src).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    assert client.get("/static/nothing.js").status_code == 404


def test_hello_then_config_ready_frame_and_play(client):
    with client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello"
        assert "himmelblau" in hello["landscapes"] and "adam" in hello["schema"]["optimizers"]
        ws.send_json({"type": "config", "config": {"optimizer": "adam", "lr": 0.03}})
        ready = receive(ws, "ready")
        assert ready["config"]["optimizer"] == "adam" and ready["equation"][0].startswith("g =")
        assert receive(ws, "frame")["step"] == 0
        ws.send_json({"type": "play"})
        frame = receive(ws, "frame", lambda f: f["step"] >= 100)
        assert frame["train_loss"] is not None
        ws.send_json({"type": "pause"})
        receive(ws, "status", lambda s: not s["playing"])


@pytest.mark.parametrize("text, says", [
    ("not json", "not a JSON message"),
    ("[1, 2]", "an object with a 'type'"),
    ('{"type": 7}', "an object with a 'type'"),
    ('{"type": "_close"}', "unknown request type"),
    ('{"type": "launch"}', "unknown request type"),
    ('{"type": "config", "config": {"hidden": [1000]}}', "hidden must be"),
    ('{"type": "config", "config": "circle"}', "must be an object"),
    ('{"type": "step"}', "no network yet"),
    ('{"type": "landscape", "action": "race", "function": "nowhere"}', "function must be one of"),
    ('{"type": "landscape", "action": "dig"}', "action must be one of"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),  # the parser's recursion runs out
])
def test_a_malformed_message_gets_an_error_and_the_server_keeps_serving(client, text, says):
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_text(text)
        assert says in receive(ws, "error")["message"]
        ws.send_json({"type": "config", "config": {}})
        assert receive(ws, "ready")["config"]["dataset"] == "circle"


def test_a_binary_message_gets_an_error_and_the_connection_goes_on(client):
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_bytes(b"\x00\x01{}")
        assert "not binary" in receive(ws, "error")["message"]
        ws.send_json({"type": "config", "config": {}})
        assert receive(ws, "ready")["config"]["dataset"] == "circle"


def test_an_oversized_message_is_refused(client):
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_text(json.dumps({"type": "upload", "name": "x.csv", "text": "1" * server.MAX_MESSAGE_CHARS}))
        assert "too large" in receive(ws, "error")["message"]


def test_each_connection_has_its_own_session_freed_on_close(client):
    app = client.app
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        receive(a, "hello")
        receive(b, "hello")
        a.send_json({"type": "config", "config": {"hidden": [2]}})
        b.send_json({"type": "config", "config": {"hidden": [7, 7]}})
        assert receive(a, "ready")["sizes"] == [2, 2, 1]
        assert receive(b, "ready")["sizes"] == [2, 7, 7, 1]
        assert len(app.state.sessions) == 2
        threads = [s._thread for s in app.state.sessions]
    deadline = time.monotonic() + 10
    while (app.state.sessions or any(t.is_alive() for t in threads)) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not app.state.sessions
    assert not any(t.is_alive() for t in threads)


def test_a_page_of_another_site_cannot_connect(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect(
            "/ws", headers={"origin": "http://evil.example"}) as ws:
        ws.receive_json()
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_landscape_requests_over_the_socket(client):
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "landscape", "action": "race", "function": "himmelblau",
                      "start": [0.5, 0.5], "optimizers": ["sgd", "adam"], "steps": 50})
        race = receive(ws, "landscape")
        assert [r["optimizer"] for r in race["runs"]] == ["sgd", "adam"]


def test_landscape_answers_are_written_as_json_outside_the_event_loop(client, monkeypatch):
    # a basin map's or a race's text takes milliseconds to write: the event loop (which wrote
    # "hello") must not spend them while the Network tab waits for its answers
    writers = {}
    dumps = json.dumps

    def recording_dumps(message, **kwargs):
        writers.setdefault(message.get("type"), set()).add(threading.get_ident())
        return dumps(message, **kwargs)

    monkeypatch.setattr(server.json, "dumps", recording_dumps)
    with client.websocket_connect("/ws") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "landscape", "action": "describe", "function": "himmelblau"})
        receive(ws, "landscape")
    assert writers["landscape"].isdisjoint(writers["hello"])


def test_is_loopback():
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1")
    assert server.is_loopback("localhost") and not server.is_loopback("0.0.0.0")


# ------------------------------------------------------------------------- the Landscape tab
def test_describe_gives_contours_minima_and_suggested_rates():
    d = landscape.handle({"action": "describe", "function": "himmelblau"})
    assert d["grid"] == landscape.CONTOUR_GRID and len(d["minima"]) == 4
    assert d["lrs"]["sgd"] == 0.01


def test_race_runs_every_optimizer_from_the_same_start():
    r = landscape.handle({"action": "race", "function": "rosenbrock", "start": [-1.5, 2.0],
                          "optimizers": ["sgd", "adam", "lbfgs"], "steps": 200,
                          "lrs": {"adam": 0.05}})
    assert {tuple(run["path"][0]) for run in r["runs"]} == {(-1.5, 2.0)}
    adam = next(run for run in r["runs"] if run["optimizer"] == "adam")
    assert adam["lr"] == 0.05 and len(adam["path"]) == adam["nit"] + 1
    assert len(adam["evaluations"]) == len(adam["path"])


def test_search_methods_spend_the_same_budget():
    r = landscape.handle({"action": "search", "function": "rastrigin", "start": [3.0, -2.0],
                          "budget": 300, "seed": 1})
    assert [run["method"] for run in r["runs"]] == ["gradient descent", "random search",
                                                    "random local search", "simulated annealing",
                                                    "tunnelling"]
    assert all(run["nfev"] == 300 for run in r["runs"])
    for run in r["runs"]:
        assert np.all(np.diff(run["best"]) <= 0)  # best-so-far never rises
        assert run["evaluations"][-1] == run["nfev"] == len(run["path"])
    # one descent stops in Rastrigin's dimple at f = 12.93; tunnelling goes on to lower ones
    descent, tunnelling = r["runs"][0], r["runs"][-1]
    assert descent["fun"] == pytest.approx(12.93, abs=0.01)
    assert tunnelling["fun"] < 1.0 and tunnelling["best"][-1] == tunnelling["fun"]


def test_basin_map_labels_and_shares():
    b = landscape.handle({"action": "basins", "function": "six_hump_camel", "optimizer": "sgd",
                          "steps": 300, "resolution": 20})
    assert sum(b["shares"].values()) == pytest.approx(1.0)
    assert 0 < b["global_share"] < 1


@pytest.mark.parametrize("request_, says", [
    ({"action": "race", "function": "himmelblau", "start": [0, 9], "optimizers": ["sgd"]}, "outside"),
    ({"action": "race", "function": "himmelblau", "start": [0, 0], "optimizers": []}, "optimizers"),
    ({"action": "race", "function": "himmelblau", "start": [0, 0], "optimizers": ["sgd"],
      "lrs": {"sgd": -1}}, "lrs.sgd"),
    ({"action": "search", "function": "himmelblau", "start": [0, 0], "budget": 10**9}, "budget"),
    ({"action": "basins", "function": "himmelblau", "optimizer": "lbfgs"}, "L-BFGS"),
    ({"action": "basins", "function": "himmelblau", "optimizer": "sgd", "resolution": 1000},
     "resolution"),
])
def test_bad_landscape_requests_name_the_field(request_, says):
    with pytest.raises(landscape.LandscapeError, match=says):
        landscape.handle(request_)
