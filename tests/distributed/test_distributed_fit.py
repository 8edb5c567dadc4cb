"""Data-parallel ``descend.distributed.fit`` on a 2-worker LocalCluster of processes.

The central check: the same global batches, order and seed give the same parameters as
single-process ``descend.train.fit`` (float64, relative 1e-9; with one worker, bit for bit).
"""

import os
import signal
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
da = pytest.importorskip("dask.array")

import descend  # noqa: E402 (after the optional-dependency check above)
from descend import distributed as dd  # noqa: E402 (after the optional-dependency check above)
from descend import nn, optim, train  # noqa: E402 (after the optional-dependency check above)

# The workers import this module's helpers by value: the test folder is not on their path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

N, D, K = 203, 5, 3  # 203 examples: the last batch of 16 is partial


@pytest.fixture(scope="module")
def cluster():
    with dd.client(n_workers=2, threads_per_worker=1, set_as_default=False) as c:
        assert len(c.scheduler_info(n_workers=-1)["workers"]) == 2
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X, y


def factory():
    return nn.MLP([D, 12, K], dtype=np.float64)


def sgd_momentum(params):
    return optim.SGD(params, lr=0.1, momentum=0.9)


def single(data, seed, opt, **kw):
    descend.manual_seed(seed)
    model = factory()
    hist = train.fit(model, data, loss="cross_entropy", optimizer=opt(model.parameters()), seed=seed,
                     progress=False, **kw)
    return model, hist


def assert_close_params(a, b, rtol=1e-9):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_allclose(np.asarray(sb[k]), np.asarray(sa[k]), rtol=rtol, atol=1e-12, err_msg=k)


def assert_same_history(h1, h2, rtol=1e-9):
    assert h2.stop_reason == h1.stop_reason
    assert len(h2.step_loss) == len(h1.step_loss)
    np.testing.assert_allclose(h2.step_loss, h1.step_loss, rtol=rtol)
    np.testing.assert_allclose(h2.step_grad_norm, h1.step_grad_norm, rtol=rtol)
    assert h2.step_lr == h1.step_lr
    assert len(h2.epochs) == len(h1.epochs)
    for r1, r2 in zip(h1.epochs, h2.epochs, strict=True):
        assert set(r1) == set(r2)
        for k in r1:
            if k in ("time", "epoch_time"):
                continue
            assert r2[k] == pytest.approx(r1[k], rel=rtol), k


def test_two_workers_match_single_process_fit(cluster, data):
    kw = {"batch_size": 16, "epochs": 3, "shuffle": True, "metrics": ("loss", "accuracy")}
    ref, h1 = single(data, 3, sgd_momentum, **kw)
    model = dd.fit(factory, data, loss="cross_entropy", optimizer=sgd_momentum, seed=3, cluster=cluster,
                   progress=False, **kw)
    assert isinstance(model, nn.MLP)
    assert_close_params(ref, model)
    assert_same_history(h1, model.history)
    assert model.history.stop_reason == "epochs" and model.history.steps == 3 * 13


def test_one_worker_is_bit_identical(cluster, data):
    kw = {"batch_size": 32, "epochs": 2}
    ref, h1 = single(data, 5, lambda p: optim.Adam(p, lr=0.01), **kw)
    model = dd.fit(factory, data, loss="cross_entropy", optimizer=lambda p: optim.Adam(p, lr=0.01), seed=5,
                   cluster=cluster, n_workers=1, progress=False, **kw)
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(np.asarray(model.state_dict()[k]), np.asarray(v), err_msg=k)
    assert model.history.step_loss == h1.step_loss


