"""``descend.save`` / ``descend.load``: nested states of arrays in a NumPy ``.npz``.

A state (a model's ``state_dict``, an optimizer's, a whole checkpoint) is a
tree of dicts, lists and tuples whose leaves are arrays, tensors, numbers,
strings, booleans or None. Arrays go into the archive as ``.npy`` members; the
tree itself goes in as JSON (with markers for tuples, non-string dict keys and
NumPy scalars so that every leaf comes back with its exact type and dtype).

Loading uses ``allow_pickle=False``: a file can never execute code. Saving
writes a temporary file beside the target and renames it into place, so a
crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import socket
import time
import zipfile

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError", "check_parameters"]

_MAGIC = "__descend__"
_FORMAT = 1


class CheckpointError(ValueError):
    """A file is not a readable descend checkpoint."""


def _encode(obj, arrays: dict, where: str):
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"save: {where} is an array of dtype {obj.dtype}, which cannot be saved without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"__scalar__": key}
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return {"__float__": repr(obj)}  # repr round-trips exactly, inf and nan included
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: {where} has a key {k!r} of type {type(k).__name__}; keys must be str or int")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"__items__": items}
    if isinstance(obj, (list, tuple)):
        body = [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
        return {"__tuple__": body} if isinstance(obj, tuple) else body
    hint = ""
    if callable(getattr(obj, "state_dict", None)):  # a module or an optimizer, as torch.save takes
        hint = (f"; save its state_dict() (descend stores arrays, never pickled objects) and load it "
                f"into a new {type(obj).__name__} with load_state_dict")
    raise TypeError(f"save: {where} has type {type(obj).__name__}, which descend cannot save{hint}")


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if "__array__" in node:
        return arrays[node["__array__"]]
    if "__scalar__" in node:
        return arrays[node["__scalar__"]][()]
    if "__float__" in node:
        return float(node["__float__"])
    if "__dict__" in node:
        return {k: _decode(v, arrays) for k, v in node["__dict__"].items()}
    if "__items__" in node:
        return {k: _decode(v, arrays) for k, v in node["__items__"]}
    if "__tuple__" in node:
        return tuple(_decode(v, arrays) for v in node["__tuple__"])
    raise CheckpointError(f"unknown node {sorted(node)!r}")


def process_tag() -> str:
    """``<host>-<pid>``: which process on which machine made a temporary file or folder.

    Part of the names of descend's temporaries, so that a later write can tell the leftovers
    of a killed process (its pid no longer runs on this machine) from the work in progress of
    a live one, here or on another machine sharing the folder.
    """
    return f"{_host_tag()}-{os.getpid()}"


@functools.cache
def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


_TAG = re.compile(r"(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)")
_TEMP_FILE = re.compile(r"\.descend-" + _TAG.pattern + r"-[0-9a-f]{16}\.tmp")
_OLD_TEMP_FILE = re.compile(r"\.descend-[0-9a-f]{16}\.tmp")  # before the names carried a process tag
#: Seconds after which an untagged temporary of descend's naming counts as left over.
OLD_TEMP_AGE = 3600.0


def tag_is_stale(tag: str) -> bool:
    """Whether ``tag`` (a :func:`process_tag`) names a process of this machine that has ended."""
    m = _TAG.fullmatch(tag)
    if m is None or m["host"] != _host_tag():
        return False  # another machine's: its process may still be writing
    pid = int(m["pid"])
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill terminates: never ask there
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # exists (another user's), or cannot tell: keep the file
    return False


def remove_stale_temps(directory) -> list[str]:
    """Delete the temporary files of descend's naming that a killed process left in ``directory``.

    Only ``.descend-<host>-<pid>-<random>.tmp`` files whose process has ended on this machine
    (and untagged ``.descend-<random>.tmp`` files of older versions, after an hour) are
    removed; a live writer's file is never touched. Returns the paths removed.
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        path = os.path.join(directory, name)
        m = _TEMP_FILE.fullmatch(name)
        if m is not None:
            stale = tag_is_stale(f"{m['host']}-{m['pid']}")
        elif _OLD_TEMP_FILE.fullmatch(name):
            try:
                stale = now - os.lstat(path).st_mtime > OLD_TEMP_AGE
            except OSError:
                continue
        else:
            continue
        if stale:
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass  # gone already, or not ours to remove
    return removed


