"""Synchronous data-parallel mini-batch gradient descent on a Dask cluster.

The training set of ``n`` examples is cut into ``R`` contiguous shards, one per worker
(scattered once, never sent again; a ``dask.array`` is read by each worker from its own
storage). Every worker keeps a replica of the model and of the optimizer. For each global
mini-batch ``B`` (the same batches, in the same order, as single-process
:func:`descend.train.fit` draws from the same seed) worker ``r`` computes the gradient of its
part ``B_r = B ∩ shard_r``, weighted by its share of the batch::

    g_r = |B_r|/|B| · ∇ (1/|B_r|) Σ_{i ∈ B_r} loss_i  =  (1/|B|) Σ_{i ∈ B_r} ∇ loss_i
    g   = Σ_r g_r  =  ∇ (1/|B|) Σ_{i ∈ B} loss_i        (the single-process gradient)

The parts are summed in a fixed order, so every replica gets the same ``g`` to the last
bit and applies the same update: the replicas never drift apart, and the parameters equal
single-process ``fit``'s up to the rounding of the regrouped sum (about 1e-16 relative per
step in float64).

How the sum travels: with at most ``split_every`` workers each worker fetches the others'
parts directly from them (one worker-to-worker hop per step); with more, the parts are
added in a tree of fan-in ``split_every`` and the total is sent back to every worker
(``2·log_split_every(R)`` hops), never gathered in one place.

The loop is :class:`descend.train.Trainer`'s, the one single-process ``fit`` runs: this
module only provides its step (:class:`DataParallelStep`). Per step this process hears
back the loss, the gradient norm and the metric sums (a few numbers) and decides, as
``fit`` does, whether the replicas apply the update; the update itself travels with the
next step's tasks. The parameters come back once per epoch and at the end.
"""

from __future__ import annotations

import math
import uuid

import numpy as np

from ..data.dataset import _array_backed, as_arrays
from ..data.loader import DataLoader
from ..random import fork_rng, manual_seed
from ..tensor import Tensor
from ..train.guards import check_nonnegative as _nonneg
from ..train.guards import check_positive_int as _pos_int
from ..train.guards import check_seed
from ..train.guards import finite_grad_norm as _safe_norm
from ..train.metrics import METRICS, binary_threshold, check_metrics, resolve_loss
from ..train.trainer import Trainer
from .cluster import connect, require_distributed, worker_addresses

__all__ = ["fit", "DataParallelStep"]

# Replicas living in this (worker) process, keyed by (run token, rank). A module global
# rather than task results: the model and the optimizer state are mutated in place step
# after step, which Dask's immutable task results are not meant for.
_REPLICAS: dict = {}


# ----------------------------------------------------------------------------- messages
class _Part:
    """One worker's contribution to a step: ``Σ ∇loss_i / |B|`` over its examples and sums."""

    __slots__ = ("grads", "loss", "n", "metrics")

    def __init__(self, grads, loss, n, metrics):
        self.grads = grads      # list (one per parameter) of arrays or None; None: no examples
        self.loss = loss        # Σ over its examples of loss_i (float)
        self.n = n              # its examples in this batch
        self.metrics = metrics  # {name: sum over its examples}

    def __reduce__(self):
        return (_Part, (self.grads, self.loss, self.n, self.metrics))


def _add_parts(parts) -> _Part:
    """Sum parts in the order given (a fixed order: every replica gets the same bits)."""
    parts = [p for p in parts if p is not None]
    grads = None
    loss, n = 0.0, 0
    metrics: dict = {}
    for p in parts:
        loss += p.loss
        n += p.n
        for k, v in p.metrics.items():
            metrics[k] = metrics.get(k, 0.0) + v
        if p.grads is None:
            continue
        if grads is None:
            grads = list(p.grads)  # not copied yet: the first addition makes a new array
            fresh = [False] * len(grads)
            continue
        for j, g in enumerate(p.grads):
            if g is None:
                continue
            if grads[j] is None:
                grads[j] = g
            elif fresh[j]:
                grads[j] += g
            else:
                grads[j] = grads[j] + g
                fresh[j] = True
    if grads is not None:
        # the parts belong to Dask (they may be sent on); never hand one of them out to be modified
        grads = [g if g is None or fresh[j] else g.copy() for j, g in enumerate(grads)]
    return _Part(grads, loss, n, metrics)


