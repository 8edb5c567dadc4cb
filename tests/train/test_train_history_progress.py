import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import descend
from descend import optim
from descend.train import History, accuracy, fit, mean_absolute_error
from descend.train.progress import PlainProgress, RichProgress, SilentProgress, make_progress

from ._helpers import small_mlp


@pytest.fixture
def history(blobs):
    X, y = blobs
    m = small_mlp(0)
    return fit(m, (X, y), loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.1),
               batch_size=40, epochs=3, validation=(X, y), metrics=["accuracy"], progress=False, seed=0)


def test_to_csv(history, tmp_path):
    history.to_csv(tmp_path / "e.csv")
    rows = list(csv.DictReader((tmp_path / "e.csv").open()))
    assert [float(r["val_accuracy"]) for r in rows] == history.metric("val_accuracy")
    assert list(rows[0]) == history.columns()
    history.to_csv(tmp_path / "s.csv", per_step=True)
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert len(rows) == history.steps == 9
    assert [float(r["loss"]) for r in rows] == history.step_loss
    assert [float(r["grad_norm"]) for r in rows] == history.step_grad_norm


def test_json_round_trip(history, tmp_path):
    history.stop_message += " (nan in a record survives)"
    history.epochs[0]["val_loss"] = float("nan")
    history.to_json(tmp_path / "h.json")
    json.loads((tmp_path / "h.json").read_text())  # strict JSON: no bare NaN
    back = History.from_json(tmp_path / "h.json")
    assert back.step_loss == history.step_loss
    assert back.step_lr == history.step_lr
    assert back.stop_reason == history.stop_reason == "epochs"
    assert back.stop_message == history.stop_message
    assert np.isnan(back.epochs[0]["val_loss"])
    assert back.epochs[1:] == history.epochs[1:]
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a saved History"):
        History.from_json(tmp_path / "bad.json")


def test_repr_and_best_epoch(history):
    assert "stop_reason='epochs'" in repr(history) and "epochs=3" in repr(history)
    best = history.best_epoch
    assert best["val_loss"] == min(history.metric("val_loss"))
    assert len(history) == 3


def test_plot(history):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    assert history.plot() is not None


def test_plain_progress_lines(blobs, capsys):
    X, y = blobs
    m = small_mlp(0)
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=2, progress=True, seed=0)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("epoch 1/2  train_loss ")
    assert out[-2].startswith("epoch 2/2  train_loss ")  # the last epoch is always shown
    assert out[-1] == "stopped: epochs - ran 2 epochs"


def test_silent_without_progress(blobs, capsys):
    X, y = blobs
    m = small_mlp(0)
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=2, progress=False, seed=0)
    assert capsys.readouterr().out == ""


def test_plain_progress_throttles_step_lines():
    buf = io.StringIO()
    p = PlainProgress(stream=buf, interval=0.0)
    p.start(epochs=2, steps_per_epoch=3, total_steps=6)
    p.step(0, 1, 1, 0.5)
    p.step(0, 2, 2, 0.25)
    assert buf.getvalue().splitlines()[0].startswith("epoch 1/2  step 1/3  loss 0.5")
    quiet = io.StringIO()
    q = PlainProgress(stream=quiet, interval=60.0)
    q.start(epochs=2, steps_per_epoch=3, total_steps=6)
    for i in range(100):
        q.step(0, 1, i, 0.5)
    assert quiet.getvalue() == ""


def test_rich_bar_in_a_terminal(blobs, monkeypatch):
    pytest.importorskip("rich")

    class TTY(io.StringIO):
        def isatty(self):
            return True

    buf = TTY()
    monkeypatch.setattr(sys, "stdout", buf)
    display = make_progress(True)
    assert isinstance(display, RichProgress)
    X, y = blobs
    m = small_mlp(0)
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=2, progress=display, seed=0)
    text = buf.getvalue()
    assert "stopped: epochs" in text and "epoch 1" in text
    assert "loss nan" not in text  # before the first step the bar says it has no loss yet


def test_rich_bar_before_the_first_step_has_no_nan_loss(monkeypatch):
    pytest.importorskip("rich")

    class TTY(io.StringIO):
        def isatty(self):
            return True

    buf = TTY()
    monkeypatch.setattr(sys, "stdout", buf)
    display = make_progress(True)
    display.start(epochs=3, steps_per_epoch=4, total_steps=12)
    display._bar.refresh()
    first = buf.getvalue()
    display.step(0, 1, 1, 0.5)
    display._bar.refresh()
    assert "loss —" in first and "nan" not in first
    assert "loss 0.5" in buf.getvalue()


def test_make_progress_choices():
    assert isinstance(make_progress(False), SilentProgress)
    with pytest.raises(TypeError, match="progress"):
        make_progress("yes")


def test_core_imports_without_rich_or_matplotlib():
    code = ("import sys, numpy as np, descend\n"
            "from descend import nn, train\n"
            "m = nn.Linear(1, 1)\n"
            "X = np.ones((4, 1), np.float32)\n"
            "train.fit(m, (X, X), loss='mse', optimizer='sgd', epochs=1, progress=True)\n"
            "print(sorted(k for k in ('rich', 'matplotlib', 'sklearn', 'torch') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_metric_functions():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    assert accuracy(logits, np.array([0, 1, 0, 0])) == 0.75
    assert accuracy(logits, descend.data.one_hot([0, 1, 2, 0], 3)) == 1.0
    assert accuracy(np.array([[1.5], [-0.5], [0.2]]), np.array([1, 0, 0])) == 2 / 3
    assert accuracy(np.array([0.9, 0.2]), np.array([1, 1]), threshold=0.5) == 0.5
    assert mean_absolute_error(np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[1.0, 0.0], [3.0, 4.0]])) == 0.75
    with pytest.raises(ValueError, match="outputs"):
        accuracy(logits, np.array([0, 1]))


def test_one_epoch_is_singular(blobs):
    X, y = blobs
    history = fit(small_mlp(0), (X, y), loss="cross_entropy", optimizer="sgd", epochs=1, progress=False)
    assert history.stop_message == "ran 1 epoch"


def test_keep_last_bounds_a_history_and_keeps_counting_its_steps():
    h = History()
    for i in range(10):
        h.step_loss.append(float(i))
        h.step_lr.append(0.1)
        h.step_grad_norm.append(1.0)
        h.epochs.append({"epoch": i + 1, "step": i + 1, "train_loss": float(i)})
    h.keep_last(3)
    assert h.step_loss == [7.0, 8.0, 9.0] and len(h.step_lr) == len(h.step_grad_norm) == 3
    assert [r["epoch"] for r in h.epochs] == [8, 9, 10]
    assert h.steps == 10
    h.keep_last(5)  # nothing more to forget
    assert h.steps == 10 and len(h.step_loss) == 3
    with pytest.raises(ValueError, match="keep_last"):
        h.keep_last(0)
