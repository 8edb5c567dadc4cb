"""Module, Parameter, Sequential, ModuleList: registration, traversal, modes, state."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import descend
from descend import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2)
        self.scale = nn.Parameter(np.array([2.0], dtype=np.float32))
        self.register_buffer("steps", np.zeros(1))
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter([1.0, 2.0])
    assert isinstance(p, descend.Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == np.float32
    assert nn.Parameter(np.zeros(2)).dtype == np.float64  # dtype follows the data
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.array([1, 2]))
    frozen = nn.Parameter(np.ones(2), requires_grad=False)
    assert not frozen.requires_grad


def test_registration_names_and_order():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "fc2"]
    assert [n for n, _ in net.named_buffers()] == ["steps"]
    assert len(list(net.parameters())) == 5
    assert net.note == "plain attribute" and "note" not in net._parameters
    assert list(net.state_dict()) == ["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_shared_parameter_is_listed_once_and_deleting_unregisters():
    net = Net()
    net.fc3 = net.fc1  # the same module twice
    assert len(list(net.parameters())) == 5
    del net.fc3
    assert "fc3" not in net._modules
    net.extra = nn.Parameter(np.zeros(1))
    assert len(list(net.parameters())) == 6
    del net.extra
    assert len(list(net.parameters())) == 5


def test_assignment_errors():
    net = Net()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        net.scale = descend.tensor([1.0])  # a plain tensor where a Parameter lives
    net.scale = None  # allowed: removes it from parameters()
    assert len(list(net.parameters())) == 4

    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Early()
    with pytest.raises(NotImplementedError):
        nn.Module()(1)


def test_train_eval_propagate_and_zero_grad():
    net = Net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError):
        net.train("yes")
    out = net(np.ones((2, 3), dtype=np.float32)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_is_a_snapshot_and_round_trips():
    descend.manual_seed(0)
    a, b = Net(), Net()
    sd = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    before = sd["fc1.weight"].copy()
    a.fc1.weight.data += 1  # training on does not change the snapshot
    np.testing.assert_array_equal(sd["fc1.weight"], before)
    ref = b.fc1.weight  # the Parameter object survives a load
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.fc1.weight is ref
    np.testing.assert_array_equal(b.fc1.weight.data, before)
    # keep_vars returns the live objects
    assert a.state_dict(keep_vars=True)["fc1.weight"] is a.fc1.weight


def test_load_state_dict_errors_name_the_key_and_change_nothing():
    net = Net()
    good = net.state_dict()
    snapshot = {k: v.copy() for k, v in good.items()}

    missing = dict(good)
    del missing["fc2.bias"]
    missing["fc1.weight"] = good["fc1.weight"] + 5
    with pytest.raises(RuntimeError, match=r"missing key\(s\) 'fc2.bias'"):
        net.load_state_dict(missing)

    extra = dict(good, **{"fc9.weight": np.zeros(2)})
    with pytest.raises(RuntimeError, match=r"unexpected key\(s\) 'fc9.weight'"):
        net.load_state_dict(extra)

    bad_shape = dict(good)
    bad_shape["fc1.weight"] = good["fc1.weight"] + 5
    bad_shape["fc2.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError, match=r"size mismatch for 'fc2.weight'.*\(3, 3\).*\(2, 4\)"):
        net.load_state_dict(bad_shape)

    with pytest.raises(TypeError, match="'fc1.bias'"):
        net.load_state_dict(dict(good, **{"fc1.bias": np.array(["a"] * 4)}))

    for k, v in net.state_dict().items():  # nothing was copied by the failed loads
        np.testing.assert_array_equal(v, snapshot[k])

    # strict=False loads what matches and reports the rest
    partial = {"fc1.bias": np.full(4, 7.0), "zzz": np.zeros(1)}
    res = net.load_state_dict(partial, strict=False)
    assert res.unexpected_keys == ["zzz"] and "fc2.weight" in res.missing_keys
    np.testing.assert_array_equal(net.fc1.bias.data, np.full(4, 7.0, dtype=np.float32))
    assert net.fc1.bias.dtype == np.float32  # cast to the parameter's dtype


def test_repr_tree():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Dropout(0.25)), nn.Linear(3, 1, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): Tanh()\n"
        "    (1): Dropout(p=0.25)\n"
        "  )\n"
        "  (2): Linear(in_features=3, out_features=1, bias=False)\n"
        ")"
    )


def test_sequential_and_modulelist():
    descend.manual_seed(1)
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    np.testing.assert_allclose(seq(x).data, seq[2](seq[1](seq[0](x))).data)
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    named = nn.Sequential(OrderedDict([("inp", nn.Linear(2, 2)), ("out", nn.Linear(2, 1))]))
    assert list(named.state_dict()) == ["inp.weight", "inp.bias", "out.weight", "out.bias"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and 0 < seq(x).item() < 1

    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(list(ml.parameters())) == 6 and len(ml) == 3
    ml.append(nn.Linear(1, 2))
    assert [n for n, _ in ml.named_parameters()][-1] == "3.bias"


def test_to_double_keeps_parameter_objects():
    net = Net()
    w = net.fc1.weight
    net.double()
    assert net.fc1.weight is w and w.dtype == np.float64 and net.steps.dtype == np.float64
    out = net(np.ones((1, 3)))
    assert out.dtype == np.float64
    net.float()
    assert w.dtype == np.float32


def test_deepcopy_is_independent():
    net = Net()
    twin = copy.deepcopy(net)
    twin.fc1.weight.data += 1
    assert not np.allclose(twin.fc1.weight.data, net.fc1.weight.data)
    assert isinstance(twin.fc1.weight, nn.Parameter) and twin.fc1.weight.requires_grad
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in net.named_parameters()]


def test_apply_and_requires_grad():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Net"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
