"""One entry per differentiable operation: how to call it, what it should compute, and on what.

``descend.ops.REGISTRY`` is the package's list of differentiable operations (each one's
forward and backward rule live together in ``descend/ops/*.py``). This module gives every
name there an :class:`OpInfo`:

* ``op``: the descend callable, ``op(*arrays_as_tensors, **kwargs)``;
* ``ref``: an independent NumPy forward (same signature, on arrays);
* ``torch``: the PyTorch equivalent (same signature, on torch tensors), or None with
  ``torch_skip`` saying why;
* ``samples``: a hypothesis strategy of :class:`Sample` (differentiable float64 arrays plus
  keyword arguments such as ``axis``/``keepdims``/``ddof``), with shapes that include size-1
  and, where the operation allows them, zero-size axes, broadcasting for binary operations,
  and values inside ``domain``: away from points where the derivative does not exist (ties
  of max/min, 0 for relu/abs/sign, the bounds of clip), because there finite differences
  and analytic gradients legitimately disagree;
* ``examples``: hand-picked edge cases run on every test run (conventions at kinks, ties,
  empty tensors, every keyword variant);
* tolerances for the gradient check (``gradcheck_tol``) and the comparisons.

``tests/ops/test_gradients.py`` generates every check from this table and fails if an
operation in the registry has no entry here, so no operation can exist untested.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

import descend

# -- samples -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Inputs for one call: ``op(*args, **kwargs)``; ``args`` are the differentiable ones."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    tol: dict = field(default_factory=dict)  # overrides of the op's gradcheck tolerances
    note: str = ""
    # At a kink finite differences see the average of the one-sided slopes, not the
    # convention (e.g. relu'(0) = 0): such examples are compared with torch, not gradcheck.
    kink: bool = False

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.args)
        return f"Sample({self.note + ': ' if self.note else ''}shapes=[{shapes}], kwargs={self.kwargs!r})"


def S(*args, note: str = "", tol: dict | None = None, kink: bool = False, **kwargs) -> Sample:
    """Shorthand for hand-written examples; array-likes become float64 arrays."""
    return Sample(tuple(np.asarray(a, dtype=np.float64) for a in args), kwargs, tol or {}, note, kink)


# -- element and shape strategies -------------------------------------------------------------

MAX_DIMS = 3
MAX_SIDE = 3


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def grid(lo: float, hi: float, step: float = 0.25, offset: float = 0.125) -> st.SearchStrategy[float]:
    """Values ``k*step + offset`` in [lo, hi].

    Two different values are at least ``step`` apart, and with the default offset no value
    is a multiple of 0.25: never 0, never equal to a bound or kink placed on that grid.
    Finite differences (eps ~ 1e-6) then never straddle a kink.
    """
    k_lo = math.ceil((lo - offset) / step)
    k_hi = math.floor((hi - offset) / step)
    return st.integers(k_lo, k_hi).map(lambda k: k * step + offset)


def nonzero(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats with lo <= |x| <= hi, either sign."""
    return st.one_of(floats(lo, hi), floats(-hi, -lo))


def shapes(min_dims: int = 0, min_side: int = 0) -> st.SearchStrategy[tuple]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=MAX_DIMS, min_side=min_side, max_side=MAX_SIDE)


def arrays(shape, elements, unique: bool = False) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique)


# Strategies are immutable values: shared module-level defaults.
_SMALL = floats(-3, 3)
_WIDER = floats(-5, 5)
_NO_KWARGS = st.just({})


@st.composite
def unary(draw, elements=_SMALL, kwargs=_NO_KWARGS, min_side: int = 0, unique: bool = False):
    """One array of any small shape (0-d, size-1 and zero-size axes included)."""
    x = draw(arrays(draw(shapes(min_side=min_side)), elements, unique))
    return Sample((x,), draw(kwargs))


@st.composite
def binary(draw, left=_SMALL, right=_SMALL, kwargs=_NO_KWARGS):
    """Two arrays of mutually broadcastable shapes (size-1 and zero-size axes included)."""
    sh = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=MAX_DIMS,
                                                min_side=0, max_side=MAX_SIDE))
    a = draw(arrays(sh.input_shapes[0], left))
    b = draw(arrays(sh.input_shapes[1], right))
    return Sample((a, b), draw(kwargs))


def axis_specs(shape: tuple, empty_ok: bool, min_count: int = 1) -> list:
    """Every ``axis=`` value worth trying for ``shape``: None, each axis (both signs), tuples.

    ``empty_ok=False`` drops specs that reduce over a zero-size axis; ``min_count`` drops
    those that reduce fewer elements than that.
    """
    nd = len(shape)
    specs: list = [None]
    specs += list(range(nd)) + [a - nd for a in range(nd)]
    for r in range(2, nd + 1):
        for combo in itertools.combinations(range(nd), r):
            specs.append(tuple(combo))
            specs.append(tuple(reversed(combo)))  # order does not matter to NumPy
    specs.append((nd - 1, 0 - nd) if nd >= 2 else None)  # mixed signs
    good = []
    for s in specs:
        axes = range(nd) if s is None else ((s,) if isinstance(s, int) else s)
        axes = [a % nd for a in axes] if nd else []
        count = int(np.prod([shape[a] for a in axes])) if axes else 1
        if not empty_ok and any(shape[a] == 0 for a in axes):
            continue
        if count < min_count:
            continue
        if s not in good:
            good.append(s)
    return good


@st.composite
def reduction(draw, elements=_SMALL, unique=False, empty_ok=True, min_count=1,
              ddof: bool = False):
    """One array and a valid ``axis``/``keepdims`` (and ``ddof``) for a reduction."""
    shape = draw(shapes())
    specs = axis_specs(shape, empty_ok, min_count)
    if not specs:  # e.g. max over shape (0,), std over (): add an axis that can be reduced
        shape = shape + (2,)
        specs = axis_specs(shape, empty_ok, min_count)
    axis = draw(st.sampled_from(specs))
    kwargs = {"axis": axis, "keepdims": draw(st.booleans())}
    if ddof:
        nd = len(shape)
        axes = range(nd) if axis is None else ((axis,) if isinstance(axis, int) else axis)
        n = int(np.prod([shape[a % nd] for a in axes])) if nd else 1
        kwargs["ddof"] = draw(st.integers(0, min(1, n - 1)))  # leave n - ddof >= 1
    x = draw(arrays(shape, elements, unique))
    return Sample((x,), kwargs)


