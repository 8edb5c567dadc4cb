"""``descend.distributed.client``/``connect`` and ``cluster=`` of multistart and basins."""

import json
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from descend import distributed as dd  # noqa: E402 (after the optional-dependency check above)
from descend import landscapes, optim, search  # noqa: E402 (after the optional-dependency check above)

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    with dd.client(n_workers=2, threads_per_worker=1, set_as_default=False) as c:
        yield c


def test_it_is_dask_and_loopback_only(cluster):
    assert distributed.__file__.replace("\\", "/").split("/")[-2] == "distributed"  # Dask's, not tests/
    assert cluster.scheduler.address.startswith("tcp://127.0.0.1:")
    workers = cluster.scheduler_info(n_workers=-1)["workers"]
    assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
    assert all(w["nthreads"] == 1 for w in workers.values())
    pids = cluster.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2  # processes, not threads
    link = cluster.dashboard_link  # the dashboard listens on loopback, on a free port
    assert link.startswith("http://127.0.0.1:") and ":8787/" not in link


def test_connect_uses_a_client_as_is_and_closes_what_it_opens(cluster, tmp_path):
    with dd.connect(cluster) as c:
        assert c is cluster
    assert cluster.status == "running"
    with dd.connect(cluster.scheduler.address) as c:
        assert c is not cluster and c.submit(lambda x: x + 1, 1).result() == 2
    assert c.status == "closed" and cluster.status == "running"
    # a scheduler file, as `dask scheduler --scheduler-file` writes it
    sf = tmp_path / "scheduler.json"
    sf.write_text(json.dumps({"address": cluster.scheduler.address, "type": "Scheduler"}))
    with dd.client(sf, n_workers=2, set_as_default=False) as c:
        assert len(dd.worker_addresses(c)) == 2
        assert dd.worker_addresses(c, n_workers=1) == sorted(c.scheduler_info(n_workers=-1)["workers"])[:1]


@pytest.mark.parametrize("kwargs,error,match", [
    ({"n_workers": 0}, ValueError, "n_workers"),
    ({"threads_per_worker": 0}, ValueError, "threads_per_worker"),
    ({"address": 3}, TypeError, "scheduler address"),
    ({"address": "no-such-file"}, ValueError, "neither a scheduler address"),
])
def test_client_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        dd.client(**kwargs)


def test_connect_refuses_other_things():
    with pytest.raises(TypeError, match="cluster must be"):
        with dd.connect(42):
            pass


def test_multistart_on_the_cluster_is_the_same_search(cluster):
    land = landscapes.get("rastrigin")
    here = search.multistart(land, n_starts=12, seed=1, steps=80, optimizer="momentum")
    there = search.multistart(land, n_starts=12, seed=1, steps=80, optimizer="momentum", cluster=cluster)
    np.testing.assert_array_equal(there.starts, here.starts)
    assert there.best_run == here.best_run and there.fun == here.fun
    np.testing.assert_array_equal(there.x, here.x)
    assert (there.nit, there.nfev, there.njev) == (here.nit, here.nfev, here.njev)
    for a, b in zip(here.runs, there.runs, strict=True):
        np.testing.assert_array_equal(b.path, a.path)
    with pytest.raises(TypeError, match="name or a class"):
        x = landscapes.get("sphere")
        from descend import tensor

        opt = optim.SGD([tensor(np.zeros(2), requires_grad=True)], lr=0.1)
        search.multistart(x, n_starts=2, seed=0, optimizer=opt, cluster=cluster)


@pytest.mark.parametrize("name,optimizer", [("himmelblau", "sgd"), ("six_hump_camel", "adam")])
def test_basins_on_the_cluster_are_the_same_map(cluster, name, optimizer):
    land = landscapes.get(name)
    here = landscapes.basins(land, optimizer=optimizer, steps=150, resolution=(23, 17))
    there = landscapes.basins(land, optimizer=optimizer, steps=150, resolution=(23, 17), cluster=cluster)
    for field in ("labels", "steps", "final", "values", "diverged", "xs", "ys"):
        np.testing.assert_array_equal(getattr(there, field), getattr(here, field), err_msg=field)
    assert there.hyperparameters == here.hyperparameters and there.optimizer == here.optimizer
    assert (there.nfev, there.njev) == (here.nfev, here.njev)


def test_basins_with_a_bad_setting_fails_before_sending_anything(cluster):
    with pytest.raises(ValueError, match="lr"):
        landscapes.basins(landscapes.get("himmelblau"), lr=-1.0, resolution=5, cluster="tcp://127.0.0.1:1")
