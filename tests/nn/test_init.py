"""descend.nn.init: gains, fans, distributions, reproducibility."""

import math

import numpy as np
import pytest

import descend
from descend import nn
from descend.nn import init


def _torch():
    return pytest.importorskip("torch")


def test_calculate_gain_equals_torch():
    torch = _torch()
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param), rel=1e-15)
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_fans_equal_torch_for_linear_and_kernel_shapes():
    torch = _torch()
    for shape in [(3, 5), (4, 2, 3, 3)]:
        ours = init._calculate_fan_in_and_fan_out(np.empty(shape), "t")
        theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert ours == theirs
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(nn.Parameter(np.zeros(3)))


@pytest.mark.parametrize("fn,kw,kind,scale", [
    (init.xavier_uniform_, {}, "uniform", math.sqrt(2 / (300 + 200))),
    (init.xavier_uniform_, {"gain": 2.0}, "uniform", 2 * math.sqrt(2 / (300 + 200))),
    (init.xavier_normal_, {}, "normal", math.sqrt(2 / (300 + 200))),
    (init.kaiming_uniform_, {}, "uniform", math.sqrt(2) / math.sqrt(300)),
    (init.kaiming_uniform_, {"a": math.sqrt(5)}, "uniform", math.sqrt(2 / 6) / math.sqrt(300)),
    (init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, "normal", math.sqrt(2) / math.sqrt(200)),
    (init.kaiming_normal_, {"nonlinearity": "tanh"}, "normal", (5 / 3) / math.sqrt(300)),
])
def test_distributions_have_the_documented_spread(fn, kw, kind, scale):
    """scale is the standard deviation from the formulas in the module docstring."""
    w = nn.Parameter(np.zeros((200, 300), dtype=np.float32))  # fan_in 300, fan_out 200
    descend.manual_seed(0)
    out = fn(w, **kw)
    assert out is w and w.dtype == np.float32
    assert w.data.std() == pytest.approx(scale, rel=0.02)
    assert abs(w.data.mean()) < 0.02 * scale
    if kind == "uniform":
        bound = math.sqrt(3) * scale
        assert np.abs(w.data).max() <= bound * (1 + 1e-6) and np.abs(w.data).max() > 0.99 * bound


def test_simple_fills_and_reproducibility():
    p = nn.Parameter(np.zeros((3, 4)))
    assert np.all(init.ones_(p).data == 1)
    assert np.all(init.zeros_(p).data == 0)
    assert np.all(init.constant_(p, 0.25).data == 0.25)
    descend.manual_seed(7)
    a = init.normal_(nn.Parameter(np.zeros(20000)), mean=3.0, std=0.5).data.copy()
    descend.manual_seed(7)
    b = init.normal_(nn.Parameter(np.zeros(20000)), mean=3.0, std=0.5).data
    np.testing.assert_array_equal(a, b)
    assert a.mean() == pytest.approx(3.0, abs=0.015) and a.std() == pytest.approx(0.5, rel=0.02)
    u = init.uniform_(nn.Parameter(np.zeros(1000)), -2, -1, generator=np.random.default_rng(1)).data
    assert u.min() >= -2 and u.max() < -1
    v = init.uniform_(nn.Parameter(np.zeros(1000)), -2, -1, generator=np.random.default_rng(1)).data
    np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(p, mode="fan_avg")
    with pytest.raises(TypeError, match="Tensor"):
        init.zeros_(np.zeros(3))


def test_init_records_nothing():
    p = nn.Parameter(np.zeros((2, 2)))
    init.kaiming_uniform_(p)
    assert p.is_leaf and p.grad is None and p.requires_grad
