"""Stateless network functions: activations, ``linear``, ``dropout``, ``batch_norm`` and losses.

Names, arguments and defaults follow ``torch.nn.functional``. The layers and
losses of :mod:`descend.nn` call these; they are also usable on their own::

    import descend.nn.functional as F
    loss = F.cross_entropy(F.linear(x, w, b), labels)

``linear``, ``batch_norm`` and every loss are *fused* operations: one node in
the graph whose backward is written out by hand (next to the forward), rather
than a chain of elementary operations. That is both faster (no intermediate
gradients) and numerically safer (cross-entropy never forms ``log(softmax)``).

Shapes: ``N`` is the batch size, ``C`` the number of classes or features.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ..ops.activation import elu, gelu, leaky_relu, relu, sigmoid, softplus
from ..ops.activation import log_softmax as _log_softmax
from ..ops.activation import softmax as _softmax
from ..ops.conv import adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d, pad
from ..ops.elementwise import tanh
from ..ops.rule import EAGER, Rule
from ..tensor import Tensor, as_tensor, record

__all__ = [
    # activations
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softplus", "elu", "softmax", "log_softmax",
    # layers
    "linear", "dropout", "batch_norm",
    # images (N, C, H, W)
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pad", "dropout2d",
    # losses
    "mse_loss", "l1_loss", "huber_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits",
]

_REDUCTIONS = ("mean", "sum", "none")


# ============================================================================ activations
def _softmax_dim(dim, axis, ndim: int, name: str) -> int:
    if axis is not None:
        if dim is not None and dim != axis:
            raise TypeError(f"{name}: give dim or axis, not both")
        dim = axis
    if dim is None:
        return -1  # the last axis; PyTorch's implicit choice agrees for 1-D and 2-D input
    if not isinstance(dim, (int, np.integer)) or not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{name}: dim {dim!r} is out of range for a tensor with {ndim} dimension(s)")
    return int(dim)


def softmax(input, dim=None, *, axis=None) -> Tensor:
    """softmax(x)_i = e^(x_i) / Σ_j e^(x_j) along ``dim`` (default: the last axis).

    ``axis`` is accepted as well, the name :func:`descend.softmax` uses.
    """
    x = as_tensor(input)
    return _softmax(x, axis=_softmax_dim(dim, axis, x.ndim, "softmax"))


def log_softmax(input, dim=None, *, axis=None) -> Tensor:
    """log softmax(x)_i = x_i − logsumexp(x) along ``dim`` (default: the last axis)."""
    x = as_tensor(input)
    return _log_softmax(x, axis=_softmax_dim(dim, axis, x.ndim, "log_softmax"))


# ============================================================================ layers
def _float_tensor(x, name: str, fn: str) -> Tensor:
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _linear_forward(k, xs, attrs):
    x, w, b = xs
    n_out, n_in = w.shape
    rows = x if x.ndim == 2 else x.reshape(-1, n_in)  # leading axes flattened into rows (a view)
    dtype = x.dtype if x.dtype == w.dtype else np.result_type(x.dtype, w.dtype)
    y = k.matmul(rows, w.T, out=k.buffer((rows.shape[0], n_out), dtype))
    if b is not None:
        if b.dtype == y.dtype:
            y = k.add(y, b, out=y)  # in place: no second (N, out) array
        else:
            y = k.add(y, b, out=k.buffer(y.shape, np.result_type(y.dtype, b.dtype)))
    return (y if x.ndim == 2 else y.reshape(x.shape[:-1] + (n_out,))), None


def _linear_vjp(k, i, xs, y, saved, attrs, g, out=None):
    x, w, b = xs
    n_out, n_in = w.shape
    rows_g = g if g.ndim == 2 else g.reshape(-1, n_out)
    if i == 0:  # dL/dx = g W
        if x.ndim == 2:
            return k.matmul(rows_g, w, out=out)
        return k.matmul(rows_g, w, out=None if out is None else out.reshape(-1, n_in)).reshape(x.shape)
    if i == 1:  # dL/dW = gᵀ x
        rows_x = x if x.ndim == 2 else x.reshape(-1, n_in)
        return k.matmul(rows_g.T, rows_x, out=out)
    return k.add.reduce(rows_g, 0, None, out)  # dL/db = Σ_rows g


_LINEAR = Rule("linear", _linear_forward, _linear_vjp)


def linear(input, weight, bias=None) -> Tensor:
    """y = x Wᵀ + b, as one fused operation.

    Shapes: ``input`` (..., in_features), ``weight`` (out_features, in_features),
    ``bias`` (out_features,) or None; output (..., out_features).

    Backward (g = dL/dy, with the leading axes of x flattened into rows):
    dL/dx = g W,  dL/dW = gᵀ x,  dL/db = Σ_rows g. Only what is needed is
    computed: no dL/dx for a batch of data that does not require grad.
    """
    x = input if isinstance(input, Tensor) else as_tensor(input)
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    X, W = x.data, w.data
    shape = X.shape
    if W.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {W.shape}")
    n_out, n_in = W.shape
    if not shape or shape[-1] != n_in:
        raise ValueError(
            f"linear: input has shape {shape} but weight {W.shape} expects {n_in} features "
            "in the last dimension of input"
        )
    b = None
    if bias is not None:
        b = bias if isinstance(bias, Tensor) else as_tensor(bias)
        if b.data.shape != (n_out,):
            raise ValueError(f"linear: bias must have shape ({n_out},), got {b.data.shape}")
    return _LINEAR((x, w, b))


_sum_rows = np.add.reduce  # g.sum(axis=0) without the Python wrapper of ndarray.sum
_ARANGES: dict = {}


def _arange(n: int) -> np.ndarray:
    """``np.arange(n)``, kept (read-only) for the batch sizes seen: the row index of a batch."""
    r = _ARANGES.get(n)
    if r is None:
        if len(_ARANGES) > 64:
            _ARANGES.clear()
        r = _ARANGES[n] = np.arange(n)
        r.flags.writeable = False
    return r


def _draw_uniform(generator, u):
    # looked up when drawn: manual_seed() installs a new generator
    (generator if generator is not None else _random.generator()).random(out=u, dtype=u.dtype)


def _dropout_forward(k, xs, attrs):
    (x,) = xs
    p = attrs["p"]
    # one draw per element, or per channel (dropout2d: the mask broadcasts over H and W)
    shape = attrs.get("mask_shape", x.shape)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    if p == 1:  # nothing kept (and nothing drawn)
        scale = k.empty(shape, dtype)
        k.copyto(scale, dtype.type(0))
    else:
        udtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
        u = k.empty(shape, udtype)
        k.call(_draw_uniform, attrs["generator"], u)  # U[0, 1)
        keep = k.greater_equal(u, p, out=k.buffer(shape, bool))
        scale = k.multiply(keep, dtype.type(1.0 / (1.0 - p)), out=k.buffer(shape, dtype))
    return k.multiply(x, scale, out=k.buffer(x.shape, np.result_type(x.dtype, dtype))), scale


def _dropout_vjp(k, i, xs, y, scale, attrs, g, out=None):
    return k.multiply(g, scale, out=out)


_DROPOUT = Rule("dropout", _dropout_forward, _dropout_vjp, uses_rng=True)


def dropout(input, p: float = 0.5, training: bool = True, *, generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1 − p) (training only).

    The scaling keeps the expected value of every element unchanged, so
    nothing needs rescaling at evaluation time (``training=False`` returns the
    input as is). The mask comes from ``generator`` or the global generator
    (:func:`descend.manual_seed`). Backward: g ⊙ mask / (1 − p).
    """
    _check_p(p, "dropout")
    x = as_tensor(input)
    if not training or p == 0:
        return x
    return _DROPOUT((x,), {"p": p, "generator": generator})


