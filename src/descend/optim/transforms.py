r"""Transformations in the manner of Optax, over the update rules of :mod:`descend.optim.functional`.

A :class:`GradientTransformation` is a pair of pure functions
``init(params) -> state`` and ``update(updates, state, params) -> (updates,
new_state)``; :func:`chain` composes them, and :func:`apply_updates` adds the
result to the parameters. The stages are generic (:func:`scale`,
:func:`scale_by_learning_rate`, :func:`add_decayed_weights`, :func:`clip`,
:func:`clip_by_global_norm`); the named optimizers (:func:`get`,
:func:`adam`, ...) are adapters that run the in-place rules of
:mod:`descend.optim.functional` on copies, not second copies of them::

    tx = chain(clip_by_global_norm(1.0), adam(lr=1e-3))
    updates, state = tx.update(grads, state, params)
    params = apply_updates(params, updates)

These never modify their inputs. ``params`` and ``updates`` may be a single
array (or number) or any nesting of lists, tuples and dicts of arrays.
``updates`` are *added* to parameters (``θ ← θ + u``), so the learning-rate
transformation carries the minus sign.

Example: gradient descent on ``L(θ) = (θ − 3)²`` with no tensors in sight::

    >>> theta = np.array(0.0)
    >>> for _ in range(100):
    ...     theta = gradient_descent_step(theta, 2 * (theta - 3), lr=0.1)
    >>> round(float(theta), 6)
    3.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor
from .registry import get as make_optimizer
from .registry import names as optimizer_names
from .registry import unknown_name_message

__all__ = [
    "GradientTransformation", "chain", "identity", "scale", "scale_by_learning_rate",
    "scale_by_schedule", "add_decayed_weights", "clip", "clip_by_global_norm", "apply_updates",
    "tree_map", "gradient_descent_step",
    # named optimizers as transformations (adapters over the in-place rules)
    "sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam",
    "get", "names",
]


def tree_map(fn: Callable, tree, *rest):
    """Apply ``fn`` to the leaves of ``tree`` (and the matching leaves of ``rest``).

    A tree is a leaf (array, number) or a list, tuple or dict of trees; None
    stays None. The result has the structure of ``tree``.
    """
    if isinstance(tree, dict):
        return {k: tree_map(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        out = [tree_map(fn, v, *(r[i] for r in rest)) for i, v in enumerate(tree)]
        return type(tree)(out) if type(tree) in (list, tuple) else type(tree)(*out)
    if tree is None:
        return None
    return fn(tree, *rest)


def _leaves(tree) -> list:
    out: list = []
    tree_map(out.append, tree)
    return out


def _as_float_array(x) -> np.ndarray:
    """A fresh float array holding ``x`` (integers and Python numbers become float64)."""
    arr = np.array(x, copy=True)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _copy(tree):
    return tree_map(lambda x: np.array(x, copy=True), tree)


class GradientTransformation(NamedTuple):
    """A pair of pure functions describing one stage of an optimizer.

    ``init(params) -> state`` builds the stage's state (e.g. zero moment
    estimates shaped like ``params``); ``update(updates, state, params=None)
    -> (new_updates, new_state)`` transforms the incoming updates (initially
    the gradients). Neither modifies its arguments.
    """

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transformations left to right: the output of one feeds the next.

    The state is the tuple of the stages' states.
    """
    for i, tr in enumerate(transforms):
        if not isinstance(tr, GradientTransformation):
            raise TypeError(f"chain(): argument {i} is a {type(tr).__name__}, not a GradientTransformation")

    def init(params):
        return tuple(tr.init(params) for tr in transforms)

    def update(updates, state, params=None):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise ValueError(
                f"chain.update(): state must be a tuple of {len(transforms)} stage states, as returned by init()"
            )
        new_state = []
        for tr, s in zip(transforms, state, strict=True):
            updates, s = tr.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def identity() -> GradientTransformation:
    """Pass the updates through unchanged (no state)."""
    return GradientTransformation(lambda params: {}, lambda updates, state, params=None: (_copy(updates), state))


def scale(factor: float) -> GradientTransformation:
    """``u ← c·u`` (``scale(-1)`` turns descent into ascent: ``maximize``)."""
    factor = float(factor)

    def update(updates, state, params=None):
        return tree_map(lambda u: _as_float_array(u) * factor, updates), state

    return GradientTransformation(lambda params: {}, update)


def scale_by_schedule(schedule: Callable[[int], float]) -> GradientTransformation:
    """``u ← s(k)·u`` where ``k`` counts the updates made before this one (0, 1, 2, ...)."""

    def init(params):
        return {"step": 0}

    def update(updates, state, params=None):
        factor = float(schedule(state["step"]))
        return tree_map(lambda u: _as_float_array(u) * factor, updates), {"step": state["step"] + 1}

    return GradientTransformation(init, update)


def scale_by_learning_rate(lr: float | Callable[[int], float]) -> GradientTransformation:
    """``u ← −lr·u``: the step of gradient descent. ``lr`` may be a schedule ``k -> lr``."""
    if callable(lr):
        return scale_by_schedule(lambda k: -float(lr(k)))
    _check_nonnegative("lr", lr)
    return scale(-float(lr))


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """``u ← u + λθ``: weight decay (needs ``params``).

    Placed before an adaptive scaling it is the L2 penalty of Adam
    (``weight_decay``); placed after it, decoupled weight decay (AdamW).
    """
    _check_nonnegative("weight_decay", weight_decay)
    weight_decay = float(weight_decay)

    def update(updates, state, params=None):
        if weight_decay == 0:
            return _copy(updates), state
        if params is None:
            raise ValueError("add_decayed_weights: update() needs params")

        def leaf(u, p):
            u = _as_float_array(u)
            return u + weight_decay * np.asarray(p, dtype=u.dtype)

        return tree_map(leaf, updates, params), state

    return GradientTransformation(lambda params: {}, update)


