"""Scaling out on Dask (extra ``distributed``): many runs at once, or one run on many workers.

* :func:`client` - an embedded ``LocalCluster`` of worker processes, or any running Dask
  deployment (``"tcp://host:8786"``, a scheduler file);
* :func:`sweep` - independent runs (hyperparameter grids, seeds, optimizers) as Dask tasks,
  collected in a :class:`SweepResult` (``to_csv``, ``best``); a failing configuration is
  recorded, a lost worker's runs are run again elsewhere;
* :func:`fit` - synchronous data-parallel mini-batch gradient descent: the same parameters as
  single-process :func:`descend.train.fit`, with the data sharded across the workers
  (a ``dask.array`` is read chunk by chunk, never whole).

``descend.search.multistart`` and ``descend.landscapes.basins`` take ``cluster=`` and split
their starts across the workers. Every entry point takes ``cluster=`` (None: a local
cluster, an address, a scheduler file, a Client or a cluster object) and ``n_workers=``.

::

    from descend import distributed

    if __name__ == "__main__":  # Dask's worker processes import the script again
        with distributed.client(n_workers=2) as c:
            result = distributed.sweep(run, {"lr": [1e-3, 1e-2], "seed": [0, 1]}, cluster=c)
"""

from __future__ import annotations

from .cluster import require_distributed

require_distributed()  # a clear ImportError naming the extra, before anything else

from .cluster import ClusterStartError, client, connect, worker_addresses  # noqa: E402 (after the optional-dependency check above)
from .data_parallel import fit  # noqa: E402 (after the optional-dependency check above)
from .sweep import ParameterGrid, SweepResult, run_config, sweep  # noqa: E402 (after the optional-dependency check above)

__all__ = ["client", "connect", "ClusterStartError", "worker_addresses", "sweep", "SweepResult", "ParameterGrid", "run_config",
           "fit"]