def _combine(*parts) -> _Part | None:
    """A node of the reduction tree (runs wherever Dask puts it)."""
    if all(p is None for p in parts):
        return None
    return _add_parts(parts)


class _Lazy:
    """Holds a dask array so that Dask ships it as an object (its graph) instead of computing it."""

    def __init__(self, arrays):
        self.arrays = arrays


class _Spec:
    """Everything a worker needs to build its replica (sent once, at the start)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# ----------------------------------------------------------------------------- worker side
class _Replica:
    def __init__(self, rank, shard, spec):
        self.rank = rank
        # dropout and other randomness: an independent stream per replica, its own generator
        # (the worker's threads take turns running its tasks)
        self.generator = np.random.default_rng(
            None if spec.seed is None else int(np.random.SeedSequence([spec.seed, rank]).generate_state(1)[0]))
        with fork_rng(generator=self.generator):
            model = spec.model_factory()
        model.load_state_dict(spec.state)
        if hasattr(model, "train"):
            model.train()
        self.model = model
        self.params = list(model.parameters())
        self.optimizer = spec.make_optimizer(model.parameters())
        self.loss_fn = resolve_loss(spec.loss, "fit")
        self.metric_fns = [(m, METRICS[m]) for m in spec.metrics]
        self.threshold = spec.threshold
        self.dtype = np.dtype(spec.dtype)
        self.lazy = isinstance(shard, _Lazy)
        self.arrays = shard.arrays if self.lazy else shard
        self.snap = [np.empty_like(p.data) for p in self.params]

    # -- data ------------------------------------------------------------------------
    def batch(self, idx):
        if not self.lazy:
            return tuple(a[idx] for a in self.arrays)
        import dask

        lo = int(idx[0])
        if np.array_equal(idx, np.arange(lo, lo + len(idx))):  # in order: a slice, read chunk by chunk
            got = dask.compute(*(a[lo:lo + len(idx)] for a in self.arrays), scheduler="sync")
        else:
            # dask reads only the chunks holding these rows; ask in sorted order, put back
            order = np.argsort(idx, kind="stable")
            fetched = dask.compute(*(a[idx[order]] for a in self.arrays), scheduler="sync")
            got = []
            for f in fetched:
                out = np.empty_like(f)
                out[order] = f
                got.append(out)
        out = []
        for name, a in zip(("inputs", "targets"), got, strict=True):
            a = np.asarray(a)
            if a.dtype.kind == "f":
                if a.dtype != self.dtype:
                    a = a.astype(self.dtype)
                if not np.isfinite(a).all():
                    bad = np.argwhere(~np.isfinite(a))[0]
                    raise ValueError(
                        f"fit: the training {name} contain a non-finite value ({a[tuple(bad)]}) in shard "
                        f"{self.rank}, row {int(idx[bad[0]])} of the shard; remove or impute it before training")
            out.append(a)
        return tuple(out)

    # -- one step ----------------------------------------------------------------------
    def part(self, idx, batch_n) -> _Part:
        """This replica's share of the step: ``Σ_{i in B_r} ∇loss_i / |B|``, loss and metric sums."""
        if len(idx) == 0:
            return _Part(None, 0.0, 0, {m: 0 for m, _ in self.metric_fns})
        xb, yb = self.batch(idx)
        for p in self.params:
            p.grad = None
        with fork_rng(generator=self.generator):
            out = self.model(Tensor._wrap(xb))
        lt = self.loss_fn(out, Tensor._wrap(yb))
        lv = float(lt.data)
        nb = len(idx)
        if math.isfinite(lv):
            # seed dL/dL with |B_r|/|B|: the gradient of this part's share of the batch mean
            lt.backward(np.array(nb / batch_n, dtype=lt.dtype))
            grads = [None if p.grad is None else p.grad for p in self.params]
        else:
            grads = None  # the sum is non-finite anyway; the step will stop
        metrics = {m: fn(out.data, yb, self.threshold) for m, fn in self.metric_fns}
        for p in self.params:
            p.grad = None
        return _Part(grads, lv * nb, nb, metrics)

    def reduce(self, parts, total_n):
        """Sum the step's parts into ``.grad``; rank 0 reports ``(loss, gradient norm, metric sums)``."""
        total = _add_parts(parts)
        lv = total.loss / total_n
        for p, g in zip(self.params, total.grads or [None] * len(self.params), strict=True):
            p.grad = g
        if self.rank != 0:
            return None
        if not math.isfinite(lv):
            return lv, math.nan, total.metrics
        sq = 0.0
        for p in self.params:
            if p.grad is not None:
                gv = p.grad.reshape(-1)
                sq += float(np.dot(gv, gv))
        gnorm = math.sqrt(sq)
        if not math.isfinite(gnorm):
            gnorm = _safe_norm(self.params)  # a float32 sum of squares can overflow
        return lv, gnorm, total.metrics

    def apply(self, hyper) -> None:
        """The update the calling process decided on, with its optimizer hyperparameters."""
        if hyper is not True:  # True: unchanged since the last update
            for group, h in zip(self.optimizer.param_groups, hyper, strict=True):
                group.update(h)
        for p, s in zip(self.params, self.snap, strict=True):
            np.copyto(s, p.data)
        self.optimizer.step()
        for p in self.params:
            p.grad = None

    def restore(self) -> None:
        for p, s in zip(self.params, self.snap, strict=True):
            np.copyto(p.data, s)


