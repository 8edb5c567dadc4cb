"""A conformance kit: the properties every optimizer in descend is held to, for yours too.

``check_optimizer(factory, **hyperparameters)`` runs all checks and returns a
:class:`ConformanceReport` (raising ``AssertionError`` listing the failures,
unless ``raise_on_failure=False``). ``factory(params, **hyperparameters)``
must build an optimizer over a list of tensors; a class such as
``descend.optim.Adam`` is a factory. The checks, each also callable alone:

* :func:`check_descends` — 20 steps lower a convex objective;
* :func:`check_maximize` — with ``maximize=True`` they raise it instead
  (skipped if the optimizer has no ``maximize``);
* :func:`check_parabola` — converges to the minimiser of a quadratic;
* :func:`check_rosenbrock` — converges to (1, 1) on Rosenbrock's valley;
* :func:`check_param_groups` — two parameter groups behave exactly as two
  separate optimizers (skipped if groups are refused, as by L-BFGS);
* :func:`check_state_dict` — stopping, saving with :func:`descend.save`,
  loading into a fresh optimizer and continuing is bit-identical to an
  uninterrupted run;
* :func:`check_flat_params` — parameters that are views of one array (and
  gradients of another, as in a traced training step) give bit-identical
  values and state to separate arrays, and checkpoints cross between the two;
* :func:`check_none_and_zero_grads` — parameters with no gradient are left
  alone, zero gradients produce no NaN and no NumPy warning (and no movement
  without weight decay);
* :func:`check_invalid_hyperparameters` — a negative ``lr``, and NaN for every
  numeric hyperparameter, are rejected with a ``ValueError`` naming it.

Gradients are set directly (``p.grad = ...``) from closed-form derivatives, so
the kit tests the optimizer alone; steps are taken as ``optimizer.step(closure)``
so closure-based optimizers such as L-BFGS are covered too.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..serialization import load, save
from ..tensor import Tensor

__all__ = [
    "check_optimizer", "ConformanceReport", "CheckResult", "SkipCheck",
    "check_descends", "check_maximize", "check_parabola", "check_rosenbrock", "check_param_groups",
    "check_state_dict", "check_flat_params", "check_none_and_zero_grads", "check_invalid_hyperparameters",
]


class SkipCheck(Exception):
    """Raised by a check that does not apply to the optimizer under test."""


@dataclass
class CheckResult:
    """The outcome of one check: ``status`` is "passed", "failed" or "skipped"."""

    name: str
    status: str
    message: str = ""


class ConformanceReport(list):
    """A list of :class:`CheckResult`; ``ok`` is True when nothing failed."""

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self if r.status == "failed"]

    def __str__(self) -> str:
        width = max((len(r.name) for r in self), default=0)
        return "\n".join(f"{r.name:<{width}}  {r.status:<7}  {r.message}".rstrip() for r in self)


# -- objectives (value and gradient in closed form) ------------------------------------------


class _Quadratic:
    """``f(θ) = Σ a/2·(θ − c)²`` over parameters of shapes (3,) and (2, 2); minimum 0 at ``c``."""

    shapes = [(3,), (2, 2)]

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.scales = [rng.uniform(0.5, 2.0, size=s) for s in self.shapes]
        self.centres = [rng.normal(size=s) for s in self.shapes]
        self.starts = [c + rng.normal(size=s) + np.sign(rng.normal(size=s)) for c, s in zip(self.centres, self.shapes, strict=True)]

    def __call__(self, values):
        loss = sum(float(np.sum(a / 2 * (v - c) ** 2)) for v, a, c in zip(values, self.scales, self.centres, strict=True))
        return loss, [a * (v - c) for v, a, c in zip(values, self.scales, self.centres, strict=True)]

    def error(self, values) -> float:
        return max(float(np.max(np.abs(v - c))) for v, c in zip(values, self.centres, strict=True))


class _Rosenbrock:
    """``f(x, y) = (1 − x)² + 100·(y − x²)²`` over one parameter of shape (2,); minimum 0 at (1, 1)."""

    def __init__(self, start=(0.0, 0.0)):
        self.starts = [np.array(start, dtype=np.float64)]

    def __call__(self, values):
        x, y = values[0]
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported, not warned about
            r = y - x * x
            loss = (1 - x) ** 2 + 100 * r * r
            return float(loss), [np.array([-2 * (1 - x) - 400 * x * r, 200 * r])]

    def error(self, values) -> float:
        return float(np.max(np.abs(values[0] - 1.0)))


def _params(starts) -> list[Tensor]:
    return [Tensor(np.array(s, dtype=np.float64), requires_grad=True) for s in starts]


def _closure(params, objective):
    def closure():
        loss, grads = objective([p.data for p in params])
        for p, g in zip(params, grads, strict=True):
            p.grad = np.array(g, dtype=p.data.dtype)
        return loss

    return closure


def _run(optimizer, params, objective, steps: int) -> None:
    closure = _closure(params, objective)
    for _ in range(steps):
        optimizer.step(closure)


def _name(factory) -> str:
    return getattr(factory, "__name__", type(factory).__name__)


# -- the checks -------------------------------------------------------------------------------------


def check_descends(factory: Callable, steps: int = 20, **hyperparameters) -> str:
    """After ``steps`` steps on a convex quadratic the loss is lower than at the start."""
    obj = _Quadratic()
    params = _params(obj.starts)
    opt = factory(params, **hyperparameters)
    before = obj([p.data for p in params])[0]
    _run(opt, params, obj, steps)
    after = obj([p.data for p in params])[0]
    if not after < before:
        raise AssertionError(f"loss went from {before:.6g} to {after:.6g} in {steps} steps; it should decrease")
    return f"loss {before:.4g} -> {after:.4g}"


def check_maximize(factory: Callable, steps: int = 20, **hyperparameters) -> str:
    """With ``maximize=True`` the same steps *increase* the objective."""
    obj = _Quadratic()
    params = _params(obj.starts)
    try:
        opt = factory(params, **{**hyperparameters, "maximize": True})
    except TypeError as exc:
        if "maximize" in str(exc):
            raise SkipCheck("the optimizer has no maximize option") from None
        raise
    before = obj([p.data for p in params])[0]
    _run(opt, params, obj, steps)
    after = obj([p.data for p in params])[0]
    if not after > before:
        raise AssertionError(f"with maximize=True the loss went from {before:.6g} to {after:.6g}; it should increase")
    return f"loss {before:.4g} -> {after:.4g}"


def check_parabola(factory: Callable, steps: int = 1000, tol: float = 1e-3, **hyperparameters) -> str:
    """Within ``steps`` steps every coordinate is within ``tol`` of a quadratic's minimiser."""
    obj = _Quadratic(seed=1)
    params = _params(obj.starts)
    opt = factory(params, **hyperparameters)
    _run(opt, params, obj, steps)
    err = obj.error([p.data for p in params])
    if not err <= tol:
        raise AssertionError(f"after {steps} steps the largest distance to the minimiser is {err:.3g} > tol={tol:g}")
    return f"distance {err:.2g} <= {tol:g} after {steps} steps"


