"""The traced fast path (descend.compile.TrainStep) against the eager step it replays."""

import threading
import tracemalloc

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.compile import Arena, Tracer, TrainStep, replayable_ops
from descend.optim import NonFiniteGradientError
from descend.train import fit


def _classification(n=96, d=5, classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, classes, n)


def _regression(n=80, d=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    return X, (X @ rng.standard_normal((d, 2))).astype(dtype)


def _mlp(sizes, seed=0, dtype=np.float64, **kw):
    descend.manual_seed(seed)
    return nn.MLP(list(sizes), dtype=dtype, **kw)


def _params(model):
    return [p.data.copy() for p in model.parameters()]


def _assert_close(a, b, rtol=1e-12):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        scale = np.abs(y).max() + 1e-300
        assert np.max(np.abs(x - y)) <= rtol * scale, np.max(np.abs(x - y)) / scale


def _eager_steps(model, loss_fn, opt, batches):
    losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = loss_fn(model(descend.Tensor(xb)), descend.Tensor(yb))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _batches(X, y, size):
    return [(X[i:i + size], y[i:i + size]) for i in range(0, len(X), size)]


# ----------------------------------------------------------------------------- same numbers
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_fit_fast_path_equals_eager_after_100_steps_float64(activation):
    X, y = _classification()
    runs = {}
    for compile in (False, True):
        m = _mlp([5, 16, 16, 3], activation=activation)
        h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.1),
                batch_size=32, epochs=34, max_steps=100, seed=3, progress=False, compile=compile)
        runs[compile] = (_params(m), h)
    (p_eager, h_eager), (p_fast, h_fast) = runs[False], runs[True]
    assert h_fast.steps == h_eager.steps == 100
    assert h_eager.replayed_steps == 0
    assert h_fast.replayed_steps == 99  # the first step is eager (and traced)
    _assert_close(p_fast, p_eager, rtol=1e-12)
    np.testing.assert_allclose(h_fast.step_loss, h_eager.step_loss, rtol=1e-12)
    np.testing.assert_allclose(h_fast.step_grad_norm, h_eager.step_grad_norm, rtol=1e-10)


def test_train_step_equals_the_eager_loop_bit_for_bit_float32():
    X, y = _classification(n=128, d=6, classes=4, dtype=np.float32)
    batches = _batches(X, y, 32) * 25
    m_eager, m_fast = _mlp([6, 32, 32, 4], dtype=np.float32), _mlp([6, 32, 32, 4], dtype=np.float32)
    loss_fn = nn.CrossEntropyLoss()
    losses = _eager_steps(m_eager, loss_fn, optim.SGD(m_eager.parameters(), lr=0.05), batches)
    step = TrainStep(m_fast, loss_fn, optim.SGD(m_fast.parameters(), lr=0.05))
    fast = [step(xb, yb) for xb, yb in batches]
    assert step.replayed and step.reason == "replayed"
    assert fast == losses
    for a, b in zip(m_fast.parameters(), m_eager.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.grad, b.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_regression_with_mse_and_dropout_matches_eager(reduction):
    X, y = _regression()
    batches = _batches(X, y, 16) * 8
    runs = []
    for fast in (False, True):
        m = _mlp([4, 24, 2], dropout=0.3)
        loss_fn = nn.MSELoss(reduction=reduction)
        opt = optim.SGD(m.parameters(), lr=0.01, weight_decay=1e-3)
        descend.manual_seed(7)  # the dropout masks come from the global generator
        if fast:
            step = TrainStep(m, loss_fn, opt)
            losses = [step(xb, yb) for xb, yb in batches]
            assert step.replayed
        else:
            losses = _eager_steps(m, loss_fn, opt, batches)
        runs.append((losses, _params(m)))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-12)
    _assert_close(runs[1][1], runs[0][1])


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, maximize=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=1e-2),
    lambda ps: optim.SGD([{"params": ps[:2], "lr": 0.2}, {"params": ps[2:]}], lr=0.05),
])
def test_other_optimizers_and_parameter_groups_match_eager(make_opt):
    X, y = _classification()
    batches = _batches(X, y, 24) * 10
    m1, m2 = _mlp([5, 8, 3]), _mlp([5, 8, 3])
    o1, o2 = make_opt(list(m1.parameters())), make_opt(list(m2.parameters()))
    loss_fn = nn.CrossEntropyLoss()
    _eager_steps(m1, loss_fn, o1, batches)
    step = TrainStep(m2, loss_fn, o2)
    for xb, yb in batches:
        step(xb, yb)
    assert step.replayed
    _assert_close(_params(m2), _params(m1))
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        for name, v in s1["state"][k].items():
            np.testing.assert_allclose(s2["state"][k][name], v, rtol=1e-12)