def _init(token, rank, shard, spec):
    _REPLICAS[(token, rank)] = _Replica(rank, shard, spec)
    return rank


def _part(token, rank, apply, idx, batch_n):
    """Apply the previous step's update (if decided), then compute this step's part."""
    rep = _REPLICAS[(token, rank)]
    if apply is not None:
        rep.apply(apply)
    return rep.part(idx, batch_n)


def _reduce(token, rank, parts, batch_n):
    return _REPLICAS[(token, rank)].reduce(parts, batch_n)


def _flush(token, rank, apply, want_state):
    """Apply a pending update; with ``want_state`` return the parameters."""
    rep = _REPLICAS[(token, rank)]
    if apply is not None:
        rep.apply(apply)
    if want_state:
        return {k: np.array(v) for k, v in rep.model.state_dict().items()}
    return None


def _restore(token, rank):
    _REPLICAS[(token, rank)].restore()


def _release(token, rank):
    _REPLICAS.pop((token, rank), None)


# ----------------------------------------------------------------------------- the step
class DataParallelStep:
    """The Trainer's step (see :mod:`descend.train.steps`) over the replicas on the workers.

    The batches it gets are example indices (the Trainer draws them as for
    single-process ``fit``); each worker computes the part of its shard, every
    worker sums all parts in the same order, rank 0 reports loss, gradient
    norm and metric sums. ``update`` decides, here, whether the replicas apply
    the update (only when the norm is finite); the decision and the optimizer
    hyperparameters of this process's ``optimizer`` (so schedulers and changes
    between steps reach every replica) travel with the next step's tasks.
    """

    replayed = False

    def __init__(self, model, optimizer, split_every):
        self.model, self.optimizer, self.split_every = model, optimizer, split_every
        self.client = None
        self.futures = []  # the tasks in flight (cancelled if training fails)

    def connect(self, client, addresses, bounds, token) -> None:
        self.client, self.addresses, self.bounds, self.token = client, addresses, bounds, token
        self._k = 0
        self._pending = None   # the update decided but not yet sent: hyperparameters or True
        self._sent = None      # the hyperparameters the replicas have
        self._have_snap = False
        self._calls = 0

    def _submit(self, fn, r, *args, key):
        return self.client.submit(fn, self.token, r, *args, key=f"descend-fit-{self.token}-{key}-r{r}",
                                  workers=[self.addresses[r]], allow_other_workers=False, pure=False)

    def _take_pending(self):
        pending, self._pending = self._pending, None
        return pending

    def forward_backward(self, idx, _targets) -> float:
        c, bounds, k = self.client, self.bounds, self._k
        self._k += 1
        apply = self._take_pending()
        owner = np.searchsorted(bounds, idx, side="right") - 1
        n = len(idx)
        parts = [self._submit(_part, r, apply, idx[owner == r] - bounds[r], n, key=f"s{k}")
                 for r in range(len(self.addresses))]
        total = parts if len(parts) <= self.split_every else [
            _tree(c, parts, self.split_every, f"descend-fit-{self.token}-s{k}")]
        sums = [self._submit(_reduce, r, total, n, key=f"s{k}-sum") for r in range(len(self.addresses))]
        self.futures = sums
        _wait(c, sums, self.addresses)
        lv, self._gnorm, self._metrics = sums[0].result()
        self.futures = []
        return lv

    def update(self) -> float:
        gnorm = self._gnorm
        if math.isfinite(gnorm):
            hyper = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
            self._pending = True if hyper == self._sent else hyper
            self._sent = hyper
            self._have_snap = True
        return gnorm

    def restore_previous(self) -> bool:
        if not self._have_snap:
            return False
        self._have_snap = False
        self._run_all(_restore, "restore")
        return True

    def metric_sums(self, track, y, threshold) -> list:
        return [self._metrics[m] for m, _ in track]

    def sync(self) -> None:
        apply = self._take_pending()
        got = self._run_all(_flush, "sync", apply, want_state=True)
        self.model.load_state_dict(got)

    def _run_all(self, fn, key, *args, want_state=None):
        self._calls += 1
        key = f"{key}-{self._calls}"
        futs = [self._submit(fn, r, *args, *(() if want_state is None else (want_state and r == 0,)), key=key)
                for r in range(len(self.addresses))]
        self.futures = futs
        _wait(self.client, futs, self.addresses)
        self.futures = []
        return futs[0].result()