def dropout2d(input, p: float = 0.5, training: bool = True, *, generator=None) -> Tensor:
    """Zero whole channels of ``input`` (N, C, H, W) with probability ``p``, scale the rest by 1/(1 − p).

    Neighbouring pixels of a feature map are strongly correlated, so dropping
    single pixels hardly regularises a convolution; dropping a channel does.
    One draw per (example, channel); the same rule as :func:`dropout`, with a
    mask of shape (N, C, 1, 1). ``training=False`` returns the input.
    """
    _check_p(p, "dropout2d")
    x = as_tensor(input)
    if x.data.ndim != 4:
        raise ValueError(f"dropout2d: input must be 4-D (N, C, H, W), got shape {x.data.shape}")
    if not training or p == 0:
        return x
    return _DROPOUT((x,), {"p": p, "generator": generator, "mask_shape": x.data.shape[:2] + (1, 1)})


def _check_p(p, name: str) -> None:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be a probability in [0, 1], got {p!r}")


def _batch_norm_forward(k, xs, attrs):
    x, gamma, beta = xs
    C = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))  # every axis but the channels
    bshape = (1, C) + (1,) * (x.ndim - 2)
    m = x.size // C
    dt = x.dtype
    rm, rv = attrs["running_mean"], attrs["running_var"]
    if attrs["training"]:
        mean = k.add.reduce(x, axes, None, k.buffer(bshape, dt), True)
        mean = k.multiply(mean, dt.type(1 / m), out=mean)
        centred = k.subtract(x, mean, out=k.buffer(x.shape, dt))
        var = k.add.reduce(k.multiply(centred, centred, out=k.buffer(x.shape, dt)), axes, None,
                           k.buffer(bshape, dt), True)
        var = k.multiply(var, dt.type(1 / m), out=var)  # the biased variance normalises
        if rm is not None or rv is not None:
            _update_running(k, attrs, mean.reshape(C), var.reshape(C), m)
    else:
        mean, var = k.empty(bshape, dt), k.empty(bshape, dt)
        k.copyto(mean, rm.reshape(bshape), casting="unsafe")
        k.copyto(var, rv.reshape(bshape), casting="unsafe")
        centred = k.subtract(x, mean, out=k.buffer(x.shape, dt))
    inv_std = k.add(var, dt.type(attrs["eps"]), out=k.buffer(bshape, dt))
    inv_std = k.divide(dt.type(1), k.sqrt(inv_std, out=inv_std), out=inv_std)
    xhat = k.multiply(centred, inv_std, out=centred)
    out_dt = np.result_type(dt, *(a.dtype for a in (gamma, beta) if a is not None))
    y = xhat
    if gamma is not None:
        y = k.multiply(xhat, gamma.reshape(bshape), out=k.buffer(x.shape, out_dt))
    if beta is not None:
        y = k.add(y, beta.reshape(bshape), out=k.buffer(x.shape, out_dt) if y is xhat else y)
    if y is xhat:  # no affine part: the output is a buffer of its own, not the saved x̂
        y = k.multiply(xhat, dt.type(1), out=k.buffer(x.shape, dt))
    return y, (xhat, inv_std)


