"""The playground's data: two input coordinates, a label, and the input features built from them.

Every data set is a cloud of ``n`` points ``x = (x1, x2)`` with a binary class label
(classification) or a real target (regression). Points are scaled so that the largest
coordinate is 5 in absolute value: the picture is the square ``[-6, 6]²`` whatever the set,
and the periodic features (``sin x1``, ...) see about one and a half periods across it.

This module needs NumPy alone, so the script the playground exports (``from
descend.playground.datasets import load, features``) runs without the ``ui`` extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data import files, synthetic
from ..data.preprocessing import train_test_split
from ..data.synthetic import make_gaussian_mixture

__all__ = ["DATASETS", "FEATURES", "DOMAIN", "Split", "load", "features", "read_points_csv",
           "make_gaussian_mixture"]

#: The drawn square: both coordinates run over ``[-DOMAIN, DOMAIN]``.
DOMAIN = 6.0
_EXTENT = 5.0  # the largest coordinate after scaling

#: name -> (task, description). "csv" is the uploaded file.
DATASETS = {
    "circle": ("classification", "a disc inside a ring"),
    "xor": ("classification", "the four quadrants, opposite ones alike"),
    "gauss": ("classification", "two Gaussian clusters"),
    "spiral": ("classification", "two interleaved spiral arms"),
    "moons": ("classification", "two interleaving half circles"),
    "plane": ("regression", "a tilted plane, y = x1 - x2 (scaled)"),
    "mixture": ("regression", "a mixture of Gaussian bumps and dips"),
    "csv": ("from the file", "your own file: columns x1, x2, label"),
}

#: Input features: name -> (function of the two coordinates, how the page writes it).
FEATURES = {
    "x1": (lambda a, b: a, "x₁"),
    "x2": (lambda a, b: b, "x₂"),
    "x1sq": (lambda a, b: a * a, "x₁²"),
    "x2sq": (lambda a, b: b * b, "x₂²"),
    "x1x2": (lambda a, b: a * b, "x₁x₂"),
    "sinx1": (lambda a, b: np.sin(a), "sin x₁"),
    "sinx2": (lambda a, b: np.sin(b), "sin x₂"),
    "cosx1": (lambda a, b: np.cos(a), "cos x₁"),
    "cosx2": (lambda a, b: np.cos(b), "cos x₂"),
}


@dataclass
class Split:
    """Scaled points and targets, split into a training and a test part.

    ``points_*`` are float32 ``(n, 2)``; ``y_*`` float32 ``(n, 1)`` (0/1 labels for
    classification, targets for regression); ``task`` is "classification" or "regression".
    """

    points_train: np.ndarray
    y_train: np.ndarray
    points_test: np.ndarray
    y_test: np.ndarray
    task: str


def read_points_csv(path):
    """``(X, y, task)`` from a CSV file with two feature columns and a label column (the last).

    Integer labels of two values are classes (mapped to 0 and 1 in sorted order); other
    numbers are regression targets. Raises ValueError naming the file when it has another
    number of columns, fewer than four rows, non-finite values or a single class.
    """
    name = os.path.basename(os.fspath(path))
    X, y = files.load_csv(path, target=-1)
    if X.ndim != 2 or X.shape[1] != 2:
        width = X.shape[1] + 1 if X.ndim == 2 else "?"
        raise ValueError(f"{name}: expected 3 columns (x1, x2, label), found {width}")
    if len(X) < 4:
        raise ValueError(f"{name}: needs at least 4 rows of data, found {len(X)}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: the feature columns hold non-finite values (nan or inf)")
    y, task = _target(y, name)
    return X, y, task


def _target(y, name: str):
    """Labels to 0/1 floats (two classes) or targets to floats (regression); and the task."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        classes = np.unique(y)
        if len(classes) == 2:
            return (y == classes[1]).astype(np.float32).reshape(-1, 1), "classification"
        if len(classes) < 2:
            raise ValueError(f"{name}: the label column has a single class ({classes[0]})")
    y = y.astype(np.float32).reshape(-1, 1)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name}: the label column holds non-finite values (nan or inf)")
    return y, "regression"


def _generate(dataset: str, n_samples: int, noise: float, seed: int):
    if dataset == "circle":
        return synthetic.make_circles(n_samples, noise=noise, seed=seed)
    if dataset == "xor":
        return synthetic.make_xor(n_samples, noise=noise, seed=seed)
    if dataset == "gauss":
        centres = np.array([[1.0, 1.0], [-1.0, -1.0]])
        return synthetic.make_blobs(n_samples, centers=centres, cluster_std=0.5 + noise, seed=seed)
    if dataset == "spiral":
        return synthetic.make_spirals(n_samples, noise=noise, turns=1.25, seed=seed)
    if dataset == "moons":
        return synthetic.make_moons(n_samples, noise=noise, seed=seed)
    if dataset == "plane":
        return synthetic.make_linear(n_samples, n_features=2, slope=(1.0, -1.0), noise=noise,
                                     seed=seed)
    if dataset == "mixture":
        return make_gaussian_mixture(n_samples, noise=noise, seed=seed)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")


def load(dataset: str, n_samples: int = 500, noise: float = 0.0, test_fraction: float = 0.3,
         seed: int = 0, csv_path=None) -> Split:
    """Generate (or read, for ``dataset="csv"``) the points, scale them and split them.

    Points are multiplied by ``5 / max|x|`` (the largest coordinate becomes 5);
    ``test_fraction`` of them, drawn with ``seed``, form the test set.
    """
    if dataset == "csv":
        if csv_path is None:
            raise ValueError("dataset 'csv' needs csv_path, the file to read")
        X, y, task = read_points_csv(csv_path)
    else:
        X, y = _generate(dataset, n_samples, noise, seed)
        y, task = _target(y, dataset)
    X = np.asarray(X, dtype=np.float64)
    largest = float(np.abs(X).max())
    scale = _EXTENT / largest if largest > 0 else 1.0
    X = (X * scale).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_fraction, seed=seed)
    return Split(X_train, y_train, X_test, y_test, task)


def features(points, names) -> np.ndarray:
    """The named input features of ``points`` ``(n, 2)``: float32 ``(n, len(names))``, in order."""
    points = np.asarray(points)
    a, b = points[:, 0], points[:, 1]
    return np.stack([FEATURES[name][0](a, b) for name in names], axis=1).astype(np.float32)
