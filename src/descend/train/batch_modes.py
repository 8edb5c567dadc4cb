"""Batch, stochastic and mini-batch gradient descent side by side, on equal terms.

The three differ only in how many examples each update looks at: batch gradient descent
uses all n (the exact gradient, one update per epoch), stochastic gradient descent one
(n noisy updates per epoch), mini-batch descent k (n/k updates of intermediate noise).
:func:`batch_modes` trains copies of one model from the same initial parameters with each,
through the one training loop (:class:`~descend.train.Trainer`), at the same learning rate
and for the same budget of examples seen, and records the full training loss at the same
points of that budget, so the curves compare like with like:

>>> result = batch_modes(model, (X, y), loss="mse", lr=0.05, epochs=20, seed=0)
>>> result.table()      # one row per mode: updates, final loss, noise, seconds
>>> result.runs["stochastic"].history   # the full History of that run
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from .callbacks import Callback
from .guards import check_positive_int, check_seed, model_params, training_loader
from .metrics import binary_threshold, evaluate_arrays, resolve_loss
from .trainer import Trainer

__all__ = ["batch_modes", "BatchModes", "ModeRun", "DEFAULT_MODES"]

#: The article's three variants: all examples, one example, a mini-batch of 32.
DEFAULT_MODES = {"batch": None, "stochastic": 1, "mini-batch 32": 32}


class ModeRun:
    """One mode's run.

    Attributes
    ----------
    name : str
    batch_size : int
        Examples per update (``n`` for batch gradient descent).
    history : History
        The run's record (per-step mini-batch loss, per-epoch records).
    examples : ndarray of int, shape (m,)
        Examples seen at each probe of the full loss (0 first: the shared start).
    updates : ndarray of int, shape (m,)
        Optimizer updates made at each probe.
    full_loss : ndarray, shape (m,)
        The loss over the whole training set at each probe (eval mode, no gradients).
    seconds : float
        Wall time of the training steps, probes excluded.
    noise : float
        The spread of the loss the updates saw in the last epoch: the standard deviation of
        the mini-batch losses of its steps divided by their mean. 0 for batch gradient
        descent, whose every update sees the exact loss.
    rises : float
        Share of the intervals between probes over which the full loss went *up*: a smooth
        descent never climbs; a noisy one often does.
    n_examples : int
        The training set's size.
    """

    def __init__(self, name, batch_size, history, examples, updates, full_loss, seconds, n_examples):
        self.name = name
        self.n_examples = int(n_examples)
        self.batch_size = int(batch_size)
        self.history = history
        self.examples = np.asarray(examples, dtype=np.int64)
        self.updates = np.asarray(updates, dtype=np.int64)
        self.full_loss = np.asarray(full_loss, dtype=np.float64)
        self.seconds = float(seconds)
        self.noise = _last_epoch_spread(history)
        steps = np.diff(self.full_loss)
        self.rises = float(np.mean(steps > 0)) if steps.size else 0.0

    @property
    def step_examples(self) -> np.ndarray:
        """Examples seen after each step of ``history.step_loss`` (an epoch's last batch may
        be smaller than the others)."""
        per_epoch = -(-self.n_examples // self.batch_size)  # ceil: updates in one epoch
        epoch, within = np.divmod(np.arange(1, len(self.history.step_loss) + 1), per_epoch)
        return epoch * self.n_examples + np.minimum(within * self.batch_size, self.n_examples)

    @property
    def final_loss(self) -> float:
        return float(self.full_loss[-1])

    def __repr__(self) -> str:
        return (f"ModeRun({self.name!r}, batch_size={self.batch_size}, updates={int(self.updates[-1])}, "
                f"final_loss={self.final_loss:.4g}, noise={self.noise:.3g}, seconds={self.seconds:.3g})")


class BatchModes:
    """What :func:`batch_modes` returns: ``runs`` (name -> :class:`ModeRun`, in the order given),
    ``n_examples`` (training set size), ``epochs``, ``lr``, ``optimizer`` (its name)."""

    def __init__(self, runs, n_examples, epochs, lr, optimizer):
        self.runs = runs
        self.n_examples = n_examples
        self.epochs = epochs
        self.lr = lr
        self.optimizer = optimizer

    @property
    def histories(self) -> dict:
        """``{name: History}``, ready for ``descend.viz.plot_history``."""
        return {name: run.history for name, run in self.runs.items()}

    TABLE_HEAD = ("mode", "batch size", "updates", "examples seen", "final loss", "noise",
                  "loss rose", "seconds")

    def table(self) -> list[tuple]:
        """One row per mode, in the order of :attr:`TABLE_HEAD`."""
        return [(name, r.batch_size, int(r.updates[-1]), int(r.examples[-1]), r.final_loss, r.noise,
                 r.rises, r.seconds) for name, r in self.runs.items()]

    def __repr__(self) -> str:
        return f"BatchModes(n_examples={self.n_examples}, epochs={self.epochs}, lr={self.lr}, runs={list(self.runs)})"


def _last_epoch_spread(history) -> float:
    if not history.epochs:
        return 0.0
    first = history.epochs[-2]["step"] if len(history.epochs) > 1 else 0
    losses = np.asarray(history.step_loss[first:], dtype=np.float64)
    if losses.size < 2 or not np.all(np.isfinite(losses)):
        return 0.0 if losses.size < 2 else math.nan
    mean = float(np.mean(losses))
    return float(np.std(losses) / mean) if mean > 0 else math.nan


class _FullLossProbe(Callback):
    """Evaluates the full training loss whenever the examples seen pass the next probe point,
    and keeps the time it spends out of the run's wall time.

    The probe points are every ``every`` examples, and before the first of them at 1, 2, 4, 8,
    ... examples: stochastic descent makes most of its progress in the first few dozen
    updates, which evenly spaced probes would step over."""

    def __init__(self, X, y, loss_fn, threshold, n, batch_size, every):
        self.X, self.y, self.loss_fn, self.threshold = X, y, loss_fn, threshold
        self.n, self.batch_size, self.every = n, batch_size, every
        self.examples, self.updates, self.losses = [], [], []
        self.probe_seconds = 0.0
        self.next_mark = 0
        self.seen = self.steps = 0

    def _probe(self, model, seen, updates):
        t0 = time.perf_counter()
        self.losses.append(evaluate_arrays(model, self.X, self.y, self.loss_fn, (), self.threshold)["loss"])
        self.examples.append(seen)
        self.updates.append(updates)
        early = 1 << seen.bit_length()  # the next power of two above seen
        self.next_mark = early if early < self.every else (seen // self.every + 1) * self.every
        self.probe_seconds += time.perf_counter() - t0

    def on_train_begin(self, state):
        self._probe(state.model, 0, 0)

    def on_step_end(self, state):
        self.seen = state.epoch * self.n + min(state.batch * self.batch_size, self.n)
        self.steps = state.step
        if self.seen >= self.next_mark:
            self._probe(state.model, self.seen, state.step)

    def on_train_end(self, state):
        if self.examples[-1] != self.seen:  # the budget's end, wherever the last probe point was
            self._probe(state.model, self.seen, self.steps)


def batch_modes(model, train, *, loss, lr: float, epochs: int = 10, modes=None, optimizer: str = "sgd",
                seed: int = 0, probes_per_epoch: int = 10, progress: bool = False,
                **fit_options) -> BatchModes:
    """Train copies of ``model`` with batch, stochastic and mini-batch gradient descent.

    Every mode starts from ``model``'s current parameters (each trains a deep copy; ``model``
    itself is left as it is), uses the same optimizer and learning rate, sees the same data
    in the same shuffled order per epoch (``seed``) and the same budget: ``epochs`` passes,
    ``epochs * n`` examples. Batch descent makes ``epochs`` updates, stochastic
    ``epochs * n``, mini-batch k ``epochs * ceil(n / k)``.

    Parameters
    ----------
    model : descend.nn.Module
    train : Dataset or tuple ``(X, y)``
    loss : str or callable
        As in :func:`~descend.train.fit`.
    lr : float
        The one learning rate all modes use.
    epochs : int
        The budget, in passes over the data.
    modes : dict {name: batch_size}, optional
        Batch sizes to compare (``None`` = the whole set); default :data:`DEFAULT_MODES`.
    optimizer : str
        A name from ``descend.optim.names()``, built with ``lr`` for each copy.
    seed : int
        Data order and the generator (dropout) of every run: one seed reproduces them all.
    probes_per_epoch : int
        How often the full training loss is measured: every ``n / probes_per_epoch`` examples
        seen, and at 1, 2, 4, ... examples before that (a mode is measured after the first
        update that passes a point: batch descent, which sees n at a time, after each update).
    progress : bool
        Show each run's progress bar.
    **fit_options
        Any other option of :func:`~descend.train.fit` (``max_time``, ``compile``, ...).

    Returns
    -------
    BatchModes
    """
    where = "batch_modes"
    params = model_params(model, where)
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"{where}: lr must be a positive number, got {lr!r}")
    epochs = check_positive_int(epochs, "epochs (the budget)", allow_none=False, where=where)
    probes_per_epoch = check_positive_int(probes_per_epoch, "probes_per_epoch", allow_none=False,
                                          where=where)
    seed = check_seed(seed, where)
    modes = dict(DEFAULT_MODES if modes is None else modes)
    if not modes:
        raise ValueError(f"{where}: modes must name at least one batch size")
    for name, size in modes.items():
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
            raise ValueError(f"{where}: modes[{name!r}] must be a positive batch size or None, got {size!r}")
    for key in ("batch_size", "epochs", "optimizer", "callbacks", "max_steps"):
        if key in fit_options:
            raise TypeError(f"{where}: {key} is set by batch_modes itself and cannot be passed")
    from .. import optim

    if optimizer not in optim.names():
        raise ValueError(f"{where}: unknown optimizer {optimizer!r}; choose one of: {', '.join(optim.names())}")
    loss_fn = resolve_loss(loss, where)
    from ..data.loader import DataLoader

    if isinstance(train, DataLoader):
        raise TypeError(f"{where}: train must be a Dataset or a tuple (X, y), not a DataLoader "
                        "(batch_modes chooses the batch sizes itself)")
    X, y = training_loader(train, None, True, seed, params[0].data.dtype, model=model).dataset.arrays
    n = len(X)
    runs = {}
    for name, size in modes.items():
        batch = n if size is None else min(int(size), n)
        copy_ = copy.deepcopy(model)
        opt = optim.get(optimizer, copy_.parameters(), lr=float(lr))
        probe = _FullLossProbe(X, y, loss_fn, binary_threshold(loss), n, batch,
                               every=max(1, n // probes_per_epoch))
        trainer = Trainer(copy_, (X, y), loss=loss, optimizer=opt, batch_size=batch, epochs=epochs,
                          seed=seed, progress=progress, callbacks=[probe], **fit_options)
        t0 = time.perf_counter()
        history = trainer.run()
        seconds = time.perf_counter() - t0 - probe.probe_seconds
        runs[name] = ModeRun(name, batch, history, probe.examples, probe.updates, probe.losses, seconds, n)
    return BatchModes(runs, n, epochs, float(lr), optimizer)