def _update_running(k, attrs, mean, var, m: int) -> None:
    """running ← (1 − f)·running + f·batch statistic (the unbiased variance), in place.

    f is ``momentum``, or with ``momentum=None`` 1/n after the n-th batch (a cumulative
    average), n the ``num_batches_tracked`` counter this step increments.
    """
    rm, rv, count = attrs["running_mean"], attrs["running_var"], attrs["num_batches_tracked"]
    if count is not None:
        k.add(count, np.ones((), count.dtype), out=count)
    unbiased = m / (m - 1)
    if attrs["momentum"] is None:  # f = 1/n, read from the counter when the step runs
        f = k.divide(1.0, count, out=k.empty((), np.float64))
        keep = k.subtract(1.0, f, out=k.empty((), np.float64))
        f_var = k.multiply(f, unbiased, out=k.empty((), np.float64))
    else:
        f = attrs["momentum"]
        keep, f_var = 1.0 - f, f * unbiased
    for running, stat, factor in ((rm, mean, f), (rv, var, f_var)):
        if running is not None:
            k.multiply(running, keep, out=running, casting="unsafe")
            step = k.multiply(stat, factor, out=k.buffer(stat.shape, np.result_type(stat.dtype, running.dtype)))
            k.add(running, step, out=running, casting="unsafe")


def _batch_norm_vjp(k, i, xs, y, saved, attrs, g, out=None):
    x, gamma, _ = xs
    xhat, inv_std = saved
    C = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, C) + (1,) * (x.ndim - 2)
    if i == 2:  # dL/dβ = Σ g
        return k.add.reduce(g, axes, None, out)
    gx = k.multiply(g, xhat, out=k.buffer(g.shape, g.dtype))
    if i == 1:  # dL/dγ = Σ g x̂
        return k.add.reduce(gx, axes, None, out)
    scale = inv_std if gamma is None else k.multiply(inv_std, gamma.reshape(bshape), out=k.buffer(bshape, g.dtype))
    if not attrs["training"]:  # the statistics are constants: dL/dx = g γ/√(σ²+ε)
        return k.multiply(g, scale, out=out)
    # dL/dx = γ/(m √(σ²+ε)) · (m g − Σ g − x̂ Σ g x̂)
    m = x.size // C
    sum_gx = k.add.reduce(gx, axes, None, k.buffer(bshape, g.dtype), True)
    sum_g = k.add.reduce(g, axes, None, k.buffer(bshape, g.dtype), True)
    t = k.multiply(xhat, sum_gx, out=gx)
    t = k.add(t, sum_g, out=t)
    t = k.subtract(k.multiply(g, g.dtype.type(m), out=k.buffer(g.shape, g.dtype)), t, out=t)
    per = k.multiply(scale, g.dtype.type(1 / m), out=k.buffer(bshape, g.dtype))
    return k.multiply(t, per, out=out)