def test_scheduler_validation_and_max_steps_match(cluster, data):
    X, y = data
    val = (X[:40], y[:40])
    train_part = (X[40:], y[40:])

    def adam(p):
        return optim.Adam(p, lr=0.05)

    def step_lr(o):
        return optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)

    kw = {"batch_size": 20, "epochs": 4, "max_steps": 21, "metrics": ("loss", "accuracy")}
    descend.manual_seed(1)
    ref = factory()
    opt = adam(ref.parameters())
    h1 = train.fit(ref, train_part, loss="cross_entropy", optimizer=opt, scheduler=step_lr(opt),
                   validation=val, seed=1, progress=False, **kw)
    model = dd.fit(factory, train_part, loss="cross_entropy", optimizer=adam, scheduler=step_lr,
                   validation=val, seed=1, cluster=cluster, progress=False, **kw)
    assert h1.stop_reason == "max_steps" and h1.steps == 21  # stopped inside the third epoch
    assert_close_params(ref, model)
    assert_same_history(h1, model.history)
    assert [r["lr"] for r in model.history.epochs] == [0.05, 0.025, 0.0125]
    assert "val_accuracy" in model.history.epochs[-1]


def test_divergence_restores_like_fit(cluster, data):
    Xr = data[0]
    yr = (Xr @ np.arange(1.0, D + 1))[:, None]  # regression: MSE blows up with a big lr

    def big_sgd(p):
        return optim.SGD(p, lr=5.0)

    descend.manual_seed(2)
    ref = nn.MLP([D, 8, 1], dtype=np.float64)
    with pytest.warns(train.DivergenceWarning):
        h1 = train.fit(ref, (Xr, yr), loss="mse", optimizer=big_sgd(ref.parameters()), batch_size=50,
                       epochs=20, seed=2, progress=False)
    with pytest.warns(train.DivergenceWarning, match="diverged"):
        model = dd.fit(lambda: nn.MLP([D, 8, 1], dtype=np.float64), (Xr, yr), loss="mse", optimizer=big_sgd,
                       batch_size=50, epochs=20, seed=2, cluster=cluster, progress=False)
    assert model.history.stop_reason == h1.stop_reason == "diverged"
    assert model.history.steps == h1.steps
    assert model.history.stop_message == h1.stop_message
    assert_close_params(ref, model)
    assert all(np.isfinite(np.asarray(v)).all() for v in model.state_dict().values())


class GuardedArray:
    """An on-disk array (opened by path on whichever process reads it) that refuses big reads."""

    def __init__(self, path, limit):
        self.path, self.limit = str(path), limit
        arr = np.load(self.path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = arr.shape, arr.dtype, arr.ndim

    def __getitem__(self, key):
        arr = np.load(self.path, mmap_mode="r")
        rows = key[0] if isinstance(key, tuple) else key
        n = len(range(*rows.indices(self.shape[0]))) if isinstance(rows, slice) else np.size(rows)
        if n > self.limit:
            raise AssertionError(f"read {n} rows at once from {self.path} (limit {self.limit})")
        return np.asarray(arr[key])

    def __reduce__(self):
        return (GuardedArray, (self.path, self.limit))


def test_dask_array_out_of_core_matches_in_memory(cluster, data, tmp_path):
    X, y = data
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    chunk = 25
    Xd = da.from_array(GuardedArray(tmp_path / "X.npy", chunk), chunks=(chunk, D))
    yd = da.from_array(GuardedArray(tmp_path / "y.npy", chunk), chunks=(chunk,))
    kw = {"batch_size": 16, "epochs": 2, "shuffle": True}
    ref, h1 = single(data, 4, sgd_momentum, **kw)
    model = dd.fit(factory, (Xd, yd), loss="cross_entropy", optimizer=sgd_momentum, seed=4, cluster=cluster,
                   progress=False, **kw)
    assert_close_params(ref, model)
    assert_same_history(h1, model.history)
    # unshuffled: batches are contiguous slices, read chunk by chunk
    ref2, _ = single(data, 4, sgd_momentum, batch_size=16, epochs=1, shuffle=False)
    model2 = dd.fit(factory, (Xd, yd), loss="cross_entropy", optimizer=sgd_momentum, seed=4, cluster=cluster,
                    progress=False, batch_size=16, epochs=1, shuffle=False)
    assert_close_params(ref2, model2)


def test_dask_array_with_a_bad_value_is_reported(cluster, data, tmp_path):
    X, y = data
    X = X.copy()
    X[150, 2] = np.nan
    Xd, yd = da.from_array(X, chunks=(50, D)), da.from_array(y, chunks=(50,))
    with pytest.raises(ValueError, match="non-finite"):
        dd.fit(factory, (Xd, yd), loss="cross_entropy", optimizer=sgd_momentum, batch_size=16, epochs=1,
               seed=0, cluster=cluster, progress=False)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"model_factory": factory()}, TypeError, "model_factory must be a function"),
    ({"optimizer": optim.SGD(factory().parameters(), lr=0.1)}, TypeError, "not an instance"),
    ({"loss": nn.CrossEntropyLoss(weight=np.ones(K))}, ValueError, "weighted average"),
    ({"loss": nn.CrossEntropyLoss(reduction="sum")}, ValueError, "reduction='mean'"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"epochs": None}, ValueError, "another stopping rule"),
    ({"split_every": 1}, ValueError, "split_every"),
])
def test_bad_arguments_fail_before_anything_runs(data, kwargs, error, match):
    args = {"model_factory": factory, "loss": "cross_entropy", "optimizer": sgd_momentum, "batch_size": 16, "epochs": 1}
    args.update(kwargs)
    mf = args.pop("model_factory")
    # cluster is a closed address: reaching it would be a failure of its own
    with pytest.raises(error, match=match):
        dd.fit(mf, data, cluster="tcp://127.0.0.1:1", progress=False, **args)


