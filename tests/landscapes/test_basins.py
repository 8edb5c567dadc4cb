"""basins: one batched run over a grid of starts, labelled by the known minima."""


import numpy as np
import pytest

from descend import landscapes as L


def test_himmelblau_100x100_map():
    # its speed (target: under 10 s) is measured by benchmarks/basins.py, not asserted here
    bm = L.basins(L.himmelblau(), optimizer="sgd", lr=0.01, steps=500, resolution=100)
    assert bm.labels.shape == (100, 100) and bm.steps.shape == (100, 100)
    assert bm.global_share == 1.0  # every Himmelblau minimum is global, and every start converges
    shares = bm.shares
    assert sum(shares.values()) == pytest.approx(1.0)
    for i in range(4):  # the four basins are of comparable size
        assert 0.2 < shares[i] < 0.3
    assert bm.nfev == 10_000 * 501 and bm.njev == 10_000 * 500


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.01), ("momentum", 0.005), ("adam", 0.1)])
def test_batched_run_equals_one_run_per_start(optimizer, lr):
    land = L.himmelblau()
    bm = L.basins(land, optimizer=optimizer, lr=lr, steps=60, resolution=(4, 3), domain=((-4, 4), (-4, 4)))
    starts = bm.starts
    assert starts.shape == (12, 2)
    for i, s in enumerate(starts):
        res = L.minimize(land, s, optimizer=optimizer, lr=lr, steps=60, tol=None)
        np.testing.assert_allclose(bm.final.reshape(-1, 2)[i], res.x, rtol=1e-12, atol=1e-12)
        label = bm.labels.ravel()[i]
        if label >= 0:
            assert np.linalg.norm(res.x - land.minima[label].point) <= bm.tol
            k = L.steps_to_reach(res.path, land.minima[label].point, bm.tol)
            assert bm.steps.ravel()[i] == k


def test_starting_on_a_minimum_takes_zero_steps():
    land = L.booth()
    bm = L.basins(land, optimizer="sgd", lr=0.02, steps=5, resolution=3, domain=((0, 2), (2, 4)))
    centre = (1, 1)  # the grid's middle point is the minimum (1, 3)
    assert bm.labels[centre] == 0 and bm.steps[centre] == 0


def test_local_minima_and_unconverged_starts():
    land = L.six_hump_camel()
    bm = L.basins(land, optimizer="sgd", lr=0.02, steps=300, resolution=40)
    found = set(np.unique(bm.labels)) - {-1}
    assert found == set(range(6))  # every one of the six minima has a basin
    assert 0.3 < bm.global_share < 0.9
    short = L.basins(land, optimizer="sgd", lr=0.001, steps=3, resolution=10)
    assert np.all(short.labels == -1) and np.all(short.steps == -1) and not short.diverged.any()


def test_diverging_starts_are_labelled_without_warnings():
    bm = L.basins(L.rosenbrock(), optimizer="sgd", lr=0.01, steps=50, resolution=20)
    assert bm.diverged.any()
    assert np.all(bm.labels[bm.diverged] == -1)
    assert bm.shares[-1] >= bm.diverged.mean()


def test_bad_arguments():
    with pytest.raises(ValueError, match="lbfgs"):
        L.basins(L.himmelblau(), optimizer="lbfgs")
    with pytest.raises(ValueError, match="2-D"):
        L.basins(L.rastrigin(dim=3))
    with pytest.raises(ValueError, match="resolution"):
        L.basins(L.himmelblau(), resolution=1)
    with pytest.raises(ValueError, match="domain"):
        L.basins(L.himmelblau(), domain=((1, 0), (0, 1)))
    with pytest.raises(TypeError, match="Landscape"):
        L.basins(lambda x: x)
