"""Trace once, replay: a training step as a flat list of NumPy calls into preallocated buffers.

A training loop repeats the same computation on batches of the same shape:
``loss_fn(model(x), y)``, its backward pass and an optimizer step. The eager
engine rebuilds the graph every time (a :class:`~descend.Tensor`, a closure and
fresh arrays per operation). :class:`TrainStep` records that graph once, while
running one ordinary eager step, and turns it into a *plan*.

The plan is made from the operations' own rules (:class:`descend.ops.rule.Rule`):
each rule's forward and vjp kernels are run once with a :class:`Recorder` as
their executor, which gives every result a buffer allocated for good and keeps
every NumPy call the kernels make, bound to those buffers
(``np.matmul(x, w.T, out=z)``, ``np.maximum(z, 0, out=a)``, ...). Later steps
copy the batch into the plan's input buffers and repeat the calls: no graph, no
allocation, no Python beyond a loop over bound calls. Nothing here knows how any
operation is differentiated; the kernels are the ones eager operations run, so a
replayed step computes the same numbers. The first replay of a plan is checked
anyway: the same forward is computed eagerly, and the loss and the model's output
must agree (this catches Python in a ``forward`` that does not go through descend
operations), or that signature runs eagerly.

The parameters are moved into one contiguous array (each ``param.data`` becomes a
view into it) and their gradients into another, so the optimizer's own
``step()`` updates each parameter group with one call of its rule over the whole
group (see :class:`descend.optim.Optimizer`), and the gradient norm is one dot
product. Before each update the parameters are copied aside, so that
``restore_previous`` (used by the training loop when a step diverges) can put
them back.

What is replayed: operations written as rules (:func:`replayable_ops`: ``linear``,
``relu``, ``leaky_relu``, ``sigmoid``, ``tanh``, ``dropout`` (and ``dropout2d``),
``reshape``, ``cross_entropy`` with class indices and ``mse_loss``, ``batch_norm``
(whose running statistics a replay updates in place, once per step), the
convolution, pooling and padding of :mod:`descend.ops.conv`, with their common
options). A step that records anything else (another operation, an unusual
option, a tensor that requires grad but is not a parameter of the model) runs
eagerly, every time. A plan belongs to one *signature*: the shapes and dtypes of
``x`` and ``y``, the ``training`` flag of every module, and the parameters'
arrays and ``requires_grad`` flags; when any of these changes, the step is
traced again (plans for a few signatures are kept, so the smaller last batch of
an epoch gets its own). A replayed step that meets data the eager step would
treat specially (a label out of range or equal to ``ignore_index``, a NaN
target, a NaN or infinite loss) is rerun eagerly, so errors and warnings are the
eager ones.

Tracing is per thread: a :class:`Tracer` records only the operations of the
thread that entered it. This module sits above :mod:`descend.nn` and
:mod:`descend.optim` (it calls the optimizer) and below :mod:`descend.train`.
"""

from __future__ import annotations

import math
from collections import deque
from functools import partial
from operator import attrgetter, is_
from operator import call as _call

import numpy as np

from . import random as _random
from .autograd import backward as _backward
from .autograd import no_grad as _no_grad
from .ops.rule import Rule
from .optim.optimizer import Optimizer
from .tensor import Tensor, _local

__all__ = ["TrainStep", "Tracer", "Recorder", "replayable_ops", "is_traceable_module"]

#: How many signatures (batch shapes, training modes) keep a plan.
MAX_PLANS = 4

_training, _data_of, _grad_of = attrgetter("training"), attrgetter("data"), attrgetter("grad")
_requires_grad_of = attrgetter("requires_grad")
_run_all = deque(maxlen=0).extend  # consumes an iterator (of calls) without keeping anything


class Unsupported(Exception):
    """The recorded step has something the replay does not handle (it runs eagerly)."""


def replayable_ops() -> list[str]:
    """The operations a traced step may contain: those written as a :class:`~descend.ops.rule.Rule`."""
    from . import nn  # noqa: F401  (nn.functional defines the layers' and losses' rules)

    return sorted(Rule.registry)


