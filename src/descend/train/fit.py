"""``fit``: gradient descent as a training loop.

One optimizer step on a batch ``B`` of examples is

    L_B(theta) = 1/|B| sum_{i in B} loss(model(x_i; theta), y_i)
    g = dL_B/dtheta                        (backpropagation: loss.backward())
    theta <- optimizer_update(theta, g)    (theta - lr * g for plain SGD)

With ``batch_size=None`` ``B`` is the whole training set (batch gradient
descent: ``g`` is the exact gradient), with ``1`` a single example
(stochastic gradient descent), with ``k`` a mini-batch. An *epoch* is one
pass over the data.

The loop is kept lean because it runs once per step: batches are
fancy-indexed out of arrays converted once to the model's dtype; the only
synchronisation per step is reading the loss (and the gradient norm); the
display redraws at most 10 times a second; only callbacks that define
``on_step_end`` are called per step.
"""

from __future__ import annotations

import math
import numbers
import os
import time
import warnings

import numpy as np

from ..autograd import enable_grad, no_grad
from ..data.dataset import Dataset, _array_backed, as_arrays
from ..data.loader import DataLoader
from ..random import manual_seed
from ..tensor import Tensor
from .callbacks import Callback, EarlyStopping, TrainState
from .checkpoint import checkpoint_path, read_checkpoint, rng_state, set_rng_state, write_checkpoint
from .history import History
from .metrics import METRICS, binary_threshold, check_metrics, resolve_loss
from .guards import LR_FIND_HINT, DivergenceWarning
from .guards import check_nonnegative as _nonneg
from .guards import check_positive_int as _pos_int
from .guards import diverged_message as _diverged_message
from .guards import finite_grad_norm as _safe_norm
from .guards import wants_metric as _is_plateau
from .progress import make_progress

__all__ = ["fit", "evaluate", "DivergenceWarning", "LR_FIND_HINT"]

# Reasons after which resuming a finished run has nothing left to do.
_TERMINAL = {"diverged", "tol", "converged", "early_stopping", "callback"}


# ----------------------------------------------------------------------------- checks
def _model_params(model, where):
    if not hasattr(model, "parameters") or not callable(model):
        raise TypeError(f"{where}: model must be a descend.nn.Module (callable, with parameters()), got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError(f"{where}: the model has no parameters to train")
    for p in params:
        if not isinstance(p, Tensor) or p.data.dtype.kind != "f":
            raise TypeError(f"{where}: every model parameter must be a floating-point Tensor")
    return params


def _resolve_optimizer(optimizer, model, where):
    if isinstance(optimizer, str):
        from .. import optim

        return optim.get(optimizer, model.parameters())
    if isinstance(optimizer, type):
        raise TypeError(
            f"{where}: optimizer is the class {optimizer.__name__}; pass an instance, e.g. "
            f"{optimizer.__name__}(model.parameters(), lr=0.01), or a name like 'adam'"
        )
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "param_groups")):
        raise TypeError(f"{where}: optimizer must be an optimizer instance or a name, got {optimizer!r}")
    return optimizer


def _cast(arrays, dtype):
    """Float arrays in the model's dtype (once, before training); labels untouched."""
    return tuple(a.astype(dtype) if a.dtype.kind == "f" and a.dtype != dtype else a for a in arrays)


def _check_finite(arrays, what):
    for name, a in zip(("inputs", "targets"), arrays):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(
                f"fit: the {what} {name} contain a non-finite value ({a[tuple(bad)]} at index "
                f"{tuple(int(i) for i in bad)}); remove or impute it before training"
            )
    return arrays


def _supervised(arrays, what):
    if len(arrays) < 2:
        raise ValueError(f"fit: {what} must provide inputs and targets, e.g. ({what[:1].upper()}X, y); got {len(arrays)} array(s)")
    if len(arrays) > 2:
        raise ValueError(f"fit: {what} must be (inputs, targets); got {len(arrays)} arrays")
    return arrays