# ----------------------------------------------------------------------------- checks
def _is_dask(a) -> bool:
    return type(a).__module__.split(".")[0] == "dask" and hasattr(a, "chunks")


def _data(data, dtype):
    """``(X, y)``: NumPy arrays cast to the model's dtype and checked, or dask arrays (lazy)."""
    if isinstance(data, DataLoader):
        raise TypeError("fit: pass the data as (X, y) or a Dataset and give batch_size/shuffle/seed to fit "
                        "(a DataLoader's batches cannot be split across workers)")
    if isinstance(data, tuple) and any(_is_dask(a) for a in data):
        if len(data) != 2:
            raise ValueError(f"fit: data must be (inputs, targets); got {len(data)} arrays")
        arrays = []
        for name, a in zip(("inputs", "targets"), data, strict=True):
            if not _is_dask(a):
                raise TypeError(f"fit: the {name} must be a dask array too when the other one is")
            if a.ndim == 0 or any(math.isnan(c) for c in a.chunks[0]):
                raise ValueError(f"fit: the {name} dask array needs known chunk sizes along its first axis "
                                 f"(call .compute_chunk_sizes() first)")
            if a.dtype.kind not in "biuf":
                raise TypeError(f"fit: the {name} must hold numbers, got dtype {a.dtype}")
            arrays.append(a)
        if arrays[0].shape[0] != arrays[1].shape[0]:
            raise ValueError(f"fit: inputs and targets need the same number of examples; got "
                             f"{arrays[0].shape[0]} and {arrays[1].shape[0]}")
        return tuple(arrays), True
    if not (isinstance(data, tuple) or _array_backed(data)):
        raise TypeError(f"fit: data must be a tuple (X, y) of NumPy or dask arrays or an array Dataset, "
                        f"got {type(data).__name__}")
    arrays = as_arrays(data, "data")
    if len(arrays) != 2:
        raise ValueError(f"fit: data must be (inputs, targets); got {len(arrays)} array(s)")
    arrays = tuple(a.astype(dtype) if a.dtype.kind == "f" and a.dtype != dtype else a for a in arrays)
    for name, a in zip(("inputs", "targets"), arrays, strict=True):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(f"fit: the training {name} contain a non-finite value ({a[tuple(bad)]} at index "
                             f"{tuple(int(i) for i in bad)}); remove or impute it before training")
    return arrays, False


