"""Reductions with NumPy's ``axis=`` / ``keepdims=``.

The backward of a reduction spreads the incoming gradient back over the
reduced axes: :func:`_expand` re-inserts those axes so it broadcasts.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Tensor, as_tensor, record

__all__ = ["sum", "mean", "max", "min", "var", "std", "logsumexp"]


def _axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of bounds for a tensor of dimension {ndim}")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(out) if ndim else ()


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts."""
    if keepdims or not axes:
        return g
    return np.expand_dims(g, axes)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ over ``axis``.  Each input element gets the gradient of the sum it fed."""
    x = as_tensor(x)
    v = x.data
    axes = _axes(axis, v.ndim, "sum")
    out = v.sum(axis=axes, keepdims=keepdims)
    shape = v.shape
    return record(out, "sum", (x, lambda g: np.broadcast_to(_expand(g, axes, keepdims), shape)))


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Average over ``axis``.  d/dx_i = 1/n (n elements averaged)."""
    x = as_tensor(x)
    v = x.data
    axes = _axes(axis, v.ndim, "mean")
    n = int(np.prod([v.shape[a] for a in axes])) if axes else 1
    if n == 0:
        raise ValueError(f"mean: cannot average over an empty axis (shape {v.shape}, axis={axis})")
    out = v.mean(axis=axes, keepdims=keepdims)
    shape = v.shape
    return record(out, "mean", (x, lambda g: np.broadcast_to(_expand(g, axes, keepdims) / n, shape)))


def _extremum(name, x, axis, keepdims, reduce):
    x = as_tensor(x)
    v = x.data
    axes = _axes(axis, v.ndim, name)
    if any(v.shape[a] == 0 for a in axes):
        raise ValueError(f"{name}: cannot reduce over an empty axis (shape {v.shape}, axis={axis})")
    out = reduce(v, axis=axes, keepdims=keepdims)

    def vjp(g):
        # The gradient goes to the element(s) that attained the extremum, split evenly on ties.
        ref = _expand(out, axes, keepdims)
        hit = v == ref
        if np.isnan(out).any():  # a NaN extremum came from the NaN(s): they get the gradient
            hit |= np.isnan(v) & np.isnan(ref)
        count = hit.sum(axis=axes, keepdims=True).astype(g.dtype)  # int count would upcast float32
        return hit * (_expand(g, axes, keepdims) / count)

    return record(out, name, (x, vjp))


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest element over ``axis`` (gradient split evenly among ties)."""
    return _extremum("max", x, axis, keepdims, np.max)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest element over ``axis`` (gradient split evenly among ties)."""
    return _extremum("min", x, axis, keepdims, np.min)


def _centred(x, axis, ddof: int, keepdims: bool, op: str):
    """What var and std share: x as a Tensor, the reduced axes, the degrees of freedom
    n - ddof, x - x̄ and the variance Σ(x - x̄)²/(n - ddof)."""
    x = as_tensor(x)
    v = x.data
    axes = _axes(axis, v.ndim, op)
    n = int(np.prod([v.shape[a] for a in axes])) if axes else 1
    if n - ddof <= 0:
        raise ValueError(f"{op}: {n} element(s) with ddof={ddof} leave no degrees of freedom")
    centred = v - v.mean(axis=axes, keepdims=True)
    return x, axes, n - ddof, centred, np.square(centred).sum(axis=axes, keepdims=keepdims) / (n - ddof)


def var(x, axis=None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance Σ(x - x̄)²/(n - ddof).  d/dx_i = 2 (x_i - x̄)/(n - ddof)."""
    x, axes, dof, centred, out = _centred(x, axis, ddof, keepdims, "var")
    return record(out, "var", (x, lambda g: _expand(g, axes, keepdims) * (2 / dof) * centred))


def std(x, axis=None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation √var.  d/dx_i = (x_i - x̄)/((n - ddof) σ); 0 where σ = 0."""
    x, axes, dof, centred, variance = _centred(x, axis, ddof, keepdims, "std")
    out = np.sqrt(variance)

    def vjp(g):
        denom = dof * _expand(out, axes, keepdims)
        scale = np.divide(_expand(g, axes, keepdims), denom, out=np.zeros_like(denom), where=denom != 0)
        return scale * centred

    return record(out, "std", (x, vjp))


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log Σ exp(x), computed as m + log Σ exp(x - m) with m the maximum (no overflow).

    d/dx_i = softmax(x)_i.
    """
    x = as_tensor(x)
    v = x.data
    axes = _axes(axis, v.ndim, "logsumexp")
    if any(v.shape[a] == 0 for a in axes):
        raise ValueError(f"logsumexp: cannot reduce over an empty axis (shape {v.shape}, axis={axis})")
    m = np.max(v, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(v - m)
    s = e.sum(axis=axes, keepdims=True)
    out_kept = np.log(s) + m
    out = out_kept if keepdims else np.squeeze(out_kept, axis=axes)
    return record(out, "logsumexp", (x, lambda g: _expand(g, axes, keepdims) * (e / s)))
