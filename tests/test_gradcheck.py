"""descend.gradcheck: it must pass correct gradients and catch (and locate) wrong ones."""

from __future__ import annotations

import re

import numpy as np
import pytest

import descend
from descend.tensor import record


def _square_with_vjp(vjp_of):
    """x ** 2 elementwise, with the backward rule supplied by the test."""

    def f(x):
        v = x.data
        return record(v * v, "square_under_test", (x, lambda g: vjp_of(g, v)))

    return f


def _parse(message: str) -> tuple[tuple[int, ...], float, float]:
    m = re.search(r"index \(([\d, ]*)\): analytic (\S+) vs numeric (\S+)", message)
    assert m, message
    index = tuple(int(k) for k in m.group(1).replace(" ", "").split(",") if k)
    return index, float(m.group(2)), float(m.group(3))


def test_correct_gradients_pass():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    assert descend.gradcheck(lambda t: (t**3).sum(axis=1) * t[:, 0], x) is True
    assert descend.gradcheck(_square_with_vjp(lambda g, v: 2 * g * v), x) is True


def test_wrong_vjp_is_caught_with_index_and_values():
    x = np.array([[1.0, 2.0], [3.0, -4.0]])
    with pytest.raises(descend.GradcheckError) as info:
        descend.gradcheck(_square_with_vjp(lambda g, v: g * v), x)  # forgot the factor 2
    assert isinstance(info.value, AssertionError)  # so that plain `assert`-style handling works
    message = str(info.value)
    assert "input 0" in message and "(2, 2)" in message
    index, analytic, numeric = _parse(message)
    # gradcheck projects the output on a seeded random cotangent v; recompute it to know
    # what the analytic (v * x) and numeric (2 * v * x) values at the worst element are.
    v = np.random.default_rng(0).standard_normal(x.shape)
    err = np.abs(v * x - 2 * v * x) - (1e-5 + 1e-4 * np.abs(2 * v * x))
    assert index == np.unravel_index(np.argmax(err), x.shape)
    assert analytic == pytest.approx(v[index] * x[index], rel=1e-12)
    assert numeric == pytest.approx(2 * v[index] * x[index], rel=1e-6)


def test_the_wrong_input_is_named():
    def f(a, b):
        # d/db is wrong: the rule for b says a, the forward computes a * b * b.
        return record(a.data * b.data * b.data, "wrong_b",
                      (a, lambda g: g * b.data * b.data), (b, lambda g: g * a.data))

    with pytest.raises(descend.GradcheckError, match="input 1"):
        descend.gradcheck(f, np.array([1.0, 2.0]), np.array([0.5, -1.5]))


def test_tolerances_decide():
    x = np.array([1.0, -2.0, 3.0])
    off_by = lambda eps: _square_with_vjp(lambda g, v: 2 * g * v + eps)  # noqa: E731
    assert descend.gradcheck(off_by(1e-8), x) is True
    with pytest.raises(descend.GradcheckError):
        descend.gradcheck(off_by(1e-3), x)
    assert descend.gradcheck(off_by(1e-3), x, atol=1e-2) is True


def test_non_finite_analytic_gradient_is_a_failure():
    def f(x):
        return record(x.data * 1.0, "bad", (x, lambda g: g * np.where(x.data > 0, np.inf, 1.0)))

    with pytest.raises(descend.GradcheckError, match=r"non-finite analytic gradient at index \(1,\): analytic -?inf"):
        descend.gradcheck(f, np.array([-1.0, 2.0]))


def test_sqrt_at_zero_is_reported_not_passed():
    # d sqrt(x)/dx = 1/(2 sqrt x) is infinite at 0 (NumPy warns about the division).
    with pytest.raises(descend.GradcheckError, match="non-finite"), np.errstate(divide="ignore"):
        descend.gradcheck(descend.sqrt, np.array([0.0, 1.0]))


def test_non_finite_numeric_gradient_is_a_failure():
    def f(x):  # jumps to +inf just above 0.5; the recorded derivative is a finite 1
        v = x.data
        return record(np.where(v > 0.5, np.inf, v), "jump", (x, lambda g: g))

    with pytest.raises(descend.GradcheckError, match=r"non-finite numeric gradient at index \(0,\)"):
        descend.gradcheck(f, np.array([0.5, 0.0]))


def test_checks_in_float64_whatever_the_input_dtype():
    seen = []

    def f(x):
        seen.append(x.dtype)
        return x.exp().sum()

    assert descend.gradcheck(f, np.array([0.1, 0.2], dtype=np.float32)) is True
    assert seen and set(seen) == {np.dtype(np.float64)}


def test_non_float_inputs_are_passed_through():
    idx = np.array([2, 0, 2])
    got = []

    def f(x, index):
        got.append(index)
        return x[index] * x[index]

    assert descend.gradcheck(f, np.array([1.0, -2.0, 3.0]), idx) is True
    assert all(g is idx for g in got)


def test_inputs_are_left_untouched():
    x = descend.tensor([0.5, 1.5], dtype=np.float64, requires_grad=True)
    arr = np.array([[1.0, 2.0], [3.0, 4.0]])
    before = (x.data.copy(), arr.copy())
    assert descend.gradcheck(lambda a, b: (a * b).sum(), x, arr) is True
    np.testing.assert_array_equal(x.data, before[0])
    np.testing.assert_array_equal(arr, before[1])
    assert x.grad is None


@pytest.mark.parametrize("layout", ["fortran", "transposed view", "strided view"])
def test_any_memory_layout(layout):
    base = np.arange(1.0, 13.0).reshape(3, 4) / 7
    x = {"fortran": np.asfortranarray(base), "transposed view": base.T, "strided view": base[:, ::2]}[layout]
    assert descend.gradcheck(lambda t: (t * t).sum(axis=0), x) is True
    with pytest.raises(descend.GradcheckError):
        descend.gradcheck(_square_with_vjp(lambda g, v: g * v), x)


def test_zero_size_input_passes():
    assert descend.gradcheck(lambda t: t.sum(axis=0), np.zeros((0, 3))) is True
