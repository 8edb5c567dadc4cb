"""One browser tab's Network session: its data, model and Trainer, stepped by a thread of its own.

The page's requests arrive as messages (:meth:`NetworkSession.submit`); one worker thread
handles them in order and, while playing, runs ``steps_per_frame`` optimizer steps with
:meth:`descend.train.Trainer.step` between frames. Everything that touches the model, the
optimizer or the random generator happens in that thread: descend's default generator is per
thread, so a session's initial weights and dropout draws depend on its seed alone, and the
exported script (run in one thread) repeats them exactly.

Frames go out through ``send(message)``. At most :data:`FRAMES_AHEAD` frames are on their way
or being drawn at once (the page acknowledges each, :meth:`frame_sent`): the server computes the
next frame while the page draws the last one, so the frame rate is set by the slower of the two,
not by their sum; and a slow page still slows training down instead of queueing frames without
bound, so the answer to a click never waits behind more than one frame. A request from the page
also cuts the current frame's steps short: it is handled after the step in progress.
"""

from __future__ import annotations

import base64
import math
import os
import queue
import shutil
import tempfile
import threading
import time

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..tensor import Tensor
from . import config, datasets, exports, recipe

__all__ = ["NetworkSession", "GRID", "NEURON_GRID", "MAX_UPLOAD_BYTES"]

#: Resolution of the decision boundary (or regression surface) and of each neuron's picture.
GRID = 100
NEURON_GRID = 25
MAX_UPLOAD_BYTES = 1_000_000
#: Points of the loss curves kept per session; beyond it every other point is dropped.
_CURVE_POINTS = 2000
#: The first steps put a point on the curves each (later ones, one a frame): a run that
#: diverges, or falls fast, in a few steps is drawn as it went, not as a line from step 0.
_DENSE_CURVE_STEPS = 100
#: The Trainer keeps a history of every step; a tab left playing trims it to stay bounded.
_HISTORY_STEPS = 10_000
_MIN_FRAME_SECONDS = 1 / 60
#: Frames sent and not yet drawn by the page: one drawn while the next is computed.
FRAMES_AHEAD = 2


def neuron_grid(hidden: list[int]) -> int:
    """Resolution of each neuron's picture: :data:`NEURON_GRID` for narrow layers, less for wide
    ones, whose pictures the page draws small (32 a column leaves about 10 pixels each): a 6 × 32
    network's 192 pictures then take 27 kB of a frame's JSON instead of 161 kB. Divides
    :data:`GRID`."""
    widest = max(hidden, default=0)
    return NEURON_GRID if widest <= 12 else 20 if widest <= 20 else 10


def _quantize(values) -> np.ndarray:
    """Values in [-1, 1] (clipped; NaN as 0) as int8 ``round(127·v)``."""
    q = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), -1.0, 1.0) * 127.0
    return np.rint(q).astype(np.int8)


def encode_unit(values) -> str:
    """Values in [-1, 1] (clipped) as base64 of int8 ``round(127·v)``, row-major."""
    return base64.b64encode(_quantize(values).tobytes()).decode("ascii")


def encode_columns(matrix) -> list[str]:
    """Each column of ``matrix`` (shape ``(pixels, units)``) as :func:`encode_unit` writes it.

    One quantisation for the whole layer: a 32-neuron layer costs one array operation, not 32.
    """
    columns = np.ascontiguousarray(_quantize(matrix).T)
    return [base64.b64encode(column.tobytes()).decode("ascii") for column in columns]


def grid_points(resolution: int) -> np.ndarray:
    """Pixel centres of the drawn square, shape ``(resolution², 2)``, rows from the top (x2 high)."""
    step = 2 * datasets.DOMAIN / resolution
    centres = -datasets.DOMAIN + step * (np.arange(resolution) + 0.5)
    gx, gy = np.meshgrid(centres, centres[::-1])
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


