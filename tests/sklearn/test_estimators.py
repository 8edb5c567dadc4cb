"""descend.sklearn: scikit-learn's estimator checks, sklearn semantics, and quality against MLPClassifier."""

import importlib
import pickle
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn.utils.estimator_checks")

from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import descend
from descend import optim
from descend.sklearn import DescendClassifier, DescendRegressor

# Estimators warn when max_epochs runs out; the tests that care catch it explicitly.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ----------------------------------------------------------------------------- sklearn's checks
# Small networks and few epochs: the checks fit hundreds of times on tiny data.
@parametrize_with_checks([
    DescendClassifier((16,), max_epochs=40, learning_rate=0.01, random_state=0),
    DescendRegressor((16,), max_epochs=40, learning_rate=0.01, random_state=0),
    DescendClassifier((8,), optimizer="lbfgs", max_epochs=30, dtype="float64", random_state=0),
    DescendRegressor((16,), max_epochs=40, learning_rate=0.01, validation_fraction=0.2,
                     early_stopping=True, n_iter_no_change=40, random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=240, centers=3, n_features=4, cluster_std=1.5, random_state=1)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=300, n_features=6, n_targets=2, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


# ----------------------------------------------------------------------------- quality
def test_classifier_matches_mlpclassifier_on_digits(digits):
    Xtr, Xte, ytr, yte = digits
    common = {"hidden_layer_sizes": (64,), "alpha": 1e-4, "batch_size": 64, "random_state": 0}
    ours = DescendClassifier(**common, optimizer="adam", learning_rate=1e-3, max_epochs=60).fit(Xtr, ytr)
    ref = MLPClassifier(**common, solver="adam", learning_rate_init=1e-3, max_iter=60).fit(Xtr, ytr)
    acc, acc_ref = ours.score(Xte, yte), ref.score(Xte, yte)
    assert acc >= 0.95
    assert acc >= acc_ref - 0.02, (acc, acc_ref)
    # loss_curve_ is the same objective (cross-entropy + alpha/(2n)||W||^2): the same scale.
    assert len(ours.loss_curve_) == ours.n_iter_ == 60
    assert ours.loss_curve_[-1] == pytest.approx(ref.loss_curve_[-1], rel=0.5, abs=0.02)


def test_regressor_matches_mlpregressor(regression):
    X, y = regression
    Xtr, Xte, ytr, yte = train_test_split(X, y[:, 0], random_state=0)
    common = {"hidden_layer_sizes": (32,), "batch_size": 32, "random_state": 0, "alpha": 1e-4}
    ours = DescendRegressor(**common, learning_rate=1e-3, max_epochs=150).fit(Xtr, ytr)
    ref = MLPRegressor(**common, learning_rate_init=1e-3, max_iter=150).fit(Xtr, ytr)
    r2, r2_ref = ours.score(Xte, yte), ref.score(Xte, yte)
    assert r2 >= 0.95
    assert r2 >= r2_ref - 0.02, (r2, r2_ref)


def test_lbfgs_trains_full_batch_like_sklearn(blobs):
    X, y = blobs
    clf = DescendClassifier((16,), optimizer="lbfgs", max_epochs=100, random_state=0).fit(X, y)
    ref = MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=0).fit(X, y)
    assert clf.score(X, y) >= ref.score(X, y) - 0.03
    # One L-BFGS iteration per epoch, on the whole training set.
    assert all(r["step"] == i + 1 for i, r in enumerate(clf.history_.epochs))
    assert not hasattr(clf, "partial_fit")


# ----------------------------------------------------------------------------- targets
def test_binary_uses_one_sigmoid_output_and_string_labels(blobs):
    X, y = blobs
    keep = y < 2
    labels = np.array(["cat", "dog"])[y[keep]]
    clf = DescendClassifier((8,), max_epochs=30, learning_rate=0.01, random_state=0).fit(X[keep], labels)
    assert list(clf.classes_) == ["cat", "dog"]
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X[keep])
    assert proba.shape == (keep.sum(), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    pred = clf.predict(X[keep])
    assert set(pred) <= {"cat", "dog"}
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X[keep]), np.log(proba), rtol=1e-5, atol=1e-6)
    assert clf.score(X[keep], labels) > 0.9


