"""``DataLoader``: a dataset cut into (shuffled) batches, one epoch per iteration.

``batch_size`` picks the flavour of gradient descent:

* ``None`` - the whole dataset in one batch: **batch** gradient descent, one
  step per epoch on the exact gradient of the training loss;
* ``1`` - one example per step: **stochastic** gradient descent;
* ``k`` - ``k`` examples per step: **mini-batch** gradient descent, an unbiased
  estimate of the full gradient whose variance falls like ``1/k``.

Shuffling is reproducible: the order of epoch ``e`` is the permutation drawn by
``numpy.random.default_rng([seed, e])``. It depends on nothing but the seed and
the epoch number, so a resumed run can recompute where it was from those two
numbers alone (see :meth:`DataLoader.state_dict`).
"""

from __future__ import annotations

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from ._checks import is_int_at_least
from .dataset import Dataset, _array_backed, _collate

__all__ = ["DataLoader"]


def _check_seed(seed, where: str):
    if seed is None:
        return None
    if not is_int_at_least(seed, 0):
        raise ValueError(f"{where}: seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Parameters
    ----------
    dataset : Dataset, tuple of arrays, or any object with ``__len__`` and ``__getitem__``
        A tuple ``(X, y)`` is wrapped as ``Dataset(X, y)``.
    batch_size : int or None, default 1
        Examples per batch; ``None`` means the whole dataset (batch gradient descent).
    shuffle : bool, default False
        Visit the examples in a new random order every epoch.
    drop_last : bool, default False
        Drop the last batch of an epoch when it is smaller than ``batch_size``.
    seed : int or None
        Seed of the shuffling. ``None`` draws one from the global generator
        (:func:`descend.manual_seed`) when the loader is made.

    Each iteration is one epoch and yields tuples of :class:`~descend.Tensor`
    batches, e.g. ``for x, y in loader:`` with ``x`` of shape ``(batch, d)``.
    """

    def __init__(self, dataset, batch_size=1, shuffle: bool = False, drop_last: bool = False,
                 seed=None):
        if isinstance(dataset, tuple):
            dataset = Dataset(*dataset)
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader: dataset must be a Dataset, a tuple of arrays or an object with "
                f"__len__ and __getitem__, got {type(dataset).__name__}"
            )
        if batch_size is not None and not is_int_at_least(batch_size, 1):
            raise ValueError(
                f"DataLoader: batch_size must be a positive integer or None (whole dataset), "
                f"got {batch_size!r}"
            )
        n = len(dataset)
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        seed = _check_seed(seed, "DataLoader")
        if seed is None and self.shuffle:
            seed = int(_random.generator().integers(2**63))
        self.seed = seed
        self.epoch = 0
        self._fast = _array_backed(dataset)
        if self.drop_last and len(self) == 0:
            raise ValueError(
                f"DataLoader: drop_last=True with batch_size={batch_size} leaves no batch from "
                f"{n} examples"
            )

    # -- sizes ---------------------------------------------------------------------
    @property
    def _bs(self) -> int:
        return len(self.dataset) if self.batch_size is None else self.batch_size

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        bs = self._bs
        return n // bs if self.drop_last else -(-n // bs)

    # -- order ---------------------------------------------------------------------
    def order(self, epoch: int) -> np.ndarray | None:
        """Indices of the examples in the order epoch ``epoch`` visits them (None: in order)."""
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.dataset))

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration be epoch ``epoch`` (its shuffle order)."""
        if not is_int_at_least(epoch, 0):
            raise ValueError(f"set_epoch: epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def batches(self, epoch: int, start: int = 0):
        """Yield the batches of epoch ``epoch`` as tuples of NumPy arrays, from batch ``start``.

        The fast path for array datasets: one fancy-indexing per array and batch
        (a view, no copy, when not shuffling).
        """
        n = len(self.dataset)
        bs = self._bs
        nb = len(self)
        perm = self.order(epoch)
        if self._fast:
            arrays = self.dataset.arrays
            if perm is None and nb == 1 and bs >= n:
                if start == 0:
                    yield arrays
                return
            for b in range(start, nb):
                lo = b * bs
                if perm is None:
                    sl = slice(lo, lo + bs)
                    yield tuple(a[sl] for a in arrays)
                else:
                    idx = perm[lo:lo + bs]
                    yield tuple(a[idx] for a in arrays)
            return
        for b in range(start, nb):
            lo = b * bs
            idx = range(lo, min(lo + bs, n)) if perm is None else perm[lo:lo + bs]
            batch = _collate([self.dataset[int(i)] for i in idx])
            yield batch if isinstance(batch, tuple) else (batch,)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        for batch in self.batches(epoch):
            yield tuple(Tensor._wrap(np.ascontiguousarray(a)) for a in batch)

    # -- checkpointing -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"seed", "epoch"}``: all a resumed run needs to reproduce the order."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or "epoch" not in state or "seed" not in state:
            raise ValueError("DataLoader.load_state_dict: expected a dict with 'seed' and 'epoch'")
        self.seed = _check_seed(state["seed"], "DataLoader.load_state_dict")
        if self.shuffle and self.seed is None:
            raise ValueError("DataLoader.load_state_dict: a shuffling loader needs a seed")
        self.set_epoch(state["epoch"])

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed})"
        )
