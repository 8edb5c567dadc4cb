"""Build a descend optimizer from a name, a class or an instance (shared by minimize/basins)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

# Optimizers whose update of one coordinate depends on the others (a line search or a
# curvature estimate over the whole parameter vector): they cannot run a grid of
# independent starts as one batched tensor.
COUPLED = {"lbfgs"}


def optimizer_name(optimizer) -> str:
    if isinstance(optimizer, str):
        return optimizer.strip().lower()
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    return cls.__name__.lower()


def make_optimizer(optimizer, x0: np.ndarray, lr, hyperparameters: dict, landscape=None):
    """Return ``(optimizer_instance, parameter_tensor, name, hyperparameters_used)``.

    * a registry name (``"adam"``): ``descend.optim.get(name, [x], lr=..., **hp)``; with
      ``lr=None`` the landscape's suggested learning rate for that optimizer, or the
      optimizer's own default when there is no landscape;
    * an optimizer class: ``cls([x], lr=..., **hp)``;
    * an optimizer instance holding exactly one parameter tensor: that tensor is set to
      ``x0`` and used (its state, e.g. momentum, is kept); no lr/hyperparameters allowed.
    """
    hp = dict(hyperparameters)
    if isinstance(optimizer, str):
        name = optimizer_name(optimizer)
        try:
            from .. import optim
        except ImportError as exc:  # pragma: no cover - the optim package ships with descend
            raise ImportError(f"optimizer={optimizer!r} needs descend.optim: {exc}") from exc
        known = optim.names()
        if name not in known:
            raise ValueError(f"optimizer: unknown name {optimizer!r}; choose one of: {', '.join(known)}")
        if lr is None and landscape is not None:
            lr = landscape.suggested_lr(name)
        if lr is not None:
            hp["lr"] = _check_lr(lr)
        x = Tensor(np.array(x0, dtype=np.float64), requires_grad=True)
        return optim.get(name, [x], **hp), x, name, hp
    if hasattr(optimizer, "param_groups") and hasattr(optimizer, "step"):
        if lr is not None or hp:
            raise ValueError(
                "optimizer: lr and hyperparameters cannot be given with an optimizer instance "
                "(it already has them); pass a name or a class instead"
            )
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if len(params) != 1:
            raise ValueError(
                f"optimizer: an optimizer instance must hold exactly one parameter tensor "
                f"(the point), it holds {len(params)}"
            )
        x = params[0]
        if x.shape != np.shape(x0):
            raise ValueError(f"optimizer: its parameter has shape {x.shape}, but x0 has shape {np.shape(x0)}")
        x.data[...] = x0
        x.grad = None
        hp = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        return optimizer, x, optimizer_name(optimizer), hp
    if callable(optimizer):
        if lr is not None:
            hp["lr"] = _check_lr(lr)
        x = Tensor(np.array(x0, dtype=np.float64), requires_grad=True)
        return optimizer([x], **hp), x, optimizer_name(optimizer), hp
    raise TypeError(
        f"optimizer must be a name, an optimizer class or an optimizer instance, got {type(optimizer).__name__}"
    )


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)) or not lr > 0 \
            or not np.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    return float(lr)