def _check_loss(loss):
    fn = resolve_loss(loss, "fit")
    reduction = getattr(loss, "reduction", "mean")
    if reduction != "mean":
        raise ValueError(f"fit: the loss must average over the batch (reduction='mean'), got "
                         f"reduction={reduction!r}: the workers' parts are weighted by their share of the batch")
    for attr in ("weight", "pos_weight"):
        if getattr(loss, attr, None) is not None:
            raise ValueError(f"fit: a loss with {attr}= is a weighted average, not a mean over examples; "
                             f"data-parallel training weights each worker's part by its number of examples")
    return fn


def _optimizer_factory(optimizer):
    if isinstance(optimizer, str):
        return _NamedOptimizer(optimizer)
    if hasattr(optimizer, "param_groups") and hasattr(optimizer, "step"):
        raise TypeError("fit: optimizer must build an optimizer for each replica: pass a function "
                        "params -> optimizer (e.g. lambda p: optim.SGD(p, lr=0.1)) or a name, not an instance")
    if not callable(optimizer):
        raise TypeError(f"fit: optimizer must be a function params -> optimizer or a name, got {optimizer!r}")
    return optimizer


class _NamedOptimizer:
    def __init__(self, name):
        self.name = name

    def __call__(self, params):
        from .. import optim

        return optim.get(self.name, params)


def _tree(c, parts, split_every, key):
    """Add futures of parts in a tree of fan-in ``split_every``; return the root's future."""
    level = 0
    while len(parts) > 1:
        parts = [c.submit(_combine, *parts[i:i + split_every], key=f"{key}-sum{level}-{i}", pure=False)
                 for i in range(0, len(parts), split_every)]
        level += 1
    return parts[0]


def _wait(c, futures, addresses, where="fit"):
    """Wait for ``futures``; re-raise a task's error; fail clearly if a replica's worker left."""
    distributed = require_distributed()
    while True:
        try:
            with c.as_current():
                distributed.wait(futures, timeout=2.0)
            break
        except TimeoutError:
            alive = set(c.scheduler_info(n_workers=-1)["workers"])
            gone = [a for a in addresses if a not in alive]
            if gone:
                raise RuntimeError(
                    f"{where}: worker {gone[0]} left the cluster during data-parallel training; its replica "
                    f"and its shard of the data went with it, so training cannot go on (start it again)"
                ) from None
    for f in futures:
        if f.status == "error":
            f.result()  # raises the worker's exception here
        if f.status == "cancelled":
            raise RuntimeError(f"{where}: a training task was cancelled (was the client or cluster closed?)")


