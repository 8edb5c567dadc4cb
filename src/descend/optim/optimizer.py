"""The :class:`Optimizer` base class: parameter groups, state, checkpoints, the step loop.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"``, a list of
tensors, plus that group's hyperparameters) and ``state`` (a dict from tensor
to that parameter's buffers, e.g. Adam's ``exp_avg``). ``step()`` reads each
parameter's ``.grad`` and updates ``.data`` in place with the rules of
:mod:`descend.optim.functional`. Everything mirrors :class:`torch.optim.Optimizer`:
names, the ``state_dict`` layout, ``zero_grad(set_to_none=True)``, and the
rule that parameters whose ``.grad`` is None are skipped.

Additions:

* a gradient containing NaN or ±inf raises :class:`NonFiniteGradientError`
  naming the parameter *before anything changes*; with ``skip_nonfinite=True``
  the whole step is skipped instead and counted in ``skipped_steps``;
* parameters may be given as ``(name, tensor)`` pairs (``model.named_parameters()``)
  so that error messages use the names;
* every hyperparameter of every group is validated, including groups added
  later and groups loaded from a checkpoint.

Speed: updates are computed with NumPy's ``out=`` arguments into scratch
buffers the optimizer keeps, so a step allocates no arrays once the state
exists. Large steps are shared between threads (NumPy releases the GIL in its
loops; see :func:`descend.optim.set_num_threads`), parameter by parameter and
in slices of at most :data:`CHUNK` elements. Every rule is elementwise, so the
results depend neither on the slicing nor on the number of threads.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any, Callable, Iterator

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor
from . import _blas, _parallel

__all__ = ["Optimizer", "NonFiniteGradientError", "required", "CHUNK", "PARALLEL_MIN"]

#: Most elements per slice of a parameter: enough slices for threads to share a
#: large parameter, scratch arrays of bounded size. (Slices small enough to keep
#: a rule's arrays in the L2 cache were measured to lose more to the per-call
#: cost of NumPy, ~1 µs per ufunc call, than they gain.)
CHUNK = 1 << 18

#: Gradients of DOT_THREADED elements or more are probed for NaN/inf on descend's threads
#: (``Optimizer._pooled_probes``), each probe on one thread, except from BLAS_MIN elements
#: when the update itself runs on OpenBLAS's threads: then a threaded BLAS Σ|g|.
DOT_THREADED = 10_000
BLAS_MIN = 1 << 16

#: Elements per thread below which a step stays on one thread: waking a
#: worker costs tens of microseconds, a pass over 2¹⁸ elements about 50.
PARALLEL_MIN = 1 << 18


class NonFiniteGradientError(FloatingPointError):
    """A parameter's gradient contains NaN or infinity."""


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


#: Marker for a hyperparameter without default (as ``torch.optim.optimizer.required``).
required = _RequiredParameter()


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