class NetworkSession:
    """The Network tab of one browser tab.

    ``send(message: dict)`` must be safe to call from the worker thread. Messages handled
    (``{"type": ...}``): ``config`` (with ``config``; ``from_link: true`` for the URL's settings, whose
    valid ones are kept and bad ones reported), ``play``, ``pause``, ``step``,
    ``reset``, ``upload`` (``name``, ``text``), ``export`` (``what``: script, config, model,
    data) and ``speed`` (``steps_per_frame``). A request that fails sends
    ``{"type": "error", "message": ...}`` and changes nothing.
    """

    def __init__(self, send):
        self._send = send
        self._inbox: queue.Queue = queue.Queue()
        self._frames_unseen = 0  # frames sent that the page has not yet said it drew
        self._frame_drawn = threading.Condition()
        self._closed = threading.Event()
        self._tmp = tempfile.mkdtemp(prefix="descend-playground-")
        self._csv_path = None
        self.csv_name = None
        self.run: recipe.Run | None = None
        self.playing = False
        self.diverged = None
        self.curve: list[list[float]] = []  # [step, train loss, test loss], finite ones only
        self._curve_new: list[list[float]] = []  # points not yet sent to the page
        self._framed_step = None  # the step the last frame showed
        self._thread = threading.Thread(target=self._work, name="descend-playground-session",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ called from any thread
    def submit(self, message: dict) -> None:
        """Queue a request from the page (handled in order by the worker thread)."""
        self._inbox.put(message)

    def frame_sent(self) -> None:
        """The page drew a frame (or skipped it for a newer one): the worker may compute more."""
        with self._frame_drawn:
            self._frames_unseen = max(0, self._frames_unseen - 1)
            self._frame_drawn.notify()

    def close(self, wait: bool = True, timeout: float = 5.0) -> None:
        """Stop the worker (the Trainer is asked to stop); it frees the model and the upload.

        ``wait=False`` only signals, for callers that must not block (the server's event
        loop): the worker finishes its current step and cleans up on its own.
        """
        self._closed.set()
        run = self.run
        if run is not None:
            run.trainer.request_stop()
        self._inbox.put({"type": "_close"})
        with self._frame_drawn:
            self._frame_drawn.notify()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the worker thread
    def _work(self) -> None:
        while not self._closed.is_set():
            try:
                message = self._inbox.get(timeout=None if not self.playing else 0.0)
            except queue.Empty:
                message = None
            if message is not None:
                if message.get("type") == "_close":
                    break
                try:
                    self._handle(message)
                except (config.ConfigError, ValueError, TypeError, OSError) as exc:
                    self._send({"type": "error", "message": str(exc)})
                except Exception as exc:  # reported; the tab keeps its session
                    self._internal_error(exc)
                continue  # handle every queued request before the next frame
            if self.playing:
                try:
                    self._play_one_frame()
                except Exception as exc:  # reported; the tab keeps its session
                    self._internal_error(exc)
        self.run = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _internal_error(self, exc: Exception) -> None:
        """A failure that is not the page's fault: stop playing, say what happened, go on."""
        self.playing = False
        self._send({"type": "error", "message": f"internal error ({type(exc).__name__}): {exc}"})
        if self.run is not None:
            self._status()

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "config":
            # A new setting restarts from step 0 (so the exported script reproduces the run);
            # a tab that was playing goes on playing the new run.
            self._configure(message.get("config"), keep_playing=True,
                            from_link=message.get("from_link") is True)
        elif kind in ("play", "pause", "step", "reset", "export", "speed") and self.run is None:
            raise ValueError(f"{kind}: no network yet; send a configuration first")
        elif kind == "play":
            if self.run.trainer.stopped:
                raise ValueError(f"play: training has stopped ({self.run.trainer.stop_reason}); "
                                 "reset to start again")
            self.playing = True
            self._status()
        elif kind == "pause":
            self.playing = False
            self._status()
            if self.run.trainer.global_step != self._framed_step:
                self._frame()  # the steps done since the last frame, so the page shows the end
        elif kind == "step":
            self.playing = False
            if self.run.trainer.stopped:
                raise ValueError(f"step: training has stopped ({self.run.trainer.stop_reason}); "
                                 "reset to start again")
            self._advance(1)
            self._status()
            self._frame()
        elif kind == "reset":
            self.playing = False
            self._configure(self.run.cfg)
        elif kind == "speed":
            spf = config.check({**self.run.cfg, "steps_per_frame": message.get("steps_per_frame")},
                               has_csv=self._csv_path is not None)["steps_per_frame"]
            self.run.cfg["steps_per_frame"] = spf
        elif kind == "upload":
            self._upload(message.get("name"), message.get("text"))
        elif kind == "export":
            self._send({"type": "export", **exports.export(self, message.get("what"))})
        else:
            raise ValueError(f"unknown request type {kind!r}")

    def _upload(self, name, text) -> None:
        if not isinstance(name, str) or not isinstance(text, str):
            raise ValueError("upload: needs the file's name and its text")
        if len(text.encode("utf-8")) > MAX_UPLOAD_BYTES:
            raise ValueError(f"upload: {os.path.basename(name)} is larger than the limit of "
                             f"{MAX_UPLOAD_BYTES // 1000} kB")
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in os.path.basename(name))
        safe = safe.lstrip(".") or "data.csv"
        # The file keeps its own name, so that an error message and the exported script name it.
        candidate = os.path.join(self._tmp, "candidate")
        shutil.rmtree(candidate, ignore_errors=True)
        os.makedirs(candidate)
        path = os.path.join(candidate, safe)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        X, _, _ = datasets.read_points_csv(path)  # raises before anything changes
        current = os.path.join(self._tmp, "current")
        shutil.rmtree(current, ignore_errors=True)
        os.replace(candidate, current)
        self._csv_path, self.csv_name = os.path.join(current, safe), safe
        self._send({"type": "uploaded", "name": safe, "rows": len(X)})

    def _configure(self, raw, keep_playing: bool = False, from_link: bool = False) -> None:
        """``from_link``: the settings come from the page's URL (a shared link, a reload): the
        valid ones are kept and each bad one is reported, instead of refusing them all."""
        problems = []
        if from_link:
            cfg, problems = config.salvage(raw, has_csv=self._csv_path is not None)
        else:
            cfg = config.check(raw, has_csv=self._csv_path is not None)
        # raises before the old run is dropped; a divergence is shown in the page, not warned
        run = recipe.build(cfg, csv_path=self._csv_path, divergence_warning=False)
        if self.run is not None:
            self.run.trainer.request_stop()
        playing = self.playing and keep_playing
        self.run, self.playing, self.diverged, self.curve = run, playing, None, []
        self._curve_new = []
        n_train = len(run.X_train)
        self._steps_per_epoch = math.ceil(n_train / config.batch_size_of(cfg, n_train))
        self._grid = grid_points(GRID)
        self._grid_features = datasets.features(self._grid, cfg["features"])
        self._neuron_grid = neuron_grid(cfg["hidden"])
        every = GRID // self._neuron_grid
        self._neuron_pixels = np.arange(GRID * GRID).reshape(GRID, GRID)[
            every // 2::every, every // 2::every].ravel()
        y = run.split.y_train
        self._target_scale = 1.0 if run.split.task == "classification" else \
            max(float(np.abs(y).max()), 1e-6)
        self._send({"type": "ready", **self._describe()})
        if problems:
            self._send({"type": "error", "message": "the link's settings were used except: "
                                                    + "; ".join(problems)})
        self._frame()

    def _describe(self) -> dict:
        run, cfg = self.run, self.run.cfg
        small = self._grid_features[self._neuron_pixels]
        scale = np.maximum(np.abs(small).max(axis=0), 1e-6)
        return {
            "config": cfg, "task": run.split.task, "csv_name": self.csv_name,
            "train": self._points(run.split.points_train, run.split.y_train),
            "test": self._points(run.split.points_test, run.split.y_test),
            "domain": datasets.DOMAIN, "grid": GRID, "neuron_grid": self._neuron_grid,
            "inputs": [encode_unit(small[:, j] / scale[j]) for j in range(small.shape[1])],
            "equation": config.update_rule(cfg, len(run.X_train)),
            "sizes": [len(cfg["features"]), *cfg["hidden"], 1],
        }

    def _points(self, points, y) -> list:
        values = y[:, 0] if self.run.split.task == "classification" else y[:, 0] / self._target_scale
        return np.round(np.column_stack([points, values]).astype(np.float64), 4).tolist()

    def _advance(self, n: int, interruptible: bool = False) -> None:
        """``n`` optimizer steps; ``interruptible``: fewer if a request from the page arrives."""
        trainer = self.run.trainer
        for _ in range(n):
            if interruptible and not self._inbox.empty():
                break  # a click is answered after this step, not after the whole frame
            info = trainer.step()
            if trainer.global_step <= _DENSE_CURVE_STEPS and info["stop_reason"] != "diverged":
                self._curve_point(*self.run.losses())
            if info["stop_reason"] is not None:
                self.playing = False
                if info["stop_reason"] == "diverged":
                    self.diverged = {"message": trainer.history.stop_message,
                                     "step": info["step"] + 1, "lr": info["lr"]}
                break
        if len(trainer.history.step_loss) > _HISTORY_STEPS:
            # the loop reads back only the last entries
            trainer.history.keep_last(_HISTORY_STEPS // 10)

    def _play_one_frame(self) -> None:
        # Back-pressure: wait until the page drew all but FRAMES_AHEAD - 1 frames (or the tab is
        # gone, or a request came: it goes first).
        with self._frame_drawn:
            while self._frames_unseen >= FRAMES_AHEAD:
                self._frame_drawn.wait(0.05)
                if self._closed.is_set() or not self._inbox.empty():
                    return
        started = time.perf_counter()
        self._advance(self.run.cfg["steps_per_frame"], interruptible=True)
        if self.playing and not self._inbox.empty():
            return  # the request first; its answer (or the next frame) shows these steps
        self._frame()
        if not self.playing:
            self._status()
        spare = _MIN_FRAME_SECONDS - (time.perf_counter() - started)
        if spare > 0:
            time.sleep(spare)

    def _status(self) -> None:
        self._send({"type": "status", "playing": self.playing,
                    "stop_reason": self.run.trainer.stop_reason})

    def frame(self) -> dict:
        """The picture of the network now: boundary, neurons, weights, losses, counters."""
        run = self.run
        model, trainer = run.model, run.trainer
        train_loss, test_loss = run.losses()
        if not self.curve or self.curve[-1][0] < trainer.global_step:
            self._curve_point(train_loss, test_loss)
        # After a divergence the guard put back the parameters of the last accepted loss: the
        # numbers are theirs, while the curves end where training went (the climb included).
        new_points, self._curve_new = self._curve_new, []
        layers = self._forward_grid()
        output = layers[-1][:, 0]
        if run.split.task == "classification":
            with np.errstate(over="ignore"):
                shown = 2.0 / (1.0 + np.exp(-output.astype(np.float64))) - 1.0
        else:
            shown = output / self._target_scale
        pick = self._neuron_pixels
        neurons = [encode_columns(np.tanh(layer[pick])) for layer in layers[:-1]]
        lr = float(run.trainer.optimizer.param_groups[0]["lr"])
        return {
            "type": "frame", "step": trainer.global_step,
            # epochs done (passes over the training set), e.g. 0.29 after 10 of 35 mini-batches
            "epoch": round(trainer.global_step / self._steps_per_epoch, 2),
            "curve": new_points,
            "lr": lr, "train_loss": _finite_or_none(train_loss),
            "test_loss": _finite_or_none(test_loss), "boundary": encode_unit(shown),
            "neurons": neurons, "output": encode_unit(np.tanh(output[pick])),
            "weights": [np.round(lin.weight.data.astype(np.float64), 4).tolist()
                        for lin in model.linears],
            "biases": [np.round(lin.bias.data.astype(np.float64), 4).tolist()
                       for lin in model.linears],
            "diverged": self.diverged, "playing": self.playing,
        }

    def _curve_point(self, train_loss: float, test_loss: float) -> None:
        """Adds the losses after the current step to the curves (finite ones only), bounded."""
        if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
            return
        point = [self.run.trainer.global_step, train_loss, test_loss]
        self.curve.append(point)
        self._curve_new.append(point)
        if len(self.curve) > _CURVE_POINTS:
            self.curve = self.curve[::2]  # the page thins its own copy the same way

    def _frame(self) -> None:
        frame = self.frame()
        self._framed_step = frame["step"]
        with self._frame_drawn:
            self._frames_unseen += 1
        self._send(frame)

    def _forward_grid(self) -> list[np.ndarray]:
        """Each hidden layer's activations and the output on the grid, in eval mode."""
        model = self.run.model
        was_training = model.training
        model.eval()
        outputs = []
        try:
            with no_grad(), np.errstate(over="ignore", invalid="ignore"):
                x = Tensor._wrap(self._grid_features)
                for module in model.children():
                    x = module(x)
                    # MLP: Linear, activation (Identity for "linear"), [Dropout], ..., Linear
                    if not isinstance(module, (nn.Linear, nn.Dropout)):
                        outputs.append(x.data)
                outputs.append(x.data)
        finally:
            if was_training:
                model.train()
        return outputs


def _finite_or_none(v: float):
    return v if math.isfinite(v) else None
