"""L-BFGS: a quasi-Newton method that re-evaluates the objective through a closure."""

from __future__ import annotations

import functools

import numpy as np

from ..autograd import enable_grad
from . import functional as F
from .optimizer import Optimizer

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    r"""Limited-memory BFGS, as :class:`torch.optim.LBFGS`.

    Each ``step(closure)`` runs up to ``max_iter`` iterations of
    ``θ ← θ + t·d`` where ``d = −H·g`` and ``H`` approximates the inverse
    Hessian from the last ``history_size`` pairs of steps and gradient
    changes (:func:`descend.optim.functional.lbfgs_direction`). Curvature
    information makes it converge in far fewer iterations than first-order
    methods on smooth, deterministic problems (full-batch fits, small
    networks); it is a poor match for noisy mini-batch gradients.

    The step length ``t`` is ``lr`` (the first iteration ever is scaled to
    ``min(1, 1/‖g‖₁)·lr``), or is found by a line search satisfying the strong
    Wolfe conditions with ``line_search_fn="strong_wolfe"``
    (:func:`descend.optim.functional.strong_wolfe`).

    ``closure()`` must zero the gradients, compute the loss, call
    ``backward()`` and return the loss; it is called several times per step.
    Only one parameter group is supported. Iterations stop early when the
    largest gradient entry is at most ``tolerance_grad`` or the loss or the
    step changes by less than ``tolerance_change``.

    Parameters: ``lr=1``, ``max_iter=20``, ``max_eval=max_iter*5//4``,
    ``tolerance_grad=1e-7``, ``tolerance_change=1e-9``, ``history_size=100``,
    ``line_search_fn=None``; plus ``skip_nonfinite`` (checked on the gradient
    at the start of each step).

    State (kept under the first parameter, as in PyTorch): ``func_evals``,
    ``n_iter``, ``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``; the arrays are flat, over all parameters.
    """

    #: step() re-evaluates the objective (line search): callers such as train.fit pass a closure
    requires_closure = True

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None, *, skip_nonfinite=False):
        if max_eval is None and isinstance(max_iter, int):
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr, "max_iter": max_iter, "max_eval": max_eval, "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change, "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _validate(self, group, where):
        self._number(group, "lr", where, low=0)
        self._number(group, "tolerance_grad", where, low=0)
        self._number(group, "tolerance_change", where, low=0)
        for key in ("max_iter", "max_eval", "history_size"):
            value = group.get(key)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise self._bad(key, value, "must be a positive integer", where)
        if group.get("line_search_fn") not in (None, "strong_wolfe"):
            raise self._bad("line_search_fn", group.get("line_search_fn"), "must be None or 'strong_wolfe'", where)

    # -- flat views of all parameters ------------------------------------------------------
    def _numel(self) -> int:
        return sum(p.data.size for p in self._params)

    def _gather_flat_grad(self) -> np.ndarray:
        views = [
            np.zeros(p.data.size, dtype=p.data.dtype) if p.grad is None else np.asarray(p.grad).reshape(-1)
            for p in self._params
        ]
        return np.concatenate(views)

    def _add_grad(self, step_size: float, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += (step_size * update[offset:offset + n]).reshape(p.data.shape).astype(p.data.dtype, copy=False)
            offset += n

    def _clone_param(self) -> list[np.ndarray]:
        return [p.data.copy() for p in self._params]

    def _set_param(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self._params, values, strict=True):
            np.copyto(p.data, v)

    def _directional_evaluate(self, closure, x, t, d):
        """Loss and flat gradient at ``x + t·d``; the parameters are ``x`` again afterwards."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def _load_param_state(self, value, p, k):
        from .optimizer import _copy_value

        n = self._numel()
        for key in ("d", "prev_flat_grad"):
            v = value.get(key)
            if isinstance(v, np.ndarray) and v.size != n:
                raise ValueError(
                    f"LBFGS.load_state_dict: state {key!r} has {v.size} values but the parameters have {n}"
                )
        return {key: _copy_value(v) for key, v in value.items()}

    # -- the step -------------------------------------------------------------------------------
    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss at the start of the step."""
        if closure is None:
            raise TypeError(
                "LBFGS.step() needs a closure: a function that zeroes the gradients, computes the loss, "
                "calls backward() and returns the loss"
            )
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        if not self._check_grads():
            return orig_loss
        flat_grad = self._gather_flat_grad()

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        current_evals = 1
        state["func_evals"] += 1
        if float(np.max(np.abs(flat_grad))) <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # Direction: steepest descent at first, then the quasi-Newton step.
            if state["n_iter"] == 1:
                d = np.negative(flat_grad)
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(np.dot(y, s))
                if ys > 1e-10:  # keep only pairs with positive curvature (H stays positive definite)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(np.dot(y, y))
                d = F.lbfgs_direction(flat_grad, old_dirs, old_stps, ro, h_diag)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                np.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss

            # Step length.
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * lr
            else:
                t = float(lr)
            gtd = float(np.dot(flat_grad, d))
            if gtd > -tolerance_change:  # not a descent direction (any more)
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()
                # x_init and d bound now: the objective must not follow later iterations' values
                loss, flat_grad, t, ls_func_evals = F.strong_wolfe(
                    functools.partial(self._directional_evaluate, closure, x_init, d=d),
                    t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals,
                )
                t = float(t)
                self._add_grad(t, d)
                opt_cond = float(np.max(np.abs(flat_grad))) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # Re-evaluate except after the last iteration (a stochastic
                    # closure's next call would see a different batch anyway).
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = float(np.max(np.abs(flat_grad))) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if float(np.max(np.abs(d * t))) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = h_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss
