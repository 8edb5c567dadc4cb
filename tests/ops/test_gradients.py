"""Every differentiable operation, checked from its entry in ``opinfo.OPINFOS``.

For each operation in ``descend.ops.REGISTRY``:

* its backward passes ``descend.gradcheck`` (central differences in float64) on inputs
  drawn by hypothesis and on the hand-picked examples;
* its forward agrees with an independent NumPy computation;
* its values and gradients agree with PyTorch autograd (float64, tight tolerance) when
  torch is installed;
* float32 inputs give float32 outputs, float32 gradients at the leaves and float32
  gradients flowing through the graph (no silent upcast to float64 on the way back).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import descend
from descend.ops import REGISTRY
from descend.tensor import record

from .opinfo import OPINFOS, OpInfo, Sample

NAMES = sorted(OPINFOS)
EXAMPLES = [
    pytest.param(name, ex, id=f"{name}-{i}") for name in NAMES for i, ex in enumerate(OPINFOS[name].examples)
]
# The cheaper comparisons need fewer examples than the gradient check to cover the shapes.
_fewer = settings(max_examples=max(1, settings().max_examples * 3 // 5),
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


# -- the registry is the list of things to test ----------------------------------------------


def test_every_registered_op_has_an_opinfo_and_vice_versa():
    assert set(REGISTRY) - set(OPINFOS) == set(), "operations without an OpInfo entry"
    assert set(OPINFOS) - set(REGISTRY) == set(), "OpInfo entries for unknown operations"


def test_the_package_exports_every_operation_and_comparison():
    from descend.ops import comparison

    assert descend.ops.__all__ == sorted(REGISTRY) + list(comparison.__all__)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_entries_are_the_public_functions(name):
    assert getattr(descend, name) is REGISTRY[name]
    assert REGISTRY[name].__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("name", NAMES)
def test_opinfo_is_complete(name):
    info = OPINFOS[name]
    assert info.domain
    assert info.torch is not None or info.torch_skip, f"{name}: give a torch reference or a reason"


# -- helpers -----------------------------------------------------------------------------------


def _leaves(sample: Sample, dtype=np.float64):
    return [descend.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in sample.args]


def _forward_backward(info: OpInfo, sample: Sample, v_seed: int, dtype=np.float64):
    """Descend's output and the gradients of <v, output> for a seeded random cotangent v."""
    xs = _leaves(sample, dtype)
    out = info.op(*xs, **sample.kwargs)
    v = np.random.default_rng(v_seed).standard_normal(out.shape)
    if out.requires_grad:
        out.backward(v.astype(out.dtype))
    grads = [x.grad if x.grad is not None else np.zeros_like(x.data) for x in xs]
    return out, v, grads


def check_gradcheck(info: OpInfo, sample: Sample) -> None:
    tol = {**info.gradcheck_tol, **sample.tol}
    assert descend.gradcheck(lambda *xs: info.op(*xs, **sample.kwargs), *sample.args, **tol) is True


def check_forward(info: OpInfo, sample: Sample) -> None:
    xs = [descend.tensor(a) for a in sample.args]
    out = info.op(*xs, **sample.kwargs)
    expected = np.asarray(info.ref(*[np.array(a) for a in sample.args], **sample.kwargs))
    assert isinstance(out, descend.Tensor)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, **info.forward_tol)
    # The inputs were not modified in place.
    for x, a in zip(xs, sample.args, strict=True):
        np.testing.assert_array_equal(x.data, a)


def check_torch(torch, info: OpInfo, sample: Sample, v_seed: int) -> None:
    out, v, grads = _forward_backward(info, sample, v_seed)
    txs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in sample.args]
    tout = info.torch(*txs, **sample.kwargs)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **info.torch_tol)
    if tout.requires_grad:
        tout.backward(torch.as_tensor(v, dtype=tout.dtype))
    for i, (g, tx) in enumerate(zip(grads, txs, strict=True)):
        expected = tx.grad.numpy() if tx.grad is not None else np.zeros(tx.shape)
        assert g.shape == expected.shape, f"input {i}"
        np.testing.assert_allclose(g, expected, err_msg=f"{info.name}: gradient of input {i}", **info.torch_tol)


def check_float32(info: OpInfo, sample: Sample, v_seed: int) -> None:
    seen: list = []

    def probe(x):  # identity that records the dtype of the gradient coming back through it
        return record(x.data, "probe", (x, lambda g: (seen.append(np.asarray(g).dtype), g)[1]))

    xs = _leaves(sample, np.float32)
    out = info.op(*[probe(x) for x in xs], **sample.kwargs)
    assert out.dtype == np.dtype(info.out_dtype(sample.kwargs))
    out64, v, grads64 = _forward_backward(info, sample, v_seed)
    np.testing.assert_allclose(out.data, out64.data, **info.float32_tol)
    out.backward(v.astype(out.dtype))
    for x, g64 in zip(xs, grads64, strict=True):
        assert x.grad is not None
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad, g64, **info.float32_tol)
    assert seen and all(d == np.float32 for d in seen), f"gradient dtypes reaching the inputs: {seen}"


# -- generated from the table -----------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_gradcheck(name, data):
    info = OPINFOS[name]
    check_gradcheck(info, data.draw(info.samples, label="sample"))


@pytest.mark.parametrize("name", NAMES)
@_fewer
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    info = OPINFOS[name]
    check_forward(info, data.draw(info.samples, label="sample"))


# torch's var/std warn about degrees of freedom when the output is empty (0/0 elements each).
@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")
@pytest.mark.parametrize("name", NAMES)
@_fewer
@given(data=st.data(), v_seed=st.integers(0, 2**32 - 1))
def test_matches_torch(torch, name, data, v_seed):
    info = OPINFOS[name]
    if info.torch is None:
        pytest.skip(info.torch_skip)
    check_torch(torch, info, data.draw(info.samples, label="sample"), v_seed)


@pytest.mark.parametrize("name", NAMES)
@_fewer
@given(data=st.data(), v_seed=st.integers(0, 2**32 - 1))
def test_float32_stays_float32(name, data, v_seed):
    info = OPINFOS[name]
    check_float32(info, data.draw(info.samples, label="sample"), v_seed)


@pytest.mark.parametrize("name, sample", EXAMPLES)
def test_example(name, sample):
    info = OPINFOS[name]
    if not sample.kink:
        check_gradcheck(info, sample)
    check_forward(info, sample)
    check_float32(info, sample, 0)


@pytest.mark.parametrize("name, sample", EXAMPLES)
def test_example_matches_torch(torch, name, sample):
    info = OPINFOS[name]
    if info.torch is None:
        pytest.skip(info.torch_skip)
    check_torch(torch, info, sample, 0)
