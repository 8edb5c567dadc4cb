"""The Tensor container: construction, dtypes, NumPy interop, operators, methods, errors."""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pytest

import descend
import descend.nn.functional as F

# -- construction and dtypes --------------------------------------------------------------------


@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], np.float32),          # Python floats: float32 by default
    (1.5, np.float32),
    ([[1, 2], [3, 4]], np.int64),      # Python ints stay integers
    ([True, False], np.bool_),
    (np.array([1.0, 2.0]), np.float64),  # NumPy arrays keep their dtype
    (np.array([1, 2], dtype=np.int32), np.int32),
    (np.float64(2.0), np.float64),
    (np.zeros(3, dtype=np.float16), np.float16),
])
def test_default_dtypes(data, dtype):
    t = descend.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, np.asarray(data))


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.dtype("float64")])
def test_float64_on_request(dtype):
    t = descend.tensor([1.0, 2.0], dtype=dtype, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = descend.tensor(a)
    a[0] = 99.0
    assert t.data[0] == 1.0
    u = descend.tensor(t)
    t.data[1] = -1.0
    assert u.data[1] == 2.0


@pytest.mark.parametrize("data", [
    np.array([{"a": 1}], dtype=object), "abc", ["a", "b"], [1, "a"], None, object(), [1 + 2j], np.array([1j]),
])
def test_unsupported_data_refused(data):
    with pytest.raises(TypeError, match="tensor\\(\\): unsupported dtype"):
        descend.tensor(data)


@pytest.mark.parametrize("dtype", [object, np.complex128, "U3"])
def test_unsupported_dtype_argument_refused(dtype):
    with pytest.raises(TypeError, match="unsupported dtype"):
        descend.tensor([1.0], dtype=dtype)


def test_unconvertible_data_and_bad_dtype_name():
    with pytest.raises(TypeError, match="cannot convert"):
        descend.tensor(["a"], dtype=np.float32)
    with pytest.raises(TypeError, match="not a NumPy dtype"):
        descend.tensor([1.0], dtype="no-such-dtype")
    with pytest.raises(ValueError, match="rectangular"):
        descend.tensor([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("data", [[1, 2], [True], np.array([1], dtype=np.uint8)])
def test_only_floating_tensors_can_require_grad(data):
    with pytest.raises(TypeError, match="floating-point"):
        descend.tensor(data, requires_grad=True)
    t = descend.tensor(data)
    with pytest.raises(TypeError, match="cannot require grad"):
        t.requires_grad_()


def test_requires_grad_only_changes_on_leaves():
    x = descend.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    z = descend.tensor([1.0]).requires_grad_()
    assert z.requires_grad


# -- attributes ---------------------------------------------------------------------------------


def test_attributes():
    t = descend.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert isinstance(t.data, np.ndarray) and t.numpy() is t.data  # numpy() shares, like torch
    assert t.grad is None and t.requires_grad is False and t.is_leaf
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert descend.tensor([[2.5]]).item() == 2.5 and isinstance(descend.tensor([[2.5]]).item(), float)
    assert descend.tensor(3).item() == 3 and isinstance(descend.tensor(3).item(), int)
    with pytest.raises(ValueError, match=r"one-element.*\(2, 3\)"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(descend.tensor(1.0))
    assert float(descend.tensor(2.5)) == 2.5 and int(descend.tensor(3.0)) == 3
    assert bool(descend.tensor(1.0)) and not bool(descend.tensor(0.0))


def test_detach_shares_data_and_leaves_the_graph():
    x = descend.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.data is y.data
    assert not y.is_leaf
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])  # no gradient through d


def test_repr_shows_dtype_and_grad_state():
    assert repr(descend.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float64" in repr(descend.tensor(np.array([1.0])))
    assert "requires_grad=True" in repr(descend.tensor([1.0], requires_grad=True))
    assert "grad_fn=multiply" in repr(descend.tensor([1.0], requires_grad=True) * 2)


def test_np_asarray():
    t = descend.tensor([[1.0, 2.0]])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert np.shares_memory(a, t.data)
    b = np.asarray(t, dtype=np.float64)
    assert b.dtype == np.float64
    np.testing.assert_array_equal(b, [[1.0, 2.0]])
    np.testing.assert_array_equal(np.array(t), [[1.0, 2.0]])
    c = np.array(t, copy=True)
    c[0, 0] = 5.0
    assert t.data[0, 0] == 1.0


# -- operators with arrays and scalars on either side -------------------------------------------

_OPS = [
    (operator.add, np.add), (operator.sub, np.subtract), (operator.mul, np.multiply),
    (operator.truediv, np.divide), (operator.pow, np.power),
]
_X = np.array([[0.5, 1.0, 2.0], [1.5, 2.5, 3.0]])


@pytest.mark.parametrize("op, ref", _OPS, ids=lambda o: getattr(o, "__name__", ""))
@pytest.mark.parametrize("other", [2.0, 3, np.array([1.5, 0.5, 2.0]), np.float64(1.5), [0.5, 1.0, 2.0]],
                         ids=["float", "int", "array", "np-scalar", "list"])
def test_binary_operators_with_foreign_operands_on_both_sides(op, ref, other):
    x = descend.tensor(_X, requires_grad=True)
    o = np.asarray(other)
    for res, expected, x_is_left in [(op(x, other), ref(_X, o), True), (op(other, x), ref(o, _X), False)]:
        assert isinstance(res, descend.Tensor) and res.requires_grad
        np.testing.assert_allclose(res.data, expected, rtol=1e-12)
        x.grad = None
        res.sum().backward()
        assert x.grad.shape == _X.shape and x.grad.dtype == np.float64
        # d/dx of the summed result, from the closed forms.
        d = {
            np.add: np.ones_like(_X),
            np.subtract: np.ones_like(_X) * (1 if x_is_left else -1),
            np.multiply: np.broadcast_to(o, _X.shape) * 1.0,
            np.divide: (1 / np.broadcast_to(o, _X.shape)) if x_is_left else -o / _X**2,
            np.power: o * _X ** (o - 1.0) if x_is_left else o**_X * np.log(o),
        }[ref]
        np.testing.assert_allclose(x.grad, d, rtol=1e-12)


def test_matmul_operator_with_arrays_on_both_sides():
    a = descend.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    m = np.array([[0.5, -1.0], [2.0, 1.0]])
    np.testing.assert_allclose((a @ m).data, a.data @ m)
    np.testing.assert_allclose((m @ a).data, m @ a.data)
    (m @ a).sum().backward()
    np.testing.assert_allclose(a.grad, m.T @ np.ones((2, 2)))


def test_unary_operators():
    x = descend.tensor([-1.5, 2.0], requires_grad=True)
    np.testing.assert_array_equal((-x).data, [1.5, -2.0])
    assert (+x) is x
    np.testing.assert_array_equal(abs(x).data, [1.5, 2.0])
    (-x + abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad, [-2.0, 0.0])


def test_python_scalars_keep_float32():
    x = descend.tensor([1.0, 2.0])
    for y in (x * 0.5, 0.5 * x, x + 1, 2 - x, x / 3.0, x**2, 2.0**x, -x):
        assert y.dtype == np.float32
    # A NumPy float64 operand promotes as NumPy does.
    assert (x * np.array([1.0, 1.0])).dtype == np.float64


def test_nan_and_inf_flow_like_numpy():
    v = np.array([np.inf, -np.inf, np.nan, 1.0])
    x = descend.tensor(v, requires_grad=True)
    np.testing.assert_array_equal((x * 2 + 1).data, v * 2 + 1)
    np.testing.assert_array_equal(descend.exp(x).data, np.exp(v))
    np.testing.assert_array_equal(descend.tanh(x).data, np.tanh(v))
    np.testing.assert_array_equal(descend.maximum(x, 0.0).data, np.maximum(v, 0.0))
    (x * 2 + 1).backward(np.ones(4))  # (.sum() would add inf and -inf: NaN with NumPy's warning)
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0, 2.0])
    with np.errstate(invalid="ignore"):  # inf - inf is NaN (NumPy warns; it does not fail)
        np.testing.assert_array_equal((x - x).data, v - v)
    w = descend.tensor([1.0, np.nan, np.inf])
    assert np.isnan(descend.max(w).item()) and np.isnan(descend.sum(w).item())
    assert descend.max(descend.tensor([1.0, np.inf])).item() == np.inf


def test_nan_in_max_gets_the_gradient_like_torch():
    x = descend.tensor([1.0, np.nan, 3.0], requires_grad=True)
    descend.max(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])


