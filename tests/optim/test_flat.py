"""Flat groups: parameters that are consecutive views of one array get one update over the whole span."""

import tracemalloc

import numpy as np
import pytest

import descend
from descend import optim

SHAPES = [(30, 7), (7,), (5, 3, 2), (1,)]

CONFIGS = [
    ("sgd", {"lr": 0.05}),
    ("sgd", {"lr": 0.02, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("nesterov", {"lr": 0.02, "maximize": True}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("adadelta", {"rho": 0.5, "weight_decay": 0.1}),
    ("adam", {"lr": 0.05, "amsgrad": True}),
    ("adam", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("adamw", {"lr": 0.05, "weight_decay": 0.1}),
    ("adamax", {"lr": 0.05, "weight_decay": 0.1}),
    ("nadam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {"lr": 0.05}),
    ("radam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]


def _setup(flat, dtype=np.float32, seed=0):
    """Parameters (views of one array if ``flat``) and a function setting their gradients."""
    rng = np.random.default_rng(seed)
    starts = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    params = [descend.tensor(v.copy(), requires_grad=True) for v in starts]
    views = None
    if flat:
        sizes = np.cumsum([0] + [v.size for v in starts])
        values, grads = np.concatenate([v.ravel() for v in starts]), np.zeros(sizes[-1], dtype)
        views = []
        for p, a, b, s in zip(params, sizes[:-1], sizes[1:], SHAPES, strict=True):
            p.data = values[a:b].reshape(s)
            views.append(grads[a:b].reshape(s))

    def set_grads(step, skip=()):
        g_rng = np.random.default_rng(1000 + step)
        for i, p in enumerate(params):
            g = g_rng.normal(size=p.shape).astype(dtype)
            if i in skip:
                p.grad = None
            elif views is None:
                p.grad = g
            else:
                views[i][...] = g
                p.grad = views[i]

    return params, set_grads


def _same_state(opt_a, opt_b):
    a, b = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert a.keys() == b.keys()
    for i in a:
        assert a[i].keys() == b[i].keys()
        for key in a[i]:
            np.testing.assert_array_equal(np.asarray(a[i][key]), np.asarray(b[i][key]), err_msg=f"{i} {key}")


def _is_flat(opt, params, key):
    arrays = [opt.state[p][key] for p in params]
    return all(a.base is not None and a.base is arrays[0].base for a in arrays)


def _flat_and_separate(make, steps, dtype=np.float32, before=None, skip=lambda step: ()):
    """The same steps on parameters that are views of one array and on separate ones.

    ``make(params)`` builds the optimizer; ``before(opt, step)`` runs before each step.
    Checks that both end with the same parameters and state, bit for bit, and returns
    ``(flat_params, flat_opt, separate_opt)``.
    """
    runs = []
    for flat in (True, False):
        params, set_grads = _setup(flat, dtype=dtype)
        opt = make(params)
        for step in range(steps):
            set_grads(step, skip=skip(step))
            if before is not None:
                before(opt, step)
            opt.step()
        runs.append((params, opt))
    (flat_params, flat_opt), (params, opt) = runs
    for a, b in zip(flat_params, params, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    _same_state(flat_opt, opt)
    return flat_params, flat_opt, opt


@pytest.mark.parametrize("name,hp", CONFIGS, ids=IDS)
def test_one_update_over_the_span_is_bit_identical(name, hp):
    flat_params, flat_opt, opt = _flat_and_separate(lambda ps: optim.get(name, ps, **hp), 12)
    assert flat_opt._spans and not opt._spans
    for key, value in flat_opt.state[flat_params[0]].items():
        if isinstance(value, np.ndarray):
            assert _is_flat(flat_opt, flat_params, key), key
    assert all(flat_opt.state[p]["step"] == 12 for p in flat_params)  # every counter advanced


@pytest.mark.parametrize("name,hp", [CONFIGS[1], CONFIGS[7], CONFIGS[11]], ids=["momentum", "adam", "nadam"])
def test_unequal_step_counts_take_the_per_parameter_loop(name, hp):
    """A parameter without a gradient in one step lags a step behind: its hyperparameters differ
    from the others' (bias corrections), so the group must not be updated as one span."""
    flat_params, flat_opt, _ = _flat_and_separate(lambda ps: optim.get(name, ps, **hp), 6, dtype=np.float64,
                                                  skip=lambda step: (1,) if step == 2 else ())
    assert flat_opt.state[flat_params[1]]["step"] == 5 and flat_opt.state[flat_params[0]]["step"] == 6


def test_momentum_switched_on_later_starts_flat_buffers_at_the_gradient():
    def switch_on(opt, step):
        if step == 3:
            opt.param_groups[0]["momentum"] = 0.9

    flat_params, flat_opt, _ = _flat_and_separate(lambda ps: optim.SGD(ps, lr=0.05), 6, before=switch_on)
    assert _is_flat(flat_opt, flat_params, "momentum_buffer")


def test_separate_state_moves_into_flat_arrays():
    """State loaded as separate arrays is copied into flat ones at the next flat step."""
    separate, set_separate = _setup(False)
    opt = optim.Adam(separate, lr=0.05)
    for step in range(4):
        set_separate(step)
        opt.step()
    flat, set_flat = _setup(True)
    for p, q in zip(flat, separate, strict=True):
        p.data[...] = q.data
    flat_opt = optim.Adam(flat, lr=0.05)
    flat_opt.load_state_dict(opt.state_dict())
    assert not _is_flat(flat_opt, flat, "exp_avg")
    for step in range(4, 8):
        set_separate(step)
        opt.step()
        set_flat(step)
        flat_opt.step()
    assert _is_flat(flat_opt, flat, "exp_avg") and _is_flat(flat_opt, flat, "exp_avg_sq")
    for a, b in zip(flat, separate, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    _same_state(flat_opt, opt)


@pytest.mark.parametrize("name", [n for n in optim.names() if n != "lbfgs"])
def test_no_allocation_in_steady_state(name):
    params, set_grads = _setup(True)
    opt = optim.get(name, params, lr=1e-3)
    for step in range(2):
        set_grads(step)
        opt.step()
    set_grads(2)
    data = [p.data for p in params]
    tracemalloc.start()
    opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(p.data is d for p, d in zip(params, data, strict=True))
    assert peak < 10_000, f"{name}.step() allocated {peak} bytes"


def test_non_finite_gradient_in_a_flat_group_is_named_and_nothing_changes():
    params, set_grads = _setup(True)
    named = [(f"p{i}", p) for i, p in enumerate(params)]
    opt = optim.Adam(named, lr=0.1)
    set_grads(0)
    opt.step()
    before = [p.data.copy() for p in params]
    state_before = opt.state_dict()
    set_grads(1)
    params[2].grad[1, 0, 1] = np.inf
    with pytest.raises(optim.NonFiniteGradientError, match=r"'p2'.*1 infinite"):
        opt.step()
    for p, b in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.data, b)
    assert all(opt.state[p]["step"] == 1 for p in params)
    np.testing.assert_array_equal(opt.state_dict()["state"][2]["exp_avg"], state_before["state"][2]["exp_avg"])


def test_views_out_of_order_or_with_gaps_are_updated_one_by_one():
    values, grads = np.zeros(10, np.float32), np.ones(10, np.float32)
    a, b = descend.tensor(np.zeros(4, np.float32), requires_grad=True), descend.tensor(np.zeros(4, np.float32),
                                                                                     requires_grad=True)
    a.data, b.data = values[4:8], values[0:4]  # b comes first in memory
    a.grad, b.grad = grads[0:4], grads[4:8]
    opt = optim.SGD([a, b], lr=0.5)
    opt.step()
    assert not opt._spans
    np.testing.assert_array_equal(values, [-0.5] * 8 + [0, 0])
    b.data = values[5:9]  # a gap of none, but out of order still; then a gap
    a.data = values[0:4]
    opt.step()
    assert not opt._spans


@pytest.mark.parametrize(("name", "hp"), [CONFIGS[0], CONFIGS[1], CONFIGS[7]], ids=["sgd", "momentum", "adam"])
def test_hyperparameters_changed_between_steps_take_effect_at_the_next_flat_step(name, hp):
    def schedule(opt, step):  # by hand
        opt.param_groups[0]["lr"] = 0.01 * (1 + step % 3)
        if step == 6 and "betas" in opt.param_groups[0]:
            opt.param_groups[0]["betas"] = (0.5, 0.9)

    _flat_and_separate(lambda ps: optim.get(name, ps, **hp), 12, dtype=np.float64, before=schedule)
