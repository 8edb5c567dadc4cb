"""Gradient clipping and flattening parameters into one vector."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _param_list(parameters, name: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"{name}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {type(parameters).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameters[{i}] is a {type(p).__name__}, not a Tensor")
    return params


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> np.float64:
    """Scale the gradients in place so that their joint norm is at most ``max_norm``.

    The total norm is taken over all gradients together, as if concatenated
    into one vector: ‖g‖_p = (Σ |gᵢ|^p)^(1/p) (``norm_type=inf``: max |gᵢ|).
    Every gradient is multiplied by min(1, max_norm / (‖g‖ + 1e-6)).
    Parameters without a gradient are skipped. Returns the total norm *before*
    clipping (a NumPy float64), the number to log to watch for exploding
    gradients. ``error_if_nonfinite=True`` raises if it is NaN or infinite
    (the gradients are then left untouched).
    """
    params = _param_list(parameters, "clip_grad_norm_")
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a non-negative number, got {max_norm!r}")
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (or inf), got {norm_type!r}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return np.float64(0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isinf(norm_type):
            total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
        elif norm_type == 2.0:
            total = math.sqrt(sum(float(np.vdot(g.ravel(), g.ravel()).real) for g in grads))
        else:
            acc = sum(float(np.sum(np.abs(g.astype(np.float64, copy=False)) ** norm_type)) for g in grads)
            total = acc ** (1.0 / norm_type)
    total = np.float64(total)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    coef = float(max_norm) / (float(total) + 1e-6)  # Python floats: inf -> 0, nan -> nan, no warnings
    if coef > 1.0:
        coef = 1.0
    if coef != 1.0:  # (a NaN norm makes every gradient NaN, as in PyTorch)
        with np.errstate(invalid="ignore"):
            for g in grads:
                g *= g.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element to [−clip_value, clip_value] in place."""
    params = _param_list(parameters, "clip_grad_value_")
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real) or not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a non-negative number, got {clip_value!r}")
    for p in params:
        if p.grad is not None:
            np.clip(p.grad, -clip_value, clip_value, out=p.grad)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters' values concatenated (row-major, in order) into one 1-D tensor (a copy)."""
    params = _param_list(parameters, "parameters_to_vector")
    if not params:
        return Tensor._wrap(np.zeros(0, dtype=np.float32))
    return Tensor._wrap(np.concatenate([p.data.reshape(-1) for p in params]))


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (in place, same order)."""
    params = _param_list(parameters, "vector_to_parameters")
    v = np.asarray(vec.data if isinstance(vec, Tensor) else vec)
    if v.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape {v.shape}")
    total = sum(p.data.size for p in params)
    if v.size != total:
        raise ValueError(f"vector_to_parameters: vec has {v.size} elements but the parameters have {total}")
    offset = 0
    for p in params:
        n = p.data.size
        p.data[...] = v[offset:offset + n].reshape(p.data.shape)
        offset += n
