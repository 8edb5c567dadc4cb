"""Trace once, replay: a training step as a flat list of NumPy calls into preallocated buffers.

A training loop repeats the same computation on batches of the same shape:
``loss_fn(model(x), y)``, its backward pass and an optimizer step. The eager
engine rebuilds the graph every time (a :class:`~descend.Tensor`, a closure
and fresh arrays per operation). :class:`TrainStep` records that graph once,
while running one ordinary eager step, and turns it into a *plan*: for every
operation the NumPy calls of its forward and of its backward, bound to arrays
allocated once (``np.matmul(x, w.T, out=z)``, ``np.maximum(z, 0, out=a)``,
...). Later steps copy the batch into the plan's input buffer and run those
calls in order: no graph, no allocation, no Python beyond a loop over bound
calls. The calls are the ones the eager operations make, in the same order,
so a replayed step computes the same numbers. The first replay of a plan is
checked: the same forward is computed eagerly and the loss and the model's
output must agree, or the plan is dropped and that signature runs eagerly.

The parameters are moved into one contiguous array (each ``param.data``
becomes a view into it) and their gradients into another, so that plain SGD
updates every parameter with a few NumPy calls over the whole model, in
cache-sized slices, and the gradient norm is one dot product per slice. The
update writes into a second parameter array and the two are then swapped: the
parameters before the last update stay available (``restore_previous``, used
by :func:`descend.train.fit` when a step diverges) without copying them every
step.

What is replayed: the operations with a replay rule in this module
(``linear``, ``relu``, ``leaky_relu``, ``sigmoid``, ``tanh``, ``dropout``,
``reshape``, ``cross_entropy`` with class indices and ``mse_loss``, with their
common options) on float32 or float64 data. A step that records anything else
(another operation, an unusual option, a tensor that requires grad but is not
a parameter of the model) is simply run eagerly, every time. A plan belongs to
one *signature*: the shapes and dtypes of ``x`` and ``y``, the ``training``
flag of every module, and the parameters' arrays and ``requires_grad`` flags;
when any of these changes, the step is traced again (plans for a few
signatures are kept, so the smaller last batch of an epoch gets its own). A
replayed step that meets data the eager step would treat specially (a label
out of range or equal to ``ignore_index``, a NaN or infinite loss) is rerun
eagerly, so errors and warnings are the eager ones.

What tracing cannot see: Python in ``forward`` that does not go through
descend operations (printing, counting calls, reading global state, branching
on the data) runs only while tracing. Models built from :mod:`descend.nn`'s
layers have none; :func:`descend.train.fit` replays only such models unless
asked to (``fit(..., compile=True)``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from functools import partial

import numpy as np

from . import random as _random
from .autograd import backward as _backward
from .autograd import no_grad as _no_grad
from .optim import _blas
from .optim._blas import BLOCK as _BLOCK
from .tensor import Tensor, _GradMode, _Trace

__all__ = ["TrainStep", "Tracer", "replayable_ops", "is_traceable_module"]

#: Elements per slice of the parameter update: the slices of the gradient, the
#: scratch array and the parameters stay in the CPU's L2 cache between the
#: calls that use them.
CHUNK = 1 << 16

#: How many signatures (batch shapes, training modes) keep a plan.
MAX_PLANS = 4

#: Parameters (elements) from which the update is shared between threads, as
#: many as BLAS uses (waking a thread costs tens of microseconds).
PARALLEL_MIN = 1 << 20
MAX_WORKERS = 8

_blas_controller = None
_executor = None


def blas_threads() -> int:
    """The number of threads BLAS uses now; descend's own parallel loops use as many.

    Read through threadpoolctl when it is installed (so ``threadpool_limits``
    is followed), else from ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or
    ``MKL_NUM_THREADS``, else the number of CPUs this process may use.
    """
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = False
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            pass
        else:
            libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            if libs:
                _blas_controller = libs[0]
    if _blas_controller:
        return max(1, int(_blas_controller.get_num_threads()))
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _exact_sum(values: list) -> float:
    """Σ values, exactly rounded (so independent of their order); inf on overflow."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf
    except ValueError:  # inf − inf cannot happen (squares); NaN is kept
        return math.nan


def _forget_pool() -> None:  # a forked child has none of the parent's threads
    global _executor
    _executor = None


if hasattr(__import__("os"), "register_at_fork"):
    __import__("os").register_at_fork(after_in_child=_forget_pool)


def _pool():
    global _executor
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor

        _executor = ThreadPoolExecutor(MAX_WORKERS - 1, thread_name_prefix="descend-compile")
    return _executor


def _sgd_slices(pieces, lr, weight_decay, maximize) -> list:
    """θ' = θ − lr·d over slices (g, θ, θ', scratch, scratch, fused θ' += α·g or None); returns Σ g² of each slice.

    Plain descent is ``optim.functional.sgd_``'s own arithmetic (θ + (−lr)·g,
    one BLAS axpy on a copy of θ in θ'); weight decay or ascent call that rule
    on the copy.
    """
    sq = []
    dot, keep = np.dot, sq.append
    if weight_decay == 0 and not maximize:
        copy = np.copyto
        neg_lr = -lr
        # Slices may run on our threads: one BLAS thread each, in one section for all of
        # them (opening one costs microseconds: not for a model short enough for one call).
        long = len(pieces) > 1 or (pieces and pieces[0][0].size > _blas.ONE_CALL_MAX)
        section = _blas.single_threaded() if long else nullcontext()
        with section:
            for g, p, q, t, _u, fma in pieces:
                keep(float(dot(g, g)))
                if fma is not None:
                    copy(q, p)
                    fma(neg_lr)
                else:  # no BLAS: NumPy's two passes
                    np.multiply(g, neg_lr, out=t)
                    np.add(p, t, out=q)
        return sq
    from .optim.functional import sgd_

    with _blas.single_threaded():
        for g, p, q, t, u, _fma in pieces:
            keep(float(dot(g, g)))
            np.copyto(q, p)
            sgd_(q, g, None, u, t, lr=lr, weight_decay=weight_decay, maximize=maximize)
    return sq


