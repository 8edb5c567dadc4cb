import subprocess
import sys

import numpy as np
import pytest

from descend import data

pytest.importorskip("sklearn")


@pytest.mark.parametrize("load, n, d, k", [
    (data.load_digits, 1797, 64, 10),
    (data.load_iris, 150, 4, 3),
    (data.load_breast_cancer, 569, 30, 2),
])
def test_classification_sets(load, n, d, k):
    X, y = load()
    assert X.shape == (n, d) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(k))


def test_digits_values_match_the_bundled_file():
    X, y = data.load_digits()
    assert X.min() == 0 and X.max() == 16
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_diabetes_is_regression_and_unscaled():
    X, y = data.load_diabetes()
    assert X.shape == (442, 10) and y.shape == (442, 1) and y.dtype == np.float32
    assert 25 <= y.min() and y.max() <= 346
    assert X[:, 0].max() > 10  # age in years, not the pre-scaled version


def test_importing_descend_data_does_not_import_sklearn():
    code = "import sys, descend.data; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_sklearn_gives_install_hint(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn here")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install 'descend\[datasets\]'"):
        data.load_iris()
