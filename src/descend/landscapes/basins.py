"""Basins of attraction: which minimum does the walker reach from each starting point?"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..autograd import set_grad_enabled
from ..ops import sum as _sum
from ._optimizers import COUPLED, make_optimizer, optimizer_name
from .functions import Landscape, as_landscape
from .minimize import _check_steps

__all__ = ["BasinMap", "basins"]


@dataclass(eq=False)
class BasinMap:
    """Where gradient descent from each point of a grid ends up.

    Grids are indexed ``[row, column] = [y index, x index]`` (``imshow(origin="lower")``
    draws them the right way up).

    Attributes
    ----------
    landscape : Landscape
    optimizer : str
    hyperparameters : dict
        What the optimizer was built with (``lr`` included).
    xs, ys : ndarray, shapes (nx,), (ny,)
        The grid's coordinates.
    labels : ndarray of int, shape (ny, nx)
        Index into ``landscape.minima`` of the minimum each start converged to (ended within
        ``tol`` of, and stayed); -1 for none (still on its way, stuck elsewhere, diverged).
    steps : ndarray of int, shape (ny, nx)
        The step from which each start stayed within ``tol`` of its minimum; -1 where the
        label is -1.
    final : ndarray, shape (ny, nx, 2)
        Where each start ended (non-finite where it diverged).
    values : ndarray, shape (ny, nx)
        f at ``final``.
    diverged : ndarray of bool, shape (ny, nx)
    tol : float
    n_steps : int
        Steps each start took.
    nfev, njev : int
        Function and gradient evaluations over the whole grid.
    seconds : float
        Wall-clock time of the batched run.
    """

    landscape: Landscape
    optimizer: str
    hyperparameters: dict
    xs: np.ndarray
    ys: np.ndarray
    labels: np.ndarray
    steps: np.ndarray
    final: np.ndarray
    values: np.ndarray
    diverged: np.ndarray
    tol: float
    n_steps: int
    nfev: int
    njev: int
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def minima(self) -> list:
        return self.landscape.minima

    @property
    def starts(self) -> np.ndarray:
        """The starting points, shape (ny·nx, 2), in the grid's row-major order."""
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    @property
    def global_share(self) -> float:
        """Share of starts that converged to a global minimum."""
        glob = [i for i, m in enumerate(self.minima) if m.is_global]
        return float(np.isin(self.labels, glob).mean())

    @property
    def shares(self) -> dict:
        """Share of starts per label (index into ``minima``; -1 for none/diverged)."""
        out = {i: float((self.labels == i).mean()) for i in range(len(self.minima))}
        out[-1] = float((self.labels == -1).mean())
        return out

    def median_steps(self, label: int) -> float | None:
        """Median steps to converge among the starts with this label (None if there are none)."""
        s = self.steps[self.labels == label]
        return float(np.median(s)) if s.size else None

    def __repr__(self) -> str:
        ny, nx = self.labels.shape
        return (f"BasinMap({self.landscape.name!r}, optimizer={self.optimizer!r}, grid={nx}x{ny}, "
                f"global_share={self.global_share:.3f}, diverged={self.diverged.mean():.3f})")


