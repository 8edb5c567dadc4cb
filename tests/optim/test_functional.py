"""descend.optim.functional: the rules as pure functions, their composition, and the in-place kernels."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import descend
from descend import optim
from descend.optim import functional as F
from descend.optim import transforms as T

# (registry name, hyperparameters) — run through the Optax-style chain and through the class.
CHAINS = [
    ("sgd", {"lr": 0.05}),
    ("sgd", {"lr": 0.02, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("nesterov", {"lr": 0.02}),
    ("sgd", {"lr": 0.005, "momentum": 0.5, "nesterov": True, "maximize": True}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("adadelta", {"rho": 0.5, "weight_decay": 0.1}),
    ("adam", {"lr": 0.05, "amsgrad": True}),
    ("adam", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("adamw", {"lr": 0.05, "weight_decay": 0.1}),
    ("adamax", {"lr": 0.05, "weight_decay": 0.1}),
    ("nadam", {"lr": 0.02, "weight_decay": 0.1}),
    ("nadam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {"lr": 0.05}),
    ("radam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]


def _problem():
    rng = np.random.default_rng(0)
    starts = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
    scales = {k: rng.uniform(0.5, 3.0, size=v.shape) for k, v in starts.items()}
    centres = {k: rng.normal(size=v.shape) for k, v in starts.items()}

    def grads(params):
        return {k: scales[k] * (params[k] - centres[k]) + 0.1 * np.tanh(params[k]) for k in params}

    return starts, grads


@pytest.mark.parametrize("name,hp", CHAINS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CHAINS)])
def test_chain_matches_class(name, hp):
    starts, grads = _problem()
    tx = T.get(name, **hp)
    params = {k: v.copy() for k, v in starts.items()}
    state = tx.init(params)
    for _ in range(100):
        updates, state = tx.update(grads(params), state, params)
        params = T.apply_updates(params, updates)

    tensors = {k: descend.tensor(v.copy(), requires_grad=True) for k, v in starts.items()}
    opt = optim.get(name, list(tensors.values()), **hp)
    for _ in range(100):
        g = grads({k: t.data for k, t in tensors.items()})
        for k, t in tensors.items():
            t.grad = g[k]
        opt.step()
    for k in starts:
        assert not np.allclose(params[k], starts[k])
        np.testing.assert_allclose(params[k], tensors[k].data, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", T.names())
def test_update_is_pure(name):
    """update() never writes into the updates, the state or the parameters it is given."""
    starts, grads = _problem()
    tx = T.get(name, **({"weight_decay": 0.1} if name != "adamw" else {}))
    params = {k: v.copy() for k, v in starts.items()}
    state = tx.init(params)
    for _ in range(3):
        g = grads(params)
        g_copy = {k: v.copy() for k, v in g.items()}
        p_copy = {k: v.copy() for k, v in params.items()}
        state_leaves = [x.copy() if isinstance(x, np.ndarray) else x for x in _leaves(state)]
        updates, new_state = tx.update(g, state, params)
        assert all(np.array_equal(g[k], g_copy[k]) for k in g)
        assert all(np.array_equal(params[k], p_copy[k]) for k in params)
        for before, after in zip(state_leaves, _leaves(state), strict=True):
            assert np.array_equal(before, after)
        state = new_state
        params = T.apply_updates(params, updates)


def _leaves(tree):
    out = []
    T.tree_map(out.append, tree)
    return out


def test_linear_regression_y_equals_2x():
    """The seed example: fit y = 2x with θ ← θ − α·∂L/∂θ, no tensors anywhere."""
    x = np.linspace(-1, 1, 21)
    y = 2 * x
    theta = 0.0
    for _ in range(200):
        grad = np.mean(2 * (theta * x - y) * x)  # ∂/∂θ of the mean squared error
        theta = T.gradient_descent_step(theta, grad, lr=0.5)
    assert abs(float(theta) - 2.0) < 1e-10


def test_trees_of_every_kind():
    params = {"a": [np.ones(2), (np.zeros(3), 1.5)], "b": np.float32(2.0)}
    grads = T.tree_map(lambda p: np.ones_like(np.asarray(p, dtype=float)), params)
    tx = T.chain(T.clip_by_global_norm(1.0), T.scale_by_learning_rate(0.5))
    updates, _ = tx.update(grads, tx.init(params), params)
    new = T.apply_updates(params, updates)
    assert isinstance(new["a"], list) and isinstance(new["a"][1], tuple)
    norm = np.sqrt(2 + 3 + 1 + 1)
    np.testing.assert_allclose(new["a"][0], 1 - 0.5 / norm)
    assert new["b"].dtype == np.float32


@pytest.mark.parametrize("name", T.names())
def test_chains_accept_numbers_and_0d_arrays(name):
    """A parameter may be a Python number or a 0-d array (NumPy turns 0-d results into scalars)."""
    hp = {"amsgrad": True} if name in ("adam", "adamw") else {}
    tx = T.get(name, lr=0.1, **hp)
    params = {"w": np.zeros(2), "b": np.zeros(()), "c": 0.5, "d": np.float32(0.5)}
    state = tx.init(params)
    for _ in range(8):  # past RAdam's first, unrectified steps
        grads = T.tree_map(lambda p: 2.0 * np.asarray(p) + 1.0, params)
        updates, state = tx.update(grads, state, params)
        params = T.apply_updates(params, updates)
    assert all(isinstance(v, np.ndarray) and np.all(np.isfinite(v)) for v in params.values())
    assert params["b"].shape == () and params["d"].dtype == np.float32
    assert float(params["c"]) < 0.5  # moved downhill


def test_schedule_and_clip():
    tx = T.chain(T.clip(0.5), T.scale_by_learning_rate(lambda k: 1.0 / (k + 1)))
    state = tx.init(np.zeros(2))
    seen = []
    for _ in range(3):
        u, state = tx.update(np.array([2.0, -0.1]), state)
        seen.append(u)
    np.testing.assert_allclose(seen, [[-0.5, 0.1], [-0.25, 0.05], [-0.5 / 3, 0.1 / 3]])


def test_identity_scale_and_errors():
    u, _ = T.identity().update(np.array([1.0, 2.0]), {})
    np.testing.assert_array_equal(u, [1.0, 2.0])
    u, _ = T.scale(-2).update(np.array([1.0]), {})
    np.testing.assert_array_equal(u, [-2.0])
    with pytest.raises(TypeError, match="GradientTransformation"):
        T.chain(T.scale(1.0), lambda g: g)
    with pytest.raises(ValueError, match="tuple of 2"):
        T.chain(T.scale(1.0), T.scale(2.0)).update(np.ones(1), ())
    with pytest.raises(ValueError, match="needs params"):
        T.add_decayed_weights(0.1).update(np.ones(1), {})
    with pytest.raises(ValueError, match="lr"):
        T.sgd(lr=-0.1)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        T.adam(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        T.get("nesterov", momentum=0.0)
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        T.get("adamm")
    with pytest.raises(TypeError, match="'adam'"):
        T.get("adam", momentum=0.9)
    assert "lbfgs" not in T.names() and "adamw" in T.names()


# -- the rules on arrays -----------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0.1, 0.5, 0.9, 1.0])
def test_lerp(weight):
    rng = np.random.default_rng(1)
    a, x = rng.normal(size=5), rng.normal(size=5)
    expected = (1 - weight) * a + weight * x
    F.lerp_(a, x, weight, np.empty(5))
    np.testing.assert_allclose(a, expected, rtol=1e-14, atol=1e-15)
    if weight == 1.0:
        np.testing.assert_array_equal(a, x)  # exact at w = 1


def test_moment_rules():
    v = np.array([1.0, 4.0])
    F.ema_square_(v, np.array([2.0, 0.0]), 0.5, np.empty(2))
    np.testing.assert_allclose(v, [2.5, 2.0])
    buf = np.zeros(2)
    F.momentum_(buf, np.array([1.0, 2.0]), 0.9, 0.5, True, np.empty(2))
    np.testing.assert_array_equal(buf, [1.0, 2.0])  # b₁ = g₁, undamped
    F.momentum_(buf, np.array([1.0, 2.0]), 0.9, 0.5, False, np.empty(2))
    np.testing.assert_allclose(buf, [1.4, 2.8])
    out = np.empty(2)
    F.adam_denominator_(np.array([4.0, 0.0]), 0.5, 1e-3, out)  # √v + ε·√(1 − β₂ᵗ)
    np.testing.assert_allclose(out, [2.0005, 0.0005])
    F.infinity_norm_(v, np.array([-3.0, 1.0]), 0.5, 0.0, np.empty(2))
    np.testing.assert_allclose(v, [3.0, 1.0])


def test_centred_rms_never_takes_sqrt_of_a_negative():
    # rounding can leave E[g²] a hair below E[g]²; the rule clamps at 0 instead of returning NaN
    out = np.empty(1)
    F.rms_(np.array([1.0]), np.array([1.0 + 1e-12]), 1e-8, out)
    np.testing.assert_array_equal(out, [1e-8])


def test_effective_grad_never_writes_grad():
    g = np.array([1.0, -2.0])
    g.flags.writeable = False
    p = np.array([10.0, 20.0])
    out = np.empty(2)
    assert F.effective_grad(g, p, 0.0, False, out) is g
    np.testing.assert_allclose(F.effective_grad(g, p, 0.0, True, out), [-1.0, 2.0])
    np.testing.assert_allclose(F.effective_grad(g, p, 0.1, True, out), [0.0, 4.0])
    np.testing.assert_allclose(F.effective_grad(g, p, 0.1, False, out), [2.0, 0.0])


def test_lbfgs_direction_satisfies_the_secant_equation():
    """The BFGS inverse-Hessian update makes H·y = s hold for the newest pair, so d(y) = −s."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 4))
    hessian = a @ a.T + 4 * np.eye(4)
    steps = [rng.normal(size=4) for _ in range(3)]
    dirs = [hessian @ s for s in steps]
    ro = [1.0 / float(y @ s) for y, s in zip(dirs, steps, strict=True)]
    gamma = float(dirs[-1] @ steps[-1]) / float(dirs[-1] @ dirs[-1])
    np.testing.assert_allclose(F.lbfgs_direction(dirs[-1], dirs, steps, ro, gamma), -steps[-1], rtol=1e-10)
    # with no history the direction is steepest descent scaled by γ
    np.testing.assert_allclose(F.lbfgs_direction(np.array([1.0, -2.0]), [], [], [], 0.5), [-0.5, 1.0])