class Unsupported(Exception):
    """The recorded step has something the replay does not handle (it runs eagerly)."""


# ============================================================================ tracing
class Node:
    """One recorded operation: its name, output tensor, inputs (tensors, arrays or None) and options."""

    __slots__ = ("op", "out", "inputs", "attrs")

    def __init__(self, op, out, inputs, attrs):
        self.op, self.out, self.inputs, self.attrs = op, out, inputs, attrs

    def __repr__(self) -> str:
        return f"Node({self.op})"


class Tracer:
    """Collects the operations of one eager step (see :data:`descend.tensor._Trace`).

    Every operation reports its output through :meth:`saw`; the operations
    that can be replayed also call :meth:`note` with their inputs and options.
    """

    def __init__(self):
        self.nodes: list[Node] = []
        self.seen: list[tuple[Tensor, str]] = []
        self._noted: set[int] = set()

    def saw(self, t: Tensor, op: str) -> None:
        self.seen.append((t, op))  # keeps t alive, so ids stay unique during the trace

    def note(self, t: Tensor, op: str, inputs: tuple, attrs: dict | None = None) -> None:
        self._noted.add(id(t))
        self.nodes.append(Node(op, t, inputs, attrs or {}))

    def unsupported(self) -> list[str]:
        """Names of recorded operations that gave no replay description."""
        return sorted({op for t, op in self.seen if id(t) not in self._noted})

    def __enter__(self):
        self._prev = _Trace.tracer
        _Trace.tracer = self
        return self

    def __exit__(self, *exc):
        _Trace.tracer = self._prev
        return False


# ============================================================================ slots
class Slot:
    """A value of the recorded step: the batch, the targets, a parameter, a constant or an op's output."""

    __slots__ = ("kind", "index", "shape", "dtype", "requires_grad", "const", "producer")

    def __init__(self, kind, index, shape, dtype, requires_grad=False, const=None, producer=None):
        self.kind, self.index, self.shape, self.dtype = kind, index, tuple(shape), np.dtype(dtype)
        self.requires_grad, self.const, self.producer = requires_grad, const, producer


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
        self.param_slots: list[Slot] = []
        for i, p in enumerate(params):
            s = self._add(ids, p, Slot("param", i, p.data.shape, p.data.dtype, p.requires_grad))
            self.param_slots.append(s)
        self.nodes = []  # (Node, input slots, output slot)
        for node in tracer.nodes:
            ins = tuple(None if v is None else self._resolve(ids, v) for v in node.inputs)
            out = Slot("node", len(self.nodes), node.out.data.shape, node.out.data.dtype,
                       node.out.requires_grad, producer=len(self.nodes))
            ids[id(node.out)] = out
            self.slots.append(out)
            self.nodes.append((node, ins, out))
        self.output = ids.get(id(output))
        self.loss = ids.get(id(loss))
        if self.output is None or self.output.kind != "node":
            raise Unsupported("the model's output is not the result of a recorded operation")
        if self.loss is None or self.loss.kind != "node" or self.loss.shape != ():
            raise Unsupported("the loss is not a scalar computed by a recorded operation")
        # The ids above referred to the traced tensors; from here on only shapes, dtypes and
        # options are needed, so the traced step's arrays are let go.
        for node, _, _ in self.nodes:
            node.out = node.inputs = None
        tracer.seen.clear()
        # Which slots receive a gradient, walking back from the loss (as backward() would).
        reached = {id(self.loss)}
        for node, ins, out in reversed(self.nodes):
            if id(out) in reached:
                for s in ins:
                    if s is not None and s.requires_grad:
                        reached.add(id(s))
        self.reached = reached
        self.grad_params = [s for s in self.param_slots if id(s) in reached]
        # How many operations read each slot, and how many add to its gradient: a value
        # read once may be overwritten by its reader, a gradient with one contribution may
        # be that contribution's buffer.
        self.uses: dict[int, int] = {}
        self.contributions: dict[int, int] = {}
        for node, ins, out in self.nodes:
            for s in ins:
                if s is not None:
                    self.uses[id(s)] = self.uses.get(id(s), 0) + 1
                    if id(out) in reached and s.requires_grad:
                        self.contributions[id(s)] = self.contributions.get(id(s), 0) + 1
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
        if s is not None:
            return s
        if isinstance(v, Tensor):
            arr, rg = v.data, v.requires_grad
        elif isinstance(v, np.ndarray):
            arr, rg = v, False
        else:
            arr, rg = np.asarray(v), False
        # A value from outside the recorded operations (a Python number, a class-weight
        # array): replayed as the same array. One derived from the data without descend
        # operations would go stale; the first replay is checked against eager to catch it.
        s = Slot("const", len(self.slots), arr.shape, arr.dtype, rg, const=arr)
        ids[id(v)] = s
        self.slots.append(s)
        return s


