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

Speed: a subclass names its rule (a function of :mod:`descend.optim.functional`)
and the state arrays the rule takes; the base class runs the one loop that
applies it. Rules write through NumPy's ``out=`` arguments into scratch
buffers the optimizer keeps, so a step allocates no arrays once the state
exists. When the parameters of a group are consecutive views of one array,
and so are their gradients (as in :func:`descend.compile`'s traced step), the
rule runs once over the whole span instead of once per parameter: every rule
is elementwise, so the result is the same, bit for bit. No threads are
started and no process-wide setting is changed; how many threads NumPy's BLAS
uses is the caller's choice (e.g. ``threadpoolctl.threadpool_limits``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from operator import attrgetter, is_, methodcaller
from typing import Any

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "NonFiniteGradientError", "required"]


_grad_of, _data_of = attrgetter("grad"), attrgetter("data")


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

    A subclass names its rule (``_rule``, a function of
    :mod:`descend.optim.functional`), the state arrays it takes
    (:meth:`_buffers`) and where its keyword arguments come from
    (``_from_group``, ``_from_state``, :meth:`_hyper`); it may refine
    :meth:`_validate` (check one group's hyperparameters), :meth:`_init_state`
    (a new parameter's numbers), :meth:`_new_buffer` and :meth:`_advance`.
    """

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
        self._scratch: dict[np.dtype, np.ndarray] = {}  # per dtype: room for the scratch arrays
        self._views: dict[tuple, list] = {}  # (dtype, shape) -> the scratch arrays, views of the above
        self._spans: dict[int, _FlatSpan] = {}  # group index -> its flat span, while it lasts
        self._step_spans: list = []  # each group's span (or None) found by this step's checks
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

    #: Hyperparameters that must be numbers ``>= 0``, and those that must be True or False.
    _nonnegative: tuple[str, ...] = ()
    _flags: tuple[str, ...] = ()

    def _validate(self, group: dict, where: str) -> None:
        """Raise ValueError naming any invalid hyperparameter in ``group``."""
        for key in self._nonnegative:
            self._number(group, key, where, low=0)
        self._betas(group, where)
        for key in self._flags:
            self._flag(group, key, where)

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

        A non-finite value anywhere makes ``g·g`` non-finite, so one reduction
        per gradient (one over the whole span of a flat group, see
        :meth:`_flat_span`) decides for almost all of them; only a non-finite
        result (NaN/inf present, or an overflow of huge but finite values)
        needs the exact elementwise test, which names the parameter. The flat
        spans found are kept for the update that follows (``_step_spans``).
        """
        name = type(self).__name__
        ndarray, dot, isfinite = np.ndarray, np.dot, math.isfinite
        suspects = []  # (group index, parameter index, gradient) whose probe was not finite
        spans = self._step_spans = []
        # g·g overflows for huge finite values: that is told apart below, without a warning
        with np.errstate(over="ignore", invalid="ignore"):
            for gi, group in enumerate(self.param_groups):
                params = group["params"]
                span = self._last_span(gi, params)
                if span is not None:
                    # the same arrays as at the last step: their shapes and dtypes were checked then
                    spans.append(span)
                    flat = span.grad
                    if not isfinite(float(dot(flat, flat))):
                        suspects.extend((gi, j, p.grad) for j, p in enumerate(params)
                                        if p.grad is not None and p.grad.dtype.kind == "f")
                    continue
                present = []
                for j, p in enumerate(params):
                    g = p.grad
                    if g is None:
                        continue
                    if type(g) is not ndarray and not isinstance(g, ndarray):
                        raise TypeError(
                            f"{name}.step(): the gradient of parameter {self._param_label(gi, j)} is a "
                            f"{type(g).__name__}, not a NumPy array"
                        )
                    if g.shape != p.data.shape:
                        raise ValueError(
                            f"{name}.step(): the gradient of parameter {self._param_label(gi, j)} has shape "
                            f"{g.shape}, which does not match the parameter"
                        )
                    if g.dtype.kind == "f":
                        present.append((j, g))
                span = self._flat_span(gi, group) if present else None
                spans.append(span)
                if span is not None:
                    flat = span.grad
                    if not isfinite(float(dot(flat, flat))):
                        suspects.extend((gi, j, g) for j, g in present)
                    continue
                for j, g in present:
                    f = g if g.ndim == 1 else g.reshape(-1)
                    if not isfinite(float(dot(f, f))):
                        suspects.append((gi, j, g))
        for gi, j, g in suspects:
            finite = np.isfinite(g)
            if finite.all():
                continue  # huge finite values overflowed the probe
            if self.skip_nonfinite:
                self.skipped_steps += 1
                return False
            n_nan = int(np.isnan(g).sum())
            raise NonFiniteGradientError(
                f"{name}.step(): the gradient of parameter {self._param_label(gi, j)} "
                f"is not finite ({n_nan} NaN, {int(g.size - finite.sum()) - n_nan} infinite of {g.size} "
                "values); nothing was updated. Lower the learning rate, clip gradients, or pass "
                "skip_nonfinite=True to skip such steps"
            )
        return True

    # -- the rule: what a subclass declares ----------------------------------------------------
    #: The in-place rule of :mod:`descend.optim.functional`:
    #: ``rule(param, grad, *state_arrays, *scratch, **hyperparameters)``.
    _rule: Callable | None = None

    #: How many scratch arrays (each shaped like the parameter) the rule takes.
    _n_scratch = 2

    #: The per-parameter numbers in ``state`` that the rule's hyperparameters are
    #: computed from; a group takes the flat path only where they agree.
    _scalars: tuple[str, ...] = ("step",)

    def _init_state(self, state: dict, param: np.ndarray, group: dict) -> None:
        """Fill a parameter's empty state before its first step (arrays may be left to :meth:`_new_buffer`)."""
        state["step"] = 0

    def _buffers(self, group: dict) -> tuple[str | None, ...]:
        """The state keys of the arrays the rule takes, in its order; None where it takes None."""
        return ()

    def _new_buffer(self, key: str, shape: tuple, dtype: np.dtype, group: dict) -> np.ndarray:
        """A state array the parameter does not have yet (created at its first use): zeros."""
        return np.zeros(shape, dtype=dtype)

    def _advance(self, state: dict, group: dict) -> None:
        """Advance a parameter's counters before its update: ``step ← step + 1``."""
        state["step"] += 1

    #: The group's hyperparameters the rule takes (as keywords of the same names).
    _from_group: tuple[str, ...] = ()

    #: The per-parameter numbers in ``state`` the rule takes (as keywords of the same names).
    _from_state: tuple[str, ...] = ()

    #: The rule's keyword told whether a state array was just created (e.g. SGD's ``first``).
    _fresh_as: str | None = None

    def _hyper(self, state: dict, group: dict, fresh: bool) -> dict:
        """The rule's keyword arguments for this step; ``fresh``: a state array was just created.

        They depend only on the group's ``_from_group`` values, the state's ``_from_state``
        numbers and ``fresh`` (the update shares one result between the parameters, and the
        steps, for which those agree)."""
        hyper = {k: group[k] for k in self._from_group}
        for k in self._from_state:
            hyper[k] = state[k]
        if self._fresh_as is not None:
            hyper[self._fresh_as] = fresh
        return hyper

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
        spans, self._step_spans = self._step_spans, []
        self._apply(spans)
        return loss

    def _apply(self, spans: list | None = None) -> None:
        """The update itself, for gradients known to be finite: :meth:`step` checked them, or
        descend's traced step did (a finite norm over every gradient the update reads).

        ``spans``: each group's flat span or None, as the check found them (else found here).
        """
        if spans is None:
            groups = self.param_groups
            spans = [self._flat_span(0, groups[0])] if len(groups) == 1 else \
                [self._flat_span(gi, group) for gi, group in enumerate(groups)]
        state = self.state
        for group, span in zip(self.param_groups, spans, strict=True):
            if span is not None and self._step_flat(span, group):
                continue
            hypers: dict = {}  # the rule's keywords, shared by the parameters they agree for
            for p in group["params"]:  # parameter by parameter
                grad = p.grad
                if grad is not None:
                    self._update_one(p.data, grad, state[p], group, hypers=hypers)

    def _update_one(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict,
                    scratch: list | None = None, hypers: dict | None = None) -> None:
        """One parameter's update: initialise its state if empty, advance it, apply the rule.

        ``hypers`` caches the rule's keywords within one group's pass: they depend on
        the group, on ``fresh`` and on the state's ``_from_state`` numbers only.
        """
        if not state:
            self._init_state(state, param, group)
        if type(self)._advance is Optimizer._advance:  # (the usual counter, without a call)
            state["step"] += 1
        else:
            self._advance(state, group)
        fresh = False
        buffers = []
        for key in self._buffers(group):
            if key is None:
                buffers.append(None)
                continue
            buf = state.get(key)
            if buf is None:
                buf = state[key] = self._new_buffer(key, param.shape, param.dtype, group)
                fresh = True
            buffers.append(buf)
        if grad.dtype != param.dtype:
            grad = grad.astype(param.dtype)
        if scratch is None:
            scratch = self._scratch_views(param.dtype, param.shape)
        if hypers is None:
            hyper = self._hyper(state, group, fresh)
        else:
            tag = (fresh, *map(state.__getitem__, self._from_state)) if self._from_state else fresh
            hyper = hypers.get(tag)
            if hyper is None:
                hyper = hypers[tag] = self._hyper(state, group, fresh)
        self._rule(param, grad, *buffers, *scratch, **hyper)

    def _scratch_views(self, dtype: np.dtype, shape: tuple) -> list:
        """``_n_scratch`` arrays of ``shape``, views of one buffer kept between steps."""
        key = (dtype, shape)
        views = self._views.get(key)
        if views is None:  # the same shapes come back every step: slice the buffer once
            size = math.prod(shape)
            buf = self._scratch.get(dtype)
            if buf is None or buf.size < self._n_scratch * size:
                buf = self._scratch[dtype] = np.empty(self._n_scratch * size, dtype=dtype)
                self._views.clear()
            views = self._views[key] = [buf[i * size:(i + 1) * size].reshape(shape) for i in range(self._n_scratch)]
        return views

    # -- flat groups ------------------------------------------------------------------------------
    def _last_span(self, gi: int, params: list) -> _FlatSpan | None:
        """The group's span of the last step, while its arrays are still the same; else None."""
        span = self._spans.get(gi)
        return span if span is not None and span.matches(params) else None

    def _flat_span(self, gi: int, group: dict) -> _FlatSpan | None:
        """The group's parameters with gradients as one span, if they are consecutive views of
        one C-contiguous array, in order, and their gradients are too; else None.

        Cached per group: while the same arrays come back (the traced step's),
        the check is one identity test per parameter.
        """
        cached = self._last_span(gi, group["params"])
        if cached is not None:
            return cached
        span = _FlatSpan.find(group["params"])
        if span is None:
            self._spans.pop(gi, None)
        else:
            self._spans[gi] = span
        return span

    def _step_flat(self, span: _FlatSpan, group: dict) -> bool:
        """Apply the rule once over ``span``; False (nothing done) where the per-parameter
        numbers in the state (``step``, ...) or the state arrays present differ between
        parameters, which would give the parameters different hyperparameters."""
        # (C-level map() and plain loops, no comprehension per parameter: this runs every step)
        states = list(map(self.state.__getitem__, span.params))
        first = states[0]
        if not all(states):
            for st, p in zip(states, span.params, strict=True):
                if not st:
                    self._init_state(st, p.data, group)
        for k in self._scalars:
            if len(set(map(methodcaller("get", k), states))) != 1:
                return False
        buffer_keys = self._buffers(group)
        fresh = False
        for k in buffer_keys:
            if k is not None:
                there = k in first
                fresh = fresh or not there
                for st in states:
                    if (k in st) is not there:
                        return False
        if type(self)._advance is Optimizer._advance:  # (the usual counter, without a call each)
            for st in states:
                st["step"] += 1
        else:
            for st in states:
                self._advance(st, group)
        buffers = []
        for k in buffer_keys:
            buffers.append(None if k is None else span.state_array(k, states, self, group))
        scratch = span.scratch
        if scratch is None or scratch[0].dtype != span.param.dtype:
            scratch = span.scratch = self._scratch_views(span.param.dtype, span.param.shape)
        # The rule's keywords: kept while the group's hyperparameters are those of the last step
        # (and none comes from the state or a fresh state array).
        if self._from_state or fresh:
            hyper = self._hyper(first, group, fresh)
        else:
            values = tuple(map(group.__getitem__, self._from_group))
            cached = span.hyper
            if cached is not None and cached[0] == values:
                hyper = cached[1]
            else:
                hyper = self._hyper(first, group, fresh)
                span.hyper = (values, hyper)
        self._rule(span.param, span.grad, *buffers, *scratch, **hyper)
        return True

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
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {gi} has {len(saved['params'])} parameters "
                    f"in the snapshot but {len(group['params'])} here"
                )
            for idx, p in zip(saved["params"], group["params"], strict=True):
                id_map[int(idx)] = p
        new_groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
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



class _FlatSpan:
    """The parameters of a group that have gradients, seen as one array, and their gradients as another.

    Found where the parameters are consecutive C-contiguous views of one
    array, in the group's order, with one dtype, and so are their gradients.
    ``param`` and ``grad`` are 1-d views of the whole spans; ``flat_state``
    holds one 1-d array per state key, whose per-parameter views (``views``)
    are what ``optimizer.state[p]`` holds.
    """

    __slots__ = ("params", "datas", "grads", "param", "grad", "shapes", "bounds", "flat_state", "views",
                 "scratch", "hyper", "group", "group_grads", "group_datas")

    def __init__(self, params: list, datas: list, grads: list, param: np.ndarray, grad: np.ndarray) -> None:
        self.params, self.datas, self.grads = params, datas, grads
        self.param, self.grad = param, grad
        self.shapes = [d.shape for d in datas]
        sizes = np.cumsum([0] + [d.size for d in datas]).tolist()
        self.bounds = list(zip(sizes[:-1], sizes[1:], strict=True))
        self.flat_state: dict[str, np.ndarray] = {}
        self.views: dict[str, list] = {}
        self.scratch: list | None = None  # the optimizer's scratch arrays of the span's size
        self.hyper: tuple | None = None  # (the group's hyperparameters, the rule's keywords) last used

    def matches(self, params: list) -> bool:
        """Whether the group's parameters, their arrays and their gradients (None included)
        are the very objects the span was found on."""
        # (C-level identity tests over the lists: this runs every step)
        return len(params) == len(self.group) and all(map(is_, params, self.group)) \
            and all(map(is_, map(_grad_of, params), self.group_grads)) \
            and all(map(is_, map(_data_of, params), self.group_datas))

    @classmethod
    def find(cls, params: list) -> _FlatSpan | None:
        with_grads = [p for p in params if p.grad is not None]
        if len(with_grads) < 2:  # one parameter is its own span: nothing to gain
            return None
        datas = [p.data for p in with_grads]
        grads = [p.grad for p in with_grads]
        param = _joined(datas, writeable=True)
        if param is None:
            return None
        grad = _joined(grads, dtype=param.dtype)
        if grad is None:
            return None
        span = cls(with_grads, datas, grads, param, grad)
        span.group = list(params)
        span.group_grads = [p.grad for p in params]
        span.group_datas = [p.data for p in params]
        return span

    def state_array(self, key: str, states: list, optimizer: Optimizer, group: dict) -> np.ndarray:
        """The flat array of state ``key``, moving the parameters' separate arrays into it (by value)
        the first time, or after they were replaced (e.g. by ``load_state_dict``)."""
        views = self.views.get(key)
        if views is not None:
            for st, v in zip(states, views, strict=True):
                if st.get(key) is not v:
                    break
            else:
                return self.flat_state[key]
        flat = self.flat_state.get(key)
        if flat is None:
            flat = self.flat_state[key] = np.empty(self.param.size, dtype=self.param.dtype)
        views = self.views[key] = [
            flat[a:b].reshape(shape) for (a, b), shape in zip(self.bounds, self.shapes, strict=True)
        ]
        dtype = self.param.dtype
        for st, v in zip(states, views, strict=True):
            old = st.get(key)
            if old is None:
                old = optimizer._new_buffer(key, v.shape, dtype, group)
            if old is not v:
                np.copyto(v, old)
            st[key] = v
        return flat


def _joined(arrays: list, *, dtype=None, writeable: bool = False) -> np.ndarray | None:
    """A 1-d view over ``arrays`` if they are consecutive C-contiguous views of one array, else None."""
    first = arrays[0]
    base = first.base
    if not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
        return None
    dtype = first.dtype if dtype is None else dtype
    if dtype.kind != "f":
        return None
    for a in arrays:
        if a.base is not base or a.dtype != dtype or not a.flags.c_contiguous or (writeable and not a.flags.writeable):
            return None
    start = first.__array_interface__["data"][0]
    end = start
    for a in arrays:
        if a.__array_interface__["data"][0] != end:
            return None
        end += a.nbytes
    offset = start - base.__array_interface__["data"][0]
    raw = base.reshape(-1).view(np.uint8)
    return raw[offset:offset + (end - start)].view(dtype)