def clip(max_delta: float) -> GradientTransformation:
    """Clip every coordinate of the updates to ``[−max_delta, max_delta]``."""
    _check_nonnegative("max_delta", max_delta)
    return GradientTransformation(
        lambda params: {},
        lambda updates, state, params=None: (
            tree_map(lambda u: np.clip(_as_float_array(u), -max_delta, max_delta), updates), state
        ),
    )


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale all updates together so that their joint L2 norm is at most ``max_norm``.

    Unlike per-coordinate clipping this keeps the update's direction.
    """
    _check_nonnegative("max_norm", max_norm)

    def update(updates, state, params=None):
        norm = math.sqrt(sum(float(np.vdot(u, u)) for u in map(np.asarray, _leaves(updates))))
        factor = 1.0 if norm <= max_norm else max_norm / norm
        return tree_map(lambda u: _as_float_array(u) * factor, updates), state

    return GradientTransformation(lambda params: {}, update)


def apply_updates(params, updates):
    """``θ ← θ + u`` leaf by leaf; returns new arrays with the parameters' (float) dtypes."""

    def leaf(p, u):
        p = np.asarray(p)
        dtype = p.dtype if p.dtype.kind == "f" else np.dtype(np.float64)
        return np.asarray(p + np.asarray(u), dtype=dtype)

    return tree_map(leaf, params, updates)


def gradient_descent_step(params, grads, lr: float):
    r"""One step of plain gradient descent, ``θ ← θ − α·∇L(θ)``, as a pure function.

    ``params`` and ``grads`` are arrays, numbers or matching trees of them;
    returns the new parameters (new arrays). The whole of the method::

        >>> gradient_descent_step(np.array([1.0, 2.0]), np.array([0.5, -1.0]), lr=0.1)
        array([0.95, 2.1 ])
    """
    _check_nonnegative("lr", lr)
    return apply_updates(params, tree_map(lambda g: -float(lr) * np.asarray(g), grads))


# -- named optimizers: adapters over the in-place rules ---------------------------


def names() -> list[str]:
    """Names accepted by :func:`get`: those of :func:`descend.optim.names` but L-BFGS, which needs a closure."""
    return [n for n in optimizer_names() if n != "lbfgs"]


def get(name: str, **hyperparameters) -> GradientTransformation:
    """The named optimizer as a transformation, e.g. ``get("adam", lr=0.1)``.

    A thin adapter over the optimizer class of the same name
    (:func:`descend.optim.get`), which validates the hyperparameters: its
    ``update(grads, state, params)`` applies the class's in-place rule (e.g.
    :func:`adam_` for ``"adam"``) to copies of each parameter and its state,
    and returns the changes ``u = θ' − θ`` with the new state, so the
    mathematics is written once. ``init(params)`` gives one state dict per
    leaf of ``params``, laid out as the class's ``optimizer.state[p]`` and
    empty until the first update (as in the class). ``update`` needs
    ``params``. ``"momentum"`` is SGD with ``momentum=0.9`` and
    ``"nesterov"`` adds ``nesterov=True``; both can be overridden.

    ``apply_updates(θ, u)`` computes ``θ + (θ' − θ)``, which may differ from
    the class's ``θ'`` in the last bit.
    """
    key = str(name).lower()
    known = names()
    if key not in known:
        raise ValueError(unknown_name_message(name, known))
    optimizer = make_optimizer(key, [Tensor(np.zeros(1), requires_grad=True)], **hyperparameters)
    group = optimizer.param_groups[0]

    def init(params):
        return tuple({} for _ in _leaves(params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(f"optimizer {key!r}: update() needs params")
        n = len(_leaves(updates))
        if not isinstance(state, tuple) or len(state) != n:
            raise ValueError(f"optimizer {key!r}: state must be a tuple of {n} dicts, as returned by init()")
        states = iter(state)
        new_state = []

        def leaf(g, p):
            new = _as_float_array(p)
            before = new.copy()
            st = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in next(states).items()}
            scratch = [np.empty_like(new) for _ in range(optimizer._n_scratch)]
            optimizer._update_one(new, np.asarray(g), st, group, scratch)
            new_state.append(st)
            return np.subtract(new, before, out=before)  # out=: a 0-d array stays an array

        return tree_map(leaf, updates, params), tuple(new_state)

    return GradientTransformation(init, update)


def _named(name: str) -> Callable[..., GradientTransformation]:
    def make(**hyperparameters) -> GradientTransformation:
        return get(name, **hyperparameters)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"``get({name!r}, **hyperparameters)``: the class's rule as a transformation (see :func:`get`)."
    return make


sgd, adagrad, rmsprop, adadelta, adam, adamw, adamax, nadam, radam = map(
    _named, ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam"]
)


# -- validation shared with the classes -----------------------------------------


def _check_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"invalid {name}={value!r}: must be a finite number")
    return float(value)


def _check_nonnegative(name: str, value) -> float:
    value = _check_number(name, value)
    if value < 0:
        raise ValueError(f"invalid {name}={value!r}: must be >= 0")
    return value