# -- methods ------------------------------------------------------------------------------------


def test_methods_match_functions_and_numpy():
    a = np.arange(1.0, 7.0).reshape(2, 3) / 4
    t = descend.tensor(a)
    checks = [
        (t.sum(), a.sum()), (t.sum(axis=0, keepdims=True), a.sum(0, keepdims=True)),
        (t.mean(axis=1), a.mean(1)), (t.max(axis=-1), a.max(-1)), (t.min(), a.min()),
        (t.var(axis=1, ddof=1), a.var(1, ddof=1)), (t.std(), a.std()),
        (t.logsumexp(axis=1), np.log(np.exp(a).sum(1))),
        (t.exp(), np.exp(a)), (t.log(), np.log(a)), (t.log1p(), np.log1p(a)), (t.sqrt(), np.sqrt(a)),
        (t.sin(), np.sin(a)), (t.cos(), np.cos(a)), (t.tanh(), np.tanh(a)), (t.abs(), a),
        (t.square(), a**2), (t.clip(0.5, 1.0), np.clip(a, 0.5, 1.0)),
        (t.reshape(3, 2), a.reshape(3, 2)), (t.reshape((3, 2)), a.reshape(3, 2)), (t.reshape(-1), a.ravel()),
        (t.transpose(), a.T), (t.transpose(1, 0), a.T), (t.transpose((1, 0)), a.T), (t.T, a.T),
        (t.reshape(1, 2, 3).mT, a.reshape(1, 2, 3).swapaxes(-1, -2)),
        (t.reshape(1, 2, 3).squeeze(), a), (t.reshape(1, 2, 3).squeeze(0), a),
        (t.expand_dims(0), a[None]), (t.broadcast_to((4, 2, 3)), np.broadcast_to(a, (4, 2, 3))),
        (t.flatten(), a.ravel()), (t.matmul(t.T), a @ a.T),
        (t.sigmoid(), 1 / (1 + np.exp(-a))), (t.relu(), a),
        (t.softmax(), np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
        (t.log_softmax(axis=0), a - np.log(np.exp(a).sum(0, keepdims=True))),
    ]
    for got, expected in checks:
        assert isinstance(got, descend.Tensor)
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got.data, expected, rtol=1e-12)
    assert t.astype(np.float32).dtype == np.float32
    assert t.float().dtype == np.float32 and t.float().double().dtype == np.float64


