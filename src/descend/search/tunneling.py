"""Tunnelling (Levy & Montalvo 1985): descend, then tunnel under the barrier to a lower basin."""

from __future__ import annotations

import numpy as np

from ..landscapes._optimizers import optimizer_name
from ..landscapes.minimize import minimize
from ..landscapes.objective import Objective
from ..landscapes.result import Result
from ..tensor import Tensor
from ._common import check_count, check_point, check_positive, finite_or_inf, rng_from

__all__ = ["tunneling", "tunneling_function"]


def tunneling_function(f, x_star, f_star: float, pole_strength: float = 1.1, mobile_poles=()):
    """The tunnelling function with a pole at the local minimum ``x_star``.

    T(x) = (f(x) − f*) / ‖x − x*‖^(2λ) / Πⱼ ‖x − mⱼ‖^(2λ)

    T ≤ 0 exactly where f(x) ≤ f*, so any point where T has dropped to zero lies in a basin
    at least as deep as the one left behind. Dividing by ‖x − x*‖^(2λ) puts a pole at x*:
    near it f − f* grows like ‖x − x*‖², so for λ > 1 T falls with the distance and a
    descent on T is pushed out of x*'s basin instead of back into it. The *mobile poles* mⱼ
    are points where an earlier descent on T got stuck with T > 0 (a local minimum of T, next
    to a basin no lower than x*'s): a pole there keeps the next descent from settling in it again.

    Written with descend operations, so T differentiates by autodiff whenever ``f`` does
    (a :class:`~descend.landscapes.Landscape` or a function of descend operations); a NumPy-only
    ``f`` gets its gradient from ``minimize``'s central differences. ``pole_strength`` is λ,
    with :func:`tunneling`'s default.
    """
    poles = [np.asarray(x_star, dtype=np.float64)] + [np.asarray(m, dtype=np.float64) for m in mobile_poles]
    f_star = float(f_star)

    def tunnel(x):
        value = f(x)
        if isinstance(x, Tensor) and not isinstance(value, Tensor):
            # f is NumPy-only: refuse the Tensor, so that the walk's Objective takes T's
            # gradient by central differences instead of through the poles alone
            raise TypeError("f returned a plain number for a descend Tensor")
        value = value - f_star
        for pole in poles:
            offset = x - pole
            value = value / (offset * offset).sum() ** pole_strength
        return value

    return tunnel


