"""Sweeps: many independent runs (hyperparameter grids, seeds, optimizers) as Dask tasks.

::

    from descend import distributed

    def run(config):                       # any function of a dict, returning a dict
        ...train or minimize with config["lr"], config["optimizer"], config["seed"]...
        return {"val_loss": ..., "epochs": ...}

    result = distributed.sweep(run, {"optimizer": ["sgd", "adam"], "lr": [1e-3, 1e-2]})
    result.best("val_loss")["config"]
    result.to_csv("sweep.csv")

Each configuration is one task. Results stream back as they finish; a configuration whose
``run`` raises is recorded with its error and the others go on; a task lost with its
worker (killed, out of memory, machine gone) is run again on another worker.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import numbers
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence

import numpy as np

from .cluster import connect, require_distributed

__all__ = ["ParameterGrid", "SweepResult", "sweep"]


# ----------------------------------------------------------------------------- the grid
class ParameterGrid:
    """Every combination of the values of a grid, as scikit-learn's ``ParameterGrid``.

    ``ParameterGrid({"a": [1, 2], "b": [True, False]})`` yields ``{"a": 1, "b": True}``,
    ``{"a": 1, "b": False}``, ``{"a": 2, "b": True}``, ``{"a": 2, "b": False}``: keys in
    sorted order, the last one varying fastest. A list of grids yields the combinations of
    each in turn.
    """

    def __init__(self, param_grid):
        if isinstance(param_grid, Mapping):
            param_grid = [param_grid]
        if not isinstance(param_grid, (list, tuple)):
            raise TypeError(f"ParameterGrid: the grid must be a dict of lists or a list of such dicts, "
                            f"got {type(param_grid).__name__}")
        for grid in param_grid:
            if not isinstance(grid, Mapping):
                raise TypeError(f"ParameterGrid: each grid must be a dict of lists, got {type(grid).__name__}")
            for key, values in grid.items():
                if not isinstance(key, str):
                    raise TypeError(f"ParameterGrid: parameter names must be strings, got {key!r}")
                if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
                    raise TypeError(f"ParameterGrid: the values of {key!r} must be a list, got "
                                    f"{type(values).__name__} {values!r}")
                if len(values) == 0:
                    raise ValueError(f"ParameterGrid: the list of values of {key!r} is empty")
        self.param_grid = [dict(g) for g in param_grid]

    def __iter__(self):
        for grid in self.param_grid:
            items = sorted(grid.items())
            if not items:
                yield {}
                continue
            keys, values = zip(*items, strict=True)
            for combo in itertools.product(*values):
                yield dict(zip(keys, combo, strict=True))

    def __len__(self) -> int:
        return sum(math.prod(len(v) for v in g.values()) for g in self.param_grid)

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"ParameterGrid indices must be integers, got {index!r}")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ParameterGrid index {index} out of range for {n} combinations")
        for grid in self.param_grid:
            size = math.prod(len(v) for v in grid.values())
            if index >= size:
                index -= size
                continue
            out = {}
            for key, values in reversed(sorted(grid.items())):  # the last key varies fastest
                index, k = divmod(index, len(values))
                out[key] = values[k]
            return dict(sorted(out.items()))
        raise AssertionError  # pragma: no cover

    def __repr__(self) -> str:
        return f"ParameterGrid({self.param_grid!r})"


def _configs(grid, configs) -> list[dict]:
    if (grid is None) == (configs is None):
        raise ValueError("sweep: give either grid (a dict of lists) or configs (a list of dicts)")
    if grid is not None:
        if isinstance(grid, ParameterGrid):
            out = list(grid)
        elif isinstance(grid, Mapping):
            out = list(ParameterGrid(grid))
        elif isinstance(grid, (list, tuple)) and all(isinstance(g, Mapping) for g in grid):
            # a list of configurations given in the grid's place
            out = [dict(g) for g in grid]
        else:
            raise TypeError(f"sweep: grid must be a dict of lists (or a ParameterGrid), got {type(grid).__name__}")
    else:
        if isinstance(configs, Mapping) or not isinstance(configs, (list, tuple)):
            raise TypeError(f"sweep: configs must be a list of dicts, got {type(configs).__name__}")
        for i, c in enumerate(configs):
            if not isinstance(c, Mapping):
                raise TypeError(f"sweep: configs[{i}] must be a dict, got {type(c).__name__}")
        out = [dict(c) for c in configs]
    if not out:
        raise ValueError("sweep: there are no configurations to run")
    return out


# ----------------------------------------------------------------------------- the result
_SCALARS = (str, bool, int, float, type(None))
_META = ("status", "error", "wall_time", "worker")


def _cell(value):
    """A CSV cell: scalars as they are (floats exactly), anything else as JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else repr(value))
    if isinstance(value, _SCALARS):
        return "" if value is None else value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


