"""Reverse-mode automatic differentiation: the backward pass.

Backpropagation is the chain rule applied from the output back to the inputs.
Every tensor made by an operation remembers ``(input, vjp)`` pairs (see
:func:`descend.tensor.record`). To differentiate a scalar loss ``L``:

1. order the graph so that every tensor comes after everything it was computed
   from (a topological order, found with an explicit stack so that graphs
   100,000 operations deep do not hit Python's recursion limit);
2. seed ``dL/dL = 1`` and walk that order backwards: each tensor's gradient is
   complete once every tensor computed from it has been visited, so it can be
   handed to its inputs through the vjps (summing where a tensor feeds several
   operations: shared subexpressions);
3. at the leaves (tensors the user created with ``requires_grad=True``) add the
   result into ``.grad``. Gradients accumulate across calls until zeroed, as in
   PyTorch.

After the pass the graph's saved buffers are released unless
``retain_graph=True``; backpropagating through a released graph again is an
error rather than silently wrong gradients.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from . import tensor as _tensor
from .tensor import Tensor, _local, as_tensor

__all__ = ["backward", "no_grad", "enable_grad", "set_grad_enabled", "grad", "value_and_grad"]

_FREED = None  # marker stored in ``_parents`` of an operation whose buffers were released


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator turning graph recording on or off."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = None

    def __enter__(self):
        self.prev = _local.grad_enabled
        _local.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        _local.grad_enabled = self.prev
        return False


class no_grad(set_grad_enabled):
    """``with descend.no_grad():`` records nothing (evaluation, parameter updates)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Re-enable recording inside a ``no_grad`` block."""

    def __init__(self):
        super().__init__(True)


def _freed_error(node: Tensor) -> RuntimeError:
    return RuntimeError(
        f"backward(): trying to backpropagate through the graph a second time, but "
        f"the buffers of operation '{node._op}' were already freed. Call "
        "backward(retain_graph=True) the first time if you need to backpropagate twice."
    )


def _count_consumers(root: Tensor) -> dict[int, int]:
    """For every tensor reachable from ``root``: how many graph edges lead into it.

    An explicit stack (no recursion), so graphs 100,000 operations deep work.
    Only operations are expanded; a leaf is counted, never walked through.
    """
    deps: dict[int, int] = {}
    stack = [root]
    pop, push, get = stack.pop, stack.append, deps.get
    while stack:
        node = pop()
        parents = node._parents
        if parents is _FREED:
            raise _freed_error(node)
        for parent, _ in parents:
            k = id(parent)
            n = get(k)
            if n is None:
                deps[k] = 1
                if parent._op is not None:
                    push(parent)
            else:
                deps[k] = n + 1
    return deps


def backward(root: Tensor, grad=None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``grad`` is the gradient of some final scalar with respect to ``root``
    (shape of ``root``); it may be omitted only when ``root`` has one element.

    A tensor is handled once every operation that used it has handed it its
    share of the gradient (a count of its consumers reaches zero), which is a
    reverse topological order found without sorting.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward(): this tensor does not require grad and has no graph; did you forget "
            "requires_grad=True on the inputs, or compute it under no_grad()?"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward(): grad can be omitted only for a one-element output; this output has "
                f"shape {root.shape}. Pass grad= (same shape) or reduce it first, e.g. .sum()"
            )
        # (a one-element output: np.array is a C call, np.ones a Python function around two)
        seed = np.array(1, root.data.dtype).reshape(root.data.shape)
    else:
        seed = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
        if seed.shape != root.shape:
            raise ValueError(
                f"backward(): grad has shape {seed.shape} but the output has shape {root.shape}"
            )
    if root._op is None:  # a leaf: its gradient is the seed
        _accumulate(root, seed, False)
        return
    deps = _count_consumers(root)
    root._g = seed
    root._gshared = False
    ready = [root]
    pop, push = ready.pop, ready.append
    ndarray = np.ndarray
    while ready:
        node = pop()
        g = node._g
        node._g = None
        parents = node._parents
        for parent, vjp in parents:
            if g is not None:
                pg = vjp(g)
                if pg is not None:
                    if parent._g is None:
                        parent._g = pg
                        # A vjp that hands its incoming gradient on unchanged (or a view
                        # of it) shares memory with other tensors' gradients.
                        parent._gshared = pg is g or type(pg) is not ndarray or pg.base is not None
                    else:
                        parent._g = parent._g + pg
                        parent._gshared = False
            k = id(parent)
            n = deps[k] - 1
            deps[k] = n
            if n == 0:
                if parent._op is None:  # a leaf: every contribution is in
                    pg = parent._g
                    if pg is not None:
                        parent._g = None
                        _accumulate(parent, pg, parent._gshared)
                else:
                    push(parent)
        if not retain_graph:
            node._parents = _FREED


_tensor._engine_backward = backward  # Tensor.backward() calls it


def _accumulate(leaf: Tensor, g, shared: bool) -> None:
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.shape != leaf.data.shape:  # e.g. a scalar leaf reached through broadcasting
        g = np.broadcast_to(g, leaf.data.shape)
        shared = True
    if leaf.grad is None:
        if shared or g.dtype != leaf.data.dtype or not g.flags.writeable:
            leaf.grad = np.array(g, dtype=leaf.data.dtype)
        else:
            leaf.grad = g
    else:
        np.add(leaf.grad, g, out=leaf.grad, casting="unsafe")


def _normalise_argnums(argnums, nargs: int) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    if not nums:
        raise ValueError("argnums must name at least one argument")
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"argnums={argnums!r} is out of range for {nargs} positional arguments")
    return tuple(i % nargs for i in nums), single


def value_and_grad(f, argnums=0):
    """Turn ``f(*args) -> scalar`` into ``g(*args) -> (value, gradient)``.

    The differentiated arguments may be tensors, NumPy arrays or numbers;
    gradients come back as NumPy arrays of the arguments' shapes (a tuple when
    ``argnums`` is a tuple). Integer arguments are promoted to float64 (an
    integer has no gradient). ``value`` is a NumPy scalar array.
    """

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        nums, single = _normalise_argnums(argnums, len(args))
        args = list(args)
        leaves = []
        for i in nums:
            arr = np.asarray(args[i].data if isinstance(args[i], Tensor) else args[i])
            if arr.dtype.kind != "f":
                arr = arr.astype(np.float64)
            leaf = Tensor(arr, requires_grad=True)
            args[i] = leaf
            leaves.append(leaf)
        with set_grad_enabled(True):
            out = as_tensor(f(*args, **kwargs))
        if out.data.size != 1:
            raise ValueError(
                f"grad/value_and_grad: the function must return a single number, got shape {out.shape}"
            )
        if out.requires_grad:
            backward(out)
        grads = tuple(
            leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data) for leaf in leaves
        )
        return out.data, (grads[0] if single else grads)

    return wrapped


def grad(f, argnums=0):
    """Turn ``f(*args) -> scalar`` into its gradient function (see :func:`value_and_grad`)."""
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapped
