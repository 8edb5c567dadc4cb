"""Splitting, feature scaling and label encoding."""

from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor
from ._checks import is_int_at_least
from .dataset import Dataset, as_arrays
from .synthetic import _rng

__all__ = ["train_test_split", "StandardScaler", "one_hot", "check_standardization"]


def _split_sizes(n: int, test_size, train_size) -> tuple[int, int]:
    def size(v, name):
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"train_test_split: {name} must be a fraction or a count, got {v!r}")
        if isinstance(v, numbers.Integral):
            if not 0 < v < n:
                raise ValueError(f"train_test_split: {name}={v} must be between 1 and {n - 1} (n={n})")
            return int(v)
        if not 0.0 < v < 1.0:
            raise ValueError(f"train_test_split: {name}={v} as a fraction must lie in (0, 1)")
        return v

    test, train = size(test_size, "test_size"), size(train_size, "train_size")
    if test is None and train is None:
        test = 0.25
    n_test = None if test is None else (int(np.ceil(test * n)) if isinstance(test, float) else test)
    n_train = None if train is None else (int(np.floor(train * n)) if isinstance(train, float) else train)
    if n_test is None:
        n_test = n - n_train
    if n_train is None:
        n_train = n - n_test
    if n_train + n_test > n:
        raise ValueError(
            f"train_test_split: train ({n_train}) + test ({n_test}) examples exceed the {n} available"
        )
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"train_test_split: with n={n}, test_size={test_size}, train_size={train_size} one "
            "side would be empty"
        )
    return n_train, n_test


def train_test_split(*arrays, test_size=None, train_size=None, shuffle: bool = True,
                     stratify=None, seed=None):
    """Split arrays (or one :class:`Dataset`) into a training and a test part.

    Sizes are fractions (``0.2``) or counts (``100``); with neither given the
    test part is 25%. A fractional test size rounds up, a fractional train
    size down (as in scikit-learn). ``stratify`` (labels of shape ``(n,)``)
    keeps each class's share equal in both parts (to within rounding).

    Returns ``[a_train, a_test, b_train, b_test, ...]`` for arrays, or
    ``(train_dataset, test_dataset)`` for a single Dataset.
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    single_dataset = len(arrays) == 1 and isinstance(arrays[0], Dataset)
    arrs = as_arrays(arrays[0], "train_test_split") if single_dataset else Dataset(*arrays).arrays
    n = len(arrs[0])
    if n < 2:
        raise ValueError(f"train_test_split: need at least 2 examples to split, got {n}")
    n_train, n_test = _split_sizes(n, test_size, train_size)
    if not shuffle:
        if stratify is not None:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        rng = _rng(seed, "train_test_split")
        if stratify is None:
            perm = rng.permutation(n)
            test_idx, train_idx = perm[:n_test], perm[n_test:n_test + n_train]
        else:
            train_idx, test_idx = _stratified(stratify, n, n_train, n_test, rng)
    out = []
    if single_dataset:
        return Dataset(*(a[train_idx] for a in arrs)), Dataset(*(a[test_idx] for a in arrs))
    for a in arrs:
        out.extend([a[train_idx], a[test_idx]])
    return out


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` between classes in proportion to ``counts`` (largest remainders)."""
    exact = counts * (total / counts.sum())
    alloc = np.floor(exact).astype(np.int64)
    alloc = np.minimum(alloc, counts)
    rest = total - alloc.sum()
    order = np.argsort(-(exact - alloc), kind="stable")
    for c in order:
        if rest <= 0:
            break
        if alloc[c] < counts[c]:
            alloc[c] += 1
            rest -= 1
    return alloc