@st.composite
def along_axis(draw, elements=_WIDER):
    """One array of ndim >= 1 and an axis whose size is >= 1 (softmax-like operations)."""
    shape = draw(shapes(min_dims=1))
    candidates = [a for a, n in enumerate(shape) if n > 0]
    if not candidates:
        shape = shape[:-1] + (2,)
        candidates = [len(shape) - 1]
    a = draw(st.sampled_from(candidates))
    axis = draw(st.sampled_from([a, a - len(shape)]))
    return Sample((draw(arrays(shape, elements)),), {"axis": axis})


# -- torch helpers (torch is imported only inside the callables) ------------------------------


def _torch():
    import torch

    return torch


def _dims(x, axis):
    """numpy ``axis`` -> torch ``dim`` (None means every axis)."""
    return tuple(range(x.ndim)) if axis is None else axis


# -- per-operation strategies ---------------------------------------------------------------


def _power_exponent(b, exponent):
    return exponent if b is None else b


@st.composite
def matmul_samples(draw):
    kind = draw(st.sampled_from(["1d@1d", "2d@1d", "1d@2d", "2d@2d", "batched", "batched@1d", "1d@batched"]))
    m, n, p = (draw(st.integers(0, 3)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=2, min_side=1, max_side=3))
    ba, bb = batch.input_shapes
    sa, sb = {
        "1d@1d": ((n,), (n,)),
        "2d@1d": ((m, n), (n,)),
        "1d@2d": ((n,), (n, p)),
        "2d@2d": ((m, n), (n, p)),
        "batched": (ba + (m, n), bb + (n, p)),
        "batched@1d": (ba + (m, n), (n,)),
        "1d@batched": ((n,), bb + (n, p)),
    }[kind]
    return Sample((draw(arrays(sa, floats(-2, 2))), draw(arrays(sb, floats(-2, 2)))))


@st.composite
def clip_samples(draw):
    x = draw(arrays(draw(shapes()), grid(-3, 3)))
    lo = draw(st.integers(-12, 8)) / 4  # bounds on the 0.25 grid, values never on it
    hi = lo + draw(st.integers(1, 8)) / 4
    which = draw(st.sampled_from(["both", "min", "max"]))
    return Sample((x,), {"a_min": None if which == "max" else lo, "a_max": None if which == "min" else hi})


@st.composite
def where_samples(draw):
    sh = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=MAX_DIMS,
                                                min_side=0, max_side=MAX_SIDE))
    cs, xs, ys = sh.input_shapes
    cond = draw(hnp.arrays(np.bool_, cs))
    return Sample((draw(arrays(xs, floats(-3, 3))), draw(arrays(ys, floats(-3, 3)))), {"condition": cond})


@st.composite
def astype_samples(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = draw(arrays(draw(shapes()), floats(-3, 3)))
    # A float32 round trip loses ~1e-7 relative: finite differences need a much larger step.
    tol = {"eps": 1e-2, "atol": 1e-3, "rtol": 1e-3} if dtype is np.float32 else {}
    return Sample((x,), {"dtype": dtype}, tol)


@st.composite
def reshape_samples(draw):
    shape = draw(shapes())
    size = int(np.prod(shape))
    targets = [(size,), tuple(reversed(shape)), (1,) + shape, shape + (1,)]
    if size > 0:
        targets += [(-1,), (-1, 1)]
    if size == 1:
        targets.append(())
    if len(shape) >= 2:
        targets.append((shape[0] * shape[1],) + shape[2:])
        if size > 0:  # -1 is ambiguous for zero-size tensors
            targets.append((-1,) + shape[2:])
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"shape": draw(st.sampled_from(targets))})


@st.composite
def transpose_samples(draw):
    shape = draw(shapes())
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    if axes is not None and draw(st.booleans()):
        axes = tuple(a - len(shape) for a in axes)  # negative axes
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"axes": axes})


@st.composite
def squeeze_samples(draw):
    shape = list(draw(shapes()))
    for i in draw(st.lists(st.integers(0, len(shape)), max_size=2)):
        shape.insert(i, 1)  # make sure there are size-1 axes to squeeze
    shape = tuple(shape)
    ones = [a for a, n in enumerate(shape) if n == 1]
    options: list = [None] + ones + [a - len(shape) for a in ones]
    if len(ones) >= 2:
        options.append(tuple(ones))
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"axis": draw(st.sampled_from(options))})


@st.composite
def expand_dims_samples(draw):
    shape = draw(shapes())
    nd = len(shape)
    axis = draw(st.one_of(
        st.integers(-(nd + 1), nd),
        st.lists(st.integers(0, nd + 1), min_size=2, max_size=2, unique=True).map(tuple),
    ))
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"axis": axis})


@st.composite
def broadcast_to_samples(draw):
    target = draw(shapes())
    drop = draw(st.integers(0, len(target)))
    src = tuple(1 if draw(st.booleans()) else n for n in target[drop:])
    return Sample((draw(arrays(src, floats(-3, 3))),), {"shape": target})


@st.composite
def concatenate_samples(draw):
    base = draw(shapes(min_dims=1))
    nd = len(base)
    axis = draw(st.integers(-nd, nd - 1))
    k = draw(st.integers(1, 3))
    parts = []
    for _ in range(k):
        sh = list(base)
        sh[axis % nd] = draw(st.integers(0, MAX_SIDE))
        parts.append(draw(arrays(tuple(sh), floats(-3, 3))))
    return Sample(tuple(parts), {"axis": axis})