def basins(fn, optimizer="sgd", lr=None, steps: int = 500, resolution=100, domain=None,
           tol: float = 1e-3, cluster=None, **hyperparameters) -> BasinMap:
    """Run ``optimizer`` from every point of a grid at once and label where each start ends.

    All starts are rows of one (N, 2) float64 tensor; the loss is Σᵢ f(xᵢ), whose gradient
    with respect to row i is ∇f(xᵢ), so an elementwise optimizer (sgd, momentum, nesterov,
    adagrad, rmsprop, adadelta, adam, adamw, adamax, nadam, radam) moves every start exactly
    as if it ran alone — one batched run instead of N Python loops. L-BFGS couples the
    coordinates (line search, curvature pairs) and is refused.

    Parameters
    ----------
    fn : Landscape or landscape factory (2-D, with known minima)
    optimizer, lr, **hyperparameters
        As in :func:`~descend.landscapes.minimize` (``lr=None``: the landscape's suggestion).
    steps : int
        Steps every start takes.
    resolution : int or (nx, ny)
        Grid points per axis.
    domain : ((xmin, xmax), (ymin, ymax)), optional
        Defaults to the landscape's domain.
    tol : float
        A start has converged to a minimum if, from some step on, it stays within ``tol``
        (Euclidean distance) of it.
    cluster : optional
        Split the grid's starts into chunks run as Dask tasks (extra ``distributed``): an
        address, a scheduler file, a ``distributed.Client``, a cluster object or ``"local"``
        (see :mod:`descend.distributed.cluster`). Every start moves as if it ran alone, so
        the map is the same as without a cluster. None: one batched run here.

    Diverging starts overflow by design; the run ignores NumPy overflow warnings and labels
    them -1 with ``diverged`` set.
    """
    land = as_landscape(fn)
    if not isinstance(land, Landscape):
        raise TypeError("basins: fn must be a Landscape (its known minima label the basins)")
    if land.dim != 2:
        raise ValueError(f"basins: needs a 2-D landscape, {land.name} has dim={land.dim}")
    if optimizer_name(optimizer) in COUPLED:
        raise ValueError(
            f"basins: optimizer {optimizer_name(optimizer)!r} couples coordinates (line search), "
            "so the grid's starts cannot share one batched run; use an elementwise optimizer "
            "(sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, ...)"
        )
    steps = _check_steps(steps)
    nx, ny = _resolution(resolution)
    (x0, x1), (y0, y1) = _domain(domain, land)
    if not tol > 0:
        raise ValueError(f"basins: tol must be positive, got {tol!r}")
    xs, ys = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    gx, gy = np.meshgrid(xs, ys)
    starts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    n = len(starts)

    minima = land.minima_points  # (m, 2)
    begin = time.perf_counter()
    if cluster is None:
        name, hp, last_outside, blown, final, values = _descend_grid(
            starts, land, optimizer, lr, hyperparameters, steps, tol)
    else:
        if hasattr(optimizer, "param_groups"):
            raise TypeError("basins: with cluster=, pass the optimizer as a name or a class (an instance "
                            "holds one tensor of starts, which cannot be split across workers)")
        make_optimizer(optimizer, starts[:1], lr, hyperparameters, land)  # bad settings fail here, not remotely
        # extra 'distributed', imported only when asked for
        from ..distributed.chunks import map_chunks

        chunks = map_chunks(_descend_grid, starts, land, optimizer, lr, hyperparameters, steps, tol,
                            cluster=cluster, where="basins")
        name, hp = chunks[0][0], chunks[0][1]
        last_outside, blown, final, values = (np.concatenate([ch[k] for ch in chunks]) for k in range(2, 6))
    seconds = time.perf_counter() - begin

    diverged = blown | ~(np.all(np.isfinite(final), axis=1) & np.isfinite(values))
    converged = last_outside < steps  # (n, m): within tol at the end and from some step on
    with np.errstate(over="ignore", invalid="ignore"):
        d2 = np.where(converged, np.square(final[:, None, :] - minima[None]).sum(-1), np.inf)
    labels = np.where(converged.any(axis=1), np.argmin(d2, axis=1), -1)
    labels[diverged] = -1
    step_of = np.where(labels >= 0, last_outside[np.arange(n), np.maximum(labels, 0)] + 1, -1)
    return BasinMap(
        landscape=land, optimizer=name, hyperparameters=hp, xs=xs, ys=ys,
        labels=labels.reshape(ny, nx), steps=step_of.reshape(ny, nx),
        final=final.reshape(ny, nx, 2), values=values.reshape(ny, nx),
        diverged=diverged.reshape(ny, nx), tol=float(tol), n_steps=steps,
        nfev=n * (steps + 1), njev=n * steps, seconds=seconds,
    )


def _descend_grid(starts, land, optimizer, lr, hyperparameters, steps, tol):
    """Run the optimizer from every row of ``starts`` at once (one batched tensor).

    Returns ``(name, hyperparameters, last_outside, blown, final, values)``: the optimizer's
    name and settings; for each start and known minimum the last step at which the start
    was farther than ``tol`` from it, shape (n, m); whether its gradient ever overflowed,
    (n,); where it ended, (n, 2); and f there, (n,). Rows never interact, so any split of
    ``starts`` into chunks gives the same rows.
    """
    n = len(starts)
    opt, x, name, hp = make_optimizer(optimizer, starts, lr, hyperparameters, land)
    minima = land.minima_points  # (m, 2)
    m = len(minima)
    tol2 = float(tol) ** 2
    # last_outside[i, j]: the last step at which start i was farther than tol from minimum j;
    # start i has converged to j from step last_outside + 1 on, if that is not past the end.
    last_outside = np.full((n, m), -1, dtype=np.int64)
    blown = np.zeros(n, dtype=bool)  # starts whose gradient overflowed at some step
    with np.errstate(over="ignore", invalid="ignore"), set_grad_enabled(True):
        for k in range(steps + 1):
            p = x.data
            d2 = np.square(p[:, None, 0] - minima[None, :, 0]) + np.square(p[:, None, 1] - minima[None, :, 1])
            last_outside[~(d2 <= tol2)] = k
            if k == steps:
                break
            opt.zero_grad()
            loss = _sum(land.fn(x))
            loss.backward()
            g = x.grad
            bad = ~np.all(np.isfinite(g), axis=1)
            if bad.any():
                # A start that overflowed has diverged; give it a zero gradient so that the
                # optimizer (which refuses non-finite gradients) goes on with the others.
                blown |= bad
                x.grad = np.where(bad[:, None], 0.0, g)
            opt.step()
        final = np.array(x.data, dtype=np.float64)
        values = np.asarray(land(final), dtype=np.float64).reshape(n)
    return name, hp, last_outside, blown, final, values


def _resolution(resolution) -> tuple[int, int]:
    if isinstance(resolution, (int, np.integer)) and not isinstance(resolution, bool):
        nx = ny = int(resolution)
    else:
        try:
            nx, ny = (int(r) for r in resolution)
        except (TypeError, ValueError):
            raise ValueError(f"basins: resolution must be an int or (nx, ny), got {resolution!r}") from None
    if nx < 2 or ny < 2:
        raise ValueError(f"basins: resolution must be at least 2 per axis, got {resolution!r}")
    return nx, ny


def _domain(domain, land):
    if domain is None:
        return land.domain
    try:
        (x0, x1), (y0, y1) = domain
        x0, x1, y0, y1 = float(x0), float(x1), float(y0), float(y1)
    except (TypeError, ValueError):
        raise ValueError(f"domain must be ((xmin, xmax), (ymin, ymax)), got {domain!r}") from None
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"domain: each range must have min < max, got {domain!r}")
    return (x0, x1), (y0, y1)