def _stratified(labels, n, n_train, n_test, rng):
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if y.shape[:1] != (n,):
        raise ValueError(f"train_test_split: stratify must have one label per example ({n}), got shape {y.shape}")
    classes, inverse, counts = np.unique(y, axis=0 if y.ndim > 1 else None, return_inverse=True,
                                         return_counts=True)
    inverse = inverse.reshape(-1)
    if counts.min() < 2:
        raise ValueError("train_test_split: stratify needs at least 2 examples of every class")
    n_test_c = _allocate(counts, n_test)
    n_train_c = _allocate(counts - n_test_c, n_train)
    train, test = [], []
    for c in range(len(classes)):
        idx = rng.permutation(np.flatnonzero(inverse == c))
        test.append(idx[:n_test_c[c]])
        train.append(idx[n_test_c[c]:n_test_c[c] + n_train_c[c]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


class StandardScaler:
    """Standardise features: ``z = (x - mean) / std``, with statistics from the training set.

    Fit on the training split only, then apply the same transform to the test
    split (fitting on all the data leaks test information into training).
    Statistics are computed in float64; outputs keep the input's float dtype.
    A constant feature gets ``scale_ = 1`` (it is only centred).

    Attributes after ``fit``: ``mean_`` ``(d,)``, ``var_`` ``(d,)``, ``scale_`` ``(d,)``,
    ``n_features_in_``, ``n_samples_seen_``.
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_ = None
        self.var_ = None
        self.scale_ = None
        self.n_features_in_ = None
        self.n_samples_seen_ = None

    @staticmethod
    def _array(X, where: str) -> np.ndarray:
        arr = np.asarray(X.data if isinstance(X, Tensor) else X)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"StandardScaler.{where}: X must hold numbers, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(f"StandardScaler.{where}: X must be 2-D (n_samples, n_features), got shape {arr.shape}")
        return arr

    def fit(self, X, y=None) -> StandardScaler:
        arr = self._array(X, "fit")
        if len(arr) == 0:
            raise ValueError("StandardScaler.fit: X has no rows")
        x64 = arr.astype(np.float64)
        self.mean_ = x64.mean(axis=0)
        self.var_ = x64.var(axis=0)
        scale = np.sqrt(self.var_)
        # A (numerically) constant column: dividing by ~0 would blow it up.
        tiny = scale <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(self.mean_), 1.0)
        scale[tiny] = 1.0
        self.scale_ = scale
        self.n_features_in_ = arr.shape[1]
        self.n_samples_seen_ = arr.shape[0]
        return self

    def _check(self, X, where: str) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError(f"StandardScaler.{where}: not fitted yet; call fit(X_train) first")
        arr = self._array(X, where)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"StandardScaler.{where}: X has {arr.shape[1]} features, the scaler was fitted on "
                f"{self.n_features_in_}"
            )
        return arr

    @staticmethod
    def _out(arr: np.ndarray, like):
        return Tensor(arr) if isinstance(like, Tensor) else arr

    def transform(self, X):
        """``(X - mean_) / scale_`` (same type and float dtype as ``X``; ints become float32)."""
        arr = self._check(X, "transform")
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float32)
        out = arr.astype(np.float64)
        if self.with_mean:
            out -= self.mean_
        if self.with_std:
            out /= self.scale_
        return self._out(out.astype(dtype), X)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """``X * scale_ + mean_``: back to the original units."""
        arr = self._check(X, "inverse_transform")
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float32)
        out = arr.astype(np.float64)
        if self.with_std:
            out *= self.scale_
        if self.with_mean:
            out += self.mean_
        return self._out(out.astype(dtype), X)

    def state_dict(self) -> dict:
        """The fitted statistics (saveable with :func:`descend.save`)."""
        if self.mean_ is None:
            raise RuntimeError("StandardScaler.state_dict: not fitted yet")
        return {"with_mean": self.with_mean, "with_std": self.with_std, "mean": self.mean_,
                "var": self.var_, "scale": self.scale_, "n_samples_seen": self.n_samples_seen_}

    def load_state_dict(self, state: dict) -> None:
        try:
            mean = np.asarray(state["mean"], dtype=np.float64)
            var = np.asarray(state["var"], dtype=np.float64)
            scale = np.asarray(state["scale"], dtype=np.float64)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"StandardScaler.load_state_dict: missing or bad entry {exc}") from None
        if not (mean.ndim == 1 and mean.shape == var.shape == scale.shape):
            raise ValueError("StandardScaler.load_state_dict: mean, var and scale must be 1-D and equally long")
        self.with_mean = bool(state.get("with_mean", True))
        self.with_std = bool(state.get("with_std", True))
        self.mean_, self.var_, self.scale_ = mean, var, scale
        self.n_features_in_ = len(mean)
        self.n_samples_seen_ = int(state.get("n_samples_seen", 0))

    def __repr__(self) -> str:
        return f"StandardScaler(with_mean={self.with_mean}, with_std={self.with_std})"


def check_standardization(mean, scale, n_features: int, where: str, names=("mean", "scale"),
                          what="features") -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` of a standardisation ``(x - mean) / scale`` of ``n_features`` features,
    as float64 arrays ``(n_features,)``, checked: a ValueError naming ``where`` and the entry
    (``names``: how the two are called there) says what is wrong (not numbers, wrong length,
    not finite, scale <= 0).
    """
    out = []
    for name, value in zip(names, (mean, scale), strict=True):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{where}: the preprocessing {name!r} must hold numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if arr.shape != (n_features,):
            raise ValueError(f"{where}: the preprocessing {name!r} has shape {arr.shape}; the model has "
                             f"{n_features} {what}, so it must have shape ({n_features},)")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: the preprocessing {name!r} holds non-finite values "
                             f"(at index {int(np.flatnonzero(~np.isfinite(arr))[0])})")
        out.append(arr)
    if np.any(out[1] <= 0):
        raise ValueError(f"{where}: the preprocessing {names[1]!r} must be positive (index "
                         f"{int(np.flatnonzero(out[1] <= 0)[0])} is {out[1][out[1] <= 0][0]:g})")
    return out[0], out[1]


def one_hot(labels, num_classes=None, dtype=np.float32) -> np.ndarray:
    """Encode integer class labels ``(n,)`` as rows of a ``(n, num_classes)`` identity.

    ``num_classes=None`` (or ``-1``, PyTorch's spelling) uses ``max(labels) + 1``.
    Returns a ``dtype`` array (float32 by default, ready as a regression
    target); a Tensor input gives a Tensor.
    """
    arr = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "b"):
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif arr.size:
            raise TypeError(f"one_hot: labels must be integers, got dtype {arr.dtype}")
        else:
            arr = arr.astype(np.int64)
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, found {int(arr.min())}")
    if num_classes is None or num_classes == -1:
        k = int(arr.max()) + 1 if arr.size else 0
    else:
        if not is_int_at_least(num_classes, 1):
            raise ValueError(f"one_hot: num_classes must be a positive integer, -1 or None, got {num_classes!r}")
        k = int(num_classes)
        if arr.size and arr.max() >= k:
            raise ValueError(f"one_hot: label {int(arr.max())} is out of range for num_classes={k}")
    out = np.zeros(arr.shape + (k,), dtype=dtype)
    np.put_along_axis(out, arr[..., None], 1, axis=-1)
    return Tensor(out) if isinstance(labels, Tensor) else out
