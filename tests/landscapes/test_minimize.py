"""minimize: the walk, its stopping rules and honest evaluation counts."""

import numpy as np
import pytest

import descend
from descend import landscapes as L
from descend import optim


def test_himmelblau_corners_reach_four_different_minima():
    land = L.himmelblau()
    (x0, x1), (y0, y1) = land.domain
    reached = []
    for corner in [(x0, y0), (x0, y1), (x1, y0), (x1, y1)]:
        res = L.minimize(land, corner, optimizer="sgd", lr=0.01, steps=500)
        assert res.success
        i, d = land.nearest_minimum(res.x)
        assert d < 1e-6
        reached.append(i)
    assert sorted(reached) == [0, 1, 2, 3]


def test_adam_on_rosenbrock_reaches_the_minimum():
    res = L.minimize(L.rosenbrock(), [-1.5, 2.0], optimizer="adam", lr=0.02, steps=5000)
    assert np.linalg.norm(res.x - np.array([1.0, 1.0])) < 1e-3
    assert res.fun < 1e-6


def test_result_fields_and_counts_for_first_order_methods():
    res = L.minimize(L.booth(), [-8.0, -6.0], optimizer="momentum", lr=0.01, steps=40, tol=None)
    for key in ("x", "fun", "nit", "nfev", "njev", "success", "message", "path", "values"):
        assert key in res
    assert res.nit == 40 and not res.success and "maximum number of steps" in res.message
    assert res.path.shape == (41, 2) and res.values.shape == (41,)
    assert res.nfev == res.njev == 41  # one value and one gradient at every point of the path
    np.testing.assert_array_equal(res.path[0], [-8.0, -6.0])
    np.testing.assert_array_equal(res.x, res.path[-1])
    assert res.fun == L.booth()(res.x)
    np.testing.assert_allclose(res.values, L.booth()(res.path))


def test_path_is_the_optimizers_trajectory():
    """Gradient descent by hand: x_{k+1} = x_k - lr ∇f(x_k)."""
    land = L.rosenbrock()
    res = L.minimize(land, [-1.0, 1.5], optimizer="sgd", lr=1e-3, steps=20, tol=None)
    x = np.array([-1.0, 1.5])
    for k in range(21):
        np.testing.assert_allclose(res.path[k], x, rtol=0, atol=1e-14)
        x = x - 1e-3 * land.grad(x)


