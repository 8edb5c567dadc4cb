"""Every optimizer and configuration against torch.optim: same parameters after 200 steps.

Both libraries see the very same gradients (computed with NumPy from the
current parameter values), in float64, so any difference comes from the
update rules alone. torch keeps NAdam's ``mu_product`` in its default dtype,
so torch runs with default dtype float64 here (descend always keeps it in
float64).

descend evaluates some rules in a different (cheaper) order than torch, e.g.
Adam's bias corrections folded into one scalar, so the two differ by rounding
(~1e-16 per step). A relative tolerance of 1e-9 after 200 steps is then a
real test only on trajectories that do not amplify rounding: some settings
(RMSprop at lr=0.01, NAdam at lr=0.05 on this objective) circle the minimum
chaotically and turn a 1e-14 nudge into a 1e-4 difference, torch against
torch. ``test_configurations_are_well_conditioned`` keeps every
configuration here out of that regime.
"""

import numpy as np
import pytest

import descend
from descend import optim

torch = pytest.importorskip("torch")

STEPS = 200

CONFIGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("SGD", {"lr": 0.02, "momentum": 0.9}),
    ("SGD", {"lr": 0.02, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.02, "momentum": 0.9, "maximize": True}),
    ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.005, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-5}),
    ("Adagrad", {"lr": 0.05, "maximize": True}),
    ("RMSprop", {"lr": 0.005}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9, "maximize": True}),
    ("RMSprop", {"lr": 0.005, "centered": True}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True, "eps": 1e-4}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.05, "maximize": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.02, "maximize": True}),
    ("Adamax", {"lr": 0.05}),
    ("Adamax", {"lr": 0.02, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    ("Adamax", {"lr": 0.02, "maximize": True}),
    ("NAdam", {"lr": 0.02}),
    ("NAdam", {"lr": 0.02, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True, "momentum_decay": 1e-2}),
    ("NAdam", {"lr": 0.02, "maximize": True}),
    ("NAdam", {"lr": 0.01, "betas": (0.0, 0.99)}),  # no momentum term at all
    ("RAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.02, "betas": (0.5, 0.9), "maximize": True}),
]

LBFGS_CONFIGS = [
    {},
    {"lr": 0.5, "max_iter": 5},
    {"history_size": 3, "max_iter": 4},
    {"line_search_fn": "strong_wolfe", "max_iter": 4},
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 3, "tolerance_grad": 1e-12},
]


@pytest.fixture(autouse=True)
def torch_float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _problem(seed=0):
    """A smooth convex objective over two parameters: Σ a/2 (θ − c)² + 0.1 Σ log cosh θ."""
    rng = np.random.default_rng(seed)
    shapes = [(5,), (3, 4)]
    inits = [rng.normal(size=s) for s in shapes]
    scales = [rng.uniform(0.5, 3.0, size=s) for s in shapes]
    centres = [rng.normal(size=s) for s in shapes]

    def loss(values):
        return sum(
            float(np.sum(a / 2 * (v - c) ** 2 + 0.1 * np.log(np.cosh(v))))
            for v, a, c in zip(values, scales, centres, strict=True)
        )

    def grads(values):
        return [a * (v - c) + 0.1 * np.tanh(v) for v, a, c in zip(values, scales, centres, strict=True)]

    return inits, loss, grads


def _run_descend(name, hp, steps=STEPS, groups=None):
    inits, _, grads = _problem()
    params = [descend.tensor(v.copy(), requires_grad=True) for v in inits]
    arg = params if groups is None else [{"params": [p], **g} for p, g in zip(params, groups, strict=True)]
    opt = getattr(optim, name)(arg, **hp)
    for k in range(steps):
        for p, g in zip(params, grads([p.data for p in params]), strict=True):
            p.grad = g
        if k % 7 == 3:  # a parameter without gradient is skipped (its state does not advance)
            params[1].grad = None
        opt.step()
    return [p.data for p in params]


def _run_torch(name, hp, steps=STEPS, groups=None, nudge_at=()):
    inits, _, grads = _problem()
    params = [torch.tensor(v.copy(), requires_grad=True) for v in inits]
    arg = params if groups is None else [{"params": [p], **g} for p, g in zip(params, groups, strict=True)]
    opt = getattr(torch.optim, name)(arg, **hp)
    for k in range(steps):
        if k in nudge_at:  # a relative change of 1e-14: rounding-sized
            with torch.no_grad():
                for p in params:
                    p.mul_(1 + 1e-14)
        for p, g in zip(params, grads([p.detach().numpy() for p in params]), strict=True):
            p.grad = torch.from_numpy(g)
        if k % 7 == 3:
            params[1].grad = None
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("name,hp", CONFIGS, ids=[f"{n}-{'-'.join(map(str, h.items()))}" for n, h in CONFIGS])
def test_matches_torch_over_200_steps(name, hp):
    ours = _run_descend(name, hp)
    theirs = _run_torch(name, hp)
    start = _problem()[0]
    # the run went somewhere (the comparison is not of two unchanged arrays)
    assert max(np.max(np.abs(a - b)) for a, b in zip(ours, start, strict=True)) > 1e-2
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,hp", CONFIGS, ids=[f"{n}-{'-'.join(map(str, h.items()))}" for n, h in CONFIGS])
def test_configurations_are_well_conditioned(name, hp):
    """Rounding-sized nudges along torch's own run stay rounding-sized, so 1e-9 can tell rules apart."""
    straight = _run_torch(name, hp)
    nudged = _run_torch(name, hp, nudge_at=(10, 30, 50, 80, 120))
    for a, b in zip(nudged, straight, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("name,hp", [
    ("SGD", {"momentum": 0.9}), ("Adam", {}), ("RMSprop", {"centered": True}), ("Adagrad", {}),
])
def test_param_groups_match_torch(name, hp):
    groups = [{"lr": 0.005}, {"lr": 0.02, "weight_decay": 0.1}]
    ours = _run_descend(name, {"lr": 0.02, **hp}, groups=groups)
    theirs = _run_torch(name, {"lr": 0.02, **hp}, groups=groups)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def _lbfgs_run(lib, hp, steps):
    inits, loss, grads = _problem(1)
    if lib == "descend":
        params = [descend.tensor(v.copy(), requires_grad=True) for v in inits]
        opt = optim.LBFGS(params, **hp)

        def values():
            return [p.data for p in params]

        def wrap(g):
            return g
    else:
        params = [torch.tensor(v.copy(), requires_grad=True) for v in inits]
        opt = torch.optim.LBFGS(params, **hp)

        def values():
            return [p.detach().numpy() for p in params]

        wrap = torch.from_numpy
    evals = [0]

    def closure():
        evals[0] += 1
        vals = values()
        for p, g in zip(params, grads(vals), strict=True):
            p.grad = wrap(g)
        return loss(vals) if lib == "descend" else torch.tensor(loss(vals))

    trajectory = []
    for _ in range(steps):
        opt.step(closure)
        trajectory.append([v.copy() for v in values()])
    return trajectory, evals[0]


@pytest.mark.parametrize("hp", LBFGS_CONFIGS, ids=[str(h) for h in LBFGS_CONFIGS])
def test_lbfgs_matches_torch(hp):
    """50 calls of step() (each up to max_iter iterations): converging, then stopping alike once converged."""
    ours, our_evals = _lbfgs_run("descend", hp, 50)
    theirs, their_evals = _lbfgs_run("torch", hp, 50)
    assert our_evals == their_evals
    for step_ours, step_theirs in zip(ours, theirs, strict=True):
        for a, b in zip(step_ours, step_theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_float32_close_to_torch():
    """In float32 the rules agree with torch to float32 precision (no hidden float64 detour)."""
    inits, _, grads = _problem()
    ours = [descend.tensor(v.astype(np.float32), requires_grad=True) for v in inits]
    theirs = [torch.tensor(v.astype(np.float32), requires_grad=True) for v in inits]
    a = optim.Adam(ours, lr=0.05)
    b = torch.optim.Adam(theirs, lr=0.05)
    for _ in range(50):
        for p, q, g in zip(ours, theirs, grads([p.data for p in ours]), strict=True):
            p.grad = g.astype(np.float32)
            q.grad = torch.from_numpy(g.astype(np.float32))
        a.step()
        b.step()
    for p, q in zip(ours, theirs, strict=True):
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=2e-5, atol=1e-6)