# ============================================================================ tracing
class Node:
    """One recorded operation: its rule, output tensor, inputs (tensors or None) and options."""

    __slots__ = ("rule", "out", "inputs", "attrs")

    def __init__(self, rule, out, inputs, attrs):
        self.rule, self.out, self.inputs, self.attrs = rule, out, inputs, attrs

    @property
    def op(self) -> str:
        return self.rule.name

    def __repr__(self) -> str:
        return f"Node({self.op})"


class Tracer:
    """Collects the operations of one eager step in the thread that entered it.

    Every operation reports its output (:func:`descend.tensor.record`); those
    written as rules also report the rule, inputs and options, so an operation
    without one is noticed and the step is not replayed.
    """

    def __init__(self):
        self.nodes: list[Node] = []
        self.seen: list[tuple[Tensor, str]] = []
        self._noted: set[int] = set()

    def saw(self, t: Tensor, op: str) -> None:
        self.seen.append((t, op))  # keeps t alive, so ids stay unique during the trace

    def note(self, t: Tensor, rule: Rule, inputs: tuple, attrs: dict | None) -> None:
        self._noted.add(id(t))
        self.nodes.append(Node(rule, t, inputs, attrs))

    def unsupported(self) -> list[str]:
        """Names of recorded operations that are not rules."""
        return sorted({op for t, op in self.seen if id(t) not in self._noted})

    def __enter__(self):
        self._prev = _local.tracer
        _local.tracer = self
        return self

    def __exit__(self, *exc):
        _local.tracer = self._prev
        return False


# ============================================================================ recording kernels
class _Recorded:
    """A NumPy function (or ufunc method) whose calls a :class:`Recorder` keeps instead of running."""

    __slots__ = ("rec", "fn")

    def __init__(self, rec, fn):
        self.rec, self.fn = rec, fn

    def __call__(self, *args, **kwargs):
        if len(args) > 3 and getattr(self.fn, "__name__", "") == "reduce":
            out = args[3]  # ufunc.reduce(array, axis, dtype, out, keepdims): out by position
            reads = args[:3] + args[4:]
        else:
            out = kwargs.get("out")  # where the result will be: the buffer the kernel gave
            reads = (*args, *(v for k, v in kwargs.items() if k != "out"))
        self.rec.keep(self.fn, args, kwargs, out, reads)
        return out

    def __getattr__(self, name):  # np.add.reduce, np.subtract.at
        return _Recorded(self.rec, getattr(self.fn, name))


class Recorder:
    """The executor that turns a rule's kernels into bound calls (see :mod:`descend.ops.rule`).

    ``buffer``/``empty`` allocate arrays that stay (the plan's memory);
    ``k.<numpy function>(..., out=buffer)`` keeps the call and returns the
    buffer (a call that reads only constants is made at once instead); ``call(fn, *args)`` keeps any call, ``into(fn, out, *args)`` a call
    ``fn(*args, out)`` that writes into ``out``; ``check`` keeps a test that
    must hold for a step to be replayed.
    """

    recording = True

    def __init__(self):
        self.calls: list = []
        self.checks: list = []
        self.fixed: dict[int, np.ndarray] = {}  # id -> array of the buffers that hold constants

    def __getattr__(self, name):
        return _Recorded(self, getattr(np, name))

    def fix(self, arr: np.ndarray) -> None:
        """Declare ``arr`` constant for the plan's life (the loss's seed gradient, 1)."""
        self.fixed[id(arr)] = arr  # (kept alive, so that its id stays its own)

    def keep(self, fn, args, kwargs, out, reads) -> None:
        """Keep the call ``fn(*args, **kwargs)`` writing ``out`` and reading ``reads``; or, when
        every array it reads is constant, make it now and declare ``out`` constant (folded:
        e.g. the loss's gradient 1 times 1/N is computed once, not every step)."""
        fixed = self.fixed
        if isinstance(out, np.ndarray):
            if id(out) in fixed:
                raise Unsupported("a kernel writes into a buffer the plan holds constant")
            reads = [a for a in reads if isinstance(a, np.ndarray)]
            if reads and all(id(a) in fixed for a in reads):
                fn(*args, **kwargs)
                fixed[id(out)] = out
                return
        self.calls.append(partial(fn, *args, **kwargs))

    def buffer(self, shape, dtype) -> np.ndarray:
        return np.empty(shape, dtype)

    empty = buffer  # (eagerly a buffer may be None; an ``empty`` is always an array)

    def call(self, fn, *args) -> None:
        self.calls.append(partial(fn, *args))

    def into(self, fn, out, *args) -> np.ndarray:
        self.calls.append(partial(fn, *args, out))
        return out

    def check(self, fn, *args) -> bool:
        self.checks.append(partial(fn, *args))
        return True

    def take_calls(self) -> list:
        """The calls kept so far (and start a new list)."""
        calls, self.calls = self.calls, []
        return calls


