"""Small real datasets that work offline, read from scikit-learn's bundled files.

They need the ``datasets`` extra (``pip install 'descend[datasets]'``);
scikit-learn is imported only when one of them is called. Each returns
``(X, y)`` NumPy arrays: features float32 ``(n, d)``; class labels int64
``(n,)``, or float32 regression targets ``(n, 1)``. Features are returned as
stored (unscaled); use :class:`descend.data.StandardScaler` fitted on the
training split.

========================  =======  ========  ===============================
function                  n        d         target
========================  =======  ========  ===============================
``load_digits()``         1797     64        10 classes (8x8 images, 0..16)
``load_iris()``           150      4         3 classes
``load_breast_cancer()``  569      30        2 classes
``load_diabetes()``       442      10        disease progression (regression)
========================  =======  ========  ===============================
"""

from __future__ import annotations

import importlib

import numpy as np

__all__ = ["load_digits", "load_iris", "load_breast_cancer", "load_diabetes", "IMAGE_SHAPES"]

#: The image shape (channels, height, width) of the bundled data sets whose rows are images
#: (the pixels row by row): ``X.reshape(-1, *IMAGE_SHAPES["digits"])`` are the digits' images.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"digits": (1, 8, 8)}


def _sklearn_datasets():
    try:
        return importlib.import_module("sklearn.datasets")
    except ImportError as exc:
        raise ImportError(
            "the bundled datasets are read from scikit-learn's package files; install the "
            "'datasets' extra: pip install 'descend[datasets]'"
        ) from exc


def _classification(name: str):
    bunch = getattr(_sklearn_datasets(), name)()
    return np.ascontiguousarray(bunch.data, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)


def load_digits():
    """Handwritten digits: ``X`` float32 (1797, 64) with pixel values 0..16, ``y`` int64 in 0..9."""
    return _classification("load_digits")


def load_iris():
    """Iris flowers: ``X`` float32 (150, 4) in cm, ``y`` int64 in 0..2."""
    return _classification("load_iris")


def load_breast_cancer():
    """Wisconsin breast cancer: ``X`` float32 (569, 30), ``y`` int64 (0 malignant, 1 benign)."""
    return _classification("load_breast_cancer")


def load_diabetes():
    """Diabetes progression: ``X`` float32 (442, 10) (raw, unscaled), ``y`` float32 (442, 1)."""
    bunch = _sklearn_datasets().load_diabetes(scaled=False)
    X = np.ascontiguousarray(bunch.data, dtype=np.float32)
    return X, np.asarray(bunch.target, dtype=np.float32).reshape(-1, 1)
