import gzip
import struct

import numpy as np
import pytest

from descend.data import DataFormatError, load_csv, load_idx, load_npz, read_idx


# ---------------------------------------------------------------- CSV
def test_csv_with_header_and_named_target(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,label\n1,2.5,0\n3,4,1\n-1, 0.5 ,2\n")
    X, y = load_csv(p, target="label")
    np.testing.assert_array_equal(X, np.array([[1, 2.5], [3, 4], [-1, 0.5]], np.float32))
    assert X.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 1, 2])
    assert y.dtype == np.int64
    X2, y2 = load_csv(p, target=0)
    np.testing.assert_array_equal(y2, [1, 3, -1])
    np.testing.assert_array_equal(X2[:, 1], [0, 1, 2])


def test_csv_without_header_and_float_targets(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("1;2;0.5\n3;4;1.25\n")
    X, y = load_csv(p, delimiter=";")
    assert X.shape == (2, 2)
    np.testing.assert_array_equal(y, np.array([0.5, 1.25], np.float32))
    assert y.dtype == np.float32
    X, y = load_csv(p, target=None, delimiter=";")
    assert X.shape == (2, 3) and y is None
    _, y = load_csv(p, delimiter=";", target=0, target_dtype=np.float32)
    assert y.dtype == np.float32


def test_csv_text_labels_are_encoded_in_sorted_order(tmp_path):
    p = tmp_path / "iris.csv"
    p.write_text("x,species\n1,virginica\n2,setosa\n3,versicolor\n4,setosa\n")
    X, y = load_csv(p, target="species")
    np.testing.assert_array_equal(y, [2, 0, 1, 0])


@pytest.mark.parametrize("text, target, message", [
    ("a,b,y\n1,oops,0\n", "y", r"t\.csv line 2, column 1 \('b'\): non-numeric cell 'oops'"),
    ("a,b,y\n1,,0\n", "y", r"line 2, column 1 \('b'\): empty cell"),
    ("a,b,y\n1,2,0\n", "label", r"t\.csv has no column 'label' \(target\); columns are \['a', 'b', 'y'\]"),
    ("a,b,y\n1,2\n", "y", r"t\.csv line 2 has 2 cells, expected 3"),
    ("1,2,0\n3,4,1\n", "y", r"no header"),
    ("1,2,0\n", 5, r"target column 5 is out of range; t\.csv has 3 columns"),
    ("", -1, r"t\.csv is empty"),
    ("a,b\n", -1, r"header but no data"),
    ("a,y\n1,inf\n", "y", r"not a finite number"),
])
def test_csv_errors_name_the_file_and_problem(tmp_path, text, target, message):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        load_csv(p, target=target)


def test_missing_files():
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_csv("nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_npz("nope.npz")


# ---------------------------------------------------------------- NPZ
def test_npz_round_trip_and_keys(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 1, 0])
    np.savez(tmp_path / "a.npz", X=X, y=y)
    X2, y2 = load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(X2, X)
    assert X2.dtype == np.float64  # stored float64 is kept
    np.testing.assert_array_equal(y2, y)
    np.savez(tmp_path / "b.npz", images=np.zeros((2, 2, 2), np.uint8), labels=np.array([1, 2]))
    Xb, yb = load_npz(tmp_path / "b.npz")
    assert Xb.dtype == np.float32 and Xb.shape == (2, 2, 2)
    np.savez(tmp_path / "c.npz", feats=X, tgt=y)
    Xc, yc = load_npz(tmp_path / "c.npz", x_key="feats", y_key="tgt")
    np.testing.assert_array_equal(yc, y)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(DataFormatError, match=r"a\.npz: 'X' has 3 examples but 'y' has 2"):
        load_npz(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", foo=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"b\.npz has no features array.*\['foo'\]"):
        load_npz(tmp_path / "b.npz")
    with pytest.raises(DataFormatError, match="no array 'zz'"):
        load_npz(tmp_path / "b.npz", x_key="zz")
    np.savez(tmp_path / "c.npz", X=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(DataFormatError, match=r"c\.npz"):
        load_npz(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataFormatError, match=r"d\.npz is not a readable"):
        load_npz(tmp_path / "d.npz")


# ---------------------------------------------------------------- IDX
def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_mnist(tmp_path, n=5, gz=False, labels_n=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=labels_n or n, dtype=np.uint8)
    op = gzip.open if gz else open
    ext = ".gz" if gz else ""
    ip, lp = tmp_path / f"images-idx3-ubyte{ext}", tmp_path / f"labels-idx1-ubyte{ext}"
    with op(ip, "wb") as fh:
        fh.write(_idx_bytes(images, 0x08))
    with op(lp, "wb") as fh:
        fh.write(_idx_bytes(labels, 0x08))
    return ip, lp, images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_idx_mnist_like(tmp_path, gz):
    ip, lp, images, labels = _write_mnist(tmp_path, gz=gz)
    X, y = load_idx(ip, lp)
    assert X.shape == (5, 4, 3) and X.dtype == np.float32
    np.testing.assert_allclose(X, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64
    Xf, _ = load_idx(ip, lp, flatten=True, scale=False)
    np.testing.assert_array_equal(Xf, images.reshape(5, 12))


@pytest.mark.parametrize("arr, code", [
    (np.arange(6, dtype=np.int16).reshape(2, 3) - 3, 0x0B),
    (np.arange(4, dtype=np.int32) * 100000, 0x0C),
    (np.linspace(-1, 1, 6).astype(np.float32).reshape(3, 2), 0x0D),
    (np.linspace(-1, 1, 6).reshape(6), 0x0E),
    (np.array([-3, 4], np.int8), 0x09),
])
def test_read_idx_all_types_big_endian(tmp_path, arr, code):
    p = tmp_path / "x.idx"
    p.write_bytes(_idx_bytes(arr, code))
    out = read_idx(p)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == arr.dtype and out.dtype.isnative


def test_idx_bad_magic(tmp_path):
    p = tmp_path / "bad-images"
    p.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(DataFormatError, match=r"bad-images is not an IDX file: bad magic number 0x12340803"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DataFormatError, match="bad magic"):
        read_idx(p)


def test_idx_truncated(tmp_path):
    ip, lp, images, _ = _write_mnist(tmp_path)
    data = ip.read_bytes()
    ip.write_bytes(data[:-7])
    with pytest.raises(DataFormatError, match=r"images-idx3-ubyte is truncated: shape \(5, 4, 3\) needs 60 bytes of data, found 53"):
        load_idx(ip, lp)
    ip.write_bytes(data[:10])
    with pytest.raises(DataFormatError, match="truncated inside its header"):
        read_idx(ip)
    ip.write_bytes(data + b"xx")
    with pytest.raises(DataFormatError, match="2 unexpected bytes"):
        read_idx(ip)


def test_idx_truncated_gzip(tmp_path):
    ip, lp, _, _ = _write_mnist(tmp_path, gz=True)
    ip.write_bytes(ip.read_bytes()[:-12])
    with pytest.raises(DataFormatError, match=r"images-idx3-ubyte\.gz is a damaged or truncated gzip"):
        load_idx(ip, lp)


def test_idx_count_mismatch(tmp_path):
    ip, lp, _, _ = _write_mnist(tmp_path, labels_n=4)
    with pytest.raises(DataFormatError, match=r"images-idx3-ubyte has 5 images but labels-idx1-ubyte has 4 labels"):
        load_idx(ip, lp)


def test_idx_labels_must_be_1d(tmp_path):
    ip, lp, _, _ = _write_mnist(tmp_path)
    lp.write_bytes(_idx_bytes(np.zeros((5, 2), np.uint8), 0x08))
    with pytest.raises(DataFormatError, match="one label per image"):
        load_idx(ip, lp)
