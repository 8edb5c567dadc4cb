"""Loaders for your own data: CSV, NumPy ``.npz`` and the IDX format of MNIST.

Each returns ``(X, y)`` NumPy arrays like the built-in datasets. A malformed
file raises :class:`DataFormatError` (a ``ValueError``) naming the file and
what is wrong with it, before anything is returned.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import zipfile

import numpy as np

__all__ = ["load_csv", "load_npz", "load_idx", "read_idx", "DataFormatError"]


class DataFormatError(ValueError):
    """A data file is malformed (the message names the file and the problem)."""


def _path(path, where: str) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where}: no such file {path!r}")
    return path


# ----------------------------------------------------------------------------- CSV
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def load_csv(path, target=-1, *, delimiter: str = ",", header=None, dtype=np.float32,
             target_dtype=None):
    """Read a table of numbers; one column is the target.

    Parameters
    ----------
    path : str or PathLike
        A text file, one example per line.
    target : str or int, default -1
        The target column: its name (needs a header) or its position
        (negative counts from the end). ``None`` returns ``y=None``.
    delimiter : str, default ","
    header : bool or None
        Whether the first line holds column names. ``None`` decides from the
        file: the first line is a header when none of its cells is a number.
    dtype : float dtype, default float32
        Of the features.
    target_dtype : dtype or None
        Of ``y``; ``None`` decides from the values (see below).

    Returns
    -------
    X : ndarray ``(n, d)`` of ``dtype``
    y : ndarray ``(n,)`` or None
        int64 when every target value is a whole number (class labels), else
        float32. Text labels (``"setosa"``, ...) become int64 codes in the
        sorted order of the distinct labels (``np.unique``).
    """
    where = "load_csv"
    path = _path(path, where)
    name = os.path.basename(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh, delimiter=delimiter) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{where}: {name} is not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise DataFormatError(f"{where}: {name} is not a valid CSV file: {exc}") from None
    if not rows:
        raise DataFormatError(f"{where}: {name} is empty")
    if header is None:
        header = not any(_is_number(c) for c in rows[0])
    names = [c.strip() for c in rows[0]] if header else None
    data = rows[1:] if header else rows
    first_line = 2 if header else 1
    if not data:
        raise DataFormatError(f"{where}: {name} has a header but no data rows")
    width = len(names) if names is not None else len(data[0])
    for i, r in enumerate(data):
        if len(r) != width:
            raise DataFormatError(
                f"{where}: {name} line {first_line + i} has {len(r)} cells, expected {width} "
                f"(like the {'header' if names is not None else 'first line'})"
            )
    # target column
    if target is None:
        t = None
    elif isinstance(target, str):
        if names is None:
            raise DataFormatError(
                f"{where}: target={target!r} is a column name but {name} has no header line; "
                "give the column's position instead"
            )
        if target not in names:
            raise DataFormatError(
                f"{where}: {name} has no column {target!r} (target); columns are {names}"
            )
        t = names.index(target)
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -width <= target < width:
            raise DataFormatError(
                f"{where}: target column {target} is out of range; {name} has {width} columns"
            )
        t = int(target) % width
    else:
        raise TypeError(f"{where}: target must be a column name, a position or None, got {target!r}")

    cells = np.array(data, dtype=str)
    feature_cols = [c for c in range(width) if c != t]
    X = _to_numbers(cells[:, feature_cols], np.dtype(dtype), name, first_line, feature_cols, names)
    if t is None:
        return X, None
    ycells = np.char.strip(cells[:, t])
    try:
        yv = ycells.astype(np.float64)
    except ValueError:
        if np.any(ycells == ""):
            row = int(np.argmax(ycells == ""))
            raise DataFormatError(
                f"{where}: {name} line {first_line + row}: empty target cell (column {_col(t, names)})"
            ) from None
        _, codes = np.unique(ycells, return_inverse=True)
        return X, codes.astype(np.int64).reshape(-1)
    if not np.all(np.isfinite(yv)):
        row = int(np.argmax(~np.isfinite(yv)))
        raise DataFormatError(
            f"{where}: {name} line {first_line + row}: target {ycells[row]!r} is not a finite number"
        )
    # whole numbers are class labels, as int64 while exactly representable (|y| <= 2**53)
    if target_dtype is None and np.all(yv == np.round(yv)) and np.all(np.abs(yv) <= 2.0**53):
        return X, yv.astype(np.int64)
    out_dtype = np.dtype(np.float32 if target_dtype is None else target_dtype)
    _check_range(yv, out_dtype, name, first_line, f"target (column {_col(t, names)})")
    return X, yv.astype(out_dtype)


def _col(c: int, names) -> str:
    return f"{c} ({names[c]!r})" if names is not None else str(c)


def _check_range(values: np.ndarray, dtype: np.dtype, name: str, first_line: int, what: str,
                 cols=None, names=None) -> None:
    """A DataFormatError locating the first finite value too large for ``dtype`` (the cast
    would make it inf, with a NumPy overflow warning)."""
    if dtype.kind != "f":
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            bad = ~np.isfinite(values) | (values < info.min) | (values > info.max) | (values != np.round(values))
        else:
            return
    else:
        bad = np.isfinite(values) & (np.abs(values) > np.finfo(dtype).max)
    if bad.any():
        index = np.argwhere(bad)[0]
        row = int(index[0])
        where = what if cols is None else f"{what} {_col(cols[int(index[1])], names)}"
        raise DataFormatError(
            f"load_csv: {name} line {first_line + row}, {where}: {float(values[tuple(index)])!r} does not fit "
            f"{dtype} (pass dtype/target_dtype=np.float64 for larger numbers)")


def _to_numbers(cells: np.ndarray, dtype: np.dtype, name: str, first_line: int, cols, names):
    if dtype.kind != "f":
        raise TypeError(f"load_csv: dtype must be a floating-point type, got {dtype}")
    try:
        values = np.char.strip(cells).astype(np.float64)
    except ValueError:
        pass
    else:
        _check_range(values, dtype, name, first_line, "column", cols, names)
        return values.astype(dtype)
    # Find the first offending cell to say exactly where it is.
    for i in range(cells.shape[0]):
        for j in range(cells.shape[1]):
            cell = cells[i, j].strip()
            if not _is_number(cell):
                what = "empty cell" if cell == "" else f"non-numeric cell {cell!r}"
                raise DataFormatError(
                    f"load_csv: {name} line {first_line + i}, column {_col(cols[j], names)}: {what}"
                ) from None
    raise DataFormatError(f"load_csv: {name}: cannot read the numbers")  # pragma: no cover


# ----------------------------------------------------------------------------- NPZ
_X_KEYS = ("X", "x", "data", "features", "inputs", "images")
_Y_KEYS = ("y", "Y", "target", "targets", "labels", "label")


def load_npz(path, x_key: str | None = None, y_key: str | None = None):
    """Read ``(X, y)`` from a NumPy ``.npz`` archive (never unpickles).

    ``x_key``/``y_key`` name the members; by default the first present of
    ``X, x, data, features, inputs, images`` and ``y, Y, target, targets,
    labels, label``. Float features come back as float32 unless stored as
    float64 (kept); the two arrays must have the same length.
    """
    where = "load_npz"
    path = _path(path, where)
    name = os.path.basename(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{where}: {name} is not a readable .npz archive: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataFormatError(f"{where}: {name} holds a single array, not an .npz archive of named arrays")
    with archive:
        keys = list(archive.files)

        def pick(given, candidates, what):
            if given is not None:
                if given not in keys:
                    raise DataFormatError(f"{where}: {name} has no array {given!r} ({what}); it has {keys}")
                return given
            for k in candidates:
                if k in keys:
                    return k
            raise DataFormatError(
                f"{where}: {name} has no {what} array (looked for {list(candidates)}); it has {keys}; "
                f"pass {'x_key' if what == 'features' else 'y_key'}="
            )

        kx = pick(x_key, _X_KEYS, "features")
        ky = pick(y_key, _Y_KEYS, "targets")
        try:
            X = archive[kx]
            y = archive[ky]
        except ValueError as exc:  # object arrays need pickle, which is refused
            raise DataFormatError(f"{where}: {name}: {exc}") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataFormatError(f"{where}: {name} is damaged: {exc}") from None
    for k, a in ((kx, X), (ky, y)):
        if a.dtype.kind not in "biuf":
            raise DataFormatError(f"{where}: {name}: array {k!r} has dtype {a.dtype}, expected numbers")
        if a.ndim == 0:
            raise DataFormatError(f"{where}: {name}: array {k!r} is a scalar, expected one row per example")
    if len(X) != len(y):
        raise DataFormatError(
            f"{where}: {name}: {kx!r} has {len(X)} examples but {ky!r} has {len(y)}"
        )
    if X.dtype.kind != "f" or X.dtype == np.float16:
        X = X.astype(np.float32)
    return X, y


# ----------------------------------------------------------------------------- IDX
# IDX (LeCun's MNIST format): 2 zero bytes, a type byte, a byte with the number of
# dimensions, then one big-endian uint32 per dimension, then the data, big-endian.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: str, where: str) -> bytes:
    name = os.path.basename(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"{where}: {name} is a damaged or truncated gzip file: {exc}") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into an array of its stored type and shape."""
    where = "read_idx"
    path = _path(path, where)
    name = os.path.basename(path)
    raw = _read_bytes(path, where)
    if len(raw) < 4:
        raise DataFormatError(f"{where}: {name} is too short to be an IDX file ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataFormatError(
            f"{where}: {name} is not an IDX file: bad magic number 0x{raw[:4].hex()} (expected "
            "00 00, a type byte in 08 09 0b 0c 0d 0e, and the number of dimensions)"
        )
    dtype = _IDX_TYPES[raw[2]]
    ndim = raw[3]
    if ndim == 0:
        raise DataFormatError(f"{where}: {name}: IDX header says 0 dimensions")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataFormatError(f"{where}: {name} is truncated inside its header ({len(raw)} bytes)")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    # Python integers: a product of four 32-bit dimensions overflows int64 (65536**4 wraps to 0)
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - head
    if found < expected:
        raise DataFormatError(
            f"{where}: {name} is truncated: shape {shape} needs {expected} bytes of data, found {found} "
            f"(or the dimensions in its header are wrong)"
        )
    if found > expected:
        raise DataFormatError(
            f"{where}: {name} has {found - expected} unexpected bytes after the data of shape {shape}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx(images_path, labels_path, *, flatten: bool = False, scale: bool = True):
    """Read an IDX image file and its label file (MNIST, Fashion-MNIST, EMNIST...).

    Returns ``X`` float32 of shape ``(n, rows, cols)`` (``(n, rows*cols)`` with
    ``flatten=True``), divided by 255 to lie in ``[0, 1]`` when stored as
    bytes and ``scale=True``; and ``y`` int64 ``(n,)``.
    """
    where = "load_idx"
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    iname = os.path.basename(os.fspath(images_path))
    lname = os.path.basename(os.fspath(labels_path))
    if labels.ndim != 1:
        raise DataFormatError(f"{where}: {lname} should hold one label per image (1 dimension), has shape {labels.shape}")
    if labels.dtype.kind == "f":
        raise DataFormatError(f"{where}: {lname} holds floating-point values, expected integer labels")
    if len(images) != len(labels):
        raise DataFormatError(
            f"{where}: {iname} has {len(images)} images but {lname} has {len(labels)} labels"
        )
    X = images.astype(np.float32)
    if scale and images.dtype == np.uint8:
        X /= 255.0
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.int64)
