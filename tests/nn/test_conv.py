"""Convolutional layers: shapes, initialisation, errors, PyTorch parity, state_dict, the fast path."""

import math

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.compile import TrainStep
from descend.nn import functional as F


def _lenet(dtype=np.float32, seed=0):
    descend.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, dtype=dtype), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 32, dtype=dtype), nn.ReLU(), nn.Linear(32, 10, dtype=dtype),
    )


def _images(n=8, c=1, h=28, w=28, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)


# ----------------------------------------------------------------------------- layers
def test_conv2d_shapes_and_default_initialisation():
    descend.manual_seed(0)
    conv = nn.Conv2d(4, 8, (3, 5), stride=2, padding=1, groups=2)
    assert conv.weight.shape == (8, 2, 3, 5) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32
    bound = 1 / math.sqrt(2 * 3 * 5)  # fan_in = in_channels/groups * kh * kw
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.8 * bound  # uniform over the whole range
    y = conv(_images(2, 4, 9, 10))
    assert y.shape == (2, 8, 5, 4) and y.dtype == np.float32


def test_same_and_valid_padding():
    assert nn.Conv2d(1, 1, 5, padding="same").padding == (2, 2)
    assert nn.Conv2d(1, 1, 3, padding="same", dilation=2).padding == (2, 2)
    assert nn.Conv2d(1, 1, 3, padding="valid").padding == (0, 0)
    assert nn.Conv2d(2, 3, 3, padding="same")(_images(1, 2, 7, 6)).shape == (1, 3, 7, 6)
    # an even kernel: the extra zero goes below and right (as PyTorch pads), so no pair says it
    even = nn.Conv2d(2, 3, (4, 3), padding="same")
    assert even.padding == "same" and "padding=same" in repr(even)
    assert even(_images(1, 2, 7, 6)).shape == (1, 3, 7, 6)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        nn.Conv2d(1, 1, 3, padding="full")
    x, w = _images(2, 3, 6, 7), np.ones((4, 3, 3, 5), np.float32)
    assert F.conv2d(x, w, padding="same").shape == (2, 4, 6, 7)
    assert F.conv2d(x, w, padding="valid").shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv2d(x, w, stride=2, padding="same")


def test_pooling_layers_shapes():
    x = _images(2, 3, 9, 8)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 9, 8)
    assert nn.AvgPool2d((3, 2), stride=(2, 2))(x).shape == (2, 3, 4, 4)
    assert nn.AdaptiveAvgPool2d((2, 3))(x).shape == (2, 3, 2, 3)
    assert nn.AdaptiveAvgPool2d((None, 3))(x).shape == (2, 3, 9, 3)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)


def test_dropout2d_drops_whole_channels_and_is_the_identity_in_eval():
    descend.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    x = np.ones((16, 8, 4, 4), np.float32)
    y = layer(x).data
    per_channel = y.reshape(16, 8, -1)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2))
    assert 0.3 < (per_channel[:, :, 0] == 0).mean() < 0.7
    layer.eval()
    assert np.array_equal(layer(x).data, x)


def test_dropout2d_gradient_is_the_same_mask():
    descend.manual_seed(1)
    x = descend.tensor(np.ones((4, 6, 3, 3)), requires_grad=True)
    y = F.dropout2d(x, 0.3)
    y.sum().backward()
    assert np.array_equal(x.grad, y.data)


def test_lenet_is_lenet5_on_28x28_and_takes_images_or_rows_of_pixels():
    model = nn.LeNet((1, 28, 28), 10)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [c.padding for c in convs] == [(2, 2), (0, 0)]
    assert [m.in_features for m in model if isinstance(m, nn.Linear)] == [400, 120, 84]
    x = _images(3)
    np.testing.assert_array_equal(model(x).data, model(x.reshape(3, -1)).data)
    small = nn.LeNet((3, 8, 8), 4, channels=(5, 7), hidden=(9,))
    assert small(_images(2, 3, 8, 8)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"LeNet\(in_shape=\(3, 8, 8\)\): input has shape \(2, 100\)"):
        small(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="in_shape"):
        nn.LeNet((28, 28), 10)
    for bad in ("0.5", 1.0, float("nan"), None):  # a string or None raised a bare comparison TypeError
        with pytest.raises(ValueError, match=r"LeNet: dropout must be a number in \[0, 1\)"):
            nn.LeNet((1, 8, 8), 10, dropout=bad)


