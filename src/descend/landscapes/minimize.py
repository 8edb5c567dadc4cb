"""Run a descend optimizer on a function of a point: the walker going downhill."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from ..train.guards import (
    DIVERGENCE_FACTOR,
    DIVERGENCE_HINT,
    check_divergence_factor,
    growth_detail,
    loss_exploded,
)
from ._optimizers import make_optimizer
from .objective import Objective
from .result import Result

__all__ = ["minimize", "steps_to_reach"]



def minimize(fn, x0, optimizer="sgd", steps: int = 1000, lr=None, tol: float | None = 1e-6, *,
             jac=None, callback=None, divergence_factor=DIVERGENCE_FACTOR, **hyperparameters) -> Result:
    """Minimise ``fn`` from ``x0`` with a descend optimizer; record the path it walks.

    Each step evaluates f and ∇f at the current point x_k, stops if ‖∇f(x_k)‖ ≤ ``tol``
    (first-order optimality: the walker stands on flat ground), and otherwise lets the
    optimizer move: x_{k+1} = x_k + update(∇f(x_k), state).

    Parameters
    ----------
    fn : Landscape, landscape factory or callable
        A :class:`Landscape`, a function written with descend operations, or a plain
        function of a NumPy array (its gradient then comes from ``jac`` or central
        differences; see :class:`~descend.landscapes.objective.Objective`).
    x0 : array-like, shape (d,)
        The start. The walk runs in float64.
    optimizer : str, optimizer class or instance
        A name from ``descend.optim.names()`` ("sgd", "momentum", "adam", "lbfgs", ...),
        a class called as ``cls([x], lr=lr, **hyperparameters)``, or an instance holding one
        parameter tensor (which is set to ``x0``).
    steps : int
        The most optimizer steps to take.
    lr : float, optional
        Learning rate. ``None``: the landscape's suggested rate for this optimizer
        (:meth:`Landscape.suggested_lr`), or the optimizer's default for other functions.
    tol : float or None
        Stop when the gradient norm is at most ``tol``; ``None`` always runs ``steps``.
    callback : callable, optional
        ``callback(x, value)`` after each point of the path is evaluated (``x`` a copy of the
        point); returning True ends the walk there with ``success=True``. This is how a search
        stops a descent as soon as it has what it came for (tunnelling stops at the first point
        below the current minimum).
    divergence_factor : float or None, default 1e4
        The growth rule of :func:`descend.train.fit`: a value more than ``divergence_factor *
        max(|f(x_0)|, |f_best|)`` above the lowest value so far ``f_best`` means the walk
        diverged. None: only inf/nan count.
    **hyperparameters
        Passed to the optimizer (``momentum=0.9``, ``betas=(0.9, 0.99)``, ...).

    Returns
    -------
    Result
        ``x`` (the last point reached), ``fun``, ``nit`` (steps taken), ``nfev``/``njev``
        (every evaluation, including those an L-BFGS line search makes), ``success`` (the
        gradient test passed), ``message``, ``path`` (``nit + 1`` rows: x_0 ... x_nit),
        ``values`` (f along the path), ``grad_norms`` (‖∇f‖ along the path),
        ``evaluations`` (``nfev`` when each row of the path was evaluated), plus
        ``optimizer`` and ``hyperparameters``.

    A walk whose value or gradient stops being finite, or whose value grows past the
    ``divergence_factor`` rule, has diverged (the learning rate is too large): it stops with
    ``success=False`` and a message starting with "diverged"; ``x`` and ``path`` end at the
    last point before.
    Overflow on the way there is expected and raises no NumPy warning.
    """
    objective = Objective(fn, jac=jac)
    x0 = _check_x0(x0, objective)
    steps = _check_steps(steps)
    if tol is not None and not (isinstance(tol, (int, float, np.floating)) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number or None, got {tol!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    divergence_factor = check_divergence_factor(divergence_factor, "minimize")
    opt, x, name, hp = make_optimizer(optimizer, x0, lr, hyperparameters, objective.landscape)
    return _walk(objective, opt, x, name, hp, steps, tol, callback, divergence_factor)


def _check_x0(x0, objective) -> np.ndarray:
    arr = np.asarray(x0.data if isinstance(x0, Tensor) else x0)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x0 must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64).reshape(-1) if arr.ndim <= 1 else arr.astype(np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"x0 must be one point of shape (d,), got shape {np.shape(x0)}")
    land = objective.landscape
    if land is not None and arr.size != land.dim:
        raise ValueError(f"x0 has {arr.size} coordinates but {land.name} takes {land.dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"x0 must be finite, got {arr.tolist()}")
    return arr


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    return int(steps)


def _walk(objective, opt, x, name, hp, steps, tol, callback=None, divergence_factor=None) -> Result:
    path, values, gnorms, evals = [], [], [], []
    cache = {}

    def evaluate():
        point = np.array(x.data, dtype=np.float64)
        v, g = objective.value_and_grad(point)
        cache.update(point=point, value=v, grad=g)
        x.grad = g.astype(x.data.dtype, copy=True)
        return v, g

    def closure():
        # The optimizer asks for f at its current point. The first call of a step is at the
        # point just evaluated for the stopping test, so it is answered from the cache (no
        # evaluation counted twice); further calls (a line search) evaluate and count.
        if "point" in cache and np.array_equal(cache["point"], x.data):
            x.grad = cache["grad"].astype(x.data.dtype, copy=True)
            return Tensor._wrap(np.asarray(cache["value"]))
        v, _ = evaluate()
        return Tensor._wrap(np.asarray(v))

    success, message = False, f"maximum number of steps ({steps}) reached"
    nit = 0
    best = np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps + 1):
            v, g = evaluate()
            gn = float(np.sqrt(np.sum(g * g))) if np.all(np.isfinite(g)) else np.inf
            if not (np.isfinite(v) and np.isfinite(gn) and np.all(np.isfinite(x.data))):
                message = f"diverged: f or its gradient stopped being finite at step {k}. {DIVERGENCE_HINT}"
                break
            if values and loss_exploded(v, values[0], best, divergence_factor):
                message = (f"diverged: f = {v:.6g} at step {k}"
                           f"{growth_detail(divergence_factor, values[0], best, 'lowest value')}. "
                           f"{DIVERGENCE_HINT}")
                break
            best = min(best, v)
            path.append(cache["point"])
            values.append(v)
            evals.append(objective.nfev)
            gnorms.append(gn)
            nit = k
            if tol is not None and gn <= tol:
                success = True
                message = f"gradient norm {gn:.3g} <= tol={tol:g} after {k} steps"
                break
            if callback is not None and callback(cache["point"].copy(), v):
                success = True
                message = f"stopped by the callback after {k} steps"
                break
            if k == steps:
                break
            opt.step(closure)
    path = np.array(path, dtype=np.float64).reshape(len(path), -1)
    values = np.array(values, dtype=np.float64)
    return Result(
        x=path[-1].copy() if len(path) else np.full_like(x.data, np.nan),
        fun=float(values[-1]) if len(values) else float("nan"),
        nit=nit, nfev=objective.nfev, njev=objective.njev, success=success, message=message,
        path=path, values=values, grad_norms=np.array(gnorms),
        evaluations=np.array(evals, dtype=np.int64), optimizer=name,
        hyperparameters=hp,
    )


def steps_to_reach(path, point, radius: float = 1e-3) -> int | None:
    """The first step k from which every later point of ``path`` lies within ``radius`` of
    ``point`` (the walker has arrived and stays); ``None`` if the path ends outside."""
    path = np.asarray(path, dtype=np.float64)
    if path.size == 0:
        return None
    d = np.linalg.norm(path - np.asarray(point, dtype=np.float64), axis=-1)
    outside = np.flatnonzero(~(d <= radius))
    if outside.size == 0:
        return 0
    last = int(outside[-1])
    return None if last == len(path) - 1 else last + 1
