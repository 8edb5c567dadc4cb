"""Test functions for optimisation, written with descend operations so they differentiate.

Every function takes points ``x`` of shape ``(..., d)`` and returns values of
shape ``(...)``: one call evaluates a single point, a path, or a whole grid of
starting points (which is what makes :func:`descend.landscapes.basins` one
batched run). Each comes wrapped in a :class:`Landscape` that carries its name,
a default plotting domain and its known minima as published in the literature:

* Himmelblau, D. M. (1972). *Applied Nonlinear Programming*.
* Rosenbrock, H. H. (1960). An automatic method for finding the greatest or least value
  of a function. *The Computer Journal* 3(3).
* Goldstein, A. A. & Price, J. F. (1971). On descent from local minima. *Math. Comp.* 25.
* Dixon, L. C. W. & Szegö, G. P. (1978). *Towards Global Optimisation 2* (six-hump camel,
  Goldstein-Price local minima).
* Ackley, D. H. (1987). *A Connectionist Machine for Genetic Hillclimbing*.
* Styblinski, M. A. & Tang, T.-S. (1990). Experiments in nonconvex optimization.
  *Neural Networks* 3(4).
* Surjanovic, S. & Bingham, D. Virtual Library of Simulation Experiments: test functions
  (domains, Beale, Booth, Matyas).

Coordinates are stored to full double precision (refined from the published
digits by Newton's method on the exact gradient); the published digits are what
the test suite checks them against.

Factories: every name in :func:`names` is a function returning a :class:`Landscape`
(``rosenbrock(dim=5)``, ``quadratic(condition=100, angle=0.5)``); :func:`get`
looks one up by name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..autograd import no_grad, value_and_grad
from ..tensor import Tensor, as_tensor, record

__all__ = [
    "Minimum", "Landscape", "get", "names",
    "quadratic", "sphere", "rosenbrock", "himmelblau", "rastrigin", "ackley", "beale", "booth",
    "goldstein_price", "six_hump_camel", "styblinski_tang", "matyas",
]

# Optimizer families, for the suggested learning rates below.
_PLAIN = {"sgd", "momentum", "nesterov"}
_UNIT_LR = {"adadelta", "lbfgs"}  # torch's defaults (lr=1.0) are the right scale there


@dataclass(frozen=True)
class Minimum:
    """A known minimum: its coordinates ``x``, its ``value`` and whether it is global."""

    x: tuple
    value: float
    is_global: bool

    @property
    def point(self) -> np.ndarray:
        """The coordinates as a float64 array of shape ``(d,)``."""
        return np.asarray(self.x, dtype=np.float64)


@dataclass(eq=False)
class Landscape:
    """A test function with its domain and known minima.

    Attributes
    ----------
    name : str
        Registry name (``descend.landscapes.get(name)``).
    fn : callable
        ``fn(x)`` for a Tensor ``x`` of shape ``(..., dim)`` returns a Tensor of shape
        ``(...)`` built from descend operations (so it differentiates).
    dim : int
        Number of coordinates.
    domain : tuple of (low, high)
        The default plotting / sampling box, one pair per coordinate.
    minima : list of Minimum
        Known minima (global first), as published.
    title : str
        Human-readable name for plots.
    formula : str
        The definition, in plain text.
    start : tuple
        A starting point that shows the function's character (used by the CLI).
    lr : float
        A learning rate at which plain gradient descent converges from ``start``.
    adaptive_lr : float
        A learning rate for the adaptive methods (Adam, RMSprop, ...), whose steps are about
        ``lr`` long whatever the gradient's scale.
    """

    name: str
    fn: Callable
    dim: int
    domain: tuple
    minima: list
    title: str = ""
    formula: str = ""
    start: tuple = ()
    lr: float = 1e-3
    adaptive_lr: float = 1e-2
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        self.domain = tuple((float(lo), float(hi)) for lo, hi in self.domain)
        if len(self.domain) != self.dim:
            raise ValueError(f"Landscape {self.name!r}: domain has {len(self.domain)} ranges for dim={self.dim}")
        if not self.title:
            self.title = self.name.replace("_", " ").title()

    # -- evaluation -----------------------------------------------------------------
    def _check(self, shape) -> None:
        if len(shape) == 0 or shape[-1] != self.dim:
            raise ValueError(
                f"{self.name}: x must have shape (..., {self.dim}) (last axis = the {self.dim} "
                f"coordinates), got shape {tuple(shape)}"
            )

    def __call__(self, x):
        """Evaluate at ``x`` of shape ``(..., dim)``.

        A Tensor gives a Tensor (recorded for backpropagation); anything else gives NumPy
        (a float for a single point, an array of shape ``(...)`` for a batch).
        """
        if isinstance(x, Tensor):
            self._check(x.shape)
            return self.fn(x)
        arr = _as_float_array(x)
        self._check(arr.shape)
        with no_grad(), np.errstate(over="ignore", invalid="ignore"):
            out = self.fn(Tensor._wrap(arr)).data
        return float(out) if out.ndim == 0 else out

    def value_and_grad(self, x):
        """``(f(x), ∇f(x))`` as NumPy for points of shape ``(..., dim)``.

        For a batch, each row's gradient is that of its own value (the gradient of the sum of
        the values, which the rows do not share).
        """
        arr = _as_float_array(x)
        self._check(arr.shape)

        def total(t):
            out = self.fn(t)
            return out if out.ndim == 0 else ops.sum(out)

        values = self(arr)
        _, g = value_and_grad(total)(arr)
        return values, g

    def grad(self, x) -> np.ndarray:
        """∇f at ``x`` of shape ``(..., dim)`` (NumPy in, NumPy out, same shape)."""
        return self.value_and_grad(x)[1]

    # -- minima ---------------------------------------------------------------------
    @property
    def global_minimum(self) -> Minimum:
        """The first listed global minimum (several for Himmelblau and six-hump camel)."""
        return next(m for m in self.minima if m.is_global)

    @property
    def global_minima(self) -> list:
        return [m for m in self.minima if m.is_global]

    @property
    def minima_points(self) -> np.ndarray:
        """All known minima as an array of shape ``(m, dim)``."""
        return np.array([m.x for m in self.minima], dtype=np.float64).reshape(-1, self.dim)

    def nearest_minimum(self, x) -> tuple[int, float]:
        """Index into ``minima`` of the known minimum nearest to ``x`` and the Euclidean distance."""
        p = _as_float_array(x).reshape(self.dim)
        d = np.linalg.norm(self.minima_points - p, axis=1)
        i = int(np.argmin(d))
        return i, float(d[i])

    def suggested_lr(self, optimizer: str) -> float:
        """A learning rate that works here for ``optimizer`` (a registry name).

        Plain gradient descent (sgd, momentum, nesterov) uses ``lr``, and so does radam (its
        first steps, before the variance estimate is trusted, are momentum steps); the adaptive methods,
        whose step length is set by ``lr`` rather than by the gradient, use ``adaptive_lr``;
        adadelta and lbfgs use 1.0 (PyTorch's default, which already has the right scale).
        """
        name = str(optimizer).lower()
        if name in _PLAIN or name == "radam":  # RAdam's first steps are plain momentum steps
            return self.lr
        if name in _UNIT_LR:
            return 1.0
        return self.adaptive_lr

    def __repr__(self) -> str:
        # dim is shown once, first, whether or not the factory also keeps it among its options
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items() if k != "dim")
        return f"Landscape({self.name!r}, dim={self.dim}{opts})"


def _as_float_array(x) -> np.ndarray:
    arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _coords(x: Tensor):
    return [x[..., i] for i in range(x.shape[-1])]


def _rms(x: Tensor) -> Tensor:
    """√(mean(x², axis=-1)), differentiable everywhere but at 0.

    d/dxᵢ = xᵢ / (d·rms). At 0 the function is a cone tip (not differentiable); the vjp
    returns 0 there, the smallest subgradient, so the minimum of Ackley's function is a
    stationary point for gradient descent and the backward pass never divides by zero.
    """
    x = as_tensor(x)
    v = x.data
    d = v.shape[-1]
    out = np.sqrt(np.mean(v * v, axis=-1))

    def vjp(g):
        safe = np.where(out > 0, out, 1.0)
        scale = np.where(out > 0, g / (d * safe), 0.0)
        return scale[..., None] * v

    return record(out, "rms", (x, vjp))


# -- the functions -------------------------------------------------------------------


def _rotation(angle: float, dim: int) -> np.ndarray:
    r = np.eye(dim)
    if dim >= 2:
        c, s = math.cos(angle), math.sin(angle)
        r[:2, :2] = [[c, -s], [s, c]]
    return r


def quadratic(condition: float = 10.0, angle: float = 0.0, dim: int = 2) -> Landscape:
    """f(x) = ½ xᵀ A x with A = R diag(λ) Rᵀ: a bowl with condition number κ = λmax/λmin.

    The eigenvalues λ run geometrically from 1 to ``condition``; R rotates the first two axes
    by ``angle`` radians, so the ravine is no longer aligned with a coordinate axis. Plain
    gradient descent converges for lr < 2/κ and then at rate (κ-1)/(κ+1) per step; momentum
    and adaptive methods are the remedies. Minimum 0 at the origin.
    """
    if not condition >= 1:
        raise ValueError(f"quadratic: condition must be >= 1, got {condition!r}")
    dim = _check_dim("quadratic", dim, 1)
    if dim == 1 and angle != 0:
        raise ValueError("quadratic: a rotation needs dim >= 2 (angle must be 0 for dim=1)")
    lam = np.geomspace(1.0, float(condition), dim)
    rot = _rotation(float(angle), dim)
    a = rot @ np.diag(lam) @ rot.T
    a = (a + a.T) / 2  # exactly symmetric, so the gradient is exactly A x

    def fn(x):
        return 0.5 * ops.sum((x @ a) * x, axis=-1)

    return Landscape(
        "quadratic", fn, dim, [(-3.0, 3.0)] * dim, [Minimum((0.0,) * dim, 0.0, True)],
        title=f"Quadratic (κ = {condition:g})", formula="½ xᵀAx, A = R diag(1..κ) Rᵀ",
        start=((-2.5, 2.0) + (1.0,) * (dim - 2))[:dim], lr=1.0 / float(condition), adaptive_lr=0.05,
        options={"condition": float(condition), "angle": float(angle), "dim": dim},
    )


def sphere(dim: int = 2) -> Landscape:
    """f(x) = Σ xᵢ²; minimum 0 at the origin (the easiest landscape: one round bowl)."""
    dim = _check_dim("sphere", dim, 1)

    def fn(x):
        return ops.sum(x * x, axis=-1)

    return Landscape(
        "sphere", fn, dim, [(-5.12, 5.12)] * dim, [Minimum((0.0,) * dim, 0.0, True)],
        formula="Σ xᵢ²", start=((-3.0, 4.0) + (2.0,) * (dim - 2))[:dim], lr=0.1, adaptive_lr=0.1,
        options={"dim": dim},
    )


def rosenbrock(dim: int = 2) -> Landscape:
    """f(x) = Σᵢ 100 (xᵢ₊₁ - xᵢ²)² + (1 - xᵢ)²: a curved, flat-bottomed valley.

    Global minimum 0 at (1, ..., 1). (For 4 ≤ d ≤ 7 there is also a local minimum near
    (-1, 1, ..., 1); it is not listed, so basin maps label starts that end there -1.)
    """
    dim = _check_dim("rosenbrock", dim, 2)

    def fn(x):
        head, tail = x[..., :-1], x[..., 1:]
        return ops.sum(100.0 * ops.square(tail - head * head) + ops.square(1.0 - head), axis=-1)

    domain = [(-2.0, 2.0)] + [(-1.0, 3.0)] * (dim - 1)
    return Landscape(
        "rosenbrock", fn, dim, domain, [Minimum((1.0,) * dim, 0.0, True)],
        formula="Σ 100 (xᵢ₊₁ - xᵢ²)² + (1 - xᵢ)²", start=(-1.5, 2.0) + (1.0,) * (dim - 2),
        lr=1e-3, adaptive_lr=0.02, options={"dim": dim},
    )


def himmelblau() -> Landscape:
    """f(x, y) = (x² + y - 11)² + (x + y² - 7)²: four minima, all global, value 0.

    (3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)
    (Himmelblau 1972); a local maximum 181.617 at (-0.270845, -0.923039).
    """

    def fn(x):
        a, b = _coords(x)
        return ops.square(a * a + b - 11.0) + ops.square(a + b * b - 7.0)

    minima = [
        Minimum((3.0, 2.0), 0.0, True),
        Minimum((-2.8051180869527449, 3.1313125182505730), 0.0, True),
        Minimum((-3.7793102533777469, -3.2831859912861694), 0.0, True),
        Minimum((3.5844283403304917, -1.8481265269644036), 0.0, True),
    ]
    return Landscape(
        "himmelblau", fn, 2, [(-5.0, 5.0), (-5.0, 5.0)], minima,
        formula="(x² + y - 11)² + (x + y² - 7)²", start=(0.0, 0.0), lr=0.01, adaptive_lr=0.1,
    )


def rastrigin(dim: int = 2) -> Landscape:
    """f(x) = 10 d + Σ (xᵢ² - 10 cos 2πxᵢ): a bowl covered in a lattice of local minima.

    Global minimum 0 at the origin; a local minimum near every integer point (not listed).
    """
    dim = _check_dim("rastrigin", dim, 1)

    def fn(x):
        return 10.0 * dim + ops.sum(x * x - 10.0 * ops.cos(2 * math.pi * x), axis=-1)

    return Landscape(
        "rastrigin", fn, dim, [(-5.12, 5.12)] * dim, [Minimum((0.0,) * dim, 0.0, True)],
        formula="10d + Σ (xᵢ² - 10 cos 2πxᵢ)", start=((2.3, -1.7) + (1.2,) * (dim - 2))[:dim],
        lr=2e-3, adaptive_lr=0.05, options={"dim": dim},
    )


def ackley(dim: int = 2) -> Landscape:
    """f(x) = -20 exp(-0.2 √(Σxᵢ²/d)) - exp(Σ cos(2πxᵢ)/d) + 20 + e.

    Nearly flat far out, a deep narrow funnel at the origin, covered in ripples. Global
    minimum 0 at the origin (a cone tip: not differentiable there; descend's gradient is 0).
    """
    dim = _check_dim("ackley", dim, 1)

    def fn(x):
        r = _rms(x)
        c = ops.mean(ops.cos(2 * math.pi * x), axis=-1)
        return -20.0 * ops.exp(-0.2 * r) - ops.exp(c) + (20.0 + math.e)

    return Landscape(
        "ackley", fn, dim, [(-5.0, 5.0)] * dim, [Minimum((0.0,) * dim, 0.0, True)],
        formula="-20 exp(-0.2 √(Σxᵢ²/d)) - exp(Σ cos 2πxᵢ / d) + 20 + e",
        start=((2.5, -1.5) + (1.0,) * (dim - 2))[:dim], lr=0.01, adaptive_lr=0.05, options={"dim": dim},
    )


def beale() -> Landscape:
    """f(x, y) = (1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)².

    Global minimum 0 at (3, 0.5); sharp ridges at the corners of its domain [-4.5, 4.5]².
    """

    def fn(x):
        a, b = _coords(x)
        b2 = b * b
        return (ops.square(1.5 - a + a * b) + ops.square(2.25 - a + a * b2)
                + ops.square(2.625 - a + a * b2 * b))

    return Landscape(
        "beale", fn, 2, [(-4.5, 4.5), (-4.5, 4.5)], [Minimum((3.0, 0.5), 0.0, True)],
        formula="(1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)²",
        start=(1.0, 1.5), lr=0.01, adaptive_lr=0.05,
    )


def booth() -> Landscape:
    """f(x, y) = (x + 2y - 7)² + (2x + y - 5)²: a tilted bowl; minimum 0 at (1, 3)."""

    def fn(x):
        a, b = _coords(x)
        return ops.square(a + 2.0 * b - 7.0) + ops.square(2.0 * a + b - 5.0)

    return Landscape(
        "booth", fn, 2, [(-10.0, 10.0), (-10.0, 10.0)], [Minimum((1.0, 3.0), 0.0, True)],
        formula="(x + 2y - 7)² + (2x + y - 5)²", start=(-8.0, -6.0), lr=0.02, adaptive_lr=0.3,
    )


def goldstein_price() -> Landscape:
    """Goldstein-Price: global minimum 3 at (0, -1); local minima 30 at (-0.6, -0.4), 84 at
    (1.8, 0.2) and 840 at (1.2, 0.8) (Dixon & Szegö 1978). Values span six decades.

        f = [1 + (x+y+1)² (19 - 14x + 3x² - 14y + 6xy + 3y²)]
            · [30 + (2x-3y)² (18 - 32x + 12x² + 48y - 36xy + 27y²)]
    """

    def fn(x):
        a, b = _coords(x)
        p = 1.0 + ops.square(a + b + 1.0) * (
            19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b)
        q = 30.0 + ops.square(2.0 * a - 3.0 * b) * (
            18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b)
        return p * q

    minima = [
        Minimum((0.0, -1.0), 3.0, True),
        Minimum((-0.6, -0.4), 30.0, False),
        Minimum((1.8, 0.2), 84.0, False),
        Minimum((1.2, 0.8), 840.0, False),
    ]
    return Landscape(
        "goldstein_price", fn, 2, [(-2.0, 2.0), (-2.0, 2.0)], minima, title="Goldstein-Price",
        formula="[1 + (x+y+1)²(19-14x+3x²-14y+6xy+3y²)]·[30 + (2x-3y)²(18-32x+12x²+48y-36xy+27y²)]",
        start=(-1.0, 1.0), lr=1e-4, adaptive_lr=0.01,
    )


def six_hump_camel() -> Landscape:
    """f(x, y) = (4 - 2.1x² + x⁴/3) x² + xy + (-4 + 4y²) y².

    Six minima: two global, -1.031628 at ±(0.089842, -0.712656); two local, -0.215464 at
    ±(-1.703607, 0.796084); two local, 2.104250 at ±(1.607105, 0.568651).
    """

    def fn(x):
        a, b = _coords(x)
        a2, b2 = a * a, b * b
        return (4.0 - 2.1 * a2 + a2 * a2 / 3.0) * a2 + a * b + (-4.0 + 4.0 * b2) * b2

    g = (0.089842013100318062, -0.71265640302073963)
    l1 = (-1.7036067149699809, 0.79608356867262512)
    l2 = (1.6071047529201974, 0.56865145488413135)
    neg = lambda p: (-p[0], -p[1])  # noqa: E731 - f(-x, -y) = f(x, y): minima come in ± pairs
    minima = [
        Minimum(g, -1.0316284534898774, True), Minimum(neg(g), -1.0316284534898774, True),
        Minimum(l1, -0.21546382438371839, False), Minimum(neg(l1), -0.21546382438371839, False),
        Minimum(l2, 2.1042503103112577, False), Minimum(neg(l2), 2.1042503103112577, False),
    ]
    return Landscape(
        "six_hump_camel", fn, 2, [(-2.0, 2.0), (-1.0, 1.0)], minima, title="Six-hump camel",
        formula="(4 - 2.1x² + x⁴/3)x² + xy + (-4 + 4y²)y²", start=(-1.5, -0.8), lr=0.02,
        adaptive_lr=0.02,
    )


# Stationary points of ½(t⁴ - 16t² + 5t), i.e. roots of 2t³ - 16t + 2.5 = 0.
_ST_GLOBAL = -2.9035340277711771
_ST_LOCAL = 2.7468027709908370
_ST_ONE = {_ST_GLOBAL: -39.166165703771415, _ST_LOCAL: -25.029446655283943}


def styblinski_tang(dim: int = 2) -> Landscape:
    """f(x) = ½ Σ (xᵢ⁴ - 16xᵢ² + 5xᵢ): separable, 2^d minima.

    Each coordinate sits at -2.903534 or 2.746803; the global minimum, every coordinate at
    -2.903534, has value -39.16617·d (Styblinski & Tang 1990). All 2^d minima are listed for
    d ≤ 10, the global one alone beyond that.
    """
    dim = _check_dim("styblinski_tang", dim, 1)

    def fn(x):
        x2 = x * x
        return 0.5 * ops.sum(x2 * x2 - 16.0 * x2 + 5.0 * x, axis=-1)

    if dim <= 10:
        combos = sorted(itertools.product([_ST_GLOBAL, _ST_LOCAL], repeat=dim),
                        key=lambda c: sum(_ST_ONE[t] for t in c))
    else:
        combos = [(_ST_GLOBAL,) * dim]
    minima = [
        Minimum(c, float(sum(_ST_ONE[t] for t in c)), all(t == _ST_GLOBAL for t in c))
        for c in combos
    ]
    return Landscape(
        "styblinski_tang", fn, dim, [(-5.0, 5.0)] * dim, minima, title="Styblinski-Tang",
        formula="½ Σ (xᵢ⁴ - 16xᵢ² + 5xᵢ)", start=((0.5, 0.2) + (0.0,) * (dim - 2))[:dim], lr=0.01,
        adaptive_lr=0.1, options={"dim": dim},
    )


def matyas() -> Landscape:
    """f(x, y) = 0.26 (x² + y²) - 0.48 xy: a flat, tilted bowl (κ = 25); minimum 0 at (0, 0)."""

    def fn(x):
        a, b = _coords(x)
        return 0.26 * (a * a + b * b) - 0.48 * a * b

    return Landscape(
        "matyas", fn, 2, [(-10.0, 10.0), (-10.0, 10.0)], [Minimum((0.0, 0.0), 0.0, True)],
        formula="0.26 (x² + y²) - 0.48 xy", start=(-8.0, 6.0), lr=1.5, adaptive_lr=0.3,
    )


def _check_dim(name: str, dim, least: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < least:
        raise ValueError(f"{name}: dim must be an integer >= {least}, got {dim!r}")
    return int(dim)


_FACTORIES = {
    f.__name__: f
    for f in (quadratic, sphere, rosenbrock, himmelblau, rastrigin, ackley, beale, booth,
              goldstein_price, six_hump_camel, styblinski_tang, matyas)
}


def names() -> list[str]:
    """Names of all landscapes, sorted."""
    return sorted(_FACTORIES)


def get(name: str, **options) -> Landscape:
    """The landscape called ``name`` (``-`` and ``_`` interchangeable, any case).

    ``options`` go to its factory: ``dim`` for the n-dimensional ones, ``condition`` and
    ``angle`` for ``quadratic``.
    """
    if isinstance(name, Landscape):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in _FACTORIES:
        raise ValueError(f"unknown landscape {name!r}; choose one of: {', '.join(names())}")
    try:
        return _FACTORIES[key](**options)
    except TypeError as exc:
        raise TypeError(f"landscape {key!r}: {exc}") from None


def as_landscape(fn):
    """A Landscape unchanged, a factory called with its defaults, anything else unchanged."""
    if isinstance(fn, Landscape):
        return fn
    if callable(fn) and getattr(fn, "__name__", None) in _FACTORIES and _FACTORIES[fn.__name__] is fn:
        return fn()
    return fn