def test_strong_wolfe_conditions_hold():
    # f(t) along d = −∇f from x0 = (−1.2, 1) on Rosenbrock
    def f_and_g(x):
        r = x[1] - x[0] ** 2
        return (1 - x[0]) ** 2 + 100 * r * r, np.array([-2 * (1 - x[0]) - 400 * x[0] * r, 200 * r])

    x0 = np.array([-1.2, 1.0])
    f0, g0 = f_and_g(x0)
    d = -g0
    gtd = float(g0 @ d)
    f_new, g_new, t, evals = F.strong_wolfe(lambda t: f_and_g(x0 + t * d), 1e-3, d, f0, g0, gtd)
    assert f_new <= f0 + 1e-4 * t * gtd
    assert abs(float(g_new @ d)) <= -0.9 * gtd
    assert evals >= 1 and t > 0


def test_cubic_interpolate():
    # the cubic through f(x) = (x−1)² sampled at 0 and 3 has its minimum at 1
    assert F.cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0) == pytest.approx(1.0)
    assert F.cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, bounds=(2.0, 3.0)) == 2.0


# -- property: every optimizer converges on a convex quadratic ----------------------------------------

SUITABLE = {
    "sgd": {"lr": 0.3}, "momentum": {"lr": 0.1}, "nesterov": {"lr": 0.1}, "adagrad": {"lr": 2.0},
    "rmsprop": {"lr": 0.05, "momentum": 0.5}, "adadelta": {"lr": 1.0, "eps": 1e-2}, "adam": {"lr": 0.3},
    "adamw": {"lr": 0.3, "weight_decay": 0.0}, "adamax": {"lr": 0.4}, "nadam": {"lr": 0.3}, "radam": {"lr": 0.5},
    "lbfgs": {"lr": 1.0},
}


