"""The test functions against the literature: formulas, published minima, gradients."""

import math

import numpy as np
import pytest

import descend
from descend import landscapes as L

# Minima as published (coordinates, value, global?), with the precision they are published to.
# Himmelblau (1972); Goldstein & Price (1971) and Dixon & Szegö (1978); six-hump camel: Dixon &
# Szegö (1978); Styblinski & Tang (1990); the rest: Surjanovic & Bingham's library / Wikipedia.
PUBLISHED = {
    "himmelblau": (1e-6, [((3.0, 2.0), 0.0, True), ((-2.805118, 3.131312), 0.0, True),
                          ((-3.779310, -3.283186), 0.0, True), ((3.584428, -1.848126), 0.0, True)]),
    "rosenbrock": (0.0, [((1.0, 1.0), 0.0, True)]),
    "beale": (0.0, [((3.0, 0.5), 0.0, True)]),
    "booth": (0.0, [((1.0, 3.0), 0.0, True)]),
    "matyas": (0.0, [((0.0, 0.0), 0.0, True)]),
    "goldstein_price": (0.0, [((0.0, -1.0), 3.0, True), ((-0.6, -0.4), 30.0, False),
                              ((1.8, 0.2), 84.0, False), ((1.2, 0.8), 840.0, False)]),
    "six_hump_camel": (1e-4, [((0.0898, -0.7126), -1.0316, True), ((-0.0898, 0.7126), -1.0316, True),
                              ((-1.7036, 0.7961), -0.2155, False), ((1.7036, -0.7961), -0.2155, False),
                              ((1.6071, 0.5687), 2.1043, False), ((-1.6071, -0.5687), 2.1043, False)]),
    "ackley": (0.0, [((0.0, 0.0), 0.0, True)]),
    "rastrigin": (0.0, [((0.0, 0.0), 0.0, True)]),
    "sphere": (0.0, [((0.0, 0.0), 0.0, True)]),
    "quadratic": (0.0, [((0.0, 0.0), 0.0, True)]),
}


# Independent NumPy formulas, typed from the papers (not from the package).
def _np_formula(name, x):
    x = np.asarray(x, dtype=np.float64)
    a, b = x[..., 0], x[..., 1]
    if name == "himmelblau":
        return (a**2 + b - 11) ** 2 + (a + b**2 - 7) ** 2
    if name == "rosenbrock":
        return np.sum(100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2, axis=-1)
    if name == "beale":
        return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2
    if name == "booth":
        return (a + 2 * b - 7) ** 2 + (2 * a + b - 5) ** 2
    if name == "matyas":
        return 0.26 * (a**2 + b**2) - 0.48 * a * b
    if name == "goldstein_price":
        return ((1 + (a + b + 1) ** 2 * (19 - 14 * a + 3 * a**2 - 14 * b + 6 * a * b + 3 * b**2))
                * (30 + (2 * a - 3 * b) ** 2 * (18 - 32 * a + 12 * a**2 + 48 * b - 36 * a * b + 27 * b**2)))
    if name == "six_hump_camel":
        return (4 - 2.1 * a**2 + a**4 / 3) * a**2 + a * b + (-4 + 4 * b**2) * b**2
    if name == "ackley":
        d = x.shape[-1]
        return (-20 * np.exp(-0.2 * np.sqrt(np.sum(x**2, -1) / d))
                - np.exp(np.sum(np.cos(2 * np.pi * x), -1) / d) + 20 + np.e)
    if name == "rastrigin":
        return 10 * x.shape[-1] + np.sum(x**2 - 10 * np.cos(2 * np.pi * x), -1)
    if name == "styblinski_tang":
        return 0.5 * np.sum(x**4 - 16 * x**2 + 5 * x, -1)
    if name == "sphere":
        return np.sum(x**2, -1)
    raise KeyError(name)


def _newton(land, x, iters=3):
    """Refine a stationary point with Newton's method (Hessian by central differences of ∇f)."""
    x = np.array(x, dtype=np.float64)
    for _ in range(iters):
        h = 1e-6
        hess = np.array([(land.grad(x + h * e) - land.grad(x - h * e)) / (2 * h) for e in np.eye(x.size)])
        x = x - np.linalg.solve((hess + hess.T) / 2, land.grad(x))
    return x