@st.composite
def stack_samples(draw):
    shape = draw(shapes())
    nd = len(shape)
    axis = draw(st.integers(-(nd + 1), nd))
    k = draw(st.integers(1, 3))
    return Sample(tuple(draw(arrays(shape, floats(-3, 3))) for _ in range(k)), {"axis": axis})


@st.composite
def getitem_samples(draw):
    kind = draw(st.sampled_from(["basic", "integer arrays", "mask", "mixed"]))
    if kind == "basic":
        shape = draw(shapes())
        index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    elif kind == "integer arrays":  # repeated indices are likely: their gradients must add up
        shape = draw(shapes(min_dims=1, min_side=1))
        index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)))
    elif kind == "mask":
        shape = draw(shapes(min_dims=1))
        mask_dims = draw(st.integers(1, len(shape)))
        index = draw(hnp.arrays(np.bool_, shape[:mask_dims]))
    else:
        shape = draw(shapes(min_dims=2, min_side=1))
        rows = draw(hnp.arrays(np.intp, draw(st.integers(1, 4)), elements=st.integers(-shape[1], shape[1] - 1)))
        index = (slice(None, None, draw(st.sampled_from([1, -1, 2]))), rows)
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"index": index})


@st.composite
def flatten_samples(draw):
    shape = draw(shapes())
    nd = len(shape)
    start = draw(st.integers(-nd, nd - 1)) if nd else 0
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"start_dim": start})


def _torch_getitem(x, index):
    """Index through flat positions: NumPy's indexing semantics, torch's gather/scatter-add."""
    torch = _torch()
    pos = np.arange(x.numel()).reshape(tuple(x.shape))[index]
    flat = torch.as_tensor(np.ascontiguousarray(pos).reshape(-1), dtype=torch.long)
    return x.reshape(-1)[flat].reshape(pos.shape)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_flatten(x, start_dim=0):
    return x.reshape(x.shape[:start_dim] + (math.prod(x.shape[start_dim:]),))


def _np_gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return x * 0.5 * (1 + _erf(x / np.sqrt(2)))


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpInfo:
    name: str
    op: Callable[..., Any]
    ref: Callable[..., np.ndarray]
    torch: Callable[..., Any] | None
    samples: st.SearchStrategy[Sample]
    domain: str
    arity: int | None = 1  # number of differentiable inputs; None: any number (concatenate)
    examples: tuple[Sample, ...] = ()
    torch_skip: str | None = None
    gradcheck_tol: dict = field(default_factory=dict)  # eps / atol / rtol for descend.gradcheck
    forward_tol: dict = field(default_factory=lambda: {"rtol": 1e-10, "atol": 1e-12})
    torch_tol: dict = field(default_factory=lambda: {"rtol": 1e-9, "atol": 1e-12})
    float32_tol: dict = field(default_factory=lambda: {"rtol": 1e-4, "atol": 1e-5})
    out_dtype: Callable[[dict], Any] = lambda kwargs: np.float32  # output dtype for float32 inputs

    def __repr__(self) -> str:
        return f"OpInfo({self.name})"


def _reduction_info(name, ref, torch_name, elements=_SMALL, unique=False, empty_ok=True,
                    min_count=1, ddof=False, domain="", examples=()):
    def t(x, axis=None, keepdims=False, **kw):
        torch = _torch()
        f = getattr(torch, torch_name)
        if ddof:  # NumPy's default ddof=0, not torch's correction=1
            return f(x, dim=_dims(x, axis), correction=kw.get("ddof", 0), keepdim=keepdims)
        return f(x, dim=_dims(x, axis), keepdim=keepdims)

    return OpInfo(
        name,
        op=lambda x, **kw: getattr(descend, name)(x, **kw),
        ref=ref,
        torch=t,
        samples=reduction(elements, unique, empty_ok, min_count, ddof),
        domain=domain or "any finite value",
        examples=examples,
    )


_TIE2 = S([[1.0, 3.0, 3.0], [2.0, -1.0, 0.5]], axis=1, note="tie of two")

OPINFOS: dict[str, OpInfo] = {}


def _add(info: OpInfo) -> None:
    assert info.name not in OPINFOS, info.name
    OPINFOS[info.name] = info


_BINARY_EXAMPLES = (
    S(2.0, [1.0, -2.0, 0.5], note="scalar and vector"),
    S([[1.0], [2.0], [3.0]], [[0.5, -1.0, 2.0, 1.5]], note="(3,1) with (1,4)"),
    S(np.ones((0, 3)), [[1.0, 2.0, 3.0]], note="zero-size with (1,3)"),
    S(np.full((2, 1, 3), 1.5), np.full((4, 1), -0.75), note="(2,1,3) with (4,1)"),
)

# arithmetic
for _name, _np, _t in [("add", np.add, "add"), ("subtract", np.subtract, "sub"), ("multiply", np.multiply, "mul")]:
    _add(OpInfo(_name, op=getattr(descend, _name), ref=_np,
                torch=(lambda tn: lambda a, b: getattr(_torch(), tn)(a, b))(_t),
                samples=binary(), domain="any finite values", arity=2, examples=_BINARY_EXAMPLES))