# ============================================================================ the recorded graph
class Slot:
    """A value of the recorded step: the batch, the targets, a parameter, a constant or an op's output."""

    __slots__ = ("kind", "index", "shape", "dtype", "requires_grad", "const")

    def __init__(self, kind, index, shape, dtype, requires_grad=False, const=None):
        self.kind, self.index, self.shape, self.dtype = kind, index, tuple(shape), np.dtype(dtype)
        self.requires_grad, self.const = requires_grad, const


class Graph:
    """The recorded step resolved into slots: what every node reads and writes."""

    def __init__(self, tracer: Tracer, x: Tensor, y: Tensor, params: list, output: Tensor, loss: Tensor):
        bad = tracer.unsupported()
        if bad:
            raise Unsupported("no replay rule for " + ", ".join(bad))
        if not tracer.nodes:
            raise Unsupported("the step recorded no operation")
        self.slots: list[Slot] = []
        ids: dict[int, Slot] = {}
        self.x = self._add(ids, x, Slot("input", 0, x.data.shape, x.data.dtype), x.data)
        self.y = self._add(ids, y, Slot("target", 0, y.data.shape, y.data.dtype), y.data)
        self.param_slots = [self._add(ids, p, Slot("param", i, p.data.shape, p.data.dtype, p.requires_grad))
                            for i, p in enumerate(params)]
        self.nodes = []  # (rule, attrs, input slots, output slot)
        for node in tracer.nodes:
            ins = tuple(None if v is None else self._resolve(ids, v) for v in node.inputs)
            out = Slot("node", len(self.nodes), node.out.data.shape, node.out.data.dtype, node.out.requires_grad)
            ids[id(node.out)] = out
            self.slots.append(out)
            self.nodes.append((node.rule, node.attrs, ins, out))
        self.output = ids.get(id(output))
        self.loss = ids.get(id(loss))
        if self.output is None or self.output.kind != "node":
            raise Unsupported("the model's output is not the result of a recorded operation")
        if self.loss is None or self.loss.kind != "node" or self.loss.shape != ():
            raise Unsupported("the loss is not a scalar computed by a recorded operation")
        if self.loss.dtype.kind != "f":
            raise Unsupported(f"a loss of dtype {self.loss.dtype}")
        # The ids above referred to the traced tensors; from here on only shapes, dtypes and
        # options are needed, so the traced step's arrays are let go.
        tracer.nodes.clear()
        tracer.seen.clear()
        # Which slots receive a gradient, walking back from the loss (as backward() would).
        reached = {id(self.loss)}
        for _, _, ins, out in reversed(self.nodes):
            if id(out) in reached:
                reached.update(id(s) for s in ins if s is not None and s.requires_grad)
        self.reached = reached
        self.grad_params = [s for s in self.param_slots if id(s) in reached]
        for s in self.slots:
            if s.kind == "const" and s.requires_grad and id(s) in reached:
                raise Unsupported("a tensor that requires grad is not a parameter of the model")

    def _add(self, ids, obj, slot, data=None):
        ids[id(obj)] = slot
        if data is not None:
            ids[id(data)] = slot
        self.slots.append(slot)
        return slot

    def _resolve(self, ids, v) -> Slot:
        s = ids.get(id(v))
        if s is None and isinstance(v, Tensor):
            s = ids.get(id(v.data))  # the batch itself, wrapped anew by the loss function
        if s is not None:
            return s
        arr, rg = (v.data, v.requires_grad) if isinstance(v, Tensor) else (np.asarray(v), False)
        # A value from outside the recorded operations (a constant tensor): replayed as the
        # same array. One derived from the data without descend operations would go stale;
        # the first replay is checked against eager to catch it.
        s = Slot("const", len(self.slots), arr.shape, arr.dtype, rg, const=arr)
        ids[id(v)] = s
        self.slots.append(s)
        return s


