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

import ast
import contextlib
import functools
import logging
import numbers
import os
import sys

__all__ = ["client", "connect", "worker_addresses", "require_distributed", "check_main_guard",
           "ClusterStartError"]

_EXTRA_HINT = "pip install 'descend[distributed]'"

#: Seconds the embedded cluster's workers have to start before the start counts as failed.
WORKER_START_TIMEOUT = 25.0

_GUARD_HINT = ("put the code that starts the cluster under `if __name__ == \"__main__\":` (Dask starts "
               "its worker processes by spawning Python afresh, and each one imports the main script again)")


class ClusterStartError(RuntimeError):
    """The embedded cluster could not start its workers (the message says why and what to do)."""


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
    if address is None:
        check_main_guard("client")
    if isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, numbers.Integral) \
            or threads_per_worker < 1:
        raise ValueError(f"client: threads_per_worker must be a positive integer, got {threads_per_worker!r}")
    if address is None:
        # A Client started without an address owns the LocalCluster it starts and shuts it
        # down when closed. Worker processes (not threads): NumPy's small operations hold
        # the GIL, so threads of one process would mostly wait for each other.
        try:
            # The cluster is started on its own so that a failed start is shut down by Dask
            # (a Client that fails while starting its own cluster leaves it half-closed, and
            # the process then hangs at exit).
            cluster = distributed.LocalCluster(
                n_workers=n_workers or (os.cpu_count() or 1), threads_per_worker=int(threads_per_worker),
                # the dashboard on a free loopback port (None would mean :8787 on every interface)
                processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
                # a worker process that cannot start (or reach the scheduler) gives up instead of
                # leaving the start waiting for ever
                death_timeout=WORKER_START_TIMEOUT,
            )
        except Exception as exc:
            raise ClusterStartError(
                f"client: the local Dask cluster's workers failed to start ({type(exc).__name__}: "
                f"{exc}); if this runs from a script, {_GUARD_HINT}") from None
        try:
            return _owning_client_class(distributed)(cluster, set_as_default=set_as_default)
        except BaseException:
            cluster.close()
            raise
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


@functools.cache
def _owning_client_class(distributed):
    """A :class:`distributed.Client` that shuts down the embedded cluster it was made for when
    closed, as a Client that starts its own cluster does."""

    class OwningClient(distributed.Client):
        def close(self, *args, **kwargs):
            try:
                return super().close(*args, **kwargs)
            finally:
                cluster = getattr(self, "cluster", None)
                if cluster is not None and getattr(cluster, "status", None) is not None \
                        and cluster.status.name not in ("closed", "closing"):
                    cluster.close()

    OwningClient.__name__ = OwningClient.__qualname__ = "Client"
    return OwningClient


def check_main_guard(where: str) -> None:
    """Refuse to start a local cluster where its worker processes would start another one.

    Dask spawns its workers; each re-imports the main script (as ``__mp_main__``). A script
    that starts a cluster at its top level, outside ``if __name__ == "__main__":``, would then
    start one in every worker, and the parent would wait for workers that never come. Raises
    :class:`ClusterStartError` (with the fix) when the call comes from a top-level statement of
    the main script that is not under the guard; a process that is such a re-import (a spawned
    worker) exits with the same advice in one line.
    """
    if _importing_main_in_child():
        # A worker still bootstrapping can do nothing useful: it ends with one line (SystemExit
        # prints its message) instead of a traceback per worker; the parent, whose workers
        # failed to start, raises ClusterStartError.
        raise SystemExit(
            f"error: {where}: called while a spawned worker process imports the main script; {_GUARD_HINT}")
    line = _main_toplevel_line()
    if line is None:
        return
    path, lineno = line
    if not _guarded(path, lineno):
        raise ClusterStartError(
            f"{where}: called at the top level of {os.path.basename(path)!r} (line {lineno}), outside "
            f"`if __name__ == \"__main__\":`; {_GUARD_HINT}")


def _importing_main_in_child() -> bool:
    """Whether this process is a spawned child still importing the parent's main script."""
    import multiprocessing

    # multiprocessing's own check: a spawned process inherits its parent's state while
    # ``_inheriting`` is set, and the main script runs again as ``__mp_main__`` then
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        return True
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False


def _main_toplevel_line():
    """``(path, line)`` of the statement of the main script's top level that led to this call,
    or None when the main module is no script file (``python -c``, a notebook, a REPL)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py") or not os.path.isfile(path):
        return None
    namespace = vars(main)
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
            return path, frame.f_lineno
        frame = frame.f_back
    return None


def _is_main_test(test: ast.expr) -> bool:
    """Whether an ``if`` test is (or contains) ``__name__ == "__main__"``."""
    for node in ast.walk(test):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            sides = [node.left, *node.comparators]
            names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
            consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
            if names and consts:
                return True
    return False


def _guarded(path: str, lineno: int) -> bool:
    """Whether line ``lineno`` of the script ``path`` lies in the body of an ``if __name__ ==
    "__main__":`` (True too when the source cannot be read: then nothing is known to be wrong)."""
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return True
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop()
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if start is None or end is None or not start <= lineno <= end:
            continue
        if isinstance(node, ast.If) and _is_main_test(node.test) and any(
                s.lineno <= lineno <= s.end_lineno for s in node.body):
            return True
        nodes.extend(ast.iter_child_nodes(node))
    return False


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
    if cluster is None:
        check_main_guard(where)  # before client() does, to name the entry point called
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