# ----------------------------------------------------------------------------- when it replays
def test_each_batch_shape_gets_its_own_plan_and_the_last_small_batch_replays():
    X, y = _classification(n=100)  # batches of 32, 32, 32 and 4
    m = _mlp([5, 8, 3])
    h = fit(m, (X, y), loss="cross_entropy", optimizer="sgd", batch_size=32, epochs=5, progress=False)
    assert h.steps == 20
    # each of the two shapes is traced once (an eager step), then replayed
    assert h.replayed_steps == 20 - 2


def test_changes_to_the_model_are_noticed():
    X, y = _classification(n=64, dtype=np.float64)
    m_fast, m_eager = _mlp([5, 8, 8, 3], dropout=0.2), _mlp([5, 8, 8, 3], dropout=0.2)
    loss_fn = nn.CrossEntropyLoss()
    opt_fast, opt_eager = optim.SGD(m_fast.parameters(), lr=0.1), optim.SGD(m_eager.parameters(), lr=0.1)
    step = TrainStep(m_fast, loss_fn, opt_fast)

    def both(n=4):
        descend.manual_seed(11)
        for _ in range(n):
            step(X[:32], y[:32])
        descend.manual_seed(11)
        _eager_steps(m_eager, loss_fn, opt_eager, [(X[:32], y[:32])] * n)
        _assert_close(_params(m_fast), _params(m_eager))

    both()
    assert step.replayed
    for m in (m_fast, m_eager):  # evaluation mode: no dropout, another trace
        m.eval()
    both()
    assert step.replayed and len(step.entries) == 2
    for m in (m_fast, m_eager):  # freeze the first layer
        m.train()
        m.linears[0].weight.requires_grad_(False)
    both()
    assert step.replayed and m_fast.linears[0].weight.grad is None
    for m in (m_fast, m_eager):  # replace a parameter's array
        m.linears[1].weight.data = np.array(m.linears[1].weight.data)
    both()
    assert step.replayed and m_fast.linears[1].weight.data.base is not None  # back in the arena


def test_custom_modules_run_eagerly_unless_asked():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3, dtype=np.float64)

        def forward(self, x):
            return nn.functional.relu(self.fc(x))

    X, y = _classification()
    descend.manual_seed(0)
    h_auto = fit(Net(), (X, y), loss="cross_entropy", optimizer="sgd", batch_size=32, epochs=2, progress=False)
    descend.manual_seed(0)
    h_forced = fit(Net(), (X, y), loss="cross_entropy", optimizer="sgd", batch_size=32, epochs=2,
                   progress=False, compile=True)
    assert h_auto.replayed_steps == 0 and h_forced.replayed_steps == 5
    np.testing.assert_allclose(h_forced.step_loss, h_auto.step_loss, rtol=1e-12)


def test_an_operation_without_replay_rule_means_eager_steps():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3, dtype=np.float64)

        def forward(self, x):
            return descend.exp(self.fc(x)) * 0.5  # exp and multiply have no replay rule

    X, y = _classification()
    step = TrainStep(Net(), nn.CrossEntropyLoss(), None)
    for _ in range(3):
        step(X[:32], y[:32])
    assert not step.replayed and "exp" in step.reason and "multiply" in step.reason
    assert "exp" not in replayable_ops() and "linear" in replayable_ops()


