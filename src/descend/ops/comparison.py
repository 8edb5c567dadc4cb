"""Comparisons: plain boolean NumPy arrays, outside the graph (they have no derivative)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _comparison(ufunc):
    def compare(a, b) -> np.ndarray:
        return ufunc(_raw(a), _raw(b))

    compare.__name__ = compare.__qualname__ = ufunc.__name__
    compare.__doc__ = f"``numpy.{ufunc.__name__}`` of the values of ``a`` and ``b``."
    return compare


equal = _comparison(np.equal)
not_equal = _comparison(np.not_equal)
less = _comparison(np.less)
less_equal = _comparison(np.less_equal)
greater = _comparison(np.greater)
greater_equal = _comparison(np.greater_equal)
