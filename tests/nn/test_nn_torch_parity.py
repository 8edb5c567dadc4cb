"""descend.nn against PyTorch with copied weights: logits, loss and every gradient."""

import numpy as np
import pytest

import descend
from descend import nn
from descend.nn import functional as F

torch = pytest.importorskip("torch")


def _torch_mlp(model: nn.MLP, activation=torch.nn.ReLU, output=None):
    layers = []
    lins = model.linears
    for i, lin in enumerate(lins):
        t = torch.nn.Linear(lin.in_features, lin.out_features, dtype=torch.float64)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.data.astype(np.float64)))
            t.bias.copy_(torch.from_numpy(lin.bias.data.astype(np.float64)))
        layers.append(t)
        if i < len(lins) - 1:
            layers.append(activation())
        elif output is not None:
            layers.append(output())
    return torch.nn.Sequential(*layers)


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def test_mnist_sized_mlp_matches_torch_float64():
    descend.manual_seed(0)
    model = nn.MLP([784, 256, 256, 10], dtype=np.float64)
    tmodel = _torch_mlp(model)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 784))
    y = rng.integers(0, 10, 64)

    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()

    tx = torch.from_numpy(x)
    tlogits = tmodel(tx)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(y))
    tloss.backward()

    assert logits.dtype == np.float64
    assert _rel(logits.data, tlogits.detach().numpy()) < 1e-9
    assert abs(loss.item() - tloss.item()) <= 1e-9 * abs(tloss.item())
    tlins = [m for m in tmodel if isinstance(m, torch.nn.Linear)]
    for lin, tlin in zip(model.linears, tlins, strict=True):
        assert _rel(lin.weight.grad, tlin.weight.grad.numpy()) < 1e-9
        assert _rel(lin.bias.grad, tlin.bias.grad.numpy()) < 1e-9


def test_default_float32_model_matches_torch_closely():
    descend.manual_seed(3)
    model = nn.MLP([20, 16, 5])
    assert all(p.dtype == np.float32 for p in model.parameters())
    tmodel = _torch_mlp(model)
    x = np.random.default_rng(0).standard_normal((8, 20)).astype(np.float32)
    y = np.arange(8) % 5
    out = model(x)
    assert out.dtype == np.float32  # float32 end to end
    loss = F.cross_entropy(out, y)
    assert loss.dtype == np.float32
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x.astype(np.float64))), torch.from_numpy(y))
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-5)
    for lin, tlin in zip(model.linears, [m for m in tmodel if isinstance(m, torch.nn.Linear)], strict=True):
        assert lin.weight.grad.dtype == np.float32
        np.testing.assert_allclose(lin.weight.grad, tlin.weight.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name,tcls", [
    ("sigmoid", torch.nn.Sigmoid), ("tanh", torch.nn.Tanh), ("gelu", torch.nn.GELU),
    ("elu", torch.nn.ELU), ("softplus", torch.nn.Softplus), ("leaky_relu", torch.nn.LeakyReLU),
])
def test_mlp_activations_match_torch(name, tcls):
    descend.manual_seed(5)
    model = nn.MLP([6, 9, 9, 2], activation=name, output_activation="sigmoid", dtype=np.float64)
    tmodel = _torch_mlp(model, tcls, torch.nn.Sigmoid)
    x = np.random.default_rng(2).standard_normal((11, 6)) * 3
    y = np.random.default_rng(3).random((11, 2))
    loss = F.mse_loss(model(x), y)
    loss.backward()
    tloss = torch.nn.functional.mse_loss(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    for lin, tlin in zip(model.linears, [m for m in tmodel if isinstance(m, torch.nn.Linear)], strict=True):
        assert _rel(lin.weight.grad, tlin.weight.grad.numpy()) < 1e-10
