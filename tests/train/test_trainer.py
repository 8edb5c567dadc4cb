"""Trainer: the loop behind fit, driven by run(), step() or both."""

import math
import threading
import warnings

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.optim import lr_scheduler
from descend.train import Callback, DivergenceWarning, EarlyStopping, Trainer, fit

from ._helpers import assert_same_params, params_of, small_mlp

TIMES = ("time", "epoch_time")


def _records(h):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in h.epochs]


def _same_history(a, b):
    assert a.step_loss == b.step_loss
    assert a.step_grad_norm == b.step_grad_norm
    assert a.step_lr == b.step_lr
    assert _records(a) == _records(b)
    assert (a.stop_reason, a.stop_message, a.replayed_steps) == (b.stop_reason, b.stop_message, b.replayed_steps)


def _setup(blobs, *, dropout=0.2, opt="adam", sched=None, **kw):
    X, y = blobs
    model = small_mlp(0, dropout=dropout)
    if opt == "adam":
        optimizer = optim.Adam(model.parameters(), lr=0.01)
    else:
        optimizer = optim.SGD(model.parameters(), lr=opt)
    if sched is not None:
        kw["scheduler"] = sched(optimizer)
    args = {"loss": "cross_entropy", "optimizer": optimizer, "batch_size": 16, "epochs": 3,
            "progress": False, "seed": 4, **kw}
    return model, Trainer(model, (X, y), **args)


MIXES = {
    "traced": {},
    "eager": {"compile": False},
    "step scheduler": {"sched": lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.7),
                       "scheduler_interval": "step"},
    "epoch scheduler and validation": {"sched": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8),
                                       "metrics": ("loss", "accuracy")},
}


@pytest.mark.parametrize("kind", list(MIXES))
def test_five_steps_then_run_equals_one_run(blobs, kind):
    kw = dict(MIXES[kind])
    if "validation" in kind:
        kw["validation"] = (blobs[0][:30], blobs[1][:30])
    ref_model, ref = _setup(blobs, **kw)
    ref_hist = ref.run()
    model, trainer = _setup(blobs, **kw)
    records = [trainer.step() for _ in range(5)]
    hist = trainer.run()
    assert_same_params(params_of(model), params_of(ref_model))
    _same_history(hist, ref_hist)
    assert [r["loss"] for r in records] == ref_hist.step_loss[:5]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    if kind == "traced":
        assert hist.replayed_steps > 0
    # and stepping all the way gives the same again
    model2, stepped = _setup(blobs, **kw)
    while not stepped.stopped:
        stepped.step()
    assert_same_params(params_of(model2), params_of(ref_model))
    _same_history(stepped.history, ref_hist)


def test_fit_is_trainer_run(blobs):
    X, y = blobs
    m1 = small_mlp(0, dropout=0.2)
    h1 = fit(m1, (X, y), loss="cross_entropy", optimizer=optim.Adam(m1.parameters(), lr=0.01), batch_size=16,
             epochs=2, progress=False, seed=4)
    m2, trainer = _setup(blobs, epochs=2)
    h2 = trainer.run()
    assert_same_params(params_of(m1), params_of(m2))
    _same_history(h1, h2)


def test_steps_then_run_with_checkpoints_and_resume(blobs, tmp_path):
    ref_model, ref = _setup(blobs, checkpoint_dir=tmp_path / "ref", checkpoint_every=4)
    ref_hist = ref.run()
    model, trainer = _setup(blobs, checkpoint_dir=tmp_path / "a", checkpoint_every=4)
    for _ in range(5):
        trainer.step()
    hist = trainer.run()
    assert_same_params(params_of(model), params_of(ref_model))
    _same_history(hist, ref_hist)
    # stopped by request after 10 steps (mid-epoch), then resumed in a fresh Trainer
    _, cut = _setup(blobs, checkpoint_dir=tmp_path / "b", checkpoint_every=4)
    for _ in range(10):
        cut.step()
    cut.request_stop()
    assert cut.run().stop_reason == "requested"
    resumed_model, resumed = _setup(blobs, checkpoint_dir=tmp_path / "b", resume=True)
    assert resumed.step()["step"] == 11
    hist = resumed.run()
    assert_same_params(params_of(resumed_model), params_of(ref_model))
    assert hist.step_loss == ref_hist.step_loss
    assert _records(hist) == _records(ref_hist)