_add(OpInfo(
    "divide", op=descend.divide, ref=np.divide, torch=lambda a, b: _torch().div(a, b),
    samples=binary(floats(-3, 3), nonzero(0.5, 3)), domain="divisor |b| >= 0.5", arity=2,
    examples=(S([1.0, -2.0], 0.5, note="vector by scalar"), S(np.ones((0, 1)), [2.0, -4.0])),
))
_add(OpInfo(
    "power",
    op=lambda a, b=None, *, exponent=None: descend.power(a, _power_exponent(b, exponent)),
    ref=lambda a, b=None, *, exponent=None: np.power(a, _power_exponent(b, exponent)),
    torch=lambda a, b=None, *, exponent=None: _torch().pow(a, _power_exponent(b, exponent)),
    samples=binary(floats(0.5, 2.5), floats(-2, 2)),
    domain="base in [0.5, 2.5] (log of the base in d/d exponent), exponent in [-2, 2]; "
           "negative bases only with a constant integer exponent",
    arity=2,
    examples=(
        S([0.5, 1.5, 2.0], 2.0, note="square fast path, differentiable exponent"),
        S([[-1.5, 0.5], [2.0, -0.25]], exponent=2, note="constant exponent 2, negative base"),
        S([-1.5, 0.5, 2.0], exponent=3, note="constant integer exponent, negative base"),
        S([0.5, 1.5], exponent=0.5, note="square root"),
        S([1.25, 2.0], [0.0, 0.0], note="zero exponent"),
        S(np.ones((2, 0)), [1.5], note="zero-size"),
    ),
))
_add(OpInfo("negative", op=descend.negative, ref=np.negative, torch=lambda a: _torch().neg(a),
            samples=unary(), domain="any finite value", examples=(S(1.5), S(np.zeros((0, 2))))))
_add(OpInfo(
    "matmul", op=descend.matmul, ref=np.matmul, torch=lambda a, b: _torch().matmul(a, b),
    samples=matmul_samples(), domain="any finite values; 1-D, 2-D and broadcast batched operands",
    arity=2,
    examples=(
        S([1.0, 2.0, -1.0], [0.5, -1.0, 2.0], note="1-D @ 1-D"),
        S([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], [1.0, -2.0, 0.25], note="2-D @ 1-D"),
        S([1.0, -2.0], [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], note="1-D @ 2-D"),
        S(np.arange(6.0).reshape(2, 3) / 4, np.arange(12.0).reshape(3, 4) / 5 - 1, note="2-D @ 2-D"),
        S(np.arange(12.0).reshape(2, 1, 2, 3) / 7, np.arange(18.0).reshape(3, 3, 2) / 9 - 1,
          note="batch (2,1) with batch (3,)"),
        S(np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(1, 3, 3) - 4, note="2-D @ batch of 1"),
        S(np.ones((2, 0)), np.ones((0, 3)), note="empty inner axis"),
    ),
))

# elementwise
_add(OpInfo("exp", op=descend.exp, ref=np.exp, torch=lambda a: _torch().exp(a),
            samples=unary(floats(-4, 4)), domain="[-4, 4]"))
_add(OpInfo("log", op=descend.log, ref=np.log, torch=lambda a: _torch().log(a),
            samples=unary(floats(0.1, 10)), domain="[0.1, 10]"))
_add(OpInfo("log1p", op=descend.log1p, ref=np.log1p, torch=lambda a: _torch().log1p(a),
            samples=unary(floats(-0.9, 10)), domain="[-0.9, 10]",
            examples=(S([1e-10, -1e-12, 0.0], note="tiny arguments"),)))
_add(OpInfo("sqrt", op=descend.sqrt, ref=np.sqrt, torch=lambda a: _torch().sqrt(a),
            samples=unary(floats(0.1, 10)), domain="[0.1, 10]"))
_add(OpInfo("square", op=descend.square, ref=np.square, torch=lambda a: _torch().square(a),
            samples=unary(), domain="any finite value"))
_add(OpInfo("abs", op=descend.abs, ref=np.abs, torch=lambda a: _torch().abs(a),
            samples=unary(nonzero(0.1, 3)), domain="|x| >= 0.1 (kink at 0)",
            examples=(S([0.0, -1.0, 2.0], note="derivative 0 at 0, as PyTorch"),)))
_add(OpInfo("sign", op=descend.sign, ref=np.sign, torch=lambda a: _torch().sign(a),
            samples=unary(nonzero(0.1, 3)), domain="|x| >= 0.1 (jump at 0)"))
_add(OpInfo("sin", op=descend.sin, ref=np.sin, torch=lambda a: _torch().sin(a),
            samples=unary(floats(-5, 5)), domain="[-5, 5]"))
_add(OpInfo("cos", op=descend.cos, ref=np.cos, torch=lambda a: _torch().cos(a),
            samples=unary(floats(-5, 5)), domain="[-5, 5]"))
_add(OpInfo("tanh", op=descend.tanh, ref=np.tanh, torch=lambda a: _torch().tanh(a),
            samples=unary(floats(-4, 4)), domain="[-4, 4]"))
for _name in ("maximum", "minimum"):
    _add(OpInfo(
        _name, op=getattr(descend, _name), ref=getattr(np, _name),
        torch=(lambda n: lambda a, b: getattr(_torch(), n)(a, b))(_name),
        # a on the grid k/4 + 1/8, b on the grid k/4: never within 1/8 of each other.
        samples=binary(grid(-3, 3), grid(-3, 3, offset=0.0)),
        domain="no ties (|a - b| >= 0.125); ties split the gradient evenly, checked in examples",
        arity=2,
        examples=(
            S([1.0, 2.0, -1.0], [1.0, 0.5, 3.0], note="tie in the first element: half each"),
            S([[0.5], [1.5]], [1.0, 0.5, 2.0], note="broadcast with a tie"),
        ),
    ))
