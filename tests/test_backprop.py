"""descend.backprop: the δ recursion by hand against the engine, PyTorch and the worked example."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import descend
from descend import backprop, nn
from descend.nn import functional as F

ACTS = ["sigmoid", "tanh", "relu", "identity", "leaky_relu", "elu", "softplus", "gelu"]
LOSSES = ["half_sse", "mse", "cross_entropy"]
SIZES = [5, 7, 6, 3]
B = 9


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def _data(loss, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, SIZES[0])) * 1.5
    y = rng.integers(0, SIZES[-1], B) if loss == "cross_entropy" else rng.random((B, SIZES[-1]))
    return x, y


def _engine_loss(out, y, loss):
    if loss == "half_sse":
        return ((out - y) ** 2).sum() * (0.5 / out.shape[0])
    if loss == "mse":
        return F.mse_loss(out, y)
    return F.cross_entropy(out, y)


def _model(act, loss, seed=0):
    descend.manual_seed(seed)
    out_act = None if loss == "cross_entropy" else act
    return nn.MLP(SIZES, activation=act, output_activation=out_act, dtype=np.float64)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_gradients_equal_the_engine(act, loss):
    model = _model(act, loss)
    x, y = _data(loss)
    engine_loss = _engine_loss(model(x), y, loss)
    engine_loss.backward()
    res = backprop.forward_backward(
        x, y, [lin.weight.data for lin in model.linears], [lin.bias.data for lin in model.linears],
        activation=act, loss=loss,
    )
    assert res.loss == pytest.approx(engine_loss.item(), rel=1e-12)
    assert len(res.deltas) == len(res.preactivations) == 3 and len(res.activations) == 4
    for k, lin in enumerate(model.linears):
        assert res.weight_grads[k].shape == lin.weight.shape
        assert _rel(res.weight_grads[k], lin.weight.grad) < 1e-10, f"layer {k + 1} weights"
        assert _rel(res.bias_grads[k], lin.bias.grad) < 1e-10, f"layer {k + 1} bias"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
def test_each_delta_is_the_engines_gradient_of_z(act, loss):
    """δ⁽ˡ⁾ = ∂L/∂z⁽ˡ⁾: restart the network at layer l with z⁽ˡ⁾ as a leaf and backpropagate."""
    model = _model(act, loss)
    x, y = _data(loss, seed=1)
    res = backprop.MLP.from_module(model).forward_backward(x, y, loss=loss)
    mods = list(model)
    starts = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    for k, start in enumerate(starts):
        z = descend.tensor(res.preactivations[k], requires_grad=True)
        h = z
        for m in mods[start + 1:]:
            h = m(h)
        _engine_loss(h, y, loss).backward()
        assert _rel(res.deltas[k], z.grad) < 1e-10, f"delta of layer {k + 1}"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
def test_gradients_equal_torch(act, loss):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    Ws = [rng.standard_normal((n, m)) / np.sqrt(m) for m, n in zip(SIZES[:-1], SIZES[1:], strict=True)]
    bs = [rng.standard_normal(n) * 0.1 for n in SIZES[1:]]
    x, y = _data(loss, seed=3)
    res = backprop.forward_backward(x, y, Ws, bs, activation=act, loss=loss)

    tW = [torch.from_numpy(w).requires_grad_() for w in Ws]
    tb = [torch.from_numpy(b).requires_grad_() for b in bs]
    sigma = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda t: t}[act]
    a = torch.from_numpy(x)
    for k in range(3):
        z = a @ tW[k].T + tb[k]
        a = z if (k == 2 and loss == "cross_entropy") else sigma(z)
    if loss == "half_sse":
        tl = 0.5 * ((a - torch.from_numpy(y)) ** 2).sum() / B
    elif loss == "mse":
        tl = torch.nn.functional.mse_loss(a, torch.from_numpy(y))
    else:
        tl = torch.nn.functional.cross_entropy(a, torch.from_numpy(y))
    tl.backward()
    assert res.loss == pytest.approx(tl.item(), rel=1e-12)
    for k in range(3):
        assert _rel(res.weight_grads[k], tW[k].grad.numpy()) < 1e-10
        assert _rel(res.bias_grads[k], tb[k].grad.numpy()) < 1e-10


def test_output_activation_differs_from_hidden_and_no_bias():
    descend.manual_seed(4)
    model = nn.MLP([3, 4, 2], activation="tanh", output_activation="sigmoid", bias=False, dtype=np.float64)
    x, y = np.random.default_rng(0).standard_normal((5, 3)), np.random.default_rng(1).random((5, 2))
    F.mse_loss(model(x), y).backward()
    res = backprop.forward_backward(x, y, [m.weight.data for m in model.linears], None,
                                    activation="tanh", output_activation="sigmoid", loss="mse")
    assert res.bias_grads == [None, None]
    for g, lin in zip(res.weight_grads, model.linears, strict=True):
        assert _rel(g, lin.weight.grad) < 1e-10
    np.testing.assert_allclose(res.output, model(x).data, rtol=1e-13)


def _doc_table():
    doc = Path(__file__).resolve().parents[1] / "docs" / "backprop.md"
    if not doc.exists():
        pytest.skip("docs/backprop.md is not next to the tests")
    values = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(\w+)` \|.*\| (-?[0-9.]+) \|$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def test_worked_example_in_docs():
    doc = _doc_table()
    assert len(doc) == 16
    x, y = np.array([[1.5]]), np.array([[0.1]])
    Ws, bs = [np.array([[0.8]]), np.array([[-1.2]])], [np.array([-0.4]), np.array([0.3])]
    res = backprop.forward_backward(x, y, Ws, bs, activation="sigmoid", loss="half_sse")
    computed = {
        "z1": res.preactivations[0], "a1": res.activations[1], "z2": res.preactivations[1],
        "a2": res.activations[2], "L": res.loss, "delta2": res.deltas[1], "delta1": res.deltas[0],
        "dW2": res.weight_grads[1], "db2": res.bias_grads[1], "dW1": res.weight_grads[0],
        "db1": res.bias_grads[0],
    }
    net = backprop.MLP(Ws, bs, activation="sigmoid")
    net.step(x, y, lr=1.0)
    computed.update({"w1_new": net.weights[0], "b1_new": net.biases[0], "w2_new": net.weights[1],
                     "b2_new": net.biases[1], "L_new": net.forward_backward(x, y).loss})
    for key, value in computed.items():
        # the table shows 6 significant digits
        assert float(np.asarray(value).item()) == pytest.approx(doc[key], rel=1e-5, abs=1e-6), key
    # ... and the engine agrees with the hand computation
    lin1, lin2 = nn.Linear(1, 1, dtype=np.float64), nn.Linear(1, 1, dtype=np.float64)
    for lin, w, b in ((lin1, Ws[0], bs[0]), (lin2, Ws[1], bs[1])):
        lin.weight.data[...] = w
        lin.bias.data[...] = b
    out = F.sigmoid(lin2(F.sigmoid(lin1(x))))
    (0.5 * ((out - y) ** 2).sum()).backward()
    assert lin1.weight.grad.item() == pytest.approx(res.weight_grads[0].item(), rel=1e-12)
    assert lin2.bias.grad.item() == pytest.approx(res.bias_grads[1].item(), rel=1e-12)


def test_from_module_handles_dropout_and_sequentials():
    descend.manual_seed(0)
    model = nn.MLP([4, 5, 3], activation="tanh", dropout=0.5, dtype=np.float64)
    bp = backprop.MLP.from_module(model)
    assert bp.activations == ["tanh", "identity"]
    model.eval()
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(bp.forward(x), model(x).data, rtol=1e-13)
    seq = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 5), nn.Sigmoid(), nn.Linear(5, 2))
    assert backprop.MLP.from_module(seq).activations == ["relu", "sigmoid", "identity"]
    # the copy is a snapshot in float64
    assert bp.weights[0].dtype == np.float64
    bp.weights[0][...] = 0
    assert np.any(model[0].weight.data != 0)
    with pytest.raises(ValueError, match="BatchNorm1d"):
        backprop.MLP.from_module(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    with pytest.raises(ValueError, match="negative_slope"):
        backprop.MLP.from_module(nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(0.2)))
    with pytest.raises(ValueError, match="does not follow a Linear"):
        backprop.MLP.from_module(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
    with pytest.raises(TypeError, match="from_module"):
        backprop.MLP.from_module([1, 2])
    with pytest.raises(ValueError, match="logits"):
        backprop.MLP.from_module(nn.MLP([2, 3], output_activation="sigmoid")).forward_backward(
            np.zeros((1, 2)), np.array([0]), loss="cross_entropy")


def test_explain_reports_the_layer_statistics():
    descend.manual_seed(0)
    model = nn.MLP([6, 8, 8, 3], dtype=np.float64)
    model[2].bias.data[:2] = -100.0  # two ReLUs of layer 2 that never fire
    bp = backprop.MLP.from_module(model)
    x = np.random.default_rng(0).standard_normal((10, 6))
    y = np.arange(10) % 3
    report = bp.explain(x, y, loss="cross_entropy", lr=0.1)
    res = report.result
    assert report.loss == pytest.approx(res.loss)
    for k, s in enumerate(report.layers):
        assert s.layer == k + 1 and s.shape == bp.weights[k].shape
        assert s.delta_norm == pytest.approx(np.linalg.norm(res.deltas[k]))
        assert s.weight_grad_norm == pytest.approx(np.linalg.norm(res.weight_grads[k]))
        assert s.update_ratio == pytest.approx(0.1 * s.weight_grad_norm / np.linalg.norm(bp.weights[k]))
    assert report.layers[1].dead_fraction == pytest.approx(2 / 8)
    assert report.layers[2].activation == "softmax" and report.layers[2].mean_abs_derivative is None
    text = str(report)
    assert "‖δ‖" in text and len(text.splitlines()) == 2 + 3 + 1
    # nothing was updated
    np.testing.assert_array_equal(bp.weights[0], model[0].weight.data)


def test_explain_flags_vanishing_gradients_in_a_deep_sigmoid_net():
    descend.manual_seed(0)
    deep = nn.MLP([4] + [16] * 10 + [1], activation="sigmoid", output_activation="identity", dtype=np.float64)
    rng = np.random.default_rng(0)
    report = backprop.MLP.from_module(deep).explain(rng.standard_normal((16, 4)), rng.random((16, 1)))
    first, last = report.layers[0], report.layers[-1]
    assert first.weight_grad_norm / last.weight_grad_norm < 1e-3
    assert all(s.mean_abs_derivative <= 0.25 for s in report.layers[:-1])
    assert "vanishing" in str(report)


def test_step_is_gradient_descent():
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((3, 2)), rng.standard_normal((1, 3))]
    bs = [np.zeros(3), np.zeros(1)]
    net = backprop.MLP(Ws, bs, activation="tanh", output_activation="identity")
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    before = net.forward_backward(x, y)
    net.step(x, y, lr=0.1)
    np.testing.assert_allclose(net.weights[0], Ws[0] - 0.1 * before.weight_grads[0])
    np.testing.assert_allclose(net.biases[1], bs[1] - 0.1 * before.bias_grads[1])
    assert net.forward_backward(x, y).loss < before.loss
    np.testing.assert_array_equal(Ws[1], Ws[1])  # the caller's arrays were copied, not updated
    assert not np.allclose(net.weights[1], Ws[1])
    with pytest.raises(ValueError, match="lr"):
        net.step(x, y, lr=0)


# ------------------------------------------------------------------ bad input
def _args():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((4, 3)), rng.random((4, 2)),
            [rng.standard_normal((5, 3)), rng.standard_normal((2, 5))], [np.zeros(5), np.zeros(2)])


def test_bad_input_names_the_argument():
    x, y, Ws, bs = _args()
    fb = backprop.forward_backward
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\), got \(4, 2\)"):
        fb(x[:, :2], y, Ws, bs)
    with pytest.raises(ValueError, match=r"x must have shape"):
        fb(x[0], y, Ws, bs)
    with pytest.raises(ValueError, match=r"weights\[1\].*takes 4 inputs.*5 outputs"):
        fb(x, y, [Ws[0], np.zeros((2, 4))], bs)
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(5,\)"):
        fb(x, y, Ws, [np.zeros(4), bs[1]])
    with pytest.raises(ValueError, match=r"biases must be a list"):
        fb(x, y, Ws, bs[:1])
    bad = x.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        fb(bad, y, Ws, bs)
    with pytest.raises(ValueError, match=r"weights\[0\] contains NaN"):
        fb(x, y, [np.full((5, 3), np.nan), Ws[1]], bs)
    with pytest.raises(ValueError, match=r"y must have shape \(4, 2\)"):
        fb(x, y[:, :1], Ws, bs)
    with pytest.raises(ValueError, match="y contains label 2.*2 outputs"):
        fb(x, np.array([0, 1, 2, 0]), Ws, bs, loss="cross_entropy")
    with pytest.raises(TypeError, match="integer class labels.*float64"):
        fb(x, np.array([0.0, 1.0, 1.0, 0.0]), Ws, bs, loss="cross_entropy")
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        fb(x, np.array([[0], [1], [1], [0]]), Ws, bs, loss="cross_entropy")
    with pytest.raises(ValueError, match="activation must be one of"):
        fb(x, y, Ws, bs, activation="swish")
    with pytest.raises(ValueError, match="output_activation"):
        fb(x, np.array([0, 1, 1, 0]), Ws, bs, output_activation="sigmoid", loss="cross_entropy")
    with pytest.raises(ValueError, match="loss must be one of"):
        fb(x, y, Ws, bs, loss="hinge")
    with pytest.raises(ValueError, match="weights must be a non-empty list"):
        fb(x, y, [], [])


def test_the_articles_one_neuron_network_with_plain_numbers():
    # the worked example of docs/backprop.md, written as the article writes it
    matrices = backprop.forward_backward(np.array([[1.5]]), np.array([[0.1]]), [np.array([[0.8]]),
                                         np.array([[-1.2]])], [np.array([-0.4]), np.array([0.3])])
    for x, y, weights, biases in ((1.5, 0.1, [0.8, -1.2], [-0.4, 0.3]),
                                  (np.array([1.5]), np.array([0.1]), np.array([0.8, -1.2]), np.array([-0.4, 0.3])),
                                  ([1.5], 0.1, [np.array([0.8]), np.array(-1.2)], [np.float64(-0.4), 0.3])):
        res = backprop.forward_backward(x, y, weights, biases)
        assert res.loss == matrices.loss == pytest.approx(0.0367180, abs=1e-7)
        for got, want in zip(res.weight_grads + res.bias_grads + res.deltas,
                             matrices.weight_grads + matrices.bias_grads + matrices.deltas, strict=True):
            np.testing.assert_array_equal(got, want)
    # a 1-D weight is one neuron's row of input weights; a 1-D x with one input is a batch
    row = backprop.forward_backward(np.array([[1.5, 2.0]]), 0.1, [np.array([0.8, 0.1]), -1.2], [-0.4, 0.3])
    full = backprop.forward_backward(np.array([[1.5, 2.0]]), np.array([[0.1]]), [np.array([[0.8, 0.1]]),
                                     np.array([[-1.2]])], [np.array([-0.4]), np.array([0.3])])
    np.testing.assert_array_equal(row.weight_grads[0], full.weight_grads[0])
    batch = backprop.forward_backward(np.array([1.5, 0.5]), np.array([0.1, 0.2]), [0.8, -1.2], [-0.4, 0.3])
    assert batch.activations[0].shape == (2, 1) and batch.output.shape == (2, 1)
    with pytest.raises(ValueError, match=r"weights must be a list with one entry per layer.*\(2, 2\)"):
        backprop.forward_backward(1.5, 0.1, np.eye(2), None)
    with pytest.raises(ValueError, match=r"biases must be a list with one entry per layer \(2\)"):
        backprop.forward_backward(1.5, 0.1, [0.8, -1.2], [0.1])


def test_single_output_accepts_flat_targets():
    rng = np.random.default_rng(0)
    Ws, bs = [rng.standard_normal((1, 2))], [np.zeros(1)]
    x, y = rng.standard_normal((3, 2)), rng.random(3)
    a = backprop.forward_backward(x, y, Ws, bs)
    b = backprop.forward_backward(x, y[:, None], Ws, bs)
    np.testing.assert_array_equal(a.weight_grads[0], b.weight_grads[0])


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    batch=st.integers(1, 5),
    act=st.sampled_from(ACTS),
    loss=st.sampled_from(LOSSES),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_architecture_equals_the_engine(widths, batch, act, loss, seed):
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy" and widths[-1] < 2:
        widths = widths[:-1] + [2]
    descend.manual_seed(seed)
    model = nn.MLP(widths, activation=act, output_activation=None if loss == "cross_entropy" else act,
                   dtype=np.float64)
    x = rng.standard_normal((batch, widths[0]))
    y = rng.integers(0, widths[-1], batch) if loss == "cross_entropy" else rng.random((batch, widths[-1]))
    engine = _engine_loss(model(x), y, loss)
    engine.backward()
    res = backprop.MLP.from_module(model).forward_backward(x, y, loss=loss)
    assert res.loss == pytest.approx(engine.item(), rel=1e-12, abs=1e-300)
    for k, lin in enumerate(model.linears):
        np.testing.assert_allclose(res.weight_grads[k], lin.weight.grad, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(res.bias_grads[k], lin.bias.grad, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- convolution layers
@pytest.mark.parametrize("stride1, pad1, k2, stride2, pad2", [
    (1, 0, 2, 1, 0),
    (2, 1, 2, 1, 1),
    (1, 2, 3, 3, 0),  # kernel larger than the input's border, then a stride larger than the kernel
    (3, 1, 1, 2, 0),
])
def test_conv_delta_recursion_equals_the_engine(stride1, pad1, k2, stride2, pad2):
    """conv → relu → conv → relu → flatten → linear → cross-entropy, by hand and by the engine."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 7, 6))
    y = np.array([0, 2, 1])
    descend.manual_seed(1)
    conv1 = nn.Conv2d(2, 4, 3, stride=stride1, padding=pad1, dtype=np.float64)
    conv2 = nn.Conv2d(4, 5, k2, stride=stride2, padding=pad2, dtype=np.float64)
    W1, b1, W2, b2 = (p.data for p in (conv1.weight, conv1.bias, conv2.weight, conv2.bias))

    # by hand: forward, then the δs from the loss back to the input
    z1 = backprop.conv_forward(x, W1, b1, stride1, pad1)
    a1 = np.maximum(z1, 0)
    z2 = backprop.conv_forward(a1, W2, b2, stride2, pad2)
    a2 = np.maximum(z2, 0)
    flat = a2.reshape(len(x), -1)
    fc = nn.Linear(flat.shape[1], 3, dtype=np.float64)
    logits = flat @ fc.weight.data.T + fc.bias.data
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta_out = backprop.output_delta(p, logits, y, "identity", "cross_entropy")
    delta2 = (delta_out @ fc.weight.data).reshape(z2.shape) * (z2 > 0)
    delta1 = backprop.conv_input_error(delta2, W2, a1.shape, stride2, pad2) * (z1 > 0)
    dx = backprop.conv_input_error(delta1, W1, x.shape, stride1, pad1)

    # the engine
    xt = descend.tensor(x, requires_grad=True)
    out = fc(nn.Flatten()(nn.ReLU()(conv2(nn.ReLU()(conv1(xt))))))
    F.cross_entropy(out, y).backward()

    assert _rel(z2, conv2(nn.ReLU()(conv1(x))).data) < 1e-12
    for got, want in [
        (backprop.conv_weight_gradient(delta2, a1, k2, stride2, pad2), conv2.weight.grad),
        (backprop.conv_bias_gradient(delta2), conv2.bias.grad),
        (backprop.conv_weight_gradient(delta1, x, 3, stride1, pad1), conv1.weight.grad),
        (backprop.conv_bias_gradient(delta1), conv1.bias.grad),
        (dx, xt.grad),
    ]:
        assert got.shape == want.shape
        assert _rel(got, want) < 1e-10


def test_conv_input_error_is_the_full_correlation_with_the_flipped_kernel():
    """One channel, stride 1, no padding: ∂L/∂a = δ padded by k − 1, correlated with W turned by 180°."""
    delta = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    # the full correlation written out: each δ pixel stamps the kernel at its place
    expected = np.zeros((1, 1, 3, 3))
    for i in range(2):
        for j in range(2):
            expected[0, 0, i:i + 2, j:j + 2] += delta[0, 0, i, j] * kernel[0, 0]
    got = backprop.conv_input_error(delta, kernel, (1, 1, 3, 3))
    np.testing.assert_array_equal(got, expected)


def test_conv_functions_name_bad_input():
    with pytest.raises(ValueError, match="a_prev must be 4-D"):
        backprop.conv_forward(np.zeros((2, 3, 4)), np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="a_prev has 3 channels"):
        backprop.conv_forward(np.zeros((1, 3, 4, 4)), np.zeros((1, 2, 2, 2)))
