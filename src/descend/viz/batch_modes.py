"""Batch, stochastic and mini-batch gradient descent compared (``train.batch_modes``)."""

from __future__ import annotations

import numpy as np

from ._common import finish, new_figure
from .palette import color

__all__ = ["plot_batch_modes"]


def plot_batch_modes(result, title=None, path=None, log_loss: bool | None = None):
    """The full training loss of each mode against updates and against examples seen.

    Parameters
    ----------
    result : descend.train.BatchModes
        What :func:`descend.train.batch_modes` returned.
    log_loss : bool, optional
        Log scale for the loss (default: when it falls by more than 10×, so that the noise
        of stochastic descent around its floor stays visible).

    Left: against optimizer updates (log scale, as batch descent makes a few hundred times
    fewer than stochastic descent); right: against training examples seen, the budget all
    modes share. Each curve is the loss on the whole training set, measured at the same
    points of the budget, so batch descent's curve is smooth and stochastic descent's shows
    its noise. (The losses the updates themselves saw are ``plot_history``'s step curves.)
    """
    runs = getattr(result, "runs", None)
    if not isinstance(runs, dict) or not runs:
        raise TypeError(f"plot_batch_modes: result must be what descend.train.batch_modes returns, "
                        f"got {type(result).__name__}")
    losses = np.concatenate([r.full_loss for r in runs.values()])
    finite = losses[np.isfinite(losses) & (losses > 0)]
    if log_loss is None:
        log_loss = finite.size > 0 and finite.max() / finite.min() > 10
    fig = new_figure((11.0, 4.2))
    by_updates, by_examples = fig.subplots(1, 2)
    for i, (name, run) in enumerate(runs.items()):
        c = color(i)
        label = f"{name} (batch {run.batch_size}, {int(run.updates[-1])} updates)"
        # a probe at 0 updates cannot sit on a log axis: plot updates + 1
        by_updates.plot(run.updates + 1, run.full_loss, color=c, lw=1.6, marker="o" if len(run.updates) < 30
                        else None, ms=3, label=label)
        by_examples.plot(run.examples, run.full_loss, color=c, lw=1.6, label=name)
    by_updates.set_xscale("log")
    by_updates.set_xlabel("optimizer updates + 1 (log scale)")
    by_examples.set_xlabel("training examples seen")
    for ax in (by_updates, by_examples):
        ax.set_ylabel("loss on the whole training set")
        if log_loss:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    by_updates.legend(fontsize=8)
    by_updates.set_title("Against updates: batch descent updates rarely")
    by_examples.set_title("Against examples seen: the same budget")
    if title:
        fig.suptitle(title)
    return finish(fig, path)

