"""An operation written once: its forward and its vector-Jacobian products as NumPy kernels.

Most operations of :mod:`descend.ops` are a forward computation and, beside
it, closures that map the gradient of the output to the gradients of the
inputs (:func:`descend.tensor.record`). The operations a training step is made
of (``linear``, the activations, ``dropout``, ``reshape``, the usual losses)
are instead written as a :class:`Rule`: two plain functions over NumPy arrays,

    forward(k, xs, attrs) -> (y, saved)
    vjp(k, i, xs, y, saved, attrs, g, out=None) -> dL/dxs[i]   (g = dL/dy)

that call NumPy through an *executor* ``k`` and give every result a buffer:
``k.multiply(a, b, out=k.buffer(shape, dtype))`` (``out`` by keyword, or
for ``ufunc.reduce`` as its fourth argument, which NumPy parses faster:
``k.add.reduce(a, 1, None, buf, True)``). ``k.empty`` is a buffer that is an
array even eagerly (to be written into in place); ``k.into(fn, out, *args)``
calls ``fn(*args, out)``; ``k.call(fn, *args)`` any other call (e.g. a random
draw). The same two functions serve both ways an operation runs:

* eagerly (``k`` is :data:`EAGER`): ``k.multiply`` *is* ``np.multiply`` and
  ``k.buffer`` returns None, so NumPy allocates each result as usual;
  :meth:`Rule.__call__` records the vjps in the graph like any operation;
* replayed (``k`` is the recorder of :mod:`descend.compile`): the kernels run
  once with buffers allocated for good, and every NumPy call they make is kept
  as a bound call into those buffers; a training step then repeats the calls.

So a derivative exists once, and the fast path computes exactly the numbers of
the eager step. ``xs`` are the input arrays (None for an absent optional
input), ``attrs`` the operation's options (a dict or None), ``saved`` whatever
the forward keeps for the backward (intermediate arrays: in replay they are
buffers too). A vjp writes into ``out``: None eagerly (NumPy allocates), the
gradient's buffer when recorded; it may return a view instead (reshape), which
the caller copies.

Kernels must compute only through ``k`` (and views such as ``.T`` or
``.reshape``, which stay valid over fixed buffers), never read values in
Python. Checks on the data that the eager step makes with an error message
belong to the operation's function around the rule; for replay a kernel
registers them with ``k.check(fn, *arrays)`` when ``k.recording`` (a replayed
step on which one is false runs eagerly, so the error is the eager one).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..tensor import Tensor, _local

__all__ = ["Rule", "EAGER"]


class _Eager:
    """The executor of eager operations: NumPy itself, and no buffers (NumPy allocates)."""

    recording = False  # (True for the recorder: a kernel registers its replay checks then)

    def __getattr__(self, name):
        fn = getattr(np, name)
        setattr(self, name, fn)  # found in the instance next time, without this method
        return fn

    @staticmethod
    def buffer(shape, dtype):
        return None

    @staticmethod
    def call(fn, *args):
        return fn(*args)

    @staticmethod
    def into(fn, out, *args):
        return fn(*args, out)

    @staticmethod
    def check(fn, *args) -> bool:
        return True  # the eager operation validated its input itself, with an error message


#: The executor eager operations run their rules with.
EAGER = _Eager()


class Rule:
    """An operation's forward and vjp (see the module docstring); calling it applies it eagerly.

    ``rule((x, w, b), attrs)`` runs the forward on the tensors' arrays and
    returns the output tensor, recording the vjp for every input that
    requires grad, and telling this thread's tracer (if any) which rule, inputs
    and options made it.
    """

    __slots__ = ("name", "forward", "vjp", "uses_rng", "updates")

    #: Every rule by name: the operations :mod:`descend.compile` can replay.
    registry: dict = {}

    def __init__(self, name: str, forward, vjp, *, uses_rng: bool = False, updates: tuple = ()):
        """``uses_rng``: the forward draws from the thread's random generator (dropout), so a
        replay that falls back to the eager step must rewind it first. ``updates``: the options
        holding arrays the forward changes in place (batch norm's running statistics), which
        such a replay puts back first too."""
        if name in Rule.registry:
            raise ValueError(f"Rule: an operation named {name!r} is already defined")
        self.name, self.forward, self.vjp, self.uses_rng = name, forward, vjp, bool(uses_rng)
        self.updates = tuple(updates)
        Rule.registry[name] = self

    def __repr__(self) -> str:
        return f"Rule({self.name!r})"

    def __call__(self, inputs: tuple, attrs: dict | None = None) -> Tensor:
        # (record() written out, with loops rather than comprehensions: this runs for every
        # operation of an eager training step, where microseconds add up)
        local = _local
        if len(inputs) == 1:
            t = inputs[0]
            xs = (t.data,)
            y, saved = self.forward(EAGER, xs, attrs)
            out = _new(Tensor)
            out.data = y if type(y) is np.ndarray else np.asarray(y)
            out.grad = out._g = None
            out._gshared = False
            if t.requires_grad and local.grad_enabled:
                out.requires_grad = True
                out._parents = ((t, partial(self.vjp, EAGER, 0, xs, y, saved, attrs)),)
                out._op = self.name
            else:
                out.requires_grad = False
                out._parents = ()
                out._op = None
        else:
            arrays = []
            for t in inputs:
                arrays.append(None if t is None else t.data)
            xs = tuple(arrays)
            y, saved = self.forward(EAGER, xs, attrs)
            out = _new(Tensor)
            out.data = y if type(y) is np.ndarray else np.asarray(y)
            out.grad = out._g = None
            out._gshared = False
            out.requires_grad = False
            out._parents = ()
            out._op = None
            if local.grad_enabled:
                parents = []
                i = 0
                for t in inputs:
                    if t is not None and t.requires_grad:  # the vjp, waiting for g
                        parents.append((t, partial(self.vjp, EAGER, i, xs, y, saved, attrs)))
                    i += 1
                if parents:
                    out.requires_grad = True
                    out._parents = tuple(parents)
                    out._op = self.name
        tracer = local.tracer
        if tracer is not None:
            tracer.saw(out, self.name)
            tracer.note(out, self, inputs, attrs)
        return out


_new = object.__new__
