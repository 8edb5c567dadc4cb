import math

import numpy as np
import pytest

import descend
from descend import nn, optim
from descend.data import DataLoader, Dataset
from descend.train import History, evaluate, fit

from ._helpers import assert_same_params, params_of, small_mlp


def _line_model():
    m = nn.Linear(1, 1, bias=False)
    m.weight.data[...] = 0.0
    return m


def test_batch_gradient_descent_matches_the_update_rule(linear_data):
    X, y = linear_data
    m = _line_model()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.01), batch_size=None,
            epochs=50, shuffle=False, progress=False)
    # theta <- theta - lr * dL/dtheta with L = mean((theta x - y)^2), by hand in float64
    theta = 0.0
    x, t = X[:, 0].astype(np.float64), y[:, 0].astype(np.float64)
    losses = []
    for _ in range(50):
        losses.append(np.mean((theta * x - t) ** 2))
        theta -= 0.01 * np.mean(2 * x * (theta * x - t))
    assert h.steps == 50 and len(h.epochs) == 50
    np.testing.assert_allclose(m.weight.data[0, 0], theta, rtol=1e-5)
    np.testing.assert_allclose(h.step_loss, losses, rtol=1e-4)
    # the gradient norm is |dL/dtheta| before each step
    theta0_grad = abs(np.mean(2 * x * (0 * x - t)))
    np.testing.assert_allclose(h.step_grad_norm[0], theta0_grad, rtol=1e-5)
    assert h.step_lr == [0.01] * 50
    assert h.stop_reason == "epochs"


@pytest.mark.parametrize("batch_size, steps_per_epoch", [(None, 1), (1, 40), (16, 3), (40, 1)])
def test_batch_size_picks_the_flavour(linear_data, batch_size, steps_per_epoch):
    X, y = linear_data
    m = _line_model()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.01),
            batch_size=batch_size, epochs=3, progress=False, seed=0)
    assert h.steps == 3 * steps_per_epoch
    assert len(h.step_loss) == len(h.step_lr) == len(h.step_grad_norm) == h.steps
    assert [r["step"] for r in h.epochs] == [steps_per_epoch * (i + 1) for i in range(3)]
    # the epoch loss is the example-weighted mean of the step losses
    sizes = [min(batch_size or 40, 40 - i * (batch_size or 40)) for i in range(steps_per_epoch)]
    ep0 = np.dot(h.step_loss[:steps_per_epoch], sizes) / 40
    np.testing.assert_allclose(h.epochs[0]["train_loss"], ep0, rtol=1e-12)
    assert 0.1 < m.weight.data[0, 0] < 2.0  # moving towards the answer, 2


def test_sgd_converges_to_two(linear_data):
    X, y = linear_data
    m = _line_model()
    fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.05), batch_size=1,
        epochs=20, progress=False, seed=0)
    np.testing.assert_allclose(m.weight.data[0, 0], 2.0, atol=1e-4)


def test_same_seed_same_run_and_other_seed_other_run(blobs):
    X, y = blobs
    runs = []
    for seed in (1, 1, 2):
        m = small_mlp(0, dropout=0.2)
        h = fit(m, (X, y), loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(m.parameters(), lr=0.01),
                batch_size=16, epochs=3, progress=False, seed=seed)
        runs.append((params_of(m), h.step_loss))
    assert_same_params(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert runs[0][1] != runs[2][1]


def test_train_as_dataset_tuple_or_loader_are_equivalent(blobs):
    X, y = blobs
    results = []
    for train in ((X, y), Dataset(X, y), DataLoader(Dataset(X, y), batch_size=16, shuffle=True, seed=4)):
        m = small_mlp(0)
        fit(m, train, loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.1),
            batch_size=16, epochs=2, progress=False, seed=4)
        results.append(params_of(m))
    assert_same_params(results[0], results[1])
    assert_same_params(results[0], results[2])


def test_float64_data_is_converted_to_the_model_dtype(blobs):
    X, y = blobs
    m = small_mlp(0)
    h = fit(m, (X.astype(np.float64), y), loss="cross_entropy", optimizer="adam", epochs=2,
            progress=False, seed=0)
    assert all(p.data.dtype == np.float32 for p in m.parameters())
    m2 = small_mlp(0)
    h2 = fit(m2, (X, y), loss="cross_entropy", optimizer="adam", epochs=2, progress=False, seed=0)
    assert h.step_loss == h2.step_loss