# ----------------------------------------------------------------------------- errors
def test_wrong_number_of_dimensions_is_one_clear_error():
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\).*4-D.*\(28, 28\)"):
        nn.Conv2d(1, 2, 3)(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match=r"MaxPool2d.*4-D.*or 3-D"):
        nn.MaxPool2d(2)(np.zeros((2, 3, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D \(N, C, H, W\) or 3-D"):
        descend.conv2d(np.zeros((8, 8)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"Dropout2d: expected 4-D input"):  # (PyTorch's is 4-D too)
        nn.Dropout2d(0.5)(np.zeros((3, 8, 8), np.float32))


def test_channels_not_matching_in_channels_is_one_clear_error():
    with pytest.raises(ValueError, match=r"3 channel\(s\) do not match in_channels=1"):
        nn.Conv2d(1, 2, 3)(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"input has 4 channels.*groups=2 expects 2"):
        descend.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((2, 1, 3, 3)), groups=2)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(num_features=3\).*\(N, 3, H, W\)"):
        nn.BatchNorm2d(3)(np.zeros((2, 4, 5, 5), np.float32))


def test_an_output_of_no_pixels_names_the_dimension_and_why():
    with pytest.raises(ValueError, match=r"output width would be zero or negative: the input width 4 padded by 0"
                                         r" on each side \(4\) is smaller than the kernel width 5"):
        nn.Conv2d(1, 1, (3, 5))(np.zeros((1, 1, 8, 4), np.float32))
    with pytest.raises(ValueError, match=r"output height.*kernel height 3 \(dilated to 5\)"):
        descend.conv2d(np.zeros((1, 1, 4, 9)), np.zeros((1, 1, 3, 3)), dilation=2)
    with pytest.raises(ValueError, match=r"max_pool2d: the output height would be zero"):
        nn.MaxPool2d(3)(np.zeros((1, 1, 2, 9), np.float32))
    with pytest.raises(ValueError, match=r"padding 2 must be at most half the kernel width 3"):
        descend.avg_pool2d(np.zeros((1, 1, 6, 6)), 3, padding=(1, 2))


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        nn.Conv2d(3, 6, 3, stride=0)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxPool2d((2, 2, 2))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_size"):
        nn.AdaptiveAvgPool2d(0)


def test_a_failed_forward_changes_no_running_statistic():
    bn = nn.BatchNorm2d(3)
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    with pytest.raises(ValueError):
        bn(np.zeros((2, 3, 5), np.float32))
    for k, v in bn.state_dict().items():
        assert np.array_equal(v, before[k])


# ----------------------------------------------------------------------------- against PyTorch
torch = pytest.importorskip("torch")


def _torch_copy(model: nn.Sequential):
    """The same network in PyTorch, weights loaded from descend's state_dict."""
    tnn = torch.nn
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            layers.append(tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                     m.dilation, m.groups, bias=m.bias is not None, dtype=torch.float64))
        elif isinstance(m, nn.Linear):
            layers.append(tnn.Linear(m.in_features, m.out_features, dtype=torch.float64))
        elif isinstance(m, nn.BatchNorm2d):
            layers.append(tnn.BatchNorm2d(m.num_features, dtype=torch.float64))
        elif isinstance(m, nn.MaxPool2d):
            layers.append(tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation))
        elif isinstance(m, nn.AvgPool2d):
            layers.append(tnn.AvgPool2d(m.kernel_size, m.stride, m.padding))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            layers.append(tnn.AdaptiveAvgPool2d(m.output_size))
        else:
            layers.append({nn.ReLU: tnn.ReLU, nn.Flatten: tnn.Flatten}[type(m)]())
    tmodel = tnn.Sequential(*layers)
    tmodel.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()})
    return tmodel