def test_multiclass_softmax_probabilities(blobs):
    X, y = blobs
    clf = DescendClassifier((8,), max_epochs=30, learning_rate=0.01, random_state=0).fit(X, y + 10)
    np.testing.assert_array_equal(clf.classes_, [10, 11, 12])
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    logits = clf.model_(X.astype(np.float32)).data
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(X), 10 + logits.argmax(axis=1))


def test_multilabel_indicator_targets(blobs):
    X, y = blobs
    Y = np.stack([y == 0, y != 1, X[:, 0] > 0], axis=1).astype(int)
    clf = DescendClassifier((16,), max_epochs=60, learning_rate=0.01, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(X).shape == Y.shape and clf.predict_proba(X).shape == Y.shape
    assert ((clf.predict_proba(X) > 0.5).astype(int) == clf.predict(X)).all()
    assert (clf.predict(X) == Y).mean() > 0.9


def test_multioutput_regression(regression):
    X, y = regression
    reg = DescendRegressor((32,), max_epochs=100, learning_rate=3e-3, random_state=0).fit(X, y)
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (len(X), 2)
    assert reg.score(X, y) > 0.9
    one = DescendRegressor((8,), max_epochs=5, random_state=0).fit(X, y[:, :1])
    assert one.predict(X).shape == (len(X),)  # one target predicts 1-D, as sklearn's MLPRegressor


def test_single_class_is_an_error():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        DescendClassifier().fit(X, np.zeros(10))


# ----------------------------------------------------------------------------- objective
@pytest.mark.parametrize("Est,y_kind", [(DescendClassifier, "multiclass"), (DescendClassifier, "binary"),
                                        (DescendRegressor, "regression")])
def test_objective_is_sklearns_with_l2_penalty(Est, y_kind, blobs):
    """loss_curve_[0] of a full-batch epoch at a negligible step is the objective at the initial weights."""
    X, y = blobs
    if y_kind == "binary":
        y = (y == 0).astype(int)
    elif y_kind == "regression":
        y = X[:, 0] - 2 * X[:, 1]
    alpha = 3.0
    est = Est((5,), activation="tanh", optimizer="sgd", learning_rate=1e-30, alpha=alpha, batch_size=None,
              max_epochs=1, dtype="float64", random_state=0).fit(X, y)
    W = est.coefs_
    h = np.tanh(X @ W[0] + est.intercepts_[0])
    out = h @ W[1] + est.intercepts_[1]
    n = len(X)
    if y_kind == "multiclass":
        z = out - out.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        data = -logp[np.arange(n), y].mean()
    elif y_kind == "binary":
        z = out[:, 0]
        data = np.mean(np.logaddexp(0, z) - y * z)
    else:
        data = 0.5 * np.mean((out[:, 0] - y) ** 2)
    penalty = alpha / (2 * n) * sum((w ** 2).sum() for w in W)
    assert est.loss_curve_[0] == pytest.approx(data + penalty, rel=1e-10)


def test_alpha_shrinks_the_weights(blobs):
    X, y = blobs
    norms = [sum((w ** 2).sum() for w in DescendClassifier((16,), alpha=a, max_epochs=40, learning_rate=0.01,
                                                            random_state=0).fit(X, y).coefs_)
             for a in (0.0, 10.0)]
    assert norms[1] < 0.5 * norms[0]


def test_initial_weights_are_glorot_uniform():
    X = np.zeros((4, 50))
    est = DescendRegressor((200,), optimizer="sgd", learning_rate=1e-30, max_epochs=1, random_state=0)
    W0 = est.fit(X, np.zeros(4)).coefs_[0]
    bound = np.sqrt(6 / (50 + 200))
    assert np.abs(W0).max() <= bound
    assert W0.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)


# ----------------------------------------------------------------------------- optimizers and batches
@pytest.mark.parametrize("name", optim.names())
def test_every_optimizer_name_trains(name, blobs):
    X, y = blobs
    clf = DescendClassifier((8,), optimizer=name, max_epochs=15, random_state=0, tol=0.0)
    clf.fit(X, y)
    assert type(clf.optimizer_) is optim.get_class(name)[0]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_optimizer_params_and_learning_rate_reach_the_optimizer(blobs):
    X, y = blobs
    clf = DescendClassifier((4,), optimizer="sgd", learning_rate=0.05,
                            optimizer_params={"momentum": 0.8, "nesterov": True}, max_epochs=1).fit(X, y)
    group = clf.optimizer_.param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"]) == (0.05, 0.8, True)
    default = DescendClassifier((4,), optimizer="adadelta", max_epochs=1).fit(X, y)
    assert default.optimizer_.param_groups[0]["lr"] == 1.0  # None keeps the optimizer's default


