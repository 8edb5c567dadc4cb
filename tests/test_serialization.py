"""descend.save / descend.load: exact round trips, atomic writes, clear errors, no pickle."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import descend
from descend import CheckpointError


def same(a, b) -> bool:
    """Equal values *and* equal types (tuple vs list, int vs bool, dtype of arrays and scalars)."""
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, np.generic):
        return type(a) is type(b) and (a == b or (np.isnan(a) and np.isnan(b)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b)
                and all(type(k) is type(kb) for k, kb in zip(a, b, strict=True)) and all(same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return type(b) is float and (math.isnan(a) and math.isnan(b) or
                                     (a == b and math.copysign(1, a) == math.copysign(1, b)))
    return type(a) is type(b) and a == b


STATE = {
    "model": {
        "layer.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "layer.bias": descend.tensor([0.5, -0.5], requires_grad=True),
        "empty": np.zeros((0, 3), dtype=np.float64),
        "scalar_array": np.array(2.5),
        "flags": np.array([True, False]),
        "small_ints": np.array([-3, 4], dtype=np.int8),
        "unsigned": np.array([7], dtype=np.uint16),
    },
    "optimizer": {0: {"step": 12, "exp_avg": np.ones(3, dtype=np.float32)}, 1: {"step": 12}},
    "epoch": 3,
    "big": 2**70,
    "lr": 1e-3,
    "best": float("inf"),
    "worst": -float("inf"),
    "missing": float("nan"),
    "minus_zero": -0.0,
    "done": False,
    "name": "run-1 ✓",
    "nothing": None,
    "betas": (0.9, 0.999),
    "history": [1.0, 0.5, (2, "a"), [np.float32(0.25)]],
    "np_scalars": [np.float32(1.5), np.float64(-2.0), np.int64(7), np.int32(-1), np.bool_(True), np.uint8(255)],
    "nested": {"a": {"b": {"c": [{"d": ()}]}}},
}


def _expected(state):
    """STATE as load should return it: tensors become arrays."""
    if isinstance(state, descend.Tensor):
        return state.data
    if isinstance(state, dict):
        return {k: _expected(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_expected(v) for v in state)
    return state


def test_round_trip_keeps_values_and_types(tmp_path):
    path = tmp_path / "ckpt.npz"
    descend.save(STATE, path)
    loaded = descend.load(path)
    assert same(_expected(STATE), loaded)
    assert isinstance(loaded["model"]["layer.bias"], np.ndarray)
    assert list(loaded["optimizer"]) == [0, 1]
    assert loaded["done"] is False and loaded["nothing"] is None
    assert math.copysign(1.0, loaded["minus_zero"]) == -1.0
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary files left behind


def test_str_path_and_exact_name(tmp_path):
    path = str(tmp_path / "weights")  # no .npz suffix is added
    descend.save({"w": np.ones(2)}, path)
    assert os.listdir(tmp_path) == ["weights"]
    assert same(descend.load(path), {"w": np.ones(2)})


_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(allow_nan=True), st.text(max_size=5),
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)),
    hnp.from_dtype(np.dtype(np.float32)), hnp.from_dtype(np.dtype(np.int16)),
)
_trees = st.recursive(
    _leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.lists(kids, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), kids, max_size=3),
        st.dictionaries(st.integers(-5, 5), kids, max_size=3),
    ),
    max_leaves=8,
)


@given(state=_trees)
def test_round_trip_property(tmp_path_factory, state):
    path = tmp_path_factory.mktemp("prop") / "s.npz"
    descend.save(state, path)
    assert same(state, descend.load(path))


def test_overwrite_replaces_the_previous_checkpoint(tmp_path):
    path = tmp_path / "c.npz"
    descend.save({"step": 1}, path)
    descend.save({"step": 2}, path)
    assert descend.load(path) == {"step": 2}
    assert os.listdir(tmp_path) == ["c.npz"]


def test_new_checkpoints_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        descend.save({"a": 1}, tmp_path / "c.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "c.npz").st_mode) == 0o640


# -- refusing to save -----------------------------------------------------------------------


@pytest.mark.parametrize("bad, where, what", [
    ({"w": np.array([{"a": 1}], dtype=object)}, "state['w']", "object"),
    ({"w": np.array(["x", "y"])}, "state['w']", "<U1"),
    ({"opt": [1, {2}]}, "state['opt'][1]", "set"),
    ({"f": len}, "state['f']", "builtin_function_or_method"),
    ({(1, 2): 3}, "state", "tuple"),
    ({True: 3}, "state", "bool"),
])
def test_unsavable_states_are_refused_before_touching_the_disk(tmp_path, bad, where, what):
    path = tmp_path / "c.npz"
    descend.save({"good": np.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError) as info:
        descend.save(bad, path)
    assert where in str(info.value) and what in str(info.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_a_module_is_refused_with_the_way_to_save_it(tmp_path):
    """What a PyTorch user writes first, torch.save(model): descend says to save the state_dict."""
    model = descend.nn.Sequential(descend.nn.Conv2d(1, 2, 3), descend.nn.Flatten())
    with pytest.raises(TypeError, match=r"type Sequential, which descend cannot save; save its state_dict\(\)"):
        descend.save(model, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []
    descend.save(model.state_dict(), tmp_path / "m.npz")
    again = descend.nn.Sequential(descend.nn.Conv2d(1, 2, 3), descend.nn.Flatten())
    again.load_state_dict(descend.load(tmp_path / "m.npz"))
    assert np.array_equal(again[0].weight.data, model[0].weight.data)


def test_a_failed_write_leaves_the_previous_file_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    descend.save({"step": 1}, path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        descend.save({"step": 2}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        descend.save({}, tmp_path / "no" / "such" / "c.npz")


# -- refusing to load -----------------------------------------------------------------------


def _write(path, data: bytes):
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _npz(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _meta(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        descend.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("kind", [
    "empty", "random bytes", "text", "plain npz", "npy", "future format", "list metadata",
    "unknown node", "missing array", "malformed items", "pickled object array", "directory",
])
def test_unreadable_files_raise_checkpoint_error_naming_the_file(tmp_path, kind):
    p = tmp_path / f"bad-{kind.replace(' ', '_')}.npz"
    rng = np.random.default_rng(0)
    if kind == "empty":
        _write(p, b"")
    elif kind == "random bytes":
        _write(p, rng.bytes(300))
    elif kind == "text":
        _write(p, b"step = 3\n")
    elif kind == "plain npz":
        _npz(p, w=np.ones(3))
    elif kind == "npy":
        with open(p, "wb") as fh:
            np.save(fh, np.ones(3))
    elif kind == "future format":
        _npz(p, __descend__=_meta({"format": 99, "tree": None}))
    elif kind == "list metadata":
        _npz(p, __descend__=_meta([1, 2]))
    elif kind == "unknown node":
        _npz(p, __descend__=_meta({"format": 1, "tree": {"__what__": 1}}))
    elif kind == "missing array":
        _npz(p, __descend__=_meta({"format": 1, "tree": {"__array__": "a7"}}))
    elif kind == "malformed items":
        _npz(p, __descend__=_meta({"format": 1, "tree": {"__items__": [[1]]}}))
    elif kind == "pickled object array":  # never unpickled, even with a valid header
        _npz(p, __descend__=_meta({"format": 1, "tree": {"__array__": "a0"}}),
             a0=np.array([{"x": 1}], dtype=object))
    elif kind == "directory":
        p.mkdir()
    with pytest.raises(CheckpointError) as info:
        descend.load(p)
    assert str(p) in str(info.value)


def test_truncated_files(tmp_path):
    good = tmp_path / "good.npz"
    descend.save({"w": np.arange(10.0), "meta": {"epoch": 2}}, good)
    raw = good.read_bytes()
    bad = tmp_path / "cut.npz"
    for n in range(0, len(raw), max(1, len(raw) // 40)):
        _write(bad, raw[:n])
        with pytest.raises(CheckpointError, match="cut.npz"):
            descend.load(bad)


def test_every_single_byte_corruption_is_detected_or_harmless(tmp_path):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), 3: (1, 2.5, "s")}
    good = tmp_path / "good.npz"
    descend.save(state, good)
    raw = good.read_bytes()
    bad = tmp_path / "flip.npz"
    detected = 0
    for i in range(len(raw)):
        corrupted = bytearray(raw)
        corrupted[i] ^= 0xFF
        _write(bad, bytes(corrupted))
        try:
            loaded = descend.load(bad)
        except CheckpointError as exc:
            assert "flip.npz" in str(exc)
            detected += 1
            continue
        # Bytes the reader ignores (timestamps, ...) may change; the content may not.
        assert same(state, loaded), f"byte {i} changed the content silently"
    assert detected > len(raw) // 2
