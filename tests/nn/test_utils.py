"""clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters."""

import math

import numpy as np
import pytest

from descend import nn
from descend.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)


def _params(grads):
    ps = []
    for g in grads:
        p = nn.Parameter(np.zeros_like(g))
        p.grad = g.copy()
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ps = _params(grads)
    ps.append(nn.Parameter(np.zeros(2)))  # no grad: skipped
    tps = []
    for g in grads:
        t = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.from_numpy(g.copy())
        tps.append(t)
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(float(ttotal), rel=1e-12)
    for p, t in zip(ps[:-1], tps, strict=True):  # the last one has no grad and no torch twin
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    if max_norm < float(total):
        new = math.sqrt(sum(np.sum(p.grad**2) for p in ps[:2])) if norm_type == 2.0 else None
        if new is not None:
            assert new == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_single_tensor_nonfinite_and_errors():
    p = _params([np.array([3.0, 4.0])])[0]
    assert clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-5)
    q = _params([np.array([np.inf, 1.0])])[0]
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_([q], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(q.grad, [np.inf, 1.0])  # untouched by the failed call
    assert clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_([p], -1)
    with pytest.raises(TypeError, match="parameters"):
        clip_grad_norm_(5, 1.0)


def test_clip_grad_value():
    p = _params([np.array([-3.0, 0.5, 2.0])])[0]
    clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad, [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_([p], -1.0)


def test_parameters_vector_round_trip():
    model = nn.MLP([3, 4, 2])
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vec.data[:12], model[0].weight.data.reshape(-1))
    w = model[0].weight
    vector_to_parameters(np.arange(vec.size, dtype=np.float32), model.parameters())
    assert model[0].weight is w
    np.testing.assert_array_equal(model[0].weight.data, np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(model[2].bias.data, [24, 25])
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).data, np.arange(vec.size))
    with pytest.raises(ValueError, match="vec has 5 elements but the parameters have 26"):
        vector_to_parameters(np.zeros(5), model.parameters())
