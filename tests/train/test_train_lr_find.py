import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.data import DataLoader
from descend.train import fit, lr_find

from ._helpers import assert_same_params, params_of, small_mlp


def _opt_state(opt):
    sd = opt.state_dict()
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    state = {k: {n: np.array(v, copy=True) for n, v in s.items()} for k, s in sd["state"].items()}
    return groups, state


def _assert_same_opt(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        for n in a[1][k]:
            np.testing.assert_array_equal(a[1][k][n], b[1][k][n])


def test_everything_is_restored_exactly(blobs):
    X, y = blobs
    m = small_mlp(0, dropout=0.1)
    opt = optim.Adam(m.parameters(), lr=0.003)
    fit(m, (X, y), loss="cross_entropy", optimizer=opt, epochs=1, progress=False, seed=0)  # Adam has state
    m.eval()
    loader = DataLoader((X, y), batch_size=16, shuffle=True, seed=5)
    loader.set_epoch(3)
    before_p, before_o = params_of(m), _opt_state(opt)
    rng = descend.random.generator().bit_generator.state
    res = lr_find(m, loader, "cross_entropy", opt, steps=30, seed=1)
    assert len(res.lrs) > 5
    assert_same_params(params_of(m), before_p)
    _assert_same_opt(_opt_state(opt), before_o)
    assert opt.param_groups[0]["lr"] == 0.003
    assert descend.random.generator().bit_generator.state == rng
    assert m.training is False
    assert loader.epoch == 3
    assert all(p.grad is None for p in m.parameters())


def test_training_after_lr_find_is_the_same_as_without(blobs):
    X, y = blobs

    def run(with_finder):
        m = small_mlp(0, dropout=0.2)
        opt = optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        if with_finder:
            lr_find(m, (X, y), "cross_entropy", opt, steps=20)
        h = fit(m, (X, y), loss="cross_entropy", optimizer=opt, epochs=2, progress=False)
        return params_of(m), h.step_loss

    a, b = run(False), run(True)
    assert_same_params(a[0], b[0])
    assert a[1] == b[1]


def test_same_seed_same_answer(blobs):
    X, y = blobs
    out = []
    for seed in (7, 7, 8):
        m = small_mlp(0)
        r = lr_find(m, (X, y), "cross_entropy", optim.SGD(m.parameters(), lr=0.1), steps=40, seed=seed)
        out.append((r.losses.tolist(), r.suggestion))
    assert out[0] == out[1]
    assert out[0][0] != out[2][0]


def test_schedule_smoothing_and_divergence(linear_data):
    X, y = linear_data
    m = nn.Linear(1, 1)
    r = lr_find(m, (X, y), "mse", optim.SGD(m.parameters()), start_lr=1e-4, end_lr=1e4,
                steps=50, seed=0, batch_size=8)
    k = len(r.lrs)
    np.testing.assert_allclose(r.lrs, 1e-4 * 1e8 ** (np.arange(k) / 49), rtol=1e-12)
    # bias-corrected exponential moving average with beta = 0.98
    avg, expect = 0.0, []
    for i, v in enumerate(r.losses):
        avg = 0.98 * avg + 0.02 * v
        expect.append(avg / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(r.smoothed_losses, expect, rtol=1e-12)
    assert r.smoothed_losses[0] == r.losses[0]
    assert r.stop_reason == "diverged" and k < 50
    assert 1e-4 <= r.suggestion < r.lrs[-1]


def test_suggestion_is_stable_for_least_squares():
    # batch gradient descent on y = 2x + 1: stable for lr < 2 / lambda_max(Hessian)
    X, y = descend.data.make_linear(n_samples=200, intercept=1.0, x_range=(-2.0, 2.0), seed=0)
    A = np.hstack([X, np.ones_like(X)]).astype(np.float64)
    lr_max = 2 / np.linalg.eigvalsh(2 * A.T @ A / len(A)).max()
    m = nn.Linear(1, 1)
    r = lr_find(m, (X, y), "mse", optim.SGD(m.parameters()), batch_size=None, steps=100, seed=0)
    assert r.stop_reason == "diverged"
    assert r.suggestion < lr_max < r.lrs[-1]
    m.weight.data[...] = 0.0
    m.bias.data[...] = 0.0
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=r.suggestion), batch_size=None,
            epochs=300, progress=False)
    assert h.epochs[-1]["train_loss"] < 1e-6


@pytest.mark.parametrize("kwargs, match", [
    ({"start_lr": 0.0}, "start_lr"), ({"start_lr": 1.0, "end_lr": 0.5}, "smaller"),
    ({"steps": 1}, "steps"), ({"seed": -2}, "seed"), ({"beta": 1.0}, "beta"),
])
def test_bad_arguments(blobs, kwargs, match):
    X, y = blobs
    m = small_mlp(0)
    with pytest.raises(ValueError, match=match):
        lr_find(m, (X, y), "cross_entropy", optim.SGD(m.parameters()), **kwargs)


def test_plot(blobs):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, y = blobs
    m = small_mlp(0)
    r = lr_find(m, (X, y), "cross_entropy", "sgd", steps=20, seed=0)
    assert r.plot() is not None
    assert r.to_dict()["suggestion"] == r.suggestion