def test_float64_model_trains_in_float64(linear_data):
    X, y = linear_data
    m = nn.Linear(1, 1, dtype=np.float64)
    fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.1), batch_size=None,
        epochs=200, progress=False)
    assert m.weight.data.dtype == np.float64
    np.testing.assert_allclose(m.weight.data[0, 0], 2.0, atol=1e-9)


def test_validation_metrics_equal_evaluate_on_the_final_model(blobs):
    X, y = blobs
    m = small_mlp(0)
    Xv, yv = X[:30], y[:30]
    h = fit(m, (X[30:], y[30:]), loss="cross_entropy", optimizer=optim.Adam(m.parameters(), lr=0.01),
            epochs=4, validation=(Xv, yv), metrics=("loss", "accuracy"), progress=False, seed=0)
    last = h.epochs[-1]
    res = evaluate(m, (Xv, yv), loss="cross_entropy", metrics=("loss", "accuracy"))
    assert last["val_loss"] == res["loss"]
    assert last["val_accuracy"] == res["accuracy"]
    pred = m(Xv).data.argmax(axis=1)
    assert res["accuracy"] == np.mean(pred == yv)
    keys = {"epoch", "step", "train_loss", "train_accuracy", "grad_norm", "lr", "time", "epoch_time",
            "val_loss", "val_accuracy"}
    assert set(last) == keys
    assert 0 <= last["train_accuracy"] <= 1
    assert h.epochs[-1]["time"] >= h.epochs[0]["time"] > 0


def test_evaluate_names_itself_for_a_bad_batch_size(blobs):
    with pytest.raises(ValueError, match="^evaluate: batch_size must be a positive integer or None, got 0$"):
        evaluate(small_mlp(0), blobs, loss="cross_entropy", batch_size=0)


def test_train_accuracy_counts_predictions_made_during_the_epoch(blobs):
    X, y = blobs

    m = small_mlp(0)
    # with lr=0 the model never changes: the running train accuracy is the model's accuracy
    h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.0),
            epochs=1, metrics=("accuracy",), progress=False, seed=0)
    correct = np.mean(m(X).data.argmax(1) == y)
    np.testing.assert_allclose(h.epochs[0]["train_accuracy"], correct)


def test_binary_accuracy_thresholds_a_single_logit():
    X, y = descend.data.make_moons(n_samples=100, noise=0.1, seed=0)
    yb = y.astype(np.float32).reshape(-1, 1)
    m = small_mlp(0, sizes=(2, 16, 1))
    h = fit(m, (X, yb), loss="bce_with_logits", optimizer="adam", epochs=2, metrics=["accuracy"],
            validation=(X, yb), progress=False, seed=0)
    acc = np.mean((m(X).data[:, 0] > 0) == (y == 1))
    assert h.epochs[-1]["val_accuracy"] == acc


def test_mae_metric(linear_data):
    X, y = linear_data
    m = _line_model()
    h = fit(m, (X, y), loss="mse", optimizer=optim.SGD(m.parameters(), lr=0.0), batch_size=None,
            epochs=1, metrics=("loss", "mae"), validation=(X, y), progress=False)
    np.testing.assert_allclose(h.epochs[0]["val_mae"], np.mean(np.abs(y)), rtol=1e-6)
    np.testing.assert_allclose(h.epochs[0]["train_mae"], np.mean(np.abs(y)), rtol=1e-6)


def test_optimizer_and_loss_by_name(blobs):
    X, y = blobs
    m = small_mlp(0)
    h = fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=1, progress=False, seed=0)
    assert h.step_lr[0] == optim.SGD(m.parameters()).param_groups[0]["lr"]


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": None}, ValueError, "another stopping rule"),
    ({"max_steps": -1}, ValueError, "max_steps"),
    ({"tol": -1.0}, ValueError, "tol"),
    ({"max_time": 0}, ValueError, "max_time"),
    ({"patience": 2}, ValueError, "validation"),
    ({"metrics": ("loss", "f1")}, ValueError, "unknown metric 'f1'"),
    ({"loss": "hinge"}, ValueError, "unknown loss 'hinge'"),
    ({"loss": nn.MSELoss}, TypeError, "pass an instance"),
    ({"optimizer": optim.SGD}, TypeError, "pass an instance"),
    ({"callbacks": [descend.train.EarlyStopping]}, TypeError, "instances"),
    ({"resume": True}, ValueError, "checkpoint_dir"),
    ({"seed": -1}, ValueError, "seed"),
    ({"scheduler_interval": "batch"}, ValueError, "scheduler_interval"),
])
def test_bad_arguments_fail_before_anything_changes(blobs, kwargs, exc, match):
    X, y = blobs
    m = small_mlp(0)
    before = params_of(m)
    args = {"loss": "cross_entropy", "optimizer": optim.SGD(m.parameters(), lr=0.1), "progress": False}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fit(m, (X, y), **args)
    assert_same_params(before, params_of(m))


