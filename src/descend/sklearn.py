"""scikit-learn estimators over a descend MLP: :class:`DescendClassifier`, :class:`DescendRegressor`.

::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from descend.sklearn import DescendClassifier

    clf = make_pipeline(StandardScaler(),
                        DescendClassifier((64,), optimizer="adam", early_stopping=True,
                                          random_state=0))
    clf.fit(X_train, y_train).score(X_test, y_test)
    clf[-1].loss_curve_, clf[-1].validation_scores_     # one value per epoch

Both are :class:`sklearn.neural_network.MLPClassifier` / ``MLPRegressor``
look-alikes: the parameters that mean the same thing have the same names,
defaults and semantics (``hidden_layer_sizes``, ``activation``, ``alpha``,
``batch_size``, ``shuffle``, ``random_state``, ``tol``, ``verbose``,
``warm_start``, ``early_stopping``, ``validation_fraction``,
``n_iter_no_change``) and so do the fitted attributes (``loss_curve_``,
``validation_scores_``, ``best_loss_``, ``n_iter_``, ``classes_``, ``coefs_``,
...). What differs: the network is a :class:`descend.nn.MLP` (``model_``)
trained by :func:`descend.train.fit` with any optimizer of
:mod:`descend.optim` (``optimizer="adam"``, ``"sgd"``, ``"nesterov"``,
``"rmsprop"``, ``"lbfgs"``, ...); ``learning_rate`` is the step size
(sklearn's ``learning_rate_init``), ``max_epochs`` the number of passes over
the data (sklearn's ``max_iter``), and ``validation_scores_`` can be recorded
without early stopping (``validation_fraction=0.1``).

The objective is scikit-learn's: for a batch ``B`` of ``n`` examples

    L_B = (1/n) sum_{i in B} loss_i + (alpha / (2 n)) * sum_l ||W_l||_F^2

(weights only, no biases) with ``loss_i`` the cross-entropy of the softmax
(multiclass), the binary cross-entropy of a sigmoid output summed over the
outputs (binary: one output; multilabel: one per label), or half the squared
error summed over the outputs divided by their number (regression).

Needs the ``sklearn`` extra: ``pip install 'descend[sklearn]'``.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import warnings

import numpy as np

try:
    import sklearn
    from scipy.special import expit, softmax
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "descend.sklearn needs scikit-learn >= 1.6; install it with: pip install 'descend[sklearn]'"
        f" ({exc})"
    ) from exc

from . import random as _random
from .autograd import no_grad
from .data.dataset import Dataset
from .data.loader import DataLoader
from .nn import MLP, Linear, Parameter, init
from .nn import functional as F
from .nn.activations import ACTIVATIONS
from .ops.reduction import sum as _tsum
from .train.callbacks import Callback
from .train.trainer import Trainer

if tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit()) < (1, 6):  # pragma: no cover
    raise ImportError(
        f"descend.sklearn needs scikit-learn >= 1.6 (found {sklearn.__version__}); "
        "upgrade it with: pip install -U 'descend[sklearn]'"
    )

__all__ = ["DescendClassifier", "DescendRegressor"]

_DTYPES = {"float32": np.float32, "float64": np.float64}
# sklearn's MLP calls the sigmoid "logistic"; both names are accepted.
_ACTIVATION_ALIASES = {"logistic": "sigmoid"}


# ----------------------------------------------------------------------------- parameter checks
class _Check:
    """Validation of one estimator's hyperparameters, with errors that name the parameter."""

    def __init__(self, est):
        self.est = est
        self.owner = type(est).__name__

    def fail(self, name, must, exc=ValueError):
        got = getattr(self.est, name)
        raise exc(f"The {name!r} parameter of {self.owner} must be {must}. Got {got!r} instead.")

    def boolean(self, name):
        if not isinstance(getattr(self.est, name), (bool, np.bool_)):
            self.fail(name, "a bool", TypeError)
        return bool(getattr(self.est, name))

    def integer(self, name, low):
        v = getattr(self.est, name)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            self.fail(name, f"an int >= {low}", TypeError)
        if v < low:
            self.fail(name, f"an int >= {low}")
        return int(v)

    def real(self, name, low, high=math.inf, low_open=False, high_open=True, none=False):
        v = getattr(self.est, name)
        if v is None and none:
            return None
        rng = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        must = f"a float in the range {rng}{' or None' if none else ''}"
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            self.fail(name, must, TypeError)
        v = float(v)
        if (math.isnan(v) or v < low or (low_open and v == low) or v > high
                or (high_open and v == high)):
            self.fail(name, must)
        return v