@pytest.mark.parametrize("name", optim.names())
@settings(max_examples=10, deadline=None)
@given(
    curvature=st.lists(st.floats(0.5, 2.0), min_size=1, max_size=4),
    centre=st.floats(-3, 3),
    start=st.floats(-3, 3),
)
@example(curvature=[1.0], centre=0.0, start=0.015625)  # near the minimum: where constant rates circle
@example(curvature=[0.5] * 4, centre=3.0, start=-3.0)  # far away and shallow: the longest trip
def test_converges_on_convex_quadratic(name, curvature, centre, start):
    """f(θ) = Σ aᵢ/2·(θᵢ − cᵢ)² with curvatures aᵢ ∈ [0.5, 2]: within 600 steps θ is within 0.01 of c.

    The adaptive methods take steps of about ``lr`` whatever the size of the
    gradient, so at a constant rate they circle the minimum at a distance of
    order ``lr`` (e.g. NAdam at lr=0.05 started 0.016 from the minimum is
    still 0.013 away after 600 steps, in PyTorch too). As the convergence
    theory assumes, the rate decays: ``ExponentialLR(γ=0.993)``, which still
    leaves a total travel ``Σ lr·γᵏ ≈ 140·lr``.
    """
    a = np.array(curvature)
    c = centre + np.arange(a.size) * 0.5
    p = descend.tensor(np.full(a.size, start), requires_grad=True)
    opt = optim.get(name, [p], **SUITABLE[name])
    schedule = None if name == "lbfgs" else optim.lr_scheduler.ExponentialLR(opt, gamma=0.993)

    def closure():
        p.grad = a * (p.data - c)
        return float(np.sum(a / 2 * (p.data - c) ** 2))

    for _ in range(20 if name == "lbfgs" else 600):
        opt.step(closure)
        if schedule is not None:
            schedule.step()
    assert np.max(np.abs(p.data - c)) < 1e-2