def test_train_needs_inputs_and_targets(blobs):
    X, _ = blobs
    m = small_mlp(0)
    with pytest.raises(ValueError, match="inputs and targets"):
        fit(m, (X,), loss="cross_entropy", optimizer="sgd", progress=False)


def test_history_is_returned_and_model_trained_in_place(blobs):
    X, y = blobs
    m = small_mlp(0)
    h = fit(m, (X, y), loss="cross_entropy", optimizer=optim.Adam(m.parameters(), lr=0.02), epochs=15,
            metrics=["accuracy"], progress=False, seed=0)
    assert isinstance(h, History)
    assert h.epochs[-1]["train_loss"] < h.epochs[0]["train_loss"] / 2
    assert np.mean(m(X).data.argmax(1) == y) > 0.9
    assert math.isfinite(h.best_epoch["train_loss"])


def test_the_first_articles_one_dimensional_target():
    # its arrays as written (integers, y 1-D), alpha = 0.01, 1000 iterations of batch gradient descent
    X = np.array([1, 2, 3, 4, 5]).reshape(-1, 1)
    y = np.array([2, 4, 6, 8, 10])
    descend.manual_seed(0)
    model = nn.Linear(1, 1)
    fit(model, (X, y), loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.01), batch_size=None,
        epochs=1000, progress=False)
    assert float(model.weight.data[0, 0]) == pytest.approx(2.0, abs=1e-3)
    assert evaluate(model, (X, y), loss="mse", metrics=("loss",))["loss"] < 1e-6


def test_a_one_dimensional_target_trains_exactly_like_a_column():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    runs = []
    for target in (y, y[:, None]):  # with dropout: the shape probe must draw no random number
        model = small_mlp(1, sizes=(3, 8, 1), dropout=0.2)
        history = fit(model, (X, target), loss="mse", optimizer="sgd", epochs=3, batch_size=8, seed=2,
                      validation=(X[:10], target[:10]), progress=False)
        runs.append((params_of(model), history.epochs[-1]["val_loss"], model.training))
    assert_same_params(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and runs[0][2] and runs[1][2]


def test_targets_that_are_not_one_column_are_left_alone():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)).astype(np.float32)
    labels = (X[:, 0] > 0).astype(np.int64)  # class labels stay 1-D for cross-entropy
    fit(small_mlp(0, sizes=(2, 4, 2)), (X, labels), loss="cross_entropy", optimizer="sgd", epochs=1,
        progress=False)
    # one logit for two classes: 0/1 labels (n,) are that logit's column, accuracy and all
    history = fit(small_mlp(0, sizes=(2, 4, 1)), (X, labels), loss="bce_with_logits", optimizer="sgd",
                  epochs=1, metrics=("loss", "accuracy"), progress=False)
    assert 0 <= history.epochs[-1]["train_accuracy"] <= 1
    with pytest.raises(ValueError, match=r"target has shape \(8,\) but input has shape \(8, 2\)"):
        fit(small_mlp(0, sizes=(2, 4, 2)), (X, X[:, 0]), loss="mse", optimizer="sgd", epochs=1,
            batch_size=8, progress=False)  # two outputs: a 1-D target is ambiguous, still an error


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalized_adds_the_weights_penalty_and_its_gradient(kind):
    from descend.train.metrics import penalized

    w = nn.Parameter(np.array([[1.5, -2.0]], np.float32))
    loss = penalized(lambda out, target: (out * 0).sum(), [w], kind, 0.25)
    total = loss(descend.tensor(np.ones(2, np.float32)), None)
    total.backward()
    expected = 0.25 * (3.5 if kind == "l1" else 1.5**2 + 2.0**2)
    assert total.item() == pytest.approx(expected)
    np.testing.assert_allclose(w.grad, 0.25 * (np.sign(w.data) if kind == "l1" else 2 * w.data))
    with pytest.raises(ValueError, match="penalized: kind must be 'l1' or 'l2', got 'l3'"):
        penalized(loss, [w], "l3", 0.1)
