"""The result of a minimisation or a search, named as ``scipy.optimize.OptimizeResult``."""

from __future__ import annotations

import numpy as np

__all__ = ["Result"]


class Result:
    """What a run found and what it cost; fields are attributes, also readable as ``r["x"]``.

    Fields (shared by :func:`~descend.landscapes.minimize` and every method of
    :mod:`descend.search`):

    ``x``
        The best point found, shape ``(d,)``.
    ``fun``
        f(x).
    ``nit``
        Iterations (optimizer steps, samples, proposals, hops).
    ``nfev``
        Evaluations of f, every one counted (line searches and restarts included).
    ``njev``
        Evaluations of the gradient (0 for the gradient-free methods).
    ``success``, ``message``
        Whether the run stopped for a good reason, and which.
    ``path``
        Visited points, one row per step, shape ``(n, d)`` (for random search: every sample).
    ``values``
        f at each row of ``path``, shape ``(n,)``.
    ``evaluations``
        ``nfev`` when each row of ``path`` was known, shape ``(n,)``.

    Methods add their own fields (``optimizer``, ``hyperparameters``, ``runs``, ...). Unlike
    ``scipy.optimize.OptimizeResult`` this is not a dict subclass, so that ``values`` can be a
    field; ``keys()``, ``items()``, ``get()``, ``in`` and ``r[key]`` work as on a dict.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __getitem__(self, key):
        try:
            return self.__dict__[key]
        except KeyError:
            raise KeyError(f"Result has no field {key!r}; fields: {', '.join(self.__dict__)}") from None

    def __setitem__(self, key, value):
        self.__dict__[key] = value

    def __contains__(self, key) -> bool:
        return key in self.__dict__

    def __iter__(self):
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)

    def keys(self):
        return self.__dict__.keys()

    def items(self):
        return self.__dict__.items()

    def get(self, key, default=None):
        return self.__dict__.get(key, default)

    def to_dict(self) -> dict:
        """The fields as a plain dict (arrays not copied)."""
        return dict(self.__dict__)

    @property
    def best_values(self) -> np.ndarray:
        """The running minimum of ``values``: the best value found after each row of ``path``."""
        v = np.asarray(self.values, dtype=np.float64)
        return np.fmin.accumulate(v) if v.size else v

    def trace(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Everything recorded, in the order it was spent: ``(evaluations, values, points)``.

        ``evaluations[i]`` is the number of function evaluations spent when ``values[i]`` (at
        ``points[i]``) was known. Results made of several runs (``runs``: multistart, basin
        hopping) chain their runs, offsetting each by what the earlier ones spent, so the
        best value against evaluations can be compared across methods
        (:meth:`best_trace`).
        """
        if self.get("runs"):
            ev, va, pt, offset = [], [], [], 0
            for run in self["runs"]:
                e, v, p = run.trace()
                ev.append(e + offset)
                va.append(v)
                pt.append(p)
                offset += int(run["nfev"])
            return np.concatenate(ev), np.concatenate(va), np.concatenate(pt)
        values = np.asarray(self.values, dtype=np.float64)
        points = np.asarray(self.path, dtype=np.float64)
        evals = self.get("evaluations")
        if evals is None:
            evals = np.arange(1, len(values) + 1)
        return np.asarray(evals, dtype=np.int64), values, points

    def best_trace(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(evaluations, best value so far, best point so far)`` along :meth:`trace`."""
        evals, values, points = self.trace()
        safe = np.where(np.isfinite(values), values, np.inf)
        best = np.fmin.accumulate(safe) if safe.size else safe
        # index of the point holding the running minimum (the first one to reach it)
        improved = np.r_[True, safe[1:] < best[:-1]] if safe.size else np.zeros(0, dtype=bool)
        idx = np.maximum.accumulate(np.where(improved, np.arange(len(safe)), 0))
        return evals, best, points[idx] if len(points) else points

    def __repr__(self) -> str:
        if not self.__dict__:
            return "Result()"
        width = max(map(len, self.__dict__)) + 1
        lines = []
        for k, v in self.__dict__.items():
            if isinstance(v, np.ndarray) and v.ndim >= 1 and v.size > 6:
                text = f"array of shape {v.shape}"
            elif isinstance(v, list) and len(v) > 3:
                text = f"list of {len(v)}"
            else:
                text = repr(v)
            lines.append(f"{k.rjust(width)}: {text}")
        return "\n".join(lines)
