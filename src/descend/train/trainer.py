"""``Trainer``: the one training loop, run to the end or one step at a time.

One optimizer step on a batch ``B`` of examples is

    L_B(theta) = 1/|B| sum_{i in B} loss(model(x_i; theta), y_i)
    g = dL_B/dtheta                        (backpropagation)
    theta <- optimizer_update(theta, g)    (theta - lr * g for plain SGD)

and the loop around it is the same whatever computes the step (see
:mod:`descend.train.steps`): the data order, epoch records, validation,
schedulers, callbacks, stopping rules, checkpoints and the divergence guard
are written once, here. :func:`descend.train.fit` is ``Trainer(...).run()``;
``descend.distributed.fit`` and the scikit-learn estimators plug their own
step or callbacks into it.

The loop is kept lean because it runs once per step: batches are
fancy-indexed out of arrays converted once to the model's dtype; the only
synchronisation per step is reading the loss (and the gradient norm); the
display redraws at most 10 times a second; only callbacks that define
``on_step_end`` are called per step.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings

import numpy as np

from ..data.dataset import _array_backed
from ..random import manual_seed
from .callbacks import Callback, EarlyStopping, TrainState
from .checkpoint import checkpoint_path, read_checkpoint, rng_state, set_rng_state, write_checkpoint
from .guards import (
    DIVERGENCE_FACTOR,
    PARAMETER_GROWTH,
    DivergenceWarning,
    check_divergence_factor,
    check_seed,
    counted,
    growth_detail,
    loss_exploded,
    model_params,
    parameter_exploded,
    parameter_scale,
    resolve_optimizer,
    training_loader,
)
from .guards import check_nonnegative as _nonneg
from .guards import check_positive_int as _pos_int
from .guards import diverged_message as _diverged_message
from .guards import validation_arrays as _validation_arrays
from .guards import wants_metric as _is_plateau
from .history import History
from .metrics import METRICS, binary_threshold, check_metrics, evaluate_arrays, resolve_loss
from .progress import SilentProgress, make_progress
from .steps import make_step

__all__ = ["Trainer"]

# Reasons after which resuming a finished run has nothing left to do.
_TERMINAL = {"diverged", "tol", "converged", "early_stopping", "callback"}
_STEP_METHODS = ("forward_backward", "update", "restore_previous", "metric_sums", "sync")
_SILENT = SilentProgress()


class Trainer:
    """The training loop of :func:`descend.train.fit`, as an object that can also step.

    ``Trainer(model, train, loss=..., optimizer=..., **options)`` takes exactly
    the arguments of :func:`~descend.train.fit` (see there), plus ``step``: an
    object with the step protocol of :mod:`descend.train.steps` to use instead
    of the one ``compile=`` and the optimizer choose. Everything is checked
    when the Trainer is built; nothing changes (seed, checkpoint, model) until
    the first :meth:`step` or :meth:`run`.

    >>> trainer = Trainer(model, (X, y), loss="cross_entropy", optimizer="adam", epochs=5)
    >>> trainer.step()                  # one optimizer step on the next batch
    {'step': 1, 'epoch': 1, 'batch': 1, 'loss': 1.09..., 'grad_norm': 0.8..., 'lr': 0.001, ...}
    >>> history = trainer.run()         # on until a stopping rule fires

    Steps and runs can be mixed: ``k`` calls of :meth:`step` and then
    :meth:`run` end with the same parameters and history, bit for bit, as one
    :meth:`run`. Hyperparameters changed between steps (``optimizer.
    param_groups[0]["lr"] = ...``) take effect at the next step.

    Attributes: ``history`` (the :class:`History`, filled as training goes),
    ``global_step`` (optimizer steps done), ``current_epoch`` (0-based index
    of the current epoch), ``stop_reason`` (None until training stopped),
    ``model``, ``optimizer``, ``scheduler``, ``callbacks``, ``loader``.
    """

    def __init__(self, model, train, *, loss, optimizer, batch_size=32, epochs=10, shuffle=True,
                 max_steps=None, validation=None, metrics=("loss",), scheduler=None, callbacks=(),
                 tol=None, grad_tol=None, patience=None, max_time=None, progress=True, seed=None,
                 checkpoint_dir=None, resume=False, checkpoint_every=None, scheduler_interval="epoch",
                 compile=None, step=None, divergence_factor=DIVERGENCE_FACTOR, divergence_warning=True):
        where = "fit"
        # ---- validate everything before any state changes -------------------------------
        params = model_params(model, where)
        dtype = params[0].data.dtype
        batch_size = _pos_int(batch_size, "batch_size")
        epochs = _pos_int(epochs, "epochs")
        max_steps = _pos_int(max_steps, "max_steps")
        checkpoint_every = _pos_int(checkpoint_every, "checkpoint_every")
        patience = _pos_int(patience, "patience")
        tol = _nonneg(tol, "tol")
        grad_tol = _nonneg(grad_tol, "grad_tol")
        max_time = _nonneg(max_time, "max_time", positive=True)
        seed = check_seed(seed, where)
        divergence_factor = check_divergence_factor(divergence_factor, where)
        if compile not in (None, True, False):
            raise ValueError(f"fit: compile must be None, True or False, got {compile!r}")
        if step is not None:
            missing = [m for m in _STEP_METHODS if not callable(getattr(step, m, None))]
            if missing:
                raise TypeError(f"Trainer: step must implement the step protocol of descend.train.steps; "
                                f"{type(step).__name__} lacks {', '.join(missing)}")
            if compile is not None:
                raise ValueError("Trainer: compile chooses the step; leave it None when step= is given")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        metric_names = check_metrics(metrics)
        loss_fn = resolve_loss(loss, where)
        optimizer = resolve_optimizer(optimizer, model, where)
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise TypeError(f"fit: scheduler must have a step() method, got {scheduler!r}")
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        callbacks = list(callbacks)
        for cb in callbacks:
            if isinstance(cb, type):
                raise TypeError(f"fit: callbacks must be instances; got the class {cb.__name__} (write {cb.__name__}(...))")
        if patience is not None:
            if validation is None:
                raise ValueError("fit: patience (early stopping on the validation loss) needs validation= data")
            callbacks.append(EarlyStopping(monitor="val_loss", patience=patience))
        if (checkpoint_every is not None or resume) and checkpoint_dir is None:
            raise ValueError("fit: checkpoint_every and resume need checkpoint_dir")
        if epochs is None and max_steps is None and max_time is None and tol is None and grad_tol is None \
                and patience is None and not callbacks:
            raise ValueError("fit: epochs=None needs another stopping rule (max_steps, max_time, tol, grad_tol, patience)")
        val = None if validation is None else _validation_arrays(validation, dtype, model=model)
        sched_step = scheduler is not None and scheduler_interval == "step"
        if sched_step and _is_plateau(scheduler):
            raise ValueError("fit: ReduceLROnPlateau needs scheduler_interval='epoch' (it steps on a metric)")
        display = make_progress(progress)
        loader = training_loader(train, batch_size, shuffle, seed, dtype, model=model)
        n_batches = len(loader)
        n_train = len(loader.dataset)
        ckpt_file = ckpt = None
        if checkpoint_dir is not None:
            ckpt_file = checkpoint_path(checkpoint_dir)
            if resume and os.path.exists(ckpt_file):
                ckpt = read_checkpoint(ckpt_file)
                loop = ckpt["loop"]
                if int(loop["n_train"]) != n_train or int(loop["n_batches"]) != n_batches:
                    raise ValueError(
                        f"fit: cannot resume from {ckpt_file!r}: it was made with {loop['n_train']} training "
                        f"examples in {loop['n_batches']} batches per epoch, this run has {n_train} in {n_batches}"
                    )

        # ---- configuration ------------------------------------------------------------------
        self.model, self.optimizer, self.scheduler, self.loss_fn = model, optimizer, scheduler, loss_fn
        self.callbacks = callbacks
        self.loader = loader
        self.epochs, self.max_steps, self.max_time, self.tol, self.grad_tol = epochs, max_steps, max_time, tol, grad_tol
        self.checkpoint_dir, self.checkpoint_every = checkpoint_dir, checkpoint_every
        self._ckpt_file, self._ckpt, self._seed = ckpt_file, ckpt, seed
        self._dtype = dtype
        self._divergence_factor = divergence_factor
        self._divergence_warning = bool(divergence_warning)
        self._val = val
        self._metric_names = metric_names
        self._track = [(m, METRICS[m]) for m in metric_names]
        self._threshold = binary_threshold(loss)
        self._sched_step = sched_step
        self._n_batches, self._n_train = n_batches, n_train
        # Batches need a dtype conversion only when the arrays were not converted up front.
        self._convert = not _array_backed(loader.dataset) or any(
            a.dtype.kind == "f" and a.dtype != dtype for a in loader.dataset.arrays)
        self._step_cbs = []
        for cb in callbacks:
            fn = getattr(cb, "on_step_end", None)
            if fn is not None and getattr(fn, "__func__", None) is not Callback.on_step_end:
                self._step_cbs.append(fn)
        self._impl = step if step is not None else make_step(model, loss_fn, optimizer, compile)
        self._run_display = display
        self._display = _SILENT
        total = None
        if epochs is not None:
            total = epochs * n_batches
        if max_steps is not None:
            total = max_steps if total is None else min(total, max_steps)
        self._total_steps = total

        # ---- loop state (shared by step() and run(), captured by checkpoints) ---------------
        self.history = History()
        self.state = TrainState(model, optimizer, scheduler, self.history)
        self.current_epoch = 0
        self.global_step = 0
        self._batch = 0          # batches done in the current epoch
        self._epoch0 = loader.epoch  # the loader's epoch numbering (its shuffle orders) starts here
        self._sums = _new_sums(metric_names)
        self._t0 = 0.0
        self._t_epoch = 0.0
        self._batches = None     # the current epoch's batch iterator (None between epochs)
        self._partial_record = False
        self._replace_partial = False
        self._finished = None    # how the checkpoint we resumed from had ended
        self._stop = None        # set by a stopping rule during an iteration
        self._stop_msg = ""
        self._begun = False
        self._broken = None
        self._info = None         # (epoch, batch, loss, grad_norm, lr) of the last iteration's step
        self._last_record = None  # the epoch record the last iteration made
        self._stop_event = threading.Event()
        # the divergence rule's references: the first and the lowest accepted step loss, and
        # the parameters' starting scale (from the history and the checkpoint on resume)
        self._first_loss = None
        self._best_loss = math.inf
        self._param_scale0 = None

    # ------------------------------------------------------------------------- public
    @property
    def stop_reason(self) -> str | None:
        """Why training stopped (one of :data:`~descend.train.STOP_REASONS`), None while it goes on."""
        return self.history.stop_reason

    @property
    def stopped(self) -> bool:
        return self.history.stop_reason is not None

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step, with ``stop_reason == "requested"``.

        Safe to call from any thread (e.g. a UI or a signal handler's thread).
        The loop reads the request once per step; a request made between
        calls is honoured by the next :meth:`step` or :meth:`run` before it
        takes a step, so ``request_stop(); run()`` ends a run driven by
        :meth:`step` (final checkpoint, ``on_train_end``) without another step.
        """
        self._stop_event.set()

    def step(self) -> dict:
        """One optimizer step on the next batch, with everything the loop does around it.

        Epoch begin and end (record, validation, scheduler, callbacks,
        checkpoint), the stopping rules and the divergence guard behave
        exactly as inside :meth:`run`; when a rule fires, training is
        finished here (``on_train_end``, final checkpoint). No progress
        display is drawn (:meth:`run` draws one).

        Returns ``{"step", "epoch", "batch", "loss", "grad_norm", "lr",
        "stop_reason", "epoch_record"}``: optimizer steps done so far, the
        epoch (1-based, as in the epoch records) and position in it of the
        batch just used, its loss before the update, the gradient norm, the
        learning rate the update used, why training stopped (None while it
        goes on) and the epoch's record if this step ended an epoch. A step
        that diverged applies no update (``step`` is unchanged, ``loss`` or
        ``grad_norm`` is the non-finite value); when training stops before a
        batch is drawn (a callback's request at epoch begin, a finished run
        resumed, :meth:`request_stop`) ``loss`` and ``grad_norm`` are nan.

        Raises RuntimeError once training has stopped (check :attr:`stopped`):
        a loop such as ``while not trainer.stopped: trainer.step()`` never
        spins on a finished run.
        """
        if self.history.stop_reason is not None:
            raise RuntimeError(
                f"Trainer.step: training has stopped (stop_reason={self.history.stop_reason!r}): "
                f"there is no next step; build a new Trainer to train further")
        self._check_usable("step")
        self._info = self._last_record = None
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if self._enter():
                    self._advance()
        except BaseException as exc:
            self._broken = exc
            raise
        info = self._info
        if info is None:
            epoch, batch, lv, gnorm, lr = (self.current_epoch, self._batch, math.nan, math.nan,
                                           float(self.optimizer.param_groups[0]["lr"]))
        else:
            epoch, batch, lv, gnorm, lr = info
        record = self._last_record
        out = {"step": self.global_step, "epoch": epoch + 1, "batch": batch, "loss": lv,
               "grad_norm": gnorm, "lr": lr, "stop_reason": self.history.stop_reason,
               "epoch_record": record}
        if self.history.stop_reason is not None:
            self._warn_if_diverged()
        return out

    def run(self) -> History:
        """Train until a stopping rule fires; return the :class:`History` (also ``self.history``).

        Continues from wherever :meth:`step` left off. Shows the progress
        display (``progress=``). Called after training stopped, it returns the
        history at once.
        """
        if self.history.stop_reason is not None:
            return self.history
        self._check_usable("run")
        display = self._run_display
        history = self.history
        if not self._begun:
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    self._begin()
            except BaseException as exc:
                self._broken = exc
                raise
        display.start(epochs=self.epochs, steps_per_epoch=self._n_batches, total_steps=self._total_steps,
                      start_step=self.global_step, start_time=time.perf_counter() - self._t0)
        try:
            # Overflow to inf/nan is detected (loss and gradient norm are checked every
            # step) and reported as divergence, with advice, instead of NumPy's warnings.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                go = self._enter()
                self._display = display
                while go and history.stop_reason is None:
                    self._advance()
        except BaseException as exc:
            self._broken = exc
            self._display = _SILENT
            display.close(history)
            raise
        self._display = _SILENT
        display.close(history)
        self._warn_if_diverged()
        return history

    def _check_usable(self, where):
        if self._broken is not None:
            raise RuntimeError(
                f"Trainer.{where}: an earlier call stopped with {type(self._broken).__name__}: "
                f"{self._broken}; the loop's state is undefined, build a new Trainer (with "
                f"checkpoint_dir and resume=True it continues from the last checkpoint)")

    def _enter(self) -> bool:
        """Begin the run if needed and honour a pending request; False if training just stopped."""
        if not self._begun:
            self._begin()
        if self._stop is None and self._stop_event.is_set():
            self._stop, self._stop_msg = "requested", "request_stop() was called"
        if self._stop is not None:
            self._finish()
            return False
        return True

    def _begin(self) -> None:
        """The run starts: seed, restore a checkpoint, on_train_begin (state changes from here)."""
        self._begun = True
        model, optimizer, scheduler, history, state = (self.model, self.optimizer, self.scheduler,
                                                      self.history, self.state)
        ckpt = self._ckpt
        if self.checkpoint_dir is not None:
            os.makedirs(os.fspath(self.checkpoint_dir), exist_ok=True)
        if ckpt is None and self._seed is not None:
            manual_seed(self._seed)
        elapsed0 = 0.0
        if ckpt is not None:
            loop = ckpt["loop"]
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt["scheduler"] is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            set_rng_state(ckpt["rng"])
            self.loader.seed = ckpt["loader"]["seed"]
            self._epoch0 = int(ckpt["loader"]["epoch0"])
            history.load_state_dict(ckpt["history"])
            self.current_epoch, self._batch, self.global_step = int(loop["epoch"]), int(loop["batch"]), int(loop["step"])
            elapsed0 = float(loop["elapsed"])
            self._sums = dict(loop["sums"])
            self._finished = loop.get("finished")
            self._param_scale0 = loop.get("param_scale0")
            if history.step_loss:
                self._first_loss, self._best_loss = history.step_loss[0], min(history.step_loss)
            # The checkpointed history ends with a record of the unfinished epoch: it is
            # replaced when that epoch is recorded again.
            self._replace_partial = bool(loop.get("partial_record"))
            stateful = [cb for cb in self.callbacks if hasattr(cb, "load_state_dict")]
            for cb, saved in zip(stateful, ckpt["callbacks"], strict=False):
                if saved is not None and saved.get("class") == type(cb).__name__:
                    cb.load_state_dict(saved["state"])
            state.resumed = True
            self._ckpt = None
        if self._param_scale0 is None:
            self._param_scale0 = parameter_scale(model.parameters())
        state.epoch, state.batch, state.step = self.current_epoch, self._batch, self.global_step
        if self._finished in _TERMINAL:  # a finished run: nothing more to do
            self._stop, self._stop_msg = self._finished, history.stop_message
        # The run goes on: the checkpointed history's stop is set again when it stops.
        history.stop_reason, history.stop_message = None, ""
        for cb in self.callbacks:
            if hasattr(cb, "on_train_begin"):
                cb.on_train_begin(state)
        self._t0 = time.perf_counter() - elapsed0
        if hasattr(model, "train"):
            model.train()
        if self._stop is None and self.max_steps is not None and self.global_step >= self.max_steps:
            self._stop, self._stop_msg = "max_steps", f"reached max_steps={self.max_steps}"

    def _advance(self) -> None:
        """One iteration of the loop: epoch begin if due, one step, epoch end if due, finish if stopped."""
        state = self.state
        batches = self._batches
        if batches is None:  # between epochs, or resumed mid-epoch
            epoch = self.current_epoch
            if self.epochs is not None and epoch >= self.epochs:
                self._finish()
                return
            state.epoch = epoch
            if self._batch == 0:
                self._sums = _new_sums(self._metric_names)
                for cb in self.callbacks:
                    if hasattr(cb, "on_epoch_begin"):
                        cb.on_epoch_begin(state)
                if state.stop_requested is not None:
                    self._stop, self._stop_msg = state.stop_requested, state.stop_message
                    self._finish()
                    return
            self._t_epoch = time.perf_counter() - self._sums["time"]
            if self._batch >= self._n_batches:
                # resumed from a checkpoint written after the epoch's last step but before the
                # epoch ended (killed in between): end that epoch now, then go on as the loop would
                self._end_epoch()
                if self._stop is not None or (self.epochs is not None and self.current_epoch >= self.epochs):
                    self._finish()
                    return
                self._advance()
                return
            batches = self._batches = self.loader.batches(self._epoch0 + epoch, start=self._batch)
        xb, yb = next(batches)
        if self._convert:
            dtype = self._dtype
            if xb.dtype.kind == "f" and xb.dtype != dtype:
                xb = xb.astype(dtype)
            if yb.dtype.kind == "f" and yb.dtype != dtype:
                yb = yb.astype(dtype)
        impl, history = self._impl, self.history
        step, epoch, pos = self.global_step, self.current_epoch, self._batch + 1
        lv = impl.forward_backward(xb, yb)
        lr = self.optimizer.param_groups[0]["lr"]
        gnorm = math.nan
        # The divergence guard: a non-finite loss or gradient stops training at once, with
        # the parameters of the last finite loss.
        if not math.isfinite(lv):
            restored = impl.restore_previous()
            self._stop, self._stop_msg = "diverged", _diverged_message(
                "loss", lv, step, epoch, lr, history, restored)
        elif self._first_loss is not None and loss_exploded(lv, self._first_loss, self._best_loss,
                                                             self._divergence_factor):
            # finite but grown without bound: the same stop, long before it overflows
            restored = impl.restore_previous()
            self._stop, self._stop_msg = "diverged", _diverged_message(
                "loss", lv, step, epoch, lr, history, restored,
                detail=growth_detail(self._divergence_factor, self._first_loss, self._best_loss))
        else:
            gnorm = impl.update()  # applies the update only when the norm is finite
            if impl.replayed:
                history.replayed_steps += 1
            if not math.isfinite(gnorm):
                self._stop, self._stop_msg = "diverged", _diverged_message(
                    "gradient", gnorm, step, epoch, lr, history, False)
        if self._stop is None:
            step += 1
            batch = self._batch = self._batch + 1
            self.global_step = step
            history.step_loss.append(lv)
            if self._first_loss is None:
                self._first_loss = lv
            if lv < self._best_loss:
                self._best_loss = lv
            history.step_lr.append(lr)
            history.step_grad_norm.append(gnorm)
            sums = self._sums
            nb = len(yb)
            sums["loss"] += lv * nb
            sums["n"] += nb
            sums["gnorm"] += gnorm
            sums["steps"] += 1
            if self._track:
                for (m, _), v in zip(self._track, impl.metric_sums(self._track, yb, self._threshold),
                                     strict=True):
                    sums[m] += v
            if self._sched_step:
                self.scheduler.step()
            if self._step_cbs:
                state.step, state.batch, state.loss, state.lr = step, batch, lv, lr
                for fn in self._step_cbs:
                    fn(state)
                if state.stop_requested is not None:
                    self._stop, self._stop_msg = state.stop_requested, state.stop_message
            self._display.step(epoch, batch, step, lv)
            if self.max_steps is not None and step >= self.max_steps:
                self._stop, self._stop_msg = "max_steps", f"reached max_steps={self.max_steps}"
            elif self.max_time is not None and time.perf_counter() - self._t0 >= self.max_time:
                self._stop, self._stop_msg = "max_time", f"reached max_time={self.max_time:g} s"
            elif self._stop is None and self._stop_event.is_set():
                self._stop, self._stop_msg = "requested", "request_stop() was called"
            if self.checkpoint_every is not None and step % self.checkpoint_every == 0 and self._stop is None:
                sums["time"] = time.perf_counter() - self._t_epoch
                self._checkpoint()
        self._info = (epoch, pos, lv, gnorm, lr)
        if self._stop is not None or self._batch >= self._n_batches:
            self._end_epoch()
        if self._stop is not None or (self.epochs is not None and self.current_epoch >= self.epochs):
            self._finish()

    def _end_epoch(self) -> None:
        """The epoch's record, validation, scheduler, callbacks and epoch-level stopping rules."""
        self._batches = None
        state, history, sums = self.state, self.history, self._sums
        batch, step = self._batch, self.global_step
        complete = batch >= self._n_batches
        sums["time"] = time.perf_counter() - self._t_epoch
        state.step, state.batch = step, batch
        if history.step_loss:
            state.loss, state.lr = history.step_loss[-1], history.step_lr[-1]
        if sums["steps"] == 0:
            return  # diverged at the first step of an epoch: nothing to record
        self._impl.sync()
        record = _epoch_record(self.current_epoch, step, sums, self._metric_names, self.optimizer,
                               time.perf_counter() - self._t0)
        if self._val is not None:
            res = evaluate_arrays(self.model, self._val[0], self._val[1], self.loss_fn, self._metric_names,
                                  self._threshold)
            record["val_loss"] = res.pop("loss")
            for k, v in res.items():
                record["val_" + k] = v
        if self._replace_partial:
            history.epochs.pop()
            self._replace_partial = False
        history.epochs.append(record)
        self._last_record = state.logs = record
        scheduler = self.scheduler
        if complete and scheduler is not None and not self._sched_step:
            if _is_plateau(scheduler):
                scheduler.step(record.get("val_loss", record["train_loss"]))
            else:
                scheduler.step()
        for cb in self.callbacks:
            if hasattr(cb, "on_epoch_end"):
                cb.on_epoch_end(state)
        if self._stop is None:
            if state.stop_requested is not None:
                self._stop, self._stop_msg = state.stop_requested, state.stop_message
            elif self.tol is not None and record["train_loss"] < self.tol:
                self._stop, self._stop_msg = "tol", f"training loss {record['train_loss']:.6g} < tol={self.tol:g}"
            elif self.grad_tol is not None and record["grad_norm"] < self.grad_tol:
                self._stop, self._stop_msg = "converged", (
                    f"gradient norm {record['grad_norm']:.3g} < grad_tol={self.grad_tol:g}")
            else:
                self._check_parameter_sizes()
        self._display.epoch_end(record)
        if complete:
            self.current_epoch += 1
            self._batch = 0
            if self._ckpt_file is not None and self._stop is None:
                self._sums = _new_sums(self._metric_names)
                self._checkpoint()
        else:
            self._partial_record = True

    def _check_parameter_sizes(self) -> None:
        """Once an epoch: parameters of absurd size are divergence too (where the loss cannot show it)."""
        named = (self.model.named_parameters() if hasattr(self.model, "named_parameters")
                 else enumerate(self.model.parameters()))
        bad = parameter_exploded(named, self._param_scale0, self._divergence_factor)
        if bad is not None:
            name, top = bad
            limit = PARAMETER_GROWTH * self._divergence_factor * self._param_scale0
            self._stop, self._stop_msg = "diverged", _diverged_message(
                f"largest magnitude of parameter {name!r}", top, self.global_step - 1, self.current_epoch,
                float(self.optimizer.param_groups[0]["lr"]), self.history, False,
                detail=(f", beyond {limit:.3g} ({PARAMETER_GROWTH:g} x divergence_factor x its "
                        f"starting scale {self._param_scale0:.3g})"))

    def _finish(self) -> None:
        """Training stopped: record why, final checkpoint, on_train_end."""
        stop, msg = self._stop, self._stop_msg
        if stop is None:
            stop, msg = "epochs", f"ran {counted(self.epochs, 'epoch')}"
            self._stop, self._stop_msg = stop, msg
        epoch, batch = self.current_epoch, self._batch
        self.loader.epoch = self._epoch0 + epoch + (1 if batch else 0)  # a reused loader moves on to new orders
        self._impl.sync()
        history, state = self.history, self.state
        history.stop_reason, history.stop_message = stop, msg
        state.stop_reason = stop
        state.epoch, state.batch, state.step = epoch, batch, self.global_step
        if self._ckpt_file is not None and self._finished not in _TERMINAL:
            self._checkpoint(finished_reason=stop, partial=self._partial_record)
        for cb in self.callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(state)

    def _warn_if_diverged(self) -> None:
        if self.history.stop_reason == "diverged" and self._finished != "diverged" and self._divergence_warning:
            warnings.warn(self.history.stop_message, DivergenceWarning, stacklevel=_caller_level())

    def _checkpoint(self, finished_reason=None, partial=False) -> None:
        self._impl.sync()
        scheduler = self.scheduler
        stateful = [cb for cb in self.callbacks if hasattr(cb, "state_dict")]
        write_checkpoint(self._ckpt_file, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None and hasattr(scheduler, "state_dict") else None,
            "rng": rng_state(),
            "loader": {"seed": self.loader.seed, "epoch0": self._epoch0},
            "loop": {"epoch": self.current_epoch, "batch": self._batch, "step": self.global_step,
                     "elapsed": time.perf_counter() - self._t0, "sums": dict(self._sums),
                     "n_train": self._n_train, "n_batches": self._n_batches,
                     "finished": finished_reason, "partial_record": partial,
                     "param_scale0": self._param_scale0},
            "history": self.history.state_dict(),
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in stateful],
        })


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside descend, seen from the caller: warnings
    point at the user's line whether it called run(), step(), fit() or distributed.fit()."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("descend."):
        frame, level = frame.f_back, level + 1
    return level


def _new_sums(metric_names) -> dict:
    sums = {"loss": 0.0, "n": 0, "gnorm": 0.0, "steps": 0, "time": 0.0}
    for m in metric_names:
        sums[m] = 0.0
    return sums


def _epoch_record(epoch, step, sums, metric_names, optimizer, elapsed) -> dict:
    n = max(sums["n"], 1)
    rec = {"epoch": epoch + 1, "step": step, "train_loss": sums["loss"] / n}
    for m in metric_names:
        rec["train_" + m] = sums[m] / n
    rec["grad_norm"] = sums["gnorm"] / max(sums["steps"], 1)
    rec["lr"] = float(optimizer.param_groups[0]["lr"])
    rec["time"] = elapsed
    rec["epoch_time"] = sums["time"]
    return rec
