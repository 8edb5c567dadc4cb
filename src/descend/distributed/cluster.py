"""Where the work runs: an embedded Dask cluster on this machine, or any running deployment.

Every entry point of :mod:`descend.distributed` (and ``cluster=`` of
:func:`descend.search.multistart` and :func:`descend.landscapes.basins`) takes the same
``cluster`` argument:

* ``None`` (or ``"local"``): start a :class:`distributed.LocalCluster` of worker *processes*
  on this machine (loopback only, its dashboard too), use it, and shut it down afterwards;
* ``"tcp://host:8786"``: the address of a running scheduler (``dask scheduler`` +
  ``dask worker`` by hand, dask-jobqueue on SLURM/PBS, dask-kubernetes, ...);
* a path to a *scheduler file* (``dask scheduler --scheduler-file FILE``);
* a :class:`distributed.Client`: used as it is, and left open;
* a cluster object (``LocalCluster``, ``SLURMCluster``, ...): a client is connected to it
  and closed afterwards; the cluster itself is left running.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import os

__all__ = ["client", "connect", "worker_addresses", "require_distributed"]

_EXTRA_HINT = "pip install 'descend[distributed]'"


def require_distributed():
    """Import ``distributed`` (Dask's scheduler), or raise an ImportError naming the extra."""
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            f"descend.distributed needs Dask's distributed scheduler (the 'distributed' extra): "
            f"{_EXTRA_HINT}"
        ) from exc
    return distributed


def _check_n_workers(n_workers, where: str):
    if n_workers is None:
        return None
    if isinstance(n_workers, bool) or not isinstance(n_workers, numbers.Integral) or n_workers < 1:
        raise ValueError(f"{where}: n_workers must be a positive integer or None, got {n_workers!r}")
    return int(n_workers)


def client(address=None, n_workers=None, threads_per_worker=1, *, timeout=60.0, set_as_default=True):
    """A :class:`distributed.Client` for descend's work.

    Parameters
    ----------
    address : str or path, optional
        ``None``: start an embedded :class:`~distributed.LocalCluster` of ``n_workers``
        worker processes on this machine, listening on 127.0.0.1 only; closing the client
        shuts it down. ``"tcp://host:port"``: connect to a running scheduler. An existing
        file: a scheduler file written by ``dask scheduler --scheduler-file``.
    n_workers : int, optional
        Embedded cluster: how many worker processes (default: one per CPU core).
        Running deployment: wait until at least this many workers have joined (they
        start asynchronously under batch schedulers), for at most ``timeout`` seconds.
    threads_per_worker : int, default 1
        Threads of each embedded worker. descend's NumPy work holds the GIL for
        long stretches, so one thread per process is what parallelises.
    timeout : float
        Seconds to wait for the scheduler (and the workers asked for).
    set_as_default : bool, default True
        Make it the client that ``dask.compute`` and friends use, as ``distributed.Client``
        does (descend's entry points pass False for the clusters they start themselves).

    Returns
    -------
    distributed.Client
        Use it as a context manager, or call ``close()`` when done.
    """
    distributed = require_distributed()
    n_workers = _check_n_workers(n_workers, "client")
    if isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, numbers.Integral) \
            or threads_per_worker < 1:
        raise ValueError(f"client: threads_per_worker must be a positive integer, got {threads_per_worker!r}")
    if address is None:
        # A Client started without an address owns the LocalCluster it starts and shuts it
        # down when closed. Worker processes (not threads): NumPy's small operations hold
        # the GIL, so threads of one process would mostly wait for each other.
        return distributed.Client(
            n_workers=n_workers or (os.cpu_count() or 1), threads_per_worker=int(threads_per_worker),
            # the dashboard on a free loopback port (None would mean :8787 on every interface)
            processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
            set_as_default=set_as_default,
        )
    if isinstance(address, os.PathLike):
        address = os.fspath(address)
    if not isinstance(address, str) or not address.strip():
        raise TypeError(f"client: address must be a scheduler address like 'tcp://host:8786' or a "
                        f"scheduler file, got {address!r}")
    if os.path.isfile(os.path.expanduser(address)):
        c = distributed.Client(scheduler_file=os.path.expanduser(address), timeout=timeout, set_as_default=set_as_default)
    elif "://" in address or ":" in address:
        c = distributed.Client(address, timeout=timeout, set_as_default=set_as_default)
    else:
        raise ValueError(f"client: {address!r} is neither a scheduler address ('tcp://host:port') nor "
                         f"an existing scheduler file")
    if n_workers is not None:
        try:
            c.wait_for_workers(n_workers, timeout=timeout)
        except BaseException:
            c.close()
            raise
    return c


@contextlib.contextmanager
def connect(cluster=None, n_workers=None, where: str = "descend.distributed"):
    """Context manager yielding a Client for ``cluster`` (see the module docstring).

    What this opens, it closes; a Client passed in is left open.
    """
    distributed = require_distributed()
    n_workers = _check_n_workers(n_workers, where)
    if isinstance(cluster, distributed.Client):
        yield cluster
        return
    if isinstance(cluster, str) and cluster.strip().lower() == "local":
        cluster = None
    if cluster is None or isinstance(cluster, (str, os.PathLike)):
        c = client(cluster, n_workers=n_workers, set_as_default=False)
    elif hasattr(cluster, "scheduler_address"):  # LocalCluster, dask-jobqueue, dask-kubernetes...
        c = distributed.Client(cluster, set_as_default=False)
    else:
        raise TypeError(f"{where}: cluster must be None, a scheduler address, a scheduler file, a "
                        f"distributed.Client or a Dask cluster object, got {type(cluster).__name__}")
    try:
        yield c
    finally:
        c.close()


def worker_addresses(c, n_workers=None, where: str = "descend.distributed") -> list[str]:
    """The addresses of the workers to use, in a fixed (sorted) order; at most ``n_workers``."""
    n_workers = _check_n_workers(n_workers, where)
    if n_workers is not None:
        have = len(c.scheduler_info(n_workers=-1)["workers"])
        if have < n_workers:
            c.wait_for_workers(n_workers, timeout=60)
    addresses = sorted(c.scheduler_info(n_workers=-1)["workers"])
    if not addresses:
        raise RuntimeError(f"{where}: the cluster has no workers")
    return addresses[:n_workers] if n_workers is not None else addresses