def tunneling(f, x0, n_cycles: int = 20, n_tries: int = 12, radius=0.5, pole_strength: float = 1.1,
              optimizer="sgd", seed=None, *, steps: int = 100, lr=None, tol: float | None = 1e-6,
              tunnel_optimizer="adam", tunnel_steps: int = 200, tunnel_lr=None, max_evaluations=None,
              jac=None, **hyperparameters) -> Result:
    """Alternate a local descent with a tunnelling phase that finds a lower basin.

    Levy & Montalvo (1985). Each cycle:

    1. **Minimisation phase.** Gradient descent from the current point to a local minimum
       x* with value f* (the descent of :func:`~descend.landscapes.minimize`).
    2. **Tunnelling phase.** Descend the tunnelling function
       T(x) = (f(x) − f*) / ‖x − x*‖^(2λ) (:func:`tunneling_function`) from a point at
       distance ``radius`` from x*, each try in another direction (the ± axes of a random
       rotation, then of the next: every side is tried); its pole at x* pushes the walk out
       of x*'s basin, and the phase stops at the first point where T < 0, that is f(x) < f*:
       a point in a strictly lower basin, whatever barrier lay between. A try that ends
       without reaching T < 0 (stuck in a local minimum of T beside a basin no lower than
       x*'s) leaves a *mobile pole* at its end point for the rest of the phase, and the next
       try starts in the next direction. If ``n_tries`` tries fail, x* is taken as the
       global minimum and the search ends.

    The values found decrease strictly from cycle to cycle, so no basin is visited twice.

    Parameters
    ----------
    f : Landscape or callable
    x0 : array-like, shape (d,)
    n_cycles : int
        The most tunnelling phases (each followed by a descent).
    n_tries : int
        Directions a tunnelling phase tries before giving up.
    radius : float or array of shape (d,)
        How far from x* each try starts: about half a basin's width (0.5 suits Rastrigin's
        unit-spaced dimples).
    pole_strength : float
        λ > 1, the order of the poles. Just above 1 (the default 1.1) pushes the walk out of
        x*'s basin while T still follows f's own slopes; a strong pole flattens them and the
        walk drifts away from every basin.
    optimizer, steps, lr, tol, jac, **hyperparameters
        The local descent, as in :func:`~descend.landscapes.minimize`.
    tunnel_optimizer, tunnel_steps, tunnel_lr
        The descent on T. T's scale changes by orders of magnitude with the distance from
        the pole, so an adaptive method (Adam, whose step length is set by ``lr``) is the
        default; ``tunnel_lr=None`` is a tenth of ``radius`` (an Adam step is about ``lr``
        long, so a walk crosses a basin in some ten steps).
    max_evaluations : int, optional
        Stop once this many evaluations of f are spent (each walk is cut to what is left), so
        that tunnelling compares with other methods at an equal budget.
    seed : int, numpy Generator or None
        Draws the rotations the tunnelling directions come from (``None``: descend's generator).

    On Rastrigin's function from (3.1, −2.2), where one descent stops in the dimple at
    f = 12.93, ``tunneling(rastrigin(), [3.1, -2.2], seed=0)`` tunnels down through lower
    dimples to the global minimum f = 0 at the origin (from 47 of 50 seeds; the others stop in a
    dimple next to it, f = 0.995).

    Returns
    -------
    Result
        ``x``/``fun``: the lowest minimum found; ``path``/``values``: the local minimum after
        each successful cycle; ``nfev``/``njev``/``nit`` summed over every descent and
        tunnelling walk; ``runs``: every descent and tunnelling walk in the order they ran
        (each with ``phase`` "descent" or "tunnel"; a walk's ``values`` are f along it, its
        ``tunnel_values`` T), so :meth:`~descend.landscapes.Result.trace` chains them;
        ``descents`` (the descents alone); ``cycles`` (tunnelling phases that found a lower
        basin).
    """
    objective = Objective(f)
    x = check_point(x0, objective)
    n_cycles = check_count(n_cycles, "n_cycles", least=0)
    n_tries = check_count(n_tries, "n_tries")
    tunnel_steps = check_count(tunnel_steps, "tunnel_steps")
    budget = None if max_evaluations is None else check_count(max_evaluations, "max_evaluations", least=2)
    r0 = check_positive(radius, "radius")
    if r0.ndim > 1 or (r0.ndim == 1 and r0.size != x.size):
        raise ValueError(f"radius must be a number or one per coordinate ({x.size}), got shape {r0.shape}")
    if isinstance(pole_strength, bool) or not isinstance(pole_strength, (int, float)) or not pole_strength > 1:
        raise ValueError(f"pole_strength must be a number > 1 (a weaker pole pulls the walk back "
                         f"into the basin it should leave), got {pole_strength!r}")
    # the tunnelling walk's own settings are checked here, naming them: the first walk starts
    # only after a whole descent, and minimize would call them "optimizer" and "lr"
    if isinstance(tunnel_optimizer, str):
        from .. import optim

        if optimizer_name(tunnel_optimizer) not in optim.names():
            raise ValueError(f"tunnel_optimizer: unknown name {tunnel_optimizer!r}; choose one of: "
                             f"{', '.join(optim.names())}")
    if tunnel_lr is not None and np.ndim(check_positive(tunnel_lr, "tunnel_lr")) != 0:
        raise ValueError(f"tunnel_lr must be one positive number, got {tunnel_lr!r}")
    rng = rng_from(seed)
    fn = objective.landscape if objective.landscape is not None else f
    if tunnel_lr is None:
        tunnel_lr = float(np.mean(r0)) / 10

    # T differentiates by autodiff when f does; a gradient function for f says nothing of T's
    tunnel_jac = "3-point" if callable(jac) or jac == "3-point" else None

    def spent():
        return sum(q.nfev for q in runs)

    def allowed(wanted: int) -> int:
        """Steps a walk may take: ``wanted``, cut so its ``steps + 1`` evaluations fit the budget."""
        return wanted if budget is None else max(min(wanted, budget - spent() - 1), 0)

    def descend(start):
        return minimize(fn, start, optimizer=optimizer, steps=allowed(steps), lr=lr, tol=tol, jac=jac,
                        **hyperparameters)

    def below_zero(_point, value):
        return value < 0.0

    runs = []
    first = descend(x)
    first.phase = "descent"
    runs.append(first)
    descents = [first]
    x_star, f_star = first.x, finite_or_inf(first.fun)
    path, values = [x_star.copy()], [f_star]
    cycles = 0
    message = f"maximum number of cycles ({n_cycles}) reached"
    if not np.isfinite(f_star):
        n_cycles, message = 0, f"the first descent diverged ({first.message}); lower lr"
    for _ in range(n_cycles):
        lower, mobile_poles = None, []
        directions = _spread_directions(rng, x_star.size, n_tries)
        for direction in directions:
            if allowed(tunnel_steps) == 0:
                break
            tunnel = tunneling_function(fn, x_star, f_star, pole_strength, mobile_poles)
            start = x_star + r0 * direction
            t = minimize(tunnel, start, optimizer=tunnel_optimizer, steps=allowed(tunnel_steps), lr=tunnel_lr,
                         tol=None, callback=below_zero, jac=tunnel_jac)
            runs.append(_as_f_walk(t, x_star, f_star, pole_strength, mobile_poles))
            if t.success:  # stopped by below_zero: f(x) < f* at the last point
                lower = t.x
                break
            mobile_poles.append(t.x)
        if lower is None and budget is not None and allowed(tunnel_steps) == 0:
            message = f"the budget of {budget} evaluations is spent"
            break
        if lower is None:
            message = (f"no lower basin found by {n_tries} tunnelling tries from the minimum "
                       f"f={f_star:.6g}; taken as global")
            break
        r = descend(lower)
        r.phase = "descent"
        runs.append(r)
        descents.append(r)
        fr = finite_or_inf(r.fun)
        if not fr < f_star:  # a descent that climbed (too large a step) is not progress
            message = f"the descent from the tunnelled point ended at f={fr:.6g}, not below f*={f_star:.6g}"
            break
        x_star, f_star = r.x, fr
        path.append(x_star.copy())
        values.append(f_star)
        cycles += 1
    return Result(
        x=x_star.copy(), fun=f_star, nit=sum(q.nit for q in runs), nfev=sum(q.nfev for q in runs),
        njev=sum(q.njev for q in runs), success=bool(np.isfinite(f_star)),
        message=f"{cycles} tunnelling cycle(s) to lower basins; {message}",
        path=np.array(path), values=np.array(values), runs=runs, descents=descents, cycles=cycles,
        method="tunneling", optimizer=first.optimizer, hyperparameters=first.hyperparameters,
    )


