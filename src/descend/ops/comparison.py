"""Comparisons: plain boolean NumPy arrays, outside the graph (they have no derivative)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def equal(a, b) -> np.ndarray:
    return np.equal(_raw(a), _raw(b))


def not_equal(a, b) -> np.ndarray:
    return np.not_equal(_raw(a), _raw(b))


def less(a, b) -> np.ndarray:
    return np.less(_raw(a), _raw(b))


def less_equal(a, b) -> np.ndarray:
    return np.less_equal(_raw(a), _raw(b))


def greater(a, b) -> np.ndarray:
    return np.greater(_raw(a), _raw(b))


def greater_equal(a, b) -> np.ndarray:
    return np.greater_equal(_raw(a), _raw(b))
