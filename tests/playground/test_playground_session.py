"""The Network tab's session and configuration, without a server: what the page asks for and
what comes back (frames, divergence, exports, uploads, bad requests)."""

from __future__ import annotations

import base64
import io
import os
import queue
import subprocess
import sys
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest

import descend
from descend.optim import registry
from descend.playground import config, datasets, exports, recipe, session
from descend.playground.config import ConfigError, check

from .helpers import DrivenSession


@pytest.fixture
def driven():
    d = DrivenSession()
    yield d
    d.close()


# ---------------------------------------------------------------------------- configuration
def test_defaults_and_every_optimizer_of_the_registry_offered():
    cfg = check({})
    assert cfg["dataset"] == "circle" and cfg["features"] == ["x1", "x2"]
    offered = config.schema()["optimizers"]
    assert list(offered) == registry.names()
    adam = {h["name"]: h for h in offered["adam"]}
    assert adam["betas"]["kind"] == "pair" and adam["betas"]["default"] == [0.9, 0.999]
    assert {h["name"]: h["default"] for h in offered["momentum"]}["momentum"] == 0.9  # the preset


@pytest.mark.parametrize("raw, named", [
    ({"lr": 0}, "lr"), ({"lr": "fast"}, "lr"), ({"hidden": [4, 0]}, "hidden"),
    ({"hidden": [4] * 11}, "hidden"), ({"features": []}, "features"),
    ({"features": ["x3"]}, "features"), ({"dataset": "mnist"}, "dataset"),
    ({"batch_size": 2.5}, "batch_size"), ({"optimizer": "adma"}, "optimizer"),
    ({"hyper": {"momentum": -1}}, "hyper.momentum"), ({"optimizer": "adam", "hyper": {"betas": [0.9]}}, "hyper.betas"),
    ({"hyper": {"rho": 0.9}}, "rho"), ({"learning_rate": 0.1}, "learning_rate"),
    ({"dataset": "csv"}, "upload"), ({"n_samples": 10**9}, "n_samples"), ({"noise": float("nan")}, "noise"),
    # RMSprop's average with alpha > 1 goes negative under its square root (NaN on the first
    # step); an L-BFGS step of 10⁹ iterations would hold the tab for good
    ({"optimizer": "rmsprop", "hyper": {"alpha": 2.0}}, r"hyper.alpha must be between 0 and 1"),
    ({"optimizer": "adadelta", "hyper": {"rho": 1.5}}, "hyper.rho"),
    ({"hyper": {"momentum": 0.5, "dampening": 3}}, "hyper.dampening"),
    ({"optimizer": "lbfgs", "hyper": {"max_iter": 10**9}}, "hyper.max_iter must be between 1 and 1000"),
])
def test_bad_settings_name_what_is_wrong(raw, named):
    with pytest.raises(ConfigError, match=named):
        check(raw)


def test_layers_and_neurons_beyond_tensorflow_playgrounds_caps():
    cfg = check({"hidden": [32] * 6, "features": list(datasets.FEATURES)})
    assert cfg["hidden"] == [32] * 6 and len(cfg["features"]) == 9


@pytest.mark.parametrize("name", registry.names())
def test_the_update_rule_is_written_for_every_optimizer(name):
    lines = config.update_rule(check({"optimizer": name, "lr": 0.05}), 350)
    assert lines[0].startswith("g = ∇θ") and "|B| = 10" in lines[0]
    assert any("θ ←" in line for line in lines[1:]) and any("0.05" in line for line in lines)


def test_the_equation_follows_batch_mode_regularizer_and_momentum():
    stochastic = config.update_rule(check({"batch_mode": "stochastic", "regularization": "l1",
                                           "reg_rate": 0.01}), 350)[0]
    assert "|B| = 1" in stochastic and "0.01·Σ|w|" in stochastic
    assert "|B| = 350" in config.update_rule(check({"batch_mode": "batch"}), 350)[0]
    momentum = config.update_rule(check({"optimizer": "sgd", "hyper": {"momentum": 0.5}}), 350)
    assert "b ← 0.5·b + g" in momentum


