"""Activation modules and functional activations against PyTorch."""

import numpy as np
import pytest

import descend
from descend import nn
from descend.nn import functional as F


@pytest.mark.parametrize("ours,theirs", [
    (lambda: nn.ReLU(), "ReLU()"),
    (lambda: nn.LeakyReLU(0.2), "LeakyReLU(0.2)"),
    (lambda: nn.Sigmoid(), "Sigmoid()"),
    (lambda: nn.Tanh(), "Tanh()"),
    (lambda: nn.GELU(), "GELU()"),
    (lambda: nn.GELU("tanh"), "GELU('tanh')"),
    (lambda: nn.Softplus(2.0, 5.0), "Softplus(2.0, 5.0)"),
    (lambda: nn.ELU(0.7), "ELU(0.7)"),
    (lambda: nn.Softmax(dim=0), "Softmax(dim=0)"),
    (lambda: nn.LogSoftmax(dim=1), "LogSoftmax(dim=1)"),
    (lambda: nn.Softmax(), "Softmax(dim=-1)"),
])
def test_activation_modules_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 5)) * 3
    m = ours()
    tm = eval("torch.nn." + theirs)
    xt = descend.tensor(x, requires_grad=True)
    out = m(xt)
    tx = torch.from_numpy(x).requires_grad_()
    tout = tm(tx)
    v = np.random.default_rng(1).standard_normal(x.shape)
    out.backward(v)
    tout.backward(torch.from_numpy(v))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_functional_softmax_dim_and_axis():
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(F.softmax(x, dim=0).data.sum(0), 1)
    np.testing.assert_allclose(F.softmax(x).data.sum(1), 1)
    np.testing.assert_array_equal(F.log_softmax(x, axis=0).data, F.log_softmax(x, dim=0).data)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        F.softmax(x, dim=2)
    with pytest.raises(TypeError, match="not both"):
        F.softmax(x, dim=0, axis=1)


def test_repr_and_argument_checks():
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.ReLU()) == "ReLU()"
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="beta"):
        nn.Softplus(beta=0)
