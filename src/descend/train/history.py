"""``History``: what happened during :func:`descend.train.fit`."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

__all__ = ["History", "STOP_REASONS"]

STOP_REASONS = {
    "epochs": "ran all the requested epochs",
    "max_steps": "reached max_steps optimizer steps",
    "max_time": "reached max_time seconds",
    "tol": "the training loss fell below tol",
    "converged": "the gradient norm fell below grad_tol",
    "early_stopping": "the validation loss stopped improving for `patience` epochs",
    "diverged": "the loss or the gradient became non-finite (inf or nan)",
    "callback": "a callback asked to stop",
    "requested": "Trainer.request_stop() was called",
}


def _jsonable(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else repr(v)  # JSON has no nan/inf
    if isinstance(v, np.integer):
        return int(v)
    return v


class History:
    """Record of a training run.

    Attributes
    ----------
    step_loss, step_lr, step_grad_norm : list of float
        One entry per optimizer step: the mini-batch loss before the step, the
        learning rate it used (first parameter group) and the global L2 norm of
        the gradient ``sqrt(sum_p ||dL/dp||^2)``.
    epochs : list of dict
        One record per epoch (the last may be partial when training stopped
        mid-epoch), with keys ``epoch`` (1-based), ``step`` (optimizer steps so
        far), ``train_loss`` (mean over the epoch's examples), ``grad_norm``
        (mean over its steps), ``train_<metric>``, ``val_loss`` and
        ``val_<metric>`` (with validation data), ``lr`` (learning rate at the
        end of the epoch's steps), ``time`` (seconds since training began) and
        ``epoch_time`` (seconds this epoch took).
    stop_reason : str or None
        Why training stopped: one of :data:`STOP_REASONS`.
    stop_message : str
        A sentence explaining it (for divergence: where, the learning rate and
        a hint).
    replayed_steps : int
        How many of the steps the fast path replayed (``fit(compile=...)``);
        the others ran eagerly.
    """

    def __init__(self):
        self.step_loss: list[float] = []
        self.step_lr: list[float] = []
        self.step_grad_norm: list[float] = []
        self.epochs: list[dict] = []
        self.stop_reason: str | None = None
        self.stop_message: str = ""
        self.replayed_steps: int = 0
        self.dropped_steps: int = 0  # by keep_last: ``steps`` still counts them

    def keep_last(self, n: int) -> None:
        """Forget all but the last ``n`` steps and epochs, so that a run with no end (a live
        page left playing) holds bounded memory; :attr:`steps` goes on counting every step."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"keep_last: n must be a positive integer, got {n!r}")
        drop = len(self.step_loss) - n
        if drop > 0:
            for series in (self.step_loss, self.step_lr, self.step_grad_norm):
                del series[:drop]
            self.dropped_steps += drop
        del self.epochs[:-n]

    # -- convenience -----------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Number of optimizer steps taken (those :meth:`keep_last` forgot included)."""
        return self.dropped_steps + len(self.step_loss)

    def metric(self, key: str) -> list:
        """The per-epoch values of ``key`` (e.g. ``"val_loss"``), None where missing."""
        return [rec.get(key) for rec in self.epochs]

    @property
    def best_epoch(self) -> dict | None:
        """The epoch record with the lowest ``val_loss`` (or ``train_loss`` without validation)."""
        key = "val_loss" if any("val_loss" in r for r in self.epochs) else "train_loss"
        scored = [r for r in self.epochs if r.get(key) is not None and math.isfinite(r[key])]
        return min(scored, key=lambda r: r[key]) if scored else None

    def __len__(self) -> int:
        return len(self.epochs)

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        bits = [f"epochs={len(self.epochs)}", f"steps={self.steps}"]
        for k in ("train_loss", "val_loss", "val_accuracy"):
            if last.get(k) is not None:
                bits.append(f"{k}={last[k]:.4g}")
        bits.append(f"stop_reason={self.stop_reason!r}")
        return "History(" + ", ".join(bits) + ")"

    # -- export ------------------------------------------------------------------------
    def columns(self) -> list[str]:
        cols: list[str] = []
        for rec in self.epochs:
            for k in rec:
                if k not in cols:
                    cols.append(k)
        return cols

    def to_csv(self, path, per_step: bool = False) -> None:
        """Write one row per epoch (or, with ``per_step=True``, per optimizer step)."""
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if per_step:
                w.writerow(["step", "loss", "lr", "grad_norm"])
                for i, row in enumerate(zip(self.step_loss, self.step_lr, self.step_grad_norm, strict=True), 1):
                    w.writerow([i, *(repr(float(v)) for v in row)])
                return
            cols = self.columns()
            w.writerow(cols)
            for rec in self.epochs:
                w.writerow(["" if rec.get(c) is None else rec[c] for c in cols])

    def to_dict(self) -> dict:
        return {
            "step_loss": [_jsonable(v) for v in self.step_loss],
            "step_lr": [_jsonable(v) for v in self.step_lr],
            "step_grad_norm": [_jsonable(v) for v in self.step_grad_norm],
            "epochs": [{k: _jsonable(v) for k, v in r.items()} for r in self.epochs],
            "stop_reason": self.stop_reason,
            "stop_message": self.stop_message,
        }

    def to_json(self, path) -> None:
        """Write everything (per-step lists, epoch records, stop reason) as JSON."""
        with open(os.fspath(path), "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)

    @classmethod
    def from_json(cls, path) -> History:
        """Read a history written by :meth:`to_json`."""
        with open(os.fspath(path), encoding="utf-8") as fh:
            d = json.load(fh)
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"History.from_json: {os.fspath(path)!r} is not a saved History ({exc})") from None

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls()

        def num(v):
            return float(v) if isinstance(v, str) else v

        h.step_loss = [float(num(v)) for v in d["step_loss"]]
        h.step_lr = [float(num(v)) for v in d["step_lr"]]
        h.step_grad_norm = [float(num(v)) for v in d["step_grad_norm"]]
        h.epochs = [{k: num(v) if k not in ("epoch", "step") else v for k, v in r.items()} for r in d["epochs"]]
        h.stop_reason = d.get("stop_reason")
        h.stop_message = d.get("stop_message", "")
        return h

    def plot(self, **kwargs):
        """Loss (and metric) curves; needs matplotlib (``descend.viz.plot_history``)."""
        from .. import viz

        return viz.plot_history(self, **kwargs)

    # -- checkpointing -------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "step_loss": np.asarray(self.step_loss, dtype=np.float64),
            "step_lr": np.asarray(self.step_lr, dtype=np.float64),
            "step_grad_norm": np.asarray(self.step_grad_norm, dtype=np.float64),
            "epochs": [dict(r) for r in self.epochs],
            "stop_reason": self.stop_reason,
            "stop_message": self.stop_message,
        }

    def load_state_dict(self, state: dict) -> None:
        self.step_loss = [float(v) for v in np.asarray(state["step_loss"]).tolist()]
        self.step_lr = [float(v) for v in np.asarray(state["step_lr"]).tolist()]
        self.step_grad_norm = [float(v) for v in np.asarray(state["step_grad_norm"]).tolist()]
        self.epochs = [dict(r) for r in state["epochs"]]
        self.stop_reason = state.get("stop_reason")
        self.stop_message = state.get("stop_message", "")
