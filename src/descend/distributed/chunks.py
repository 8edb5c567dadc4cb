"""Splitting one batch of independent work (restarts, grid starts) across the workers."""

from __future__ import annotations

from .cluster import connect, require_distributed

__all__ = ["map_chunks"]


def map_chunks(fn, items, *args, cluster, where: str, chunks_per_worker: int = 4, n_workers=None, **kwargs):
    """``[fn(chunk, *args, **kwargs) for chunk in chunks(items)]``, the chunks run as Dask tasks.

    ``items`` (an array, split along its first axis, or a list) is cut into contiguous
    chunks, a few per worker so that a slow chunk does not hold the others up; the results
    come back in the order of the chunks, so concatenating them gives what one call on all
    of ``items`` would. ``fn`` must be importable on the workers (a module-level function).
    """
    require_distributed()
    n = len(items)
    if n == 0:
        return []
    with connect(cluster, n_workers, where=where) as c:
        n_active = max(len(c.scheduler_info(n_workers=-1)["workers"]), 1)
        n_chunks = min(n, n_active * int(chunks_per_worker))
        bounds = [i * n // n_chunks for i in range(n_chunks + 1)]
        futures = [c.submit(_call, fn, items[lo:hi], args, kwargs, pure=False)
                   for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
        try:
            return c.gather(futures)
        except BaseException:
            c.cancel(futures)
            raise


def _call(fn, chunk, args, kwargs):
    return fn(chunk, *args, **kwargs)
