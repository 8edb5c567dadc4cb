"""Hypothesis fuzzing of the CSV and IDX readers: any bytes give arrays or one DataFormatError.

Whatever a file holds, ``load_csv`` and ``read_idx`` either return arrays that match what the
file says (shapes, dtypes, finite features) or raise :class:`DataFormatError` naming the file
(never an IndexError, an overflow, a NumPy warning or a huge allocation). The number of
examples follows the Hypothesis profile (``HYPOTHESIS_PROFILE=thorough`` for a longer search).
"""

import contextlib
import gzip
import os
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descend.data import DataFormatError, load_csv, read_idx

_SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def _file(data: bytes, name: str):
    with tempfile.TemporaryDirectory(prefix="descend-fuzz-") as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        yield path


def _check_csv(data: bytes, target):
    with _file(data, "fuzz.csv") as path:
        _check_csv_file(path, target)


def _check_csv_file(path, target):
    try:
        X, y = load_csv(path, target=target)
    except DataFormatError as exc:
        assert "fuzz.csv" in str(exc) or "target" in str(exc)
        return
    # nan and inf cells are kept (fit refuses them, naming the value); a finite number too large
    # for float32 is an error, not an overflow (pytest turns NumPy's RuntimeWarning into one)
    assert X.ndim == 2 and X.dtype == np.float32
    if target is None:
        assert y is None
    else:
        assert y.shape == (len(X),) and y.dtype in (np.int64, np.float32)


_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", " ", "x", "nan", "-inf", "1e999", "0x10", '"1,2"', "1_000", "١٢", "\x00", "NaN"]),
    st.text(max_size=4),
)
_rows = st.lists(st.lists(_cell, min_size=1, max_size=5), min_size=0, max_size=6)


@_SETTINGS
@given(rows=_rows, delimiter_in_text=st.booleans(), target=st.sampled_from([-1, 0, 2, None, "y"]))
def test_csv_like_text(rows, delimiter_in_text, target):
    text = "\n".join(",".join(r) for r in rows)
    if delimiter_in_text:
        text = "a,b,y\n" + text
    _check_csv(text.encode("utf-8", "replace"), target)


@_SETTINGS
@given(data=st.binary(max_size=200), target=st.sampled_from([-1, None]))
def test_csv_any_bytes(data, target):
    _check_csv(data, target)


def _check_idx(data: bytes):
    with _file(data, "fuzz-idx3-ubyte") as path:
        _check_idx_file(path, data)


def _check_idx_file(path, data):
    try:
        arr = read_idx(path)
    except DataFormatError as exc:
        assert "fuzz-idx3-ubyte" in str(exc)
        return
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    assert arr.shape == shape and arr.nbytes == len(raw) - 4 - 4 * ndim


_types = st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x01, 0xFF])
_dims = st.lists(st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1)), min_size=0, max_size=5)


@_SETTINGS
@given(kind=_types, dims=_dims, payload=st.binary(max_size=64), extra_ndim=st.integers(-1, 1),
       compress=st.booleans())
def test_idx_headers_and_payloads(kind, dims, payload, extra_ndim, compress):
    ndim = max(0, min(255, len(dims) + extra_ndim))  # a header whose count disagrees, too
    data = bytes([0, 0, kind, ndim]) + b"".join(struct.pack(">I", d) for d in dims) + payload
    _check_idx(gzip.compress(data) if compress else data)


@_SETTINGS
@given(data=st.binary(max_size=100))
def test_idx_any_bytes(data):
    _check_idx(data)


@_SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), kind=st.sampled_from([0x08, 0x0D]))
def test_idx_well_formed_round_trip(shape, kind):
    dtype = {0x08: np.dtype(np.uint8), 0x0D: np.dtype(">f4")}[kind]
    values = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    data = bytes([0, 0, kind, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + values.tobytes()
    with _file(data, "ok-idx3-ubyte") as path:
        assert np.array_equal(read_idx(path), values)


def test_the_wrapping_header_of_issue_16():
    # 65536**4 * 1 byte is 2**64: int64 arithmetic wrapped it to 0 and a reshape failed
    data = bytes([0, 0, 8, 4]) + struct.pack(">4I", *(65536,) * 4)
    with _file(data, "wrap-idx3-ubyte") as path, pytest.raises(
            DataFormatError, match=r"needs 18446744073709551616 bytes of data, found 0"):
        read_idx(path)


def test_what_the_fuzzing_found():
    # a feature beyond float32 overflowed to inf with a NumPy warning
    with _file(b"3.4028235677973366e+38,0\n", "big.csv") as path, pytest.raises(
            DataFormatError, match=r"big\.csv line 1, column 0: 3.4028235677973366e\+38 does not fit float32"):
        load_csv(path)
    with _file(b"1e39,0\n", "big.csv") as path:
        X, _ = load_csv(path, dtype=np.float64)
        assert X[0, 0] == 1e39
    # a whole-number target beyond int64 was cast with an "invalid value" warning
    with _file(b"1,9.223372036854776e+18\n2,1\n", "t.csv") as path:
        _, y = load_csv(path)
        assert y.dtype == np.float32 and y[0] == np.float32(9.223372036854776e18)