def check_folder(path) -> str:
    """The folder that will hold the file ``path``; a FileNotFoundError naming ``path`` and the
    folder when it does not exist (rather than one naming a temporary file never made)."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        what = f"{directory!r} is a file, not a folder" if os.path.exists(directory) else \
            f"the folder {directory!r} does not exist"
        raise FileNotFoundError(f"cannot write {os.fspath(path)!r}: {what}")
    return directory


def create_temp(directory) -> tuple[int, str]:
    """A new, exclusively created file ``.descend-<host>-<pid>-<random>.tmp`` in ``directory``:
    (descriptor, path).

    Created with mode 0666 less the umask (as ``open`` would) rather than
    ``tempfile.mkstemp``'s 0600, so that the file renamed into place gets the
    permissions of any other new file. The name says which process made it
    (:func:`process_tag`), so :func:`remove_stale_temps` can clear a killed writer's.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tag = process_tag()
    while True:
        tmp = os.path.join(directory, f".descend-{tag}-{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # astronomically unlikely; draw another name
            continue


def save(state, path) -> None:
    """Write ``state`` to ``path`` (an ``.npz`` file) atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: directory {directory!r} for {path!r} does not exist")
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, arrays, "state")  # validate everything before touching the disk
    meta = json.dumps({"format": _FORMAT, "tree": tree})
    arrays[_MAGIC] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    # a process killed while saving here (a checkpoint every epoch) left its temporary file
    remove_stale_temps(directory)
    write_atomically(path, lambda fh: np.savez(fh, **arrays))


def write_atomically(path, write, *, fsync: bool = True) -> None:
    """Write the file ``path`` through ``write(binary_file)``, all or nothing.

    The data goes to a temporary file in the same folder, renamed over ``path``
    (``os.replace``) once complete, so a reader or a crash sees the old file or
    the new one, never part of one. ``fsync``: force the data to disk before the
    rename, so that the new file also survives a power cut.
    """
    fd, tmp = create_temp(check_folder(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_parameters(state_dict, path) -> None:
    """Refuse a model's ``state_dict`` whose parameters are not finite floating-point arrays.

    A tampered or corrupted file with nan/inf or integer weights would otherwise give
    predictions of no meaning without a word; the CheckpointError names ``path`` and the
    parameter.
    """
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{os.fspath(path)!r}: the model's parameters are not a dict of arrays")
    for name, value in state_dict.items():
        arr = value.data if isinstance(value, Tensor) else value
        if not isinstance(arr, np.ndarray):
            raise CheckpointError(f"{os.fspath(path)!r}: parameter {name!r} is a {type(value).__name__}, "
                                  f"not an array")
        if arr.dtype.kind != "f":
            raise CheckpointError(f"{os.fspath(path)!r}: parameter {name!r} has dtype {arr.dtype}; "
                                  f"parameters are floating-point (float32 or float64)")
        bad = ~np.isfinite(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CheckpointError(f"{os.fspath(path)!r}: parameter {name!r} holds {int(bad.sum())} non-finite "
                                  f"value(s) ({arr[first]} at index {first}); the file is damaged")


def load(path):
    """Read a state written by :func:`save` (never unpickles anything)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array
            raise CheckpointError(f"load: {path!r} is not a descend checkpoint (not an .npz archive)")
        with archive:
            if _MAGIC not in archive.files:
                raise CheckpointError(f"load: {path!r} is not a descend checkpoint (no {_MAGIC} entry)")
            meta = json.loads(archive[_MAGIC].tobytes().decode("utf-8"))
            arrays = {k: archive[k] for k in archive.files if k != _MAGIC}
    except CheckpointError:
        raise
    # A damaged zip header can surface as NotImplementedError (unknown compression, version) or
    # RuntimeError (the "encrypted" flag bit set).
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError,
            NotImplementedError, RuntimeError) as exc:
        raise CheckpointError(f"load: {path!r} is corrupt or not a descend checkpoint: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"load: {path!r} has unsupported checkpoint format {found!r}")
    try:
        return _decode(meta["tree"], arrays)
    except (CheckpointError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"load: {path!r} is damaged ({type(exc).__name__}: {exc})") from None