def _validated_params(est) -> dict:
    """Every hyperparameter checked and normalised; raises before anything is changed."""
    c = _Check(est)
    p = {}
    sizes = est.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        c.fail("hidden_layer_sizes", "a tuple of positive ints, e.g. (100,) or (64, 32)", TypeError)
    if any(isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
        c.fail("hidden_layer_sizes", "a tuple of positive ints, e.g. (100,) or (64, 32)")
    p["hidden_layer_sizes"] = tuple(int(s) for s in sizes)
    act = est.activation
    names = sorted(set(ACTIVATIONS) | set(_ACTIVATION_ALIASES))
    if not isinstance(act, str) or _ACTIVATION_ALIASES.get(act, act) not in ACTIVATIONS:
        c.fail("activation", f"one of {names}")
    p["activation"] = _ACTIVATION_ALIASES.get(act, act)

    from . import optim

    if not isinstance(est.optimizer, str) or est.optimizer.lower() not in optim.names():
        c.fail("optimizer", f"the name of a descend.optim optimizer, one of {optim.names()}")
    p["optimizer"] = est.optimizer.lower()
    p["learning_rate"] = c.real("learning_rate", 0.0, low_open=True, none=True)
    op = est.optimizer_params
    if op is not None and not (isinstance(op, dict) and all(isinstance(k, str) for k in op)):
        c.fail("optimizer_params", "a dict of optimizer hyperparameters, e.g. {'momentum': 0.9}, or None",
               TypeError)
    op = dict(op or {})
    if "lr" in op:
        raise ValueError(f"{c.owner}: set the step size with the 'learning_rate' parameter, not "
                         f"optimizer_params['lr']")
    cls, preset = optim.get_class(p["optimizer"])
    if p["optimizer"] == "lbfgs":
        # One L-BFGS iteration per epoch, so that n_iter_, loss_curve_ and the stopping
        # rules count iterations, as with sklearn's 'lbfgs'; its strong-Wolfe line search
        # may evaluate the objective up to 25 times (max_eval).
        preset = {"max_iter": 1, "max_eval": 25, "line_search_fn": "strong_wolfe", **preset}
    kwargs = {**preset, **op}
    if p["learning_rate"] is not None:
        kwargs["lr"] = p["learning_rate"]
    accepted = [q.name for q in inspect.signature(cls.__init__).parameters.values()
                if q.name not in ("self", "params") and q.kind is not q.VAR_KEYWORD]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(
            f"{c.owner}: optimizer {p['optimizer']!r} ({cls.__name__}) has no hyperparameter "
            f"{', '.join(map(repr, unknown))} (from optimizer_params); it accepts "
            f"{', '.join(a for a in accepted if a != 'lr')}"
        )
    try:  # the values too, on a stand-in parameter: before the estimator changes
        optim.get(p["optimizer"], [Parameter(np.zeros(1, np.float32))], **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{c.owner}: learning_rate={p['learning_rate']!r} / optimizer_params={op!r} "
                         f"do not make a valid {cls.__name__} optimizer: {exc}") from None
    p["optimizer_kwargs"] = kwargs
    p["alpha"] = c.real("alpha", 0.0)
    bs = est.batch_size
    if bs is None or (isinstance(bs, str) and bs == "auto"):
        p["batch_size"] = bs
    elif isinstance(bs, str):
        c.fail("batch_size", "'auto', None (the whole training set) or an int >= 1")
    else:
        p["batch_size"] = c.integer("batch_size", 1)
    p["max_epochs"] = c.integer("max_epochs", 1)
    p["shuffle"] = c.boolean("shuffle")
    rs = est.random_state
    if not (rs is None or isinstance(rs, np.random.RandomState)
            or (isinstance(rs, numbers.Integral) and not isinstance(rs, (bool, np.bool_))
                and 0 <= rs < 2**32)):
        c.fail("random_state", "an int in [0, 2**32 - 1], a numpy.random.RandomState or None", TypeError)
    p["tol"] = c.real("tol", 0.0)
    v = est.verbose
    if isinstance(v, (bool, np.bool_)):
        v = int(v)
    if not isinstance(v, numbers.Integral) or v < 0:
        c.fail("verbose", "a bool or an int >= 0", TypeError)
    p["verbose"] = int(v)
    p["warm_start"] = c.boolean("warm_start")
    p["early_stopping"] = c.boolean("early_stopping")
    p["validation_fraction"] = c.real("validation_fraction", 0.0, 1.0, none=True)
    if p["early_stopping"] and p["validation_fraction"] == 0.0:
        c.fail("validation_fraction", "in (0, 1) with early_stopping=True (it sizes the validation set)")
    p["n_iter_no_change"] = c.integer("n_iter_no_change", 1)
    p["dropout"] = c.real("dropout", 0.0, 1.0)
    dt = est.dtype
    try:
        dt = np.dtype(dt)
    except TypeError:
        c.fail("dtype", "'float32' or 'float64'", TypeError)
    if dt.name not in _DTYPES:
        c.fail("dtype", "'float32' or 'float64'")
    p["dtype"] = _DTYPES[dt.name]
    return p


# ----------------------------------------------------------------------------- training helpers
class _Objective:
    """The per-batch objective ``data_loss(out, target) + alpha/(2 n) * sum_l ||W_l||^2``.

    ``n`` is the batch size (``out.shape[0]``), as in scikit-learn's MLP, so that
    ``alpha`` means the same in both. ``kind``: ``"cross_entropy"`` (softmax
    over class logits, integer targets), ``"log_loss"`` (sigmoid outputs, 0/1
    targets) or ``"squared_error"``.
    """

    def __init__(self, kind, weights, alpha):
        self.kind = kind
        self.weights = weights
        self.alpha = alpha

    def __call__(self, out, target):
        n = out.data.shape[0]
        if self.kind == "cross_entropy":
            loss = F.cross_entropy(out, target)
        elif self.kind == "log_loss":
            # Binary cross-entropy summed over the outputs, averaged over examples.
            loss = F.binary_cross_entropy_with_logits(out, target, reduction="sum") * (1.0 / n)
        else:  # squared_error: half the mean squared error, as sklearn's 'squared_error'
            loss = F.mse_loss(out, target) * 0.5
        if self.alpha:
            penalty = None
            for w in self.weights:
                term = _tsum(w * w)
                penalty = term if penalty is None else penalty + term
            loss = loss + penalty * (0.5 * self.alpha / n)
        return loss


class _EpochMonitor(Callback):
    """scikit-learn's stopping rules, evaluated after every epoch of the :class:`~descend.train.Trainer`.

    Appends the epoch's mean training objective to ``loss_curve_`` and, with a
    validation set, its score (accuracy or R^2) to ``validation_scores_``.
    Without early stopping, training stops once the loss has failed to fall
    below ``best_loss_ - tol`` for more than ``n_iter_no_change`` consecutive
    epochs; with early stopping the same rule watches the validation score
    (which must rise above ``best_validation_score_ + tol``) and the
    parameters of the best-scoring epoch are kept.
    """

    def __init__(self, est, params, X_val, y_val):
        self.est = est
        self.p = params
        self.X_val = X_val
        self.y_val = y_val
        self.best_state = None
        self.stopped = False

    def on_epoch_end(self, state):
        est, p = self.est, self.p
        loss = float(state.logs["train_loss"])
        est.loss_curve_.append(loss)
        est.n_iter_ += 1
        if p["verbose"]:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        early = p["early_stopping"]
        if self.X_val is not None:
            score = est._validation_score(self.X_val, self.y_val)
            est.validation_scores_.append(score)
            if p["verbose"]:
                print(f"Validation score: {score:f}")
        if early:
            score = est.validation_scores_[-1]
            if score < est.best_validation_score_ + p["tol"]:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_state = state.model.state_dict()
        else:
            if loss > est.best_loss_ - p["tol"]:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, loss)
        if est._no_improvement_count > p["n_iter_no_change"]:
            what = "Validation score" if early else "Training loss"
            msg = (f"{what} did not improve more than tol={p['tol']:g} for "
                   f"{est._no_improvement_count} consecutive epochs (n_iter_no_change="
                   f"{p['n_iter_no_change']}).")
            if p["verbose"]:
                print(msg + " Stopping.")
            self.stopped = True
            state.request_stop("early_stopping" if early else "tol", msg)


