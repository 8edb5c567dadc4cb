"""An objective function with honest evaluation counters.

Everything that compares methods by "evaluations spent" goes through
:class:`Objective`: each value of f adds one to ``nfev``, each gradient one to
``njev``. It accepts

* a :class:`~descend.landscapes.Landscape` (values and gradients by autodiff,
  batches evaluated in one vectorised call);
* a function written with descend operations (autodiff);
* a plain Python function of a NumPy array returning a number (values only; when
  a gradient is needed it is taken by central differences, whose 2d evaluations
  of f are counted in ``nfev``), or with ``jac=`` a function returning its
  gradient. Finding out that f is NumPy-only takes one call of f on a descend
  Tensor; that call is counted too.
"""

from __future__ import annotations

import numpy as np

from ..autograd import set_grad_enabled
from ..tensor import Tensor
from .functions import Landscape, as_landscape

__all__ = ["Objective"]


class _NotDifferentiable(TypeError):
    """f accepted a descend Tensor but returned a plain number (no graph to differentiate)."""

    def __init__(self, value):
        super().__init__(
            "f returned a plain number for a descend Tensor, so autodiff cannot differentiate "
            "it; pass jac='3-point' or a gradient function"
        )
        self.value = value


class Objective:
    """Wraps ``f`` (see the module docstring) and counts its evaluations.

    Parameters
    ----------
    f : Landscape, landscape factory or callable
    jac : callable, "autodiff", "3-point" or None
        How to get gradients of a plain function: a function ``jac(x) -> array``, autodiff
        (f must be written with descend operations), or central differences. ``None``
        tries autodiff and falls back to central differences when ``f`` does not accept a
        descend Tensor.
    """

    def __init__(self, f, jac=None):
        f = as_landscape(f)
        if not callable(f):
            raise TypeError(f"f must be a Landscape or a callable, got {type(f).__name__}")
        if jac is not None and not callable(jac) and jac not in ("autodiff", "3-point"):
            raise ValueError(f"jac must be a callable, 'autodiff', '3-point' or None, got {jac!r}")
        self.f = f
        self.landscape = f if isinstance(f, Landscape) else None
        self.jac = "autodiff" if self.landscape is not None else jac
        self.nfev = 0
        self.njev = 0

    @property
    def name(self) -> str:
        return self.landscape.name if self.landscape is not None else getattr(self.f, "__name__", "f")

    # -- values ---------------------------------------------------------------------
    def value(self, x: np.ndarray) -> float:
        """f(x) for one point of shape (d,)."""
        self.nfev += 1
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            if self.landscape is not None:
                return float(self.landscape(x))
            return self._plain_value(x)

    def values(self, xs: np.ndarray) -> np.ndarray:
        """f at each row of ``xs`` (n, d): one vectorised call for a landscape."""
        xs = np.asarray(xs, dtype=np.float64)
        if self.landscape is not None:
            self.nfev += len(xs)
            with np.errstate(over="ignore", invalid="ignore"):
                return np.asarray(self.landscape(xs), dtype=np.float64).reshape(len(xs))
        return np.array([self.value(row) for row in xs], dtype=np.float64)

    def _plain_value(self, x):
        out = self.f(x.copy())  # a copy: the caller's array must not be changed by f
        if isinstance(out, Tensor):
            out = out.data
        out = np.asarray(out, dtype=np.float64)
        if out.size != 1:
            raise ValueError(f"f must return a single number, got an array of shape {out.shape}")
        return float(out.reshape(()))

    # -- gradients ------------------------------------------------------------------
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(f(x), ∇f(x)) for one point; counts one value and one gradient (plus 2d values
        for central differences)."""
        x = np.asarray(x, dtype=np.float64)
        if self.jac is None:  # first gradient of a plain callable: try autodiff
            try:
                v, g = self._autodiff(x)
            except _NotDifferentiable as exc:  # f ran on the Tensor but returned a plain number
                self.jac = "3-point"
                self.nfev += 1
                self.njev += 1
                return exc.value, self._central_differences(x)
            except Exception:  # noqa: BLE001 - f does not accept a Tensor: it is NumPy-only
                self.jac = "3-point"
                self.nfev += 1  # the failed probe was a call of f all the same
            else:
                self.jac = "autodiff"
                self.nfev += 1
                self.njev += 1
                return v, g
        if self.jac == "autodiff":
            self.nfev += 1
            self.njev += 1
            return self._autodiff(x)
        v = self.value(x)
        self.njev += 1
        if callable(self.jac):
            g = np.asarray(self.jac(x.copy()), dtype=np.float64)
            if g.shape != x.shape:
                raise ValueError(f"jac must return an array of shape {x.shape}, got {g.shape}")
            return v, g
        return v, self._central_differences(x)

    def _autodiff(self, x):
        leaf = Tensor(x, requires_grad=True)
        with set_grad_enabled(True), np.errstate(over="ignore", invalid="ignore"):
            out = self.f(leaf)
            if not isinstance(out, Tensor):
                arr = np.asarray(out, dtype=np.float64)
                raise _NotDifferentiable(float(arr.reshape(())) if arr.size == 1 else np.nan)
            if out.data.size != 1:
                raise ValueError(f"f must return a single number, got shape {out.shape}")
            if out.requires_grad:
                out.backward()
        g = leaf.grad if leaf.grad is not None else np.zeros_like(x)
        return float(out.data.reshape(())), np.asarray(g, dtype=np.float64)

    def _central_differences(self, x):
        """∂f/∂xᵢ ≈ (f(x + hᵢeᵢ) - f(x - hᵢeᵢ)) / 2hᵢ with hᵢ = ε^(1/3) max(1, |xᵢ|).

        ε^(1/3) balances the O(h²) truncation error against the O(ε/h) rounding error.
        """
        h = np.cbrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(x))
        g = np.empty_like(x)
        for i in range(x.size):
            e = np.zeros_like(x)
            e[i] = h[i]
            g[i] = (self.value(x + e) - self.value(x - e)) / (2 * h[i])
        return g
