"""Gradient descent with restarts: multistart and basin hopping."""

from __future__ import annotations

import math

import numpy as np

from ..landscapes.minimize import minimize
from ..landscapes.objective import Objective
from ..landscapes.result import Result
from ._common import check_bounds, check_count, check_point, check_positive, finite_or_inf, rng_from

__all__ = ["multistart", "basin_hopping"]


def multistart(f, n_starts: int | None = None, starts=None, optimizer="sgd", bounds=None, seed=None,
               *, steps: int = 100, lr=None, tol: float | None = 1e-6, jac=None, cluster=None,
               **hyperparameters) -> Result:
    """Run gradient descent from several starts and keep the best end point.

    Gradient descent finds the minimum of the basin it starts in; restarting from uniform
    random points samples the basins in proportion to their area, so the global minimum is
    found with probability 1 - (1 - p)^n after n starts if its basin covers a share p.

    Parameters
    ----------
    f : Landscape or callable
        Differentiated by autodiff when written with descend operations, otherwise by
        ``jac`` or central differences (see :func:`~descend.landscapes.minimize`).
    n_starts : int, optional
        Random starts drawn uniformly from ``bounds`` (default 10 when ``starts`` is None).
    starts : array-like of shape (n, d), optional
        Explicit starts instead of random ones.
    optimizer, steps, lr, tol, jac, **hyperparameters
        As in :func:`~descend.landscapes.minimize`, for every run.
    bounds : sequence of (low, high), optional
        Box for the random starts; defaults to the landscape's domain.
    seed : int, numpy Generator or None
    cluster : optional
        Run the starts as Dask tasks, a few chunks per worker (extra ``distributed``): an
        address, a scheduler file, a ``distributed.Client``, a cluster object or ``"local"``
        (see :mod:`descend.distributed.cluster`). The starts are drawn here, so the result is
        the same as without a cluster. None: run them here, one after the other.

    Returns
    -------
    Result
        ``x``/``fun``: the best end point (non-finite runs never win); ``nit``, ``nfev`` and
        ``njev`` summed over all runs; ``path``/``values``: the best run's walk; ``runs``: every
        run's Result; ``starts``.
    """
    objective = Objective(f)
    if starts is not None and n_starts is not None:
        raise ValueError("give n_starts or starts, not both")
    if starts is not None:
        pts = np.array(starts, dtype=np.float64)
        if pts.ndim != 2 or len(pts) == 0:
            raise ValueError(f"starts must have shape (n, d), got {pts.shape}")
        if objective.landscape is not None and pts.shape[1] != objective.landscape.dim:
            raise ValueError(f"starts has {pts.shape[1]} coordinates but {objective.landscape.name} takes {objective.landscape.dim}")
    else:
        n = check_count(10 if n_starts is None else n_starts, "n_starts")
        b = check_bounds(bounds, objective)
        rng = rng_from(seed)
        pts = b[:, 0] + (b[:, 1] - b[:, 0]) * rng.random((n, len(b)))
    fn = objective.landscape if objective.landscape is not None else f
    if cluster is None:
        runs = _minimize_each(pts, fn, optimizer, steps, lr, tol, jac, hyperparameters)
    else:
        if hasattr(optimizer, "param_groups"):
            raise TypeError("multistart: with cluster=, pass the optimizer as a name or a class (an instance "
                            "carries its state from run to run, which workers cannot share)")
        # extra 'distributed', imported only when asked for
        from ..distributed.chunks import map_chunks

        chunks = map_chunks(_minimize_each, pts, fn, optimizer, steps, lr, tol, jac, hyperparameters,
                            cluster=cluster, where="multistart")
        runs = [r for chunk in chunks for r in chunk]
    scores = [finite_or_inf(r.fun) for r in runs]
    best = int(np.argmin(scores))
    r = runs[best]
    return Result(
        x=r.x.copy(), fun=r.fun, nit=sum(q.nit for q in runs), nfev=sum(q.nfev for q in runs),
        njev=sum(q.njev for q in runs), success=bool(np.isfinite(scores[best])),
        message=f"best of {len(runs)} runs of {r.optimizer} (run {best})",
        path=r.path, values=r.values, runs=runs, starts=pts, best_run=best, method="multistart",
        optimizer=r.optimizer, hyperparameters=r.hyperparameters,
    )


