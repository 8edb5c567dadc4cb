"""Training: the gradient-descent loop, its record, callbacks, checkpoints, the LR range test.

::

    from descend import nn, optim, train, data

    X, y = data.load_digits()
    model = nn.MLP([64, 128, 10])
    history = train.fit(model, (X / 16, y), loss="cross_entropy",
                        optimizer=optim.Adam(model.parameters(), lr=1e-3),
                        batch_size=32, epochs=20, metrics=("loss", "accuracy"))
    history.stop_reason, history.epochs[-1]["train_accuracy"]

``fit`` is ``Trainer(...).run()``; a :class:`Trainer` can also be driven one step at a
time (``trainer.step()``) and stopped from another thread (``trainer.request_stop()``).
"""

from .batch_modes import BatchModes, ModeRun, batch_modes
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    TrainState,
)
from .fit import LR_FIND_HINT, DivergenceWarning, evaluate, fit
from .history import STOP_REASONS, History
from .lr_find import LRFinderResult, lr_find
from .metrics import accuracy, mean_absolute_error
from .steps import ClosureStep, EagerStep, TracedStep
from .trainer import Trainer

__all__ = [
    "fit", "Trainer", "EagerStep", "TracedStep", "ClosureStep", "evaluate", "History", "STOP_REASONS", "lr_find", "LRFinderResult", "DivergenceWarning",
    "LR_FIND_HINT", "Callback", "TrainState", "EarlyStopping", "ModelCheckpoint",
    "LearningRateMonitor", "CSVLogger", "accuracy", "mean_absolute_error", "batch_modes", "BatchModes",
    "ModeRun",
]