_BATCH_NORM = Rule("batch_norm", _batch_norm_forward, _batch_norm_vjp,
                   updates=("running_mean", "running_var", "num_batches_tracked"))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float | None = 0.1, eps: float = 1e-5, *, num_batches_tracked=None) -> Tensor:
    """Batch normalisation over every axis but the channels of ``input`` (N, C), (N, C, L) or (N, C, H, W).

    Training: x̂ = (x − μ_B)/√(σ²_B + ε) with the batch mean and biased
    variance per channel; the running statistics (if given, arrays or tensors
    of shape (C,)) are updated in place as
    ``running = (1 − momentum)·running + momentum·batch_stat`` using the
    *unbiased* batch variance. ``num_batches_tracked`` (a 0-d integer array,
    descend's addition: the layers pass theirs) is incremented in place, and
    ``momentum=None`` then keeps a cumulative average (momentum 1/n at the n-th batch).
    Evaluation: x̂ = (x − running_mean)/√(running_var + ε).
    Output y = γ x̂ + β (``weight`` γ, ``bias`` β, shape (C,), optional).

    Backward in training mode, m values per channel:
    dL/dβ = Σ g,  dL/dγ = Σ g x̂,
    dL/dx = γ/(m √(σ²+ε)) · (m g − Σ g − x̂ Σ g x̂).
    One operation (a :class:`~descend.ops.rule.Rule`, so the traced step replays it, running
    statistics included).
    """
    x = _float_tensor(input, "input", "batch_norm")
    X = x.data
    if X.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: expected (N, C), (N, C, L) or (N, C, H, W) input, got shape {X.shape}")
    C = X.shape[1]
    m = X.size // C if C else 0
    rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var.data if isinstance(running_var, Tensor) else running_var
    count = num_batches_tracked.data if isinstance(num_batches_tracked, Tensor) else num_batches_tracked
    gamma = as_tensor(weight) if weight is not None else None
    beta = as_tensor(bias) if bias is not None else None
    for arr, name in ((rm, "running_mean"), (rv, "running_var"),
                      (None if gamma is None else gamma.data, "weight"), (None if beta is None else beta.data, "bias")):
        if arr is not None and np.shape(arr) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},), got {np.shape(arr)}")
    for arr, name in ((rm, "running_mean"), (rv, "running_var")):
        if arr is not None and not (isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and arr.flags.writeable):
            raise TypeError(f"batch_norm: {name} must be a writeable floating-point array (updated in place)")
    if count is not None and not (isinstance(count, np.ndarray) and count.shape == () and count.dtype.kind == "i"):
        raise TypeError("batch_norm: num_batches_tracked must be a 0-d integer array (incremented in place)")
    if momentum is None and training and (rm is not None or rv is not None) and count is None:
        raise ValueError("batch_norm: momentum=None (a cumulative average) needs num_batches_tracked")
    if momentum is not None and not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum must be in [0, 1] or None, got {momentum!r}")
    if training:
        if m <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input shape {X.shape}"
            )
    elif rm is None or rv is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    attrs = {"training": bool(training), "momentum": momentum, "eps": float(eps), "running_mean": rm,
             "running_var": rv, "num_batches_tracked": count if training else None}
    return _BATCH_NORM((x, gamma, beta), attrs)


