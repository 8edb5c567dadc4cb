"""Gradient-free search and restarts: results, honest counts, reproducibility."""

import numpy as np
import pytest

import descend
from descend import landscapes as L
from descend import search as S


def _counting(f):
    calls = []

    def g(x):
        calls.append(np.array(x, copy=True))
        return f(x)

    return g, calls


def test_random_search_improves_with_budget():
    sphere = L.sphere()
    best = {n: [S.random_search(sphere, n_samples=n, seed=s).fun for s in range(10)] for n in (10, 100, 1000)}
    means = [np.mean(best[n]) for n in (10, 100, 1000)]
    assert means[0] > means[1] > means[2]
    for s in range(10):  # the same seed draws the same first samples: more budget never hurts
        assert best[10][s] >= best[100][s] >= best[1000][s]
    # in 2-D the best of n uniform samples is ~ area/(π n) from the origin (f = r²)
    assert np.mean(best[1000]) == pytest.approx((10.24**2) / (np.pi * 1000), rel=0.6)


def test_random_search_result():
    r = S.random_search(L.himmelblau(), n_samples=200, seed=3)
    assert r.path.shape == (200, 2) and r.values.shape == (200,)
    assert r.nfev == r.nit == 200 and r.njev == 0 and r.success
    assert r.fun == r.values.min() and np.all(r.path >= -5) and np.all(r.path <= 5)
    np.testing.assert_allclose(r.values, L.himmelblau()(r.path))


SEEDED = {
    "random": lambda f, seed: S.random_search(f, n_samples=50, seed=seed),
    "local": lambda f, seed: S.random_local_search(f, [0.0, 0.0], step_size=0.3, n_steps=50, seed=seed),
    "annealing": lambda f, seed: S.simulated_annealing(f, [0.0, 0.0], step_size=0.3, n_steps=50, t0=5.0, seed=seed),
    "multistart": lambda f, seed: S.multistart(f, n_starts=3, optimizer="sgd", lr=0.01, steps=10, seed=seed),
    "hopping": lambda f, seed: S.basin_hopping(f, [0.0, 0.0], n_iter=3, step_size=1.0, optimizer="sgd",
                                               lr=0.01, steps=10, seed=seed),
}


@pytest.mark.parametrize("method", sorted(SEEDED))
def test_every_method_reproduces_from_its_seed(method):
    run = SEEDED[method]
    land = L.himmelblau()
    a, b, c = run(land, 7), run(land, 7), run(land, 8)
    np.testing.assert_array_equal(a.path, b.path)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.fun == b.fun and a.nfev == b.nfev
    assert not np.array_equal(a.path, c.path)


@pytest.mark.parametrize("method", sorted(SEEDED))
def test_global_generator_is_used_without_a_seed(method):
    run = SEEDED[method]
    land = L.himmelblau()
    descend.manual_seed(11)
    a = run(land, None)
    descend.manual_seed(11)
    b = run(land, None)
    np.testing.assert_array_equal(a.path, b.path)


@pytest.mark.parametrize("method", ["random", "local", "annealing"])
def test_counts_are_honest_for_a_plain_function(method):
    f, calls = _counting(lambda x: float(np.sum((x - 0.5) ** 2)))
    if method == "random":
        r = S.random_search(f, bounds=[(-1, 1), (-1, 1)], n_samples=40, seed=0)
    elif method == "local":
        r = S.random_local_search(f, [0.0, 0.0], step_size=0.2, n_steps=40, seed=0)
    else:
        r = S.simulated_annealing(f, [0.0, 0.0], step_size=0.2, n_steps=40, seed=0)
    assert r.nfev == len(calls) and r.njev == 0
    assert r.fun == pytest.approx(float(np.sum((r.x - 0.5) ** 2)))
    assert min(float(np.sum((c - 0.5) ** 2)) for c in calls) == pytest.approx(r.fun)


def test_restart_counts_are_honest_with_autodiff():
    land = L.rastrigin()
    calls = []

    def f(x):  # descend ops: differentiated by autodiff, one call per value+gradient
        calls.append(1)
        return land.fn(x)

    r = S.multistart(f, n_starts=4, bounds=land.domain, optimizer="sgd", lr=0.002, steps=20, seed=0)
    assert r.nfev == r.njev == len(calls) == sum(run.nfev for run in r.runs)
    calls.clear()
    r = S.basin_hopping(f, [2.0, 2.0], n_iter=3, optimizer="sgd", lr=0.002, steps=20, seed=0)
    assert r.nfev == len(calls) and len(r.runs) == 4


def test_local_search_keeps_only_improvements():
    r = S.random_local_search(L.rosenbrock(), [-1.5, 2.0], step_size=0.1, n_steps=300, seed=0)
    assert np.all(np.diff(r.values) <= 0)
    assert r.accepted == int(np.sum(np.diff(r.values) < 0))
    assert r.fun < L.rosenbrock()([-1.5, 2.0])