# ============================================================================ building a plan
class Builder:
    """Turns a :class:`Graph` into bound NumPy calls, given the arrays of the parameters."""

    def __init__(self, graph: Graph, buffers: dict, param_values: list, grad_values: dict, root_seed: bool = True):
        self.g = graph
        self.buffers = buffers  # shared between the variants of a plan (same shapes, same roles)
        self.param_values = param_values
        self.grad_values = grad_values  # param slot index -> gradient view
        self.fwd: list = []
        self.bwd: list = []
        self.checks: list = []
        self.values: dict[int, np.ndarray] = {}
        self.grads: dict[int, np.ndarray] = {}
        self.started: set[int] = set()
        self.uses_rng = False
        self.root_seed = root_seed

    # -- buffers -------------------------------------------------------------------------
    def buf(self, key, shape, dtype) -> np.ndarray:
        a = self.buffers.get(key)
        if a is None:
            a = self.buffers[key] = np.empty(shape, dtype)
        return a

    def val(self, s: Slot) -> np.ndarray:
        if s.kind == "input":
            return self.buf("x", s.shape, s.dtype)
        if s.kind == "target":
            return self.buf("y", s.shape, s.dtype)
        if s.kind == "param":
            return self.param_values[s.index]
        if s.kind == "const":
            return s.const
        return self.values[id(s)]

    def out(self, s: Slot, key=None) -> np.ndarray:
        a = self.buf(("v", s.index) if key is None else key, s.shape, s.dtype)
        self.values[id(s)] = a
        return a

    def set_value(self, s: Slot, arr: np.ndarray) -> None:
        self.values[id(s)] = arr

    def scratch(self, node_slot: Slot, name: str, shape, dtype) -> np.ndarray:
        return self.buf(("t", node_slot.index, name), shape, dtype)

    # -- gradients -----------------------------------------------------------------------
    def needs(self, s: Slot | None) -> bool:
        return s is not None and s.requires_grad and id(s) in self.g.reached

    def grad(self, s: Slot) -> np.ndarray | None:
        """The complete gradient of an op's output (None: nothing flows back to it)."""
        return self.grads.get(id(s))

    def is_seed(self, s: Slot) -> bool:
        """True for the loss, whose gradient is the constant 1."""
        return s is self.g.loss and self.root_seed

    def grad_into(self, s: Slot):
        """Where an op writes its contribution to the gradient of ``s``.

        The first contribution is written straight into the gradient (a
        parameter's view in the gradient array, or a new buffer); later ones go
        to a scratch array that :meth:`grad_commit` adds in.
        """
        if id(s) not in self.started:
            self.started.add(id(s))
            if s.kind == "param":
                g = self.grad_values[s.index]
            else:
                g = self.buf(("g", s.kind, s.index), s.shape, s.dtype)
            self.grads[id(s)] = g
            return g
        n = sum(1 for k in self.buffers if isinstance(k, tuple) and k[:2] == ("acc", id(s)))
        return self.buf(("acc", id(s), n), s.shape, s.dtype)

    def grad_alias(self, s: Slot, g: np.ndarray) -> bool:
        """Let the gradient of ``s`` be ``g`` itself, if ``g`` is the only contribution it gets.

        Elementwise backward rules then work in place on their incoming
        gradient (which nothing else reads), instead of writing a new array.
        """
        if s.kind != "node" or id(s) in self.started or self.g.contributions.get(id(s), 0) != 1:
            return False
        self.started.add(id(s))
        self.grads[id(s)] = g
        return True

    def overwritable(self, s: Slot) -> bool:
        """True if an op reading ``s`` may write its output over it (nothing else reads it).

        Only outputs of operations whose backward does not read their own
        output qualify (linear, dropout); never the model's output or the loss.
        """
        if s.kind != "node" or self.g.uses.get(id(s), 0) != 1 or s is self.g.output or s is self.g.loss:
            return False
        producer = self.g.nodes[s.producer][0]
        return getattr(RULES.get(producer.op), "output_free", False)

    def grad_commit(self, s: Slot, dst: np.ndarray) -> None:
        g = self.grads[id(s)]
        if dst is not g:
            self.bwd.append(partial(np.add, g, dst, out=g))

    def grad_scaled(self, s: Slot, g: np.ndarray, factor) -> None:
        """Add ``g · factor`` (elementwise) to the gradient of ``s``: in place on ``g`` when
        that is the only contribution ``s`` gets (see :meth:`grad_alias`)."""
        dst = g if self.grad_alias(s, g) else self.grad_into(s)
        self.bwd.append(partial(np.multiply, g, factor, out=dst))
        if dst is not g:
            self.grad_commit(s, dst)

    def build(self):
        seed = self.buf(("seed",), (), self.g.loss.dtype)
        seed[...] = 1
        for node, ins, out in self.g.nodes:
            rule = RULES.get(node.op)
            if rule is None:
                raise Unsupported(f"no replay rule for {node.op}")
            rule.forward(self, node, ins, out)
        self.grads[id(self.g.loss)] = seed
        self.started.add(id(self.g.loss))
        for node, ins, out in reversed(self.g.nodes):
            if self.grad(out) is None:
                continue
            if not any(self.needs(s) for s in ins):
                continue
            RULES[node.op].backward(self, node, ins, out)
        return self


class Rule:
    """How one operation is replayed: its forward and backward as bound NumPy calls."""

    def forward(self, b: Builder, node: Node, ins: tuple, out: Slot) -> None:
        raise NotImplementedError

    def backward(self, b: Builder, node: Node, ins: tuple, out: Slot) -> None:
        raise NotImplementedError


def _float(s: Slot, what: str) -> None:
    if s.dtype not in (np.float32, np.float64):
        raise Unsupported(f"{what} of dtype {s.dtype}")


