"""Argument checking shared by the search methods."""

from __future__ import annotations

import numpy as np

from .. import random as _random
from ..landscapes.objective import Objective

__all__ = ["rng_from", "check_bounds", "check_point", "check_count", "check_positive", "finite_or_inf"]


def rng_from(seed) -> np.random.Generator:
    """``None``: descend's global generator (follows ``descend.manual_seed``); an int: a fresh
    PCG64 generator seeded with it; a ``numpy.random.Generator``: itself."""
    if seed is None:
        return _random.generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def check_bounds(bounds, objective: Objective, dim: int | None = None, required: bool = True):
    """Bounds as a (d, 2) float array; ``None`` means the landscape's domain."""
    if bounds is None:
        if objective.landscape is not None:
            return np.array(objective.landscape.domain, dtype=np.float64)
        if required:
            raise ValueError("bounds must be given (one (low, high) pair per coordinate) for a plain function")
        return None
    try:
        b = np.array(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a sequence of (low, high) pairs, got {bounds!r}") from None
    if b.ndim != 2 or b.shape[1] != 2 or len(b) == 0:
        raise ValueError(f"bounds must be a sequence of (low, high) pairs, got shape {b.shape}")
    if not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
        raise ValueError(f"bounds: every pair needs finite low < high, got {b.tolist()}")
    if dim is not None and len(b) != dim:
        raise ValueError(f"bounds has {len(b)} pairs but the point has {dim} coordinates")
    if objective.landscape is not None and len(b) != objective.landscape.dim:
        raise ValueError(f"bounds has {len(b)} pairs but {objective.landscape.name} takes {objective.landscape.dim} coordinates")
    return b


def check_point(x0, objective: Objective, name: str = "x0") -> np.ndarray:
    if x0 is None and objective.landscape is not None:
        return np.array(objective.landscape.start, dtype=np.float64)
    try:
        arr = np.array(x0, dtype=np.float64).reshape(-1) if np.ndim(x0) <= 1 else None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a point (a sequence of numbers), got {x0!r}") from None
    if arr is None or arr.size == 0:
        raise ValueError(f"{name} must be one point of shape (d,), got shape {np.shape(x0)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    land = objective.landscape
    if land is not None and arr.size != land.dim:
        raise ValueError(f"{name} has {arr.size} coordinates but {land.name} takes {land.dim}")
    return arr


def check_count(value, name: str, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def check_positive(value, name: str):
    arr = np.asarray(value, dtype=np.float64) if not isinstance(value, str) else None
    if arr is None or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"{name} must be positive (a number or one per coordinate), got {value!r}")
    return arr


def finite_or_inf(v: float) -> float:
    """NaN and +-inf compare badly; a search treats any non-finite value as +inf (never better)."""
    return float(v) if np.isfinite(v) else np.inf