def test_matches_torch_adam_step_for_step():
    torch = pytest.importorskip("torch")
    res = L.minimize(L.beale(), [1.0, 1.5], optimizer="adam", lr=0.05, steps=60, tol=None)
    p = torch.tensor([1.0, 1.5], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        a, b = p[0], p[1]
        f = (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2
        f.backward()
        opt.step()
    np.testing.assert_allclose(res.path[-1], p.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_tol_stops_on_the_gradient_norm():
    res = L.minimize(L.sphere(), [3.0, -4.0], optimizer="sgd", lr=0.1, steps=1000, tol=1e-8)
    assert res.success and "tol" in res.message
    assert res.grad_norms[-1] <= 1e-8 < res.grad_norms[-2]
    assert res.nit == len(res.path) - 1 < 1000


def test_lbfgs_counts_every_closure_call():
    calls = []
    land = L.rosenbrock()

    def f(x):  # a function written with descend ops, counting its own calls
        calls.append(1)
        return land.fn(x)

    res = L.minimize(f, [-1.5, 2.0], optimizer="lbfgs", steps=20, line_search_fn="strong_wolfe")
    assert res.nfev == len(calls) == res.njev
    assert res.nfev > res.nit + 1  # line searches evaluate more than once per step
    assert np.linalg.norm(res.x - 1.0) < 1e-4


def test_divergence_stops_cleanly_without_warnings():
    res = L.minimize(L.rosenbrock(), [-1.5, 2.0], optimizer="sgd", lr=0.05, steps=100)
    assert not res.success and "diverged" in res.message
    assert np.all(np.isfinite(res.path)) and np.all(np.isfinite(res.values))
    assert res.nit < 100


def test_optimizer_as_class_and_instance():
    land = L.himmelblau()
    a = L.minimize(land, [1.0, 1.0], optimizer="nesterov", lr=0.01, steps=30, tol=None)
    b = L.minimize(land, [1.0, 1.0], optimizer=optim.SGD, lr=0.01, momentum=0.9, nesterov=True,
                   steps=30, tol=None)
    np.testing.assert_array_equal(a.path, b.path)
    p = descend.tensor(np.zeros(2), requires_grad=True)
    inst = optim.SGD([p], lr=0.01, momentum=0.9, nesterov=True)
    c = L.minimize(land, [1.0, 1.0], optimizer=inst, steps=30, tol=None)
    np.testing.assert_array_equal(a.path, c.path)
    assert c.optimizer == "sgd" and c.hyperparameters["lr"] == 0.01
    with pytest.raises(ValueError, match="instance"):
        L.minimize(land, [1.0, 1.0], optimizer=inst, lr=0.1)


def test_default_lr_is_the_landscapes_suggestion():
    land = L.himmelblau()
    assert L.minimize(land, [0.0, 0.0], steps=1).hyperparameters["lr"] == land.lr
    assert L.minimize(land, [0.0, 0.0], optimizer="adam", steps=1).hyperparameters["lr"] == land.adaptive_lr


def test_plain_numpy_function_uses_central_differences():
    calls = []

    def f(x):
        calls.append(1)
        return float(np.sum(np.cos(x) + (x - 1.0) ** 2))

    res = L.minimize(f, [0.0, 0.0, 0.0], optimizer="sgd", lr=0.1, steps=200)
    assert res.success
    # f' = -sin x + 2(x - 1) = 0
    x = res.x
    np.testing.assert_allclose(-np.sin(x) + 2 * (x - 1), 0, atol=1e-5)
    assert res.njev == res.nit + 1
    # 1 + 2d evaluations per gradient, plus the one call that found f does not take a Tensor
    assert res.nfev == len(calls) == res.njev * (1 + 2 * 3) + 1


def test_jac_function_is_used_and_counted():
    res = L.minimize(lambda x: float(np.sum(x**2)), [1.0, 2.0], optimizer="sgd", lr=0.25, steps=10,
                     jac=lambda x: 2 * x, tol=None)
    np.testing.assert_allclose(res.path[1], [0.5, 1.0])
    assert res.nfev == res.njev == 11


def test_bad_arguments_are_named():
    land = L.himmelblau()
    with pytest.raises(ValueError, match="x0 has 3 coordinates"):
        L.minimize(land, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="x0 must be finite"):
        L.minimize(land, [np.nan, 1.0])
    with pytest.raises(ValueError, match="steps"):
        L.minimize(land, [1.0, 1.0], steps=-1)
    with pytest.raises(ValueError, match="unknown name 'nope'"):
        L.minimize(land, [1.0, 1.0], optimizer="nope")
    with pytest.raises(ValueError, match="lr must be a positive number"):
        L.minimize(land, [1.0, 1.0], lr=-1.0)
    with pytest.raises(ValueError, match="tol"):
        L.minimize(land, [1.0, 1.0], tol=-1.0)


def test_steps_to_reach():
    path = np.array([[0.0, 0.0], [0.5, 0.0], [0.99, 0.0], [1.2, 0.0], [1.0005, 0.0], [1.0, 0.0]])
    assert L.steps_to_reach(path, [1.0, 0.0], radius=1e-3) == 4
    assert L.steps_to_reach(path, [1.0, 0.0], radius=0.5) == 1  # 0.5 away: inside, boundary included
    assert L.steps_to_reach(path, [1.0, 0.0], radius=0.4) == 2
    assert L.steps_to_reach(path, [5.0, 0.0], radius=1e-3) is None


def test_callback_sees_every_point_and_can_stop_the_walk():
    land = L.himmelblau()
    seen = []

    def below_one(x, value):
        seen.append((x.copy(), value))
        return value < 1.0

    r = L.minimize(land, [0.0, 0.0], optimizer="sgd", lr=0.01, steps=500, callback=below_one)
    assert r.success and "callback" in r.message
    assert r.fun < 1.0 and np.all(r.values[:-1] >= 1.0)  # stopped at the first point below 1
    assert len(seen) == len(r.path) == r.nfev
    np.testing.assert_array_equal(np.array([x for x, _ in seen]), r.path)
    with pytest.raises(TypeError, match="callback"):
        L.minimize(land, [0.0, 0.0], callback=3)