def check_rosenbrock(factory: Callable, steps: int = 5000, tol: float = 1e-2, start=(0.0, 0.0),
                     **hyperparameters) -> str:
    """From ``start``, within ``steps`` steps both coordinates are within ``tol`` of (1, 1)."""
    obj = _Rosenbrock(start)
    params = _params(obj.starts)
    opt = factory(params, **hyperparameters)
    closure = _closure(params, obj)
    for _ in range(steps):
        try:
            opt.step(closure)
        except FloatingPointError as exc:  # NonFiniteGradientError
            raise AssertionError(f"diverged: {exc}") from None
        if not np.all(np.isfinite(params[0].data)):
            raise AssertionError(f"diverged to {params[0].data.tolist()}")
        if obj.error([params[0].data]) <= tol:
            break
    err = obj.error([params[0].data])
    if not err <= tol:
        raise AssertionError(
            f"after {steps} steps from {tuple(start)} the point is {params[0].data.tolist()}, "
            f"{err:.3g} from (1, 1) > tol={tol:g}"
        )
    return f"within {tol:g} of (1, 1)"


def check_param_groups(factory: Callable, steps: int = 15, **hyperparameters) -> str:
    """Two groups with different ``lr`` give bit-identical results to two separate optimizers."""
    obj = _Quadratic(seed=2)
    probe = factory(_params(obj.starts[:1]), **hyperparameters)
    lr = probe.param_groups[0].get("lr")
    if not isinstance(lr, (int, float)) or lr == 0:
        raise SkipCheck("the optimizer has no numeric lr to vary between groups")
    lrs = [lr, lr / 2]
    grouped = _params(obj.starts)
    try:
        opt = factory([{"params": [p], "lr": r} for p, r in zip(grouped, lrs, strict=True)], **hyperparameters)
    except ValueError as exc:
        raise SkipCheck(f"parameter groups refused: {exc}") from None
    _run(opt, grouped, obj, steps)
    separate = _params(obj.starts)
    opts = [factory([p], **{**hyperparameters, "lr": r}) for p, r in zip(separate, lrs, strict=True)]
    closure = _closure(separate, obj)
    for _ in range(steps):
        closure()
        for o in opts:
            o.step()
    _assert_same(grouped, separate, "the grouped result differs from a separate optimizer")
    return f"{len(lrs)} groups == {len(lrs)} optimizers (lr {lrs[0]:g}, {lrs[1]:g})"