def _hessian(land, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    return np.array([(land.grad(x + h * e) - land.grad(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def test_names_and_get():
    names = L.names()
    for expected in ("quadratic", "rosenbrock", "himmelblau", "rastrigin", "ackley", "beale", "booth",
                     "goldstein_price", "six_hump_camel", "styblinski_tang", "matyas"):
        assert expected in names
    assert L.get("Six-Hump-Camel").name == "six_hump_camel"
    with pytest.raises(ValueError, match="unknown landscape 'nope'"):
        L.get("nope")
    with pytest.raises(TypeError, match="himmelblau"):
        L.get("himmelblau", dim=3)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_listed_minima_agree_with_the_literature(name):
    land = L.get(name)
    precision, published = PUBLISHED[name]
    assert len(land.minima) == len(published)
    for m, (coords, value, is_global) in zip(land.minima, published, strict=True):
        assert m.is_global == is_global
        # to one unit in the last published digit (papers round or truncate)
        np.testing.assert_allclose(m.x, coords, rtol=0, atol=precision or 1e-12)
        assert m.value == pytest.approx(value, abs=precision or 1e-12)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_minima_have_the_published_value_and_zero_gradient(name):
    land = L.get(name)
    precision, published = PUBLISHED[name]
    for m, (_, value, _) in zip(land.minima, published, strict=True):
        v, g = land.value_and_grad(m.x)
        assert v == pytest.approx(m.value, abs=1e-6)
        assert v == pytest.approx(value, abs=max(precision, 1e-6))
        assert np.linalg.norm(g) < 1e-6
        # a minimum, not a saddle: the Hessian is positive definite (Ackley's cone tip aside)
        if name != "ackley":
            assert np.linalg.eigvalsh(_hessian(land, m.x)).min() > 0


def test_himmelblau_published_coordinates_refine_to_the_stored_minima():
    land = L.himmelblau()
    _, published = PUBLISHED["himmelblau"]
    for m, (coords, _, _) in zip(land.minima, published, strict=True):
        refined = _newton(land, coords)
        assert np.linalg.norm(land.grad(refined)) < 1e-9
        np.testing.assert_allclose(refined, coords, atol=5e-7)  # the six published digits hold
        np.testing.assert_allclose(refined, m.x, atol=1e-12)


def test_goldstein_price_local_minima_are_exact():
    land = L.goldstein_price()
    for m in land.minima:
        assert land(m.x) == pytest.approx(m.value, rel=1e-13)
        assert np.linalg.norm(land.grad(m.x)) < 1e-9


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_styblinski_tang_in_any_dimension(dim):
    land = L.styblinski_tang(dim=dim)
    g = land.global_minimum
    np.testing.assert_allclose(g.x, [-2.903534] * dim, atol=5e-7)
    # Wikipedia: -39.16617 d < f(x*) < -39.16616 d
    assert -39.16617 * dim < g.value < -39.16616 * dim
    assert land(g.x) == pytest.approx(g.value, abs=1e-9)
    assert len(land.minima) == 2**dim
    assert sum(m.is_global for m in land.minima) == 1
    for m in land.minima:
        assert np.linalg.norm(land.grad(m.x)) < 1e-6


@pytest.mark.parametrize("name,dim", [("rastrigin", 4), ("ackley", 3), ("rosenbrock", 5), ("sphere", 6)])
def test_n_dimensional_minima(name, dim):
    land = L.get(name, dim=dim)
    m = land.global_minimum
    assert len(m.x) == dim
    v, g = land.value_and_grad(m.x)
    assert abs(v) < 1e-12 and np.linalg.norm(g) < 1e-12


@pytest.mark.parametrize("name", [n for n in L.names() if n != "quadratic"])
def test_values_match_an_independent_formula(name):
    land = L.get(name)
    rng = np.random.default_rng(0)
    lo, hi = np.array(land.domain).T
    pts = lo + (hi - lo) * rng.random((7, 3, land.dim))
    np.testing.assert_allclose(land(pts), _np_formula(name, pts), rtol=1e-12, atol=1e-12)


def test_quadratic_condition_number_and_rotation():
    land = L.quadratic(condition=50.0, angle=math.pi / 6)
    hess = _hessian(land, np.array([0.3, -0.2]))
    lam = np.linalg.eigvalsh(hess)
    np.testing.assert_allclose(lam, [1.0, 50.0], rtol=1e-6)
    # the steep direction is rotated by 30 degrees from the y axis
    w, v = np.linalg.eigh(hess)
    steep = v[:, 1] * np.sign(v[1, 1])
    np.testing.assert_allclose(steep, [-math.sin(math.pi / 6), math.cos(math.pi / 6)], atol=1e-6)
    with pytest.raises(ValueError, match="condition"):
        L.quadratic(condition=0.5)


@pytest.mark.parametrize("name", L.names())
def test_gradients_pass_gradcheck(name):
    land = L.get(name)
    rng = np.random.default_rng(1)
    lo, hi = np.array(land.domain).T
    x = lo + (hi - lo) * rng.uniform(0.1, 0.9, (4, land.dim))
    assert descend.gradcheck(land.fn, x, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name", L.names())
def test_batches_give_rowwise_values_and_gradients(name):
    land = L.get(name)
    rng = np.random.default_rng(2)
    lo, hi = np.array(land.domain).T
    pts = lo + (hi - lo) * rng.random((2, 3, land.dim))
    values, grads = land.value_and_grad(pts)
    assert values.shape == (2, 3) and grads.shape == pts.shape
    for i in range(2):
        for j in range(3):
            v, g = land.value_and_grad(pts[i, j])
            assert values[i, j] == pytest.approx(v, rel=1e-14, abs=1e-14)
            np.testing.assert_allclose(grads[i, j], g, rtol=1e-12, atol=1e-12)


def test_tensor_in_tensor_out_and_shape_errors():
    land = L.himmelblau()
    t = descend.tensor(np.array([[1.0, 2.0], [3.0, 2.0]]), requires_grad=True)
    out = land(t)
    assert isinstance(out, descend.Tensor) and out.shape == (2,)
    out.sum().backward()
    np.testing.assert_allclose(t.grad[1], [0.0, 0.0])
    assert isinstance(land([3, 2]), float)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        land(np.zeros(3))


def test_ackley_at_its_cone_tip_has_zero_gradient_without_warnings():
    land = L.ackley(dim=3)
    v, g = land.value_and_grad(np.zeros(3))
    assert abs(v) < 1e-15
    assert np.all(g == 0)


def test_nearest_minimum_and_suggested_lr():
    land = L.himmelblau()
    i, d = land.nearest_minimum([2.9, 2.1])
    assert i == 0 and d == pytest.approx(math.hypot(0.1, 0.1))
    assert land.suggested_lr("sgd") == land.lr
    assert land.suggested_lr("adam") == land.adaptive_lr
    assert land.suggested_lr("lbfgs") == 1.0


def test_repr_names_dim_once():
    assert repr(L.rastrigin(dim=10)) == "Landscape('rastrigin', dim=10)"
    assert repr(L.quadratic(condition=5.0)) == "Landscape('quadratic', dim=2, condition=5.0, angle=0.0)"
