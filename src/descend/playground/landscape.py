"""The Landscape tab's requests: a test function's contours, optimizer races, gradient-free
searches and tunnelling at the same evaluation budget, basin-of-attraction maps.

Each request is a plain dict from the page, answered by a dict; everything is computed by
:mod:`descend.landscapes` and :mod:`descend.search`. A bad request raises
:class:`LandscapeError` (a ValueError) naming the field.
"""

from __future__ import annotations

import base64
import math
import numbers
from types import SimpleNamespace

import numpy as np

from .. import landscapes, search
from ..landscapes.basins import COUPLED
from ..optim import registry

__all__ = ["LandscapeError", "handle", "LIMITS"]

#: Resolution of the contour picture.
CONTOUR_GRID = 160
LIMITS = {"steps": (1, 5000), "budget": (10, 20_000), "resolution": (10, 100),
          "optimizers": (1, 8), "lr": (1e-8, 100.0), "seed": (0, 2**31 - 1)}


class LandscapeError(ValueError):
    """A landscape request is malformed or out of range."""


def _landscape(request):
    name = request.get("function")
    if not isinstance(name, str) or name not in landscapes.names():
        raise LandscapeError(f"function must be one of {', '.join(landscapes.names())}, "
                             f"got {name!r}")
    return landscapes.get(name)


def _int(request, key, default):
    value = request.get(key, default)
    lo, hi = LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise LandscapeError(f"{key} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def _lr(value, key):
    if value is None:
        return None
    lo, hi = LIMITS["lr"]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or not lo <= value <= hi:
        raise LandscapeError(f"{key} must be a number from {lo:g} to {hi:g} or null "
                             f"(the function's suggestion), got {value!r}")
    return float(value)


def _start(request, land):
    start = request.get("start")
    if not (isinstance(start, list) and len(start) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            for v in start)):
        raise LandscapeError(f"start must be a point [x, y] of two finite numbers, got {start!r}")
    for v, (lo, hi), axis in zip(start, land.domain, "xy", strict=True):
        if not lo <= v <= hi:
            raise LandscapeError(f"start {axis} = {v:g} is outside the domain [{lo:g}, {hi:g}]")
    return np.array(start, dtype=np.float64)


def _finite_list(a) -> list:
    """Rounded floats with non-finite values as None (JSON has no inf or nan)."""
    arr = np.asarray(a, dtype=np.float64)
    out = np.round(arr, 6).tolist()
    if np.all(np.isfinite(arr)):
        return out

    def clean(v):
        return [clean(x) for x in v] if isinstance(v, list) else (v if math.isfinite(v) else None)

    return clean(out)


def describe(request) -> dict:
    """Contours (log-scaled values on a grid), domain, minima and suggested learning rates."""
    land = _landscape(request)
    (x0, x1), (y0, y1) = land.domain
    xs = np.linspace(x0, x1, CONTOUR_GRID)
    ys = np.linspace(y1, y0, CONTOUR_GRID)  # rows from the top
    gx, gy = np.meshgrid(xs, ys)
    values = np.asarray(land(np.stack([gx, gy], axis=-1)), dtype=np.float64)
    floor = min(float(np.nanmin(values)), min(m.value for m in land.minima))
    shade = np.log1p(np.maximum(values - floor, 0.0))
    shade = shade / max(float(np.nanmax(shade)), 1e-12)
    pixels = np.rint(np.nan_to_num(shade, nan=1.0) * 255).astype(np.uint8)
    return {
        "function": land.name, "title": land.title, "formula": land.formula,
        "domain": [list(r) for r in land.domain], "grid": CONTOUR_GRID,
        "shade": base64.b64encode(pixels.tobytes()).decode("ascii"),
        "minima": [{"x": list(m.x), "value": m.value, "global": m.is_global} for m in land.minima],
        "start": list(land.start),
        "lrs": {name: land.suggested_lr(name) for name in registry.names()},
    }


def race(request) -> dict:
    """Every chosen optimizer from the same start: paths, values and evaluation counts."""
    land = _landscape(request)
    x0 = _start(request, land)
    steps = _int(request, "steps", 300)
    names_ = request.get("optimizers")
    lo, hi = LIMITS["optimizers"]
    if not (isinstance(names_, list) and lo <= len(names_) <= hi
            and all(n in registry.names() for n in names_) and len(set(names_)) == len(names_)):
        raise LandscapeError(f"optimizers must be {lo} to {hi} distinct names from "
                             f"{', '.join(registry.names())}, got {names_!r}")
    lrs = request.get("lrs", {})
    if not isinstance(lrs, dict):
        raise LandscapeError(f"lrs must be an object of learning rates by optimizer, got {lrs!r}")
    runs = []
    for name in names_:
        lr = _lr(lrs.get(name), f"lrs.{name}")
        res = landscapes.minimize(land, x0, optimizer=name, steps=steps, lr=lr, tol=1e-8)
        runs.append({"optimizer": name, "lr": res.hyperparameters.get("lr"),
                     "path": _finite_list(res.path), "values": _finite_list(res.values),
                     "evaluations": np.asarray(res.evaluations).tolist(), "nit": int(res.nit),
                     "nfev": int(res.nfev), "fun": _finite_list([res.fun])[0],
                     "message": str(res.message)})
    return {"function": land.name, "start": x0.tolist(), "runs": runs}


