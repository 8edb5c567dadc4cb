"""``fit``: gradient descent as a training loop (``Trainer(...).run()``).

One optimizer step on a batch ``B`` of examples is

    L_B(theta) = 1/|B| sum_{i in B} loss(model(x_i; theta), y_i)
    g = dL_B/dtheta                        (backpropagation: loss.backward())
    theta <- optimizer_update(theta, g)    (theta - lr * g for plain SGD)

With ``batch_size=None`` ``B`` is the whole training set (batch gradient
descent: ``g`` is the exact gradient), with ``1`` a single example
(stochastic gradient descent), with ``k`` a mini-batch. An *epoch* is one
pass over the data. The loop itself is :class:`descend.train.Trainer`.
"""

from __future__ import annotations

from .guards import DIVERGENCE_FACTOR, LR_FIND_HINT, DivergenceWarning
from .history import History
from .metrics import evaluate
from .trainer import Trainer

__all__ = ["fit", "evaluate", "DivergenceWarning", "LR_FIND_HINT"]


def fit(model, train, *, loss, optimizer, batch_size=32, epochs=10, shuffle=True, max_steps=None,
        validation=None, metrics=("loss",), scheduler=None, callbacks=(), tol=None, grad_tol=None,
        patience=None, max_time=None, progress=True, seed=None, checkpoint_dir=None, resume=False,
        checkpoint_every=None, scheduler_interval="epoch", compile=None,
        divergence_factor=DIVERGENCE_FACTOR, divergence_warning=True) -> History:
    """Train ``model`` by gradient descent on ``train``; return the :class:`History`.

    Parameters
    ----------
    model : descend.nn.Module
        Trained in place: ``model(x)`` gives outputs for a batch ``x``.
    train : Dataset, tuple ``(X, y)`` or DataLoader
        Float arrays are converted once to the parameters' dtype. A 1-D float
        target ``(n,)`` for a model with one output is taken as its column
        ``(n, 1)``, as scikit-learn does (``y = 2x`` as a list of numbers). A DataLoader
        brings its own ``batch_size``, ``shuffle`` and ``seed`` (fit's are unused).
    loss : callable or str
        ``loss(output, target) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``)
        or a name: ``"cross_entropy"``, ``"mse"``, ``"l1"``, ``"huber"``, ``"bce"``,
        ``"bce_with_logits"``, ``"nll"``.
    optimizer : Optimizer or str
        An instance over ``model.parameters()``, or a name for
        ``descend.optim.get(name, model.parameters())`` (default hyperparameters).
    batch_size : int or None, default 32
        ``None``: batch gradient descent; ``1``: stochastic; ``k``: mini-batch.
    epochs : int or None, default 10
        Passes over the data (``None``: until another stopping rule fires).
    shuffle : bool
        New example order every epoch (reproducible from ``seed``).
    max_steps : int, optional
        Stop after this many optimizer steps (possibly mid-epoch).
    validation : Dataset, tuple or DataLoader, optional
        Evaluated (eval mode, no gradients) after every epoch: ``val_loss`` and
        ``val_<metric>`` in the epoch records.
    metrics : names
        ``"loss"`` (always), ``"accuracy"`` (argmax of class scores; a single
        output is thresholded at 0, or 0.5 after ``"bce"``), ``"mae"``.
    scheduler : learning-rate scheduler, optional
        Stepped after every epoch (``scheduler_interval="step"``: after every
        optimizer step). ``ReduceLROnPlateau`` gets ``val_loss`` (or
        ``train_loss`` without validation).
    callbacks : list of Callback
    tol : float, optional
        Stop when an epoch's mean training loss is below ``tol`` (``"tol"``).
    grad_tol : float, optional
        Stop when an epoch's mean gradient norm is below ``grad_tol``
        (``"converged"``: for batch gradient descent, a stationary point).
    patience : int, optional
        Early stopping on ``val_loss`` (needs ``validation``); the best
        parameters are restored at the end whatever stopped training.
    max_time : float, optional
        Stop after this many seconds (``"max_time"``).
    progress : bool
        Live bar in a terminal, periodic lines otherwise; False: silent.
    seed : int, optional
        Seeds the data order and the calling thread's generator (dropout) for this run.
    checkpoint_dir : path, optional
        Write ``checkpoint.npz`` there after every epoch (and every
        ``checkpoint_every`` steps) and at the end.
    resume : bool
        Continue from ``checkpoint_dir``'s checkpoint if there is one (else
        start fresh). The resumed run ends bit-identical to an uninterrupted one.
    compile : bool or None
        The fast path (:class:`descend.compile.TrainStep`): the step is traced
        once per batch shape and then replayed as preallocated NumPy calls,
        with the same results as the eager step. ``None`` (default): used when
        the model is built from descend.nn's layers and the loss is one of
        descend's; ``True``: also for custom modules and losses (their
        ``forward`` must only compute with descend operations); ``False``: every
        step eager. Steps it cannot replay run eagerly. During training the
        parameters live in one contiguous array (``param.data`` are views).
        ``History.replayed_steps`` counts the replayed steps.
    divergence_factor : float or None, default 1e4
        The growth rule of the divergence guard: a finite batch loss ``L`` more than
        ``divergence_factor * max(|L_first|, |L_best|)`` above the lowest loss so far
        ``L_best`` (``L_first``: the run's first) counts as divergence, and so do
        parameters whose largest magnitude passes ``100 * divergence_factor`` times their
        starting scale (at least 1), checked after every epoch. None: only inf/nan count.
    divergence_warning : bool, default True
        Emit a :class:`DivergenceWarning` when training diverges (front ends that report
        ``History.stop_message`` themselves, such as the command line, pass False).

    Stopping
    --------
    ``History.stop_reason`` is ``"epochs"``, ``"max_steps"``, ``"max_time"``,
    ``"tol"``, ``"converged"``, ``"early_stopping"``, ``"callback"`` or
    ``"diverged"``. A non-finite loss or gradient, or a loss grown past the
    ``divergence_factor`` rule, stops training at once: the parameters go back
    to those of the last accepted step, and a :class:`DivergenceWarning` gives
    the step, the learning rate and a hint. Parameters of absurd size stop it at
    the end of an epoch.
    """
    return Trainer(
        model, train, loss=loss, optimizer=optimizer, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
        max_steps=max_steps, validation=validation, metrics=metrics, scheduler=scheduler, callbacks=callbacks,
        tol=tol, grad_tol=grad_tol, patience=patience, max_time=max_time, progress=progress, seed=seed,
        checkpoint_dir=checkpoint_dir, resume=resume, checkpoint_every=checkpoint_every,
        scheduler_interval=scheduler_interval, compile=compile, divergence_factor=divergence_factor,
        divergence_warning=divergence_warning,
    ).run()
