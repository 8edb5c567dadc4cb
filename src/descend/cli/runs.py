"""Run folders: ``runs/<name>/`` created without ever overwriting, written and read back.

A run folder holds::

    config.toml    the resolved configuration (``descend train --config`` re-runs it)
    config.json    the same plus what was learnt about the data (features, classes)
    history.csv    one row per epoch (train/validation loss and accuracy, lr, time); its
                   train_loss is the mean of the epoch's step losses, each on its batch as
                   the parameters moved
    steps.csv      one row per optimizer step (loss, lr, gradient norm)
    metrics.json   final metrics of the saved parameters on the whole train, validation and
                   test sets (so its train_loss is not history.csv's last one)
    model.npz      weights + architecture + preprocessing (``descend.save``, atomic)
    loss.png, accuracy.png, lr.png   plots
    report.html    everything above on one self-contained page

``model.npz`` alone is enough to rebuild the network and preprocess new data
(``descend evaluate`` / ``descend predict``).

A run folder is never seen half-written: :class:`StagedRun` builds it in a
hidden sibling (``runs/.<name>.<host>-<pid>.<random>.partial``) and publishes it
with one ``rename`` at the end, which also never replaces an existing run. A
run that fails or is interrupted leaves nothing behind. A killed process can
leave its hidden ``.partial`` folder, which no command reads; the next run
started in the same runs folder deletes it (only when that process has ended). Staging folders
of older versions, named without the process (``.<name>.<random>.partial``), are left alone: no
process can be known to have ended, and their age says nothing (a run trains into one for as
long as it runs); the README tells the user to delete them by hand.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..serialization import check_folder, create_temp, process_tag, tag_is_stale, write_atomically

__all__ = ["RunError", "new_run_dir", "StagedRun", "write_bytes", "write_text", "write_new", "write_json",
           "write_toml", "write_csv", "read_json", "remove_stale_partials", "MODEL_FILE", "RUN_FORMAT"]

MODEL_FILE = "model.npz"
RUN_FORMAT = "descend-run/1"


class RunError(RuntimeError):
    """A run folder cannot be created or read (the message names the folder)."""


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def new_run_dir(runs_dir, name: str | None, stem: str = "run") -> Path:
    """Create and return a fresh run folder; never reuses an existing one.

    With ``name`` given, ``runs_dir/name`` must not exist yet (an error says
    so). Without, the name is ``<stem>-<timestamp>``, with ``-2``, ``-3``...
    appended when that exists already. Creation is atomic (``os.mkdir``), so
    two runs started in the same second get different folders.
    """
    root = Path(runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunError(f"runs folder {str(root)!r} exists and is not a folder") from None
    if name is not None:
        path = root / name
        try:
            path.mkdir()
        except FileExistsError:
            raise RunError(
                f"run folder {str(path)!r} already exists; choose another --name (runs are never overwritten)"
            ) from None
        return path
    base = f"{stem}-{_timestamp()}"
    for k in range(1, 10_000):
        path = root / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunError(f"could not find a free run name under {str(root)!r}")  # pragma: no cover


class StagedRun:
    """A run folder assembled out of sight and published atomically.

    ``StagedRun(runs_dir, name, stem)`` checks up front that an explicit
    ``name`` is free (so a clash fails before any work), then creates the
    hidden staging folder :attr:`path` to write into. :meth:`publish` renames
    it to ``runs_dir/name`` (or, without a name, ``<stem>-<timestamp>`` with
    ``-2``, ``-3``... appended while taken) and returns the final path;
    :meth:`discard` deletes it. ``rename`` of a folder fails when the target is
    a non-empty folder (POSIX) or exists at all (Windows), so an existing run
    is never replaced, even by a run racing for the same name.
    """

    def __init__(self, runs_dir, name: str | None = None, stem: str = "run"):
        self.root = Path(runs_dir)
        self.explicit = name is not None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise RunError(f"runs folder {str(self.root)!r} exists and is not a folder") from None
        if name is not None:
            if os.path.lexists(self.root / name):
                raise RunError(f"run folder {str(self.root / name)!r} already exists; choose another --name "
                               "(runs are never overwritten)")
            self.name = name
        else:
            self.name = self._free_name(f"{stem}-{_timestamp()}")
        remove_stale_partials(self.root)
        self.requested = self.name if self.explicit else None
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.name}.{process_tag()}.", suffix=".partial",
                                          dir=self.root))
        os.chmod(self.path, 0o777 & ~_current_umask())  # mkdtemp's folder is private; a run folder is not
        self.published = False

    def _free_name(self, base: str) -> str:
        for k in range(1, 10_000):
            candidate = base if k == 1 else f"{base}-{k}"
            if not os.path.lexists(self.root / candidate):
                return candidate
        raise RunError(f"could not find a free run name under {str(self.root)!r}")  # pragma: no cover

    @property
    def final_path(self) -> Path:
        """Where the run will be published (unless a racing run takes the name first)."""
        return self.root / self.name

    def publish(self) -> Path:
        """Move the finished staging folder to its final name in one rename; return the final path.

        When the name was taken while this run trained (another run with the same ``--name``
        finished first), the run is published as ``<name>-2`` (``-3``, ...) instead: its
        results are never left hidden; :attr:`renamed` then says so.
        """
        base = self.name
        for k in range(1, 10_000):
            name = base if k == 1 else f"{base}-{k}"
            target = self.root / name
            if os.path.lexists(target):
                continue
            try:
                os.rename(self.path, target)
            except OSError:
                if os.path.lexists(target):
                    continue  # taken between the check and the rename: try the next name
                raise
            self.name, self.path, self.published = name, target, True
            return target
        raise RunError(f"could not find a free run name under {str(self.root)!r}; the results are kept "
                       f"in {str(self.path)!r}")  # pragma: no cover

    @property
    def renamed(self) -> bool:
        """Whether an explicitly named run was published under another name (its name was taken)."""
        return self.published and self.explicit and self.name != self.requested

    def discard(self) -> None:
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)


_PARTIAL = re.compile(r"\..+\.(?P<tag>[0-9a-f]{6}-[0-9]+)\.[^.]+\.partial")


def remove_stale_partials(runs_dir) -> list[Path]:
    """Delete the hidden ``.partial`` staging folders that killed runs left in ``runs_dir``.

    Only folders whose process (named in the folder's name) has ended on this machine go;
    a run still training, here or on another machine, keeps its folder. Returns what was removed.
    """
    removed = []
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return removed
    for name in names:
        m = _PARTIAL.fullmatch(name)
        path = Path(runs_dir) / name
        if m is not None and tag_is_stale(m["tag"]) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data: bytes) -> None:
    """Write a file atomically: a temporary file in the same folder, then ``os.replace``."""
    # no fsync: a run's many small files skip the cost a checkpoint, which resumes training, pays
    write_atomically(path, lambda fh: fh.write(data), fsync=False)


def write_text(path, text: str) -> None:
    """Write a UTF-8 text file atomically (temporary file + rename)."""
    write_bytes(path, text.encode("utf-8"))


def write_new(path, data: bytes) -> None:
    """Write ``data`` to ``path``, which must not exist yet (never overwrites), atomically.

    The temporary file is linked to ``path`` (``os.link`` fails if it exists),
    so even a file created by someone else in the meantime is left alone.
    """
    path = Path(path)
    if os.path.lexists(path):
        raise FileExistsError(f"{str(path)!r} already exists (never overwritten); choose another name")
    fd, tmp = create_temp(check_folder(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise FileExistsError(f"{str(path)!r} already exists (never overwritten); choose another name") from None
        except OSError:  # a file system without hard links: check-then-replace is the best left
            if os.path.lexists(path):
                raise FileExistsError(f"{str(path)!r} already exists (never overwritten)") from None
            os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no nan/inf; null is what readers expect
    if isinstance(obj, float):
        return obj + 0.0  # -0.0 + 0.0 is 0.0: no negative zero in a report
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path, obj: Any) -> None:
    write_text(path, json.dumps(_jsonable(obj), indent=2) + "\n")


def read_json(path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise RunError(f"{str(path)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{str(path)!r} is not valid JSON: {exc}") from None


def write_toml(path, values: dict[str, Any], header: str = "") -> None:
    """Write a TOML file with tomli-w, atomically; keys with value None are left out (TOML has no
    null) and ``header`` becomes comment lines at the top."""
    import tomli_w

    comments = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    write_text(path, comments + tomli_w.dumps({k: v for k, v in values.items() if v is not None}))


def write_csv(path, rows: list[dict], columns: list[str] | None = None) -> None:
    """Write rows of numbers/strings as CSV (None and nan as empty cells)."""
    if columns is None:
        columns = []
        for row in rows:
            for k in row:
                if k not in columns:
                    columns.append(k)
    out = [",".join(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                cells.append("")
            elif isinstance(v, float):
                cells.append(repr(v + 0.0))  # never -0.0
            else:
                cells.append(str(v))
        out.append(",".join(cells))
    write_text(path, "\n".join(out) + "\n")