def test_request_stop_from_another_thread_stops_after_the_current_step(blobs):
    reached = threading.Event()
    stopper = threading.Thread(target=lambda: (reached.wait(10), trainer.request_stop()))

    class At(Callback):
        def on_step_end(self, state):
            if state.step == 13:  # the other thread asks while this step is still running
                reached.set()
                stopper.join(10)

    model, trainer = _setup(blobs, epochs=None, max_steps=100_000, callbacks=[At()])
    stopper.start()
    hist = trainer.run()
    assert trainer.stop_reason == hist.stop_reason == "requested"
    assert hist.steps == 13 and trainer.global_step == 13
    assert hist.epochs[-1]["step"] == 13  # the partial epoch is recorded, as for any stop


def test_request_stop_between_steps_ends_the_run_without_another_step(blobs):
    ended = []

    class End(Callback):
        def on_train_end(self, state):
            ended.append(state.stop_reason)

    model, trainer = _setup(blobs, callbacks=[End()])
    trainer.step()
    trainer.step()
    before = params_of(model)
    trainer.request_stop()
    hist = trainer.run()
    assert hist.steps == 2 and hist.stop_reason == "requested" and ended == ["requested"]
    assert_same_params(params_of(model), before)
    with pytest.raises(RuntimeError, match="training has stopped"):
        trainer.step()
    assert trainer.run() is hist  # nothing left to do


def test_a_learning_rate_changed_between_steps_is_used_by_the_next_step(blobs):
    for compile in (None, False):
        model, trainer = _setup(blobs, dropout=0.0, opt=0.1, compile=compile)
        trainer.step()
        trainer.optimizer.param_groups[0]["lr"] = 0.0
        before = params_of(model)
        rec = trainer.step()
        assert rec["lr"] == 0.0 and trainer.history.step_lr == [0.1, 0.0]
        assert_same_params(params_of(model), before)  # SGD with lr 0 leaves the parameters
        trainer.optimizer.param_groups[0]["lr"] = 0.5
        rec = trainer.step()
        g = {k: v for k, v in params_of(model).items()}
        assert rec["lr"] == 0.5 and any(not np.array_equal(g[k], before[k]) for k in g)


def test_step_returns_what_happened(blobs):
    model, trainer = _setup(blobs, epochs=1)  # 120 examples: 8 batches
    recs = [trainer.step() for _ in range(8)]
    first, last = recs[0], recs[-1]
    assert set(first) == {"step", "epoch", "batch", "loss", "grad_norm", "lr", "stop_reason", "epoch_record"}
    assert (first["step"], first["epoch"], first["batch"]) == (1, 1, 1)
    assert first["lr"] == 0.01 and math.isfinite(first["loss"]) and first["grad_norm"] > 0
    assert first["stop_reason"] is None and first["epoch_record"] is None
    assert (last["step"], last["batch"], last["stop_reason"]) == (8, 8, "epochs")
    assert last["epoch_record"] is trainer.history.epochs[-1] and last["epoch_record"]["epoch"] == 1
    assert trainer.stopped and trainer.current_epoch == 1


def test_nothing_changes_until_the_first_step(blobs, tmp_path):
    X, y = blobs
    model = small_mlp(0)
    before = params_of(model)
    descend.manual_seed(123)
    expected = np.random.default_rng(123).random(2)
    trainer = Trainer(model, (X, y), loss="cross_entropy", optimizer="sgd", seed=5, progress=False,
                      checkpoint_dir=tmp_path / "ck")
    assert not (tmp_path / "ck").exists()
    np.testing.assert_array_equal(descend.random.generator().random(2), expected)
    assert_same_params(params_of(model), before)
    assert trainer.stop_reason is None and not trainer.stopped


def test_bad_arguments_are_named(blobs):
    X, y = blobs
    model = small_mlp(0)
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(model, (X, y), loss="cross_entropy", optimizer="sgd", batch_size=0)
    with pytest.raises(TypeError, match="step protocol"):
        Trainer(model, (X, y), loss="cross_entropy", optimizer="sgd", step=object())
    with pytest.raises(TypeError, match="progress"):
        Trainer(model, (X, y), loss="cross_entropy", optimizer="sgd", progress="yes")


def _loop_to_the_end(trainer):
    recs = []
    while not trainer.stopped:
        recs.append(trainer.step())
    return recs