class LinearRule(Rule):
    # Forward y = x Wᵀ (+ b) as F.linear computes it; backward dx = g W, dW = gᵀ x, db = Σ_rows g.
    output_free = True  # the backward reads x and W, never y
    def forward(self, b, node, ins, out):
        x, w, bias = ins
        if len(x.shape) != 2:
            raise Unsupported("linear on input that is not 2-D")
        _float(out, "linear")
        X, W = b.val(x), b.val(w)
        Y = b.out(out)
        b.fwd.append(partial(np.matmul, X, W.T, out=Y))
        if bias is not None:
            if bias.dtype != out.dtype:
                raise Unsupported("linear with a bias of another dtype")
            b.fwd.append(partial(np.add, Y, b.val(bias), out=Y))

    def backward(self, b, node, ins, out):
        x, w, bias = ins
        G = b.grad(out)
        if b.needs(x):
            dst = b.grad_into(x)
            b.bwd.append(partial(np.matmul, G, b.val(w), out=dst))
            b.grad_commit(x, dst)
        if b.needs(w):
            dst = b.grad_into(w)
            b.bwd.append(partial(np.matmul, G.T, b.val(x), out=dst))
            b.grad_commit(w, dst)
        if b.needs(bias):
            dst = b.grad_into(bias)
            b.bwd.append(partial(np.add.reduce, G, axis=0, out=dst))
            b.grad_commit(bias, dst)


def _zero(dtype) -> np.ndarray:
    # A 0-d array, not a Python number: NumPy converts a Python scalar on every call.
    return np.zeros((), dtype)


class ReluRule(Rule):
    # max(x, 0), written over x when nothing else reads it; backward g·[y > 0]
    # ([y > 0] = [x > 0]), in place on g when g is only for this op.
    def forward(self, b, node, ins, out):
        (x,) = ins
        X = b.val(x)
        if b.overwritable(x):
            b.set_value(out, X)
            Y = X
        else:
            Y = b.out(out)
        b.fwd.append(partial(np.maximum, X, _zero(out.dtype), out=Y))

    def backward(self, b, node, ins, out):
        (x,) = ins
        mask = b.scratch(out, "mask", out.shape, bool)
        b.bwd.append(partial(np.greater, b.val(out), _zero(out.dtype), out=mask))
        b.grad_scaled(x, b.grad(out), mask)


class LeakyReluRule(Rule):
    # x for x > 0, slope·x otherwise = max(x, slope·x) for 0 ≤ slope ≤ 1 (branch-free, the
    # same numbers as ops.activation.leaky_relu); backward g·max([x > 0], slope).
    def forward(self, b, node, ins, out):
        (x,) = ins
        _float(out, "leaky_relu")
        slope = node.attrs["negative_slope"]
        if not 0.0 <= slope <= 1.0:
            raise Unsupported("leaky_relu with a slope outside [0, 1]")
        X, Y = b.val(x), b.out(out)
        s = np.asarray(slope, dtype=out.dtype)
        b.fwd.append(partial(np.multiply, X, s, out=Y))
        b.fwd.append(partial(np.maximum, X, Y, out=Y))

    def backward(self, b, node, ins, out):
        (x,) = ins
        # np.where(pos, 1, slope) is float64 cast to the dtype: the slope rounded once
        s = np.asarray(np.float64(node.attrs["negative_slope"]), dtype=out.dtype)
        local = b.scratch(out, "local", out.shape, out.dtype)
        b.bwd.append(partial(np.greater, b.val(x), _zero(out.dtype), out=local))
        b.bwd.append(partial(np.maximum, local, s, out=local))
        b.grad_scaled(x, b.grad(out), local)


class SigmoidRule(Rule):
    # σ(x) through e^(-|x|) (no overflow), as ops.activation.sigmoid; backward g·σ·(1 − σ).
    def forward(self, b, node, ins, out):
        (x,) = ins
        _float(out, "sigmoid")
        X, Y = b.val(x), b.out(out)
        z = b.scratch(out, "z", out.shape, out.dtype)
        d = b.scratch(out, "d", out.shape, out.dtype)
        pos = b.scratch(out, "pos", out.shape, bool)
        b.fwd += [partial(np.abs, X, out=z), partial(np.negative, z, out=z), partial(np.exp, z, out=z),
                  partial(np.add, 1, z, out=d), partial(np.divide, z, d, out=Y),
                  partial(np.divide, 1, d, out=d), partial(np.greater_equal, X, 0, out=pos),
                  partial(np.copyto, Y, d, where=pos)]

    def backward(self, b, node, ins, out):
        (x,) = ins
        Y = b.val(out)
        t = b.scratch(out, "d", out.shape, out.dtype)
        dst = b.grad_into(x)
        b.bwd += [partial(np.multiply, b.grad(out), Y, out=dst), partial(np.subtract, 1, Y, out=t),
                  partial(np.multiply, dst, t, out=dst)]
        b.grad_commit(x, dst)


class TanhRule(Rule):
    # tanh x; backward g·(1 − tanh² x).
    def forward(self, b, node, ins, out):
        (x,) = ins
        _float(out, "tanh")
        b.fwd.append(partial(np.tanh, b.val(x), out=b.out(out)))

    def backward(self, b, node, ins, out):
        (x,) = ins
        Y = b.val(out)
        t = b.scratch(out, "t", out.shape, out.dtype)
        dst = b.grad_into(x)
        b.bwd += [partial(np.multiply, Y, Y, out=t), partial(np.subtract, 1, t, out=t),
                  partial(np.multiply, b.grad(out), t, out=dst)]
        b.grad_commit(x, dst)