_add(OpInfo(
    "clip", op=lambda x, **kw: descend.clip(x, **kw), ref=lambda x, a_min, a_max: np.clip(x, a_min, a_max),
    torch=lambda x, a_min, a_max: _torch().clamp(x, min=a_min, max=a_max),
    samples=clip_samples(), domain="values at least 0.125 from either bound",
    examples=(
        S([-2.0, -0.5, 0.3, 2.5], a_min=-1.0, a_max=1.0),
        S([-1.0, 0.3, 1.0], a_min=-1.0, a_max=1.0, kink=True, note="at the bounds: derivative 1, as PyTorch"),
        S([[-2.0, 0.3]], a_min=0.0, a_max=None, note="lower bound only"),
        S([-2.0, 0.3, 4.0], a_min=None, a_max=0.5, note="upper bound only"),
    ),
))
_add(OpInfo(
    "where",
    op=lambda x, y, *, condition: descend.where(condition, x, y),
    ref=lambda x, y, *, condition: np.where(condition, x, y),
    torch=lambda x, y, *, condition: _torch().where(_torch().as_tensor(condition), x, y),
    samples=where_samples(), domain="any finite values; condition, x and y broadcast together",
    arity=2,
    examples=(S([1.0, 2.0, 3.0], 0.0, condition=np.array([True, False, True])),
              S([[1.0], [2.0]], [5.0, 6.0], condition=np.array([[True], [False]]))),
))
_add(OpInfo(
    "astype", op=lambda x, *, dtype: descend.astype(x, dtype), ref=lambda x, *, dtype: x.astype(dtype),
    torch=lambda x, *, dtype: x.to(_torch().float32 if dtype is np.float32 else _torch().float64),
    samples=astype_samples(), domain="any finite value; float targets only (integers have no gradient)",
    out_dtype=lambda kwargs: kwargs["dtype"],
    examples=(S([1.0, -2.5], dtype=np.float64),),
))

# reductions
_add(_reduction_info("sum", lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims), "sum",
                     examples=(S(np.ones((2, 0, 3)), axis=1, note="over an empty axis"), S(2.5, axis=None))))
_add(_reduction_info("mean", lambda x, axis=None, keepdims=False: np.mean(x, axis=axis, keepdims=keepdims), "mean",
                     empty_ok=False, examples=(S(np.ones((0, 3)), axis=1, keepdims=True),)))
_add(_reduction_info("max", lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=keepdims), "amax",
                     elements=grid(-5, 5), unique=True, empty_ok=False,
                     domain="distinct values (ties of two split evenly, checked in examples)",
                     examples=(_TIE2, S(np.ones((0, 2)), axis=1, note="zero-size, non-empty axis"))))
_add(_reduction_info("min", lambda x, axis=None, keepdims=False: np.min(x, axis=axis, keepdims=keepdims), "amin",
                     elements=grid(-5, 5), unique=True, empty_ok=False,
                     domain="distinct values (ties of two split evenly, checked in examples)",
                     examples=(S([[1.0, -3.0, -3.0], [2.0, -1.0, 0.5]], axis=1, note="tie of two"),)))
_add(_reduction_info("var", lambda x, axis=None, keepdims=False, ddof=0: np.var(x, axis=axis, keepdims=keepdims, ddof=ddof),
                     "var", empty_ok=False, ddof=True,
                     domain="any finite values; more elements than ddof",
                     examples=(S([[1.0, 2.0, 4.0]], axis=1, ddof=1), S([3.0], axis=0, note="single element"))))
_add(_reduction_info("std", lambda x, axis=None, keepdims=False, ddof=0: np.std(x, axis=axis, keepdims=keepdims, ddof=ddof),
                     "std", elements=grid(-5, 5), unique=True, empty_ok=False, min_count=2, ddof=True,
                     domain="distinct values over at least 2 elements (sqrt is not differentiable at 0)",
                     examples=(S([[1.0, 2.0, 4.0], [0.5, -0.5, 3.0]], axis=0, ddof=1, keepdims=True),)))
_add(_reduction_info("logsumexp",
                     lambda x, axis=None, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
                     "logsumexp", elements=floats(-5, 5), empty_ok=False,
                     examples=(S(np.zeros((0, 3)), axis=1, note="zero-size, non-empty axis"),)))

# shape
_add(OpInfo("reshape", op=lambda x, *, shape: descend.reshape(x, shape), ref=lambda x, *, shape: np.reshape(x, shape),
            torch=lambda x, *, shape: x.reshape(shape), samples=reshape_samples(), domain="any finite values"))
_add(OpInfo("transpose", op=lambda x, *, axes: descend.transpose(x, axes), ref=lambda x, *, axes: np.transpose(x, axes),
            torch=lambda x, *, axes: x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes),
            samples=transpose_samples(), domain="any finite values"))
_add(OpInfo("squeeze", op=lambda x, *, axis: descend.squeeze(x, axis), ref=lambda x, *, axis: np.squeeze(x, axis),
            torch=lambda x, *, axis: _torch().squeeze(x) if axis is None else _torch().squeeze(x, axis),
            samples=squeeze_samples(), domain="any finite values"))
_add(OpInfo("expand_dims", op=lambda x, *, axis: descend.expand_dims(x, axis),
            ref=lambda x, *, axis: np.expand_dims(x, axis),
            torch=lambda x, *, axis: x.reshape(np.expand_dims(np.empty(tuple(x.shape)), axis).shape),
            samples=expand_dims_samples(), domain="any finite values"))
_add(OpInfo("broadcast_to", op=lambda x, *, shape: descend.broadcast_to(x, shape),
            ref=lambda x, *, shape: np.broadcast_to(x, shape), torch=lambda x, *, shape: x.broadcast_to(shape),
            samples=broadcast_to_samples(), domain="any finite values",
            examples=(S(1.5, shape=(2, 3)), S([[1.0], [2.0]], shape=(3, 2, 4)), S([1.0], shape=(0,)))))
_add(OpInfo("concatenate", op=lambda *xs, axis: descend.concatenate(xs, axis=axis),
            ref=lambda *xs, axis: np.concatenate(xs, axis=axis), torch=lambda *xs, axis: _torch().cat(xs, dim=axis),
            samples=concatenate_samples(), domain="any finite values", arity=None))
_add(OpInfo("stack", op=lambda *xs, axis: descend.stack(xs, axis=axis),
            ref=lambda *xs, axis: np.stack(xs, axis=axis), torch=lambda *xs, axis: _torch().stack(xs, dim=axis),
            samples=stack_samples(), domain="any finite values", arity=None))