def _temperature(land) -> float:
    """A start temperature on the scale of the function's rises (its values' spread nearby)."""
    (x0, x1), (y0, y1) = land.domain
    g = np.stack(np.meshgrid(np.linspace(x0, x1, 40), np.linspace(y0, y1, 40)), axis=-1)
    values = np.asarray(land(g), dtype=np.float64)
    spread = float(np.nanmedian(np.abs(values - np.nanmedian(values))))
    return max(0.1 * spread, 1e-3)


def _tunnelling_walk(res) -> SimpleNamespace:
    """Tunnelling as one walk the page can animate: every descent and tunnelling try in turn
    (``res.runs``, one evaluation of f per point), with ``evaluations`` counted along it.

    Its own ``path`` holds only the minimum after each cycle; the walks between them are what
    the page shows beside the other searches' evaluated points.
    """
    walks = res.runs or [res]
    path = np.concatenate([np.asarray(w.path, dtype=np.float64) for w in walks])
    values = np.concatenate([np.asarray(w.values, dtype=np.float64) for w in walks])
    return SimpleNamespace(path=path, values=values, evaluations=np.arange(1, len(path) + 1),
                           nfev=res.nfev, njev=res.njev, fun=res.fun, x=res.x)


def search_race(request) -> dict:
    """Gradient descent against random search, random local search, simulated annealing and
    tunnelling, each allowed the same number of function evaluations ``budget`` (tunnelling
    may stop sooner: when no direction leads to a lower basin, it has found the global one)."""
    land = _landscape(request)
    x0 = _start(request, land)
    budget = _int(request, "budget", 500)
    seed = _int(request, "seed", 0)
    width = min(hi - lo for lo, hi in land.domain)
    step_size = 0.05 * width
    results = {
        "gradient descent": landscapes.minimize(land, x0, optimizer="sgd", steps=budget - 1,
                                                tol=None),
        "random search": search.random_search(land, n_samples=budget, seed=seed),
        "random local search": search.random_local_search(
            land, x0, step_size=step_size, n_steps=budget - 1, seed=seed, bounds=land.domain),
        "simulated annealing": search.simulated_annealing(
            land, x0, step_size=step_size, n_steps=budget - 1, t0=_temperature(land), seed=seed,
            bounds=land.domain),
    }
    # A tunnelling try's Adam step is a tenth of the radius, so 30 steps cross about three
    # basins: enough to reach a lower one nearby, and short enough that a few hundred
    # evaluations buy several tries (its default of 200 spends a 500 budget in two).
    results["tunnelling"] = _tunnelling_walk(search.tunneling(
        land, x0, radius=step_size, seed=seed, max_evaluations=budget, tunnel_steps=30))
    runs = []
    for method, res in results.items():
        values = np.asarray(res.values, dtype=np.float64)
        best = np.minimum.accumulate(np.where(np.isfinite(values), values, np.inf))
        runs.append({"method": method, "path": _finite_list(res.path),
                     "evaluations": np.asarray(res.evaluations).tolist(),
                     "best": _finite_list(best), "nfev": int(res.nfev), "njev": int(res.njev),
                     "fun": _finite_list([res.fun])[0], "x": _finite_list(res.x)})
    return {"function": land.name, "start": x0.tolist(), "budget": budget, "runs": runs}


def basin_map(request) -> dict:
    """Which known minimum the optimizer reaches from every start of a grid."""
    land = _landscape(request)
    optimizer = request.get("optimizer")
    allowed = [n for n in registry.names() if n not in COUPLED]
    if optimizer not in allowed:
        raise LandscapeError(f"optimizer must be one of {', '.join(allowed)} (basin maps run "
                             f"every start at once, which L-BFGS's line search cannot), "
                             f"got {optimizer!r}")
    lr = _lr(request.get("lr"), "lr")
    steps = _int(request, "steps", 500)
    resolution = _int(request, "resolution", 60)
    bm = landscapes.basins(land, optimizer=optimizer, lr=lr, steps=steps, resolution=resolution)
    labels = bm.labels[::-1]  # rows from the top, as the page draws
    return {
        "function": land.name, "optimizer": optimizer, "lr": bm.hyperparameters.get("lr"),
        "resolution": resolution,
        "labels": base64.b64encode(labels.astype(np.int8).tobytes()).decode("ascii"),
        "shares": {str(k): v for k, v in bm.shares.items()}, "global_share": bm.global_share,
        "diverged_share": float(bm.diverged.mean()), "seconds": bm.seconds,
    }


_ACTIONS = {"describe": describe, "race": race, "search": search_race, "basins": basin_map}


def handle(request) -> dict:
    """Answer one Landscape-tab request ``{"action": ..., ...}`` with ``{"type": "landscape", ...}``."""
    if not isinstance(request, dict):
        raise LandscapeError("a landscape request must be an object")
    action = request.get("action")
    if action not in _ACTIONS:
        raise LandscapeError(f"action must be one of {', '.join(_ACTIONS)}, got {action!r}")
    return {"type": "landscape", "action": action, **_ACTIONS[action](request)}
