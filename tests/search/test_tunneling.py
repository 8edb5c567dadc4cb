"""Tunnelling (Levy & Montalvo): out of Rastrigin's dimples, honest counts, reproducible."""

import numpy as np
import pytest

from descend import landscapes as L
from descend import search as S


@pytest.fixture(scope="module")
def rastrigin_run():
    return S.tunneling(L.rastrigin(), [3.1, -2.2], seed=0)


def test_one_descent_sticks_where_tunnelling_reaches_the_global_minimum(rastrigin_run):
    land = L.rastrigin()
    single = L.minimize(land, [3.1, -2.2])
    assert single.fun == pytest.approx(12.934, abs=1e-3)  # the dimple next to the start
    r = rastrigin_run
    assert r.fun < 1e-10 and np.linalg.norm(r.x) < 1e-6 and r.success
    assert r.method == "tunneling" and r.cycles == len(r.values) - 1 >= 2
    assert r.values[0] == pytest.approx(single.fun)
    assert np.all(np.diff(r.values) < 0)  # every cycle lands in a strictly lower basin
    assert "taken as global" in r.message


def test_counts_are_the_sum_of_every_walk(rastrigin_run):
    r = rastrigin_run
    assert r.nfev == sum(q.nfev for q in r.runs) and r.njev == sum(q.njev for q in r.runs)
    phases = [q.phase for q in r.runs]
    assert phases[0] == "descent" and phases.count("descent") == len(r.descents) == r.cycles + 1
    assert "tunnel" in phases
    evals, best, points = r.best_trace()
    assert evals[-1] <= r.nfev and best[-1] == pytest.approx(r.fun, abs=1e-12)
    # a tunnelling walk reports f along its path, recovered from T: check it against f itself
    walk = next(q for q in r.runs if q.phase == "tunnel")
    np.testing.assert_allclose(walk.values, L.rastrigin()(walk.path), rtol=1e-9, atol=1e-9)
    assert np.all(walk.tunnel_values[:-1] > 0)


def test_a_successful_walk_stops_at_the_first_point_below():
    r = S.tunneling(L.rastrigin(), [3.1, -2.2], seed=0, n_cycles=1)
    found = [q for q in r.runs if q.phase == "tunnel" and q.success]
    assert len(found) == 1
    walk = found[0]
    assert walk.tunnel_values[-1] < 0 and np.all(walk.tunnel_values[:-1] >= 0)
    assert walk.values[-1] < r.values[0]


def test_same_seed_same_run_other_seed_other_directions():
    land = L.rastrigin()
    kw = dict(n_cycles=2, n_tries=3, tunnel_steps=40, seed=5)
    a, b = S.tunneling(land, [3.1, -2.2], **kw), S.tunneling(land, [3.1, -2.2], **kw)
    np.testing.assert_array_equal(a.path, b.path)
    assert a.nfev == b.nfev
    c = S.tunneling(land, [3.1, -2.2], **dict(kw, seed=6))
    assert not np.array_equal(a.runs[1].path, c.runs[1].path)


def test_budget_is_respected():
    r = S.tunneling(L.rastrigin(), [3.1, -2.2], seed=0, max_evaluations=500)
    assert r.nfev <= 500 and "budget" in r.message


def test_plain_numpy_function_by_central_differences():
    def double_well(x):  # minima near -1.04 (f = -0.31) and 0.96 (f = 0.29)
        return float((x[0] ** 2 - 1) ** 2 + 0.3 * x[0])

    r = S.tunneling(double_well, [1.2], seed=0, lr=0.05, n_tries=4)
    assert r.x[0] == pytest.approx(-1.037, abs=0.01) and r.fun < 0


def test_tunneling_function_sign_and_pole():
    land = L.rastrigin()
    x_star = np.array([0.99495864, 0.0])
    f_star = float(land(x_star))
    T = S.tunneling_function(land, x_star, f_star, pole_strength=1.1)
    assert float(T(np.array([0.0, 0.0]))) < 0  # the origin lies lower
    assert float(T(np.array([2.0, 2.0]))) > 0
    near, nearer = float(T(x_star + [1e-2, 0])), float(T(x_star + [1e-4, 0]))
    assert nearer > near > 0  # the pole: T grows without bound towards x*
    mobile = S.tunneling_function(land, x_star, f_star, 1.1, mobile_poles=[np.array([2.0, 2.0])])
    assert float(mobile(np.array([2.0, 2.01]))) > float(T(np.array([2.0, 2.01])))


def test_bad_arguments_are_named():
    land = L.rastrigin()
    with pytest.raises(ValueError, match="pole_strength"):
        S.tunneling(land, [1, 1], pole_strength=1.0)
    with pytest.raises(ValueError, match="radius"):
        S.tunneling(land, [1, 1], radius=-0.5)
    with pytest.raises(ValueError, match="n_tries"):
        S.tunneling(land, [1, 1], n_tries=0)
    with pytest.raises(ValueError, match="max_evaluations"):
        S.tunneling(land, [1, 1], max_evaluations=1)
    with pytest.raises(ValueError, match="x0 has 3 coordinates"):
        S.tunneling(land, [1, 1, 1])
    # the tunnelling walk's settings, named as given (before the first descent runs)
    with pytest.raises(ValueError, match="tunnel_optimizer: unknown name 'nope'"):
        S.tunneling(land, [1, 1], tunnel_optimizer="nope")
    for bad in (-1, "x", [0.1, 0.2]):
        with pytest.raises(ValueError, match="tunnel_lr must be"):
            S.tunneling(land, [1, 1], tunnel_lr=bad)


def test_directions_point_every_way():
    from descend.search.tunneling import _spread_directions

    d = _spread_directions(np.random.default_rng(0), 3, 8)
    assert d.shape == (8, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    first = d[:6]  # one rotation: its three axes, each both ways
    np.testing.assert_allclose(first[0::2] @ first[0::2].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(first[0::2], -first[1::2])
