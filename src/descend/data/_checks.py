"""Argument checks shared by the data modules."""

from __future__ import annotations

import numbers


def is_int_at_least(value, minimum: int) -> bool:
    """True for an integer (Python or NumPy) >= ``minimum``; ``bool`` does not count, although
    it is an ``int`` subclass, since ``True`` as a count or a seed is a mistake, not a 1."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= minimum