def _minimize_each(starts, fn, optimizer, steps, lr, tol, jac, hyperparameters) -> list:
    """One local descent from each row of ``starts`` (a chunk of multistart's starts)."""
    return [minimize(fn, p, optimizer=optimizer, steps=steps, lr=lr, tol=tol, jac=jac, **hyperparameters)
            for p in starts]


def basin_hopping(f, x0, n_iter: int = 50, step_size=None, temperature: float = 1.0,
                  optimizer="sgd", seed=None, bounds=None, *, steps: int = 100, lr=None,
                  tol: float | None = 1e-6, jac=None, **hyperparameters) -> Result:
    """Hop between local minima: perturb, descend, accept by the Metropolis rule.

    Wales & Doye (1997): from the current local minimum x, jump by a uniform displacement
    in [-s, s]^d, run gradient descent to a new local minimum x', and move there if
    f(x') ≤ f(x) or with probability exp(-(f(x') - f(x)) / T). Annealing on the landscape
    of local minima, where the ripples of Rastrigin or Ackley have been flattened away.

    Parameters
    ----------
    f : Landscape or callable
    x0 : array-like, shape (d,)
    n_iter : int
        Hops (each one a full local descent).
    step_size : float or array of shape (d,), optional
        s, the half-width of the jump: it must carry the walk out of the current basin, so
        it must be about a basin's width or more. Default: a tenth of the domain's width on
        each coordinate (of ``bounds``, else of the landscape's domain; 1.0 for a plain
        function without bounds), 1.024 for Rastrigin, whose dimples are 1 apart.
    temperature : float
        T, on the scale of the differences between minima.
    optimizer, steps, lr, tol, jac, **hyperparameters
        The local descent, as in :func:`~descend.landscapes.minimize`.
    seed : int, numpy Generator or None
        Draws the jumps and the acceptance tests (``None``: descend's generator).
    bounds : sequence of (low, high), optional
        Jumps are clipped into this box when given.

    Returns
    -------
    Result
        ``x``/``fun``: the best minimum found; ``path``/``values``: the current minimum after
        each hop (``n_iter + 1`` rows); ``nfev``/``njev``/``nit`` summed over all descents;
        ``accepted``; ``runs``.
    """
    objective = Objective(f)
    x = check_point(x0, objective)
    n = check_count(n_iter, "n_iter", least=0)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    b = check_bounds(bounds, objective, dim=x.size, required=False) if bounds is not None else None
    if step_size is None:
        box = b if b is not None else check_bounds(None, objective, required=False)
        step_size = 1.0 if box is None else 0.1 * (box[:, 1] - box[:, 0])
    s = check_positive(step_size, "step_size")
    rng = rng_from(seed)
    fn = objective.landscape if objective.landscape is not None else f

    def descend(start):
        return minimize(fn, start, optimizer=optimizer, steps=steps, lr=lr, tol=tol, jac=jac,
                        **hyperparameters)

    runs = [descend(x)]
    x, fx = runs[0].x, finite_or_inf(runs[0].fun)
    best_x, best_f = x.copy(), fx
    path, values = [x.copy()], [fx]
    accepted = 0
    for _ in range(n):
        jump = x + s * rng.uniform(-1.0, 1.0, x.size)
        if b is not None:
            jump = np.clip(jump, b[:, 0], b[:, 1])
        r = descend(jump)
        runs.append(r)
        fr = finite_or_inf(r.fun)
        u = rng.random()
        delta = fr - fx
        if delta <= 0 or (np.isfinite(delta) and u < math.exp(-delta / temperature)):
            x, fx = r.x, fr
            accepted += 1
            if fx < best_f:
                best_x, best_f = x.copy(), fx
        path.append(x.copy())
        values.append(fx)
    return Result(
        x=best_x, fun=best_f, nit=sum(q.nit for q in runs), nfev=sum(q.nfev for q in runs),
        njev=sum(q.njev for q in runs), success=bool(np.isfinite(best_f)),
        message=f"{accepted} of {n} hops accepted; best value {best_f:.6g}",
        path=np.array(path), values=np.array(values), accepted=accepted, runs=runs,
        method="basin_hopping", optimizer=runs[0].optimizer, hyperparameters=runs[0].hyperparameters,
    )
