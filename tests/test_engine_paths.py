"""The engine's fast paths keep the semantics of the general ones."""

import subprocess
import sys

import numpy as np
import pytest

import descend
from descend import nn
from descend.nn import functional as F


# ----------------------------------------------------------------------------- backward
def test_backward_waits_for_every_consumer_of_a_shared_tensor():
    # a -> b -> c -> d and a -> d: d's gradient reaches a along a long and a short path
    a = descend.tensor(np.array([0.5, -1.5, 2.0]), dtype=np.float64, requires_grad=True)
    b = descend.sin(a)
    c = b * b
    d = descend.exp(c) + a * 3.0
    descend.sum(d * b).backward()
    av = a.data
    bv, cv = np.sin(av), np.sin(av) ** 2
    dv = np.exp(cv) + 3 * av
    # L = Σ d·b, dL/da = b·(e^c·2b·cos a + 3) + d·cos a
    expected = bv * (np.exp(cv) * 2 * bv * np.cos(av) + 3) + dv * np.cos(av)
    np.testing.assert_allclose(a.grad, expected, rtol=1e-12)


def test_backward_of_a_leaf_and_of_an_unused_branch():
    w = descend.tensor(np.ones(3), dtype=np.float64, requires_grad=True)
    w.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(w.grad, [1.0, 2.0, 3.0])
    w.grad = None
    used = w * 2.0
    _unused = w * 5.0  # a consumer outside the graph of the loss: never waited for
    descend.sum(used).backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0, 2.0])


def test_tensors_are_dictionary_keys_by_identity():
    a, b = descend.tensor([1.0, 2.0]), descend.tensor([1.0, 2.0])
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len(table) == 2
    assert hash(a) == hash(a) and hash(a) != hash(b)


# ----------------------------------------------------------------------------- operations
def test_relu_keeps_integer_and_float64_dtypes():
    assert descend.relu(descend.tensor(np.array([-1, 2]))).dtype == np.int64
    assert descend.relu(descend.tensor(np.array([-1.0, 2.0]), dtype=np.float64)).dtype == np.float64


def test_linear_on_3d_input_and_with_a_bias_of_another_dtype():
    rng = np.random.default_rng(0)
    x = descend.tensor(rng.standard_normal((2, 3, 4)), dtype=np.float64, requires_grad=True)
    w = descend.tensor(rng.standard_normal((5, 4)), dtype=np.float64, requires_grad=True)
    b = descend.tensor(rng.standard_normal(5), dtype=np.float32, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.shape == (2, 3, 5) and y.dtype == np.float64
    np.testing.assert_allclose(y.data, x.data @ w.data.T + b.data, rtol=1e-12)
    descend.sum(y * y).backward()
    g = 2 * y.data
    np.testing.assert_allclose(x.grad, g @ w.data, rtol=1e-12)
    np.testing.assert_allclose(w.grad, g.reshape(-1, 5).T @ x.data.reshape(-1, 4), rtol=1e-12)
    np.testing.assert_allclose(b.grad, g.reshape(-1, 5).sum(axis=0), rtol=1e-5)


def test_cross_entropy_label_checks_and_nan():
    x = descend.tensor(np.zeros((4, 3)), dtype=np.float64, requires_grad=True)
    # an ignore_index that is a real class is still ignored
    loss = F.cross_entropy(x, np.array([1, 1, 0, 2]), ignore_index=1)
    assert loss.item() == pytest.approx(np.log(3))
    with pytest.raises(ValueError, match="target contains class -2"):
        F.cross_entropy(x, np.array([0, -2, 1, 1]))
    with pytest.raises(ValueError, match="target contains class 3"):
        F.cross_entropy(x, np.array([0, 3, 1, 1]), ignore_index=1)
    # every example ignored: 0/0 is NaN, as in PyTorch, and no error
    assert np.isnan(F.cross_entropy(x, np.full(4, -100)).item())
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(ValueError, match="cross_entropy: input contains NaN"):
            F.cross_entropy(bad, np.array([0, 1, 2, 0]), reduction=reduction)


def test_nan_checks_see_nan_but_not_inf():
    assert F._has_nan(np.array([1.0, np.nan, np.inf]))
    assert not F._has_nan(np.array([np.inf, -np.inf, 3.0], dtype=np.float32))
    assert not F._has_nan(np.array([], dtype=np.float32)) and not F._has_nan(np.arange(3))


# ----------------------------------------------------------------------------- initialisation
def test_large_initialisation_is_drawn_in_slices_with_the_same_values(monkeypatch):
    import descend.nn.init as init

    descend.manual_seed(3)
    whole = nn.Linear(40, 30).weight.data.copy()
    monkeypatch.setattr(init, "_DRAW_CHUNK", 7)  # 1200 values in slices of 7
    descend.manual_seed(3)
    sliced = nn.Linear(40, 30).weight.data.copy()
    np.testing.assert_array_equal(whole, sliced)
    t = descend.tensor(np.zeros((20, 20)), dtype=np.float32)
    descend.manual_seed(4)
    init.normal_(t, 0.0, 2.0)
    expected = np.random.default_rng(4).normal(0.0, 2.0, (20, 20)).astype(np.float32)
    np.testing.assert_array_equal(t.data, expected)


# ----------------------------------------------------------------------------- import
def test_import_descend_loads_neither_numpy_random_nor_json():
    code = ("import sys, descend; print('numpy.random' in sys.modules, 'json' in sys.modules); "
            "from descend import manual_seed, save, load, CheckpointError; "
            "print(callable(manual_seed), callable(save), callable(load), CheckpointError.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True", "True", "True", "CheckpointError"]