def test_lenet_logits_loss_and_every_gradient_match_torch_float64():
    model = _lenet(np.float64)
    tmodel = _torch_copy(model)
    x = _images(6, dtype=np.float64)
    y = np.arange(6) % 10
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_batchnorm2d_train_and_eval_match_torch_with_running_statistics():
    descend.manual_seed(0)
    bn = nn.BatchNorm2d(3, momentum=0.2, dtype=np.float64)
    tbn = torch.nn.BatchNorm2d(3, momentum=0.2, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 5, 6)) * 2 + 1
        xt = descend.tensor(x, requires_grad=True)
        txt = torch.tensor(x, requires_grad=True)
        v = rng.standard_normal((4, 3, 5, 6))
        bn(xt).backward(v)
        tbn(txt).backward(torch.from_numpy(v))
        np.testing.assert_allclose(xt.grad, txt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bn.weight.grad, tbn.weight.grad.numpy(), rtol=1e-9)
    state, tstate = bn.state_dict(), tbn.state_dict()
    assert list(state) == list(tstate)
    for k in state:
        np.testing.assert_allclose(state[k], tstate[k].numpy(), rtol=1e-12, err_msg=k)
    bn.eval()
    tbn.eval()
    x = rng.standard_normal((2, 3, 4, 4))
    np.testing.assert_allclose(bn(x).data, tbn(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_state_dicts_load_both_ways():
    tconv = torch.nn.Conv2d(3, 4, (2, 3), groups=1)
    tbn = torch.nn.BatchNorm2d(4)
    tbn.running_mean.fill_(0.5)
    conv, bn = nn.Conv2d(3, 4, (2, 3)), nn.BatchNorm2d(4)
    conv.load_state_dict({k: v.detach().numpy() for k, v in tconv.state_dict().items()})
    bn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})
    np.testing.assert_array_equal(conv.weight.data, tconv.weight.detach().numpy())
    assert np.all(bn.running_mean.data == 0.5)
    descend.manual_seed(5)
    back = nn.Conv2d(3, 4, (2, 3))
    tconv.load_state_dict({k: torch.from_numpy(v) for k, v in back.state_dict().items()})
    x = _images(2, 3, 6, 7)
    np.testing.assert_allclose(back(x).data, tconv(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- the fast path
def test_the_traced_step_replays_a_conv_net_and_ends_where_the_eager_loop_does():
    x = _images(48, 1, 12, 12, dtype=np.float64)
    y = np.arange(48) % 10
    runs = []
    for traced in (False, True):
        descend.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=np.float64), nn.ReLU(),
            nn.Dropout2d(0.2), nn.AvgPool2d(3, stride=1, padding=1), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(24, 10, dtype=np.float64),
        )
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        if traced:
            step = TrainStep(model, loss_fn, opt)
            for _epoch in range(3):
                for i in range(0, 48, 16):
                    step(x[i:i + 16], y[i:i + 16])
            assert step.replayed, step.reason
        else:
            for _epoch in range(3):
                for i in range(0, 48, 16):
                    opt.zero_grad()
                    loss_fn(model(x[i:i + 16]), descend.tensor(y[i:i + 16])).backward()
                    opt.step()
        runs.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_the_traced_step_replays_batch_norm_running_statistics_included(momentum):
    """Conv → BatchNorm2d → ReLU → pool → Linear → BatchNorm1d: parameters, running statistics and
    batch counters after traced steps equal the eager loop's (each batch counted once)."""
    x = _images(40, 2, 6, 6, dtype=np.float64)
    y = np.arange(40) % 3
    states = []
    for traced in (False, True):
        descend.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), nn.BatchNorm2d(4, momentum=momentum, dtype=np.float64),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 5, dtype=np.float64),
            nn.BatchNorm1d(5, momentum=momentum, dtype=np.float64), nn.Linear(5, 3, dtype=np.float64),
        )
        opt = optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.CrossEntropyLoss()
        step = TrainStep(model, loss_fn, opt) if traced else None
        for _epoch in range(3):
            for i in range(0, 40, 10):
                if traced:
                    step(x[i:i + 10], y[i:i + 10])
                else:
                    opt.zero_grad()
                    loss_fn(model(x[i:i + 10]), descend.tensor(y[i:i + 10])).backward()
                    opt.step()
        if traced:
            assert step.replayed, step.reason
        model.eval()
        states.append((model.state_dict(), model(x[:5]).data))
    (eager, out_eager), (fast, out_fast) = states
    assert int(fast["1.num_batches_tracked"]) == int(fast["6.num_batches_tracked"]) == 12
    for key in eager:
        np.testing.assert_allclose(fast[key], eager[key], rtol=1e-12, atol=1e-14, err_msg=key)
    np.testing.assert_allclose(out_fast, out_eager, rtol=1e-12, atol=1e-14)


def test_a_replay_that_falls_back_to_the_eager_step_counts_the_batch_once():
    descend.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.BatchNorm2d(2, dtype=np.float64),
                          nn.Flatten(), nn.Linear(8, 2, dtype=np.float64))
    step = TrainStep(model, nn.MSELoss(), None)
    x = _images(4, 1, 4, 4, dtype=np.float64)
    y = np.zeros((4, 2))
    for _ in range(3):
        step.forward_backward(x, y)
    assert step.replayed
    with np.errstate(over="ignore"):  # an infinite loss: the replay hands the step to the eager path
        step.forward_backward(x, np.full((4, 2), 1e300))
    assert not step.replayed
    assert int(model[1].num_batches_tracked.data) == 4


