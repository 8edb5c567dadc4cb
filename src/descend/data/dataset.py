"""Datasets: indexable collections of examples.

A :class:`Dataset` built from arrays, ``Dataset(X, y)``, holds equally long
NumPy arrays and returns, for an index ``i``, the tuple ``(X[i], y[i])``; for
an array of indices it returns whole batches ``(X[idx], y[idx])`` with one
fancy-indexing operation per array, which is what :class:`DataLoader` uses.

Like PyTorch's ``torch.utils.data.Dataset`` you may also subclass it and
define ``__len__`` and ``__getitem__`` yourself (map-style dataset); the loader
then collates the examples it gets one by one.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "as_arrays"]


def _as_array(a, where: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.data
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: arrays must hold numbers (bool, integer or float), got dtype {arr.dtype}"
        )
    if arr.ndim == 0:
        raise ValueError(f"{where}: expected an array with a leading example axis, got a scalar")
    if not isinstance(a, np.ndarray) and arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python lists become float32, as in descend.tensor
    return arr


class Dataset:
    """Equally long arrays indexed together along their first axis.

    Parameters
    ----------
    *arrays : array-like or Tensor
        Each of shape ``(n, ...)``, same ``n``; typically features ``X`` of
        shape ``(n, d)`` and targets ``y`` of shape ``(n,)`` or ``(n, k)``.
        NumPy arrays are kept as they are (no copy, dtype unchanged); nested
        Python lists of floats become float32.

    ``dataset[i]`` is the tuple of the ``i``-th rows; ``dataset[idx]`` with an
    index array or slice is the tuple of those rows (a batch).
    Subclasses that define their own ``__getitem__``/``__len__`` need not call
    this constructor.
    """

    def __init__(self, *arrays):
        if not arrays:
            if type(self).__getitem__ is not Dataset.__getitem__:
                return  # a map-style subclass with its own __getitem__/__len__
            raise ValueError("Dataset: give at least one array, e.g. Dataset(X, y)")
        arrs = tuple(_as_array(a, f"Dataset array {i}") for i, a in enumerate(arrays))
        n = len(arrs[0])
        for i, a in enumerate(arrs[1:], start=1):
            if len(a) != n:
                lengths = ", ".join(str(len(b)) for b in arrs)
                raise ValueError(
                    f"Dataset: all arrays need the same number of examples (first axis); got "
                    f"lengths {lengths} (array {i} differs from array 0)"
                )
        self.arrays = arrs

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        if "arrays" not in self.__dict__:
            return f"{type(self).__name__}()"
        parts = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"{type(self).__name__}({parts})"


class TensorDataset(Dataset):
    """PyTorch's name for a dataset of arrays; identical to ``Dataset(*arrays)``."""


class Subset(Dataset):
    """The examples of ``dataset`` at positions ``indices`` (a view by index, like PyTorch's)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1:
            raise ValueError("Subset: indices must be one-dimensional")
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of {n} examples")
        if _array_backed(dataset):
            self.arrays = tuple(a[self.indices] for a in dataset.arrays)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if "arrays" in self.__dict__:
            return tuple(a[index] for a in self.arrays)
        idx = self.indices[index]
        if np.ndim(idx) == 0:
            return self.dataset[int(idx)]
        return _collate([self.dataset[int(i)] for i in idx])


def _array_backed(dataset) -> bool:
    """True when ``dataset`` is a plain array dataset (batches by fancy indexing)."""
    return (
        isinstance(dataset, Dataset)
        and "arrays" in dataset.__dict__
        and type(dataset).__getitem__ in (Dataset.__getitem__, Subset.__getitem__)
        and type(dataset).__len__ in (Dataset.__len__, Subset.__len__)
    )


def _collate(items: list):
    """Stack a list of examples (tuples of arrays/numbers, or single arrays) into a batch."""
    first = items[0]
    if isinstance(first, (tuple, list)):
        return tuple(np.stack([np.asarray(_unwrap(it[k])) for it in items]) for k in range(len(first)))
    return np.stack([np.asarray(_unwrap(it)) for it in items])


def _unwrap(x):
    return x.data if isinstance(x, Tensor) else x


def as_arrays(data, what: str = "data") -> tuple[np.ndarray, ...]:
    """The arrays behind ``data``: a :class:`Dataset`, a tuple ``(X, y)`` or one array.

    Generic map-style datasets are materialised by collating all their examples.
    """
    if isinstance(data, tuple):
        return Dataset(*data).arrays
    if _array_backed(data):
        return data.arrays
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, np.ndarray):
        if len(data) == 0:
            raise ValueError(f"{what}: the dataset is empty")
        batch = _collate([data[i] for i in range(len(data))])
        return batch if isinstance(batch, tuple) else (batch,)
    return Dataset(data).arrays
