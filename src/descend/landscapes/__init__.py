"""Optimisation landscapes: test functions with known minima, and gradient descent on them.

>>> from descend import landscapes
>>> him = landscapes.get("himmelblau")
>>> res = landscapes.minimize(him, [-4.0, 4.0], optimizer="sgd", lr=0.01, steps=200)
>>> him.nearest_minimum(res.x)[0]       # index of the minimum it walked into
1
>>> bm = landscapes.basins(him, optimizer="sgd", lr=0.01, resolution=50)
>>> round(bm.global_share, 2)           # every Himmelblau minimum is global
1.0

NumPy only; the pictures are in :mod:`descend.viz`.
"""

from __future__ import annotations

from .basins import BasinMap, basins
from .functions import (
    Landscape,
    Minimum,
    ackley,
    as_landscape,
    beale,
    booth,
    get,
    goldstein_price,
    himmelblau,
    matyas,
    names,
    quadratic,
    rastrigin,
    rosenbrock,
    six_hump_camel,
    sphere,
    styblinski_tang,
)
from .minimize import minimize, steps_to_reach
from .objective import Objective
from .result import Result

__all__ = [
    "Landscape", "Minimum", "Result", "BasinMap", "Objective", "get", "names", "as_landscape",
    "minimize", "basins", "steps_to_reach",
    "quadratic", "sphere", "rosenbrock", "himmelblau", "rastrigin", "ackley", "beale", "booth",
    "goldstein_price", "six_hump_camel", "styblinski_tang", "matyas",
]
