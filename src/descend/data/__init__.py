"""Data for training: datasets, batching, built-in and synthetic sets, file loaders, scaling.

Conventions: loading functions return ``(X, y)`` NumPy arrays, features float32
``(n, d)`` (images ``(n, h, w)``), class labels int64 ``(n,)`` and regression
targets float32 ``(n, 1)``. Wrap them as ``Dataset(X, y)`` and batch them with
``DataLoader(dataset, batch_size, shuffle, drop_last, seed)``.
"""

from .builtin import load_breast_cancer, load_diabetes, load_digits, load_iris
from .dataset import Dataset, Subset, TensorDataset
from .files import DataFormatError, load_csv, load_idx, load_npz, read_idx
from .loader import DataLoader
from .preprocessing import StandardScaler, one_hot, train_test_split
from .synthetic import (
    make_blobs,
    make_circles,
    make_gaussian_mixture,
    make_linear,
    make_moons,
    make_spirals,
    make_xor,
)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "DataLoader",
    "load_digits", "load_iris", "load_breast_cancer", "load_diabetes",
    "make_linear", "make_moons", "make_circles", "make_spirals", "make_xor", "make_blobs",
    "make_gaussian_mixture",
    "load_csv", "load_npz", "load_idx", "read_idx", "DataFormatError",
    "train_test_split", "StandardScaler", "one_hot",
]
