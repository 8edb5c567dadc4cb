"""Callbacks: code that runs at fixed points of :func:`descend.train.fit`.

A callback is any object with some of these methods; each receives the
:class:`TrainState` of the run:

================== ==========================================================
``on_train_begin``  before the first step (after a resumed run is restored)
``on_epoch_begin``  before an epoch's first step
``on_step_end``     after each optimizer step (``state.loss``, ``state.lr``)
``on_epoch_end``    after an epoch's record is complete (``state.logs``)
``on_train_end``    once, after training stopped (``state.stop_reason``)
================== ==========================================================

Call ``state.request_stop()`` to end training after the current step or
epoch. Callbacks with ``state_dict``/``load_state_dict`` are checkpointed
with the run, so that a resumed run behaves as if never interrupted.
``on_step_end`` runs in the hot loop: fit calls it only for callbacks that
define it.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from .guards import counted

__all__ = [
    "Callback", "TrainState", "EarlyStopping", "ModelCheckpoint", "LearningRateMonitor",
    "CSVLogger",
]


class TrainState:
    """The run as callbacks see it.

    Attributes: ``model``, ``optimizer``, ``scheduler``, ``history``,
    ``epoch`` (0-based index of the current epoch), ``batch`` (batches done in
    it), ``step`` (optimizer steps done in total), ``loss`` and ``lr`` (of the
    last step), ``logs`` (the epoch record, at epoch end), ``resumed`` (the run
    continues a checkpoint), ``stop_reason`` (at train end).
    """

    def __init__(self, model, optimizer, scheduler, history):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.history = history
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self.loss = math.nan
        self.lr = math.nan
        self.logs: dict = {}
        self.resumed = False
        self.stop_reason: str | None = None
        self.stop_requested: str | None = None
        self.stop_message = ""

    def request_stop(self, reason: str = "callback", message: str = "") -> None:
        """Stop training at the end of the current step (or epoch, from ``on_epoch_end``)."""
        if self.stop_requested is None:
            self.stop_requested = reason
            self.stop_message = message


class Callback:
    """Base class with do-nothing hooks; override the ones you need."""

    def on_train_begin(self, state: TrainState) -> None:
        pass

    def on_epoch_begin(self, state: TrainState) -> None:
        pass

    def on_step_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass


def _better(mode: str, value: float, best: float, min_delta: float) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _check_mode(mode: str, where: str) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"{where}: mode must be 'min' or 'max', got {mode!r}")
    return mode


def _monitored(state: TrainState, monitor: str, where: str) -> float:
    if monitor not in state.logs:
        hint = " (pass validation= to fit)" if monitor.startswith("val_") else ""
        raise ValueError(
            f"{where}: monitored quantity {monitor!r} is not in the epoch record{hint}; "
            f"available: {sorted(state.logs)}"
        )
    return float(state.logs[monitor])


def _copy_params(model) -> dict:
    return {k: np.array(v.data if hasattr(v, "data") and not isinstance(v, np.ndarray) else v, copy=True)
            for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best parameters.

    "Improved" means lower by more than ``min_delta`` (``mode="min"``) or higher
    (``mode="max"``). With ``restore_best_weights=True`` (the default here,
    unlike Keras) the model ends training with the parameters of its best
    epoch *whether or not patience ran out* - also when training stopped for
    another reason (epochs, max_steps, max_time).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min", restore_best_weights: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be a positive integer, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.mode = _check_mode(mode, "EarlyStopping")
        self.restore_best_weights = bool(restore_best_weights)
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.best_state = None

    def on_train_begin(self, state):
        if not state.resumed:
            self.best, self.best_epoch, self.wait, self.best_state = None, None, 0, None

    def on_epoch_end(self, state):
        value = _monitored(state, self.monitor, "EarlyStopping")
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, state.logs.get("epoch"), 0
            if self.restore_best_weights:
                self.best_state = _copy_params(state.model)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                state.request_stop(
                    "early_stopping",
                    f"{self.monitor} did not improve for {counted(self.patience, 'epoch')}; best "
                    f"{self.monitor}={self.best:.6g} at epoch {self.best_epoch}"
                    if self.best is not None else f"{self.monitor} was never finite",
                )

    def on_train_end(self, state):
        if self.restore_best_weights and self.best_state is not None:
            state.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = int(state["wait"])
        self.best_state = state["best_state"]


class ModelCheckpoint(Callback):
    """Save the model's ``state_dict`` (with :func:`descend.save`) at the end of epochs.

    ``filepath`` may contain format fields from the epoch record, e.g.
    ``"runs/model-{epoch:03d}-{val_loss:.4f}.npz"``. With ``save_best_only``
    a file is written only when ``monitor`` improves (then a fixed name keeps
    just the best model). ``best_model_path``/``best_score`` and
    ``last_model_path`` tell what was written.
    """

    def __init__(self, filepath, monitor: str | None = None, mode: str = "min",
                 save_best_only: bool = False, every_n_epochs: int = 1):
        if save_best_only and monitor is None:
            monitor = "val_loss"
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"ModelCheckpoint: every_n_epochs must be a positive integer, got {every_n_epochs!r}")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.mode = _check_mode(mode, "ModelCheckpoint")
        self.save_best_only = bool(save_best_only)
        self.every_n_epochs = every_n_epochs
        self.best_score = None
        self.best_model_path = None
        self.last_model_path = None

    def on_epoch_end(self, state):
        from ..serialization import save

        epoch = int(state.logs.get("epoch", state.epoch + 1))
        if epoch % self.every_n_epochs:
            return
        improved = False
        if self.monitor is not None:
            value = _monitored(state, self.monitor, "ModelCheckpoint")
            improved = _better(self.mode, value, self.best_score, 0.0)
            if improved:
                self.best_score = value
        if self.save_best_only and not improved:
            return
        try:
            path = self.filepath.format(**state.logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"ModelCheckpoint: cannot fill in filepath {self.filepath!r} from the epoch record "
                f"{sorted(state.logs)}: {exc}"
            ) from None
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        save(state.model.state_dict(), path)
        self.last_model_path = path
        if improved:
            self.best_model_path = path

    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_model_path": self.best_model_path,
                "last_model_path": self.last_model_path}

    def load_state_dict(self, state: dict) -> None:
        self.best_score = state["best_score"]
        self.best_model_path = state["best_model_path"]
        self.last_model_path = state["last_model_path"]


class LearningRateMonitor(Callback):
    """Record the learning rate of every parameter group, per epoch or per step.

    After training, ``lrs`` is a list of lists (one inner list of group rates
    per record) and ``steps`` the optimizer step of each record.
    """

    def __init__(self, logging_interval: str = "epoch"):
        if logging_interval not in ("epoch", "step"):
            raise ValueError(f"LearningRateMonitor: logging_interval must be 'epoch' or 'step', got {logging_interval!r}")
        self.logging_interval = logging_interval
        self.lrs: list[list[float]] = []
        self.steps: list[int] = []
        if logging_interval == "epoch":  # keep the per-step hook out of the hot loop
            self.on_step_end = None

    def _log(self, state):
        self.lrs.append([float(g["lr"]) for g in state.optimizer.param_groups])
        self.steps.append(state.step)

    def on_train_begin(self, state):
        if not state.resumed:
            self.lrs, self.steps = [], []

    def on_step_end(self, state):  # noqa: F811 - removed per instance for epoch logging
        self._log(state)

    def on_epoch_begin(self, state):
        if self.logging_interval == "epoch":
            self._log(state)  # the rate this epoch's steps use

    def state_dict(self) -> dict:
        return {"lrs": [list(v) for v in self.lrs], "steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        self.lrs = [list(map(float, v)) for v in state["lrs"]]
        self.steps = [int(s) for s in state["steps"]]


class CSVLogger(Callback):
    """Append each epoch record to a CSV file as soon as the epoch ends (flushed).

    ``append=False`` starts a new file. A resumed run rewrites the file from
    the checkpointed history first, so epochs redone after a crash do not
    appear twice.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._columns: list[str] | None = None

    def _write_rows(self, rows, mode: str, header: bool):
        with open(self.filename, mode, newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, delimiter=self.separator)
            if header:
                w.writerow(self._columns)
            for rec in rows:
                w.writerow(["" if rec.get(c) is None else rec[c] for c in self._columns])
            fh.flush()

    def on_train_begin(self, state):
        d = os.path.dirname(os.path.abspath(self.filename))
        if not os.path.isdir(d):
            raise FileNotFoundError(f"CSVLogger: directory {d!r} for {self.filename!r} does not exist")
        self._columns = None
        self._rewrite = state.resumed
        if not state.resumed and not self.append and os.path.exists(self.filename):
            os.remove(self.filename)

    def on_epoch_end(self, state):
        if self._columns is None:
            self._columns = list(state.logs)
            if self._rewrite:  # resumed: the file restarts from the checkpointed history
                self._write_rows(state.history.epochs, "w", header=True)
                return
            header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0)
            self._write_rows([state.logs], "a", header=header)
            return
        self._write_rows([state.logs], "a", header=False)