def _spread_directions(rng, dim: int, count: int) -> np.ndarray:
    """``count`` unit directions that cover every side: the ± axes of random rotations, in turn.

    Independent random directions bunch up (two of twelve in 2-D often lie within a few
    degrees), and a lower basin on the one side left out is never found. The 2d directions
    ±q₁ … ±q_d of a random orthonormal frame Q (the QR factor of a Gaussian matrix, signs
    fixed so that Q is uniformly distributed) point every way; the next frame is another
    rotation, filling the gaps between the first one's directions.
    """
    out = []
    while len(out) < count:
        q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
        q = q * np.sign(np.diag(r))
        for axis in q.T:
            out.extend((axis, -axis))
    return np.array(out[:count])


def _as_f_walk(walk: Result, x_star, f_star: float, pole_strength: float, mobile_poles) -> Result:
    """A tunnelling walk recorded in f's terms, so that ``Result.trace`` chains it with the
    descents: ``values`` become f = f* + T·Πₚ‖x − p‖^(2λ) along the path (T itself is kept
    as ``tunnel_values``)."""
    distance_power = np.ones(len(walk.path))
    for pole in [x_star, *mobile_poles]:
        offsets = walk.path - pole
        distance_power *= np.sum(offsets * offsets, axis=1) ** pole_strength
    walk.tunnel_values = walk.values
    walk.values = f_star + walk.values * distance_power
    walk.fun = float(walk.values[-1]) if len(walk.values) else float("nan")
    walk.phase = "tunnel"
    return walk
