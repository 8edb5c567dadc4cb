import numpy as np
import pytest

import descend
from descend.data import DataLoader, Dataset, Subset, TensorDataset


def _ds(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return Dataset(X, y)


def test_dataset_indexing_and_len():
    ds = _ds(10)
    assert len(ds) == 10
    x, y = ds[3]
    np.testing.assert_array_equal(x, [9, 10, 11])
    assert y == 3
    xb, yb = ds[np.array([7, 1])]
    np.testing.assert_array_equal(yb, [7, 1])
    assert xb.shape == (2, 3)
    assert "float32[10, 3]" in repr(ds)


def test_dataset_rejects_mismatched_lengths_and_bad_dtypes():
    with pytest.raises(ValueError, match="same number of examples"):
        Dataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(TypeError, match="numbers"):
        Dataset(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="at least one"):
        Dataset()
    with pytest.raises(ValueError, match="scalar"):
        Dataset(np.float32(1.0))


def test_dataset_lists_become_float32_and_tensors_are_unwrapped():
    ds = Dataset([[1.0, 2.0], [3.0, 4.0]], descend.tensor([0, 1]))
    assert ds.arrays[0].dtype == np.float32
    assert ds.arrays[1].dtype == np.int64
    assert isinstance(TensorDataset(np.zeros(3)), Dataset)


@pytest.mark.parametrize("batch_size, drop_last, sizes", [
    (None, False, [10]),
    (1, False, [1] * 10),
    (3, False, [3, 3, 3, 1]),
    (3, True, [3, 3, 3]),
    (10, False, [10]),
    (25, False, [10]),
])
def test_batch_sizes(batch_size, drop_last, sizes):
    dl = DataLoader(_ds(10), batch_size=batch_size, drop_last=drop_last)
    assert len(dl) == len(sizes)
    got = [len(y) for _, y in dl]
    assert got == sizes
    # without shuffling the examples come in order, each exactly once
    ys = np.concatenate([y.numpy() for _, y in DataLoader(_ds(10), batch_size=batch_size, drop_last=drop_last)])
    np.testing.assert_array_equal(ys, np.arange(sum(sizes)))


def test_batches_are_tensors():
    x, y = next(iter(DataLoader(_ds(4), batch_size=2)))
    assert isinstance(x, descend.Tensor) and isinstance(y, descend.Tensor)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert not x.requires_grad


def test_shuffle_is_a_permutation_reproducible_from_the_seed_and_new_each_epoch():
    a = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=7)
    b = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=7)
    e0 = np.concatenate([y.numpy() for _, y in a])
    e1 = np.concatenate([y.numpy() for _, y in a])
    assert sorted(e0) == list(range(20))
    assert not np.array_equal(e0, e1)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in b]), e0)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in b]), e1)
    # the order of epoch e depends only on (seed, e)
    c = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=7)
    c.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in c]), e1)
    np.testing.assert_array_equal(a.order(0), e0)
    d = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate([y.numpy() for _, y in d]), e0)


def test_unseeded_shuffle_follows_manual_seed():
    descend.manual_seed(3)
    a = DataLoader(_ds(30), batch_size=30, shuffle=True)
    descend.manual_seed(3)
    b = DataLoader(_ds(30), batch_size=30, shuffle=True)
    assert a.seed == b.seed
    np.testing.assert_array_equal(next(iter(a))[1].numpy(), next(iter(b))[1].numpy())


def test_batches_resume_from_a_position():
    dl = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=1)
    full = [y for _, y in dl.batches(2)]
    tail = [y for _, y in dl.batches(2, start=2)]
    assert len(tail) == 2
    for u, v in zip(full[2:], tail, strict=True):
        np.testing.assert_array_equal(u, v)


def test_state_dict_round_trip(tmp_path):
    dl = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=11)
    list(dl)
    list(dl)
    descend.save(dl.state_dict(), tmp_path / "dl.npz")
    other = DataLoader(_ds(20), batch_size=6, shuffle=True, seed=0)
    other.load_state_dict(descend.load(tmp_path / "dl.npz"))
    np.testing.assert_array_equal(
        np.concatenate([y.numpy() for _, y in dl]), np.concatenate([y.numpy() for _, y in other])
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=2.5)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(_ds(), shuffle=True, seed=-1)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(_ds(3), batch_size=5, drop_last=True)
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42)
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(_ds()).set_epoch(-1)


def test_tuple_dataset_is_wrapped():
    X = np.ones((4, 2), np.float32)
    y = np.zeros(4, np.int64)
    dl = DataLoader((X, y), batch_size=2)
    assert [tuple(t.shape for t in b) for b in dl] == [((2, 2), (2,)), ((2, 2), (2,))]


class Squares(Dataset):
    """A map-style dataset defined by __getitem__, as in PyTorch."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i % 2


def test_custom_map_style_dataset_is_collated():
    dl = DataLoader(Squares(), batch_size=3, shuffle=True, seed=0)
    batches = list(dl)
    assert [len(b[1]) for b in batches] == [3, 3, 1]
    xs = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(np.sort(xs[:, 0]), np.arange(7))
    np.testing.assert_array_equal(xs[:, 1], xs[:, 0] ** 2)
    ys = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(ys, xs[:, 0].astype(int) % 2)


def test_subset():
    sub = Subset(_ds(10), [8, 2, 5])
    assert len(sub) == 3
    np.testing.assert_array_equal(sub[np.arange(3)][1], [8, 2, 5])
    gen = Subset(Squares(), [6, 1])
    np.testing.assert_array_equal(gen[np.arange(2)][0], [[6, 36], [1, 1]])
    with pytest.raises(IndexError):
        Subset(_ds(3), [5])