# ============================================================================ losses
def _check_reduction(reduction, name: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _has_nan(arr: np.ndarray) -> bool:
    """True if a floating-point array holds a NaN (the minimum of an array with a NaN is NaN).

    One reduction and no temporary: cheaper than ``np.isnan(arr).any()``.
    """
    if arr.dtype.kind != "f" or arr.size == 0:
        return False
    v = np.minimum.reduce(arr, axis=None)
    return bool(v != v)


def _check_nan(arr: np.ndarray, what: str, name: str) -> None:
    if _has_nan(arr):
        raise ValueError(f"{name}: {what} contains NaN")


def _loss_input(input, name: str) -> Tensor:
    x = _float_tensor(input, "input", name)
    _check_nan(x.data, "input", name)
    return x


def _same_shape_target(target, x: Tensor, name: str, cast_constant: bool = True) -> Tensor:
    """Targets of the elementwise losses: same shape as input, cast to its dtype.

    ``cast_constant=False``: a target that needs no gradient keeps its dtype (the
    loss's rule casts it, so that a replayed step casts each new batch too).
    """
    t = target if isinstance(target, Tensor) else Tensor._wrap(np.asarray(target))
    T = t.data
    if T.dtype.kind not in "biuf":
        raise TypeError(f"{name}: target must be numeric, got dtype {T.dtype}")
    if T.shape != x.data.shape:
        # No silent broadcasting: (N,) against (N, 1) would make an (N, N) loss.
        raise ValueError(
            f"{name}: target has shape {T.shape} but input has shape {x.data.shape}; they must match"
        )
    _check_nan(T, "target", name)
    if T.dtype != x.data.dtype and (cast_constant or t.requires_grad):
        if t.requires_grad:
            from ..ops.elementwise import astype

            t = astype(t, x.data.dtype)
        else:
            t = Tensor._wrap(T.astype(x.data.dtype))
    return t


def _reduce_elementwise(name, x, t, per, d_input, d_target, reduction, extra_edges=()):
    """Reduce a per-element loss and record its backward.

    ``d_input()`` / ``d_target()`` return the elementwise derivative of the
    per-element loss (computed only if that input needs it).
    """
    _check_reduction(reduction, name)
    if reduction == "none":
        out, factor = per, None
    else:
        if per.size == 0:
            raise ValueError(f"{name}: input is empty")
        out = per.sum() if reduction == "sum" else per.mean()
        factor = 1.0 if reduction == "sum" else 1.0 / per.size

    def chain(local):
        def vjp(g):
            d = local()
            if factor is None:
                return g * d
            return d * (g * factor).astype(d.dtype, copy=False)
        return vjp

    edges = [(x, chain(d_input))]
    if t is not None:
        edges.append((t, chain(d_target)))
    return record(np.asarray(out, dtype=per.dtype), name, *edges, *extra_edges)


def _no_nan(arr: np.ndarray) -> bool:
    return not _has_nan(arr)


def _mse_forward(k, xs, attrs):
    x, t = xs
    if k.recording:  # the eager loss refuses NaN targets with an error
        k.check(_no_nan, t)
    if t.dtype != x.dtype:
        cast = k.empty(t.shape, x.dtype)
        k.copyto(cast, t, casting="unsafe")
        t = cast
    diff = k.subtract(x, t, out=k.buffer(x.shape, x.dtype))
    sq = k.square(diff, out=k.buffer(x.shape, x.dtype))
    if attrs["reduction"] == "none":
        return sq, diff
    tb = k.buffer((), x.dtype)
    total = k.add.reduce(sq, None, None, tb)
    if attrs["reduction"] == "mean":
        total = k.divide(total, sq.size, out=tb)
    return total, diff


def _mse_vjp(k, i, xs, y, diff, attrs, g, out=None):
    # dℓ/dx = 2(x − y), dℓ/dy = −2(x − y); times g, and 1/n for the mean
    d = k.multiply(diff, 2 if i == 0 else -2, out=out)
    if attrs["reduction"] == "none":
        return k.multiply(d, g, out=out)
    factor = 1.0 / diff.size if attrs["reduction"] == "mean" else 1.0
    return k.multiply(d, k.multiply(g, factor, out=k.buffer((), g.dtype)), out=out)


_MSE = Rule("mse_loss", _mse_forward, _mse_vjp)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: ℓ = (x − y)², reduced by mean (default), sum or none.

    dℓ/dx = 2(x − y), dℓ/dy = −2(x − y).
    """
    name = "mse_loss"
    _check_reduction(reduction, name)
    x = _loss_input(input, name)
    t = _same_shape_target(target, x, name, cast_constant=False)
    if reduction != "none" and x.data.size == 0:
        raise ValueError(f"{name}: input is empty")
    return _MSE((x, t), {"reduction": reduction})


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error: ℓ = |x − y|.  dℓ/dx = sign(x − y) (0 at 0)."""
    x = _loss_input(input, "l1_loss")
    t = _same_shape_target(target, x, "l1_loss")
    diff = x.data - t.data
    return _reduce_elementwise(
        "l1_loss", x, t, np.abs(diff), lambda: np.sign(diff), lambda: -np.sign(diff), reduction
    )


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss with threshold δ on d = x − y:

    ℓ = ½d² for |d| < δ, δ(|d| − ½δ) otherwise (quadratic near 0, linear in the
    tails). dℓ/dx = clip(d, −δ, δ).
    """
    if not isinstance(delta, numbers.Real) or not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta!r}")
    x = _loss_input(input, "huber_loss")
    t = _same_shape_target(target, x, "huber_loss")
    diff = x.data - t.data
    ad = np.abs(diff)
    per = np.where(ad < delta, 0.5 * diff * diff, delta * (ad - 0.5 * delta)).astype(diff.dtype, copy=False)
    return _reduce_elementwise(
        "huber_loss", x, t, per,
        lambda: np.clip(diff, -delta, delta), lambda: -np.clip(diff, -delta, delta), reduction,
    )


def _broadcast_weight(weight, shape, dtype, what: str, name: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name}: {what} must be numeric, got dtype {w.dtype}")
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ValueError(f"{name}: {what} of shape {w.shape} cannot broadcast to input shape {shape}") from None
    return w.astype(dtype, copy=False)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` ∈ [0, 1] against ``target`` ∈ [0, 1]:

    ℓ = −w [y log x + (1 − y) log(1 − x)], each log clamped at −100 (as PyTorch)
    so that x = 0 or 1 gives a finite loss. dℓ/dx = w (x − y) / max(x(1 − x), 1e-12).
    Prefer :func:`binary_cross_entropy_with_logits`, which is stable for any logit.
    """
    name = "binary_cross_entropy"
    x = _loss_input(input, name)
    t = _same_shape_target(target, x, name)
    X, Y = x.data, t.data
    if X.size and (X.min() < 0 or X.max() > 1):
        raise ValueError(f"{name}: input must hold probabilities in [0, 1]; got values in "
                         f"[{X.min()}, {X.max()}] (use binary_cross_entropy_with_logits for logits)")
    w = _broadcast_weight(weight, X.shape, X.dtype, "weight", name)
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(X), -100)
        log_1mx = np.maximum(np.log1p(-X), -100)
    per = -(Y * log_x + (1 - Y) * log_1mx)
    if w is not None:
        per = per * w

    def d_input():
        d = (X - Y) / np.maximum(X * (1 - X), 1e-12)
        return d * w if w is not None else d

    def d_target():
        d = log_1mx - log_x
        return d * w if w is not None else d

    return _reduce_elementwise(name, x, t, per.astype(X.dtype, copy=False), d_input, d_target, reduction)


