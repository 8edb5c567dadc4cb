import math
import time
import warnings

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.train import DivergenceWarning, fit

from ._helpers import assert_same_params, params_of, small_mlp


def _line_model(w=0.0):
    m = nn.Linear(1, 1, bias=False)
    m.weight.data[...] = w
    return m


def test_max_steps_stops_mid_epoch_with_a_partial_record(linear_data):
    X, y = linear_data
    m = _line_model()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.01), batch_size=8,
            epochs=10, max_steps=12, progress=False, seed=0)
    assert h.steps == 12 and h.stop_reason == "max_steps"
    assert [r["step"] for r in h.epochs] == [5, 10, 12]  # 5 batches per epoch, the third partial
    assert "max_steps=12" in h.stop_message


def test_tol_stops_when_the_training_loss_is_small(linear_data):
    X, y = linear_data
    m = _line_model()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.05), batch_size=None,
            epochs=1000, tol=1e-6, progress=False)
    assert h.stop_reason == "tol"
    losses = h.metric("train_loss")
    assert losses[-1] < 1e-6 <= losses[-2]
    assert len(h.epochs) < 1000


def test_grad_tol_means_converged(linear_data):
    X, y = linear_data
    m = _line_model()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.05), batch_size=None,
            epochs=None, grad_tol=1e-4, progress=False)
    assert h.stop_reason == "converged"
    assert h.epochs[-1]["grad_norm"] < 1e-4 <= h.epochs[-2]["grad_norm"]
    np.testing.assert_allclose(m.weight.data[0, 0], 2.0, atol=1e-4)


def test_max_time(linear_data):
    X, y = linear_data
    m = _line_model()
    t0 = time.perf_counter()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=1e-4), batch_size=1,
            epochs=None, max_time=0.3, progress=False, seed=0)
    took = time.perf_counter() - t0
    assert h.stop_reason == "max_time"
    assert 0.3 <= h.epochs[-1]["time"] and took < 3.0


def _val_rises(X, y):
    """Validation targets of the opposite sign: learning y = 2x makes the val loss rise."""
    return (X, -y)


def test_early_stopping_restores_the_best_parameters(linear_data):
    X, y = linear_data
    m = _line_model()
    snapshots = []

    class Snap(descend.train.Callback):
        def on_epoch_end(self, state):
            snapshots.append(params_of(state.model))

    # The val loss is lowest after epoch 1 (w small) and rises afterwards.
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.01), batch_size=None,
            epochs=50, validation=_val_rises(X, y), patience=3, callbacks=[Snap()], progress=False)
    assert h.stop_reason == "early_stopping"
    assert len(h.epochs) == 4  # best at epoch 1, then 3 epochs without improvement
    val = h.metric("val_loss")
    assert val[0] == min(val)
    assert_same_params(params_of(m), snapshots[0])


def test_early_stopping_restores_best_even_when_patience_did_not_run_out(linear_data):
    X, y = linear_data
    m = _line_model()
    snapshots = []

    class Snap(descend.train.Callback):
        def on_epoch_end(self, state):
            snapshots.append(params_of(state.model))

    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.01), batch_size=None,
            epochs=3, validation=_val_rises(X, y), patience=10, callbacks=[Snap()], progress=False)
    assert h.stop_reason == "epochs"
    assert_same_params(params_of(m), snapshots[0])


def test_divergence_stops_at_once_and_restores_the_last_finite_parameters(linear_data):
    X, y = linear_data
    X = X * 30  # a large curvature: lr=1 makes every step overshoot further
    m = _line_model(0.5)
    with pytest.warns(DivergenceWarning) as rec:
        h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=1.0), batch_size=None,
                epochs=1000, shuffle=False, progress=False)
    msg = str(rec[0].message)
    assert h.stop_reason == "diverged"
    assert h.stop_message == msg
    assert "learning rate 1" in msg and "descend lr-find" in msg
    assert f"step {h.steps + 1}" in msg
    assert all(math.isfinite(v) for v in h.step_loss)
    assert h.steps < 1000
    # the restored parameters give exactly the last finite loss recorded
    w = m.weight.data
    assert np.isfinite(w).all()
    loss = nn.functional.mse_loss(m(X), descend.tensor(y)).item()
    assert loss == pytest.approx(h.step_loss[-1], rel=1e-6)


def test_divergence_warning_false_stops_the_same_without_warning(linear_data):
    # a per-call switch (front ends that show the message themselves), not a warnings filter
    X, y = linear_data

    def run(**kwargs):
        m = _line_model(0.5)
        h = fit(m, (X * 30, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=1.0),
                batch_size=None, epochs=1000, shuffle=False, progress=False, **kwargs)
        return m, h

    with pytest.warns(DivergenceWarning):
        ref_model, ref = run()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)  # any warning would raise here
        model, h = run(divergence_warning=False)
    assert (h.stop_reason, h.stop_message, h.steps) == (ref.stop_reason, ref.stop_message, ref.steps)
    assert_same_params(params_of(model), params_of(ref_model))


def test_nan_in_the_data_is_refused_up_front(linear_data):
    X, y = linear_data
    y = y.copy()
    y[3] = np.nan
    m = _line_model(0.5)
    with pytest.raises(ValueError, match=r"training targets contain a non-finite value \(nan at index \(3, 0\)\)"):
        fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.1), progress=False)
    with pytest.raises(ValueError, match="validation inputs"):
        fit(m, linear_data, validation=(X * np.inf, linear_data[1]), loss="mse", optimizer="sgd",
            progress=False)
    assert m.weight.data[0, 0] == 0.5


def test_an_infinite_first_loss_stops_before_any_update(linear_data):
    X, y = linear_data
    m = _line_model(1e20)  # (1e20 x - y)^2 overflows float32
    with pytest.warns(DivergenceWarning, match="before any update"):
        h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.1), batch_size=None,
                epochs=5, progress=False)
    assert h.stop_reason == "diverged" and h.steps == 0 and h.epochs == []
    assert m.weight.data[0, 0] == np.float32(1e20)


def test_nonfinite_gradient_is_caught_before_the_update():
    # sqrt has an infinite derivative at 0: a finite loss with an infinite gradient
    class SqrtModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.zeros((1,), np.float32))

        def forward(self, x):
            return descend.sqrt(self.w * self.w) + x * 0

    m = SqrtModel()
    X = np.ones((4, 1), np.float32)
    with pytest.warns(DivergenceWarning, match="gradient"):
        h = fit(m, (X, X), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.1), batch_size=None,
                epochs=3, progress=False)
    assert h.stop_reason == "diverged" and h.steps == 0
    assert m.w.data[0] == 0.0


def test_callback_can_request_a_stop(blobs):
    X, y = blobs

    class StopAt(descend.train.Callback):
        def on_step_end(self, state):
            if state.step == 7:
                state.request_stop()

    m = small_mlp(0)
    h = fit(m, (X, y), loss="cross_entropy", optimizer="sgd", batch_size=10, epochs=5,
            callbacks=[StopAt()], progress=False, seed=0)
    assert h.stop_reason == "callback" and h.steps == 7