def _assert_same(params, others, what: str) -> None:
    """Raise AssertionError naming the first parameter whose values differ between the two lists."""
    for i, (a, b) in enumerate(zip(params, others, strict=True)):
        if not np.array_equal(a.data, b.data):
            raise AssertionError(f"parameter {i}: {what}, by {float(np.max(np.abs(a.data - b.data))):.3g}")


def _checkpoint(optimizer, params) -> dict:
    """Save the optimizer and the parameters with :func:`descend.save` and load them back."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "optimizer.npz")
        save({"optimizer": optimizer.state_dict(), "params": [p.data for p in params]}, path)
        return load(path)


def check_state_dict(factory: Callable, steps: int = 10, **hyperparameters) -> str:
    """Saving at step ``steps`` and resuming in a fresh optimizer matches an uninterrupted run bit for bit."""
    obj = _Quadratic(seed=3)
    straight = _params(obj.starts)
    opt = factory(straight, **hyperparameters)
    _run(opt, straight, obj, 2 * steps)

    first = _params(obj.starts)
    opt = factory(first, **hyperparameters)
    _run(opt, first, obj, steps)
    ckpt = _checkpoint(opt, first)
    resumed = _params(ckpt["params"])
    opt2 = factory(resumed, **hyperparameters)
    opt2.load_state_dict(ckpt["optimizer"])
    _run(opt2, resumed, obj, steps)
    _assert_same(straight, resumed, "after resuming it differs from the uninterrupted run (must be bit-identical)")
    return f"stop at {steps}, save, load, continue to {2 * steps}: bit-identical"


def _flat(params) -> Callable:
    """Make ``params`` consecutive views of one array (as :func:`descend.compile`'s traced step
    keeps them); returns a closure factory whose gradients are consecutive views of another."""
    sizes = np.cumsum([0] + [p.data.size for p in params]).tolist()
    bounds = list(zip(sizes[:-1], sizes[1:], strict=True))
    values = np.concatenate([p.data.reshape(-1) for p in params])
    grads = np.zeros_like(values)
    grad_views = []
    for p, (a, b) in zip(params, bounds, strict=True):
        shape = p.data.shape
        p.data = values[a:b].reshape(shape)
        grad_views.append(grads[a:b].reshape(shape))

    def closure_for(objective):
        def closure():
            loss, gs = objective([p.data for p in params])
            for p, view, g in zip(params, grad_views, gs, strict=True):
                view[...] = g
                p.grad = view
            return loss

        return closure

    return closure_for


def check_flat_params(factory: Callable, steps: int = 10, **hyperparameters) -> str:
    """Parameters that are consecutive views of one array, with gradients that are views of
    another (the layout of a traced training step), end bit-identical to separate arrays, in
    values and state; a checkpoint taken in either layout resumes in the other, bit for bit."""
    obj = _Quadratic(seed=5)

    def start(flat, starts=obj.starts):
        params = _params(starts)
        closure = _flat(params)(obj) if flat else _closure(params, obj)
        return params, closure

    def run(opt, closure, n):
        for _ in range(n):
            opt.step(closure)

    separate, closure = start(False)
    opt = factory(separate, **hyperparameters)
    run(opt, closure, 2 * steps)
    flat, closure = start(True)
    flat_opt = factory(flat, **hyperparameters)
    run(flat_opt, closure, 2 * steps)
    _assert_same(flat, separate, "views of one array end elsewhere than separate arrays")
    mine, theirs = flat_opt.state_dict()["state"], opt.state_dict()["state"]
    for i, state in theirs.items():
        for key, value in state.items():
            if not np.array_equal(np.asarray(mine.get(i, {}).get(key)), np.asarray(value)):
                raise AssertionError(f"state {key!r} of parameter {i} differs between views of one array and separate arrays")
    for first_flat in (True, False):
        params, closure = start(first_flat)
        opt = factory(params, **hyperparameters)
        run(opt, closure, steps)
        ckpt = _checkpoint(opt, params)
        resumed, closure = start(not first_flat, ckpt["params"])
        opt = factory(resumed, **hyperparameters)
        opt.load_state_dict(ckpt["optimizer"])
        run(opt, closure, steps)
        layouts = ("views of one array", "separate arrays")[:: 1 if first_flat else -1]
        _assert_same(resumed, separate, f"a checkpoint of {layouts[0]} resumed as {layouts[1]} differs")
    return f"{2 * steps} steps on views of one array == on separate arrays, checkpoints cross"


def check_none_and_zero_grads(factory: Callable, steps: int = 3, **hyperparameters) -> str:
    """A parameter whose grad is None is untouched; all-zero gradients give no NaN and no warning."""
    obj = _Quadratic(seed=4)
    params = _params(obj.starts)
    frozen_before = params[1].data.copy()
    opt = factory(params, **hyperparameters)

    def partial_closure():
        loss, grads = obj([p.data for p in params])
        params[0].grad = grads[0]
        params[1].grad = None
        return loss

    # np.errstate is per thread: a floating-point fault fails the check without changing the
    # process-wide warnings filter (which another thread may be relying on).
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for _ in range(steps):
            opt.step(partial_closure)
    if not np.array_equal(params[1].data, frozen_before):
        raise AssertionError("a parameter whose .grad is None was changed")
    if np.array_equal(params[0].data, obj.starts[0]):
        raise AssertionError("the parameter that had a gradient did not move")

    params = _params(obj.starts)
    opt = factory(params, **hyperparameters)

    def zero_closure():
        for p in params:
            p.grad = np.zeros_like(p.data)
        return 0.0

    # np.errstate is per thread: a floating-point fault fails the check without changing the
    # process-wide warnings filter (which another thread may be relying on).
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for _ in range(steps):
            opt.step(zero_closure)
    for i, p in enumerate(params):
        if not np.all(np.isfinite(p.data)):
            raise AssertionError(f"zero gradients made parameter {i} non-finite: {p.data.tolist()}")
    decays = any(g.get("weight_decay", 0) for g in opt.param_groups)
    if not decays and not all(np.array_equal(p.data, s) for p, s in zip(params, obj.starts, strict=True)):
        raise AssertionError("zero gradients (and no weight decay) moved the parameters")
    return "None skipped; zeros finite" + ("" if decays else " and still")


def check_invalid_hyperparameters(factory: Callable, **hyperparameters) -> str:
    """``lr=-1`` and NaN in any numeric hyperparameter raise ValueError naming the hyperparameter."""
    obj = _Quadratic()
    probe = factory(_params(obj.starts), **hyperparameters)
    defaults = dict(getattr(probe, "defaults", {}))
    trials = []
    if "lr" in defaults:
        trials.append(("lr", -1.0))
    for key, value in defaults.items():
        if isinstance(value, bool) or key == "params":
            continue
        if isinstance(value, (int, float)):
            trials.append((key, math.nan))
        elif isinstance(value, tuple) and value and all(isinstance(v, (int, float)) for v in value):
            trials.append((key, (math.nan, *value[1:])))
    if not trials:
        raise SkipCheck("no numeric hyperparameters found in optimizer.defaults")
    for key, bad in trials:
        try:
            factory(_params(obj.starts), **{**hyperparameters, key: bad})
        except ValueError as exc:
            if key not in str(exc):
                raise AssertionError(f"{key}={bad!r} was rejected, but the message does not name {key!r}: {exc}") from None
            continue
        raise AssertionError(f"{key}={bad!r} was accepted; it should raise ValueError naming {key!r}")
    return f"{len(trials)} invalid values rejected by name"


def check_optimizer(
    factory: Callable,
    *,
    parabola_steps: int = 1000,
    parabola_tol: float = 1e-3,
    rosenbrock_steps: int = 5000,
    rosenbrock_tol: float = 1e-2,
    rosenbrock_start=(0.0, 0.0),
    rosenbrock_hyperparameters: dict | None = None,
    checks: list[str] | None = None,
    raise_on_failure: bool = True,
    **hyperparameters,
) -> ConformanceReport:
    """Run the conformance checks on ``factory(params, **hyperparameters)``.

    ``rosenbrock_hyperparameters`` override ``hyperparameters`` for the
    Rosenbrock check (its curvature usually calls for a different ``lr``).
    ``checks`` selects checks by name (e.g. ``["state_dict"]``). Returns the
    report; raises AssertionError listing every failure if
    ``raise_on_failure`` (the default).
    """
    hp = dict(hyperparameters)
    plan = {
        "descends": lambda: check_descends(factory, **hp),
        "maximize": lambda: check_maximize(factory, **hp),
        "parabola": lambda: check_parabola(factory, parabola_steps, parabola_tol, **hp),
        "rosenbrock": lambda: check_rosenbrock(
            factory, rosenbrock_steps, rosenbrock_tol, rosenbrock_start,
            **{**hp, **(rosenbrock_hyperparameters or {})},
        ),
        "param_groups": lambda: check_param_groups(factory, **hp),
        "state_dict": lambda: check_state_dict(factory, **hp),
        "flat_params": lambda: check_flat_params(factory, **hp),
        "none_and_zero_grads": lambda: check_none_and_zero_grads(factory, **hp),
        "invalid_hyperparameters": lambda: check_invalid_hyperparameters(factory, **hp),
    }
    if checks is not None:
        unknown = [c for c in checks if c not in plan]
        if unknown:
            raise ValueError(f"check_optimizer: unknown checks {unknown}; known: {list(plan)}")
        plan = {k: v for k, v in plan.items() if k in checks}
    report = ConformanceReport()
    for name, run in plan.items():
        try:
            message = run()
            report.append(CheckResult(name, "passed", message or ""))
        except SkipCheck as exc:
            report.append(CheckResult(name, "skipped", str(exc)))
        except AssertionError as exc:
            report.append(CheckResult(name, "failed", str(exc)))
        except Exception as exc:  # a crash is a failure of the optimizer under test, reported as such
            report.append(CheckResult(name, "failed", f"raised {type(exc).__name__}: {exc}"))
    if raise_on_failure and not report.ok:
        raise AssertionError(f"{_name(factory)} fails the optimizer conformance checks:\n{report}")
    return report
