import pytest

import descend


@pytest.fixture
def linear_data():
    """y = 2x on [-2, 2] (no noise): the seed example of gradient descent."""
    return descend.data.make_linear(n_samples=40, x_range=(-2.0, 2.0), seed=0)


@pytest.fixture
def blobs():
    X, y = descend.data.make_blobs(n_samples=120, centers=3, cluster_std=1.0, seed=0)
    X = descend.data.StandardScaler().fit_transform(X)
    return X, y