class DropoutRule(Rule):
    # keep = U[0,1) ≥ p from the global generator (the same draws as eager), y = x·keep/(1 − p).
    output_free = True
    def forward(self, b, node, ins, out):
        (x,) = ins
        p, gen = node.attrs["p"], node.attrs.get("generator")
        if out.dtype not in (np.float32, np.float64) or b.val(x).dtype != out.dtype or not 0 < p < 1:
            raise Unsupported("dropout of this dtype or probability")
        X, Y = b.val(x), b.out(out)
        u = b.scratch(out, "u", out.shape, out.dtype)
        keep = b.scratch(out, "keep", out.shape, bool)
        scale = b.scratch(out, "scale", out.shape, out.dtype)
        factor = out.dtype.type(1.0 / (1.0 - p))

        def draw(u=u, dtype=out.dtype, gen=gen):
            (gen if gen is not None else _random.generator()).random(out=u, dtype=dtype)

        b.uses_rng = True
        b.fwd += [draw, partial(np.greater_equal, u, p, out=keep), partial(np.multiply, keep, factor, out=scale),
                  partial(np.multiply, X, scale, out=Y)]

    def backward(self, b, node, ins, out):
        (x,) = ins
        b.grad_scaled(x, b.grad(out), b.scratch(out, "scale", out.shape, out.dtype))


class ReshapeRule(Rule):
    # A view of the input's buffer; backward reshapes the gradient back.
    def forward(self, b, node, ins, out):
        (x,) = ins
        b.set_value(out, b.val(x).reshape(out.shape))

    def backward(self, b, node, ins, out):
        (x,) = ins
        dst = b.grad_into(x)
        b.bwd.append(partial(np.copyto, dst, b.grad(out).reshape(x.shape)))
        b.grad_commit(x, dst)


def _scale_kernel(b, out, factor):
    """The factor applied to a loss's local gradient: g·factor, folded to a constant for the loss itself."""
    dtype = out.dtype
    if b.is_seed(out):
        return np.asarray(np.ones((), dtype) * factor, dtype=dtype), None
    s = b.scratch(out, "scale", (), dtype)
    return s, partial(np.multiply, b.grad(out), factor, out=s)


class CrossEntropyRule(Rule):
    """Class-index cross-entropy, mean or sum, as F.cross_entropy computes it.

    Forward: m = max_c x, s = Σ_c e^(x − m), ℓᵢ = log sᵢ − (x − m)_{i,yᵢ}.
    Backward: (softmax − onehot)·g/N. Labels are checked every step (one
    reduction over the unsigned view of the labels: a negative label is huge
    there); a step with a label out of range or ignored runs eagerly.
    """

    def forward(self, b, node, ins, out):
        x, t = ins
        a = node.attrs
        if a.get("weight") is not None or a.get("label_smoothing", 0.0) or a.get("reduction") not in ("mean", "sum"):
            raise Unsupported("cross_entropy with weights, label smoothing or reduction='none'")
        if len(x.shape) != 2 or t.dtype.kind not in "iu" or t.shape != (x.shape[0],) or x.shape[0] == 0:
            raise Unsupported("cross_entropy other than logits (N, C) with class indices (N,)")
        _float(x, "cross_entropy")
        M, C = x.shape
        X, T = b.val(x), b.val(t)
        dt = x.dtype
        mx = b.scratch(out, "max", (M, 1), dt)
        sh = b.scratch(out, "shifted", (M, C), dt)
        e = b.scratch(out, "exp", (M, C), dt)
        s = b.scratch(out, "sum", (M, 1), dt)
        ls = b.scratch(out, "logsum", (M, 1), dt)
        idx = b.scratch(out, "idx", (M,), np.intp)
        nll = b.scratch(out, "nll", (M,), dt)
        loss = b.out(out)
        offsets = np.arange(M, dtype=np.intp) * C
        unsigned = T.view(T.dtype.str.replace("i", "u")) if T.dtype.kind == "i" else T
        b.checks.append(lambda u=unsigned, C=C: int(np.maximum.reduce(u)) < C)
        flat_sh = sh.reshape(-1)
        mean = a["reduction"] == "mean"

        def reduce(nll=nll, loss=loss, M=M):
            total = np.add.reduce(nll)
            loss[...] = total / M if mean else total

        def pick(flat_sh=flat_sh, idx=idx, ls=ls.reshape(M), nll=nll):
            np.subtract(ls, flat_sh[idx], out=nll)  # log s − (x − m)[i, yᵢ]

        b.fwd += [partial(np.maximum.reduce, X, 1, None, mx, True),
                  partial(np.subtract, X, mx, out=sh), partial(np.exp, sh, out=e),
                  partial(np.add.reduce, e, 1, None, s, True), partial(np.log, s, out=ls),
                  partial(np.add, offsets, T, out=idx, casting="unsafe"), pick, reduce]

    def backward(self, b, node, ins, out):
        x, t = ins
        M, C = x.shape
        factor = 1.0 / M if node.attrs["reduction"] == "mean" else 1.0
        scale, scale_k = _scale_kernel(b, out, factor)
        dst = b.grad_into(x)
        flat, idx = dst.reshape(-1), b.scratch(out, "idx", (M,), np.intp)
        e, s = b.scratch(out, "exp", (M, C), x.dtype), b.scratch(out, "sum", (M, 1), x.dtype)

        one = np.ones((), x.dtype)

        def onehot(flat=flat, idx=idx, one=one):
            np.subtract.at(flat, idx, one)

        b.bwd.append(partial(np.divide, e, s, out=dst))
        b.bwd.append(onehot)
        if scale_k is not None:
            b.bwd.append(scale_k)
        b.bwd.append(partial(np.multiply, dst, scale, out=dst))
        b.grad_commit(x, dst)