def test_fit_of_a_lenet_is_bit_for_bit_the_same_traced_or_eager_float32():
    from descend.train import fit

    rng = np.random.default_rng(0)
    X, y = rng.random((96, 64)).astype(np.float32), rng.integers(0, 10, 96)
    runs = []
    for compile in (False, True):
        descend.manual_seed(0)
        model = nn.LeNet((1, 8, 8), 10, channels=(4, 8), hidden=(16,), dropout=0.2)
        history = fit(model, (X, y), loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=1e-3),
                      batch_size=32, epochs=3, seed=1, progress=False, compile=compile)
        runs.append(([p.data.copy() for p in model.parameters()], history.replayed_steps))
    (eager, replayed_eager), (fast, replayed_fast) = runs
    assert replayed_eager == 0 and replayed_fast >= 7  # (the first step of each shape is traced)
    for a, b in zip(eager, fast, strict=True):
        assert np.array_equal(a, b)


# ----------------------------------------------------------------------------- unbatched images, pooling options
def test_layers_take_one_unbatched_image_as_pytorch_does():
    descend.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 9, 7))
    conv = nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64)
    tconv = torch.nn.Conv2d(3, 4, 3, padding=1, dtype=torch.float64)
    tconv.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in conv.state_dict().items()})
    pairs = [(conv, tconv), (nn.MaxPool2d(2, ceil_mode=True), torch.nn.MaxPool2d(2, ceil_mode=True)),
             (nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
             (nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)))]
    for layer, tlayer in pairs:
        xt = descend.tensor(x, requires_grad=True)
        out = layer(xt)
        tx = torch.tensor(x, requires_grad=True)
        tout = tlayer(tx)
        assert out.shape == tuple(tout.shape) and len(out.shape) == 3, type(layer).__name__
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
        (out * out).sum().backward()
        (tout * tout).sum().backward()
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=type(layer).__name__)
        # the same as a batch of one
        np.testing.assert_array_equal(layer(x[None]).data[0], out.data)
    with pytest.raises(ValueError, match=r"input has shape \(2, 9, 7\), its 2 channel\(s\) do not match"):
        conv(x[:2])


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (2, 2, 0, 1), (3, 2, 1, 1), (3, 3, 0, 1), (2, 3, 1, 2), ((3, 2), (2, 3), (1, 0), 1)])
def test_max_pool_ceil_mode_and_indices_match_torch(kernel, stride, padding, dilation):
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8) / 7.0  # distinct values: one maximum each
    for ceil_mode in (False, True):
        xt = descend.tensor(x, requires_grad=True)
        out, idx = descend.max_pool2d(xt, kernel, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)
        tx = torch.tensor(x, requires_grad=True)
        tout, tidx = torch.nn.functional.max_pool2d(tx, kernel, stride, padding, dilation, ceil_mode=ceil_mode,
                                                    return_indices=True)
        np.testing.assert_array_equal(out.data, tout.detach().numpy())
        assert idx.data.dtype == np.int64
        np.testing.assert_array_equal(idx.data, tidx.numpy())
        g = rng.normal(size=out.shape)
        (out * descend.tensor(g)).sum().backward()
        tout.backward(torch.from_numpy(g))
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    layer = nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=True, ceil_mode=True)
    out, idx = layer(x)
    tout, tidx = torch.nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=True, ceil_mode=True)(
        torch.from_numpy(x))
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    out, idx = layer(x[0])  # unbatched: indices without the batch axis too
    np.testing.assert_array_equal(idx.data, tidx.numpy()[0])


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool_ceil_mode_and_divisor_override_match_torch(ceil_mode, count_include_pad, divisor_override):
    x = np.random.default_rng(2).normal(size=(2, 2, 7, 10))
    for kernel, stride, padding in ((3, 2, 1), (2, 3, 0), ((3, 2), (2, 2), (1, 1))):
        layer = nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        tlayer = torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        xt = descend.tensor(x, requires_grad=True)
        out = layer(xt)
        tx = torch.tensor(x, requires_grad=True)
        tout = tlayer(tx)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
        (out * out).sum().backward()
        (tout * tout).sum().backward()
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_pooling_options_are_checked():
    with pytest.raises(ValueError, match="divisor_override must be a positive integer"):
        nn.AvgPool2d(2, divisor_override=0)
    with pytest.raises(ValueError, match="divisor_override must be a positive integer"):
        descend.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, divisor_override=1.5)


