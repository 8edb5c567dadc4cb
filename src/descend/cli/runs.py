"""Run folders: ``runs/<name>/`` created without ever overwriting, written and read back.

A run folder holds::

    config.toml    the resolved configuration (``descend train --config`` re-runs it)
    config.json    the same plus what was learnt about the data (features, classes)
    history.csv    one row per epoch (train/validation loss and accuracy, lr, time)
    steps.csv      one row per optimizer step (loss, lr, gradient norm)
    metrics.json   final metrics on the train, validation and test sets
    model.npz      weights + architecture + preprocessing (``descend.save``, atomic)
    loss.png, accuracy.png, lr.png   plots
    report.html    everything above on one self-contained page

``model.npz`` alone is enough to rebuild the network and preprocess new data
(``descend evaluate`` / ``descend predict``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RunError", "new_run_dir", "write_text", "write_json", "write_toml", "write_csv", "read_json",
           "MODEL_FILE", "RUN_FORMAT"]

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


def write_text(path, text: str) -> None:
    """Write a text file atomically (temporary file + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".descend-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def write_toml(path, values: dict[str, Any], header: str = "") -> None:
    """Write a flat TOML file (keys with value None are left out: TOML has no null)."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    write_text(path, "\n".join(lines) + "\n")


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
                cells.append(repr(v))
            else:
                cells.append(str(v))
        out.append(",".join(cells))
    write_text(path, "\n".join(out) + "\n")
