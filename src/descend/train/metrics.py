"""Metrics computed on a model's outputs, and name resolution for losses.

Each metric is reduced as a *sum over examples* so that the training loop can
average it exactly over batches of unequal size.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["accuracy", "mean_absolute_error", "METRICS", "resolve_loss", "LOSS_NAMES", "evaluate",
           "evaluate_arrays", "penalized"]


def _arr(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _correct(output: np.ndarray, target: np.ndarray, threshold: float) -> int:
    """Number of examples classified correctly.

    * ``output`` ``(n, k)`` with ``k > 1``: class scores; the prediction is the
      argmax. ``target`` is class indices ``(n,)`` or one-hot / probabilities
      ``(n, k)`` (compared by argmax).
    * ``output`` ``(n,)`` or ``(n, 1)``: one score per example for a binary
      problem; the prediction is ``output > threshold`` (0 for logits, 0.5 for
      probabilities) against a 0/1 target.
    """
    if output.ndim == 2 and output.shape[1] > 1:
        pred = output.argmax(axis=1)
        if target.ndim == 2 and target.shape == output.shape:
            target = target.argmax(axis=1)
        return int(np.count_nonzero(pred == target.reshape(pred.shape)))
    pred = output.reshape(len(output), -1)[:, 0] > threshold
    return int(np.count_nonzero(pred == (target.reshape(len(target), -1)[:, 0] > 0.5)))


def accuracy(output, target, threshold: float = 0.0) -> float:
    """Fraction of examples whose predicted class equals the target (see :func:`_correct`)."""
    out, y = _arr(output), _arr(target)
    if len(out) != len(y):
        raise ValueError(f"accuracy: {len(out)} outputs but {len(y)} targets")
    return _correct(out, y, threshold) / max(len(out), 1)


def _abs_error_sum(output: np.ndarray, target: np.ndarray) -> float:
    """Sum over examples of each example's mean absolute error (over its outputs)."""
    per_example = max(output.size // max(len(output), 1), 1)
    err = np.abs(output.astype(np.float64) - target.reshape(output.shape))
    return float(err.sum() / per_example)


def mean_absolute_error(output, target) -> float:
    """Mean over examples (and outputs) of ``|output - target|``."""
    out, y = _arr(output), _arr(target)
    return _abs_error_sum(out, y) / max(len(out), 1)


# name -> function(output_array, target_array, threshold) -> sum over the batch
METRICS = {
    "accuracy": lambda out, y, thr: _correct(out, y, thr),
    "mae": lambda out, y, thr: _abs_error_sum(out, y),
}


def check_metrics(metrics) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    try:
        names = tuple(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names, got {metrics!r}") from None
    for m in names:
        if m != "loss" and m not in METRICS:
            raise ValueError(f"metrics: unknown metric {m!r}; choose from {['loss', *METRICS]}")
    return tuple(m for m in names if m != "loss")


# Loss names accepted by fit(loss="...") and the descend.nn.functional function each means.
LOSS_NAMES = {
    "cross_entropy": "cross_entropy",
    "ce": "cross_entropy",
    "nll": "nll_loss",
    "nll_loss": "nll_loss",
    "mse": "mse_loss",
    "mse_loss": "mse_loss",
    "l1": "l1_loss",
    "l1_loss": "l1_loss",
    "mae": "l1_loss",
    "huber": "huber_loss",
    "huber_loss": "huber_loss",
    "bce": "binary_cross_entropy",
    "binary_cross_entropy": "binary_cross_entropy",
    "bce_with_logits": "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
}


def resolve_loss(loss, where: str = "fit"):
    """A loss callable ``(output, target) -> scalar Tensor`` from a callable or a name."""
    if isinstance(loss, str):
        key = loss.lower()
        if key not in LOSS_NAMES:
            raise ValueError(f"{where}: unknown loss {loss!r}; choose from {sorted(LOSS_NAMES)} or pass a callable")
        from ..nn import functional as F

        fn = getattr(F, LOSS_NAMES[key], None)
        if fn is None:
            raise ValueError(f"{where}: loss {loss!r} ({LOSS_NAMES[key]}) is not available in descend.nn.functional")
        return fn
    if isinstance(loss, type):
        raise TypeError(f"{where}: loss is the class {loss.__name__}; pass an instance, e.g. {loss.__name__}()")
    if not callable(loss):
        raise TypeError(f"{where}: loss must be a callable (output, target) -> Tensor or a name, got {loss!r}")
    return loss


def penalized(loss, weights, kind: str, rate: float):
    """``loss(output, target) + rate·Σ_w Σ|w|`` (``kind="l1"``) or ``+ rate·Σ_w Σw²`` (``"l2"``).

    ``weights``: the tensors penalised (the callers pass the layers' weights, not their biases);
    the penalty is recomputed from them at every call, so it follows the training. Returns a
    loss callable ``(output, target) -> scalar Tensor``.
    """
    if kind not in ("l1", "l2"):
        raise ValueError(f"penalized: kind must be 'l1' or 'l2', got {kind!r}")
    weights = list(weights)

    def penalized_loss(output, target):
        penalty = sum((w.abs().sum() if kind == "l1" else (w * w).sum()) for w in weights)
        return loss(output, target) + rate * penalty

    return penalized_loss


def binary_threshold(loss) -> float:
    """Decision threshold for single-output accuracy: 0.5 after a probability loss, else 0 (logits)."""
    if isinstance(loss, str):
        name = loss.lower()
    elif hasattr(loss, "forward"):  # a loss module
        name = type(loss).__name__
    else:  # a function
        name = getattr(loss, "__name__", "")
    return 0.5 if name in ("bce", "binary_cross_entropy", "BCELoss") else 0.0


# ----------------------------------------------------------------------------- evaluation
def evaluate_arrays(model, X, y, loss_fn, metric_names, threshold, chunk=4096) -> dict:
    """Loss and metrics of ``model`` on arrays ``X`` (n, ...), ``y`` (n, ...), in eval mode, no gradients.

    ``{"loss": sum_c |c| * loss(c) / n, metric: sum_i metric_i / n}`` over chunks ``c``
    of ``chunk`` examples.
    """
    from ..autograd import no_grad

    was_training = getattr(model, "training", None)
    if was_training and hasattr(model, "eval"):
        model.eval()
    try:
        n = len(X)
        loss_sum = 0.0
        sums = dict.fromkeys(metric_names, 0.0)
        with no_grad():
            for lo in range(0, n, chunk):
                xb, yb = X[lo:lo + chunk], y[lo:lo + chunk]
                out = model(Tensor._wrap(xb))
                loss_sum += float(loss_fn(out, Tensor._wrap(yb)).data) * len(xb)
                for m in metric_names:
                    sums[m] += METRICS[m](out.data, yb, threshold)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    res = {"loss": loss_sum / n}
    res.update({m: s / n for m, s in sums.items()})
    return res


def evaluate(model, data, *, loss, metrics=("loss", "accuracy"), batch_size: int = 4096) -> dict:
    """Loss and metrics of ``model`` on ``data`` (a Dataset, (X, y) or DataLoader), in eval mode.

    Returns ``{"loss": ..., "accuracy": ...}``: means over all examples (the
    loss as the example-weighted mean of batch means).
    """
    from ..data.dataset import as_arrays
    from ..data.loader import DataLoader
    from .guards import cast_arrays, check_positive_int, column_targets, model_params, supervised

    params = model_params(model, "evaluate")
    names = check_metrics(metrics)
    loss_fn = resolve_loss(loss, "evaluate")
    X, y = column_targets(model, supervised(cast_arrays(as_arrays(
        data.dataset if isinstance(data, DataLoader) else data, "evaluate"), params[0].data.dtype), "data"))
    return evaluate_arrays(model, X, y, loss_fn, names, binary_threshold(loss),
                           check_positive_int(batch_size, "batch_size", where="evaluate"))
