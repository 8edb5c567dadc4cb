"""Linear, Dropout, BatchNorm1d, Identity, Flatten and MLP."""

import math

import numpy as np
import pytest

import descend
from descend import nn


def test_linear_layout_and_values():
    lin = nn.Linear(3, 2)
    assert lin.weight.shape == (2, 3) and lin.bias.shape == (2,)
    lin.weight.data[...] = [[1, 2, 3], [4, 5, 6]]
    lin.bias.data[...] = [0.5, -1]
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(lin(x).data, [[-1.5, -3.0], [4.5, 12.0]])
    # any number of leading axes, and a single example
    x3 = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_allclose(lin(x3).data, (x3.reshape(4, 3) @ lin.weight.data.T + lin.bias.data).reshape(2, 2, 2))
    np.testing.assert_allclose(lin(x[0]).data, [-1.5, -3.0])
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_gradients_for_nd_input_match_finite_differences():
    w = np.random.default_rng(0).standard_normal((2, 3))
    b = np.random.default_rng(1).standard_normal(2)
    x = np.random.default_rng(2).standard_normal((2, 2, 3))
    descend.gradcheck(lambda x, w, b: nn.functional.linear(x, w, b), x, w, b)
    descend.gradcheck(lambda x, w: nn.functional.linear(x, w), x[0, 0], w)


def test_linear_default_init_matches_pytorch_bounds_and_seed():
    descend.manual_seed(42)
    a = nn.Linear(400, 300)
    descend.manual_seed(42)
    b = nn.Linear(400, 300)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / math.sqrt(400)
    for p in (a.weight.data, a.bias.data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound
    # uniform on [-bound, bound] has standard deviation bound/√3
    assert a.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(a.weight.data.mean()) < 0.02 * bound


def test_linear_bad_input_width_and_dtype_cast():
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"in_features=4.*shape \(5, 3\)"):
        lin(np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        lin(descend.tensor(1.0))
    out = lin(np.ones((2, 4)))  # float64 data into a float32 layer stays float32
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)


def test_linear_computes_no_input_gradient_for_data():
    lin = nn.Linear(3, 2)
    x = descend.tensor(np.ones((4, 3), dtype=np.float32))
    out = lin(x)
    # only the weight and bias edges were recorded
    assert [p is lin.weight or p is lin.bias for p, _ in out._parents] == [True, True]
    xr = descend.tensor(np.ones((4, 3), dtype=np.float32), requires_grad=True)
    lin(xr).sum().backward()
    np.testing.assert_allclose(xr.grad, np.tile(lin.weight.data.sum(0), (4, 1)), rtol=1e-6)


