"""Blind search: sample at random, or perturb the best point found so far."""

from __future__ import annotations

import numpy as np

from ..landscapes.objective import Objective
from ..landscapes.result import Result
from ._common import check_bounds, check_count, check_point, check_positive, finite_or_inf, rng_from

__all__ = ["random_search", "random_local_search"]


def random_search(f, bounds=None, n_samples: int = 1000, seed=None) -> Result:
    """Evaluate f at ``n_samples`` points drawn uniformly from ``bounds``; keep the best.

    Needs no gradient and no start; it ignores everything it learnt (each sample is blind),
    so the best value improves only like the n-th order statistic: in d dimensions, getting
    within r of a minimum takes on the order of (size/r)^d samples.

    Parameters
    ----------
    f : Landscape or callable
        A landscape (all samples evaluated in one vectorised call) or a function of a NumPy
        array of shape (d,) returning a number.
    bounds : sequence of (low, high), optional
        The box to sample; defaults to the landscape's domain.
    n_samples : int
    seed : int, numpy Generator or None
        ``None`` draws from descend's global generator (``descend.manual_seed``).

    Returns
    -------
    Result
        ``path`` holds every sample (``n_samples`` rows) and ``values`` their values;
        ``nfev = nit = n_samples``, ``njev = 0``. Non-finite values count as +inf.
    """
    objective = Objective(f)
    b = check_bounds(bounds, objective)
    n = check_count(n_samples, "n_samples")
    rng = rng_from(seed)
    samples = b[:, 0] + (b[:, 1] - b[:, 0]) * rng.random((n, len(b)))
    values = objective.values(samples)
    safe = np.where(np.isfinite(values), values, np.inf)
    best = int(np.argmin(safe))
    ok = bool(np.isfinite(safe[best]))
    return Result(
        x=samples[best].copy(), fun=float(values[best]), nit=n, nfev=objective.nfev, njev=0,
        success=ok,
        message=f"best of {n} uniform samples" if ok else "no sample had a finite value",
        path=samples, values=values, evaluations=np.arange(1, n + 1), method="random",
    )


def random_local_search(f, x0, step_size=0.1, n_steps: int = 1000, seed=None, bounds=None) -> Result:
    """Perturb the best point by Gaussian noise; move there only if f improves.

    x' = x_best + σ·z with z ~ N(0, I); x_best ← x' when f(x') < f(x_best). A walker that
    feels the slope only by trying steps at random: downhill directions are found by luck,
    about half the time near a smooth point for small σ, far less often in a narrow valley.

    Parameters
    ----------
    f : Landscape or callable
    x0 : array-like, shape (d,)
    step_size : float or array of shape (d,)
        σ, the standard deviation of each proposal.
    n_steps : int
        Proposals to evaluate (``nfev = n_steps + 1``, the start included).
    seed : int, numpy Generator or None
        Draws the proposals (``None``: descend's generator).
    bounds : sequence of (low, high), optional
        Proposals are clipped into this box when given.

    Returns
    -------
    Result
        ``path`` holds the current (best) point after each step (``n_steps + 1`` rows),
        ``values`` its value; ``accepted`` counts the improvements.
    """
    objective = Objective(f)
    x = check_point(x0, objective)
    sigma = check_positive(step_size, "step_size")
    n = check_count(n_steps, "n_steps", least=0)
    b = check_bounds(bounds, objective, dim=x.size, required=False) if bounds is not None else None
    rng = rng_from(seed)
    fx = finite_or_inf(objective.value(x))
    path = np.empty((n + 1, x.size))
    values = np.empty(n + 1)
    path[0], values[0] = x, fx
    accepted = 0
    for k in range(1, n + 1):
        proposal = x + sigma * rng.standard_normal(x.size)
        if b is not None:
            proposal = np.clip(proposal, b[:, 0], b[:, 1])
        fp = finite_or_inf(objective.value(proposal))
        if fp < fx:
            x, fx = proposal, fp
            accepted += 1
        path[k], values[k] = x, fx
    return Result(
        x=x.copy(), fun=fx, nit=n, nfev=objective.nfev, njev=0, success=bool(np.isfinite(fx)),
        message=f"{accepted} of {n} proposals improved", path=path, values=values,
        evaluations=np.arange(1, n + 2),
        accepted=accepted, method="local",
    )