def _seed(rs) -> int:
    return int(rs.randint(np.iinfo(np.int32).max))


# ----------------------------------------------------------------------------- base estimator
class _BaseDescendMLP(BaseEstimator):
    """Shared machinery of :class:`DescendClassifier` and :class:`DescendRegressor`."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam",
                 learning_rate=None, optimizer_params=None, alpha=0.0001, batch_size="auto",
                 max_epochs=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, early_stopping=False, validation_fraction=None,
                 n_iter_no_change=10, dropout=0.0, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_params = optimizer_params
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.dtype = dtype

    # ---- fitted views in scikit-learn's layout ---------------------------------------------
    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape (n_in, n_out) (views of ``model_``'s weights)."""
        check_is_fitted(self, "model_")
        return [lin.weight.data.T for lin in self.model_.linears]

    @property
    def intercepts_(self):
        """Bias vectors, ``intercepts_[i]`` of shape (n_out,) (views of ``model_``'s biases)."""
        check_is_fitted(self, "model_")
        return [lin.bias.data for lin in self.model_.linears]

    # ---- the network ------------------------------------------------------------------------
    def _build(self, p, n_features, n_outputs, rs):
        """A fresh MLP with Glorot-uniform weights and biases, as scikit-learn initialises.

        ``W, b ~ U(-r, r)`` with ``r = sqrt(6 / (fan_in + fan_out))``
        (``sqrt(2 / ...)`` for the sigmoid), drawn from a generator seeded by
        ``random_state``.
        """
        model = MLP([n_features, *p["hidden_layer_sizes"], n_outputs], activation=p["activation"],
                    dropout=p["dropout"], dtype=p["dtype"])
        gen = np.random.default_rng(_seed(rs))
        factor = 2.0 if p["activation"] == "sigmoid" else 6.0
        for lin in model.linears:
            bound = math.sqrt(factor / (lin.in_features + lin.out_features))
            init.uniform_(lin.weight, -bound, bound, generator=gen)
            init.uniform_(lin.bias, -bound, bound, generator=gen)
        return model

    def _make_optimizer(self, p):
        from . import optim

        return optim.get(p["optimizer"], self.model_.parameters(), **p["optimizer_kwargs"])

    def _check_X(self, X):
        """``X`` validated for prediction: float32 stays float32, anything else becomes float64."""
        check_is_fitted(self, "model_")
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))

    def _forward(self, X):
        """Network outputs (logits or predictions), shape (n, n_outputs_), computed in ``X``'s dtype.

        As in scikit-learn's MLP, a float64 ``X`` is predicted in float64 (the
        parameters are cast for the call) and a float32 one in float32, whatever
        precision the network was trained in; so a row's prediction does not
        depend on the batch it comes in, to float64 rounding.
        """
        model = self.model_
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                if X.dtype == model.linears[0].weight.data.dtype:
                    return model(X).data
                x = X
                for layer in model.children():
                    if isinstance(layer, Linear):
                        bias = None if layer.bias is None else layer.bias.data.astype(X.dtype)
                        x = F.linear(x, layer.weight.data.astype(X.dtype), bias)
                    else:
                        x = layer(x)
                return x.data
        finally:
            if was_training:
                model.train()

    # ---- training -----------------------------------------------------------------------------
    def _prepare(self, X, y, *, incremental, classes, X_val, y_val):
        """Check the parameters and the data and split off the validation set; change nothing else."""
        name = type(self).__name__
        p = _validated_params(self)
        if (X_val is None) != (y_val is None):
            raise ValueError(f"{name}.fit: pass X_val and y_val together")
        fitted = hasattr(self, "model_")
        first = not (fitted and (incremental or p["warm_start"]))
        X, y = validate_data(self, X, y, reset=first, dtype=p["dtype"], **self._y_checks())
        y, T, info = self._encode_targets(y, p, first=first, incremental=incremental, classes=classes)
        if not first and self.model_.sizes[1:-1] != p["hidden_layer_sizes"]:
            raise ValueError(
                f"{name}: hidden_layer_sizes changed from {self.model_.sizes[1:-1]} to "
                f"{p['hidden_layer_sizes']} since the last fit; refit with warm_start=False")
        if not first and self.model_.linears[0].weight.data.dtype != p["dtype"]:
            raise ValueError(f"{name}: dtype changed since the last fit; refit with warm_start=False")
        # A copy, so that a failure below leaves the estimator's generator where it was.
        rs = check_random_state(self.random_state) if first else copy.deepcopy(self._rng)
        Xv = yv = None
        if X_val is not None:
            Xv = validate_data(self, X_val, reset=False, dtype=p["dtype"])
            yv = self._check_y_val(y_val, len(Xv), info)
        elif not incremental:
            # Held out for early stopping, or to record validation_scores_ without it.
            fraction = p["validation_fraction"]
            if p["early_stopping"] and fraction is None:
                fraction = 0.1
            if fraction:
                stratify = y if self._is_classifier and info[0] == "single" else None
                try:
                    tr, va = train_test_split(np.arange(len(X)), test_size=fraction,
                                              random_state=_seed(rs), stratify=stratify)
                except ValueError as exc:
                    raise ValueError(
                        f"{name}: cannot hold out validation_fraction={fraction:g} of {len(X)} "
                        f"examples ({exc}); increase validation_fraction or the size of the data set"
                    ) from None
                if len(va) < 2 or len(tr) < 1:
                    raise ValueError(
                        f"{name}: the validation set is too small ({len(va)} of {len(X)} examples). "
                        "Increase 'validation_fraction' or the size of your dataset.")
                Xv, yv = X[va], y[va]
                X, T = X[tr], T[tr]
        n = len(X)
        bs = p["batch_size"]
        if p["optimizer"] == "lbfgs" or bs is None:
            bs = None  # L-BFGS runs on the exact (full-batch) gradient, as sklearn's 'lbfgs'
        elif bs == "auto":
            bs = min(200, n)
        else:
            bs = min(bs, n)
        return p, first, X, T, Xv, yv, info, bs, rs

    def _fit(self, X, y, *, incremental, classes=None, X_val=None, y_val=None):
        name = type(self).__name__
        # validate_data records n_features_in_ / feature_names_in_ as it checks X: put the
        # previous ones back if anything is wrong, so that a failed fit changes nothing.
        saved = {k: self.__dict__[k] for k in ("n_features_in_", "feature_names_in_") if k in self.__dict__}
        try:
            p, first, X, T, Xv, yv, info, bs, rs = self._prepare(
                X, y, incremental=incremental, classes=classes, X_val=X_val, y_val=y_val)
        except BaseException:
            self.__dict__.pop("n_features_in_", None)
            self.__dict__.pop("feature_names_in_", None)
            self.__dict__.update(saved)
            raise
        n = len(X)
        n_outputs = T.shape[1] if T.ndim == 2 else len(info[1])  # class indices: one output per class

        # ---- from here on the estimator is (re)fitted ------------------------------------------
        self._rng = rs
        if first:
            self._set_targets(info)
            # Linear layers draw a default initialisation first: from a generator of the
            # estimator's own, so that the thread's generator is left as it was.
            with _random.fork_rng(_seed(rs)):
                self.model_ = self._build(p, X.shape[1], n_outputs, rs)
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self.n_layers_ = len(p["hidden_layer_sizes"]) + 2
            self.n_outputs_ = n_outputs
        if not incremental or first or not hasattr(self, "optimizer_"):
            # fit (warm-started too) starts a fresh optimizer, as sklearn; partial_fit continues it.
            self.optimizer_ = self._make_optimizer(p)
            self._no_improvement_count = 0
            self.best_loss_ = min(self.loss_curve_, default=math.inf)
        elif self.best_loss_ is None:
            self.best_loss_ = min(self.loss_curve_, default=math.inf)
        has_val = Xv is not None
        # Like loss_curve_, the scores go on across warm-started fits that all validate.
        keep = not first and not incremental and isinstance(getattr(self, "validation_scores_", None), list)
        self.validation_scores_ = (self.validation_scores_ if keep else []) if has_val else None
        self.best_validation_score_ = -math.inf if p["early_stopping"] else None
        weights = [lin.weight for lin in self.model_.linears]
        objective = _Objective(self._loss_kind(info), weights, p["alpha"])
        monitor = _EpochMonitor(self, p, Xv, yv)
        seed = _seed(rs)
        # The loader's own seed fixes the example order; dropout draws from a generator
        # seeded from random_state, in place of the calling thread's (other threads have
        # their own), so estimators fitted in several threads at once need no lock.
        loader = DataLoader(Dataset(X, T), batch_size=bs, shuffle=p["shuffle"], seed=seed)
        with _random.fork_rng(seed):
            history = Trainer(
                self.model_, loader, loss=objective, optimizer=self.optimizer_,
                epochs=1 if incremental else p["max_epochs"], callbacks=[monitor], progress=False,
            ).run()
        self.t_ += n * len(history.epochs)
        self.history_ = history
        if p["early_stopping"]:
            if monitor.best_state is not None:
                self.model_.load_state_dict(monitor.best_state)
            self.best_loss_ = None
        elif has_val:
            self.best_validation_score_ = max(self.validation_scores_, default=None)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else math.nan
        if not incremental and not monitor.stopped and history.stop_reason == "epochs":
            watched = "validation score" if p["early_stopping"] else "training loss"
            warnings.warn(
                f"{name}: max_epochs={p['max_epochs']} reached and the optimization hasn't converged "
                f"yet (the {watched} still changes by more than tol={p['tol']:g}); increase max_epochs",
                ConvergenceWarning, stacklevel=3)
        return self

    def fit(self, X, y, X_val=None, y_val=None):
        """Train on ``X`` (n_samples, n_features) and ``y``; return ``self``.

        Runs up to ``max_epochs`` passes of the optimizer over the data (in
        batches of ``batch_size``), stopping early as scikit-learn's MLP does
        (see ``tol``, ``n_iter_no_change``, ``early_stopping``). ``X_val`` and
        ``y_val`` give a validation set to score after every epoch (and to
        early-stop on) instead of holding out ``validation_fraction`` of ``X``.
        With ``warm_start=True`` a fitted model continues from its parameters.
        """
        return self._fit(X, y, incremental=False, X_val=X_val, y_val=y_val)

    def _partial_fit_available(self):
        # As sklearn's MLP: L-BFGS needs the whole data set at once, and early
        # stopping a validation set held out of it.
        return str(self.optimizer).lower() != "lbfgs" and not self.early_stopping

    # ---- tags ---------------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


