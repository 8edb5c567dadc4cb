import numpy as np
import pytest

import descend
from descend.data import make_blobs, make_circles, make_linear, make_moons, make_spirals, make_xor

CLASSIFIERS = [make_moons, make_circles, make_spirals, make_xor, make_blobs]


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_shapes_dtypes_and_seed(make):
    X, y = make(n_samples=101, seed=5)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    X2, y2 = make(n_samples=101, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n_samples=101, seed=6)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_unseeded_follows_manual_seed(make):
    descend.manual_seed(1)
    a = make(n_samples=20)
    descend.manual_seed(1)
    b = make(n_samples=20)
    np.testing.assert_array_equal(a[0], b[0])


def test_linear_is_y_equals_2x_without_noise():
    X, y = make_linear(n_samples=50, seed=0)
    assert X.shape == (50, 1) and y.shape == (50, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y, 2 * X, rtol=1e-6)
    assert X.min() >= -1 and X.max() <= 1
    Xn, yn = make_linear(n_samples=2000, noise=0.5, seed=0)
    resid = yn - 2 * Xn
    assert 0.45 < resid.std() < 0.55
    Xm, ym = make_linear(n_samples=30, n_features=3, slope=[1.0, -2.0, 0.5], intercept=3.0, seed=1)
    np.testing.assert_allclose(ym[:, 0], Xm @ np.array([1.0, -2.0, 0.5], np.float32) + 3.0, rtol=1e-5)
    with pytest.raises(ValueError, match="slope"):
        make_linear(n_features=2, slope=[1.0, 2.0, 3.0])


def test_moons_geometry():
    X, y = make_moons(n_samples=200, seed=0)
    upper = X[y == 0]
    lower = X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (y == 0).sum() == 100


def test_circles_radii():
    X, y = make_circles(n_samples=100, factor=0.3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        make_circles(factor=1.5)


def test_spirals_classes_and_radius():
    X, y = make_spirals(n_samples=300, n_classes=3, seed=0)
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.hypot(X[:, 0], X[:, 1]).max() <= 1 + 1e-6


def test_xor_labels():
    X, y = make_xor(n_samples=500, seed=0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(int))
    assert 0.35 < y.mean() < 0.65


def test_blobs_centres_and_balance():
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    X, y = make_blobs(n_samples=1001, centers=centers, cluster_std=0.1, seed=0)
    assert np.bincount(y).tolist() == [501, 500]
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [10, 10], atol=0.05)
    X5, y5 = make_blobs(n_samples=50, centers=5, n_features=4, seed=2)
    assert X5.shape == (50, 4) and set(y5) == set(range(5))


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"n_samples": 2.5}, {"noise": -1.0}, {"seed": -3}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_moons(**kwargs)


def test_gaussian_mixture_is_a_seeded_regression_set_of_bumps_and_dips():
    from descend.data import make_gaussian_mixture

    X, y = make_gaussian_mixture(n_samples=400, seed=3)
    assert X.shape == (400, 2) and y.shape == (400, 1) and X.dtype == y.dtype == np.float32
    assert np.all(np.abs(X) <= 1)
    np.testing.assert_array_equal(y, make_gaussian_mixture(n_samples=400, seed=3)[1])
    # the bump in the first quadrant is positive and the dip in the second negative
    assert y[(X[:, 0] > 0.3) & (X[:, 1] > 0.3)].mean() > 0.5
    assert y[(X[:, 0] < -0.3) & (X[:, 1] > 0.3)].mean() < -0.5
    with pytest.raises(ValueError, match="noise"):
        make_gaussian_mixture(noise=-1)