def test_functional_namespace_holds_the_activations():
    v = np.array([[-2.0, -0.5, 0.25], [0.5, 1.5, 3.0]])
    for name in ("sigmoid", "relu", "leaky_relu", "softplus", "gelu", "elu", "softmax", "log_softmax", "tanh"):
        got = getattr(F, name)(descend.tensor(v))
        np.testing.assert_allclose(got.data, getattr(descend, name)(descend.tensor(v)).data, rtol=1e-15)


def test_astype_to_integer_leaves_the_graph():
    x = descend.tensor([1.7, -2.2], requires_grad=True)
    i = x.astype(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(i.data, [1, -2])


# -- comparisons --------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge])
def test_comparisons_return_plain_bool_arrays(op):
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([2.0, 2.0, 2.0])
    t = descend.tensor(a, requires_grad=True)
    for got, expected in [(op(t, b), op(a, b)), (op(b, t), op(b, a)), (op(t, 2.0), op(a, 2.0)),
                          (op(2.0, t), op(2.0, a)), (op(t, descend.tensor(b)), op(a, b))]:
        assert type(got) is np.ndarray and got.dtype == np.bool_
        np.testing.assert_array_equal(got, expected)


def test_comparison_functions():
    t = descend.tensor([1.0, 2.0])
    assert descend.greater(t, 1.5).tolist() == [False, True]
    assert descend.less_equal(1.5, t).tolist() == [False, True]
    assert descend.equal(t, [1.0, 0.0]).tolist() == [True, False]


# -- indexing -----------------------------------------------------------------------------------


def test_repeated_integer_indices_accumulate():
    x = descend.tensor([10.0, 20.0, 30.0, 40.0], requires_grad=True)
    y = x[[0, 2, 0, 0]]
    np.testing.assert_array_equal(y.data, [10.0, 30.0, 10.0, 10.0])
    (y * descend.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [8.0, 0.0, 2.0, 0.0])


def test_index_with_a_tensor_and_2d_integer_arrays():
    x = descend.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    rows = descend.tensor([1, 1, 0])
    cols = np.array([2, 2, 0])
    y = x[rows, cols]
    np.testing.assert_array_equal(y.data, [5.0, 5.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])


def test_boolean_mask():
    v = np.array([[1.0, -2.0], [-3.0, 4.0]])
    x = descend.tensor(v, requires_grad=True)
    mask = x > 0
    y = x[mask]
    np.testing.assert_array_equal(y.data, [1.0, 4.0])
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 0.0], [0.0, 8.0]])


