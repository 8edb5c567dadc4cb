"""descend.save / descend.load with module state dicts, and what a bad file does."""

import os
import zipfile

import numpy as np
import pytest

import descend
from descend import nn


def _model():
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def test_state_dict_round_trip_restores_identical_outputs(tmp_path):
    descend.manual_seed(0)
    model = _model()
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model(x)  # update the batch-norm running statistics
    model.eval()
    expected = model(x).data
    path = tmp_path / "model.npz"
    descend.save({"model": model.state_dict(), "epoch": 3}, path)
    state = descend.load(path)
    assert state["epoch"] == 3
    assert state["model"]["1.num_batches_tracked"].dtype == np.int64
    assert state["model"]["0.weight"].dtype == np.float32
    descend.manual_seed(1)
    fresh = _model()
    fresh.load_state_dict(state["model"])
    fresh.eval()
    np.testing.assert_array_equal(fresh(x).data, expected)
    assert list(state["model"]) == list(model.state_dict())


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "model.npz"
    descend.save(_model().state_dict(), path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(descend.CheckpointError, match="cut.npz"):
        descend.load(cut)


def test_random_bytes_and_non_descend_npz(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(descend.CheckpointError, match="junk.npz"):
        descend.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(descend.CheckpointError, match="not a descend checkpoint"):
        descend.load(other)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        descend.load(tmp_path / "missing.npz")


class _Trap:
    """Unpickling this would create a marker file: proof that load() executed code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_object_arrays_are_never_unpickled(tmp_path):
    marker = tmp_path / "executed"
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap(str(marker))
    good = tmp_path / "good.npz"
    descend.save(_model().state_dict(), good)
    with np.load(good) as archive:
        members = {k: archive[k] for k in archive.files}
    # a descend checkpoint whose array member was swapped for a pickled object
    key = next(k for k in members if k != "__descend__")
    evil = tmp_path / "evil.npz"
    np.savez(evil, **dict(members, **{key: trap}))
    with pytest.raises(descend.CheckpointError, match="evil.npz"):
        descend.load(evil)
    # ... and one whose metadata itself is an object array
    evil2 = tmp_path / "evil2.npz"
    np.savez(evil2, __descend__=trap)
    with pytest.raises(descend.CheckpointError):
        descend.load(evil2)
    assert not marker.exists()


def test_damaged_metadata(tmp_path):
    path = tmp_path / "m.npz"
    descend.save({"w": np.ones(2)}, path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert "__descend__.npy" in names
    broken = tmp_path / "broken.npz"
    np.savez(broken, __descend__=np.frombuffer(b'{"format": 1, "tree": {"__array__": "a9"}}', dtype=np.uint8))
    with pytest.raises(descend.CheckpointError, match="damaged"):
        descend.load(broken)


def test_failed_save_leaves_the_existing_checkpoint_untouched(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    descend.save(_model().state_dict(), path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="object"):
        descend.save({"model": _model().state_dict(), "oops": object()}, path)
    assert path.read_bytes() == before

    # a crash in the middle of writing the archive
    def crash(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(descend.serialization.np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        descend.save(_model().state_dict(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]  # no temporary file left behind
    assert set(descend.load(path)) == set(_model().state_dict())
