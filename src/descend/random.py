"""One random number generator for the whole library, so that one seed
reproduces a run bit for bit.

``descend.manual_seed(seed)`` resets it; layers' initialisers, dropout and the
data loaders' shuffling draw from :func:`generator` unless given their own.
"""

from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["manual_seed", "generator", "randn", "rand", "uniform", "normal", "randint", "permutation"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (``numpy.random.Generator`` on PCG64) and return it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The global generator (use it to draw numbers that follow ``manual_seed``)."""
    return _generator


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _make(arr, dtype, requires_grad) -> Tensor:
    return Tensor(arr.astype(dtype, copy=False), requires_grad=requires_grad)


def randn(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of shape ``size``."""
    return _make(_generator.standard_normal(_shape(size)), dtype, requires_grad)


def rand(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) of shape ``size``."""
    return _make(_generator.random(_shape(size)), dtype, requires_grad)


def uniform(low=0.0, high=1.0, size=(), dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [low, high)."""
    return _make(_generator.uniform(low, high, size), dtype, requires_grad)


def normal(loc=0.0, scale=1.0, size=(), dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Normal samples with mean ``loc`` and standard deviation ``scale``."""
    return _make(_generator.normal(loc, scale, size), dtype, requires_grad)


def randint(low, high=None, size=()) -> Tensor:
    """Integers on [low, high) (int64)."""
    return Tensor(_generator.integers(low, high, size))


def permutation(n: int) -> np.ndarray:
    """A random permutation of range(n) (a plain index array)."""
    return _generator.permutation(n)