def _softplus_neg(v: np.ndarray) -> np.ndarray:
    """log(1 + e^(−v)) without overflow: max(−v, 0) + log1p(e^(−|v|))."""
    return np.maximum(-v, 0) + np.log1p(np.exp(-np.abs(v)))


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Binary cross-entropy from logits x (sigmoid fused in, stable for any x):

    ℓ = w [(1 − y) x + (1 + (p − 1) y) log(1 + e^(−x))]
      = −w [p y log σ(x) + (1 − y) log(1 − σ(x))],

    with ``pos_weight`` p (broadcast along the last axis: one per class) weighting
    the positive term. dℓ/dx = w [(1 − y) − (1 + (p − 1) y) σ(−x)]
    (= w (σ(x) − y) when p = 1); dℓ/dy = w [(p − 1) log(1 + e^(−x)) − x].
    """
    name = "binary_cross_entropy_with_logits"
    x = _loss_input(input, name)
    t = _same_shape_target(target, x, name)
    X, Y = x.data, t.data
    w = _broadcast_weight(weight, X.shape, X.dtype, "weight", name)
    pw = _broadcast_weight(pos_weight, X.shape, X.dtype, "pos_weight", name)
    sp = _softplus_neg(X)
    coef = 1 + (pw - 1) * Y if pw is not None else None
    per = (1 - Y) * X + (coef * sp if coef is not None else sp)
    if w is not None:
        per = per * w

    def d_input():
        sig = np.exp(-sp)  # σ(x) = e^(−log(1+e^(−x))); σ(−x) = 1 − σ(x)
        d = (1 - Y) - (coef if coef is not None else 1) * (1 - sig)
        return d * w if w is not None else d

    def d_target():
        d = (pw - 1) * sp - X if pw is not None else -X
        return d * w if w is not None else d

    return _reduce_elementwise(name, x, t, per.astype(X.dtype, copy=False), d_input, d_target, reduction)


# ---------------------------------------------------------------------------- classification
def _class_layout(X: np.ndarray, name: str):
    """Bring input (C,), (N, C) or (N, C, d1, ...) to rows (M, C); return it and how to undo it."""
    if X.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a scalar")
    if X.ndim == 1:
        return X[None, :], (lambda G: G[0]), ()
    if X.ndim == 2:
        return X, (lambda G: G), (X.shape[0],)
    moved = np.moveaxis(X, 1, -1)
    rows = moved.reshape(-1, X.shape[1])
    mshape = moved.shape

    def undo(G):
        return np.moveaxis(G.reshape(mshape), -1, 1)

    return rows, undo, (X.shape[0],) + X.shape[2:]


def _class_targets(target, X: np.ndarray, batch_shape: tuple, C: int, ignore_index: int, name: str):
    """Validate integer class targets; return (rows (M,), valid mask or None)."""
    T = np.asarray(target.data if isinstance(target, Tensor) else target)
    if T.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: target must hold integer class indices (e.g. int64) of shape {batch_shape}, or "
            f"class probabilities of the input's shape {X.shape}; got dtype {T.dtype} and shape {T.shape}"
        )
    if T.shape != batch_shape:
        raise ValueError(
            f"{name}: target of class indices must have shape {batch_shape} for input of shape "
            f"{X.shape}, got {T.shape}"
        )
    T = T.reshape(-1)
    if T.size == 0:
        return T, None
    if not 0 <= ignore_index < C:
        # One reduction decides the common case: in the unsigned view a negative label
        # (ignore_index included) is huge, so max < C means every label is a valid class.
        unsigned = T.view(T.dtype.str.replace("i", "u")) if T.dtype.kind == "i" else T
        if int(np.maximum.reduce(unsigned)) < C:
            return T, None
    ignored = T == ignore_index
    valid = None
    if ignored.any():
        valid = ~ignored
        checked = T[valid]
    else:
        checked = T
    if checked.size and (checked.min() < 0 or checked.max() >= C):
        bad = checked[(checked < 0) | (checked >= C)][0]
        raise ValueError(
            f"{name}: target contains class {int(bad)}, but input has {C} classes "
            f"(valid labels 0..{C - 1}, or ignore_index={ignore_index})"
        )
    if valid is not None:
        T = np.where(valid, T, 0)
    return T, valid


def _class_weight(weight, C: int, dtype, name: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w.shape != (C,) or w.dtype.kind not in "biuf":
        raise ValueError(f"{name}: weight must be a numeric array of shape ({C},) (one per class), got "
                         f"dtype {w.dtype} and shape {w.shape}")
    return w.astype(dtype, copy=False)


def _logsumexp_parts(k, rows):
    """For logits ``rows`` (M, C): the shifted logits x − max, e^(x − max), their row sums s and log s."""
    M, C = rows.shape
    dt = rows.dtype
    top = k.maximum.reduce(rows, 1, None, k.buffer((M, 1), dt), True)  # (axis, dtype, out, keepdims)
    shifted = k.subtract(rows, top, out=k.buffer((M, C), dt))
    e = k.exp(shifted, out=k.buffer((M, C), dt))
    s = k.add.reduce(e, 1, None, k.buffer((M, 1), dt), True)
    return shifted, e, s, k.log(s, out=k.buffer((M, 1), dt))


def _unsigned(labels: np.ndarray) -> np.ndarray:
    # In the unsigned view a negative label is huge: one reduction checks 0 ≤ label < C.
    return labels.view(labels.dtype.str.replace("i", "u")) if labels.dtype.kind == "i" else labels


def _below(values: np.ndarray, bound: int) -> bool:
    return np.maximum.reduce(values) < bound


def _take_flat(flat: np.ndarray, at: np.ndarray, out) -> np.ndarray:
    return flat.take(at, None, out, "clip")  # (the method, with positional arguments: fast)


def _ce_forward(k, xs, attrs):
    """Class-index cross-entropy of logits (M, C), mean or sum: ℓᵢ = log sᵢ − (x − max)_{i,yᵢ}."""
    x, labels = xs
    M, C = x.shape
    if k.recording:  # the eager loss says which label is out of range, with an error
        k.check(_below, _unsigned(labels), C)
    shifted, e, s, log_s = _logsumexp_parts(k, x)
    if labels.dtype.kind == "i":  # (signed labels: the sum is exact in intp)
        at = k.add(_row_offsets(M, C), labels, out=k.buffer((M,), np.intp))
    else:
        at = k.add(_row_offsets(M, C), labels, out=k.empty((M,), np.intp), casting="unsafe")
    picked = k.into(_take_flat, k.buffer((M,), x.dtype), shifted.reshape(-1), at)
    nll = k.subtract(log_s.reshape(M), picked, out=k.buffer((M,), x.dtype))  # −log p_{i,yᵢ}
    tb = k.buffer((), x.dtype)
    total = k.add.reduce(nll, None, None, tb)
    if attrs["reduction"] == "mean":
        total = k.divide(total, M, out=tb)
    return total, (e, s, at)


def _ce_vjp(k, i, xs, y, saved, attrs, g, out=None):
    # (softmax − onehot) · g, and 1/M for the mean
    e, s, at = saved
    M = e.shape[0]
    grad = k.divide(e, s, out=out)
    k.subtract.at(grad.reshape(-1), at, np.ones((), e.dtype))
    factor = 1.0 / M if attrs["reduction"] == "mean" else 1.0
    return k.multiply(grad, k.multiply(g, factor, out=k.buffer((), g.dtype)), out=grad)


_CROSS_ENTROPY = Rule("cross_entropy", _ce_forward, _ce_vjp)
_OFFSETS: dict = {}


def _row_offsets(M: int, C: int) -> np.ndarray:
    """``arange(M)·C``: where each row starts in the flattened (M, C) logits (kept, read-only)."""
    r = _OFFSETS.get((M, C))
    if r is None:
        if len(_OFFSETS) > 64:
            _OFFSETS.clear()
        r = _OFFSETS[(M, C)] = np.arange(M, dtype=np.intp) * C
        r.flags.writeable = False
    return r


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy from logits, fused: log-softmax and negative log-likelihood in one node.

    ``input``: logits (N, C), (C,) or (N, C, d1, ...). ``target``: integer class
    indices (N,) / () / (N, d1, ...) — entries equal to ``ignore_index`` are
    skipped — or class probabilities of the input's shape.

    With log p = x − logsumexp(x) (computed after subtracting the row maximum,
    so logits of magnitude 1e4 are fine), per example i:

    * class index yᵢ, weight w (default all 1), smoothing ε:
      ℓᵢ = (1 − ε) w_{yᵢ} (−log p_{i,yᵢ}) + (ε/C) Σ_c w_c (−log p_{ic});
      ``mean`` divides Σᵢ ℓᵢ by Σᵢ w_{yᵢ} over the non-ignored examples.
    * probabilities q (smoothed to (1 − ε) q + ε/C): ℓᵢ = −Σ_c w_c q_{ic} log p_{ic};
      ``mean`` divides by the number of examples.

    Gradient with respect to the logits, p = softmax(x): for class indices
    (1 − ε) w_{yᵢ} (pᵢ − onehot(yᵢ)) + (ε/C)(Σ_c w_c · pᵢ − w), which is the
    familiar (p − onehot)/N for the plain mean; for probabilities
    p_i Σ_c w_c q_{ic} − w ⊙ q_i.
    """
    name = "cross_entropy"
    _check_reduction(reduction, name)
    if (type(label_smoothing) not in (float, int) and not isinstance(label_smoothing, numbers.Real)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    # NaN in the logits is looked for only if the loss comes out NaN (a NaN logit makes
    # it NaN): one pass over the input saved in the usual case.
    x = input if type(input) is Tensor and input.data.dtype.kind == "f" else _float_tensor(input, "input", name)
    X = x.data
    rows, undo, batch_shape = _class_layout(X, name)
    M, C = rows.shape
    w = _class_weight(weight, C, X.dtype, name)
    eps = float(label_smoothing)

    T_raw = target.data if isinstance(target, Tensor) else np.asarray(target)
    probabilities = T_raw.dtype.kind == "f" and T_raw.shape == X.shape
    if probabilities:
        t = target if isinstance(target, Tensor) else Tensor._wrap(T_raw)
        shifted, e, s, log_s = _logsumexp_parts(EAGER, rows)
        _check_nan(X, "input", name)
        _check_nan(T_raw, "target", name)
        Q0, _, _ = _class_layout(T_raw.astype(X.dtype, copy=False), name)
        Q = Q0 * (1 - eps) + eps / C if eps else Q0
        logp = shifted - log_s
        wq = Q * w if w is not None else Q
        per = -(wq * logp).sum(axis=1)
        if reduction == "none":
            out, factor = per.reshape(batch_shape), None
        else:
            if M == 0:
                raise ValueError(f"{name}: input is empty")
            out = per.sum() if reduction == "sum" else per.sum() / M
            factor = 1.0 if reduction == "sum" else 1.0 / M

        def scale_rows(g):
            return (g.reshape(M, 1) if factor is None else np.asarray(g * factor, dtype=X.dtype))

        def d_input(g):
            p = e / s
            G = p * wq.sum(axis=1, keepdims=True) - wq
            return undo(G * scale_rows(g))

        def d_target(g):
            G = -(logp * w if w is not None else logp) * (1 - eps)
            return undo(G * scale_rows(g))

        return record(np.asarray(out, dtype=X.dtype), name, (x, d_input), (t, d_target))

    T, valid = _class_targets(target, X, batch_shape, C, ignore_index, name)
    if valid is None and w is None and not eps and reduction != "none" and X.ndim == 2 and M:
        # the common case, written as a rule (and so replayed by descend.compile)
        labels = target if isinstance(target, Tensor) and target.data.ndim == 1 else Tensor._wrap(T)
        out = _CROSS_ENTROPY((x, labels), {"reduction": reduction})
        if out.data != out.data:
            _check_nan(X, "input", name)
        return out
    shifted, e, s, log_s = _logsumexp_parts(EAGER, rows)
    r = _arange(M)
    nll = log_s[:, 0] - shifted[r, T]  # −log p_{i, yᵢ}
    wy = w[T] if w is not None else None  # weight of each example's class
    if valid is not None:
        wy = wy * valid if wy is not None else valid.astype(X.dtype)
    per = nll * wy if wy is not None else nll
    if eps:
        per = per * (1 - eps)
        # −Σ_c w_c log p_ic = (Σ_c w_c) log s − Σ_c w_c shifted_ic
        smooth = (w.sum() * log_s[:, 0] - shifted @ w) if w is not None else (C * log_s[:, 0] - shifted.sum(axis=1))
        if valid is not None:
            smooth = smooth * valid
        per = per + (eps / C) * smooth
    if reduction == "none":
        out, factor = per.reshape(batch_shape), None
        if _has_nan(per):
            _check_nan(X, "input", name)
    else:
        total = np.add.reduce(per, None)
        if total != total:
            _check_nan(X, "input", name)
        if reduction == "sum":
            out, factor = total, 1.0
        else:
            denom = wy.sum() if wy is not None else M
            if denom == 0:
                out, factor = np.asarray(np.nan, dtype=X.dtype), 0.0  # nothing counted: 0/0, as PyTorch
            else:
                out, factor = total / denom, 1.0 / denom

    def d_input(g):
        G = e / s  # softmax
        if wy is not None:
            G *= wy[:, None]
            G[r, T] -= wy
        else:
            G[r, T] -= 1
        if eps:
            G *= 1 - eps
            if w is not None:
                sm = (e / s) * w.sum() - w
            else:
                sm = (e / s) * C - 1
            if valid is not None:
                sm *= valid[:, None]
            G += (eps / C) * sm
        if factor is None:
            G *= g.reshape(M, 1)
        else:
            G *= np.asarray(g * factor, dtype=G.dtype)
        return undo(G)

    return record(np.asarray(out, dtype=X.dtype), name, (x, d_input))


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) (e.g. from log_softmax):

    ℓᵢ = −w_{yᵢ} x_{i,yᵢ}; ``mean`` divides by Σᵢ w_{yᵢ} over non-ignored
    examples. dℓᵢ/dx_{i,yᵢ} = −w_{yᵢ}, zero elsewhere.
    """
    name = "nll_loss"
    _check_reduction(reduction, name)
    x = _loss_input(input, name)
    X = x.data
    rows, undo, batch_shape = _class_layout(X, name)
    M, C = rows.shape
    w = _class_weight(weight, C, X.dtype, name)
    T, valid = _class_targets(target, X, batch_shape, C, ignore_index, name)
    r = np.arange(M)
    wy = w[T] if w is not None else None
    if valid is not None:
        wy = wy * valid if wy is not None else valid.astype(X.dtype)
    picked = rows[r, T]
    per = -(picked * wy) if wy is not None else -picked
    if reduction == "none":
        out, factor = per.reshape(batch_shape), None
    else:
        total = per.sum()
        if reduction == "sum":
            out, factor = total, 1.0
        else:
            denom = wy.sum() if wy is not None else M
            if denom == 0:
                out, factor = np.asarray(np.nan, dtype=X.dtype), 0.0
            else:
                out, factor = total / denom, 1.0 / denom

    def d_input(g):
        G = np.zeros((M, C), dtype=X.dtype)
        local = -wy if wy is not None else -np.ones(M, dtype=X.dtype)
        G[r, T] = local * (g.reshape(M) if factor is None else g * factor)
        return undo(G)

    return record(np.asarray(out, dtype=X.dtype), name, (x, d_input))