def test_ceil_mode_pooling_is_replayed_by_the_traced_step():
    from descend import optim
    from descend.compile import TrainStep

    def model():
        descend.manual_seed(3)
        return nn.Sequential(nn.Conv2d(1, 3, 3, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                             nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), nn.Flatten(),
                             nn.Linear(3 * 2 * 2, 4, dtype=np.float64))

    x = np.random.default_rng(4).normal(size=(5, 1, 9, 9))
    y = np.arange(5) % 4
    fast, eager = model(), model()
    step = TrainStep(fast, nn.CrossEntropyLoss(), optim.SGD(fast.parameters(), lr=0.1))
    opt = optim.SGD(eager.parameters(), lr=0.1)
    for _ in range(4):
        step(x, y)
        opt.zero_grad()
        F.cross_entropy(eager(x), y).backward()
        opt.step()
    assert step.replayed, step.reason
    for (name, a), b in zip(fast.named_parameters(), eager.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


@pytest.mark.parametrize("out_channels", [2, 24])  # the weight gradient per example, or over the batch
@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, 1, 1, 1), (1, 2, 2, 2), (2, 1, 1, 1), ((1, 2), (0, 1), (2, 1), 2)])
def test_both_column_layouts_match_torch(out_channels, stride, padding, dilation, groups):
    from descend.ops.conv import _per_example_dw

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 13, 11))
    w = rng.normal(size=(out_channels, 4 // groups, 3, 3))
    b = rng.normal(size=out_channels)
    xt, wt, bt = (descend.tensor(a, requires_grad=True) for a in (x, w, b))
    out = descend.conv2d(xt, wt, bt, stride, padding, dilation, groups)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.normal(size=out.shape)
    (out * descend.tensor(g)).sum().backward()
    tout.backward(torch.from_numpy(g))
    for mine, theirs, name in ((xt, tx, "x"), (wt, tw, "w"), (bt, tb, "b")):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    # the two cases do take the two layouts (the widest columns: stride 1 rows of 11 + padding)
    oh, ow = out.shape[2:]
    widest = (oh - 1) * (11 + 2 * np.atleast_1d(padding)[-1]) + ow
    if out_channels == 24:
        assert not _per_example_dw(out_channels // groups, widest)
    elif stride == 1:
        assert _per_example_dw(out_channels // groups, widest)


@pytest.mark.parametrize("shape, groups, padding", [
    ((2, 2, 4, 4), 2, 0), ((3, 3, 5, 6), 3, 1), ((2, 4, 1, 2), 4, 0), ((2, 6, 6, 5), 3, (1, 0))])
def test_one_output_channel_per_group_over_a_batch_matches_torch(shape, groups, padding):
    """Depthwise convolutions (groups = channels) of a batch with stride 1: the forward's product,
    allocated by NumPy in its operands' (groups outermost) memory order, is read by its own
    strides (the output once came back with examples and channels mixed up)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape)
    w = rng.normal(size=(groups, shape[1] // groups, min(3, shape[2] + 2 * np.max(padding)), 2))
    xt, wt = descend.tensor(x, requires_grad=True), descend.tensor(w, requires_grad=True)
    out = descend.conv2d(xt, wt, padding=padding, groups=groups)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, padding=padding, groups=groups)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.normal(size=out.shape)
    (out * descend.tensor(g)).sum().backward()
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wt.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # (torch's)
@pytest.mark.parametrize("kernel, dilation", [(4, 1), ((2, 3), 1), ((4, 2), (3, 1)), (2, 2)])
def test_same_padding_with_an_even_kernel_matches_torch_and_is_replayed(kernel, dilation):
    """PyTorch pads an even kernel's 'same' convolution one more below and right; so does descend
    (a pad op before the convolution), in the engine, the layer and the traced step."""
    def net():
        descend.manual_seed(2)
        return nn.Sequential(nn.Conv2d(2, 4, kernel, padding="same", dilation=dilation, dtype=np.float64),
                             nn.ReLU(), nn.Flatten(), nn.Linear(4 * 7 * 6, 3, dtype=np.float64))

    model = net()
    tmodel = _torch_copy(model)
    x, y = _images(5, 2, 7, 6, dtype=np.float64), np.arange(5) % 3
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)

    runs = []
    for traced in (False, True):
        model = net()
        opt, loss_fn = optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss()
        step = TrainStep(model, loss_fn, opt) if traced else None
        for _ in range(3):
            if traced:
                step(x, y)
            else:
                opt.zero_grad()
                loss_fn(model(x), descend.tensor(y)).backward()
                opt.step()
        if traced:
            assert step.replayed, step.reason
        runs.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
