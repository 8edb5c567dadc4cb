"""fit drives optimizers that need a closure (L-BFGS) exactly like a hand-written loop."""

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.train import fit


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    return X, y



def _model64():
    descend.manual_seed(0)
    m = nn.Linear(3, 1)
    for p in m.parameters():
        p.data = p.data.astype(np.float64)
    return m


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_in_fit_equals_the_closure_loop(line_search_fn):
    X, y = _data()
    m1, m2 = _model64(), _model64()
    opt1 = optim.LBFGS(m1.parameters(), lr=1, max_iter=5, line_search_fn=line_search_fn)
    h = fit(m1, (X, y), loss="mse", optimizer=opt1, batch_size=None, epochs=4, shuffle=False,
            progress=False, compile=False)
    assert h.stop_reason == "epochs"

    opt2 = optim.LBFGS(m2.parameters(), lr=1, max_iter=5, line_search_fn=line_search_fn)
    loss_fn = nn.MSELoss()
    xt, yt = descend.tensor(X), descend.tensor(y)

    def closure():
        opt2.zero_grad()
        loss = loss_fn(m2(xt), yt)
        loss.backward()
        return float(loss.data)

    for _ in range(4):
        closure()  # fit's own forward/backward before the step
        opt2.step(closure)
    for a, b in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_allclose(m1.weight.data.ravel(), [1.5, -2.0, 0.5], atol=1e-4)


def test_lbfgs_never_takes_the_fast_path():
    X, y = _data()
    m = _model64()
    h = fit(m, (X, y), loss="mse", optimizer=optim.LBFGS(m.parameters()), batch_size=16, epochs=2,
            progress=False, compile=True, seed=0)
    assert h.replayed_steps == 0
    assert np.isfinite(h.epochs[-1]["train_loss"])
