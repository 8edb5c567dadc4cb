"""The `Tensor`: a NumPy array that remembers how it was computed.

A tensor produced by an operation keeps, for each input that needs a gradient,
a pair ``(input, vjp)`` where ``vjp(g)`` maps the gradient of the loss with
respect to this tensor (``g``, same shape as the tensor) to the gradient with
respect to that input (the vector-Jacobian product, i.e. the chain rule for one
step). ``backward()`` walks those pairs from the output back to the leaves; see
:mod:`descend.autograd`.

Operations themselves live in :mod:`descend.ops`; this module only defines the
container, construction (:func:`tensor`) and the recording helper
:func:`record` that every operation calls.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

__all__ = ["Tensor", "tensor", "as_tensor", "record", "unbroadcast", "is_grad_enabled"]

_FLOAT_KINDS = "f"
_ALLOWED_KINDS = "biuf"  # bool, signed int, unsigned int, float


class _ThreadState(threading.local):
    """What :func:`record` reads, one copy per thread (as PyTorch's grad mode).

    ``grad_enabled``: toggled by ``no_grad``/``enable_grad``; a ``no_grad``
    block in one thread (say an evaluation) must not stop another thread from
    recording its training step. ``tracer``: the :class:`descend.compile.Tracer`
    recording this thread's operations, or None; a tracer never sees another
    thread's operations. A new thread starts recording, with no tracer.
    """

    grad_enabled = True
    tracer = None


_local = _ThreadState()


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backpropagation."""
    return _local.grad_enabled


def _check_dtype(arr: np.ndarray, what: str) -> None:
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise TypeError(
            f"{what}: unsupported dtype {arr.dtype} (descend tensors hold bool, integer or "
            "floating-point numbers)"
        )


def _to_array(data, dtype) -> np.ndarray:
    """Copy ``data`` into a fresh array; Python floats become float32 by default."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"tensor(): dtype {dtype!r} is not a NumPy dtype") from exc
        if dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"tensor(): unsupported dtype {dtype}")
        try:
            return np.array(data, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"tensor(): cannot convert data to {dtype}: {exc}") from exc
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    try:
        arr = np.array(data)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"tensor(): data is not a rectangular array: {exc}") from exc
    _check_dtype(arr, "tensor()")
    if not from_numpy and arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # float32 by default for Python numbers
    return arr


# descend.autograd.backward, registered by that module when it is imported (descend's
# __init__ imports it): the engine depends on the container, never the other way round.
_engine_backward = None



class Tensor:
    """An n-dimensional array with optional gradient tracking.

    Attributes
    ----------
    data : numpy.ndarray
        The values. Writable in place; writes are not recorded (like ``torch``'s
        ``.data``).
    grad : numpy.ndarray or None
        For leaf tensors with ``requires_grad=True``: the accumulated gradient
        of everything ``backward()`` was called on, same shape and dtype as
        ``data``. Gradients *accumulate* across ``backward()`` calls until you
        reset them (``t.grad = None`` or an optimizer's ``zero_grad()``).
    requires_grad : bool
        Whether operations on this tensor are recorded.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_op", "_g", "_gshared", "__weakref__")
    # Make NumPy defer to our reflected operators: ``ndarray + Tensor`` -> Tensor.
    __array_ufunc__ = None

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        arr = _to_array(data, dtype)
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"requires_grad=True needs a floating-point tensor, got dtype {arr.dtype}; "
                "only floating-point tensors can have gradients"
            )
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._op = None
        self._g = None
        self._gshared = False

    # -- construction without copying (internal) ---------------------------------
    @classmethod
    def _wrap(cls, arr: np.ndarray) -> Tensor:
        t = Tensor.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.requires_grad = False
        t._parents = ()
        t._op = None
        t._g = None
        t._gshared = False
        return t

    # -- array protocol --------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by an operation."""
        return self._op is None

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        if copy:
            return self.data.copy()
        return self.data

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied; like ``torch.Tensor.numpy``)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut off from the graph."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            raise RuntimeError("requires_grad_(): only leaf tensors can change requires_grad")
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"requires_grad_(): dtype {self.dtype} cannot require grad")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype != np.float32:
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"grad_fn={self._op}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    # Tensors are identified by object, like torch tensors (``==`` is elementwise). The
    # C-level identity hash keeps dict lookups keyed by tensors (optimizer state) cheap.
    __hash__ = object.__hash__

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor; see :func:`descend.autograd.backward`."""
        _engine_backward(self, grad, retain_graph=retain_graph)


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """Create a tensor holding a copy of ``data``.

    Python numbers and lists become float32 (or int64 / bool); NumPy arrays keep
    their dtype; pass ``dtype=np.float64`` for double precision. Object, string
    and complex data are refused. Only floating-point tensors may require grad.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Wrap ``x`` as a constant tensor without copying when it is already an array.

    A Python scalar takes the dtype NumPy would give it next to ``like`` (so
    ``float32_tensor * 0.5`` stays float32).
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number) and not isinstance(x, np.generic):
        if like is not None:
            return Tensor._wrap(np.asarray(x, dtype=np.result_type(like.data.dtype, x)))
        arr = np.asarray(x)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return Tensor._wrap(arr)
    arr = np.asarray(x)
    _check_dtype(arr, "operand")
    return Tensor._wrap(arr)


def record(data, op: str, *edges) -> Tensor:
    """Wrap the result of an operation and remember how to differentiate it.

    ``edges`` are ``(input_tensor, vjp)`` pairs. Inputs that do not require
    grad are dropped, so their vjp is never called (e.g. no gradient is
    computed for a network's input batch).
    """
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    t._g = None
    t._gshared = False
    t.requires_grad = False
    t._parents = ()
    t._op = None
    local = _local
    if local.grad_enabled:
        parents = tuple([e for e in edges if e[0].requires_grad])
        if parents:
            t.requires_grad = True
            t._parents = parents
            t._op = op
    if local.tracer is not None:
        local.tracer.saw(t, op)
    return t


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` down to ``shape``: the backward of NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size
    1; the gradient of a copy is the sum of the gradients of its copies.
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g if g.shape == shape else g.reshape(shape)
