"""Worker threads for optimizer steps.

NumPy releases the GIL inside its array loops, so the update rules of
different parameters (or of different slices of one large parameter) can run
on several cores at once, as PyTorch's intra-op threads do. Results do not
depend on the number of threads: every rule is elementwise, so each value is
computed by exactly the same operations whichever thread computes it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["set_num_threads", "get_num_threads"]

_MAX_DEFAULT = 8  # memory-bound loops stop scaling well before this


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_num_threads = max(1, min(_usable_cpus(), _MAX_DEFAULT))
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def set_num_threads(n: int) -> None:
    """Use up to ``n`` threads (the calling one included) for optimizer steps; 1 turns threading off."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    with _lock:
        if n != _num_threads:
            # Not shut down: a step running in another thread may still submit to it. Its
            # idle workers exit once it is garbage-collected.
            _pool = None
        _num_threads = n


def get_num_threads() -> int:
    """The number of threads optimizer steps may use (default: usable CPUs, at most 8)."""
    return _num_threads


def pool() -> ThreadPoolExecutor:
    """The shared executor, with ``get_num_threads() - 1`` workers (the caller is the other one)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, _num_threads - 1), thread_name_prefix="descend-optim")
        return _pool


def _forget_pool_in_child() -> None:  # a forked child has none of the parent's threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)