@pytest.mark.parametrize("optimizer, hyper, says", [
    ("sgd", {"momentum": 0.5, "dampening": 0.2}, "b ← 0.5·b + 0.8·g"),
    ("adagrad", {"lr_decay": 0.01}, "ηₜ = η / (1 + (t − 1)·0.01)"),
    ("adagrad", {"initial_accumulator_value": 0.1}, "s₀ = 0.1"),
    ("rmsprop", {"centered": True}, "√(v − ḡ²)"),
    ("adam", {"amsgrad": True}, "vₘₐₓ ← max(vₘₐₓ, v)"),
    ("adamw", {"amsgrad": True}, "vₘₐₓ ← max(vₘₐₓ, v)"),
    ("adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}, "θ ← θ − η·0.1·θ"),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}, "θ ← θ − η·0.1·θ"),
])
def test_the_equation_shows_each_hyperparameter_that_changes_the_rule(optimizer, hyper, says):
    plain = "\n".join(config.update_rule(check({"optimizer": optimizer}), 350))
    changed = config.update_rule(check({"optimizer": optimizer, "hyper": hyper}), 350)
    assert says in "\n".join(changed) and says not in plain
    if hyper.get("decoupled_weight_decay"):  # decoupled: not added to the gradient as well
        assert not any("(weight decay)" in line for line in changed)


# ---------------------------------------------------------------------------- data
@pytest.mark.parametrize("name", [n for n in datasets.DATASETS if n != "csv"])
def test_every_data_set_is_seeded_scaled_and_split(name):
    a = datasets.load(name, 200, 0.1, 0.25, seed=3)
    b = datasets.load(name, 200, 0.1, 0.25, seed=3)
    np.testing.assert_array_equal(a.points_train, b.points_train)
    assert len(a.points_train) == 150 and len(a.points_test) == 50
    largest = max(np.abs(a.points_train).max(), np.abs(a.points_test).max())
    assert largest == pytest.approx(5.0, rel=1e-6)
    assert a.task == datasets.DATASETS[name][0]
    if a.task == "classification":
        assert set(np.unique(a.y_train)) == {0.0, 1.0}


def test_the_mixture_is_seeded_and_checked_as_the_synthetic_sets_are():
    # seed=None draws from this thread's generator (descend.manual_seed), as make_moons does
    descend.manual_seed(5)
    first = datasets.make_gaussian_mixture(50, noise=0.1)
    descend.manual_seed(5)
    again = datasets.make_gaussian_mixture(50, noise=0.1)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    X, y = datasets.make_gaussian_mixture(50, noise=0.1, seed=np.random.default_rng(2))
    np.testing.assert_array_equal(X, datasets.make_gaussian_mixture(50, noise=0.1, seed=2)[0])
    assert X.shape == (50, 2) and y.shape == (50, 1) and X.dtype == y.dtype == np.float32
    for bad, named in (({"n_samples": 0}, "n_samples"), ({"noise": -1.0}, "noise"),
                       ({"seed": -3}, "seed")):
        with pytest.raises(ValueError, match=f"make_gaussian_mixture: {named}"):
            datasets.make_gaussian_mixture(**bad)


def test_features_follow_their_definitions():
    points = np.array([[1.0, 2.0], [-0.5, 3.0]], dtype=np.float32)
    X = datasets.features(points, ["x1", "x2sq", "x1x2", "sinx1", "cosx2"])
    expected = np.stack([points[:, 0], points[:, 1] ** 2, points[:, 0] * points[:, 1],
                         np.sin(points[:, 0]), np.cos(points[:, 1])], axis=1)
    np.testing.assert_allclose(X, expected, rtol=1e-6)


# ---------------------------------------------------------------------------- the session
def test_configure_step_and_play_send_frames_and_the_loss_falls(driven):
    ready = driven.configure(optimizer="adam", lr=0.03, hidden=[8, 8], steps_per_frame=20)
    assert ready["sizes"] == [2, 8, 8, 1] and len(ready["inputs"]) == 2
    assert len(ready["train"]) + len(ready["test"]) == 500
    first = driven.session.frame()
    driven.send({"type": "step"})
    one = driven.wait_for("frame")
    assert one["step"] == 1 and not one["playing"]
    driven.send({"type": "play"})
    later = driven.wait_for("frame", where=lambda f: f["step"] >= 400)
    driven.send({"type": "pause"})
    driven.wait_for("status", where=lambda s: not s["playing"])
    assert later["step"] % 20 == 1  # frames come every steps_per_frame steps
    assert later["test_loss"] < first["test_loss"] - 0.1
    boundary = np.frombuffer(base64.b64decode(later["boundary"]), dtype=np.int8)
    assert boundary.shape == (session.GRID * session.GRID,)
    assert boundary.min() < -100 and boundary.max() > 100  # both classes are drawn
    assert [len(layer) for layer in later["neurons"]] == [8, 8]
    assert np.array(later["weights"][1]).shape == (8, 8)


@pytest.mark.parametrize("name", registry.names())
def test_every_optimizer_trains_in_the_session(driven, name):
    ready = driven.configure(optimizer=name, lr=0.01, hidden=[4])
    assert ready["equation"] == config.update_rule(ready["config"], len(ready["train"]))
    for _ in range(3):
        driven.send({"type": "step"})
    frame = driven.wait_for("frame", where=lambda f: f["step"] == 3)
    assert frame["train_loss"] is not None and frame["diverged"] is None


def test_divergence_shows_the_guards_message_and_the_last_finite_network(driven):
    preset, _ = config.PRESETS["lr-too-high"]
    driven.configure(**preset)
    driven.send({"type": "play"})
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        frame = driven.wait_for("frame", where=lambda f: f["diverged"] is not None)
        driven.wait_for("status", where=lambda s: not s["playing"])
    # the page shows the guard's message; a warning would only reach the server's terminal
    assert not [w for w in warned if issubclass(w.category, descend.train.DivergenceWarning)]
    assert "training diverged" in frame["diverged"]["message"]
    assert frame["diverged"]["lr"] == 2.0 and frame["diverged"]["step"] == frame["step"] + 1
    assert frame["train_loss"] is not None  # the restored network's loss is finite
    assert all(np.isfinite(np.array(w)).all() for w in frame["weights"])
    # the curves have a point each step of the climb (not a line from step 0 to the end), and
    # end beyond the kept network's loss, which the numbers show
    curve = np.array(driven.session.curve)
    assert curve[:, 0].tolist() == list(range(frame["step"] + 1))
    assert np.all(np.diff(curve[:, 1]) > 0) and curve[-1, 1] > 100 * curve[0, 1]
    assert curve[0, 1] < frame["train_loss"] < curve[-1, 1]
    assert frame["epoch"] == frame["step"]  # batch mode: one step is one epoch
    driven.send({"type": "play"})
    assert "reset" in driven.wait_for("error")["message"]


def test_a_bad_request_changes_nothing_and_the_session_keeps_serving(driven):
    driven.configure(hidden=[3])
    driven.send({"type": "config", "config": {"hidden": [3], "lr": -1}})
    assert "lr must be between" in driven.wait_for("error")["message"]
    for bad in ({"type": "fly"}, {"type": "export", "what": "pdf"},
                {"type": "speed", "steps_per_frame": 0}, {"type": "upload", "name": 3}):
        driven.send(bad)
        driven.wait_for("error")
    assert driven.session.run.cfg["hidden"] == [3]
    driven.send({"type": "step"})
    assert driven.wait_for("frame")["step"] == 1


def test_a_links_bad_settings_are_left_out_and_the_rest_kept():
    cfg, problems = config.salvage({"optimizer": "adam", "hyper": {"betas": [0.8, 0.9]},
                                    "lr": -5, "hidden": [3, 3], "dataset": "csv", "colour": 1})
    assert cfg == check({"optimizer": "adam", "hyper": {"betas": [0.8, 0.9]}, "hidden": [3, 3]})
    assert len(problems) == 3 and "colour" in problems[0]
    assert any("lr must be between" in p for p in problems)
    assert any("needs an uploaded file" in p for p in problems)
    # hyper is judged against the optimizer that was kept: sgd has no betas
    cfg, problems = config.salvage({"optimizer": "fast", "hyper": {"betas": [0.8, 0.9]}})
    assert cfg["optimizer"] == "sgd" and cfg["hyper"] == {} and len(problems) == 2
    assert config.salvage([1, 2])[0] == check({})


def test_a_link_with_a_bad_value_keeps_the_rest_and_reports_it(driven):
    driven.send({"type": "config", "from_link": True,
                 "config": {"hidden": [5, 5], "optimizer": "adam", "lr": "fast"}})
    ready = driven.wait_for("ready")
    assert ready["config"]["hidden"] == [5, 5] and ready["config"]["optimizer"] == "adam"
    assert ready["config"]["lr"] == config.DEFAULTS["lr"]
    message = driven.wait_for("error")["message"]
    assert message.startswith("the link's settings were used except") and "lr must be" in message
    # without from_link, a bad value still refuses the whole request and changes nothing
    driven.send({"type": "config", "config": {"hidden": [2], "lr": "fast"}})
    assert "lr must be" in driven.wait_for("error")["message"]
    assert driven.session.run.cfg["hidden"] == [5, 5]


def test_an_internal_failure_is_reported_and_the_session_goes_on(driven, monkeypatch):
    driven.configure()
    real = session.NetworkSession.frame
    calls = {"n": 0}

    def failing_once(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ArithmeticError("a frame that cannot be drawn")
        return real(self)

    monkeypatch.setattr(session.NetworkSession, "frame", failing_once)
    driven.send({"type": "play"})
    error = driven.wait_for("error")["message"]
    assert error == "internal error (ArithmeticError): a frame that cannot be drawn"
    driven.wait_for("status", where=lambda s: not s["playing"])
    driven.send({"type": "step"})
    assert driven.wait_for("frame")["step"] > 0


def _run_script(tmp_path, text, *files):
    path = tmp_path / "run.py"
    path.write_text(text)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=True)
    words = out.stdout.split()
    return float(words[words.index("train") + 2]), float(words[words.index("test") + 2])


@pytest.mark.parametrize("settings", [
    {"optimizer": "adam", "lr": 0.03, "hidden": [6, 4], "regularization": "l2", "reg_rate": 0.001},
    {"dataset": "mixture", "optimizer": "momentum", "lr": 0.002, "hidden": [8], "dropout": 0.2,
     "activation": "tanh", "regularization": "l1", "reg_rate": 0.0005, "schedule": "step",
     "schedule_period": 50, "schedule_gamma": 0.7, "batch_mode": "stochastic",
     "features": ["x1", "x2", "sinx1", "x1x2"]},
    config.PRESETS["lr-too-high"][0],  # diverges: the script repeats the diverging step too
])
def test_the_exported_script_reproduces_the_final_loss(driven, tmp_path, settings):
    driven.configure(**settings, steps_per_frame=37)
    driven.send({"type": "play"})
    driven.wait_for("frame", where=lambda f: f["step"] >= 150 or f["diverged"])
    driven.send({"type": "pause"})
    driven.wait_for("status", where=lambda s: not s["playing"])
    driven.send({"type": "export", "what": "script"})
    script = driven.wait_for("export")
    now = driven.session.frame()
    steps = now["step"] + (1 if now["diverged"] else 0)
    assert f"max_steps={steps}" in script["text"]
    train, test = _run_script(tmp_path, script["text"])
    assert train == pytest.approx(now["train_loss"], rel=1e-6)
    assert test == pytest.approx(now["test_loss"], rel=1e-6)


def test_exports_config_model_and_data(driven, tmp_path):
    driven.configure(hidden=[5], regularization="l2", reg_rate=0.01, batch_mode="batch")
    for _ in range(3):
        driven.send({"type": "step"})
    driven.wait_for("frame", where=lambda f: f["step"] == 3)
    got = {}
    for what in exports.EXPORTS:
        driven.send({"type": "export", "what": what})
        got[what] = driven.wait_for("export")
    import tomllib

    bundle = zipfile.ZipFile(io.BytesIO(base64.b64decode(got["config"]["base64"])))
    text = bundle.read("config.toml").decode()
    toml = tomllib.loads(text)
    assert toml["model"] == [5] and toml["batch_size"] == "full" and toml["weight_decay"] == 0.02
    assert "decays the biases too" in text and "binary cross-entropy" in text  # said plainly
    train = bundle.read(toml["data"]).decode().splitlines()
    test = bundle.read(toml["test_data"]).decode().splitlines()
    lines = got["data"]["text"].splitlines()
    assert lines[0] == train[0] == test[0] == "x1,x2,label" and len(lines) == 501
    assert lines == train + test[1:]  # the data export: the training rows, then the test rows
    path = tmp_path / "model.npz"
    path.write_bytes(base64.b64decode(got["model"]["base64"]))
    state = descend.load(path)
    assert state["sizes"] == [2, 5, 1] and state["steps"] == 3
    np.testing.assert_array_equal(np.asarray(state["model"]["0.weight"]),
                                  driven.session.run.model.linears[0].weight.data)


def test_upload_a_csv_and_train_on_it(driven, tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(80, 2))
    labels = (points[:, 0] * points[:, 1] > 0).astype(int)
    text = "a,b,label\n" + "\n".join(f"{x:.4f},{y:.4f},{c}" for (x, y), c in zip(points, labels, strict=True))
    driven.send({"type": "upload", "name": "../quadrants.csv", "text": text})
    uploaded = driven.wait_for("uploaded")
    assert uploaded == {"type": "uploaded", "name": "quadrants.csv", "rows": 80}
    ready = driven.configure(dataset="csv", hidden=[4], features=["x1", "x2", "x1x2"])
    assert ready["task"] == "classification" and ready["csv_name"] == "quadrants.csv"
    assert len(ready["train"]) == 56
    for _ in range(5):
        driven.send({"type": "step"})
    driven.wait_for("frame", where=lambda f: f["step"] == 5)
    driven.send({"type": "export", "what": "script"})
    script = driven.wait_for("export")["text"]
    (tmp_path / "quadrants.csv").write_text(text)
    train, _ = _run_script(tmp_path, script)
    assert train == pytest.approx(driven.session.frame()["train_loss"], rel=1e-6)


@pytest.mark.parametrize("text, message", [
    ("1,2\n3,4\n5,6\n7,8\n", "expected 3 columns"),
    ("x,y,label\n1,2,0\n3,4,1\n", "at least 4 rows"),
    ("x,y,label\n1,2,0\n3,oops,1\n5,6,0\n7,8,1\n", "quadrants.csv"),
    ("x,y,label\n1,2,5\n3,4,5\n5,6,5\n7,8,5\n", "single class"),
])
def test_a_bad_csv_is_refused_with_a_clear_message(driven, text, message):
    driven.configure()
    driven.send({"type": "upload", "name": "quadrants.csv", "text": text})
    assert message in driven.wait_for("error")["message"]
    assert driven.session.csv_name is None


def test_an_upload_over_the_size_limit_is_refused(driven):
    driven.send({"type": "upload", "name": "big.csv",
                 "text": "1,2,0\n" * (session.MAX_UPLOAD_BYTES // 6 + 1)})
    assert "larger than the limit" in driven.wait_for("error")["message"]


def test_history_and_curves_stay_bounded(driven, monkeypatch):
    monkeypatch.setattr(session, "_HISTORY_STEPS", 200)
    monkeypatch.setattr(session, "_CURVE_POINTS", 50)
    driven.configure(batch_mode="batch", steps_per_frame=7)
    driven.send({"type": "play"})
    driven.wait_for("frame", where=lambda f: f["step"] >= 1500)
    driven.send({"type": "pause"})
    driven.wait_for("status", where=lambda s: not s["playing"])
    history = driven.session.run.trainer.history
    assert len(history.step_loss) <= 200 and len(history.epochs) <= 200
    assert history.steps == driven.session.run.trainer.global_step  # the count goes on
    assert len(driven.session.curve) <= 50


def test_frames_wait_for_the_page_and_a_pause_shows_where_training_stopped():
    """At most FRAMES_AHEAD frames are unanswered (one drawn while the next is computed); a
    pause is answered while frames wait, and a frame shows the steps done since the last one."""
    inbox: queue.Queue = queue.Queue()
    s = session.NetworkSession(inbox.put)

    def frames(wait):
        out, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                message = inbox.get(timeout=0.02)
            except queue.Empty:
                continue
            if message["type"] == "frame":
                out.append(message)
            if message["type"] == "status" and not message["playing"]:
                out.append(message)
        return out

    try:
        s.submit({"type": "config", "config": {"steps_per_frame": 3}})
        s.submit({"type": "play"})
        assert [f["step"] for f in frames(0.6)] == [0, 3][:session.FRAMES_AHEAD]
        s.frame_sent()  # the page drew one: exactly one more comes
        assert [f["step"] for f in frames(0.4)] == [6]
        s.frame_sent()
        s.submit({"type": "pause"})
        answers = frames(0.6)
        paused = next(i for i, m in enumerate(answers) if m["type"] == "status")
        shown = [m["step"] for m in answers if m["type"] == "frame"]
        # the last frame (after the pause's status, if steps were done since) shows the end
        assert (shown[-1] if shown else 6) == s.run.trainer.global_step
        assert all(m["type"] == "frame" for m in answers[paused + 1:])
    finally:
        s.close()


def test_wide_layers_send_smaller_neuron_pictures(driven):
    ready = driven.configure(hidden=[32, 4])
    assert ready["neuron_grid"] == 10 and session.GRID % ready["neuron_grid"] == 0
    frame = driven.session.frame()
    pictures = [base64.b64decode(b64) for layer in frame["neurons"] for b64 in layer]
    assert len(pictures) == 36 and {len(p) for p in pictures} == {10 * 10}
    assert [session.neuron_grid(h) for h in ([], [8], [16, 3], [21])] == [25, 25, 20, 10]


def test_closing_stops_the_worker_thread_and_removes_the_upload_folder():
    d = DrivenSession()
    d.configure()
    d.send({"type": "play"})
    d.wait_for("frame", where=lambda f: f["step"] > 0)
    folder = d.session._tmp
    d.close()
    assert not d.session._thread.is_alive() and not os.path.exists(folder)
    assert "descend-playground-session" not in [t.name for t in threading.enumerate()]


def test_a_network_without_hidden_layers_is_a_linear_model(driven):
    ready = driven.configure(hidden=[], features=["x1", "x2", "x1sq", "x2sq"])
    assert ready["sizes"] == [4, 1]
    driven.send({"type": "step"})
    frame = driven.wait_for("frame", where=lambda f: f["step"] == 1)
    assert frame["neurons"] == [] and np.array(frame["weights"][0]).shape == (1, 4)


def test_the_recipe_builds_what_the_script_spells_out():
    run = recipe.build(check({"init": "zeros", "hidden": [3]}))
    assert all(not p.data.any() for p in run.model.parameters())
    assert run.trainer.max_steps == recipe.MAX_STEPS


def _train(preset: str, steps: int):
    run = recipe.build(check(config.PRESETS[preset][0]))
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", descend.train.DivergenceWarning)
        for _ in range(steps):
            info = run.trainer.step()
            losses.append(info["loss"])
            if info["stop_reason"]:
                break
    return run, np.array(losses)


def test_the_presets_do_what_their_sentences_say():
    run, _ = _train("spiral-deep-tanh", 1500)
    assert run.losses()[1] < 0.3  # the spiral is learnt (chance: 0.69)
    run, _ = _train("lr-too-high", 50)
    assert run.trainer.stop_reason == "diverged"
    sgd, _ = _train("xor-sgd", 300)
    adam, _ = _train("xor-adam", 300)
    assert adam.losses()[0] < sgd.losses()[0] - 0.1
    _, batch = _train("batch-smooth", 200)
    _, stochastic = _train("stochastic-noisy", 200)
    # full-batch steps follow the true gradient: the loss falls smoothly; one example a step jitters
    assert np.abs(np.diff(stochastic)).mean() > 10 * np.abs(np.diff(batch)).mean()