class MSERule(Rule):
    # ℓ = mean or sum of (x − y)²; backward 2(x − y)·g·factor.
    def forward(self, b, node, ins, out):
        x, t = ins
        red = node.attrs.get("reduction")
        if red not in ("mean", "sum") or x.shape != t.shape or t.requires_grad:
            raise Unsupported("mse_loss other than mean/sum against targets of the input's shape")
        _float(x, "mse_loss")
        if t.dtype.kind not in "biuf":
            raise Unsupported("mse_loss targets that are not numbers")
        X, T = b.val(x), b.val(t)
        if T.dtype != x.dtype:  # the eager loss casts the targets to the input's dtype
            Tc = b.scratch(out, "target", t.shape, x.dtype)
            b.fwd.append(partial(np.copyto, Tc, T, casting="unsafe"))
            T = Tc
        diff = b.scratch(out, "diff", x.shape, x.dtype)
        sq = b.scratch(out, "sq", x.shape, x.dtype)
        loss = b.out(out)
        n = int(np.prod(x.shape))
        if n == 0:
            raise Unsupported("mse_loss of an empty batch")
        mean = red == "mean"

        def reduce(sq=sq, loss=loss, n=n):
            total = np.add.reduce(sq, axis=None)
            loss[...] = total / n if mean else total

        b.fwd += [partial(np.subtract, X, T, out=diff), partial(np.square, diff, out=sq), reduce]
        b.checks.append(partial(_finite_targets, T) if t.dtype.kind == "f" else _always)

    def backward(self, b, node, ins, out):
        x, t = ins
        n = int(np.prod(x.shape))
        factor = 1.0 / n if node.attrs["reduction"] == "mean" else 1.0
        scale, scale_k = _scale_kernel(b, out, factor)
        diff = b.scratch(out, "diff", x.shape, x.dtype)
        dst = b.grad_into(x)
        b.bwd.append(partial(np.multiply, diff, 2, out=dst))
        if scale_k is not None:
            b.bwd.append(scale_k)
        b.bwd.append(partial(np.multiply, dst, scale, out=dst))
        b.grad_commit(x, dst)


def _always() -> bool:
    return True


def _finite_targets(T) -> bool:
    # The eager loss refuses NaN targets; a NaN makes this dot product NaN.
    flat = T.reshape(-1)
    return not math.isnan(float(np.dot(flat, flat)))


RULES: dict[str, Rule] = {
    "linear": LinearRule(), "relu": ReluRule(), "leaky_relu": LeakyReluRule(), "sigmoid": SigmoidRule(),
    "tanh": TanhRule(), "dropout": DropoutRule(), "reshape": ReshapeRule(),
    "cross_entropy": CrossEntropyRule(), "mse_loss": MSERule(),
}


def replayable_ops() -> list[str]:
    """The operations a traced step may contain."""
    return sorted(RULES)


# ============================================================================ plans
class Plan:
    """The bound calls of one signature, for one of the two parameter arrays."""

    __slots__ = ("checks", "fwd", "bwd", "x", "y", "loss", "output", "uses_rng")

    def __init__(self, builder: Builder, graph: Graph):
        self.checks = tuple(builder.checks)
        self.fwd = tuple(builder.fwd)
        self.bwd = tuple(builder.bwd)
        self.x = builder.buf("x", graph.x.shape, graph.x.dtype)
        self.y = builder.buf("y", graph.y.shape, graph.y.dtype)
        self.loss = builder.val(graph.loss)
        self.output = builder.val(graph.output)
        self.uses_rng = builder.uses_rng

    def run(self, x: np.ndarray, y: np.ndarray):
        """Forward and backward on (x, y); the loss as a float, or None to run this step eagerly."""
        np.copyto(self.x, x)
        np.copyto(self.y, y)
        for check in self.checks:
            if not check():
                return None
        for k in self.fwd:
            k()
        loss = float(self.loss)
        if loss - loss != 0.0:  # NaN or ±inf: the eager step decides what that means
            return None
        for k in self.bwd:
            k()
        return loss


class _Entry:
    __slots__ = ("plans", "verified", "failed", "sig", "flags")

    def __init__(self, sig=None, flags=None):
        self.plans, self.verified, self.failed = None, False, None
        self.sig, self.flags = sig, flags  # batch shapes and dtypes; modules' training flags


