"""Check analytic gradients against central finite differences.

For a function f and a random cotangent v (same shape as f's output) the
engine's vector-Jacobian product ∇ₓ⟨v, f(x)⟩ must equal, element by element,

    (⟨v, f(x + ε eᵢ)⟩ - ⟨v, f(x - ε eᵢ)⟩) / 2ε,

computed in float64. A random v makes the check cover every output at once
(a wrong vjp would have to be orthogonal to v to escape, which happens with
probability zero).
"""

from __future__ import annotations

import numpy as np

from .autograd import backward, set_grad_enabled
from .tensor import Tensor, as_tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree (or are not finite)."""


def _index(flat: int, shape: tuple) -> tuple[int, ...]:
    """A flat position as a tuple of plain ints (readable in messages, usable as an index)."""
    return tuple(int(k) for k in np.unravel_index(flat, shape))


def _projected(f, arrays, seed_v, nondiff):
    with set_grad_enabled(False):
        out = as_tensor(f(*[Tensor._wrap(a) if i not in nondiff else a for i, a in enumerate(arrays)]))
    return float(np.sum(out.data.astype(np.float64) * seed_v))


def gradcheck(f, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0) -> bool:
    """Return True if f's gradients match finite differences, else raise GradcheckError.

    ``inputs`` are tensors or arrays; floating ones are checked (cast to
    float64), others are passed through unchanged. The error message names the
    input, the worst element, and its analytic and numeric values.
    """
    rng = np.random.default_rng(seed)
    arrays, leaves, nondiff = [], [], set()
    for i, x in enumerate(inputs):
        raw = x.data if isinstance(x, Tensor) else x
        arr = np.asarray(raw)
        if arr.dtype.kind == "f":
            # C order: the perturbation loop below writes through a flat view of it.
            arrays.append(np.array(arr, dtype=np.float64, order="C"))
        else:
            arrays.append(raw)
            nondiff.add(i)
    with set_grad_enabled(True):
        for i, a in enumerate(arrays):
            leaves.append(None if i in nondiff else Tensor(a, requires_grad=True))
        args = [leaves[i] if leaves[i] is not None else arrays[i] for i in range(len(arrays))]
        out = as_tensor(f(*args))
        v = rng.standard_normal(out.shape)
        if out.requires_grad:
            backward(out, np.asarray(v, dtype=out.dtype))
    for i, leaf in enumerate(leaves):
        if leaf is None:
            continue
        analytic = leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data)
        if not np.all(np.isfinite(analytic)):
            bad = _index(np.argmax(~np.isfinite(analytic)), analytic.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {analytic.shape}) has a non-finite analytic gradient "
                f"at index {bad}: analytic {float(analytic[bad])!r}"
            )
        numeric = np.zeros(analytic.shape, dtype=np.float64)  # C order, whatever analytic's layout
        base = arrays[i]
        flat = base.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = _projected(f, arrays, v, nondiff)
            flat[j] = orig - eps
            minus = _projected(f, arrays, v, nondiff)
            flat[j] = orig
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        if not np.all(np.isfinite(numeric)):
            bad = _index(np.argmax(~np.isfinite(numeric)), numeric.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {analytic.shape}) has a non-finite numeric gradient "
                f"at index {bad}: analytic {float(analytic[bad])!r} vs numeric {float(numeric[bad])!r}"
            )
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            worst = _index(np.argmax(err), err.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {analytic.shape}) mismatch at index {worst}: "
                f"analytic {float(analytic[worst])!r} vs numeric {float(numeric[worst])!r} "
                f"(atol={atol}, rtol={rtol})"
            )
    return True