class Plan:
    """One signature's bound calls: checks, forward, backward, over buffers made once."""

    __slots__ = ("checks", "fwd", "bwd", "x", "y", "loss", "output", "uses_rng", "state")

    def __init__(self, graph: Graph, param_values: list, grad_views: dict):
        """``param_values``: every parameter's array; ``grad_views``: param index -> its gradient array."""
        rec = Recorder()
        self.x = np.empty(graph.x.shape, graph.x.dtype)
        self.y = np.empty(graph.y.shape, graph.y.dtype)
        values: dict[int, np.ndarray] = {id(graph.x): self.x, id(graph.y): self.y}
        for s in graph.param_slots:
            values[id(s)] = param_values[s.index]
        for s in graph.slots:
            if s.kind == "const":
                values[id(s)] = s.const
        done = []
        for rule, attrs, ins, out in graph.nodes:
            xs = tuple(None if s is None else values[id(s)] for s in ins)
            y, saved = rule.forward(rec, xs, attrs)
            if not isinstance(y, np.ndarray) or y.shape != out.shape or y.dtype != out.dtype:
                raise Unsupported(f"the rule of {rule.name} gave no buffer of the traced shape and dtype")
            values[id(out)] = y
            done.append((rule, attrs, ins, out, xs, y, saved))
        self.fwd = tuple(rec.take_calls())
        self.checks = tuple(rec.checks)
        self.uses_rng = any(rule.uses_rng for rule, *_ in done)
        # arrays the forward changes in place (running statistics): kept and put back around a
        # replay that ends up running the step eagerly, so that they change once
        self.state = tuple(attrs[name] for rule, attrs, *_ in done for name in rule.updates
                           if attrs[name] is not None)
        # Backward: gradients from the loss (seed 1) back, each node's vjps into buffers. A
        # gradient's first contribution is written where the gradient lives (a parameter's
        # view of the gradient array), later ones are added to it.
        seed = np.ones((), graph.loss.dtype)
        rec.fix(seed)
        grads: dict[int, np.ndarray] = {id(graph.loss): seed}
        for rule, attrs, ins, out, xs, y, saved in reversed(done):
            g = grads.get(id(out))
            if g is None:
                continue
            for i, s in enumerate(ins):
                if s is None or not s.requires_grad or id(s) not in graph.reached:
                    continue
                first = id(s) not in grads
                if first and s.kind == "param":
                    dst = grad_views[s.index]
                else:
                    dst = np.empty(s.shape, s.dtype)
                got = rule.vjp(rec, i, xs, y, saved, attrs, g, dst)
                if got is not dst:  # a view (reshape): copied into place
                    if not isinstance(got, np.ndarray) or got.shape != dst.shape:
                        raise Unsupported(f"the vjp of {rule.name} gave no gradient of the input's shape")
                    rec.copyto(dst, got)
                if first:
                    grads[id(s)] = dst
                else:
                    rec.add(grads[id(s)], dst, out=grads[id(s)])
        self.bwd = tuple(rec.take_calls())
        self.loss = values[id(graph.loss)]
        self.output = values[id(graph.output)]

    def keep_state(self) -> list | None:
        """Copies of the arrays the forward changes in place (None when there are none)."""
        return [a.copy() for a in self.state] if self.state else None

    def put_back_state(self, kept: list | None) -> None:
        for a, k in zip(self.state, kept or (), strict=False):
            np.copyto(a, k)

    def run(self, x: np.ndarray, y: np.ndarray):
        """Forward and backward on (x, y); the loss as a float, or None to run this step eagerly."""
        np.copyto(self.x, x)
        np.copyto(self.y, y)
        for check in self.checks:
            if not check():
                return None
        _run_all(map(_call, self.fwd))  # (the calls made from C: no Python loop per call)
        loss = float(self.loss)
        if loss - loss != 0.0:  # NaN or ±inf: the eager step decides what that means
            return None
        _run_all(map(_call, self.bwd))
        return loss


