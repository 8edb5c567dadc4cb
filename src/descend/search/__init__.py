"""The alternatives to gradients: random search, local random search, simulated annealing,
gradient descent with restarts (multistart, basin hopping) and tunnelling.

Every method takes a :class:`~descend.landscapes.Landscape` or a plain Python function of a
NumPy array, and returns the same :class:`~descend.landscapes.Result` as
:func:`~descend.landscapes.minimize`, with every evaluation counted in ``nfev`` (values) and
``njev`` (gradients), so methods can be compared on what they spent. A seed reproduces a run
exactly; without one they draw from descend's global generator (``descend.manual_seed``).

>>> from descend import landscapes, search
>>> r = search.random_search(landscapes.sphere(), n_samples=1000, seed=0)
>>> r.nfev, r.njev
(1000, 0)
"""

from __future__ import annotations

from ..landscapes.result import Result
from .annealing import simulated_annealing, temperatures
from .restarts import basin_hopping, multistart
from .sampling import random_local_search, random_search
from .tunneling import tunneling, tunneling_function

__all__ = [
    "random_search", "random_local_search", "simulated_annealing", "temperatures",
    "multistart", "basin_hopping", "tunneling", "tunneling_function", "Result",
]