class SweepResult(Sequence):
    """What :func:`sweep` returns: one record per configuration, in the order they were given.

    Each record is a dict with

    ``index``
        position of the configuration in the sweep;
    ``config``
        the configuration (a dict);
    ``status``
        ``"ok"`` or ``"error"``;
    ``result``
        what ``run(config)`` returned (None after an error);
    ``error``, ``traceback``
        ``"ValueError: ..."`` and the worker's traceback, for a failed configuration;
    ``wall_time``
        seconds ``run`` took on its worker;
    ``worker``
        the address of the worker that ran it.

    Attributes: ``records``, ``wall_time`` (seconds from the first submission to the last
    result, not counting the start of a local cluster), ``n_workers`` (workers connected when
    the sweep started).
    """

    def __init__(self, records, wall_time: float = 0.0, n_workers: int = 0):
        self.records = list(records)
        self.wall_time = float(wall_time)
        self.n_workers = int(n_workers)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):
        return self.records[index]

    @property
    def ok(self) -> list[dict]:
        """The records of the configurations that ran to the end."""
        return [r for r in self.records if r["status"] == "ok"]

    @property
    def errors(self) -> list[dict]:
        """The records of the configurations that raised (or were lost too often)."""
        return [r for r in self.records if r["status"] != "ok"]

    def best(self, key: str, mode: str = "min") -> dict:
        """The successful record whose ``result[key]`` is lowest (``mode="max"``: highest).

        Records without a finite value for ``key`` are never the best.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"best: mode must be 'min' or 'max', got {mode!r}")
        scored = []
        for r in self.ok:
            v = (r["result"] or {}).get(key)
            if isinstance(v, (numbers.Real, np.generic)) and not isinstance(v, bool) and math.isfinite(float(v)):
                scored.append((float(v) if mode == "min" else -float(v), r["index"], r))
        if not scored:
            raise ValueError(f"best: no successful configuration has a finite value for {key!r}")
        return min(scored, key=lambda t: (t[0], t[1]))[2]

    def rows(self) -> list[dict]:
        """Flat rows: ``index``, ``param_<key>`` per configuration key (scikit-learn's
        ``cv_results_`` naming), the result's keys, ``status``, ``error``, ``wall_time``,
        ``worker``."""
        out = []
        for r in self.records:
            row = {"index": r["index"]}
            for k, v in r["config"].items():
                row[f"param_{k}"] = v
            for k, v in (r["result"] or {}).items():
                clash = k in _META or k == "index" or k.startswith("param_")
                row[f"result_{k}" if clash else k] = v
            row.update(status=r["status"], error=r["error"], wall_time=r["wall_time"], worker=r["worker"])
            out.append(row)
        return out

    def columns(self) -> list[str]:
        """``index``, the ``param_`` columns, the result columns, then the bookkeeping ones."""
        params: list[str] = []
        results: list[str] = []
        meta = _META
        for row in self.rows():
            for k in row:
                if k == "index" or k in meta:
                    continue
                group = params if k.startswith("param_") else results
                if k not in group:
                    group.append(k)
        return ["index", *params, *results, *meta]

    def to_csv(self, path=None):
        """Write one row per configuration (see :meth:`rows`); return the text when ``path`` is None.

        Non-scalar results (lists, arrays, dicts) are written as JSON. The file is written
        to a temporary name and renamed, so it is never left half-written.
        """
        cols = self.columns()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for row in self.rows():
            w.writerow([_cell(row.get(c)) for c in cols])
        text = buf.getvalue()
        if path is None:
            return text
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".descend-", suffix=".csv", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            with _suppress():
                os.unlink(tmp)
            raise
        return None

    def __repr__(self) -> str:
        return (f"SweepResult({len(self)} configs, {len(self.ok)} ok, {len(self.errors)} failed, "
                f"{self.wall_time:.2f} s on {self.n_workers} workers)")


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


# ----------------------------------------------------------------------------- the task
def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # not inside a Dask worker (e.g. the serial baseline)
        return "local"


def run_config(run, config: dict, index: int) -> dict:
    """Run one configuration and return its record; an exception in ``run`` is recorded, not raised.

    This is the task each configuration becomes (exposed so that a serial loop can produce
    the same records).
    """
    worker = _worker_address()
    t0 = time.perf_counter()
    try:
        result = run(dict(config))
        if result is None:
            result = {}
        if not isinstance(result, Mapping):
            raise TypeError(f"run must return a dict of results, got {type(result).__name__}")
        result = dict(result)
        status, error, tb = "ok", None, None
    except Exception as exc:  # a failing configuration is a result, not a failed sweep
        result, status = None, "error"
        error = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
    return {"index": index, "config": dict(config), "status": status, "result": result, "error": error,
            "traceback": tb, "wall_time": time.perf_counter() - t0, "worker": worker}


# ----------------------------------------------------------------------------- progress
class _Progress:
    """A live bar on a terminal (rich), a line every few seconds otherwise, or nothing."""

    def __init__(self, enabled: bool, total: int, stream=None, interval: float = 2.0):
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self.enabled = bool(enabled)
        self._bar = None
        self._t0 = time.perf_counter()
        self._last = self._t0
        if not self.enabled:
            return
        if getattr(self.stream, "isatty", lambda: False)():
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )
            except ImportError:
                pass
            else:
                self._bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
                                     transient=False)
                self._task = self._bar.add_task("sweep", total=total, failed=0)
                self._bar.start()

    def update(self, record: dict) -> None:
        self.done += 1
        self.failed += record["status"] != "ok"
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, failed=self.failed)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval or self.done == self.total:
            self._last = now
            elapsed = now - self._t0
            eta = elapsed / self.done * (self.total - self.done)
            print(f"sweep: {self.done}/{self.total} done, {self.failed} failed, {elapsed:.1f} s"
                  + (f", about {eta:.0f} s left" if self.done < self.total else ""), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# ----------------------------------------------------------------------------- sweep
def sweep(run, grid=None, configs=None, *, cluster=None, n_workers=None, retries: int = 2,
          progress: bool = True, on_record=None) -> SweepResult:
    """Run ``run(config)`` for every configuration, each as a Dask task, and collect the results.

    Parameters
    ----------
    run : callable
        ``run(config: dict) -> dict`` of results (final metrics, curves, anything
        picklable). It runs in worker processes, so it must be importable there or
        picklable by value (a function of an installed module, a lambda or a closure).
        Seed inside ``run`` (e.g. from ``config["seed"]``) for reproducible runs.
    grid : dict of lists, optional
        Expanded to every combination (:class:`ParameterGrid`).
    configs : list of dicts, optional
        The configurations themselves (instead of ``grid``).
    cluster : None, address, scheduler file, Client or cluster object
        Where to run (see :mod:`descend.distributed.cluster`); None starts a local cluster.
    n_workers : int, optional
        Worker processes of the local cluster (default: one per core); with a running
        cluster, wait until that many workers have joined.
    retries : int, default 2
        A configuration whose task was lost (its worker died more often than the
        scheduler's ``allowed-failures``; Dask reruns a task lost with one worker on
        another by itself) is submitted again up to this many times before it is
        recorded as an error. Exceptions raised by ``run`` are never retried: they are
        results.
    progress : bool
        A live bar (terminal) or a line every few seconds.
    on_record : callable, optional
        Called in this process with each record as it arrives (in completion order),
        e.g. to write files; it may modify the record (``record["result"]``) before it is
        stored.

    Returns
    -------
    SweepResult
        One record per configuration, in the order given (see :class:`SweepResult`).
    """
    distributed = require_distributed()
    if not callable(run):
        raise TypeError(f"sweep: run must be a callable run(config) -> dict, got {type(run).__name__}")
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"sweep: retries must be a non-negative integer, got {retries!r}")
    if on_record is not None and not callable(on_record):
        raise TypeError(f"sweep: on_record must be callable, got {type(on_record).__name__}")
    todo = _configs(grid, configs)
    _check_picklable(run, "run")
    for i, cfg in enumerate(todo):
        _check_picklable(cfg, f"configs[{i}]")
    token = uuid.uuid4().hex[:12]
    records: list[dict | None] = [None] * len(todo)
    attempts = [0] * len(todo)
    with connect(cluster, n_workers, where="sweep") as c:
        n_active = len(c.scheduler_info(n_workers=-1)["workers"])
        t0 = time.perf_counter()  # the sweep's own time, without starting a local cluster
        bar = _Progress(progress, len(todo))
        live = {}  # key -> (configuration index, future) of the tasks not yet collected
        try:
            def submit(i):
                f = c.submit(run_config, run, todo[i], i, key=f"descend-sweep-{token}-{i}-{attempts[i]}",
                             pure=False)
                live[f.key] = (i, f)
                return f

            with c.as_current():  # as_completed looks the client up
                # results are fetched in the background, in batches, as tasks finish
                queue = distributed.as_completed([submit(i) for i in range(len(todo))], with_results=True,
                                                 raise_errors=False)
            for fut, record in queue:
                i, _ = live.pop(fut.key)
                fut.release()
                if not isinstance(record, dict):
                    # the task was lost (KilledWorker, ...), not run's error: run_config catches
                    # those and always returns a dict. as_completed hands errors over as
                    # (type, exception, traceback), and the future's status is not always
                    # "error" yet when it does (a worker death races with the result fetch)
                    exc = record[1] if isinstance(record, tuple) and len(record) == 3 else record
                    attempts[i] += 1
                    if attempts[i] <= retries:
                        queue.add(submit(i))
                        continue
                    record = {"index": i, "config": dict(todo[i]), "status": "error", "result": None,
                              "error": f"{type(exc).__name__}: {exc} (task lost {attempts[i]} times)",
                              "traceback": None, "wall_time": float("nan"), "worker": None}
                if on_record is not None:
                    on_record(record)
                records[i] = record
                bar.update(record)
        except BaseException:
            if live:  # interrupted: do not leave the rest running on a cluster we do not own
                c.cancel([f for _, f in live.values()])
            raise
        finally:
            bar.close()
    return SweepResult(records, time.perf_counter() - t0, n_active)


def _check_picklable(obj, name: str) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(obj)
    except Exception as exc:
        raise TypeError(f"sweep: {name} cannot be sent to the workers (it does not pickle: "
                        f"{type(exc).__name__}: {exc})") from None