def test_annealing_climbs_when_hot_and_not_when_cold():
    land = L.rastrigin()
    hot = S.simulated_annealing(land, [0.0, 0.0], step_size=0.5, n_steps=300, t0=1e3, t_final=1e3, seed=0)
    cold = S.simulated_annealing(land, [0.0, 0.0], step_size=0.5, n_steps=300, t0=1e-9, t_final=1e-9, seed=0)
    assert np.any(np.diff(hot.values) > 0)
    assert np.all(np.diff(cold.values) <= 0)  # at the global minimum already: nothing accepted
    assert cold.accepted == 0 and cold.fun == 0.0


def test_temperature_schedules():
    t = S.temperatures("exponential", 5, t0=1.0, t_final=1e-4)
    np.testing.assert_allclose(t, [1, 1e-1, 1e-2, 1e-3, 1e-4])
    np.testing.assert_allclose(S.temperatures("linear", 3, 2.0, 1.0), [2.0, 1.5, 1.0])
    np.testing.assert_allclose(S.temperatures("fast", 3, 1.0), [1.0, 0.5, 1 / 3])
    np.testing.assert_allclose(S.temperatures("logarithmic", 2, 1.0), [1.0, 1 / np.log(1 + np.e)])
    np.testing.assert_allclose(S.temperatures(lambda k: 10.0 - k, 3), [10, 9, 8])
    with pytest.raises(ValueError, match="schedule"):
        S.temperatures("boiling", 3)


def test_multistart_finds_what_a_single_descent_misses():
    land = L.rastrigin()
    single = L.minimize(land, [3.1, -2.2], optimizer="sgd", lr=0.002, steps=300)
    multi = S.multistart(land, n_starts=30, optimizer="sgd", lr=0.002, steps=300, seed=1)
    assert multi.fun < single.fun
    assert len(multi.runs) == 30 and multi.starts.shape == (30, 2)
    assert multi.fun == min(run.fun for run in multi.runs)
    explicit = S.multistart(land, starts=[[3.1, -2.2], [0.1, 0.1]], optimizer="sgd", lr=0.002, steps=300)
    assert explicit.fun < 1e-10 and explicit.best_run == 1


def test_basin_hopping_improves_on_its_first_descent():
    land = L.rastrigin()
    r = S.basin_hopping(land, [3.1, -2.2], n_iter=25, step_size=1.0, temperature=1.0, optimizer="sgd",
                        lr=0.002, steps=200, seed=0)
    assert r.fun < r.runs[0].fun
    assert r.path.shape == (26, 2)


def test_trace_chains_restarts():
    r = S.multistart(L.himmelblau(), n_starts=3, optimizer="sgd", lr=0.01, steps=15, seed=0, tol=None)
    evals, values, points = r.trace()
    assert len(evals) == r.nfev == 48 and np.all(np.diff(evals) == 1)
    ev, best, pts = r.best_trace()
    assert np.all(np.diff(best) <= 0) and best[-1] == r.fun
    np.testing.assert_array_equal(pts[-1], r.x)


def test_bad_arguments_are_named():
    land = L.himmelblau()
    with pytest.raises(ValueError, match="bounds must be given"):
        S.random_search(lambda x: 0.0, n_samples=3)
    with pytest.raises(ValueError, match="bounds"):
        S.random_search(land, bounds=[(1, 0), (0, 1)])
    with pytest.raises(ValueError, match="n_samples"):
        S.random_search(land, n_samples=0)
    with pytest.raises(ValueError, match="seed"):
        S.random_search(land, n_samples=3, seed=-1)
    with pytest.raises(ValueError, match="step_size"):
        S.random_local_search(land, [0, 0], step_size=-1)
    with pytest.raises(ValueError, match="x0 has 3 coordinates"):
        S.simulated_annealing(land, [0, 0, 0])
    with pytest.raises(ValueError, match="not both"):
        S.multistart(land, n_starts=2, starts=[[0, 0]])
    with pytest.raises(ValueError, match="temperature"):
        S.basin_hopping(land, [0, 0], temperature=0)


def test_basin_hopping_defaults_reach_rastrigins_origin():
    # the default jump (a tenth of the domain, 1.024) leaves a unit-spaced dimple; 50 hops suffice
    land = L.rastrigin()
    for seed in range(3):
        r = S.basin_hopping(land, [3.1, -2.2], seed=seed)
        assert r.fun < 1e-8 and r.nfev < 1000
    with pytest.raises(ValueError, match="step_size"):
        S.basin_hopping(land, [3.1, -2.2], step_size=0)