def test_a_value_computed_outside_descend_operations_is_caught_by_the_first_replay():
    class Sneaky(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3, dtype=np.float64)

        def forward(self, x):
            # x.data * 2 is computed by NumPy behind the tracer's back: a "constant" of batch 1
            return self.fc(descend.Tensor(x.data * 2))

    X, y = _classification()
    m_fast, m_eager = Sneaky(), Sneaky()
    m_eager.load_state_dict(m_fast.state_dict())
    step = TrainStep(m_fast, nn.CrossEntropyLoss(), optim.SGD(m_fast.parameters(), lr=0.1))
    batches = _batches(X, y, 32)
    fast = [step(xb, yb) for xb, yb in batches]
    eager = _eager_steps(m_eager, nn.CrossEntropyLoss(), optim.SGD(m_eager.parameters(), lr=0.1), batches)
    assert step.reason == "the replayed step did not match the eager step"
    assert fast == eager
    _assert_close(_params(m_fast), _params(m_eager))


# ----------------------------------------------------------------------------- special data
def test_a_bad_label_in_a_replayed_step_raises_the_eager_error():
    X, y = _classification()
    step = TrainStep(_mlp([5, 8, 3]), nn.CrossEntropyLoss(), None)
    for _ in range(3):
        step(X[:32], y[:32])
    assert step.replayed
    bad = y[:32].copy()
    bad[5] = 3
    with pytest.raises(ValueError, match="target contains class 3, but input has 3 classes"):
        step(X[:32], bad)
    bad[5] = -1
    with pytest.raises(ValueError, match="target contains class -1"):
        step(X[:32], bad)


def test_ignored_labels_run_eagerly_with_the_eager_result():
    X, y = _classification()
    batches = _batches(X, y, 32)
    y_ign = y.copy()
    y_ign[40:44] = -100
    ign_batches = batches[:1] * 3 + _batches(X, y_ign, 32)
    m1, m2 = _mlp([5, 8, 3]), _mlp([5, 8, 3])
    eager = _eager_steps(m1, nn.CrossEntropyLoss(), optim.SGD(m1.parameters(), lr=0.1), ign_batches)
    step = TrainStep(m2, nn.CrossEntropyLoss(), optim.SGD(m2.parameters(), lr=0.1))
    fast = [step(xb, yb) for xb, yb in ign_batches]
    assert fast == eager
    _assert_close(_params(m2), _params(m1))


def test_nonfinite_gradients_reach_the_optimizer_as_in_eager():
    X, y = _classification(n=32)
    m = _mlp([5, 4, 3])
    step = TrainStep(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1))
    for _ in range(3):
        step(X, y)
    before = _params(m)
    X_inf = X.copy()
    X_inf[0, 0] = 1e308  # finite input, overflowing activations and gradients
    with np.errstate(all="ignore"), pytest.raises((NonFiniteGradientError, ValueError)):
        step(X_inf * 1e10, y)
    _assert_close(_params(m), before, rtol=0)


def test_divergence_restores_the_last_finite_parameters_on_the_fast_path():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)) * 30
    y = X @ np.array([[1.0], [2.0], [-1.0]])
    m = _mlp([3, 1])
    with pytest.warns(descend.train.DivergenceWarning):
        # divergence_factor=None: run on (replayed) until the loss overflows
        h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=1.0), batch_size=None,
                epochs=1000, shuffle=False, progress=False, divergence_factor=None)
    assert h.stop_reason == "diverged" and h.replayed_steps > 0
    loss = nn.functional.mse_loss(m(X), descend.tensor(y, dtype=np.float64)).item()
    assert loss == pytest.approx(h.step_loss[-1], rel=1e-12)