_add(OpInfo(
    "getitem", op=lambda x, *, index: descend.getitem(x, index), ref=lambda x, *, index: x[index],
    torch=_torch_getitem, samples=getitem_samples(),
    domain="slices (any step), integers, None, Ellipsis, integer arrays (repeats), boolean masks",
    examples=(
        S([1.0, 2.0, 3.0, 4.0], index=np.array([0, 0, 2, 0]), note="repeated indices accumulate"),
        S([[1.0, 2.0], [3.0, 4.0]], index=np.array([[True, False], [True, True]]), note="boolean mask"),
        S([[1.0, 2.0], [3.0, 4.0]], index=(slice(None), np.array([1, 1])), note="slice and repeated column"),
        S(np.arange(6.0).reshape(2, 3), index=(Ellipsis, None, slice(None, None, -2))),
        S([1.0, 2.0], index=np.array([False, False]), note="empty selection"),
    ),
))
_add(OpInfo("flatten", op=lambda x, **kw: descend.flatten(x, **kw), ref=_np_flatten,
            torch=lambda x, start_dim=0: _torch().flatten(x, start_dim), samples=flatten_samples(),
            domain="any finite values",
            examples=(S(np.zeros((0, 2, 3)), start_dim=1, note="zero-size"), S(1.5, start_dim=0))))

# activations
_add(OpInfo("sigmoid", op=descend.sigmoid, ref=lambda x: 1 / (1 + np.exp(-x)), torch=lambda x: _torch().sigmoid(x),
            samples=unary(floats(-8, 8)), domain="[-8, 8]"))
_add(OpInfo("relu", op=descend.relu, ref=lambda x: np.maximum(x, 0), torch=lambda x: _torch().relu(x),
            samples=unary(grid(-3, 3)), domain="never 0 (kink); derivative 0 at 0 as PyTorch, in examples",
            examples=(S([0.0, -1.0, 2.0], kink=True, note="derivative at 0 is 0, as PyTorch"),)))
_add(OpInfo(
    "leaky_relu", op=lambda x, **kw: descend.leaky_relu(x, **kw),
    ref=lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
    torch=lambda x, negative_slope=0.01: _torch().nn.functional.leaky_relu(x, negative_slope),
    samples=unary(grid(-3, 3), st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2])})),
    domain="never 0 (kink)",
))
_add(OpInfo(
    "softplus", op=lambda x, **kw: descend.softplus(x, **kw),
    ref=lambda x, beta=1.0, threshold=20.0: np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta),
    torch=lambda x, beta=1.0, threshold=20.0: _torch().nn.functional.softplus(x, beta, threshold),
    samples=unary(grid(-25, 25), st.fixed_dictionaries({"beta": st.sampled_from([1.0, 2.0]),
                                                       "threshold": st.sampled_from([20.0, 5.0])})),
    domain="at least 0.125 from threshold/beta, where the linear branch takes over",
))
_add(OpInfo(
    "gelu", op=lambda x, **kw: descend.gelu(x, **kw), ref=_np_gelu,
    torch=lambda x, approximate="none": _torch().nn.functional.gelu(x, approximate=approximate),
    samples=unary(floats(-6, 6), st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
    domain="[-6, 6]",
))
_add(OpInfo(
    "elu", op=lambda x, **kw: descend.elu(x, **kw), ref=lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(x)),
    torch=lambda x, alpha=1.0: _torch().nn.functional.elu(x, alpha),
    samples=unary(grid(-4, 4), st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5])})),
    domain="never 0 (kink when alpha != 1)",
))
_add(OpInfo("softmax", op=lambda x, **kw: descend.softmax(x, **kw), ref=lambda x, axis=-1: _np_softmax(x, axis),
            torch=lambda x, axis=-1: _torch().softmax(x, dim=axis), samples=along_axis(),
            domain="[-5, 5]; the softmax axis has at least one element",
            examples=(S(np.zeros((0, 3)), axis=1, note="zero-size batch"),)))
_add(OpInfo("log_softmax", op=lambda x, **kw: descend.log_softmax(x, **kw),
            ref=lambda x, axis=-1: np.log(_np_softmax(x, axis)),
            torch=lambda x, axis=-1: _torch().log_softmax(x, dim=axis), samples=along_axis(),
            domain="[-5, 5]; the softmax axis has at least one element"))

# convolution and pooling (images (N, C, H, W))


