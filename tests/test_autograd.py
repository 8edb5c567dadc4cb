"""The backward pass: accumulation, shared subexpressions, freeing, deep graphs, no_grad, grad."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import descend
from descend.tensor import record


def _x(values, dtype=np.float64):
    return descend.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- seeding the backward pass ------------------------------------------------------------------


def test_scalar_output_needs_no_grad_argument():
    x = _x([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_one_element_non_scalar_output_needs_no_grad_argument():
    x = _x([[3.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[6.0]])


def test_non_scalar_output_without_grad_is_a_clear_error():
    x = _x([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*grad="):
        y.backward()
    assert x.grad is None


def test_explicit_grad_is_a_vector_jacobian_product():
    x = _x([1.0, 2.0, 3.0])
    (x * x).backward(np.array([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, -6.0])
    x.grad = None
    (x * 3).backward(descend.tensor([1.0, 1.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 6.0])


def test_grad_of_the_wrong_shape_is_refused():
    x = _x([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_something_without_a_graph_is_a_clear_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        descend.tensor([1.0]).sum().backward()


def test_backward_on_a_leaf():
    x = _x(2.0)
    x.backward()
    assert x.grad == 1.0 and x.grad.shape == ()


# -- accumulation -------------------------------------------------------------------------------


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = _x([1.0, -2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 - 4.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_accumulation_is_documented():
    for doc in (descend.Tensor.__doc__, descend.autograd.__doc__):
        assert "accumulate" in doc.lower() and "zero" in doc.lower()


def test_leaves_never_share_a_gradient_buffer():
    # add hands the same incoming gradient to both inputs: each leaf needs its own copy.
    a, b = _x([1.0, 2.0]), _x([3.0, 4.0])
    (a + b).backward(np.array([1.0, 1.0]))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 10.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    # ...and a later accumulation into one does not leak into the other.
    (a * 1.0).sum().backward()
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_gradient_is_not_a_view_of_the_users_seed():
    x = _x([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (x + 0.0).backward(seed)
    x.grad *= 7
    np.testing.assert_array_equal(seed, [1.0, 1.0])


# -- graph shapes -------------------------------------------------------------------------------


def test_same_tensor_used_twice():
    x = _x([1.5, -2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, -4.0])
    x.grad = None
    (x + x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_diamond_graph():
    # a feeds two branches that meet again: d/dx exp(2x)·sin(2x) = 2 exp(2x) (sin 2x + cos 2x).
    v = np.array([0.3, -0.7, 1.1])
    x = _x(v)
    a = x * 2
    y = descend.exp(a) * descend.sin(a)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(2 * v) * (np.sin(2 * v) + np.cos(2 * v)), rtol=1e-12)


def test_intermediate_used_by_many_later_operations():
    v = np.array([0.5, 2.0])
    x = _x(v)
    h = x * x  # reached through three paths
    y = (h * 3 + descend.log(h) + h[::-1]).sum()
    y.backward()
    # d/dx [3x² + 2 log x + (x²)reversed summed] = 6x + 2/x + 2x
    np.testing.assert_allclose(x.grad, 6 * v + 2 / v + 2 * v, rtol=1e-12)


def test_two_leaves_and_a_constant():
    a, b = _x([1.0, 2.0]), _x([3.0, -1.0])
    c = descend.tensor([10.0, 20.0], dtype=np.float64)
    ((a * b + c) * a).sum().backward()
    np.testing.assert_array_equal(a.grad, 2 * a.data * b.data + c.data)
    np.testing.assert_array_equal(b.grad, a.data**2)
    assert c.grad is None


def test_only_inputs_that_require_grad_get_their_vjp_called():
    called = []

    def op(p, q):
        return record(p.data * q.data, "probe_mul",
                      (p, lambda g: called.append("p") or g * q.data),
                      (q, lambda g: called.append("q") or g * p.data))

    p = _x([2.0])
    q = descend.tensor([5.0], dtype=np.float64)
    op(p, q).sum().backward()
    assert called == ["p"]
    np.testing.assert_array_equal(p.grad, [5.0])


def test_in_place_writes_to_data_are_not_recorded():
    x = _x([1.0, 2.0])
    y = x * 3
    x.data[:] = 100.0  # like torch's .data: the graph does not see it
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# -- freeing the graph --------------------------------------------------------------------------


def test_second_backward_through_a_freed_graph_is_an_error():
    x = _x([1.0, 2.0])
    y = (descend.exp(x) * 2).sum()
    y.backward()
    first = x.grad.copy()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(x.grad, first)  # nothing was half-accumulated


def test_freed_intermediate_cannot_be_reused():
    x = _x([1.0, 2.0])
    h = x * 2
    h.sum().backward()
    with pytest.raises(RuntimeError, match="freed"):
        (h * 3).sum().backward()


def test_retain_graph_allows_a_second_backward():
    x = _x([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    y.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 12.0])
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()


@pytest.mark.parametrize("retain", [False, True])
def test_intermediate_buffers_are_released_after_backward(retain):
    x = _x(np.ones(1000))
    h = x * 2  # only the graph refers to h once we drop our name for it
    ref = weakref.ref(h)
    y = descend.exp(h).sum()
    del h
    gc.collect()
    assert ref() is not None  # the graph keeps it for the backward pass
    y.backward(retain_graph=retain)
    gc.collect()
    assert (ref() is not None) == retain
    np.testing.assert_allclose(x.grad, 2 * np.exp(2.0))


# -- deep graphs --------------------------------------------------------------------------------


def test_chain_of_100000_ops_does_not_recurse():
    assert sys.getrecursionlimit() < 100_000
    x = _x(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert x.grad == pytest.approx(1.00001**100_000, rel=1e-9)


def test_deep_graph_can_be_dropped_without_backward():
    x = _x(1.0)
    y = x
    for i in range(50_000):
        y = y + 1.0
        if i == 10:
            early = weakref.ref(y)  # kept alive only by the chain built on top of it
    assert y.item() == 50_001.0
    assert early() is not None
    del y  # tearing down a 50,000-deep chain must not overflow the C stack either
    gc.collect()
    assert early() is None
    assert x.grad is None and x.requires_grad


# -- no_grad / enable_grad ----------------------------------------------------------------------


def test_no_grad_records_nothing():
    x = _x([1.0, 2.0])
    with descend.no_grad():
        assert not descend.is_grad_enabled()
        y = descend.exp(x) * 2 + x.sum()
    assert descend.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    np.testing.assert_allclose(y.data, np.exp([1.0, 2.0]) * 2 + 3.0)
    with pytest.raises(RuntimeError, match="no_grad"):
        y.sum().backward()


def test_enable_grad_inside_no_grad_and_decorator_form():
    x = _x([1.0])

    @descend.no_grad()
    def evaluate(t):
        return t * 2

    assert not evaluate(x).requires_grad
    with descend.no_grad():
        with descend.enable_grad():
            z = x * 2
        w = x * 2
    assert z.requires_grad and not w.requires_grad
    with descend.set_grad_enabled(False):
        assert not (x * 2).requires_grad


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(KeyError):
        with descend.no_grad():
            raise KeyError("boom")
    assert descend.is_grad_enabled()


# -- grad / value_and_grad ----------------------------------------------------------------------


def _f(a, b):
    return (a * a * b).sum() + descend.sin(b).sum()


def test_grad_single_argument():
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    g = descend.grad(_f)(a, b)
    assert isinstance(g, np.ndarray) and g.shape == a.shape
    np.testing.assert_allclose(g, 2 * a * b)


def test_grad_argnums_tuple_and_negative():
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    ga, gb = descend.grad(_f, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ga, 2 * a * b)
    np.testing.assert_allclose(gb, a * a + np.cos(b))
    (only_b,) = descend.grad(_f, argnums=(-1,))(a, b)
    np.testing.assert_allclose(only_b, gb)
    np.testing.assert_allclose(descend.grad(_f, argnums=1)(a, b), gb)


def test_value_and_grad():
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    value, (ga, gb) = descend.value_and_grad(_f, argnums=(0, 1))(a, b)
    assert isinstance(value, np.ndarray) and value.shape == ()
    assert value == pytest.approx(np.sum(a * a * b) + np.sum(np.sin(b)))
    np.testing.assert_allclose(ga, 2 * a * b)


def test_grad_of_python_numbers_and_integers():
    g = descend.grad(lambda x: x**3)(2.0)
    assert g == pytest.approx(12.0)
    gi = descend.grad(lambda x: (x * x).sum())(np.array([1, 2, 3]))
    assert gi.dtype == np.float64
    np.testing.assert_array_equal(gi, [2.0, 4.0, 6.0])


def test_grad_does_not_touch_tensors_passed_in():
    t = _x([1.0, 2.0])
    g = descend.grad(lambda x: (x * x).sum())(t)
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert t.grad is None


def test_grad_of_an_unused_argument_is_zero():
    g = descend.grad(lambda x, y: (x * 2).sum(), argnums=1)(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g, np.zeros(3))


def test_grad_works_inside_no_grad():
    with descend.no_grad():
        g = descend.grad(lambda x: (x * x).sum())(np.array([3.0]))
    np.testing.assert_array_equal(g, [6.0])


def test_grad_errors():
    with pytest.raises(ValueError, match="single number"):
        descend.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        descend.grad(lambda x: x.sum(), argnums=2)(np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        descend.grad(lambda x: x.sum(), argnums=())(np.ones(3))


# -- the gradient always has the leaf's shape and dtype -----------------------------------------


@pytest.mark.parametrize("leaf_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("other_dtype", [np.float32, np.float64])
def test_grad_dtype_is_the_leafs_whatever_it_was_combined_with(leaf_dtype, other_dtype):
    x = _x([1.0, 2.0], leaf_dtype)
    other = np.array([[0.5, 1.5], [2.0, -1.0]], dtype=other_dtype)
    y = x * other  # may compute in float64
    assert y.dtype == np.result_type(leaf_dtype, other_dtype)
    y.sum().backward()
    assert x.grad.dtype == leaf_dtype and x.grad.shape == (2,)
    np.testing.assert_allclose(x.grad, [2.5, 0.5])
    y2 = other @ x
    y2.sum().backward()
    assert x.grad.dtype == leaf_dtype
    np.testing.assert_allclose(x.grad, [2.5 + 2.5, 0.5 + 0.5])


def test_scalar_leaf_broadcast_gets_a_scalar_array_gradient():
    s = _x(2.0, np.float32)
    m = np.arange(12.0).reshape(3, 4)
    (s * m).sum().backward()
    assert type(s.grad) is np.ndarray and s.grad.shape == () and s.grad.dtype == np.float32
    assert s.grad == pytest.approx(m.sum())
    (s + np.ones((2, 2))).sum().backward()  # accumulates in place, still a 0-d float32 array
    assert s.grad.shape == () and s.grad.dtype == np.float32 and s.grad == pytest.approx(m.sum() + 4)


def test_size_one_axes_are_summed_back():
    col = _x([[1.0], [2.0]])
    row = _x([[10.0, 20.0, 30.0]])
    (col * row).sum().backward()
    assert col.grad.shape == (2, 1) and row.grad.shape == (1, 3)
    np.testing.assert_array_equal(col.grad, [[60.0], [60.0]])
    np.testing.assert_array_equal(row.grad, [[3.0, 3.0, 3.0]])


def test_leaf_gradient_is_a_writable_array():
    x = _x([1.0, 2.0], np.float32)
    descend.sum(x).backward()  # sum's backward is a broadcast (read-only) view
    assert x.grad.flags.writeable
    x.grad[0] = 5.0
    np.testing.assert_array_equal(x.grad, [5.0, 1.0])


def test_zero_size_leaf():
    x = _x(np.zeros((0, 3)))
    (x * 2).sum().backward()
    assert x.grad.shape == (0, 3) and x.grad.dtype == np.float64
