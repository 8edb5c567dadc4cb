"""Simulated annealing: a random walk that sometimes accepts going uphill."""

from __future__ import annotations

import math

import numpy as np

from ..landscapes.objective import Objective
from ..landscapes.result import Result
from ._common import check_bounds, check_count, check_point, check_positive, finite_or_inf, rng_from

__all__ = ["simulated_annealing", "temperatures"]

SCHEDULES = ("exponential", "linear", "logarithmic", "fast")


def temperatures(schedule, n_steps: int, t0: float = 1.0, t_final: float = 1e-3) -> np.ndarray:
    """The temperature at each step k = 0 .. n_steps-1.

    * ``"exponential"``: T_k = t0 (t_final/t0)^(k/(n-1)), geometric cooling to ``t_final``;
    * ``"linear"``: from t0 to t_final in equal decrements;
    * ``"logarithmic"``: T_k = t0 / ln(k + e) (Geman & Geman's schedule: slow enough to
      guarantee convergence in probability, far too slow in practice);
    * ``"fast"``: T_k = t0 / (k + 1) (Szu & Hartley's fast annealing);
    * a callable ``schedule(k) -> T``.
    """
    n = check_count(n_steps, "n_steps", least=0)
    k = np.arange(n, dtype=np.float64)
    if callable(schedule):
        t = np.array([float(schedule(int(i))) for i in range(n)])
    elif schedule == "exponential":
        t = t0 * (t_final / t0) ** (k / max(n - 1, 1))
    elif schedule == "linear":
        t = t0 + (t_final - t0) * k / max(n - 1, 1)
    elif schedule == "logarithmic":
        t = t0 / np.log(k + math.e)
    elif schedule == "fast":
        t = t0 / (k + 1)
    else:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)} or a callable, got {schedule!r}")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("schedule: temperatures must be finite and >= 0")
    return t


def simulated_annealing(f, x0, step_size=0.1, n_steps: int = 1000, t0: float = 1.0,
                        t_final: float = 1e-3, schedule="exponential", seed=None,
                        bounds=None) -> Result:
    """Metropolis random walk with a falling temperature (Kirkpatrick, Gelatt & Vecchi 1983).

    Propose x' = x + σ·z, z ~ N(0, I). Accept if f(x') ≤ f(x), otherwise with probability
    exp(-(f(x') - f(x)) / T_k). Hot, the walker climbs out of valleys; cold, it only goes
    down. Temperatures are on the scale of f's values: pick ``t0`` about the size of the
    barriers to cross.

    Parameters
    ----------
    f : Landscape or callable
    x0 : array-like, shape (d,)
    step_size : float or array of shape (d,)
    n_steps : int
        Proposals (``nfev = n_steps + 1``).
    t0, t_final : float
        Start and end temperatures (see :func:`temperatures`).
    schedule : str or callable
    seed : int, numpy Generator or None
        Draws the proposals and the acceptance tests (``None``: descend's generator).
    bounds : sequence of (low, high), optional
        Proposals are clipped into this box when given.

    Returns
    -------
    Result
        ``x``/``fun``: the best point ever visited; ``path``/``values``: the current point
        after each step (``n_steps + 1`` rows); ``accepted``: accepted proposals (uphill ones
        included); ``temperatures``.
    """
    objective = Objective(f)
    x = check_point(x0, objective)
    sigma = check_positive(step_size, "step_size")
    n = check_count(n_steps, "n_steps", least=0)
    if not (t0 > 0 and t_final > 0):
        raise ValueError(f"t0 and t_final must be positive, got t0={t0!r}, t_final={t_final!r}")
    temps = temperatures(schedule, n, t0, t_final)
    b = check_bounds(bounds, objective, dim=x.size, required=False) if bounds is not None else None
    rng = rng_from(seed)
    fx = finite_or_inf(objective.value(x))
    best_x, best_f = x.copy(), fx
    path = np.empty((n + 1, x.size))
    values = np.empty(n + 1)
    path[0], values[0] = x, fx
    accepted = 0
    for k in range(n):
        proposal = x + sigma * rng.standard_normal(x.size)
        if b is not None:
            proposal = np.clip(proposal, b[:, 0], b[:, 1])
        fp = finite_or_inf(objective.value(proposal))
        u = rng.random()  # drawn every step, so the stream does not depend on the outcomes
        delta = fp - fx
        if delta <= 0 or (np.isfinite(delta) and temps[k] > 0 and u < math.exp(-delta / temps[k])):
            x, fx = proposal, fp
            accepted += 1
            if fx < best_f:
                best_x, best_f = x.copy(), fx
        path[k + 1], values[k + 1] = x, fx
    return Result(
        x=best_x, fun=best_f, nit=n, nfev=objective.nfev, njev=0, success=bool(np.isfinite(best_f)),
        message=f"{accepted} of {n} proposals accepted; best value {best_f:.6g}",
        path=path, values=values, evaluations=np.arange(1, n + 2), accepted=accepted,
        temperatures=temps, method="annealing",
    )
