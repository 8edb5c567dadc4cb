"""The random number generator of the library, so that one seed reproduces a run bit for bit.

``descend.manual_seed(seed)`` reseeds it; layers' initialisers, dropout and the
data loaders' shuffling draw from :func:`generator` unless given their own.

The generator is per thread, like grad mode: each thread has its own, so that
two trainings in two threads never draw from each other's sequence (each gives
what it gives alone). :func:`manual_seed` seeds the calling thread's generator;
a new thread starts with a fresh generator seeded from the operating system's
entropy (call ``manual_seed`` in the thread to make it reproducible).
:func:`fork_rng` runs a block with a separate generator and puts the thread's
own back afterwards.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .tensor import Tensor

__all__ = ["manual_seed", "generator", "fork_rng", "randn", "rand", "uniform", "normal", "randint",
           "permutation"]


class _ThreadGenerator(threading.local):
    """One ``numpy.random.Generator`` per thread (``__init__`` runs once in each thread)."""

    def __init__(self):
        self.generator = np.random.default_rng()


_local = _ThreadGenerator()


def _check_seed(seed, where):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{where}: seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the calling thread's generator (``numpy.random.Generator`` on PCG64) and return it."""
    _local.generator = np.random.default_rng(_check_seed(seed, "manual_seed"))
    return _local.generator


def generator() -> np.random.Generator:
    """The calling thread's generator (use it to draw numbers that follow ``manual_seed``)."""
    return _local.generator


@contextlib.contextmanager
def fork_rng(seed=None, *, generator=None):
    """Run a block with the calling thread drawing from a separate generator; restore its own after.

    ``seed``: a fresh PCG64 generator seeded with it; ``generator``: that
    ``numpy.random.Generator`` (its state advances with the draws); neither: a
    copy of the current generator, so that the draws inside the block do not
    advance the thread's sequence (as ``torch.random.fork_rng``). Other
    threads are unaffected. Yields the generator in use.
    """
    if seed is not None and generator is not None:
        raise ValueError("fork_rng: pass seed or generator, not both")
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise TypeError(f"fork_rng: generator must be a numpy.random.Generator, got {type(generator).__name__}")
        gen = generator
    elif seed is not None:
        gen = np.random.default_rng(_check_seed(seed, "fork_rng"))
    else:
        gen = np.random.Generator(type(_local.generator.bit_generator)())
        gen.bit_generator.state = _local.generator.bit_generator.state
    saved = _local.generator
    _local.generator = gen
    try:
        yield gen
    finally:
        _local.generator = saved


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _make(arr, dtype, requires_grad) -> Tensor:
    return Tensor(arr.astype(dtype, copy=False), requires_grad=requires_grad)


def randn(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of shape ``size``."""
    return _make(_local.generator.standard_normal(_shape(size)), dtype, requires_grad)


def rand(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) of shape ``size``."""
    return _make(_local.generator.random(_shape(size)), dtype, requires_grad)


def uniform(low=0.0, high=1.0, size=(), dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [low, high)."""
    return _make(_local.generator.uniform(low, high, size), dtype, requires_grad)


def normal(loc=0.0, scale=1.0, size=(), dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Normal samples with mean ``loc`` and standard deviation ``scale``."""
    return _make(_local.generator.normal(loc, scale, size), dtype, requires_grad)


def randint(low, high=None, size=()) -> Tensor:
    """Integers on [low, high) (int64)."""
    return Tensor(_local.generator.integers(low, high, size))


def permutation(n: int) -> np.ndarray:
    """A random permutation of range(n) (a plain index array)."""
    return _local.generator.permutation(n)