# ============================================================================ parameter arrays
def _offset(arr: np.ndarray, base: np.ndarray) -> int:
    return (arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // arr.itemsize


class Arena:
    """The parameters in one contiguous array (twice: current and previous) and their gradients in another.

    ``param.data`` of every parameter becomes a view into the current array;
    if they already are views of one array laid out in this order (an earlier
    fit), it is reused without copying.
    """

    def __init__(self, params: list, dtype):
        self.params = params
        self.dtype = np.dtype(dtype)
        self.shapes = [p.data.shape for p in params]
        self.sizes = [p.data.size for p in params]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        total = self.starts[-1]
        # Padded with zeros to whole blocks of the fused update (optim._blas.BLOCK), so that
        # the update over the whole array is one BLAS call with no remainder to pad per step.
        self.padded = -(-total // _BLOCK) * _BLOCK
        base = self._existing_base(params, self.padded)
        if base is None:
            base = np.zeros(self.padded, self.dtype)
            for p, v in zip(params, self._views(base)):
                v[...] = p.data
        self.flat = [base, np.zeros(self.padded, self.dtype)]
        self.views = [self._views(self.flat[0]), self._views(self.flat[1])]
        self.grad = np.zeros(self.padded, self.dtype)
        self.grad_views = self._views(self.grad)
        self.current = 0
        for p, v in zip(params, self.views[0]):
            p.data = v

    def _views(self, flat):
        return [flat[a:a + n].reshape(s) for a, n, s in zip(self.starts, self.sizes, self.shapes)]

    def _existing_base(self, params, total):
        base = params[0].data.base if params else None
        if base is None or base.ndim != 1 or base.size != total or base.dtype != self.dtype \
                or not base.flags.c_contiguous or not base.flags.writeable:
            return None
        for p, start in zip(params, self.starts):
            d = p.data
            if d.base is not base or not d.flags.c_contiguous or _offset(d, base) != start:
                return None
        return base

    def intact(self) -> bool:
        """True while every parameter still holds its view of the current array."""
        for p, v in zip(self.params, self.views[self.current]):
            if p.data is not v:
                return False
        return True

    def swap(self) -> None:
        """Make the other array current (after an update wrote into it)."""
        self.current ^= 1
        for p, v in zip(self.params, self.views[self.current]):
            p.data = v


# ============================================================================ the step
def _module_list(model) -> list:
    mods = getattr(model, "modules", None)
    return list(mods()) if callable(mods) else []


#: descend.nn classes whose forward only calls descend operations (safe to trace).
_PURE_MODULES = {
    "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softplus", "ELU", "Softmax", "LogSoftmax",
    "Dropout", "Identity", "Flatten", "MLP", "Sequential",
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
    whether the last step was replayed, :attr:`reason` why not.

    Plain SGD (no momentum, any ``weight_decay``/``maximize``, any number of
    parameter groups) is applied by the step itself over the whole parameter
    array; any other optimizer's own ``step()`` is called.
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
        self._snap = None
        self._rg = tuple(p.requires_grad for p in self.params)
        self._fused = None  # ((param_groups length, workers), [(group, segments of side 0, of side 1)])
        self._hot = None
        self._sgd = optimizer is not None and type(optimizer).__name__ == "SGD" \
            and type(optimizer).__module__.startswith("descend.optim")

    # -- signature and invalidation ------------------------------------------------------
    def _valid(self) -> bool:
        """Parameters and flags as when the plans were made (else drop every plan)."""
        if self.arena is not None and not self.arena.intact():
            return False
        for p, rg in zip(self.params, self._rg):
            if p.requires_grad is not rg:
                return False
        return True

    def _reset(self) -> None:
        self.entries.clear()
        self._hot = None
        self.arena = None
        self._fused = None
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
        flags = [m.training for m in self.modules]
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
        if entry.failed is not None or not _GradMode.enabled:
            self.reason = entry.failed or "gradient recording is off"
            return self._eager(x, y)
        plan = entry.plans[self.arena.current]
        if not entry.verified:
            return self._verify(entry, plan, x, y)
        state = _random.generator().bit_generator.state if plan.uses_rng else None
        loss = plan.run(x, y)
        if loss is None:
            if state is not None:
                _random.generator().bit_generator.state = state
            self.reason = "this batch needs the eager step (label or loss value)"
            return self._eager(x, y, into_arena=True)
        self._replayed(plan)
        return loss

    def _replayed(self, plan: Plan) -> None:
        """After a replayed step: every parameter's gradient is its view of the arena."""
        for p, g in zip(self.arena.params, self.arena.grad_views):
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
        if into_arena:
            a.grad.fill(0)
            for p in self.params:
                p.grad = None
            for p, v in zip(a.params, a.grad_views):
                p.grad = v
        else:
            for p in self.params:
                p.grad = None
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
        if not _GradMode.enabled:
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
            self._make_plans(entry, graph)
        except Unsupported as exc:
            entry.failed = str(exc)
        self.reason = entry.failed or "traced (the first step of a signature runs eagerly)"
        return lv

    def _make_plans(self, entry: _Entry, graph: Graph) -> None:
        grad_params = [self.params[s.index] for s in graph.grad_params]
        if not grad_params:
            raise Unsupported("no parameter gets a gradient")
        if any(p.data.dtype != self.dtype for p in grad_params):
            raise Unsupported("parameters of different dtypes")
        order = self._arena_order(grad_params)
        if self.arena is None or [id(p) for p in self.arena.params] != [id(p) for p in order]:
            if self.entries and any(e.plans is not None for e in self.entries.values() if e is not entry):
                raise Unsupported("another set of parameters gets gradients than in the first traced step")
            self.arena = Arena(order, self.dtype)  # (only parameters that get gradients)
            self._fused = None
        where = {id(p): i for i, p in enumerate(self.arena.params)}
        buffers: dict = {}
        plans = []
        for side in (0, 1):
            values = [self.arena.views[side][where[id(p)]] if id(p) in where else p.data for p in self.params]
            grads = {s.index: self.arena.grad_views[where[id(self.params[s.index])]] for s in graph.grad_params}
            plans.append(Plan(Builder(graph, buffers, values, grads).build(), graph))
        entry.plans = plans

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
        operations is replayed as a stale constant); the backward rules are
        tested against the eager operations themselves.
        """
        gen = _random.generator()
        state = gen.bit_generator.state if plan.uses_rng else None
        loss_r = plan.run(x, y)
        if loss_r is None:  # nothing to compare on this batch: run it eagerly
            if state is not None:
                gen.bit_generator.state = state
            return self._eager(x, y, into_arena=True)
        if state is not None:
            _random.generator().bit_generator.state = state
        with _no_grad():
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
            return self._eager(x, y)
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
        for p, v in zip(self.arena.params, self.arena.grad_views):
            np.copyto(v, p.grad, casting="unsafe")
            p.grad = v  # (one eager gradient array at a time is let go)
        self._eager_grads = False

    def _fused_groups(self):
        """``[(group, segments of side 0, segments of side 1)]`` when plain SGD can run over the arrays.

        A piece is a slice (gradient, current, next, scratch, scratch) of one
        group's part of the arrays; a segment is the pieces one thread updates
        (one segment unless the arrays are large and BLAS uses several
        threads). None when the optimizer is not plain SGD.
        """
        if not self._sgd or self.arena is None or self._eager_grads:
            return None
        groups = self.optimizer.param_groups
        for group in groups:
            if group["momentum"] != 0:
                return None
        a = self.arena
        workers = 1 if a.grad.size < PARALLEL_MIN else max(1, min(blas_threads(), MAX_WORKERS))
        cached = self._fused
        if cached is not None and cached[0] == (len(groups), workers):
            return cached[1]
        where = {id(p): i for i, p in enumerate(a.params)}
        n = min(CHUNK, a.grad.size)
        scratch = [(np.empty(n, a.dtype), np.empty(n, a.dtype)) for _ in range(workers)]
        out, total = [], 0
        for group in groups:
            idx = [where[id(p)] for p in group["params"] if id(p) in where]
            total += len(idx)
            if idx and idx != list(range(idx[0], idx[-1] + 1)):
                return None
            lo, hi = (a.starts[idx[0]], a.starts[idx[-1] + 1]) if idx else (0, 0)
            if idx and idx[-1] == len(a.params) - 1:
                hi = a.padded  # the zero padding rides along (its gradient stays 0)
            starts = list(range(lo, hi, CHUNK))
            per = -(-len(starts) // workers) if starts else 0
            sides = []
            for side in (0, 1):
                cur, nxt = a.flat[side], a.flat[side ^ 1]
                segments = []
                for w in range(workers):
                    t, u = scratch[w]
                    seg = tuple((a.grad[s:min(s + CHUNK, hi)], cur[s:min(s + CHUNK, hi)], nxt[s:min(s + CHUNK, hi)],
                                 t[:min(s + CHUNK, hi) - s], u[:min(s + CHUNK, hi) - s],
                                 _blas.planned_axpy(a.grad[s:min(s + CHUNK, hi)], nxt[s:min(s + CHUNK, hi)]))
                                for s in starts[w * per:(w + 1) * per])
                    if seg or w == 0:
                        segments.append(seg)
                sides.append(tuple(segments))
            out.append((group, sides[0], sides[1]))
        if total != len(a.params):
            return None
        self._fused = ((len(groups), workers), out)
        return out

    def _snapshot(self) -> None:
        """Keep the parameters as they are now, for :meth:`restore_previous`."""
        a = self.arena
        changing = [p for p in self.params if p.grad is not None]
        if a is not None and a.intact() and {id(p) for p in changing} <= {id(p) for p in a.params}:
            np.copyto(a.flat[a.current ^ 1], a.flat[a.current])
            self._previous = "arena"
            return
        if self._snap is None or [s.shape for s in self._snap] != [p.data.shape for p in self.params]:
            self._snap = [np.empty_like(p.data) for p in self.params]
        for p, s in zip(self.params, self._snap):
            np.copyto(s, p.data)
        self._previous = "copy"

    def update(self, check: bool = True) -> float:
        """Apply the optimizer to the current gradients; return the gradient norm.

        With plain SGD the update is written into the second parameter array
        slice by slice, accumulating the squared norm on the way, and the two
        arrays are swapped at the end; with ``check`` and a norm that is not
        finite nothing is applied. Other optimizers: the parameters are copied
        aside, then ``optimizer.step()``. Either way the parameters from before
        the update stay available to :meth:`restore_previous`.
        """
        if self._eager_grads:
            self._adopt_eager_grads()
        fused = self._fused_groups()
        if fused is None:
            gnorm = self.grad_norm()
            if check and not math.isfinite(gnorm):
                return gnorm
            self._snapshot()
            if self.optimizer is not None:
                self.optimizer.step()
            return gnorm
        side = self.arena.current
        if len(fused) == 1 and len(fused[0][1]) == 1:  # one group, one thread: the usual case
            group, segments0, segments1 = fused[0]
            sq = _sgd_slices((segments1 if side else segments0)[0], group["lr"], group["weight_decay"],
                             group["maximize"])
        else:
            sq = []
            for group, segments0, segments1 in fused:
                segments = segments1 if side else segments0
                hyper = (group["lr"], group["weight_decay"], group["maximize"])
                if len(segments) == 1:
                    sq += _sgd_slices(segments[0], *hyper)
                else:  # NumPy releases the GIL in these loops: the slices are shared between threads
                    pool = _pool()
                    futures = [pool.submit(_sgd_slices, seg, *hyper) for seg in segments[1:]]
                    sq += _sgd_slices(segments[0], *hyper)
                    for f in futures:
                        sq += f.result()
        # fsum is exact, so the norm does not depend on how the slices were shared out
        gnorm = math.sqrt(sq[0] if len(sq) == 1 else _exact_sum(sq))
        if check and not math.isfinite(gnorm):
            return gnorm  # nothing applied: the current array is untouched
        self.arena.swap()
        self._previous = "swap"
        state = self.optimizer.state
        for p in self.arena.params:  # SGD's per-parameter step count, as its own step() keeps it
            st = state[p]
            st["step"] = st.get("step", 0) + 1
        return gnorm

    def restore_previous(self) -> bool:
        """Put back the parameters from before the last :meth:`update` (False if there are none)."""
        how, self._previous = self._previous, None
        a = self.arena
        if how == "swap" and a is not None and a.intact():  # the other array holds them
            a.swap()
        elif how == "arena" and a is not None and a.intact():
            np.copyto(a.flat[a.current], a.flat[a.current ^ 1])
        elif how == "copy":
            for p, s in zip(self.params, self._snap):
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
