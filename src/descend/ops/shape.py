"""Shape operations: they move elements around, so their backward moves the
gradient back (reshape it back, transpose it back, slice it apart)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor, record, unbroadcast
from .rule import Rule

__all__ = [
    "reshape", "transpose", "squeeze", "expand_dims", "broadcast_to",
    "concatenate", "stack", "getitem", "flatten",
]


def _reshape_forward(k, xs, attrs):
    return xs[0].reshape(attrs["shape"]), None  # a view: no copy, eagerly or replayed


def _reshape_vjp(k, i, xs, y, saved, attrs, g, out=None):
    return g.reshape(xs[0].shape)  # the gradient reshaped back (a view; the caller copies it if needed)


_RESHAPE = Rule("reshape", _reshape_forward, _reshape_vjp)


def reshape(x, *shape) -> Tensor:
    """Same elements, new shape (one dimension may be -1)."""
    x = as_tensor(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    v = x.data
    try:
        new = v.reshape(shape).shape  # resolves -1, and says when the sizes differ
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {v.shape} ({v.size} elements) into {shape}") from None
    return _RESHAPE((x,), {"shape": new})


def flatten(x, start_dim: int = 0) -> Tensor:
    """Merge axes ``start_dim..`` into one (``start_dim=1`` keeps the batch axis)."""
    x = as_tensor(x)
    # The merged size is spelled out: -1 is ambiguous when another axis has size 0.
    return reshape(x, x.shape[:start_dim] + (int(np.prod(x.shape[start_dim:])),))


def transpose(x, axes=None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None)."""
    x = as_tensor(x)
    v = x.data
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        if sorted(a % max(v.ndim, 1) for a in axes) != list(range(v.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {v.ndim} axes of shape {v.shape}")
        inverse = tuple(np.argsort([a % v.ndim for a in axes]))
    else:
        inverse = None
    out = np.transpose(v, axes)
    return record(out, "transpose", (x, lambda g: np.transpose(g, inverse)))


def squeeze(x, axis=None) -> Tensor:
    """Remove axes of size 1 (all of them, or those named by ``axis``)."""
    x = as_tensor(x)
    v = x.data
    try:
        out = np.squeeze(v, axis=axis)
    except ValueError:
        raise ValueError(f"squeeze: cannot squeeze axis {axis} of shape {v.shape}: its size is not 1") from None
    old = v.shape
    return record(out, "squeeze", (x, lambda g: g.reshape(old)))


def expand_dims(x, axis) -> Tensor:
    """Insert axes of size 1 at ``axis``."""
    x = as_tensor(x)
    v = x.data
    out = np.expand_dims(v, axis)
    old = v.shape
    return record(out, "expand_dims", (x, lambda g: g.reshape(old)))


def broadcast_to(x, shape) -> Tensor:
    """Repeat x (virtually) to ``shape``; the gradient sums the copies."""
    x = as_tensor(x)
    v = x.data
    shape = tuple(shape)
    try:
        out = np.broadcast_to(v, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {v.shape} to {shape}") from None
    old = v.shape
    return record(out, "broadcast_to", (x, lambda g: unbroadcast(g, old)))


def _join(name, tensors, axis, new_axis: bool) -> Tensor:
    """``np.concatenate`` (``new_axis=False``) or ``np.stack``, each input getting its part of
    the gradient back: its slice along ``axis``, or its index along the new axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{name}: need at least one tensor")
    try:
        out = (np.stack if new_axis else np.concatenate)([t.data for t in tensors], axis=axis)
    except (ValueError, np.exceptions.AxisError) as exc:
        shapes = [t.shape for t in tensors]
        verb = "stack" if new_axis else "join"
        raise ValueError(f"{name}: cannot {verb} shapes {shapes} along axis {axis}: {exc}") from None
    ax = axis % out.ndim
    offsets = np.cumsum([0] + [1 if new_axis else t.shape[ax] for t in tensors])

    def part(i):
        def vjp(g):
            index = [slice(None)] * g.ndim
            index[ax] = i if new_axis else slice(offsets[i], offsets[i + 1])
            return g[tuple(index)]
        return vjp

    return record(out, name, *[(t, part(i)) for i, t in enumerate(tensors)])


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; each gets its slice of the gradient back."""
    return _join("concatenate", tensors, axis, new_axis=False)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    return _join("stack", tensors, axis, new_axis=True)


def _normalise_index(index):
    """Tensors in an index become arrays; report whether advanced indexing is used."""
    items = index if isinstance(index, tuple) else (index,)
    advanced = False
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.data
        if isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray):
            if item.dtype.kind not in "biu":
                raise IndexError(f"index arrays must be integer or boolean, got dtype {item.dtype}")
            advanced = True
        out.append(item)
    return (tuple(out) if isinstance(index, tuple) else out[0]), advanced


def getitem(x, index) -> Tensor:
    """``x[index]`` with slices, integer arrays (repeated indices accumulate) and boolean masks."""
    x = as_tensor(x)
    v = x.data
    index, advanced = _normalise_index(index)
    out = v[index]

    def vjp(g):
        gx = np.zeros(v.shape, dtype=g.dtype)
        if advanced:
            np.add.at(gx, index, g)  # scatter-add: an element picked twice gets both gradients
        else:
            gx[index] = g
        return gx

    return record(out, "getitem", (x, vjp))