def _np_windows(xp, kernel, stride, dilation, out_hw):
    """Every window of the padded input, by plain indexing: (N, C, OH, OW, kh, kw)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    rows = (np.arange(oh) * sh)[:, None] + np.arange(kh) * dh  # (OH, kh)
    cols = (np.arange(ow) * sw)[:, None] + np.arange(kw) * dw  # (OW, kw)
    return xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]


def _out_hw(hw, kernel, stride, padding, dilation, ceil_mode=False):
    out = []
    for n, k, s, p, d in zip(hw, kernel, stride, padding, dilation, strict=True):
        span = n + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:  # (PyTorch: a last window must start inside)
            o -= 1
        out.append(o)
    return tuple(out)


def _unbatched_too(ref):
    """A batched reference that also takes one unbatched image (C, H, W)."""
    def wrapped(x, *args, **kwargs):
        x = np.asarray(x)
        return ref(x[None], *args, **kwargs)[0] if x.ndim == 3 else ref(x, *args, **kwargs)
    return wrapped


def _two(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@_unbatched_too
def _np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if padding == "same":  # (stride 1) the dilated span's zeros, the odd one below and right
        spans = [d * (k - 1) for k, d in zip(w.shape[2:], _two(dilation), strict=True)]
        x = np.pad(x, ((0, 0), (0, 0)) + tuple((s // 2, s - s // 2) for s in spans))
        padding = 0
    stride, padding, dilation = _two(stride), _two(padding), _two(dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    out_hw = _out_hw(x.shape[2:], w.shape[2:], stride, padding, dilation)
    win = _np_windows(xp, w.shape[2:], stride, dilation, out_hw)
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    parts = [np.einsum("ncabij,ocij->noab", win[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og])
             for g in range(groups)]
    y = np.concatenate(parts, axis=1)
    return y if b is None else y + b[None, :, None, None]


def _pool_widths(padding, kernel, dilation):
    """Padding (before, after) per axis, with room after for a ceil_mode window running past the end."""
    return ((0, 0), (0, 0)) + tuple((p, p + d * k) for p, k, d in zip(padding, kernel, dilation, strict=True))


@_unbatched_too
def _np_max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    kernel = _two(kernel_size)
    stride, padding, dilation = _two(stride or kernel), _two(padding), _two(dilation)
    xp = np.pad(x, _pool_widths(padding, kernel, dilation), constant_values=-np.inf)
    out_hw = _out_hw(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    return _np_windows(xp, kernel, stride, dilation, out_hw).max(axis=(4, 5))


@_unbatched_too
def _np_avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
    kernel = _two(kernel_size)
    stride, padding = _two(stride or kernel), _two(padding)
    widths = _pool_widths(padding, kernel, (1, 1))
    out_hw = _out_hw(x.shape[2:], kernel, stride, padding, (1, 1), ceil_mode)
    total = _np_windows(np.pad(x, widths), kernel, stride, (1, 1), out_hw).sum(axis=(4, 5))
    if divisor_override is not None:
        return total / divisor_override
    # the divisor counts the window's pixels inside the padded input (count_include_pad) or the input
    inside = np.ones((1, 1) + x.shape[2:])
    if count_include_pad:
        inside = np.pad(inside, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=1.0)
        extra = ((0, 0), (0, 0)) + tuple((0, k) for k in kernel)
    else:
        extra = widths
    return total / _np_windows(np.pad(inside, extra), kernel, stride, (1, 1), out_hw).sum(axis=(4, 5))


@_unbatched_too
def _np_adaptive_avg_pool2d(x, output_size):
    oh, ow = _two(output_size)
    H, W = x.shape[2:]
    out = np.empty(x.shape[:2] + (oh, ow))
    for a in range(oh):
        for b in range(ow):
            r0, r1 = a * H // oh, -(-(a + 1) * H // oh)
            c0, c1 = b * W // ow, -(-(b + 1) * W // ow)
            out[:, :, a, b] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def _np_pad(x, pad, value=0.0):
    pairs = [(pad[2 * d], pad[2 * d + 1]) for d in range(len(pad) // 2)]
    return np.pad(x, [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1], constant_values=value)


@st.composite
def _window_geometry(draw, max_pad_half_kernel: bool = False, dilation: bool = True):
    """Kernel, stride, padding, dilation and an input size with at least one output pixel.

    Includes the awkward cases: a kernel larger than the input (fits only with padding), a
    stride larger than the kernel, asymmetric (height, width) settings.
    """
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    # stride 1 half the time: it has its own column layout in the convolution (see ops.conv)
    stride = tuple(draw(st.sampled_from([1, 1, 1, 2, 3, 5])) for _ in range(2))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    if max_pad_half_kernel:  # (pooling; with dilation a window could then read padding alone)
        padding = tuple(draw(st.integers(0, k // 2 if d == 1 else 0)) for k, d in zip(kernel, dil, strict=True))
    else:
        padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    hw = []
    for k, p, d in zip(kernel, padding, dil, strict=True):
        least = max(1, d * (k - 1) + 1 - 2 * p)  # the smallest input with one output pixel
        hw.append(draw(st.integers(least, least + 4)))
    return tuple(hw), kernel, stride, padding, dil


def _flat(pair):
    """A pair of equal values as one int (both spellings get exercised)."""
    return pair[0] if pair[0] == pair[1] else pair


@st.composite
def conv2d_samples(draw):
    hw, kernel, stride, padding, dilation = draw(_window_geometry())
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    n = draw(st.sampled_from([(), (1,), (2,)]))  # () : one unbatched image (C, H, W)
    x = draw(arrays(n + (groups * cg,) + hw, floats(-2, 2)))
    w = draw(arrays((groups * og, cg) + kernel, floats(-2, 2)))
    args = (x, w) + ((draw(arrays((groups * og,), floats(-2, 2))),) if draw(st.booleans()) else ())
    kwargs = {"stride": _flat(stride), "padding": _flat(padding), "dilation": _flat(dilation), "groups": groups}
    if stride == (1, 1) and draw(st.sampled_from([False, False, True])):
        kwargs["padding"] = "same"  # (even kernels included: one more zero below and right)
    return Sample(args, kwargs)


@st.composite
def max_pool2d_samples(draw):
    hw, kernel, stride, padding, dilation = draw(_window_geometry(max_pad_half_kernel=True))
    shape = draw(st.sampled_from([(), (1,), (2,)])) + (draw(st.integers(1, 2)),) + hw  # (): unbatched
    # distinct values on a grid: no ties inside a window (finite differences would split them)
    x = draw(arrays(shape, grid(-8, 8, step=1 / 16, offset=1 / 32), unique=True))
    kwargs = {"kernel_size": _flat(kernel), "stride": draw(st.sampled_from([None, _flat(stride)])),
              "padding": _flat(padding), "dilation": _flat(dilation), "ceil_mode": draw(st.booleans())}
    return Sample((x,), kwargs)


@st.composite
def avg_pool2d_samples(draw):
    hw, kernel, stride, padding, _ = draw(_window_geometry(max_pad_half_kernel=True, dilation=False))
    shape = draw(st.sampled_from([(), (1,), (2,)])) + (draw(st.integers(1, 2)),) + hw  # (): unbatched
    kwargs = {"kernel_size": _flat(kernel), "stride": draw(st.sampled_from([None, _flat(stride)])),
              "padding": _flat(padding), "ceil_mode": draw(st.booleans()),
              "count_include_pad": draw(st.booleans()), "divisor_override": draw(st.sampled_from([None, None, 3]))}
    return Sample((draw(arrays(shape, floats(-3, 3))),), kwargs)


@st.composite
def adaptive_avg_pool2d_samples(draw):
    shape = draw(st.sampled_from([(), (1,), (2,)])) + (draw(st.integers(1, 2)), draw(st.integers(1, 7)),
                                                      draw(st.integers(1, 7)))  # (): unbatched
    size = draw(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 8), st.integers(1, 8))))
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"output_size": size})


@st.composite
def pad_samples(draw):
    shape = draw(shapes(min_dims=1))
    widths = draw(st.lists(st.integers(0, 2), min_size=2, max_size=2 * len(shape)))
    if len(widths) % 2:
        widths = widths[:-1]
    return Sample((draw(arrays(shape, floats(-3, 3))),), {"pad": tuple(widths), "value": draw(st.sampled_from([0.0, -1.5]))})


def _torch_F():
    return _torch().nn.functional


def _torch_conv2d(*xs, **kw):
    with warnings.catch_warnings():  # (torch warns that an even kernel's 'same' copies the input)
        warnings.filterwarnings("ignore", "Using padding='same' with even kernel", UserWarning)
        return _torch_F().conv2d(*xs, **kw)


_add(OpInfo(
    "conv2d", op=lambda *xs, **kw: descend.conv2d(*xs, **kw), ref=_np_conv2d,
    torch=lambda *xs, **kw: _torch_conv2d(*xs, **kw), samples=conv2d_samples(),
    domain="any finite values; stride, padding ('same', even kernels too), dilation, groups, with and without bias",
    arity=None,
    examples=(
        S(np.arange(18.0).reshape(1, 2, 3, 3) / 9, np.ones((2, 2, 5, 5)) / 3, [0.5, -1.0], padding=2,
          note="kernel larger than the input, with padding"),
        S(np.arange(48.0).reshape(1, 3, 4, 4) / 20, np.arange(3.0 * 4).reshape(3, 1, 2, 2) - 5, groups=3,
          note="groups = channels (depthwise)"),
        S(np.arange(50.0).reshape(2, 1, 5, 5) / 25, np.ones((1, 1, 2, 2)), stride=3,
          note="stride larger than the kernel: pixels no window reads"),
        S(np.arange(32.0).reshape(1, 2, 4, 4) / 16, np.arange(16.0).reshape(4, 1, 2, 2) / 8 - 1,
          stride=(2, 1), padding=(0, 1), dilation=(1, 2), groups=2, note="different settings per axis"),
        S(np.zeros((0, 2, 4, 4)), np.ones((3, 2, 3, 3)), note="empty batch"),
        S(np.arange(30.0).reshape(1, 1, 5, 6) / 10, np.arange(8.0).reshape(1, 1, 2, 4) - 3, [0.25],
          padding="same", dilation=(2, 1), note="padding='same' with an even kernel: unequal sides"),
    ),
))
_add(OpInfo(
    "max_pool2d", op=lambda x, **kw: descend.max_pool2d(x, **kw), ref=_np_max_pool2d,
    torch=lambda x, **kw: _torch_F().max_pool2d(x, **kw), samples=max_pool2d_samples(),
    domain="distinct values (no ties in a window; the first maximum takes a tie, in examples)",
    examples=(
        S([[[[1.0, 1.0], [0.5, 1.0]]]], kernel_size=2, kink=True, note="tie: the first maximum gets it"),
        S(np.arange(36.0).reshape(1, 1, 6, 6) % 7, kernel_size=3, stride=2, padding=1,
          kink=True, note="overlapping windows share a maximum: gradients add up"),
        S(np.arange(24.0).reshape(1, 2, 3, 4) / 3, kernel_size=2, stride=3, note="stride larger than the kernel"),
        S(np.arange(35.0).reshape(1, 5, 7) / 5, kernel_size=2, ceil_mode=True,
          note="ceil_mode: the last windows run past the input; one unbatched image (C, H, W)"),
        S(np.arange(30.0).reshape(1, 1, 6, 5) % 7, kernel_size=3, stride=2, padding=1, ceil_mode=True,
          kink=True, note="ceil_mode with padding: a window starting in the padding is dropped"),
    ),
))
_add(OpInfo(
    "avg_pool2d", op=lambda x, **kw: descend.avg_pool2d(x, **kw), ref=_np_avg_pool2d,
    torch=lambda x, **kw: _torch_F().avg_pool2d(x, **kw), samples=avg_pool2d_samples(),
    domain="any finite values; padding at most half the kernel, counted or not",
    examples=(
        S(np.arange(25.0).reshape(1, 1, 5, 5) / 5, kernel_size=3, stride=1, padding=1, count_include_pad=False,
          note="padding left out of the mean"),
        S(np.arange(16.0).reshape(1, 1, 4, 4), kernel_size=(1, 2), stride=(3, 1)),
        S(np.arange(35.0).reshape(1, 1, 5, 7) / 5, kernel_size=3, stride=2, padding=1, ceil_mode=True,
          note="ceil_mode: the last window's divisor counts what it covers of the padded input"),
        S(np.arange(24.0).reshape(2, 3, 4) / 4, kernel_size=2, stride=1, divisor_override=3,
          note="divisor_override; one unbatched image (C, H, W)"),
    ),
))
_add(OpInfo(
    "adaptive_avg_pool2d", op=lambda x, **kw: descend.adaptive_avg_pool2d(x, **kw), ref=_np_adaptive_avg_pool2d,
    torch=lambda x, **kw: _torch_F().adaptive_avg_pool2d(x, **kw), samples=adaptive_avg_pool2d_samples(),
    domain="any finite values; output larger or smaller than the input, overlapping bins",
    examples=(S(np.arange(35.0).reshape(1, 1, 5, 7) / 7, output_size=(3, 4), note="overlapping bins"),
              S(np.arange(8.0).reshape(2, 1, 2, 2), output_size=1, note="global average")),
))
_add(OpInfo(
    "pad", op=lambda x, **kw: descend.pad(x, **kw), ref=_np_pad,
    torch=lambda x, **kw: _torch_F().pad(x, **kw), samples=pad_samples(),
    domain="any finite values; non-negative widths for up to every axis",
    examples=(S(np.ones((2, 0, 3)), pad=(1, 1, 2, 0), note="zero-size axis padded"),),
))
