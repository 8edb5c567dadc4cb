"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint (``<checkpoint_dir>/checkpoint.npz``, written atomically by
:func:`descend.save`) holds

* ``model``: the model's ``state_dict``; ``optimizer`` and ``scheduler``: theirs;
* ``rng``: the state of the training thread's generator (dropout draws from it), a dict of
  ints and strings as NumPy's ``bit_generator.state`` gives it;
* ``loader``: the shuffling seed and the epoch numbering of the data order;
  the order of an epoch is recomputed from them, so the position in the data
  is just ``(epoch, batch)``;
* ``loop``: that position, the optimizer step count, elapsed time and the
  running sums of the current epoch's metrics;
* ``history`` and the state of the callbacks that have one.

Resuming from it repeats nothing and skips nothing, so a run killed at any
moment (even with SIGKILL, mid-epoch) and resumed ends with the same
parameters, bit for bit, as one never interrupted.
"""

from __future__ import annotations

import os

from .. import random as _random
from ..serialization import CheckpointError, load, save

__all__ = ["CHECKPOINT_NAME", "checkpoint_path", "write_checkpoint", "read_checkpoint", "FORMAT"]

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT = "descend.train/1"
_KEYS = ("format", "model", "optimizer", "scheduler", "rng", "loader", "loop", "history", "callbacks")


def checkpoint_path(checkpoint_dir) -> str:
    return os.path.join(os.fspath(checkpoint_dir), CHECKPOINT_NAME)


def rng_state() -> dict:
    """The calling thread's generator state (JSON-able: ints and strings)."""
    return _random.generator().bit_generator.state


def set_rng_state(state: dict) -> None:
    _random.generator().bit_generator.state = state


def write_checkpoint(path, state: dict) -> None:
    save({"format": FORMAT, **state}, path)


def read_checkpoint(path) -> dict:
    """Load and check a training checkpoint (raises CheckpointError naming the file)."""
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{os.fspath(path)!r} is not a descend training checkpoint (format {FORMAT!r})"
        )
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{os.fspath(path)!r} is damaged: missing {missing}")
    return state