@pytest.mark.parametrize("batch_size,steps", [(None, 1), (1, 240), (50, 5), ("auto", 2), (1000, 1)])
def test_batch_size_sets_the_steps_per_epoch(batch_size, steps, blobs):
    X, y = blobs
    clf = DescendClassifier((4,), batch_size=batch_size, max_epochs=2, random_state=0).fit(X, y)
    assert [r["step"] for r in clf.history_.epochs] == [steps, 2 * steps]
    assert clf.t_ == 2 * len(X)


# ----------------------------------------------------------------------------- stopping
def test_tol_rule_counts_epochs_like_sklearn(blobs):
    """No improvement by tol for more than n_iter_no_change epochs stops, exactly as MLPClassifier.

    The first epoch sets the best value; the next 4 fail to beat it by tol=10 and
    the count (4) then exceeds n_iter_no_change=3.
    """
    X, y = blobs
    for early in (False, True):
        kw = {"hidden_layer_sizes": (4,), "tol": 10.0, "n_iter_no_change": 3, "early_stopping": early,
              "random_state": 0}
        ours = DescendClassifier(max_epochs=50, **kw).fit(X, y)
        ref = MLPClassifier(max_iter=50, **kw).fit(X, y)
        assert ours.n_iter_ == ref.n_iter_ == 5
        assert ours.history_.stop_reason == ("early_stopping" if early else "tol")
        assert (ours.best_loss_ is None) == (ref.best_loss_ is None) == early


def test_early_stopping_keeps_the_best_epoch(digits):
    Xtr, Xte, ytr, yte = digits
    clf = DescendClassifier((32,), early_stopping=True, n_iter_no_change=5, learning_rate=0.01, max_epochs=100,
                            random_state=0)
    clf.fit(Xtr, ytr, X_val=Xte, y_val=yte)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ < 100
    assert clf.best_validation_score_ == max(scores)
    assert clf.score(Xte, yte) == clf.best_validation_score_  # the best epoch's parameters were kept
    assert clf.best_loss_ is None and len(clf.loss_curve_) == clf.n_iter_