def test_slices_ints_newaxis_ellipsis():
    v = np.arange(24.0).reshape(2, 3, 4)
    x = descend.tensor(v, requires_grad=True)
    idx = (1, slice(None, None, -1), None, Ellipsis, slice(1, 3))
    np.testing.assert_array_equal(x[idx].data, v[idx])
    x[idx].sum().backward()
    expected = np.zeros_like(v)
    expected[1, :, 1:3] = 1.0
    np.testing.assert_array_equal(x.grad, expected)


def test_float_index_refused():
    with pytest.raises(IndexError, match="integer or boolean"):
        descend.tensor([1.0, 2.0])[np.array([0.0])]


def test_iteration_over_the_first_axis():
    rows = [r.data.tolist() for r in descend.tensor([[1.0, 2.0], [3.0, 4.0]])]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]


# -- errors name the operation and the shapes ---------------------------------------------------

_A, _B = descend.tensor(np.ones((2, 3))), descend.tensor(np.ones((4, 5)))


@pytest.mark.parametrize("call, pattern", [
    (lambda: _A + _B, r"add: .*\(2, 3\) and \(4, 5\)"),
    (lambda: _A - _B, r"subtract: .*\(2, 3\) and \(4, 5\)"),
    (lambda: _A * _B, r"multiply: .*\(2, 3\) and \(4, 5\)"),
    (lambda: _A / _B, r"divide: .*\(2, 3\) and \(4, 5\)"),
    (lambda: _A**_B, r"power: .*\(2, 3\) and \(4, 5\)"),
    (lambda: descend.maximum(_A, _B), r"maximum: .*\(2, 3\) and \(4, 5\)"),
    (lambda: descend.minimum(_A, _B), r"minimum: .*\(2, 3\) and \(4, 5\)"),
    (lambda: descend.where(np.ones(3, bool), _A, _B), r"where: .*\(3,\).*\(2, 3\).*\(4, 5\)"),
    (lambda: _A @ _A, r"matmul: .*\(2, 3\) and \(2, 3\)"),
    (lambda: descend.matmul(_A, descend.tensor(2.0)), r"matmul: .*\(2, 3\) and \(\)"),
    (lambda: _A.reshape(4, 2), r"reshape: .*\(2, 3\).*\(4, 2\)"),
    (lambda: descend.concatenate([_A, _B], axis=0), r"concatenate: .*\(2, 3\), \(4, 5\)"),
    (lambda: descend.stack([_A, _B]), r"stack: .*\(2, 3\), \(4, 5\)"),
    (lambda: descend.broadcast_to(_A, (3, 3)), r"broadcast_to: .*\(2, 3\) to \(3, 3\)"),
    (lambda: descend.squeeze(_A, 0), r"squeeze: .*\(2, 3\)"),
    (lambda: descend.transpose(_A, (0, 0)), r"transpose: .*\(2, 3\)"),
    (lambda: descend.sum(_A, axis=2), r"sum: axis 2 is out of bounds"),
    (lambda: descend.mean(descend.tensor(np.ones((0, 2))), axis=0), r"mean: .*empty"),
    (lambda: descend.max(descend.tensor(np.ones((0, 2)))), r"max: .*empty"),
    (lambda: descend.var(descend.tensor([1.0]), ddof=1), r"var: .*ddof=1"),
    (lambda: descend.clip(_A), r"clip: .*a_min"),
    (lambda: descend.gelu(_A, approximate="fast"), r"gelu: approximate"),
])
def test_errors_name_the_operation_and_the_shapes(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_numpy_errors_that_are_not_about_shapes_are_not_disguised():
    with pytest.raises(ValueError, match="negative integer powers"):
        descend.tensor([2, 3]) ** descend.tensor([-1, 2])


# -- numerical stability ------------------------------------------------------------------------

_BIG = [-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, expected", [
    ("sigmoid", [0.0, 1.9287498479639178e-22, 0.2689414213699951, 0.5, 0.7310585786300049, 1.0, 1.0]),
    ("softplus", [0.0, 1.9287498479639178e-22, 0.31326168751822286, 0.6931471805599453, 1.3132616875182228,
                  50.0, 1e4]),
    ("relu", [0.0, 0.0, 0.0, 0.0, 1.0, 50.0, 1e4]),
    ("leaky_relu", [-100.0, -0.5, -0.01, 0.0, 1.0, 50.0, 1e4]),
    ("elu", [-1.0, -1.0, -0.6321205588285577, 0.0, 1.0, 50.0, 1e4]),
    ("gelu", [0.0, 0.0, -0.15865525393145707, 0.0, 0.8413447460685429, 50.0, 1e4]),
    ("tanh", [-1.0, -1.0, -0.7615941559557649, 0.0, 0.7615941559557649, 1.0, 1.0]),
])
def test_activations_at_large_magnitudes_are_finite_without_warnings(dtype, name, expected):
    x = descend.tensor(np.array(_BIG, dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = getattr(F, name)(x)
        (y * descend.tensor(np.ones(len(_BIG), dtype=dtype))).sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, expected, rtol=rtol, atol=1e-30)
    assert np.all(np.isfinite(x.grad))
    assert x.grad[0] == pytest.approx({"leaky_relu": 0.01}.get(name, 0.0), abs=1e-30)
    assert x.grad[-1] == pytest.approx({"tanh": 0.0, "sigmoid": 0.0}.get(name, 1.0), abs=1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_at_large_magnitudes(dtype):
    v = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    x = descend.tensor(v, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = F.softmax(x, axis=1)
        ls = F.log_softmax(x, axis=1)
        lse = descend.logsumexp(x, axis=1)
        (s.sum() + ls[:, 0].sum() + lse.sum()).backward()
    np.testing.assert_allclose(s.data, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=1e-30)
    np.testing.assert_allclose(ls.data, [[0.0, -1e4, -2e4], [-np.log(2), -np.log(2), -2e4 - np.log(2)]],
                               rtol=1e-6)
    np.testing.assert_allclose(lse.data, [1e4, 1e4 + np.log(2)], rtol=1e-7)
    assert np.all(np.isfinite(x.grad))
    # d/dx of ls[:, 0] + lse: (e_0 - p) + p = e_0 on each row; the softmax rows sum to 1 (zero gradient).
    np.testing.assert_allclose(x.grad, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], atol=1e-6)
