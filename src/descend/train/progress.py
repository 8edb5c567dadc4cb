"""Progress display for :func:`fit`: a live bar in a terminal, plain lines otherwise.

* ``progress=True`` and stdout is a terminal with ``rich`` installed: a live
  bar (epoch, step, loss, ETA), redrawn at most 10 times a second;
* ``progress=True`` otherwise (a log file, CI, a notebook without a TTY):
  one plain line at most every ``interval`` seconds, and a last line at the end;
* ``progress=False``: nothing.

The training loop calls :meth:`step` once per optimizer step; it costs one
clock read unless it is time to redraw.
"""

from __future__ import annotations

import sys
import time

__all__ = ["make_progress", "SilentProgress", "PlainProgress", "RichProgress"]


def _fmt_time(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_record(rec: dict) -> str:
    parts = []
    for k, v in rec.items():
        if k in ("epoch", "step", "time", "epoch_time") or v is None:
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


class SilentProgress:
    """Displays nothing (``progress=False``)."""

    def start(self, *, epochs, steps_per_epoch, total_steps, start_step=0, start_time=0.0):
        pass

    def step(self, epoch: int, batch: int, step: int, loss: float) -> None:
        pass

    def epoch_end(self, record: dict) -> None:
        pass

    def close(self, history) -> None:
        pass


class PlainProgress(SilentProgress):
    """Periodic plain lines on a stream (not a terminal)."""

    def __init__(self, stream=None, interval: float = 2.0):
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self._last = 0.0
        self._t0 = 0.0

    def start(self, *, epochs, steps_per_epoch, total_steps, start_step=0, start_time=0.0):
        self.epochs = epochs
        self.spe = steps_per_epoch
        self.total = total_steps
        self.start_step = start_step
        self._t0 = time.perf_counter() - start_time
        self._t_start = time.perf_counter()
        self._last = time.perf_counter()
        self._last_line = None
        self._pending = None

    def _eta(self, step: int) -> str:
        if not self.total:
            return ""
        done = step - self.start_step
        if done <= 0:
            return ""
        rate = (time.perf_counter() - self._t_start) / done
        return f"  ETA {_fmt_time(rate * max(self.total - step, 0))}"

    def _emit(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
        self._last = time.perf_counter()
        self._last_line = line

    def _epoch_str(self, epoch: int) -> str:
        return f"epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs else "")

    def step(self, epoch, batch, step, loss):
        if time.perf_counter() - self._last < self.interval:
            return
        self._emit(
            f"{self._epoch_str(epoch)}  step {batch}/{self.spe}  loss {loss:.4g}  "
            f"{_fmt_time(time.perf_counter() - self._t0)}{self._eta(step)}"
        )

    def epoch_end(self, record):
        if time.perf_counter() - self._last < self.interval and record["epoch"] != 1:
            self._pending = record
            return
        self._pending = None
        self._emit(f"{self._epoch_str(record['epoch'] - 1)}  {_fmt_record(record)}  "
                   f"{_fmt_time(record['time'])}{self._eta(record['step'])}")

    def close(self, history):
        rec = history.epochs[-1] if history.epochs else None
        if rec is not None and self._pending is rec:
            self._emit(f"{self._epoch_str(rec['epoch'] - 1)}  {_fmt_record(rec)}  {_fmt_time(rec['time'])}")
        if history.stop_reason is None:  # interrupted by an exception
            return
        msg = f"stopped: {history.stop_reason}"
        # a divergence's message is reported once, by its DivergenceWarning (or the command's
        # warning line), not repeated here
        if history.stop_message and history.stop_reason != "diverged":
            msg += f" - {history.stop_message}"
        self._emit(msg)


class RichProgress(SilentProgress):
    """A live ``rich`` progress bar (terminal only)."""

    def __init__(self, refresh_hz: float = 10.0, line_interval: float = 1.0):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=sys.stdout)
        self._bar = Progress(
            TextColumn("[bold]{task.fields[epoch_str]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        self._dt = 1.0 / refresh_hz
        self._line_dt = line_interval
        self._last = 0.0
        self._last_line = 0.0
        self._pending = None

    def _epoch_str(self, epoch: int) -> str:
        return f"epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs else "")

    def start(self, *, epochs, steps_per_epoch, total_steps, start_step=0, start_time=0.0):
        self.epochs = epochs
        self._bar.start()
        # no step has a loss yet: the column says so rather than showing `loss nan`
        self._task = self._bar.add_task("train", total=total_steps or None, completed=start_step,
                                        epoch_str=self._epoch_str(0), loss="loss —")

    def step(self, epoch, batch, step, loss):
        now = time.perf_counter()
        if now - self._last < self._dt:
            return
        self._last = now
        self._bar.update(self._task, completed=step, loss=f"loss {loss:.4g}", epoch_str=self._epoch_str(epoch))
        self._bar.refresh()

    def epoch_end(self, record):
        now = time.perf_counter()
        # the step updates are throttled, so the label and loss may lag: show the finished epoch
        self._bar.update(self._task, completed=record["step"], epoch_str=self._epoch_str(record["epoch"] - 1),
                         loss=f"loss {record.get('train_loss', float('nan')):.4g}")
        if now - self._last_line >= self._line_dt or record["epoch"] == 1:
            self._last_line = now
            self._print_record(record)
            self._pending = None
        else:
            self._pending = record
        self._bar.refresh()

    def _print_record(self, record):
        self._bar.console.print(f"{self._epoch_str(record['epoch'] - 1)}  {_fmt_record(record)}",
                                highlight=False)

    def close(self, history):
        if self._pending is not None:
            self._print_record(self._pending)
            self._pending = None
        self._bar.refresh()
        self._bar.stop()
        if history.stop_reason is None:
            return
        msg = f"stopped: {history.stop_reason}"
        # a divergence's message is reported once, by its DivergenceWarning (or the command's
        # warning line), not repeated here
        if history.stop_message and history.stop_reason != "diverged":
            msg += f" - {history.stop_message}"
        self.console.print(msg)


def make_progress(progress) -> SilentProgress:
    """The display for ``fit(progress=...)``: a bool, or an object with this interface."""
    if progress is False or progress is None:
        return SilentProgress()
    if progress is not True:
        if all(hasattr(progress, m) for m in ("start", "step", "epoch_end", "close")):
            return progress
        raise TypeError(f"fit: progress must be True, False or a progress object, got {progress!r}")
    isatty = getattr(sys.stdout, "isatty", None)
    if isatty is not None and isatty():
        try:
            return RichProgress()
        except ImportError:
            pass
    return PlainProgress()