# ----------------------------------------------------------------------------- fit
def fit(model_factory, data, *, loss, optimizer, batch_size=32, epochs=10, shuffle=True, seed=None,
        cluster=None, n_workers=None, progress=True, max_steps=None, metrics=("loss",), validation=None,
        scheduler=None, tol=None, grad_tol=None, split_every=4):
    """Synchronous data-parallel mini-batch gradient descent; returns the trained model.

    Parameters
    ----------
    model_factory : callable
        ``model_factory()`` builds the model (a ``descend.nn.Module``). It is called once
        here (after ``descend.manual_seed(seed)`` when a seed is given) for the starting
        parameters, which every replica copies, and once on each worker.
    data : tuple ``(X, y)`` of NumPy arrays or of dask arrays, or an array Dataset
        ``X`` of shape ``(n, ...)``, ``y`` of shape ``(n,)`` or ``(n, k)``. NumPy arrays are
        split into one contiguous shard per worker and scattered once. Dask arrays (e.g.
        ``da.from_zarr``, ``da.from_npy_stack``) are never loaded whole: each worker reads the
        rows of its batches from the array's storage (only the chunks holding them).
    loss : callable or str
        A mean over the batch (as in :func:`descend.train.fit`), without class weights.
    optimizer : callable or str
        ``optimizer(params) -> Optimizer`` (each replica builds its own) or a name for
        ``descend.optim.get``.
    batch_size, epochs, shuffle, seed, max_steps, metrics, tol, grad_tol
        As in :func:`descend.train.fit`. The global batch, its order and the seed are fit's:
        ``manual_seed(seed); model = model_factory(); train.fit(model, data, ..., seed=seed)``
        ends with the same parameters (float64: relative 1e-9; 1 worker: bit for bit).
    validation : (X, y), optional
        Evaluated here after every epoch (``val_loss``, ``val_<metric>``).
    scheduler : callable, optional
        ``scheduler(optimizer) -> LR scheduler`` for the optimizer built here, stepped after
        every epoch (``ReduceLROnPlateau`` gets ``val_loss``, or ``train_loss``); the
        hyperparameters of that optimizer reach every replica with the next step.
    cluster, n_workers
        Where to run (see :mod:`descend.distributed.cluster`); ``n_workers`` replicas (default:
        every worker of the cluster; at most one per example).
    progress : bool
        As in fit.
    split_every : int, default 4
        Up to this many workers each adds all the parts itself; beyond, a reduction tree of
        this fan-in.

    Returns
    -------
    Module
        The model built by ``model_factory`` with the trained parameters; its ``history``
        attribute holds the :class:`~descend.train.History` (per-step loss, learning rate
        and gradient norm, epoch records, stop reason), as fit returns it.

    Notes
    -----
    Randomness inside the model (dropout) draws per replica, so such a model is not
    reproduced example for example; batch normalisation normalises each worker's part
    of the batch (as PyTorch's DistributedDataParallel without SyncBatchNorm). If a worker
    holding a replica dies, training stops with an error: its replica and shard are gone.
    """
    distributed = require_distributed()
    # ---- validate everything before anything starts -----------------------------------
    if not callable(model_factory) or hasattr(model_factory, "parameters"):
        raise TypeError("fit: model_factory must be a function that builds the model (e.g. "
                        "lambda: nn.MLP([64, 32, 10])), not a model: every worker builds its own replica")
    batch_size = _pos_int(batch_size, "batch_size")
    epochs = _pos_int(epochs, "epochs")
    max_steps = _pos_int(max_steps, "max_steps")
    split_every = _pos_int(split_every, "split_every", allow_none=False)
    if split_every < 2:
        raise ValueError(f"fit: split_every must be at least 2, got {split_every}")
    tol = _nonneg(tol, "tol")
    grad_tol = _nonneg(grad_tol, "grad_tol")
    seed = check_seed(seed)
    if epochs is None and max_steps is None and tol is None and grad_tol is None:
        raise ValueError("fit: epochs=None needs another stopping rule (max_steps, tol, grad_tol)")
    metric_names = check_metrics(metrics)
    _check_loss(loss)
    threshold = binary_threshold(loss)
    make_optimizer = _optimizer_factory(optimizer)
    if scheduler is not None and not callable(scheduler):
        raise TypeError(f"fit: scheduler must be a function optimizer -> scheduler, got {scheduler!r}")

    if seed is not None:
        manual_seed(seed)
    model = model_factory()
    if not hasattr(model, "parameters") or not callable(model) or not hasattr(model, "state_dict"):
        raise TypeError(f"fit: model_factory() must return a descend.nn.Module, got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError("fit: the model has no parameters to train")
    dtype = params[0].data.dtype
    # The optimizer here holds the hyperparameters (the scheduler steps it); each replica's
    # own does the updates.
    opt0 = make_optimizer(model.parameters())
    if not (hasattr(opt0, "step") and hasattr(opt0, "param_groups")):
        raise TypeError(f"fit: optimizer(params) must return an optimizer, got {type(opt0).__name__}")
    sched0 = None
    if scheduler is not None:
        sched0 = scheduler(opt0)
        if not hasattr(sched0, "step"):
            raise TypeError(f"fit: scheduler(optimizer) must return a scheduler, got {type(sched0).__name__}")
    arrays, lazy = _data(data, dtype)
    n = int(arrays[0].shape[0])
    if n == 0:
        raise ValueError("fit: the training data is empty")
    if validation is not None:
        val = as_arrays(validation, "validation")
        if len(val) != 2 or len(val[0]) != len(val[1]):
            raise ValueError("fit: validation must be (inputs, targets) with as many targets as inputs")
    spec = _Spec(model_factory=model_factory, state={k: np.array(v) for k, v in model.state_dict().items()},
                 make_optimizer=make_optimizer, loss=loss, metrics=metric_names,
                 threshold=threshold, dtype=dtype.str, seed=seed)
    import cloudpickle

    try:
        cloudpickle.dumps(spec)
    except Exception as exc:
        raise TypeError(f"fit: model_factory, optimizer, scheduler and loss must pickle to reach the "
                        f"workers ({type(exc).__name__}: {exc})") from None
    step = DataParallelStep(model, opt0, split_every)
    # The Trainer draws the batches as example indices: the same batches, in the same order,
    # as single-process fit draws from the same seed.
    index = np.arange(n)
    trainer = Trainer(model, (index, index), loss=loss, optimizer=opt0, batch_size=batch_size, epochs=epochs,
                      shuffle=shuffle, max_steps=max_steps, validation=validation, metrics=metric_names,
                      scheduler=sched0, tol=tol, grad_tol=grad_tol, progress=progress, seed=seed, step=step)

    token = uuid.uuid4().hex[:12]
    with connect(cluster, n_workers, where="fit") as c:
        addresses = worker_addresses(c, n_workers, where="fit")[:n]
        R = len(addresses)
        bounds = [r * n // R for r in range(R + 1)]
        try:
            # ---- shards and replicas ----------------------------------------------------
            # the starting parameters travel once to each worker, not inside the task graph
            spec_f = c.scatter(spec, workers=addresses, broadcast=True, hash=False)
            inits = []
            for r, addr in enumerate(addresses):
                lo, hi = bounds[r], bounds[r + 1]
                if lazy:
                    shard = _Lazy(tuple(a[lo:hi] for a in arrays))
                else:
                    shard = c.scatter([tuple(a[lo:hi] for a in arrays)], workers=[addr], hash=False)[0]
                inits.append(c.submit(_init, token, r, shard, spec_f, key=f"descend-fit-{token}-init-{r}",
                                      workers=[addr], allow_other_workers=False, pure=False))
            step.futures = inits
            _wait(c, inits, addresses)
            del inits, shard, spec_f
            step.connect(c, addresses, bounds, token)
            trainer.run()
        except BaseException:
            if step.futures:
                c.cancel(step.futures)
            raise
        finally:
            try:
                alive = set(c.scheduler_info(n_workers=-1)["workers"])
                rel = [c.submit(_release, token, r, key=f"descend-fit-{token}-release-{r}", workers=[a],
                                allow_other_workers=False, pure=False)
                       for r, a in enumerate(addresses) if a in alive]
                with c.as_current():
                    distributed.wait(rel, timeout=10)
            except Exception:  # best effort: a lost worker has nothing left to release
                pass
    model.history = trainer.history
    return model