# ----------------------------------------------------------------------------- classifier
class DescendClassifier(ClassifierMixin, _BaseDescendMLP):
    """Multilayer-perceptron classifier trained by descend's gradient descent.

    Binary (one sigmoid output), multiclass (softmax over ``n_classes``
    outputs) and multilabel (``y`` a 0/1 indicator matrix, one sigmoid per
    label) problems; labels may be any sortable values (ints, strings).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Widths of the hidden layers; ``()`` gives logistic regression.
    activation : str, default "relu"
        Hidden activation: ``"relu"``, ``"tanh"``, ``"sigmoid"`` (or sklearn's
        name ``"logistic"``), ``"identity"``, ``"leaky_relu"``, ``"gelu"``,
        ``"softplus"``, ``"elu"``.
    optimizer : str, default "adam"
        A :mod:`descend.optim` name (``descend.optim.names()``): ``"sgd"``,
        ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
        ``"adadelta"``, ``"adam"``, ``"adamw"``, ``"adamax"``, ``"nadam"``,
        ``"radam"``, ``"lbfgs"`` (full batch, one iteration with a strong-Wolfe
        line search per epoch).
    learning_rate : float or None, default None
        The step size (``lr``); None keeps the optimizer's own default
        (0.001 for Adam and SGD, 1 for L-BFGS and Adadelta, 0.01 for Adagrad
        and RMSprop, ...). scikit-learn's MLP calls this ``learning_rate_init``.
    optimizer_params : dict or None
        Further optimizer hyperparameters, e.g. ``{"momentum": 0.9}`` or
        ``{"betas": (0.9, 0.99)}``.
    alpha : float, default 1e-4
        Strength of the L2 penalty ``alpha/(2 n) ||W||^2`` on the weights.
    batch_size : "auto", None or int, default "auto"
        Examples per step: ``"auto"`` is ``min(200, n_samples)``, None the
        whole training set (batch gradient descent), 1 stochastic gradient
        descent. Ignored by L-BFGS (always full batch).
    max_epochs : int, default 200
        Most passes over the training data (scikit-learn's ``max_iter``).
    shuffle : bool, default True
        New example order every epoch.
    random_state : int, RandomState or None
        Seeds the initial weights, the validation split, the example order
        and dropout: the same int reproduces a fit bit for bit.
    tol, n_iter_no_change : float, int, default 1e-4, 10
        Stop when the training loss (the validation score with
        ``early_stopping``) has not improved by ``tol`` for more than
        ``n_iter_no_change`` consecutive epochs.
    verbose : bool or int
        Print the loss (and validation score) after every epoch.
    warm_start : bool
        ``fit`` continues from the previous solution.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` (0.1 when None) of the data, stratified,
        stop on its accuracy and keep the best epoch's parameters.
    validation_fraction : float or None, default None
        Fraction of the training data held out to compute ``validation_scores_``
        after every epoch. None: 0.1 with early stopping, otherwise no hold-out.
        (scikit-learn's MLP only uses it with early stopping.)
    dropout : float, default 0
        Dropout probability after each hidden activation (training only).
    dtype : "float32" or "float64", default "float32"
        Precision of the parameters and the computation.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    model_ : descend.nn.MLP
        The trained network (outputs logits).
    optimizer_ : descend.optim.Optimizer
    loss_curve_ : list of float
        Mean training objective of every epoch (appended to by warm starts and
        ``partial_fit``).
    validation_scores_ : list of float or None
        Accuracy on the validation set after every epoch (None without a
        validation set; continued by warm-started fits, like ``loss_curve_``).
    best_validation_score_ : float or None
    best_loss_ : float or None
        Lowest value in ``loss_curve_`` (None with early stopping, as sklearn).
    loss_ : float
        Last value of ``loss_curve_``.
    n_iter_ : int
        Epochs run (across warm starts and ``partial_fit`` calls).
    t_ : int
        Training examples seen by the optimizer.
    history_ : descend.train.History
        The last training run's records (per-epoch loss, gradient norm, lr, time).
    n_features_in_, feature_names_in_, n_layers_, n_outputs_, out_activation_
        As in scikit-learn.
    coefs_, intercepts_ : list of ndarray
        The weights (n_in, n_out) and biases, views of ``model_``'s parameters.
    """

    _is_classifier = True

    def _y_checks(self):
        return {"multi_output": True}

    def _encode_targets(self, y, p, *, first, incremental, classes):
        """``(labels, network targets, (kind, classes))`` for validated ``y``.

        Targets: class indices (n,) for cross-entropy (multiclass), a 0/1 column
        (n, 1) for one sigmoid output (binary), the indicator matrix (n, k)
        (multilabel).
        """
        name = type(self).__name__
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multiclass-multioutput":
            raise ValueError(f"{name}: multiclass-multioutput targets are not supported (y has shape "
                             f"{np.shape(y)}); use a 0/1 indicator matrix for multilabel problems")
        kind = "multilabel" if kind == "multilabel-indicator" else "single"
        if not first and kind != self._target_kind:
            raise ValueError(f"{name}: y is {'a multilabel indicator matrix' if kind == 'multilabel' else 'a label vector'}"
                             f", unlike in the previous fit")
        if kind == "multilabel":
            y = np.asarray(y)
            labels = np.arange(y.shape[1])
            if not first and len(self.classes_) != y.shape[1]:
                raise ValueError(f"{name}: y has {y.shape[1]} labels but the previous fit had "
                                 f"{len(self.classes_)}")
            if incremental and first and classes is not None and len(unique_labels(classes)) != y.shape[1]:
                raise ValueError(f"{name}.partial_fit: classes has {len(classes)} labels but y has "
                                 f"{y.shape[1]} columns")
            return y, y.astype(p["dtype"]), (kind, labels)
        y = column_or_1d(y, warn=True)
        if incremental and first:
            if classes is None:
                raise ValueError(f"{name}.partial_fit: classes must be passed on the first call "
                                 "(every label that will ever be seen)")
            labels = unique_labels(np.asarray(classes))
        elif not first:
            labels = self.classes_
            if incremental and classes is not None and not np.array_equal(
                    unique_labels(np.asarray(classes)), labels):
                raise ValueError(f"{name}.partial_fit: classes={list(classes)!r} is not the same as on "
                                 f"the first call, {list(labels)!r}")
        else:
            labels = unique_labels(y)
        if incremental or not first:
            unseen = np.setdiff1d(np.unique(y), labels)
            if unseen.size:
                where = "classes" if incremental else "the classes of the previous fit (warm_start)"
                raise ValueError(f"{name}: y contains labels {list(unseen)!r} that are not in {where}: "
                                 f"{list(labels)!r}")
        if len(labels) < 2:
            raise ValueError(f"{name} needs samples of at least 2 classes in the data, but the data "
                             f"contain only one class: {labels[0]!r}")
        idx = np.searchsorted(labels, y)
        T = idx.astype(p["dtype"]).reshape(-1, 1) if len(labels) == 2 else idx.astype(np.int64)
        return y, T, (kind, labels)

    def _check_y_val(self, y_val, n, info):
        name = type(self).__name__
        kind, labels = info
        y_val = np.asarray(y_val)
        if len(y_val) != n:
            raise ValueError(f"{name}.fit: X_val has {n} rows but y_val has {len(y_val)}")
        if kind == "single":
            y_val = column_or_1d(y_val)
            unseen = np.setdiff1d(np.unique(y_val), labels)
            if unseen.size:
                raise ValueError(f"{name}.fit: y_val contains labels {list(unseen)!r} that are not in y")
        elif y_val.shape[1:] != (len(labels),):
            raise ValueError(f"{name}.fit: y_val must be an indicator matrix with {len(labels)} columns, "
                             f"got shape {y_val.shape}")
        return y_val

    def _set_targets(self, info):
        kind, labels = info
        self._target_kind = kind
        self.classes_ = np.asarray(labels)
        if kind == "multilabel" or len(labels) == 2:
            self.out_activation_ = "logistic"
        else:
            self.out_activation_ = "softmax"

    def _loss_kind(self, info):
        kind, labels = info
        return "log_loss" if (kind == "multilabel" or len(labels) == 2) else "cross_entropy"

    def _validation_score(self, X, y):
        return float(accuracy_score(y, self._predict_validated(X)))

    @available_if(_BaseDescendMLP._partial_fit_available)
    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X, y`` (in batches of ``batch_size``), continuing the optimizer's state.

        ``classes`` (every label that will ever appear) is required on the first
        call. Not available with ``optimizer="lbfgs"``.
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def _predict_validated(self, X):
        out = self._forward(X)
        if self._target_kind == "multilabel":
            return (out > 0).astype(int)
        if out.shape[1] == 1:
            return self.classes_[(out[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(out, axis=1)]

    def predict(self, X):
        """Predicted labels, shape (n_samples,) (multilabel: a 0/1 matrix (n_samples, n_labels))."""
        X = self._check_X(X)
        return self._predict_validated(X)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns ordered as ``classes_``.

        Softmax of the logits (multiclass), ``[sigmoid(-z), sigmoid(z)]`` for the
        single logit ``z`` (binary), one sigmoid per label (multilabel).
        """
        X = self._check_X(X)
        out = self._forward(X)
        if self._target_kind == "multilabel":
            return expit(out)
        if out.shape[1] == 1:
            # Both columns from the logit: 1 - sigmoid(z) would round to 0 far sooner.
            return np.stack([expit(-out[:, 0]), expit(out[:, 0])], axis=1)
        return softmax(out, axis=1)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))`` (-inf where a probability underflows to 0), as scikit-learn's MLP."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ----------------------------------------------------------------------------- regressor
class DescendRegressor(RegressorMixin, _BaseDescendMLP):
    """Multilayer-perceptron regressor trained by descend's gradient descent.

    Identity output layer, one unit per target (``y`` of shape (n,) or
    (n, n_targets)); the objective is half the mean squared error plus the L2
    penalty, as in scikit-learn's ``MLPRegressor``. Parameters and attributes
    are those of :class:`DescendClassifier` except that ``validation_scores_``
    holds R^2 scores and there are no ``classes_``.
    """

    _is_classifier = False

    def _y_checks(self):
        return {"multi_output": True, "y_numeric": True}

    def _encode_targets(self, y, p, *, first, incremental, classes):
        y = np.asarray(y)
        with np.errstate(over="ignore"):  # reported below, with advice
            T = (y.reshape(-1, 1) if y.ndim == 1 else y).astype(p["dtype"])
        if not np.isfinite(T).all():
            raise ValueError(f"{type(self).__name__}: y does not fit in {T.dtype} (it overflows to "
                             "inf); rescale it or use dtype='float64'")
        if not first and T.shape[1] != self.n_outputs_:
            raise ValueError(f"{type(self).__name__}: y has {T.shape[1]} target(s) but the previous "
                             f"fit had {self.n_outputs_}; refit with warm_start=False")
        return y, T, None

    def _check_y_val(self, y_val, n, info):
        y_val = np.asarray(y_val, dtype=np.float64)
        if len(y_val) != n:
            raise ValueError(f"{type(self).__name__}.fit: X_val has {n} rows but y_val has {len(y_val)}")
        return y_val

    def _set_targets(self, info):
        self.out_activation_ = "identity"

    def _loss_kind(self, info):
        return "squared_error"

    def _validation_score(self, X, y):
        pred = self._predict_validated(X)
        return float(r2_score(np.asarray(y).reshape(pred.shape), pred))

    @available_if(_BaseDescendMLP._partial_fit_available)
    def partial_fit(self, X, y):
        """One epoch over ``X, y`` (in batches of ``batch_size``), continuing the optimizer's state."""
        return self._fit(X, y, incremental=True)

    def _predict_validated(self, X):
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X):
        """Predictions, shape (n_samples,) for one target, else (n_samples, n_targets)."""
        X = self._check_X(X)
        return self._predict_validated(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