# ----------------------------------------------------------------------------- memory
def test_steady_state_steps_allocate_no_parameter_sized_array():
    X, y = _classification(n=64, d=64, classes=10, dtype=np.float32)
    m = _mlp([64, 256, 256, 10], dtype=np.float32)
    step = TrainStep(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.01))
    for _ in range(3):
        step(X, y)
    largest = max(p.data.nbytes for p in m.parameters())
    tracemalloc.start()
    try:
        for _ in range(5):
            step(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert step.replayed
    # NumPy's ufunc buffers (a broadcast bias, a bool mask) are all it allocates, freed at once
    assert peak < largest / 4


def test_parameters_live_in_one_array_that_a_second_fit_reuses():
    X, y = _classification()
    m = _mlp([5, 8, 3])
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", batch_size=32, epochs=1, progress=False)
    bases = {id(p.data.base) for p in m.parameters()}
    assert len(bases) == 1
    base = m[0].weight.data.base
    arena = Arena(list(m.parameters()), np.float64)
    assert arena.flat is base  # already laid out: reused, not copied
    state = {k: v.copy() for k, v in m.state_dict().items()}
    m.load_state_dict(state)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


# ----------------------------------------------------------------------------- the tracer
def test_the_tracer_records_replayable_operations_and_names_the_others():
    x = descend.tensor(np.ones((2, 3)), requires_grad=True)
    w = descend.tensor(np.ones((4, 3)), requires_grad=True)
    with Tracer() as tr:
        h = nn.functional.relu(nn.functional.linear(x, w))
        out = descend.sum(h * 2)
    assert [n.op for n in tr.nodes] == ["linear", "relu"]
    assert tr.unsupported() == ["multiply", "sum"]
    assert out.item() == 48.0
    assert descend.tensor(1.0)._op is None  # no tracer outside the block


# ----------------------------------------------------------------------------- threads
def test_a_tracer_records_only_the_operations_of_its_own_thread():
    x = descend.tensor(np.ones((2, 3)), requires_grad=True)
    w = descend.tensor(np.ones((4, 3)), requires_grad=True)
    entered, done = threading.Event(), threading.Event()
    other = {}

    def elsewhere():
        entered.wait(5)
        other["out"] = nn.functional.tanh(nn.functional.linear(x, w))  # while the tracer is open
        done.set()

    t = threading.Thread(target=elsewhere)
    t.start()
    with Tracer() as tr:
        entered.set()
        assert done.wait(5)
        nn.functional.relu(x)
    t.join()
    assert [n.op for n in tr.nodes] == ["relu"]
    assert tr.unsupported() == []
    assert other["out"].requires_grad


def test_steps_in_two_threads_at_once_equal_steps_one_after_the_other():
    X, y = _classification(n=64, dtype=np.float32)

    models = [_mlp([5, 16, 3], seed=1, dtype=np.float32) for _ in range(3)]  # (made here: the
    # initial weights are not what this test is about)

    def train(results, key, m):
        step = TrainStep(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1, momentum=0.9))
        for xb, yb in _batches(X, y, 16) * 5:
            step(xb, yb)
        assert step.replayed
        results[key] = _params(m)

    alone, together = {}, {}
    train(alone, 0, models[0])
    threads = [threading.Thread(target=train, args=(together, k, models[k + 1])) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        for a, b in zip(alone[0], together[k], strict=True):
            np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- one rule per op
def test_a_plan_is_recorded_from_the_operations_own_rules(monkeypatch):
    from descend.ops.rule import Rule

    assert {"linear", "relu", "cross_entropy", "mse_loss", "dropout"} <= set(replayable_ops())
    assert set(replayable_ops()) == set(Rule.registry)
    seen = []

    def spy(fn, label):
        def kernel(k, *args):
            seen.append((label, type(k).__name__))
            return fn(k, *args)
        return kernel

    for name in ("linear", "relu", "cross_entropy"):
        rule = Rule.registry[name]
        for part in ("forward", "vjp"):
            monkeypatch.setattr(rule, part, spy(getattr(rule, part), f"{name}.{part}"))
    X, y = _classification(n=64, dtype=np.float32)
    m = _mlp([5, 8, 3], dtype=np.float32)
    step = TrainStep(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1))
    step(X[:16], y[:16])  # traced: the eager step, then the plan recorded from the same kernels
    assert {n for n, k in seen if k == "_Eager"} == {n for n, k in seen if k == "Recorder"} == {
        "linear.forward", "linear.vjp", "relu.forward", "relu.vjp", "cross_entropy.forward", "cross_entropy.vjp"}
    seen.clear()
    for _ in range(3):
        step(X[:16], y[:16])
    assert step.replayed and seen == [("linear.forward", "_Eager"), ("relu.forward", "_Eager"),
                                      ("linear.forward", "_Eager"), ("cross_entropy.forward", "_Eager")]
    seen.clear()
    step(X[:16], y[:16])
    assert step.replayed and seen == []  # replayed: bound NumPy calls only
