"""Neural-network building blocks (layers, losses, initialisers)."""

from . import functional  # noqa: F401