def test_validation_scores_without_early_stopping(blobs):
    X, y = blobs
    clf = DescendClassifier((8,), validation_fraction=0.25, max_epochs=20, tol=0.0, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_ == 20
    assert all(0 <= s <= 1 for s in clf.validation_scores_)
    assert clf.t_ == 20 * 180  # a quarter of the 240 examples were held out
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ == min(clf.loss_curve_)
    plain = DescendClassifier((8,), max_epochs=2).fit(X, y)
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    reg = DescendRegressor((8,), validation_fraction=0.2, max_epochs=3, random_state=0).fit(X, X[:, 0])
    assert len(reg.validation_scores_) == 3  # R^2 scores
    assert reg.validation_scores_[-1] <= 1


def test_convergence_warning_when_max_epochs_runs_out(blobs):
    X, y = blobs
    with pytest.warns(ConvergenceWarning, match="max_epochs=3"):
        DescendClassifier((4,), max_epochs=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        DescendClassifier((4,), max_epochs=50, tol=10.0, n_iter_no_change=2).fit(X, y)


def test_verbose_prints_every_epoch(blobs, capsys):
    X, y = blobs
    DescendClassifier((4,), max_epochs=2, verbose=True, validation_fraction=0.2).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out
    assert out.count("Validation score: ") == 2


# ----------------------------------------------------------------------------- incremental
def test_partial_fit_needs_classes_then_continues(blobs):
    X, y = blobs
    clf = DescendClassifier((8,), learning_rate=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "model_")
    clf.partial_fit(X[:40], y[:40], classes=[0, 1, 2])
    for _ in range(40):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 41 and len(clf.loss_curve_) == 41
    assert clf.loss_curve_[-1] < clf.loss_curve_[1]
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, y + 5)
    assert not hasattr(clf.set_params(early_stopping=True), "partial_fit")  # as with sklearn's MLP


def test_partial_fit_keeps_the_optimizer_state(blobs):
    X, y = blobs
    clf = DescendRegressor((8,), random_state=0).partial_fit(X, y)
    opt = clf.optimizer_
    clf.partial_fit(X, y)
    assert clf.optimizer_ is opt
    assert clf.optimizer_.state[next(iter(clf.model_.parameters()))]["step"] == 4


def test_partial_fit_sequence_is_reproducible(blobs):
    X, y = blobs

    def run():
        clf = DescendClassifier((8,), random_state=3).partial_fit(X, y, classes=[0, 1, 2])
        clf.partial_fit(X, y)
        return clf.coefs_[0].copy()

    np.testing.assert_array_equal(run(), run())


def test_warm_start_continues(blobs):
    X, y = blobs
    clf = DescendClassifier((8,), max_epochs=5, warm_start=True, tol=0.0, random_state=0).fit(X, y)
    model = clf.model_
    before = clf.coefs_[0].copy()
    clf.fit(X, y)
    assert clf.model_ is model and clf.n_iter_ == 10 and len(clf.loss_curve_) == 10
    assert not np.array_equal(before, clf.coefs_[0])
    with pytest.raises(ValueError, match="previous fit"):
        clf.fit(X, np.where(y == 2, 7, y))
    cold = clf.set_params(warm_start=False).fit(X, y)
    assert cold.n_iter_ == 5 and cold.model_ is not model
    # Validation scores run on across warm starts, like the loss curve.
    clf.set_params(warm_start=False, validation_fraction=0.2).fit(X, y)
    clf.set_params(warm_start=True).fit(X, y)
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_ == 10


# ----------------------------------------------------------------------------- reproducibility
def test_random_state_reproduces_a_fit_bit_for_bit(digits):
    Xtr, _, ytr, _ = digits
    kw = {"hidden_layer_sizes": (16,), "dropout": 0.2, "validation_fraction": 0.1, "max_epochs": 5,
          "random_state": 7}
    a, b = DescendClassifier(**kw).fit(Xtr, ytr), DescendClassifier(**kw).fit(Xtr, ytr)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss_curve_ == b.loss_curve_ and a.validation_scores_ == b.validation_scores_
    c = DescendClassifier(**{**kw, "random_state": 8}).fit(Xtr, ytr)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_random_state_none_follows_numpy_global_seed(blobs):
    X, y = blobs
    np.random.seed(1)
    a = DescendClassifier((4,), max_epochs=2).fit(X, y).coefs_[0].copy()
    np.random.seed(1)
    b = DescendClassifier((4,), max_epochs=2).fit(X, y).coefs_[0].copy()
    np.testing.assert_array_equal(a, b)


def test_fit_leaves_descends_global_generator_alone(blobs):
    X, y = blobs
    descend.manual_seed(123)
    expected = np.random.default_rng(123).random(3)
    DescendClassifier((4,), dropout=0.5, max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(descend.random.generator().random(3), expected)


# ----------------------------------------------------------------------------- dtypes and attributes
def test_dtype_float64_and_prediction_dtypes(regression):
    X, y = regression
    reg = DescendRegressor((4,), max_epochs=2, dtype="float64", random_state=0).fit(X, y)
    assert all(p.data.dtype == np.float64 for p in reg.model_.parameters())
    reg32 = DescendRegressor((4,), max_epochs=2, random_state=0).fit(X, y)
    assert all(p.data.dtype == np.float32 for p in reg32.model_.parameters())
    assert reg32.predict(X).dtype == np.float64  # predictions take X's precision
    assert reg32.predict(X.astype(np.float32)).dtype == np.float32


def test_float64_input_is_predicted_in_float64(blobs):
    X, y = blobs
    clf = DescendClassifier((8,), max_epochs=3, random_state=0).fit(X, y)  # float32 network
    p64, p32 = clf.predict_proba(X), clf.predict_proba(X.astype(np.float32))
    assert p64.dtype == np.float64 and p32.dtype == np.float32
    np.testing.assert_allclose(p64, p32, rtol=1e-5, atol=1e-6)
    W, b = [w.astype(np.float64) for w in clf.coefs_], [c.astype(np.float64) for c in clf.intercepts_]
    logits = np.maximum(X @ W[0] + b[0], 0) @ W[1] + b[1]
    np.testing.assert_allclose(np.log(p64), logits - np.log(np.exp(logits).sum(1, keepdims=True)), rtol=1e-12)
    # A row's prediction does not depend on the rows predicted with it (to float64 rounding).
    rows = np.concatenate([clf.predict_proba(X[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(rows, p64[:5], rtol=1e-13)


def test_no_hidden_layer_is_logistic_regression(blobs):
    X, y = blobs
    clf = DescendClassifier((), max_epochs=50, learning_rate=0.05, random_state=0).fit(X, y)
    assert [w.shape for w in clf.coefs_] == [(4, 3)] and clf.n_layers_ == 2
    assert clf.score(X, y) > 0.9


def test_fitted_attributes(blobs):
    X, y = blobs
    clf = DescendClassifier((7, 5), activation="logistic", max_epochs=3, random_state=0).fit(X, y)
    assert clf.n_features_in_ == 4 and clf.n_layers_ == 4 and clf.n_outputs_ == 3
    assert [w.shape for w in clf.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    assert isinstance(clf.model_, descend.nn.MLP) and clf.model_.activation == "sigmoid"
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.history_.stop_reason == "epochs"
    with pytest.raises(NotFittedError):
        DescendClassifier().predict(X)


def test_pickle_round_trip(blobs):
    X, y = blobs
    clf = DescendClassifier((8,), max_epochs=3, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    again.partial_fit(X, y)  # the optimizer state still refers to the unpickled parameters
    assert again.n_iter_ == 4


# ----------------------------------------------------------------------------- parameter validation
@pytest.mark.parametrize("param,value,match", [
    ("hidden_layer_sizes", (10, 0), "'hidden_layer_sizes' parameter"),
    ("hidden_layer_sizes", "big", "'hidden_layer_sizes' parameter"),
    ("activation", "swish", "'activation' parameter .* one of"),
    ("optimizer", "adamm", "'optimizer' parameter .*adam"),
    ("learning_rate", 0.0, "'learning_rate' parameter"),
    ("learning_rate", "fast", "'learning_rate' parameter"),
    ("optimizer_params", {"betas2": 1}, "no hyperparameter 'betas2'"),
    ("optimizer_params", {"lr": 0.1}, "'learning_rate' parameter"),
    ("optimizer_params", [("momentum", 0.9)], "'optimizer_params' parameter"),
    ("optimizer_params", {"betas": (0.9, 2.0)}, "optimizer_params=.*betas"),
    ("alpha", -1.0, "'alpha' parameter"),
    ("batch_size", 0, "'batch_size' parameter"),
    ("batch_size", "full", "'batch_size' parameter"),
    ("max_epochs", 0, "'max_epochs' parameter"),
    ("max_epochs", 2.5, "'max_epochs' parameter"),
    ("shuffle", "yes", "'shuffle' parameter"),
    ("random_state", -1, "'random_state' parameter"),
    ("tol", float("nan"), "'tol' parameter"),
    ("verbose", -1, "'verbose' parameter"),
    ("early_stopping", 1, "'early_stopping' parameter"),
    ("validation_fraction", 1.0, "'validation_fraction' parameter"),
    ("n_iter_no_change", 0, "'n_iter_no_change' parameter"),
    ("dropout", 1.0, "'dropout' parameter"),
    ("dtype", "int32", "'dtype' parameter"),
    ("dtype", "float16", "'dtype' parameter"),
])
def test_bad_parameters_are_named_at_fit_and_change_nothing(param, value, match, blobs):
    X, y = blobs
    clf = DescendClassifier((4,), max_epochs=2, random_state=0).fit(X, y)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(clf).items()}
    weights = clf.coefs_[0].copy()
    clf.set_params(**{param: value})  # no validation in set_params (sklearn convention)
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, y)
    assert set(vars(clf)) == set(state)
    assert clf.n_iter_ == state["n_iter_"] and clf.loss_curve_ == state["loss_curve_"]
    np.testing.assert_array_equal(clf.coefs_[0], weights)


def test_bad_data_leaves_a_fitted_estimator_as_it_was(blobs):
    X, y = blobs
    clf = DescendClassifier((4,), max_epochs=2, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X[:, :3], np.zeros(len(X)))
    with pytest.raises(ValueError, match="cannot hold out validation_fraction=0.001"):
        clf.set_params(validation_fraction=0.001).fit(X[:, :2], y)
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_early_stopping_needs_a_validation_set():
    X = np.random.default_rng(0).normal(size=(8, 2))
    with pytest.raises(ValueError, match="validation_fraction"):
        DescendClassifier(early_stopping=True, validation_fraction=0.0).fit(X, np.arange(8) % 2)
    with pytest.raises(ValueError, match="validation set is too small"):
        DescendRegressor(early_stopping=True, validation_fraction=0.1).fit(X, np.arange(8.0))
    with pytest.raises(ValueError, match="X_val and y_val together"):
        DescendRegressor().fit(X, np.arange(8.0), X_val=X)


def test_bad_data_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Unknown label type"):
        DescendClassifier().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        DescendClassifier().fit(X, y[:-1])
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DescendRegressor().fit(Xn, X[:, 0])
    clf = DescendClassifier((4,), max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but DescendClassifier is expecting 4"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="float32"):
        DescendRegressor().fit(X, np.full(len(X), 1e300))


# ----------------------------------------------------------------------------- composition
def test_get_set_params_and_clone():
    clf = DescendClassifier((32, 16), optimizer="rmsprop", learning_rate=0.01, optimizer_params={"alpha": 0.9})
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (32, 16) and params["optimizer"] == "rmsprop"
    assert params["optimizer_params"] == {"alpha": 0.9} and params["max_epochs"] == 200
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    assert clf.set_params(max_epochs=7) is clf and clf.max_epochs == 7


def test_pipeline_and_grid_search(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), DescendClassifier(max_epochs=20, learning_rate=0.01, random_state=0))
    grid = GridSearchCV(pipe, {
        "descendclassifier__hidden_layer_sizes": [(4,), (16,)],
        "descendclassifier__optimizer": ["adam", "nesterov"],
    }, cv=3)
    grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert len(grid.cv_results_["params"]) == 4
    assert grid.predict(X).shape == (len(X),)
    assert grid.best_estimator_[-1].loss_curve_


def test_threaded_grid_search_matches_sequential_and_keeps_the_generator(blobs):
    """Fits in threads (joblib's threading backend) each draw from their own generator."""
    from joblib import parallel_backend

    X, y = blobs
    grid = {"dropout": [0.0, 0.3], "hidden_layer_sizes": [(4,), (8,)]}
    est = DescendClassifier(max_epochs=5, random_state=0)
    descend.manual_seed(5)
    expected = np.random.default_rng(5).random(2)
    seq = GridSearchCV(est, grid, cv=2).fit(X, y)
    with parallel_backend("threading", n_jobs=2):
        par = GridSearchCV(est, grid, cv=2).fit(X, y)
    np.testing.assert_array_equal(seq.cv_results_["mean_test_score"], par.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(descend.random.generator().random(2), expected)


def test_two_estimators_fitted_at_once_in_two_threads_equal_sequential_fits(blobs, in_threads):
    X, y = blobs
    make = [lambda: DescendClassifier((16,), dropout=0.3, max_epochs=15, random_state=1),
            lambda: DescendRegressor((8,), optimizer="lbfgs", max_epochs=10, random_state=2,
                                     dtype="float64")]
    targets = [y, X[:, 0] * 2.0 - X[:, 1]]
    sequential = [m().fit(X, t) for m, t in zip(make, targets, strict=True)]
    descend.manual_seed(7)
    expected = np.random.default_rng(7).random(2)
    for _ in range(3):  # interleavings differ from run to run
        threaded = in_threads([lambda m=m, t=t: m().fit(X, t) for m, t in zip(make, targets, strict=True)])
        for a, b in zip(sequential, threaded, strict=True):
            assert a.loss_curve_ == b.loss_curve_
            for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
                np.testing.assert_array_equal(wa, wb)
    # the estimators never touched this thread's generator
    np.testing.assert_array_equal(descend.random.generator().random(2), expected)


def test_user_guide_example_runs(tmp_path, monkeypatch):
    """The first example of docs/sklearn.md, as written: it fits, scores and draws its curves."""
    pytest.importorskip("matplotlib")
    import pathlib
    import re

    guide = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sklearn.md"
    code = re.search(r"```python\n(.*?)```", guide.read_text(), re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(guide), "exec"), namespace)  # the project's own guide
    assert namespace["clf"].score(namespace["X_test"], namespace["y_test"]) > 0.96
    mlp = namespace["mlp"]
    assert len(mlp.validation_scores_) == len(mlp.loss_curve_) == 100
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "descend.sklearn")
    with pytest.raises(ImportError, match=r"pip install 'descend\[sklearn\]'"):
        importlib.import_module("descend.sklearn")
