import csv

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.optim import lr_scheduler
from descend.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    fit,
)

from ._helpers import assert_same_params, params_of, small_mlp


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, state):
        self.events.append(("train_begin", state.step))

    def on_epoch_begin(self, state):
        self.events.append(("epoch_begin", state.epoch))

    def on_step_end(self, state):
        self.events.append(("step", state.step, state.batch, state.loss, state.lr))

    def on_epoch_end(self, state):
        self.events.append(("epoch_end", state.logs["epoch"], state.logs["step"]))

    def on_train_end(self, state):
        self.events.append(("train_end", state.stop_reason))


def test_hooks_are_called_in_order(blobs):
    X, y = blobs
    rec = Recorder()
    m = small_mlp(0)
    h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.1),
            batch_size=50, epochs=2, callbacks=[rec], progress=False, seed=0)
    kinds = [e[0] for e in rec.events]
    assert kinds == ["train_begin", "epoch_begin", "step", "step", "step", "epoch_end",
                     "epoch_begin", "step", "step", "step", "epoch_end", "train_end"]
    steps = [e for e in rec.events if e[0] == "step"]
    assert [s[1] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s[2] for s in steps] == [1, 2, 3, 1, 2, 3]
    assert [s[3] for s in steps] == h.step_loss
    assert all(s[4] == 0.1 for s in steps)
    assert rec.events[-1] == ("train_end", "epochs")


def test_early_stopping_callback_monitors_max(blobs):
    X, y = blobs
    m = small_mlp(0)
    es = EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.0),
            epochs=10, validation=(X, y), metrics=["accuracy"], callbacks=[es], progress=False)
    # lr=0: accuracy never improves after the first epoch
    assert h.stop_reason == "early_stopping" and len(h.epochs) == 3
    assert es.best == h.epochs[0]["val_accuracy"] and es.best_epoch == 1
    assert "did not improve for 2 epochs" in h.stop_message


def test_early_stopping_needs_the_monitored_key(blobs):
    X, y = blobs
    m = small_mlp(0)
    with pytest.raises(ValueError, match=r"'val_loss' is not in the epoch record \(pass validation="):
        fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=2,
            callbacks=[EarlyStopping()], progress=False)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_model_checkpoint_files(blobs, tmp_path):
    X, y = blobs
    m = small_mlp(0)
    every = ModelCheckpoint(tmp_path / "m-{epoch:02d}.npz")
    best = ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss", save_best_only=True)
    seen = []

    class Snap(Callback):
        def on_epoch_end(self, state):
            seen.append(params_of(state.model))

    h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.Adam(m.parameters(), lr=0.01),
            epochs=3, validation=(X[:40], y[:40]), callbacks=[every, best, Snap()], progress=False, seed=0)
    for e in range(3):
        assert_same_params(descend.load(tmp_path / f"m-{e + 1:02d}.npz"), seen[e])
    i_best = int(np.argmin(h.metric("val_loss")))
    assert best.best_score == h.epochs[i_best]["val_loss"]
    assert_same_params(descend.load(tmp_path / "best.npz"), seen[i_best])
    m2 = small_mlp(5)
    m2.load_state_dict(descend.load(every.last_model_path))
    assert_same_params(params_of(m2), params_of(m))


def test_model_checkpoint_bad_template(blobs, tmp_path):
    X, y = blobs
    m = small_mlp(0)
    with pytest.raises(ValueError, match="cannot fill in filepath"):
        fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=1, progress=False,
            callbacks=[ModelCheckpoint(tmp_path / "m-{val_loss}.npz")])


def test_learning_rate_monitor_with_a_step_scheduler(blobs):
    X, y = blobs
    m = small_mlp(0)
    opt = optim.SGD(m.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    per_epoch = LearningRateMonitor()
    per_step = LearningRateMonitor(logging_interval="step")
    h = fit(m, (X, y), loss="cross_entropy", optimizer=opt, scheduler=sched, batch_size=60, epochs=5,
            callbacks=[per_epoch, per_step], progress=False, seed=0)
    assert per_epoch.lrs == [[0.1], [0.1], [0.05], [0.05], [0.025]]
    assert h.step_lr == [0.1] * 4 + [0.05] * 4 + [0.025] * 2
    assert [v[0] for v in per_step.lrs] == h.step_lr
    assert per_step.steps == list(range(1, 11))
    assert h.metric("lr") == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_scheduler_per_step(blobs):
    X, y = blobs
    m = small_mlp(0)
    opt = optim.SGD(m.parameters(), lr=1.0)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    h = fit(m, (X, y), loss="cross_entropy", optimizer=opt, scheduler=sched, scheduler_interval="step",
            batch_size=40, epochs=2, progress=False, seed=0)
    assert h.step_lr == [0.5 ** k for k in range(6)]


def test_reduce_on_plateau_gets_the_validation_loss(linear_data):
    X, y = linear_data
    m = nn.Linear(1, 1, bias=False)
    opt = optim.SGD(m.parameters(), lr=0.01)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    # validation on -y: the val loss rises every epoch, so each epoch halves the rate
    h = fit(m, (X, y), loss="mse", optimizer=opt, scheduler=sched, batch_size=None, epochs=4,
            validation=(X, -y), progress=False)
    assert h.metric("lr") == [0.01, 0.01, 0.005, 0.0025]


def test_csv_logger_writes_each_epoch(blobs, tmp_path):
    X, y = blobs
    m = small_mlp(0)
    path = tmp_path / "log.csv"
    h = fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=3, metrics=["accuracy"],
            callbacks=[CSVLogger(path)], progress=False, seed=0)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3
    assert [float(r["train_loss"]) for r in rows] == h.metric("train_loss")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=2,
        callbacks=[CSVLogger(path, append=True)], progress=False, seed=0)
    assert len(list(csv.DictReader(path.open()))) == 5
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=1,
        callbacks=[CSVLogger(path)], progress=False, seed=0)
    assert len(list(csv.DictReader(path.open()))) == 1