class Optimizer:
    """Base class of all optimizers.

    Parameters
    ----------
    params
        An iterable of tensors, of ``(name, tensor)`` pairs, or of dicts
        (parameter groups: ``{"params": [...], "lr": 0.1, ...}``; keys missing
        from a group take the optimizer's defaults).
    defaults
        The hyperparameters and their default values.
    skip_nonfinite
        If True, a step whose gradients contain NaN or infinity is skipped (no
        parameter or state changes) and counted in ``skipped_steps``, instead
        of raising :class:`NonFiniteGradientError`.

    Subclasses implement :meth:`_validate` (check one group's
    hyperparameters), :meth:`_init_state` (a new parameter's state) and
    :meth:`_update` (apply the rule to one parameter).
    """

    #: Number of scratch arrays (each shaped like one slice) the update rule needs.
    _n_scratch = 2

    def __init__(self, params, defaults: dict[str, Any], *, skip_nonfinite: bool = False) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors or dicts, not a single "
                "Tensor; wrap it in a list: [tensor]"
            )
        if isinstance(params, (dict, set)):
            raise TypeError(
                f"{type(self).__name__}: params must be an ordered iterable (list) of tensors or dicts, "
                f"got a {type(params).__name__}"
            )
        self.defaults = dict(defaults)
        self._validate(self.defaults, "")
        self.skip_nonfinite = bool(skip_nonfinite)
        self.skipped_steps = 0
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[tuple, np.ndarray] = {}
        self._views: dict[tuple, list] = {}
        self._tasks: list | None = None
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- description ----------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # -- groups ---------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own hyperparameters) to optimize.

        Useful to unfreeze layers during fine-tuning. The group's missing
        hyperparameters take the defaults; every value is validated.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: param_group has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: parameters must be in an ordered collection (list), not a set, whose "
                "order changes between runs"
            )
        else:
            params = list(params)
        index = len(self.param_groups)
        tensors, names = [], []
        for item in params:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                names.append(item[0])
                item = item[1]
            tensors.append(item)
        if names and len(names) != len(tensors):
            raise ValueError(
                f"{name}: param group {index} mixes named (name, tensor) pairs and bare tensors; "
                "give all parameters names or none"
            )
        if "param_names" in group and not names:
            names = list(group["param_names"])
            if len(names) != len(tensors):
                raise ValueError(
                    f"{name}: param group {index} has {len(names)} param_names for {len(tensors)} params"
                )
        for j, p in enumerate(tensors):
            label = repr(names[j]) if names else f"param_groups[{index}]['params'][{j}]"
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {label} is a {type(p).__name__}; optimizers update descend Tensors")
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: parameter {label} is not a leaf tensor (it was computed by an operation); "
                    "optimize the tensors you created, e.g. with requires_grad=True"
                )
            if p.data.dtype.kind != "f":
                raise TypeError(
                    f"{name}: parameter {label} has dtype {p.data.dtype}; only floating-point tensors "
                    "can be optimized"
                )
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError(f"{name}: param group {index} contains the same parameter more than once")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in tensors):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        if self.param_groups and (bool(names) != ("param_names" in self.param_groups[0])):
            raise ValueError(
                f"{name}: all parameter groups must be given with names or all without; cannot add "
                f"a group {'with' if names else 'without'} names"
            )
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: param group {index} must specify a value for {key!r}")
            group.setdefault(key, default)
        self._validate(group, f" (param group {index})")
        group["params"] = tensors
        if names:
            group["param_names"] = names
        self.param_groups.append(group)

    def _validate(self, group: dict, where: str) -> None:
        """Raise ValueError naming any invalid hyperparameter in ``group``."""

    # -- helpers for subclasses' _validate --------------------------------------------
    def _bad(self, key: str, value, why: str, where: str) -> ValueError:
        return ValueError(f"{type(self).__name__}: invalid {key}={value!r}{where}: {why}")

    def _number(self, group: dict, key: str, where: str, *, low=None, high=None, high_open=False,
                low_open=False) -> None:
        if key not in group or group[key] is required:
            return
        value = group[key]
        if not _is_number(value):
            raise self._bad(key, value, "must be a number", where)
        if not math.isfinite(float(value)):
            raise self._bad(key, value, "must be finite", where)
        if low is not None and (value < low or (low_open and value == low)):
            raise self._bad(key, value, f"must be {'>' if low_open else '>='} {low}", where)
        if high is not None and (value > high or (high_open and value == high)):
            raise self._bad(key, value, f"must be {'<' if high_open else '<='} {high}", where)

    def _betas(self, group: dict, where: str) -> None:
        betas = group.get("betas")
        if betas is None:
            return
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise self._bad("betas", betas, "must be a pair (beta1, beta2)", where)
        for i, b in enumerate(betas):
            if not _is_number(b) or not math.isfinite(float(b)) or not 0.0 <= b < 1.0:
                raise self._bad(f"betas[{i}]", b, "must be a number in [0, 1)", where)

    def _flag(self, group: dict, key: str, where: str) -> None:
        if key in group and not isinstance(group[key], (bool, np.bool_)):
            raise self._bad(key, group[key], "must be True or False", where)

    # -- naming -------------------------------------------------------------------------
    def _param_label(self, gi: int, j: int) -> str:
        group = self.param_groups[gi]
        p = group["params"][j]
        if "param_names" in group:
            return f"{group['param_names'][j]!r} (shape {p.shape})"
        return f"param_groups[{gi}]['params'][{j}] (shape {p.shape})"

    # -- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def _check_grads(self) -> bool:
        """Validate every gradient before anything changes; False means skip this step.

        A non-finite value anywhere makes ``g·g`` (and ``Σ|g|``, ``Σ g``) non-finite,
        so one reduction per gradient (the cheapest full read there is: a BLAS dot
        product for small gradients; for large ones a sum on the threads the update
        will run on, see :meth:`_pooled_probes`) decides for almost all of them; only a
        non-finite result (NaN/inf present, or an overflow of huge but finite values)
        needs the exact elementwise test.
        """
        checked = []  # (group index, parameter index, gradient, probe or None)
        middle = []  # gradients probed on descend's threads (see _pooled_probes)
        dot, ndarray, isfinite, abs_sum = np.dot, np.ndarray, math.isfinite, _blas.abs_sum
        # Σ|g| on OpenBLAS's threads only where the update runs on them too: their polling
        # after a threaded call would take the cores from descend's threads (measured: Adam
        # 8.8 ms a step with that probe, 6.5 ms without, on 3M parameters and 2 cores).
        inline_max = math.inf if self._updates_on_blas_threads() else BLAS_MIN
        suspect = False
        with np.errstate(over="ignore", invalid="ignore"):  # once per step: it costs microseconds
            for gi, group in enumerate(self.param_groups):
                for j, p in enumerate(group["params"]):
                    g = p.grad
                    if g is None:
                        continue
                    if type(g) is not ndarray and not isinstance(g, ndarray):
                        raise TypeError(
                            f"{type(self).__name__}.step(): the gradient of parameter "
                            f"{self._param_label(gi, j)} is a {type(g).__name__}, not a NumPy array"
                        )
                    if g.shape != p.data.shape:
                        raise ValueError(
                            f"{type(self).__name__}.step(): the gradient of parameter "
                            f"{self._param_label(gi, j)} has shape {g.shape}, which does not match "
                            "the parameter"
                        )
                    if g.dtype.kind != "f":
                        continue
                    n = g.size
                    if n < DOT_THREADED or BLAS_MIN <= n < inline_max:  # inline: the usual case
                        # large: Σ|g|, which gains from BLAS threads (OpenBLAS's dot does not)
                        total = abs_sum(g) if n >= BLAS_MIN else None
                        if total is None:
                            f = g if g.ndim == 1 else g.reshape(-1)
                            total = float(dot(f, f))
                        if not isfinite(total):
                            suspect = True
                        checked.append((gi, j, g, total))
                    else:
                        middle.append(len(checked))
                        checked.append((gi, j, g, None))
            if middle:
                sums = self._pooled_probes([checked[k][2] for k in middle])
                for k, total in zip(middle, sums):
                    gi, j, g, _ = checked[k]
                    checked[k] = (gi, j, g, total)
                    if not isfinite(total):
                        suspect = True
        if not suspect:
            return True
        for gi, j, g, total in checked:
            if isfinite(total):
                continue
            finite = np.isfinite(g)
            if finite.all():
                continue
            if self.skip_nonfinite:
                self.skipped_steps += 1
                return False
            n_nan = int(np.isnan(g).sum())
            raise NonFiniteGradientError(
                f"{type(self).__name__}.step(): the gradient of parameter {self._param_label(gi, j)} "
                f"is not finite ({n_nan} NaN, {int(g.size - finite.sum()) - n_nan} infinite of {g.size} "
                "values); nothing was updated. Lower the learning rate, clip gradients, or pass "
                "skip_nonfinite=True to skip such steps"
            )
        return True

    def _updates_on_blas_threads(self) -> bool:
        """Whether this step's update runs on OpenBLAS's own threads (plain SGD's axpy)
        rather than on descend's (every other rule): the finiteness probe then may too."""
        return False

    @staticmethod
    def _pooled_probes(grads: list) -> list[float]:
        """A finiteness probe of each gradient, run on descend's threads, each probe in one
        thread: ``Σ|g|`` through single-threaded BLAS from :data:`BLAS_MIN` elements, a
        plain ``Σ g`` below (and where BLAS cannot take ``g``). For the gradients of
        :data:`DOT_THREADED` elements and more (see :meth:`_check_grads`) whose update
        does not run on OpenBLAS's threads: waking those for a probe costs far more than
        the probe, as they then poll for work and take the cores from descend's threads
        (and from other processes on a busy machine). Many such gradients are shared out
        among descend's threads. The caller suppresses NumPy's overflow warnings in this
        thread.
        """

        def probe(g):
            if g.size >= BLAS_MIN:
                total = _blas.abs_sum(g, one_thread=True)
                if total is not None:
                    return total
            return float(np.add.reduce(g, axis=None))

        def sums(run, errstate=False):
            with _blas.single_threaded():
                if errstate:  # warnings settings are per thread
                    with np.errstate(over="ignore", invalid="ignore"):
                        return [probe(g) for g in run]
                return [probe(g) for g in run]

        total = sum(g.size for g in grads)
        workers = max(1, min(_parallel.get_num_threads(), total // PARALLEL_MIN, len(grads)))
        if workers == 1:
            return sums(grads)
        # contiguous runs of gradients of about equal size, one per thread
        bounds, acc, target = [0], 0, total / workers
        for k, g in enumerate(grads):
            acc += g.size
            if acc >= target * len(bounds) and len(bounds) < workers:
                bounds.append(k + 1)
        bounds.append(len(grads))
        runs = [grads[bounds[k]:bounds[k + 1]] for k in range(len(bounds) - 1)]
        futures = [_parallel.pool().submit(sums, run, True) for run in runs[1:]]
        try:
            out = sums(runs[0])
        finally:
            rest = [f.result() for f in futures]
        for values in rest:
            out.extend(values)
        return out

    # -- the step -----------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given.

        ``closure`` (optional for all but L-BFGS) re-evaluates the model: it
        should zero the gradients, compute the loss, call ``backward()`` and
        return the loss. It is called once, with gradient recording on.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if not self._check_grads():
            return loss
        self._tasks = []
        try:
            for group in self.param_groups:
                self._update_group(group)
            self._run_tasks(self._tasks)
        finally:
            self._tasks = None
        return loss

    def _update_group(self, group: dict) -> None:
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = self.state[p]
            if not state:
                self._init_state(state, p.data, group)
            self._update(p.data, grad, state, group)

    def _init_state(self, state: dict, param: np.ndarray, group: dict) -> None:
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # -- applying a rule slice by slice, on several threads ---------------------------------------
    def _apply(self, rule: Callable, param: np.ndarray, grad: np.ndarray, buffers: tuple, **hyper) -> None:
        """Schedule ``rule(param, grad, *buffers, *scratch, **hyper)``; :meth:`step` runs them all at its end.

        Outside :meth:`step` the rule runs at once.
        """
        if grad.dtype != param.dtype or not grad.flags.c_contiguous:
            grad = np.ascontiguousarray(grad, dtype=param.dtype)
        task = (rule, param, grad, buffers, hyper)
        if self._tasks is None:
            self._run_tasks([task])
        else:
            self._tasks.append(task)

    def _pieces(self, tasks: list) -> list:
        """Split tasks into equal slices of at most :data:`CHUNK` elements: ``(size, rule, arrays, hyper)``.

        Elementwise rules give the same result on slices as on the whole
        array. Arrays that are not C-contiguous (rare: a parameter replaced by
        a strided view) stay whole.
        """
        pieces = []
        chunk = CHUNK
        for rule, param, grad, buffers, hyper in tasks:
            n = param.size
            if n == 0:
                continue
            if n <= chunk or not param.flags.c_contiguous:
                pieces.append((n, rule, (param, grad, *buffers), hyper))
                continue
            flat = [None if a is None else a.reshape(-1) for a in (param, grad, *buffers)]
            size = -(-n // -(-n // chunk))  # equal slices: 300,000 → 2 × 150,000, not 262,144 + 37,856
            for start in range(0, n, size):
                stop = start + size
                pieces.append(
                    (min(size, n - start), rule, tuple([None if a is None else a[start:stop] for a in flat]), hyper)
                )
        return pieces

    def _scratch_for(self, worker: int, dtype: np.dtype, size: int) -> np.ndarray:
        """A flat buffer of at least ``_n_scratch * size`` elements, kept between steps."""
        key = (worker, dtype)
        buf = self._scratch.get(key)
        if buf is None or buf.size < self._n_scratch * size:
            buf = np.empty(self._n_scratch * size, dtype=dtype)
            self._scratch[key] = buf
            self._views.clear()
        return buf

    def _run_pieces(self, pieces: list, worker: int, claim: Iterator[int]) -> None:
        """Run the pieces whose numbers this worker draws from ``claim``, with the worker's scratch.

        The workers share one counter, so a thread that gets less CPU time
        (the machine is busy) simply runs fewer pieces; which thread runs a
        piece does not change its result.
        """
        m = self._n_scratch
        n = len(pieces)
        while True:
            k = next(claim)  # atomic: itertools.count is implemented in C
            if k >= n:
                return
            size, rule, arrays, hyper = pieces[k]
            param = arrays[0]
            key = (worker, param.dtype, param.shape)
            scratch = self._views.get(key)
            if scratch is None:  # the same shapes come back every step: slice the buffer once
                buf = self._scratch[(worker, param.dtype)]
                scratch = self._views[key] = [buf[i * size:(i + 1) * size].reshape(param.shape) for i in range(m)]
            rule(*arrays, *scratch, **hyper)

    def _run_tasks(self, tasks: list) -> None:
        pieces = self._pieces(tasks)
        if not pieces:
            return
        total = sum(p[0] for p in pieces)
        workers = max(1, min(_parallel.get_num_threads(), total // PARALLEL_MIN, len(pieces)))
        largest: dict = {}
        for size, _, arrays, _ in pieces:
            largest[arrays[0].dtype] = max(largest.get(arrays[0].dtype, 0), size)
        for i in range(workers):  # allocated here, not concurrently in the workers
            for dtype, size in largest.items():
                self._scratch_for(i, dtype, size)
        claim = itertools.count()
        if workers == 1:
            self._run_pieces(pieces, 0, claim)
            return
        executor = _parallel.pool()
        futures = [executor.submit(self._run_pieces_single, pieces, i, claim) for i in range(1, workers)]
        try:
            self._run_pieces_single(pieces, 0, claim)
        finally:
            for f in futures:
                f.result()

    def _run_pieces_single(self, pieces: list, worker: int, claim: Iterator[int]) -> None:
        with _blas.single_threaded():  # these threads already share the work out
            self._run_pieces(pieces, worker, claim)

    # -- checkpoints --------------------------------------------------------------------------------
    def _packed_index(self) -> dict[int, int]:
        index: dict[int, int] = {}
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
        return index

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimizer: ``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}``.

        Parameters are numbered in group order (as in PyTorch). Arrays are
        copied, so the snapshot does not change as training continues; it can
        be written with :func:`descend.save`.
        """
        index = self._packed_index()
        groups = []
        for group in self.param_groups:
            packed = {k: (list(v) if k == "param_names" else v) for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = _copy_state(self.state[p])
        out = {"state": state, "param_groups": groups}
        if self.skipped_steps:
            out["skipped_steps"] = self.skipped_steps
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a snapshot made by :meth:`state_dict` (possibly saved and loaded from disk).

        The optimizer must have the same number of groups with the same
        numbers of parameters. Hyperparameters come from the snapshot; arrays
        are copied and cast to each parameter's dtype. Everything is checked
        before anything changes.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the snapshot has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        id_map: dict[int, Tensor] = {}
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {gi} has {len(saved['params'])} parameters "
                    f"in the snapshot but {len(group['params'])} here"
                )
            for idx, p in zip(saved["params"], group["params"]):
                id_map[int(idx)] = p
        new_groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            new_group = {k: (tuple(v) if k == "betas" else v) for k, v in saved.items() if k != "params"}
            for key, default in self.defaults.items():
                new_group.setdefault(key, default)
            self._validate(new_group, f" (param group {gi} of the loaded state)")
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            new_groups.append(new_group)
        new_state: defaultdict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            k = int(key)
            if k not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key!r}, which no group lists")
            p = id_map[k]
            if not isinstance(value, dict):
                raise ValueError(f"{name}.load_state_dict: state for parameter {key!r} is not a dict")
            new_state[p] = self._load_param_state(value, p, k)
        self.param_groups = new_groups
        self.state = new_state
        self.skipped_steps = int(state_dict.get("skipped_steps", 0))

    def _load_param_state(self, value: dict, p: Tensor, k: int) -> dict:
        """Copy one parameter's saved state, checking shapes and casting to the parameter's dtype."""
        out = {}
        for key, v in value.items():
            if isinstance(v, np.ndarray) and v.ndim > 0:
                if v.shape != p.data.shape:
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: state {key!r} of parameter {k} has shape "
                        f"{v.shape}, but the parameter has shape {p.data.shape}"
                    )
                out[key] = np.array(v, dtype=p.data.dtype if v.dtype.kind == "f" else v.dtype, copy=True)
            else:
                out[key] = _copy_value(v)
        return out


def _copy_value(v):
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return v.item()
        return v.copy()
    if isinstance(v, Tensor):
        return v.data.copy()
    if isinstance(v, list):
        return [_copy_value(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_copy_value(x) for x in v)
    if isinstance(v, dict):
        return {k: _copy_value(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def _copy_state(state: dict) -> dict:
    return {k: _copy_value(v) for k, v in state.items()}

