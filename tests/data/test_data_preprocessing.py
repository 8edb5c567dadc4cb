import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import descend
from descend.data import Dataset, StandardScaler, one_hot, train_test_split


def test_split_sizes_and_partition():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, seed=0)
    assert len(y_tr) == 7 and len(y_te) == 3
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), np.arange(10))
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)  # rows stay aligned
    again = train_test_split(X, y, test_size=0.3, seed=0)
    np.testing.assert_array_equal(again[3], y_te)
    a, b = train_test_split(y, seed=1)  # default 25% test, rounded up
    assert (len(a), len(b)) == (7, 3)
    a, b = train_test_split(y, train_size=4, test_size=2, seed=1)
    assert (len(a), len(b)) == (4, 2)
    a, b = train_test_split(y, test_size=3, shuffle=False)
    np.testing.assert_array_equal(a, np.arange(7))
    np.testing.assert_array_equal(b, [7, 8, 9])


def test_split_a_dataset():
    ds = Dataset(np.zeros((8, 2), np.float32), np.arange(8))
    tr, te = train_test_split(ds, test_size=0.25, seed=0)
    assert isinstance(tr, Dataset) and len(tr) == 6 and len(te) == 2


def test_stratified_split_keeps_class_shares():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    _, _, y_tr, y_te = train_test_split(np.zeros((100, 1)), y, test_size=0.2, stratify=y, seed=3)
    assert np.bincount(y_te).tolist() == [12, 6, 2]
    assert np.bincount(y_tr).tolist() == [48, 24, 8]


@pytest.mark.parametrize("kwargs, exc", [
    ({"test_size": 1.5}, ValueError), ({"test_size": 0}, ValueError),
    ({"test_size": 8, "train_size": 5}, ValueError), ({"test_size": "a"}, TypeError),
])
def test_split_bad_sizes(kwargs, exc):
    with pytest.raises(exc):
        train_test_split(np.arange(10), **kwargs)


def test_split_mismatched_lengths():
    with pytest.raises(ValueError, match="same number"):
        train_test_split(np.zeros(5), np.zeros(4))


def test_scaler_fit_on_train_apply_to_test():
    rng = np.random.default_rng(0)
    X_tr = rng.normal(5, 3, size=(200, 3)).astype(np.float32)
    X_te = rng.normal(5, 3, size=(50, 3)).astype(np.float32)
    sc = StandardScaler().fit(X_tr)
    Z = sc.transform(X_tr)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-5)
    Zt = sc.transform(X_te)
    np.testing.assert_allclose(Zt, (X_te - X_tr.astype(np.float64).mean(0)) / X_tr.astype(np.float64).std(0), rtol=1e-5)
    np.testing.assert_allclose(sc.inverse_transform(Zt), X_te, rtol=1e-5)
    # compare with scikit-learn's fitted statistics
    skl = pytest.importorskip("sklearn.preprocessing")
    ref = skl.StandardScaler().fit(X_tr)
    np.testing.assert_allclose(sc.mean_, ref.mean_, rtol=1e-6)
    np.testing.assert_allclose(sc.scale_, ref.scale_, rtol=1e-6)


def test_scaler_constant_column_tensor_and_errors(tmp_path):
    X = np.array([[1.0, 7.0], [3.0, 7.0]])
    sc = StandardScaler()
    Z = sc.fit_transform(descend.tensor(X))
    assert isinstance(Z, descend.Tensor)
    np.testing.assert_allclose(Z.numpy(), [[-1, 0], [1, 0]])
    with pytest.raises(ValueError, match="fitted on 2"):
        sc.transform(np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(X)
    descend.save(sc.state_dict(), tmp_path / "s.npz")
    sc2 = StandardScaler()
    sc2.load_state_dict(descend.load(tmp_path / "s.npz"))
    np.testing.assert_array_equal(sc2.transform(X), sc.transform(X))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30))
def test_one_hot_property(labels):
    y = np.array(labels)
    oh = one_hot(y, num_classes=7)
    assert oh.shape == (len(labels), 7) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.sum(axis=1), 1)
    np.testing.assert_array_equal(oh.argmax(axis=1), y)


def test_one_hot_inference_and_errors():
    np.testing.assert_array_equal(one_hot([2, 0]), [[0, 0, 1], [1, 0, 0]])
    assert one_hot(descend.tensor([1, 0]), -1).shape == (2, 2)
    with pytest.raises(ValueError, match="out of range"):
        one_hot([3], num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        one_hot([-1])
    with pytest.raises(TypeError, match="integers"):
        one_hot([0.5])
