"""Seeded synthetic datasets: small problems whose answer is known.

Every function returns ``(X, y)`` NumPy arrays: features ``X`` float32 of
shape ``(n_samples, n_features)``; class labels ``y`` int64 of shape
``(n_samples,)`` for classification, or float32 targets of shape
``(n_samples, 1)`` for regression (matching a model's ``(n, 1)`` output).
The same ``seed`` gives the same arrays; ``seed=None`` draws from the global
generator (:func:`descend.manual_seed`).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ._checks import is_int_at_least

__all__ = ["make_linear", "make_moons", "make_circles", "make_spirals", "make_xor", "make_blobs",
           "make_gaussian_mixture"]


def _rng(seed, where: str) -> np.random.Generator:
    if seed is None:
        return _random.generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if not is_int_at_least(seed, 0):
        raise ValueError(f"{where}: seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def _count(n, name: str, where: str, minimum: int = 1) -> int:
    if not is_int_at_least(n, minimum):
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _nonneg(x, name: str, where: str) -> float:
    if not isinstance(x, numbers.Real) or not np.isfinite(x) or x < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {x!r}")
    return float(x)


def _finish(X, y, rng, noise):
    if noise:
        X = X + rng.normal(0.0, noise, size=X.shape)
    perm = rng.permutation(len(X))
    return X[perm].astype(np.float32), y[perm].astype(np.int64)


def make_linear(n_samples: int = 100, n_features: int = 1, slope=2.0, intercept: float = 0.0,
                noise: float = 0.0, x_range=(-1.0, 1.0), seed=None):
    """Points on a line (hyperplane): ``y = X @ slope + intercept + noise``.

    With the defaults this is the classic first example of gradient descent,
    ``y = 2x``: one weight to learn, whose optimum is exactly 2 when
    ``noise=0``. ``x`` is uniform on ``x_range``; ``noise`` is the standard
    deviation of Gaussian noise added to ``y``.

    Returns ``X`` float32 ``(n_samples, n_features)``, ``y`` float32 ``(n_samples, 1)``.
    """
    where = "make_linear"
    n = _count(n_samples, "n_samples", where)
    d = _count(n_features, "n_features", where)
    noise = _nonneg(noise, "noise", where)
    w = np.broadcast_to(np.asarray(slope, dtype=np.float64), (d,)) if np.ndim(slope) == 0 else np.asarray(slope, dtype=np.float64)
    if w.shape != (d,):
        raise ValueError(f"{where}: slope must be a number or have n_features={d} entries, got shape {w.shape}")
    lo, hi = (float(v) for v in x_range)
    if not lo < hi:
        raise ValueError(f"{where}: x_range must be (low, high) with low < high, got {x_range!r}")
    rng = _rng(seed, where)
    X = rng.uniform(lo, hi, size=(n, d))
    y = X @ w + float(intercept)
    if noise:
        y = y + rng.normal(0.0, noise, size=n)
    return X.astype(np.float32), y.reshape(n, 1).astype(np.float32)


def make_moons(n_samples: int = 100, noise: float = 0.0, seed=None):
    """Two interleaving half circles (classes 0 and 1), not linearly separable.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 1/2 - sin t)``, ``t`` evenly
    spaced on ``[0, pi]``; then Gaussian noise of standard deviation ``noise``.
    """
    where = "make_moons"
    n = _count(n_samples, "n_samples", where, 2)
    noise = _nonneg(noise, "noise", where)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    X = np.concatenate([
        np.stack([np.cos(t0), np.sin(t0)], axis=1),
        np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1),
    ])
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _finish(X, y, _rng(seed, where), noise)


def make_circles(n_samples: int = 100, noise: float = 0.0, factor: float = 0.5, seed=None):
    """A circle of radius ``factor`` (class 1) inside one of radius 1 (class 0)."""
    where = "make_circles"
    n = _count(n_samples, "n_samples", where, 2)
    noise = _nonneg(noise, "noise", where)
    if not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"{where}: factor must be in (0, 1), got {factor!r}")
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([
        np.stack([np.cos(t0), np.sin(t0)], axis=1),
        factor * np.stack([np.cos(t1), np.sin(t1)], axis=1),
    ])
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _finish(X, y, _rng(seed, where), noise)


def make_spirals(n_samples: int = 200, n_classes: int = 2, noise: float = 0.0, turns: float = 1.0,
                 seed=None):
    """``n_classes`` interleaved spiral arms (TensorFlow Playground's hardest set).

    Arm ``k`` is ``r (cos a, sin a)`` with ``r`` evenly spaced on ``[0, 1]`` and
    ``a = 2 pi (turns r + k / n_classes)``.
    """
    where = "make_spirals"
    k = _count(n_classes, "n_classes", where, 2)
    n = _count(n_samples, "n_samples", where, k)
    noise = _nonneg(noise, "noise", where)
    if not isinstance(turns, numbers.Real) or not np.isfinite(turns) or turns <= 0:
        raise ValueError(f"{where}: turns must be a positive number, got {turns!r}")
    sizes = [n // k + (1 if c < n % k else 0) for c in range(k)]
    parts, labels = [], []
    for c, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        a = 2 * np.pi * (turns * r + c / k)
        parts.append(np.stack([r * np.cos(a), r * np.sin(a)], axis=1))
        labels.append(np.full(m, c))
    return _finish(np.concatenate(parts), np.concatenate(labels), _rng(seed, where), noise)


def make_xor(n_samples: int = 200, noise: float = 0.0, seed=None):
    """Points uniform on ``[-1, 1]^2``; class 1 where the coordinates' signs differ (XOR)."""
    where = "make_xor"
    n = _count(n_samples, "n_samples", where)
    noise = _nonneg(noise, "noise", where)
    rng = _rng(seed, where)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    if noise:
        X = X + rng.normal(0.0, noise, size=X.shape)
    return X.astype(np.float32), y


def make_blobs(n_samples: int = 100, centers=3, n_features: int = 2, cluster_std=1.0,
               center_box=(-10.0, 10.0), seed=None):
    """Gaussian clusters, one class per centre.

    ``centers`` is a count (centres drawn uniformly in ``center_box``) or an
    array of shape ``(k, n_features)``; ``cluster_std`` a number or one per
    centre. Examples are split as evenly as possible between the centres.
    """
    where = "make_blobs"
    n = _count(n_samples, "n_samples", where)
    rng = _rng(seed, where)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = _count(centers, "centers", where)
        d = _count(n_features, "n_features", where)
        lo, hi = (float(v) for v in center_box)
        if not lo < hi:
            raise ValueError(f"{where}: center_box must be (low, high) with low < high, got {center_box!r}")
        C = rng.uniform(lo, hi, size=(k, d))
    else:
        C = np.asarray(centers, dtype=np.float64)
        if C.ndim != 2 or len(C) == 0:
            raise ValueError(f"{where}: centers must be a count or an array (k, n_features), got shape {C.shape}")
        k, d = C.shape
    std = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (k,)) if np.ndim(cluster_std) == 0 else np.asarray(cluster_std, dtype=np.float64)
    if std.shape != (k,) or np.any(std < 0) or not np.all(np.isfinite(std)):
        raise ValueError(f"{where}: cluster_std must be a number >= 0 or one per centre ({k}), got {cluster_std!r}")
    sizes = [n // k + (1 if c < n % k else 0) for c in range(k)]
    X = np.concatenate([C[c] + std[c] * rng.standard_normal((m, d)) for c, m in enumerate(sizes)])
    y = np.concatenate([np.full(m, c) for c, m in enumerate(sizes)])
    return _finish(X, y, rng, 0.0)


def make_gaussian_mixture(n_samples: int = 500, noise: float = 0.0, seed=None):
    """A regression target made of Gaussian bumps and dips over ``[-1, 1]²``.

    ``y = Σ_k s_k exp(-|x - c_k|² / (2 σ²))`` with four centres ``c_k`` (one per quadrant,
    signs ``s_k = +1, -1, +1, -1``), ``σ = 0.35``, plus Gaussian noise of std ``noise``;
    ``x`` uniform on the square. Returns ``X`` float32 ``(n, 2)``, ``y`` float32 ``(n, 1)``.
    ``seed`` as for the other sets here (``None``: this thread's generator).
    """
    where = "make_gaussian_mixture"
    n_samples = _count(n_samples, "n_samples", where)
    noise = _nonneg(noise, "noise", where)
    rng = _rng(seed, where)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    centres = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
    signs = np.array([1.0, -1.0, 1.0, -1.0])
    sq = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
    y = (signs * np.exp(-sq / (2 * 0.35**2))).sum(axis=1)
    if noise:
        y = y + rng.normal(0.0, noise, size=n_samples)
    return X.astype(np.float32), y.reshape(-1, 1).astype(np.float32)
