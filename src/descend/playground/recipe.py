"""A Network-tab configuration turned into descend objects: data, model, loss, optimizer, Trainer.

:func:`build` is what a session trains; :func:`descend.playground.exports.script` writes the
same construction out as a script of descend's public API, and the tests check that the two
end at the same loss. Nothing here needs the ``ui`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn, optim
from ..optim import lr_scheduler
from ..random import manual_seed
from ..train import Trainer
from ..train.metrics import evaluate_arrays, penalized, resolve_loss
from . import datasets
from .config import ACTIVATION_NAMES, batch_size_of, optimizer_hyperparameters

__all__ = ["Run", "build", "MAX_STEPS"]

#: The session's step limit: Trainer needs a stopping rule, and a tab left playing for hours
#: must end somewhere (a million steps is beyond any picture worth watching).
MAX_STEPS = 1_000_000


@dataclass
class Run:
    """One configured training run: the arrays (features already computed), model and loop."""

    cfg: dict
    split: datasets.Split
    X_train: np.ndarray
    X_test: np.ndarray
    model: nn.MLP
    data_loss: object  # (output, target) -> Tensor, without the regulariser
    trainer: Trainer

    def losses(self) -> tuple[float, float]:
        """The data loss (no regulariser) on the training and the test set, in eval mode."""
        train = evaluate_arrays(self.model, self.X_train, self.split.y_train, self.data_loss, (), 0.0)
        test = evaluate_arrays(self.model, self.X_test, self.split.y_test, self.data_loss, (), 0.0)
        return train["loss"], test["loss"]


def loss_name(task: str) -> str:
    """Binary cross-entropy on one logit for two classes, squared error for regression."""
    return "bce_with_logits" if task == "classification" else "mse"


def regularized(data_loss, weights, kind: str, rate: float):
    """``data_loss(output, target) + rate·Σ|w|`` (l1) or ``+ rate·Σw²`` (l2) over ``weights``.

    Only the Linear layers' weights are penalised, not their biases (a bias does not make a
    boundary more complicated), as in TensorFlow Playground.
    """
    if kind == "none" or rate == 0:
        return data_loss
    return penalized(data_loss, weights, kind, rate)


def make_scheduler(cfg: dict, optimizer):
    """The learning-rate schedule, stepped after every optimizer step (None for a constant η)."""
    kind = cfg["schedule"]
    if kind == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=cfg["schedule_gamma"])
    if kind == "step":
        return lr_scheduler.StepLR(optimizer, step_size=cfg["schedule_period"],
                                   gamma=cfg["schedule_gamma"])
    if kind == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg["schedule_period"])
    return None


def build(cfg: dict, csv_path=None, max_steps: int = MAX_STEPS,
          divergence_warning: bool = True) -> Run:
    """Data, model and Trainer for a checked configuration (:func:`config.check`).

    ``divergence_warning=False``: the Trainer does not also warn when the run diverges (the
    playground's page shows the guard's message; a warning would only reach the server's
    terminal).

    Seeds this thread's generator with ``cfg["seed"]`` before building the model, so the
    initial weights are a function of the seed; the Trainer seeds it again when it starts
    (dropout's draws). Call it in the thread that will step the Trainer.
    """
    split = datasets.load(cfg["dataset"], cfg["n_samples"], cfg["noise"], cfg["test_fraction"],
                          cfg["seed"], csv_path=csv_path)
    X_train = datasets.features(split.points_train, cfg["features"])
    X_test = datasets.features(split.points_test, cfg["features"])
    manual_seed(cfg["seed"])
    model = nn.MLP([len(cfg["features"]), *cfg["hidden"], 1],
                   activation=ACTIVATION_NAMES[cfg["activation"]], dropout=cfg["dropout"])
    if cfg["init"] == "zeros":
        for p in model.parameters():
            nn.init.zeros_(p)
    data_loss = resolve_loss(loss_name(split.task))
    loss = regularized(data_loss, [layer.weight for layer in model.linears], cfg["regularization"],
                       cfg["reg_rate"])
    optimizer = optim.get(cfg["optimizer"], model.parameters(), **optimizer_hyperparameters(cfg))
    trainer = Trainer(model, (X_train, split.y_train), loss=loss, optimizer=optimizer,
                      batch_size=batch_size_of(cfg, len(X_train)), epochs=None, max_steps=max_steps,
                      scheduler=make_scheduler(cfg, optimizer), scheduler_interval="step",
                      seed=cfg["seed"], progress=False, divergence_warning=divergence_warning)
    return Run(cfg, split, X_train, X_test, model, data_loss, trainer)