def test_bad_data_fails_before_anything_runs(data):
    X, y = data
    loader = descend.data.DataLoader((X, y), batch_size=8)
    with pytest.raises(TypeError, match="DataLoader"):
        dd.fit(factory, loader, loss="cross_entropy", optimizer=sgd_momentum, cluster="tcp://127.0.0.1:1")
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        dd.fit(factory, (bad, y), loss="cross_entropy", optimizer=sgd_momentum, cluster="tcp://127.0.0.1:1")


class KillingLoss:
    """Cross-entropy that kills the worker process of one replica, at its ``at``-th call."""

    def __init__(self, marker, at):
        self.marker, self.at, self.calls = str(marker), at, 0

    def __call__(self, out, target):
        self.calls += 1
        if self.calls == self.at:
            try:  # O_EXCL: only the first replica to get here dies
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return nn.functional.cross_entropy(out, target)


def test_a_dead_worker_stops_training_with_a_clear_error(cluster, data, tmp_path):
    loss = KillingLoss(tmp_path / "killed", at=5)
    with pytest.raises(RuntimeError, match="left the cluster"):
        dd.fit(factory, data, loss=loss, optimizer=sgd_momentum, batch_size=16, epochs=3, seed=0,
               cluster=cluster, progress=False)
    assert (tmp_path / "killed").exists()
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts it for the tests after this one


def test_replicas_are_released(cluster, data):
    dd.fit(factory, data, loss="cross_entropy", optimizer=sgd_momentum, batch_size=64, epochs=1, seed=0,
           cluster=cluster, progress=False)
    from descend.distributed import data_parallel

    left = cluster.run(lambda: len(data_parallel._REPLICAS))
    assert set(left.values()) == {0}


def test_plateau_scheduler_gets_the_validation_loss(cluster, data):
    X, y = data
    val = (X[:30], y[:30])

    def opt(p):
        return optim.SGD(p, lr=1.0, momentum=0.9)

    def plateau(o):
        return optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5)

    descend.manual_seed(1)
    ref = factory()
    o = opt(ref.parameters())
    h1 = train.fit(ref, data, loss="cross_entropy", optimizer=o, scheduler=plateau(o), validation=val,
                   batch_size=32, epochs=6, seed=1, progress=False)
    model = dd.fit(factory, data, loss="cross_entropy", optimizer=opt, scheduler=plateau, validation=val,
                   batch_size=32, epochs=6, seed=1, cluster=cluster, progress=False)
    assert [r["lr"] for r in model.history.epochs] == [r["lr"] for r in h1.epochs]
    assert len({r["lr"] for r in h1.epochs}) > 1  # the schedule did cut the learning rate
    assert_close_params(ref, model)