@pytest.mark.parametrize("rule", ["tol", "max_steps", "patience", "callback"])
def test_stopping_rules_via_step_equal_run(blobs, rule):
    X, y = blobs
    kw = {"tol": {"tol": 0.5, "epochs": 40}, "max_steps": {"max_steps": 11},
          "patience": {"patience": 2, "epochs": 40, "validation": (X[:40], y[:40][::-1])},
          "callback": {}}[rule]

    def build():
        cbs = []
        if rule == "callback":
            class Stop(Callback):
                def on_epoch_begin(self, state):
                    if state.epoch == 2:
                        state.request_stop("callback", "enough")
            cbs = [Stop()]
        return _setup(blobs, opt=0.3, dropout=0.0, callbacks=cbs, **kw)

    ref_model, ref = build()
    ref_hist = ref.run()
    model, trainer = build()
    recs = _loop_to_the_end(trainer)
    assert_same_params(params_of(model), params_of(ref_model))
    _same_history(trainer.history, ref_hist)
    assert recs[-1]["stop_reason"] == ref_hist.stop_reason == {"max_steps": "max_steps", "tol": "tol",
                                                                "patience": "early_stopping",
                                                                "callback": "callback"}[rule]
    if rule == "callback":  # stopped before epoch 3 drew a batch
        assert math.isnan(recs[-1]["loss"]) and recs[-1]["step"] == recs[-2]["step"]


@pytest.mark.parametrize("compile", [None, False])
def test_divergence_via_step_equals_run(blobs, compile):
    def build():
        return _setup(blobs, dropout=0.0, opt=1e4, compile=compile, epochs=5)

    ref_model, ref = build()
    with pytest.warns(DivergenceWarning, match="diverged"):
        ref_hist = ref.run()
    assert ref_hist.stop_reason == "diverged"
    model, trainer = build()
    with pytest.warns(DivergenceWarning, match="diverged") as got:
        recs = _loop_to_the_end(trainer)
    assert got[0].filename == __file__  # the warning points at the caller's line
    assert_same_params(params_of(model), params_of(ref_model))
    _same_history(trainer.history, ref_hist)
    last = recs[-1]
    assert last["stop_reason"] == "diverged" and last["step"] == ref_hist.steps
    assert not (math.isfinite(last["loss"]) and math.isfinite(last["grad_norm"]))
    for p in model.parameters():
        assert np.isfinite(p.data).all()


def test_early_stopping_restores_the_best_parameters_when_stepped(blobs):
    X, y = blobs

    def build():
        return _setup(blobs, epochs=6, validation=(X[:40], y[:40]),
                      callbacks=[EarlyStopping(patience=100)])

    ref_model, ref = build()
    ref.run()
    model, trainer = build()
    _loop_to_the_end(trainer)
    assert_same_params(params_of(model), params_of(ref_model))


def test_two_seeded_runs_in_two_threads_equal_runs_one_after_the_other(blobs, in_threads):
    X, y = blobs

    def job(seed, compile):
        def run():
            descend.manual_seed(seed)  # this thread's generator: the model and dropout
            model = nn.MLP([2, 32, 3], dropout=0.3)
            fit(model, (X, y), loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=0.01),
                batch_size=8, epochs=4, progress=False, seed=seed, compile=compile)
            return params_of(model)
        return run

    jobs = [job(1, None), job(2, False)]
    alone = [j() for j in jobs]
    for _ in range(2):  # interleavings differ from run to run
        for a, b in zip(alone, in_threads(jobs), strict=True):
            assert_same_params(a, b)


def test_a_failed_call_leaves_a_trainer_that_says_so(blobs):
    class Boom(Callback):
        def on_step_end(self, state):
            if state.step == 3:
                raise KeyError("boom")

    model, trainer = _setup(blobs, callbacks=[Boom()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(KeyError):
            trainer.run()
    with pytest.raises(RuntimeError, match="KeyError"):
        trainer.step()
    with pytest.raises(RuntimeError, match="build a new Trainer"):
        trainer.run()


def test_an_error_before_the_first_step_comes_out_as_it_is(blobs, capsys):
    class Refuse(Callback):
        def on_train_begin(self, state):
            raise ValueError("not today")

    _, trainer = _setup(blobs, callbacks=[Refuse()], progress=True)
    with pytest.raises(ValueError, match="not today"):
        trainer.run()
    with pytest.raises(RuntimeError, match="not today"):
        trainer.run()