def test_dropout_statistics_scaling_and_modes():
    descend.manual_seed(0)
    drop = nn.Dropout(0.3)
    x = np.ones((200, 500), dtype=np.float32)
    out = drop(x).data
    kept = out != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.005)
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    assert out.dtype == np.float32
    # the gradient uses the same mask
    xt = descend.tensor(x, requires_grad=True)
    descend.manual_seed(0)
    drop(xt).sum().backward()
    np.testing.assert_array_equal(xt.grad, out)
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x)
    assert np.all(nn.Dropout(1.0)(x).data == 0)
    for p in (-0.1, 1.5, "a"):
        with pytest.raises(ValueError, match="p must be"):
            nn.Dropout(p)


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("shape", [(8, 3), (5, 3, 4)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_matches_torch_train_and_eval(shape, momentum):
    torch = _torch()
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(3, momentum=momentum, dtype=np.float64)
    tbn = torch.nn.BatchNorm1d(3, momentum=momentum, dtype=torch.float64)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn.weight.data[...] = gamma
    bn.bias.data[...] = beta
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(gamma))
        tbn.bias.copy_(torch.from_numpy(beta))
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        v = rng.standard_normal(shape)
        xt = descend.tensor(x, requires_grad=True)
        out = bn(xt)
        (out * v).sum().backward()
        txx = torch.from_numpy(x).requires_grad_()
        tout = tbn(txx)
        (tout * torch.from_numpy(v)).sum().backward()
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xt.grad, txx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bn.weight.grad, tbn.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(bn.bias.grad, tbn.bias.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(bn.running_mean.data, tbn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, tbn.running_var.numpy(), rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 3
    bn.eval()
    tbn.eval()
    x = rng.standard_normal(shape)
    xt = descend.tensor(x, requires_grad=True)
    bn(xt).sum().backward()
    txx = torch.from_numpy(x).requires_grad_()
    tbn(txx).sum().backward()
    np.testing.assert_allclose(bn(x).data, tbn(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(xt.grad, txx.grad.numpy(), rtol=1e-10)
    assert sorted(bn.state_dict()) == ["bias", "num_batches_tracked", "running_mean", "running_var", "weight"]


def test_batchnorm_gradcheck_and_errors():
    x = np.random.default_rng(0).standard_normal((6, 4))
    g = np.random.default_rng(1).standard_normal(4)
    b = np.random.default_rng(2).standard_normal(4)
    descend.gradcheck(lambda x, g, b: nn.functional.batch_norm(x, None, None, g, b, training=True), x, g, b)
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(np.ones((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"num_features=4"):
        bn(np.ones((3, 5), dtype=np.float32))
    no_stats = nn.BatchNorm1d(4, affine=False, track_running_stats=False).eval()
    out = no_stats(x).data  # no running estimates: batch statistics even in eval mode
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    assert list(no_stats.state_dict()) == []


def test_identity_and_flatten():
    x = descend.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4), requires_grad=True)
    assert nn.Identity(5, foo=1)(x) is x
    f = nn.Flatten()
    assert f(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    f(x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="Flatten"):
        nn.Flatten(2, 1)(x)


def test_mlp_structure():
    descend.manual_seed(0)
    m = nn.MLP([784, 256, 256, 10])
    assert [type(c).__name__ for c in m] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [(lin.in_features, lin.out_features) for lin in m.linears] == [(784, 256), (256, 256), (256, 10)]
    assert sum(p.size for p in m.parameters()) == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert list(m.state_dict())[:2] == ["0.weight", "0.bias"]
    m2 = nn.MLP([4, 8, 3], activation="tanh", output_activation="sigmoid", dropout=0.5)
    assert [type(c).__name__ for c in m2] == ["Linear", "Tanh", "Dropout", "Linear", "Sigmoid"]
    assert m2.activation == "tanh" and m2.output_activation == "sigmoid" and m2.sizes == (4, 8, 3)
    out = m2(np.zeros((2, 4), dtype=np.float32))
    assert out.shape == (2, 3) and np.all((out.data > 0) & (out.data < 1))
    assert [type(c).__name__ for c in nn.MLP([2, 3, 1], activation="identity")] == ["Linear", "Identity", "Linear"]


def test_mlp_bad_arguments_and_input():
    with pytest.raises(ValueError, match="sizes"):
        nn.MLP([5])
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        nn.MLP([5, 0, 2])
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="output_activation"):
        nn.MLP([2, 2], output_activation="softmax2")
    with pytest.raises(ValueError, match="dropout"):
        nn.MLP([2, 2], dropout=1.0)
    m = nn.MLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"input x has shape \(5, 4\)"):
        m(np.zeros((5, 4), dtype=np.float32))
    bad = np.zeros((5, 3), dtype=np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        m(bad)


def test_bad_input_is_rejected_before_any_parameter_changes():
    descend.manual_seed(0)
    model = nn.MLP([4, 5, 3])
    before = {k: v.copy() for k, v in model.state_dict().items()}

    def sgd_step(x, y):
        model.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad

    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    nan_x = x.copy()
    nan_x[0, 0] = np.nan
    bad = [
        (x[:, :3], np.zeros(6, dtype=np.int64), "input x has shape"),
        (nan_x, np.zeros(6, dtype=np.int64), "x contains NaN"),
        (x, np.array([0, 1, 2, 3, 0, 1]), "target contains class 3"),
        (x, np.zeros(6, dtype=np.float32), "integer class indices"),
        (x, np.zeros((6, 1), dtype=np.int64), "target of class indices must have shape"),
    ]
    for xb, yb, message in bad:
        with pytest.raises((ValueError, TypeError), match=message):
            sgd_step(xb, yb)
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v, before[k])
    sgd_step(x, np.array([0, 1, 2, 0, 1, 2]))  # good input does train
    assert not np.array_equal(model.state_dict()["0.weight"], before["0.weight"])