def _make_loader(train, batch_size, shuffle, seed, dtype):
    if isinstance(train, DataLoader):
        return train
    try:
        arrays = _check_finite(_supervised(_cast(as_arrays(train, "train"), dtype), "train"), "training")
    except TypeError as exc:
        raise TypeError(f"fit: train must be a Dataset, a tuple (X, y) or a DataLoader ({exc})") from None
    return DataLoader(Dataset(*arrays), batch_size=batch_size, shuffle=shuffle, seed=seed)


# ----------------------------------------------------------------------------- evaluation
def _evaluate_arrays(model, X, y, loss_fn, metric_names, threshold, chunk=4096) -> dict:
    was_training = getattr(model, "training", None)
    if was_training and hasattr(model, "eval"):
        model.eval()
    try:
        n = len(X)
        loss_sum = 0.0
        sums = dict.fromkeys(metric_names, 0.0)
        with no_grad():
            for lo in range(0, n, chunk):
                xb, yb = X[lo:lo + chunk], y[lo:lo + chunk]
                out = model(Tensor._wrap(xb))
                loss_sum += float(loss_fn(out, Tensor._wrap(yb)).data) * len(xb)
                for m in metric_names:
                    sums[m] += METRICS[m](out.data, yb, threshold)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    res = {"loss": loss_sum / n}
    res.update({m: s / n for m, s in sums.items()})
    return res


def evaluate(model, data, *, loss, metrics=("loss", "accuracy"), batch_size: int = 4096) -> dict:
    """Loss and metrics of ``model`` on ``data`` (a Dataset, (X, y) or DataLoader), in eval mode.

    Returns ``{"loss": ..., "accuracy": ...}``: means over all examples (the
    loss as the example-weighted mean of batch means).
    """
    params = _model_params(model, "evaluate")
    names = check_metrics(metrics)
    loss_fn = resolve_loss(loss, "evaluate")
    X, y = _supervised(_cast(as_arrays(data.dataset if isinstance(data, DataLoader) else data,
                                       "evaluate"), params[0].data.dtype), "data")
    return _evaluate_arrays(model, X, y, loss_fn, names, binary_threshold(loss), _pos_int(batch_size, "batch_size"))