class _Entry:
    __slots__ = ("plan", "verified", "failed", "sig", "flags")

    def __init__(self, sig=None, flags=None):
        self.plan, self.verified, self.failed = None, False, None
        self.sig, self.flags = sig, flags  # batch shapes and dtypes; modules' training flags


# ============================================================================ parameter arrays
def _offset(arr: np.ndarray, base: np.ndarray) -> int:
    return (arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // arr.itemsize


class Arena:
    """The parameters in one contiguous array, their gradients in another.

    ``param.data`` of every parameter becomes a view into :attr:`flat`; if they
    already are views of one array laid out in this order (an earlier fit), it
    is reused without copying. :attr:`grad` (with :attr:`grad_views`) holds the
    gradients in the same layout.
    """

    def __init__(self, params: list, dtype):
        self.params = params
        self.dtype = np.dtype(dtype)
        self.shapes = [p.data.shape for p in params]
        self.sizes = [p.data.size for p in params]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        total = self.starts[-1]
        base = self._existing_base(params, total)
        if base is None:
            base = np.empty(total, self.dtype)
            for p, v in zip(params, self._views(base), strict=True):
                v[...] = p.data
        self.flat = base
        self.views = self._views(base)
        self.grad = np.zeros(total, self.dtype)
        self.grad_views = self._views(self.grad)
        self.outside = None  # (a model's parameter list, those of them not in the arena)
        for p, v in zip(params, self.views, strict=True):
            p.data = v

    def _views(self, flat):
        return [flat[a:a + n].reshape(s) for a, n, s in zip(self.starts, self.sizes, self.shapes, strict=False)]

    def _existing_base(self, params, total):
        base = params[0].data.base if params else None
        if base is None or base.ndim != 1 or base.size != total or base.dtype != self.dtype \
                or not base.flags.c_contiguous or not base.flags.writeable:
            return None
        for p, start in zip(params, self.starts, strict=False):
            d = p.data
            if d.base is not base or not d.flags.c_contiguous or _offset(d, base) != start:
                return None
        return base

    def intact(self) -> bool:
        """True while every parameter still holds its view of the array."""
        return all(map(is_, map(_data_of, self.params), self.views))  # (C-level: every step)


# ============================================================================ the step
def _module_list(model) -> list:
    mods = getattr(model, "modules", None)
    return list(mods()) if callable(mods) else []


#: descend.nn classes whose forward only calls descend operations (safe to trace).
_PURE_MODULES = {
    "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softplus", "ELU", "Softmax", "LogSoftmax",
    "Dropout", "Identity", "Flatten", "MLP", "Sequential",
    "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Dropout2d", "LeNet", "BatchNorm1d", "BatchNorm2d",
    "MSELoss", "L1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
}


def is_traceable_module(obj) -> bool:
    """True for descend.nn's own layers, containers and losses (and functions of descend.nn.functional)."""
    cls = type(obj)
    if callable(obj) and not hasattr(obj, "forward"):  # a function: descend's own losses only
        return getattr(obj, "__module__", "") == "descend.nn.functional"
    return cls.__module__.startswith("descend.nn") and cls.__name__ in _PURE_MODULES


class TrainStep:
    """One training step, ``optimizer.zero_grad(); loss_fn(model(x), y).backward(); optimizer.step()``,
    traced on first use and replayed after that.

    >>> step = TrainStep(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    >>> for xb, yb in batches:
    ...     loss = step(xb, yb)          # a float

    ``x`` and ``y`` are NumPy arrays (or tensors); ``x`` is converted to the
    parameters' dtype. After a step, ``param.grad`` holds this step's gradient
    (it does not accumulate across steps) and ``param.data`` is a view into
    the model's parameter array (see :class:`Arena`). :attr:`replayed` says
    whether the last step was replayed, :attr:`reason` why not. The update is
    the optimizer's own ``step()``.
    """

    def __init__(self, model, loss_fn, optimizer=None):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.params = list(model.parameters())
        self.modules = _module_list(model)
        self.dtype = self.params[0].data.dtype if self.params else np.dtype(np.float32)
        self.entries: dict = {}
        self.arena: Arena | None = None
        self.replayed = False
        self.reason = "not run yet"
        self.output = None  # the model's output of the last step (an array)
        self._eager_grads = False
        self._nonfinite = False
        self._previous = None
        self._snap = None  # the parameter array before the last update
        self._snap_list = None  # or each parameter's, when they are not in the arena
        self._rg = tuple(p.requires_grad for p in self.params)
        self._hot = None
        self._last = None
        # A descend optimizer whose step() is the base class's: its update can be applied
        # without its gradient check once this step has checked the norm (see update()).
        self._own_step = isinstance(optimizer, Optimizer) and type(optimizer).step is Optimizer.step

    # -- signature and invalidation ------------------------------------------------------
    def _valid(self) -> bool:
        """Parameters and flags as when the plans were made (else drop every plan)."""
        if self.arena is not None and not self.arena.intact():
            return False
        return all(map(is_, map(_requires_grad_of, self.params), self._rg))

    def _reset(self) -> None:
        self.entries.clear()
        self._hot = None
        self.arena = None
        self._previous = None
        self._rg = tuple(p.requires_grad for p in self.params)

    # -- one step -------------------------------------------------------------------------
    def forward_backward(self, x, y, backward_nonfinite: bool = False) -> float:
        """Loss of ``(x, y)`` as a float; every parameter that gets one has its gradient in ``.grad``.

        A NaN or infinite loss gets no backward pass unless ``backward_nonfinite``.
        """
        self._nonfinite = backward_nonfinite
        if type(x) is not np.ndarray:
            x = np.asarray(x.data if isinstance(x, Tensor) else x)
        if type(y) is not np.ndarray:
            y = np.asarray(y.data if isinstance(y, Tensor) else y)
        if x.dtype != self.dtype and x.dtype.kind == "f":
            x = x.astype(self.dtype)
        if not self._valid():
            self._reset()
        sig = (x.shape, x.dtype, y.shape, y.dtype)
        flags = list(map(_training, self.modules))
        entry = self._hot  # the last step's entry: usually this one, found without hashing
        if entry is None or entry.sig != sig or entry.flags != flags:
            key = (sig, tuple(flags))
            entry = self.entries.get(key)
            if entry is None:
                if len(self.entries) >= MAX_PLANS:
                    self.entries.pop(next(iter(self.entries)))
                entry = self.entries[key] = _Entry(sig, flags)
                self._hot = entry
                return self._trace(entry, x, y)
            self._hot = entry
        if entry.failed is not None or not _local.grad_enabled:
            self.reason = entry.failed or "gradient recording is off"
            return self._eager(x, y)
        plan = entry.plan
        if not entry.verified:
            return self._verify(entry, plan, x, y)
        state = _random.generator().bit_generator.state if plan.uses_rng else None
        kept = plan.keep_state() if plan.state else None
        loss = plan.run(x, y)
        if loss is None:
            if state is not None:
                _random.generator().bit_generator.state = state
            plan.put_back_state(kept)
            self.reason = "this batch needs the eager step (label, target or loss value)"
            return self._eager(x, y, into_arena=True)
        self._replayed(plan)
        return loss

    def _replayed(self, plan: Plan) -> None:
        """After a replayed step: every parameter's gradient is its view of the arena."""
        a = self.arena
        if not all(map(is_, map(_grad_of, a.params), a.grad_views)):  # (usually they are)
            for p, g in zip(a.params, a.grad_views, strict=True):
                p.grad = g
        self._eager_grads = False
        self.output = plan.output
        self.replayed = True

    def _eager(self, x, y, tracer: Tracer | None = None, into_arena: bool = False) -> float:
        """One eager forward (and backward) step; ``into_arena``: gradients straight into the arena.

        ``into_arena`` is for signatures whose plan is known to give gradients to
        exactly the arena's parameters: they are zeroed and accumulated into in
        place, so no parameter-sized gradient array is allocated.
        """
        self.replayed = False
        a = self.arena
        for p in self.params:
            p.grad = None
        if into_arena:
            a.grad.fill(0)
            for p, v in zip(a.params, a.grad_views, strict=True):
                p.grad = v
        xt, yt = Tensor._wrap(x), Tensor._wrap(y)
        if tracer is not None:
            with tracer:
                out = self.model(xt)
                loss = self.loss_fn(out, yt)
        else:
            out = self.model(xt)
            loss = self.loss_fn(out, yt)
        lv = float(loss.data)
        if loss.requires_grad and (lv - lv == 0.0 or self._nonfinite):
            _backward(loss)
        self.output = out.data if isinstance(out, Tensor) else out
        self._eager_grads = not into_arena
        self._last = (xt, yt, out, loss) if tracer is not None else None
        return lv

    def _trace(self, entry: _Entry, x, y) -> float:
        if not _local.grad_enabled:
            entry.failed = "gradient recording is off"
            return self._eager(x, y)
        if self.arena is None:
            # The parameters move into their array first, so that the arrays they had are
            # freed before the step allocates its own.
            trainable = [p for p in self.params if p.requires_grad]
            if trainable and all(p.data.dtype == self.dtype for p in trainable):
                self.arena = Arena(self._arena_order(trainable), self.dtype)
        tracer = Tracer()
        lv = self._eager(x, y, tracer)
        xt, yt, out, loss = self._last
        self._last = None
        try:
            if not isinstance(out, Tensor) or not isinstance(loss, Tensor) or not loss.requires_grad:
                raise Unsupported("the model or the loss did not return a tensor with a graph")
            graph = Graph(tracer, xt, yt, self.params, out, loss)
            del xt, yt, out, loss
            entry.plan = self._make_plan(entry, graph)
        except Unsupported as exc:
            entry.failed = str(exc)
        self.reason = entry.failed or "traced (the first step of a signature runs eagerly)"
        return lv

    def _make_plan(self, entry: _Entry, graph: Graph) -> Plan:
        grad_params = [self.params[s.index] for s in graph.grad_params]
        if not grad_params:
            raise Unsupported("no parameter gets a gradient")
        if any(p.data.dtype != self.dtype for p in grad_params):
            raise Unsupported("parameters of different dtypes")
        order = self._arena_order(grad_params)
        if self.arena is None or [id(p) for p in self.arena.params] != [id(p) for p in order]:
            if any(e.plan is not None for e in self.entries.values() if e is not entry):
                raise Unsupported("another set of parameters gets gradients than in the first traced step")
            self.arena = Arena(order, self.dtype)  # (only parameters that get gradients)
        where = {id(p): i for i, p in enumerate(self.arena.params)}
        values = [p.data for p in self.params]
        grads = {s.index: self.arena.grad_views[where[id(self.params[s.index])]] for s in graph.grad_params}
        return Plan(graph, values, grads)

    def _arena_order(self, grad_params):
        """Parameters in the optimizer's order (so a parameter group is one slice), then any others."""
        chosen = {id(p) for p in grad_params}
        order, seen = [], set()
        groups = getattr(self.optimizer, "param_groups", None) or []
        for group in groups:
            for p in group["params"]:
                if id(p) in chosen and id(p) not in seen:
                    order.append(p)
                    seen.add(id(p))
        order += [p for p in grad_params if id(p) not in seen]
        return order

    def _verify(self, entry: _Entry, plan: Plan, x, y) -> float:
        """Replay, then compute the same forward eagerly (no graph) and compare loss and output.

        This catches what tracing cannot see (a value computed outside descend
        operations is replayed as a stale constant).
        """
        gen = _random.generator()
        state = gen.bit_generator.state if plan.uses_rng else None
        before = plan.keep_state()
        loss_r = plan.run(x, y)
        if loss_r is None:  # nothing to compare on this batch: run it eagerly
            if state is not None:
                gen.bit_generator.state = state
            plan.put_back_state(before)
            return self._eager(x, y, into_arena=True)
        if state is not None:
            _random.generator().bit_generator.state = state
        after = plan.keep_state()
        with _no_grad():  # (it changes the running statistics once more: put back below)
            out = self.model(Tensor._wrap(x))
            loss = self.loss_fn(out, Tensor._wrap(y))
        out_e = out.data if isinstance(out, Tensor) else np.asarray(out)
        loss_e = float(np.asarray(loss.data if isinstance(loss, Tensor) else loss))
        rtol = 1e-4 if self.dtype == np.float32 else 1e-10
        scale = float(np.abs(out_e).max()) if out_e.size else 0.0
        ok = out_e.shape == plan.output.shape and math.isclose(loss_r, loss_e, rel_tol=rtol, abs_tol=1e-30) \
            and bool(np.allclose(plan.output, out_e, rtol=rtol, atol=rtol * 1e-3 * (scale + 1e-30)))
        if not ok:
            entry.failed = "the replayed step did not match the eager step"
            self.reason = entry.failed
            if state is not None:
                _random.generator().bit_generator.state = state
            plan.put_back_state(before)
            return self._eager(x, y)
        plan.put_back_state(after)
        entry.verified = True
        self.reason = "replayed"
        self._replayed(plan)
        return loss_r

    # -- gradients and the update -------------------------------------------------------------
    def grad_norm(self) -> float:
        """‖g‖₂ over every parameter's gradient (float dot products summed in double precision)."""
        if not self._eager_grads and self.arena is not None:
            g = self.arena.grad
            return math.sqrt(float(np.dot(g, g)))
        sq = 0.0
        for p in self.params:
            if p.grad is not None:
                gv = p.grad.reshape(-1)
                sq += float(np.dot(gv, gv))
        return math.sqrt(sq)

    def _adopt_eager_grads(self) -> None:
        """Move the gradients of an eager step into the gradient array, when they are the arena's."""
        if self.arena is None:
            return
        got = {id(p) for p in self.params if p.grad is not None}
        if got != {id(p) for p in self.arena.params}:
            return
        for p, v in zip(self.arena.params, self.arena.grad_views, strict=True):
            np.copyto(v, p.grad, casting="unsafe")
            p.grad = v  # (one eager gradient array at a time is let go)
        self._eager_grads = False

    def _snapshot(self) -> None:
        """Keep the parameters as they are now, for :meth:`restore_previous`."""
        a = self.arena
        if a is not None and a.intact():
            # The arena holds every parameter the update can change unless another one has
            # a gradient (say, set by hand): usually none, so this loop is over nothing.
            outside = a.outside
            if outside is None or outside[0] is not self.params:
                members = {id(p) for p in a.params}
                outside = a.outside = (self.params, [p for p in self.params if id(p) not in members])
            for p in outside[1]:
                if p.grad is not None:
                    break
            else:
                snap = self._snap
                if snap is None or snap.shape != a.flat.shape or snap.dtype != a.flat.dtype:
                    snap = self._snap = np.empty_like(a.flat)
                np.copyto(snap, a.flat)  # (one pass: cheaper than the update it guards)
                self._previous = "arena"
                return
        self._snap_list = [p.data.copy() for p in self.params]
        self._previous = "copy"

    def update(self, check: bool = True) -> float:
        """Apply the optimizer to the current gradients; return the gradient norm.

        With ``check`` and a norm that is not finite nothing is applied.
        Otherwise the parameters are copied aside (for :meth:`restore_previous`)
        and the optimizer's own ``step()`` updates them: over the contiguous
        arrays, one call of its rule per parameter group.
        """
        if self._eager_grads:
            self._adopt_eager_grads()
        gnorm = self.grad_norm()
        if check and not math.isfinite(gnorm):
            return gnorm
        self._snapshot()
        opt = self.optimizer
        if opt is None:
            return gnorm
        if check and self._own_step:
            # The norm just read every gradient the update reads and was finite: the
            # optimizer's own check would read them all again to find the same.
            opt._apply()
        else:
            opt.step()
        return gnorm

    def restore_previous(self) -> bool:
        """Put back the parameters from before the last :meth:`update` (False if there are none)."""
        how, self._previous = self._previous, None
        a = self.arena
        if how == "arena" and a is not None and a.intact():
            np.copyto(a.flat, self._snap)
        elif how == "copy":
            for p, s in zip(self.params, self._snap_list, strict=True):
                np.copyto(p.data, s)
        else:
            return False
        return True

    def __call__(self, x, y) -> float:
        """One full step on the batch ``(x, y)``: returns the loss (before the update)."""
        loss = self.forward_backward(x, y, backward_nonfinite=True)
        if self.optimizer is not None:
            gnorm = self.update(check=True)
            if not math.isfinite(gnorm):
                # Non-finite gradients: the optimizer's own step decides (raise, or skip the step).
                self.optimizer.step()
        return loss