# ----------------------------------------------------------------------------- fit
def fit(model, train, *, loss, optimizer, batch_size=32, epochs=10, shuffle=True, max_steps=None,
        validation=None, metrics=("loss",), scheduler=None, callbacks=(), tol=None, grad_tol=None,
        patience=None, max_time=None, progress=True, seed=None, checkpoint_dir=None, resume=False,
        checkpoint_every=None, scheduler_interval="epoch", compile=None) -> History:
    """Train ``model`` by gradient descent on ``train``; return the :class:`History`.

    Parameters
    ----------
    model : descend.nn.Module
        Trained in place: ``model(x)`` gives outputs for a batch ``x``.
    train : Dataset, tuple ``(X, y)`` or DataLoader
        Float arrays are converted once to the parameters' dtype. A DataLoader
        brings its own ``batch_size``, ``shuffle`` and ``seed`` (fit's are unused).
    loss : callable or str
        ``loss(output, target) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``)
        or a name: ``"cross_entropy"``, ``"mse"``, ``"l1"``, ``"huber"``, ``"bce"``,
        ``"bce_with_logits"``, ``"nll"``.
    optimizer : Optimizer or str
        An instance over ``model.parameters()``, or a name for
        ``descend.optim.get(name, model.parameters())`` (default hyperparameters).
    batch_size : int or None, default 32
        ``None``: batch gradient descent; ``1``: stochastic; ``k``: mini-batch.
    epochs : int or None, default 10
        Passes over the data (``None``: until another stopping rule fires).
    shuffle : bool
        New example order every epoch (reproducible from ``seed``).
    max_steps : int, optional
        Stop after this many optimizer steps (possibly mid-epoch).
    validation : Dataset, tuple or DataLoader, optional
        Evaluated (eval mode, no gradients) after every epoch: ``val_loss`` and
        ``val_<metric>`` in the epoch records.
    metrics : names
        ``"loss"`` (always), ``"accuracy"`` (argmax of class scores; a single
        output is thresholded at 0, or 0.5 after ``"bce"``), ``"mae"``.
    scheduler : learning-rate scheduler, optional
        Stepped after every epoch (``scheduler_interval="step"``: after every
        optimizer step). ``ReduceLROnPlateau`` gets ``val_loss`` (or
        ``train_loss`` without validation).
    callbacks : list of Callback
    tol : float, optional
        Stop when an epoch's mean training loss is below ``tol`` (``"tol"``).
    grad_tol : float, optional
        Stop when an epoch's mean gradient norm is below ``grad_tol``
        (``"converged"``: for batch gradient descent, a stationary point).
    patience : int, optional
        Early stopping on ``val_loss`` (needs ``validation``); the best
        parameters are restored at the end whatever stopped training.
    max_time : float, optional
        Stop after this many seconds (``"max_time"``).
    progress : bool
        Live bar in a terminal, periodic lines otherwise; False: silent.
    seed : int, optional
        Seeds the data order and the global generator (dropout) for this run.
    checkpoint_dir : path, optional
        Write ``checkpoint.npz`` there after every epoch (and every
        ``checkpoint_every`` steps) and at the end.
    resume : bool
        Continue from ``checkpoint_dir``'s checkpoint if there is one (else
        start fresh). The resumed run ends bit-identical to an uninterrupted one.
    compile : bool or None
        The fast path (:class:`descend.compile.TrainStep`): the step is traced
        once per batch shape and then replayed as preallocated NumPy calls,
        with the same results as the eager step. ``None`` (default): used when
        the model is built from descend.nn's layers and the loss is one of
        descend's; ``True``: also for custom modules and losses (their
        ``forward`` must only compute with descend operations); ``False``: every
        step eager. Steps it cannot replay run eagerly. During training the
        parameters live in one contiguous array (``param.data`` are views).
        ``History.replayed_steps`` counts the replayed steps.

    Stopping
    --------
    ``History.stop_reason`` is ``"epochs"``, ``"max_steps"``, ``"max_time"``,
    ``"tol"``, ``"converged"``, ``"early_stopping"``, ``"callback"`` or
    ``"diverged"``. A non-finite loss or gradient stops training at once:
    the parameters go back to the last ones with a finite loss, and a
    :class:`DivergenceWarning` gives the step, the learning rate and a hint.
    """
    where = "fit"
    # ---- validate everything before any state changes -------------------------------
    params = _model_params(model, where)
    dtype = params[0].data.dtype
    batch_size = _pos_int(batch_size, "batch_size")
    epochs = _pos_int(epochs, "epochs")
    max_steps = _pos_int(max_steps, "max_steps")
    checkpoint_every = _pos_int(checkpoint_every, "checkpoint_every")
    patience = _pos_int(patience, "patience")
    tol = _nonneg(tol, "tol")
    grad_tol = _nonneg(grad_tol, "grad_tol")
    max_time = _nonneg(max_time, "max_time", positive=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"fit: seed must be a non-negative integer or None, got {seed!r}")
    if compile not in (None, True, False):
        raise ValueError(f"fit: compile must be None, True or False, got {compile!r}")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    metric_names = check_metrics(metrics)
    loss_fn = resolve_loss(loss, where)
    threshold = binary_threshold(loss)
    optimizer = _resolve_optimizer(optimizer, model, where)
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
    val = None
    if validation is not None:
        src = validation.dataset if isinstance(validation, DataLoader) else validation
        val = _check_finite(_supervised(_cast(as_arrays(src, "validation"), dtype), "validation"),
                            "validation")
    sched_step = scheduler is not None and scheduler_interval == "step"
    if sched_step and _is_plateau(scheduler):
        raise ValueError("fit: ReduceLROnPlateau needs scheduler_interval='epoch' (it steps on a metric)")
    loader = _make_loader(train, batch_size, shuffle, seed, dtype)
    n_batches = len(loader)
    n_train = len(loader.dataset)
    # Batches need a dtype conversion only when the arrays were not converted up front.
    convert = not _array_backed(loader.dataset) or any(
        a.dtype.kind == "f" and a.dtype != dtype for a in loader.dataset.arrays)
    ckpt_file = None
    ckpt = None
    if checkpoint_dir is not None:
        ckpt_file = checkpoint_path(checkpoint_dir)
        if resume and os.path.exists(ckpt_file):
            ckpt = read_checkpoint(ckpt_file)
        os.makedirs(os.fspath(checkpoint_dir), exist_ok=True)
    if ckpt is None and seed is not None:
        manual_seed(int(seed))

    # ---- state --------------------------------------------------------------------------
    history = History()
    state = TrainState(model, optimizer, scheduler, history)
    epoch0 = loader.epoch  # the loader's epoch numbering (its shuffle orders) starts here
    epoch, batch, step = 0, 0, 0
    elapsed0 = 0.0
    sums = _new_sums(metric_names)
    partial_record = False
    replace_partial = False
    finished = None
    if ckpt is not None:
        loop = ckpt["loop"]
        if int(loop["n_train"]) != n_train or int(loop["n_batches"]) != n_batches:
            raise ValueError(
                f"fit: cannot resume from {ckpt_file!r}: it was made with {loop['n_train']} training "
                f"examples in {loop['n_batches']} batches per epoch, this run has {n_train} in {n_batches}"
            )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt["scheduler"] is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        loader.seed = ckpt["loader"]["seed"]
        epoch0 = int(ckpt["loader"]["epoch0"])
        history.load_state_dict(ckpt["history"])
        epoch, batch, step = int(loop["epoch"]), int(loop["batch"]), int(loop["step"])
        elapsed0 = float(loop["elapsed"])
        sums = dict(loop["sums"])
        finished = loop.get("finished")
        # The checkpointed history ends with a record of the unfinished epoch: it is
        # replaced when that epoch is recorded again.
        replace_partial = bool(loop.get("partial_record"))
        saved_cbs = ckpt["callbacks"]
        stateful = [cb for cb in callbacks if hasattr(cb, "load_state_dict")]
        for cb, saved in zip(stateful, saved_cbs):
            if saved is not None and saved.get("class") == type(cb).__name__:
                cb.load_state_dict(saved["state"])
        state.resumed = True
    state.epoch, state.batch, state.step = epoch, batch, step

    step_cbs = []
    for cb in callbacks:
        fn = getattr(cb, "on_step_end", None)
        if fn is not None and getattr(fn, "__func__", None) is not Callback.on_step_end:
            step_cbs.append(fn)
    track = [(m, METRICS[m]) for m in metric_names]
    # L-BFGS and other optimizers that re-evaluate the loss get a closure over the batch
    needs_closure = bool(getattr(optimizer, "requires_closure", False))
    runner = None if needs_closure else _fast_path(model, loss_fn, optimizer, compile)
    # Parameters before the last update (the fast path keeps its own).
    snap = [np.empty_like(p.data) for p in params] if runner is None else None
    have_snap = False
    display = make_progress(progress)
    total = None
    if epochs is not None:
        total = epochs * n_batches
    if max_steps is not None:
        total = max_steps if total is None else min(total, max_steps)

    def checkpoint(finished_reason=None, partial=False):
        stateful = [cb for cb in callbacks if hasattr(cb, "state_dict")]
        write_checkpoint(ckpt_file, {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None and hasattr(scheduler, "state_dict") else None,
            "rng": rng_state(),
            "loader": {"seed": loader.seed, "epoch0": epoch0},
            "loop": {"epoch": epoch, "batch": batch, "step": step, "elapsed": time.perf_counter() - t0,
                     "sums": dict(sums), "n_train": n_train, "n_batches": n_batches,
                     "finished": finished_reason, "partial_record": partial},
            "history": history.state_dict(),
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in stateful],
        })

    stop = None
    stop_msg = ""
    if finished in _TERMINAL:  # a finished run: nothing more to do
        stop, stop_msg = finished, history.stop_message
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(state)
    t0 = time.perf_counter() - elapsed0
    display.start(epochs=epochs, steps_per_epoch=n_batches, total_steps=total, start_step=step,
                  start_time=elapsed0)
    if hasattr(model, "train"):
        model.train()
    # Overflow to inf/nan is detected (loss and gradient norm are checked every step)
    # and reported as divergence, with advice, instead of NumPy's RuntimeWarnings.
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
    errstate.__enter__()
    try:
        if stop is None and max_steps is not None and step >= max_steps:
            stop, stop_msg = "max_steps", f"reached max_steps={max_steps}"
        while stop is None and (epochs is None or epoch < epochs):
            state.epoch = epoch
            if batch == 0:
                sums = _new_sums(metric_names)
                for cb in callbacks:
                    if hasattr(cb, "on_epoch_begin"):
                        cb.on_epoch_begin(state)
                if state.stop_requested is not None:
                    stop, stop_msg = state.stop_requested, state.stop_message
                    break
            t_epoch = time.perf_counter() - sums["time"]
            for xb, yb in loader.batches(epoch0 + epoch, start=batch):
                if convert:
                    if xb.dtype.kind == "f" and xb.dtype != dtype:
                        xb = xb.astype(dtype)
                    if yb.dtype.kind == "f" and yb.dtype != dtype:
                        yb = yb.astype(dtype)
                if runner is not None:
                    lv = runner.forward_backward(xb, yb)
                    out_data = runner.output
                else:
                    for p in params:
                        p.grad = None
                    out = model(Tensor._wrap(xb))
                    lt = loss_fn(out, Tensor._wrap(yb))
                    lv = float(lt.data)
                    out_data = out.data
                lr = optimizer.param_groups[0]["lr"]
                if not math.isfinite(lv):
                    stop, stop_msg = "diverged", _diverged_message(
                        "loss", lv, step, epoch, lr, history, have_snap)
                    if have_snap:
                        if runner is not None:
                            runner.restore_previous()
                        else:
                            for p, s in zip(params, snap):
                                np.copyto(p.data, s)
                    break
                if runner is not None:
                    # The update is applied only if the gradient norm is finite.
                    gnorm = runner.update(check=True)
                    if runner.replayed:
                        history.replayed_steps += 1
                    if not math.isfinite(gnorm):
                        gnorm = _safe_norm(params)  # a float32 sum of squares can overflow
                        if not math.isfinite(gnorm):
                            stop, stop_msg = "diverged", _diverged_message(
                                "gradient", gnorm, step, epoch, lr, history, False)
                            break
                        runner.update(check=False)
                else:
                    lt.backward()
                    sq = 0.0
                    for p in params:
                        g = p.grad
                        if g is not None:
                            gv = g.reshape(-1)
                            sq += float(np.dot(gv, gv))
                    gnorm = math.sqrt(sq)
                    if not math.isfinite(gnorm):
                        gnorm = _safe_norm(params)
                        if not math.isfinite(gnorm):
                            stop, stop_msg = "diverged", _diverged_message(
                                "gradient", gnorm, step, epoch, lr, history, False)
                            break
                    for p, s in zip(params, snap):
                        np.copyto(s, p.data)
                    if needs_closure:
                        optimizer.step(_batch_closure(model, loss_fn, params, xb, yb, lv))
                    else:
                        optimizer.step()
                have_snap = True
                step += 1
                batch += 1
                history.step_loss.append(lv)
                history.step_lr.append(lr)
                history.step_grad_norm.append(gnorm)
                nb = len(yb)
                sums["loss"] += lv * nb
                sums["n"] += nb
                sums["gnorm"] += gnorm
                sums["steps"] += 1
                for m, fn in track:
                    sums[m] += fn(out_data, yb, threshold)
                if sched_step:
                    scheduler.step()
                if step_cbs:
                    state.step, state.batch, state.loss, state.lr = step, batch, lv, lr
                    for fn in step_cbs:
                        fn(state)
                    if state.stop_requested is not None:
                        stop, stop_msg = state.stop_requested, state.stop_message
                display.step(epoch, batch, step, lv)
                if max_steps is not None and step >= max_steps:
                    stop, stop_msg = "max_steps", f"reached max_steps={max_steps}"
                elif max_time is not None and time.perf_counter() - t0 >= max_time:
                    stop, stop_msg = "max_time", f"reached max_time={max_time:g} s"
                if checkpoint_every is not None and step % checkpoint_every == 0 and stop is None:
                    sums["time"] = time.perf_counter() - t_epoch
                    checkpoint()
                if stop is not None:
                    break
            complete = batch >= n_batches
            sums["time"] = time.perf_counter() - t_epoch
            state.step, state.batch = step, batch
            if history.step_loss:
                state.loss, state.lr = history.step_loss[-1], history.step_lr[-1]
            if sums["steps"] == 0:
                break  # diverged at the first step of an epoch: nothing to record
            record = _epoch_record(epoch, step, sums, metric_names, optimizer, time.perf_counter() - t0)
            if val is not None:
                res = _evaluate_arrays(model, val[0], val[1], loss_fn, metric_names, threshold)
                record["val_loss"] = res.pop("loss")
                for k, v in res.items():
                    record["val_" + k] = v
            if replace_partial:
                history.epochs.pop()
                replace_partial = False
            history.epochs.append(record)
            state.logs = record
            if complete and scheduler is not None and not sched_step:
                if _is_plateau(scheduler):
                    scheduler.step(record.get("val_loss", record["train_loss"]))
                else:
                    scheduler.step()
            for cb in callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(state)
            if stop is None:
                if state.stop_requested is not None:
                    stop, stop_msg = state.stop_requested, state.stop_message
                elif tol is not None and record["train_loss"] < tol:
                    stop, stop_msg = "tol", f"training loss {record['train_loss']:.6g} < tol={tol:g}"
                elif grad_tol is not None and record["grad_norm"] < grad_tol:
                    stop, stop_msg = "converged", (
                        f"gradient norm {record['grad_norm']:.3g} < grad_tol={grad_tol:g}")
            display.epoch_end(record)
            if complete:
                epoch += 1
                batch = 0
                if ckpt_file is not None and stop is None:
                    sums = _new_sums(metric_names)
                    checkpoint()
            else:
                partial_record = True
        if stop is None:
            stop, stop_msg = "epochs", f"ran {epochs} epochs"
        loader.epoch = epoch0 + epoch + (1 if batch else 0)  # a reused loader moves on to new orders
        history.stop_reason, history.stop_message = stop, stop_msg
        state.stop_reason = stop
        state.epoch, state.batch, state.step = epoch, batch, step
        if ckpt_file is not None and finished not in _TERMINAL:
            checkpoint(finished_reason=stop, partial=partial_record)
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(state)
    except BaseException:
        display.close(history)
        raise
    finally:
        errstate.__exit__(None, None, None)
    display.close(history)
    if stop == "diverged" and finished != "diverged":
        warnings.warn(stop_msg, DivergenceWarning, stacklevel=2)
    return history


def _batch_closure(model, loss_fn, params, xb, yb, first_loss):
    """The closure ``optimizer.step(closure)`` needs: loss and gradients on this batch.

    The first call finds the gradients of the current parameters already
    computed by the step's own backward pass and returns that loss at once;
    later calls (line-search trials) recompute them.
    """
    calls = 0

    def closure():
        nonlocal calls
        calls += 1
        if calls == 1:
            return first_loss
        with enable_grad():
            for p in params:
                p.grad = None
            loss = loss_fn(model(Tensor._wrap(xb)), Tensor._wrap(yb))
            loss.backward()
        return float(loss.data)

    return closure


def _fast_path(model, loss_fn, optimizer, compile):
    """The traced step fit uses, or None for eager steps (see ``fit(compile=...)``)."""
    if compile is False:
        return None
    from ..compile import TrainStep, is_traceable_module

    if compile is None:
        modules = list(model.modules()) if hasattr(model, "modules") else [model]
        if not all(is_traceable_module(m) for m in modules) or not is_traceable_module(loss_fn):
            return None
    return TrainStep(model, loss_fn, optimizer)


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
