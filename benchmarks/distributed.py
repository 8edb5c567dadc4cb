"""Scaling out on Dask: what a sweep and data-parallel training gain, and what they cost.

Three measurements, each against its single-process peer measured in the same run,
interleaved (serial, cluster, serial, cluster, ...) so that a busy machine slows both alike:

(a) **sweep** - ``--configs`` (64) small training runs (an MLP on 2,000 2-D moons, ``--epochs``
    (16) epochs of mini-batch Adam, about 0.3 s each) run one after the other in this
    process, then as a ``descend.distributed.sweep`` on a ``--workers`` (2) LocalCluster of
    processes started beforehand. Reported: the median speed-up and the per-task overhead
    of the cluster, measured as the time per task of a sweep of no-op runs.
(b) **data-parallel step** - ``descend.train.fit`` against ``descend.distributed.fit`` on the
    same cluster, for an MLP of 270k parameters (784-300-100-10) and one of 3.0M
    (784-1500-1200-10), at several batch sizes: the time per optimizer step (second epoch,
    warm), the overhead per step (``t_parallel - t_single / workers``) and the smallest
    batch size from which data-parallel steps are faster (the break-even).
(c) **out-of-core epoch** - one shuffled epoch of ``descend.distributed.fit`` with the data
    as a ``dask.array`` read from ``.npy`` chunk files (memory-mapped, ``da.from_npy_stack``)
    against the same epoch with the data in memory as NumPy arrays.

Every process uses one BLAS thread (the cluster's workers run one thread each), so the
comparison is process against process; ``--threads 0`` leaves the single-process BLAS at
its default instead.

Run:  python benchmarks/distributed.py [--workers 2] [--configs 64] [--repeats 3] [--parts abc]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

# This file is called distributed.py: keep its folder off the import path, or it would be
# imported in place of Dask's ``distributed`` (here and in the worker processes spawned).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

# One BLAS thread before NumPy loads (the workers get the same from Dask's nanny).
_THREADS = "1"
if "--threads" in sys.argv:
    _THREADS = sys.argv[sys.argv.index("--threads") + 1]
if _THREADS != "0":
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = _THREADS

import numpy as np  # noqa: E402 - after the thread variables above, which NumPy reads on import


# ----------------------------------------------------------------------------- (a) sweep
def sweep_run(config):
    """One small training run: an MLP on noisy moons, mini-batch Adam."""
    import descend
    from descend import data, nn, optim, train

    descend.manual_seed(config["seed"])
    X, y = data.make_moons(n_samples=2000, noise=0.2, seed=config["seed"])
    model = nn.MLP([2, config["hidden"], 2])
    hist = train.fit(model, (X, y), loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=config["lr"]),
                     batch_size=32, epochs=config["epochs"], seed=config["seed"], progress=False,
                     metrics=("loss", "accuracy"))
    return {"train_loss": hist.epochs[-1]["train_loss"], "train_accuracy": hist.epochs[-1]["train_accuracy"]}


def noop_run(config):
    return {"seed": config["seed"]}


def sweep_configs(n, epochs):
    grid = [{"lr": lr, "hidden": h, "seed": s, "epochs": epochs}
            for lr in (1e-3, 3e-3, 1e-2, 3e-2) for h in (16, 32) for s in range(max(1, n // 8))]
    return grid[:n]


def bench_sweep(client, args):
    from descend import distributed as dd

    configs = sweep_configs(args.configs, args.epochs)
    assert len(configs) == args.configs, "--configs must be a multiple of 8"
    dd.sweep(sweep_run, configs=configs[:4], cluster=client, progress=False)  # warm the workers
    serial, parallel, run_here, run_there = [], [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        local = [dd.run_config(sweep_run, c, i) for i, c in enumerate(configs)]
        serial.append(time.perf_counter() - t)
        res = dd.sweep(sweep_run, configs=configs, cluster=client, progress=False)
        parallel.append(res.wall_time)
        run_here += [r["wall_time"] for r in local]
        run_there += [r["wall_time"] for r in res]
        assert [r["result"] for r in res] == [r["result"] for r in local], "a sweep must equal the serial runs"
    noop = []
    for _ in range(args.repeats):
        res = dd.sweep(noop_run, configs=[{"seed": i} for i in range(args.configs)], cluster=client, progress=False)
        noop.append(res.wall_time / args.configs)
    speedups = [s / p for s, p in zip(serial, parallel, strict=True)]
    print(f"\n(a) sweep of {args.configs} training runs, {args.workers} workers, {args.repeats} repeats")
    print(f"    serial   {statistics.median(serial):7.2f} s   ({statistics.median(serial) / args.configs * 1e3:.0f} ms "
          f"per run)")
    print(f"    sweep    {statistics.median(parallel):7.2f} s")
    print(f"    speed-up {statistics.median(speedups):7.2f} x  (each repeat: {', '.join(f'{s:.2f}' for s in speedups)};"
          f" ideal {args.workers})")
    print(f"    overhead {statistics.median(noop) * 1e3:7.2f} ms per task (a sweep of no-op runs, wall time / tasks)")
    print(f"    one run  {statistics.median(run_here) * 1e3:7.1f} ms here, {statistics.median(run_there) * 1e3:.1f} ms "
          f"on a worker (median; the difference is CPU contention)")
    return {"serial_s": serial, "sweep_s": parallel, "speedup": speedups, "noop_ms_per_task": [x * 1e3 for x in noop],
            "run_here_s": run_here, "run_on_worker_s": run_there}


# ----------------------------------------------------------------------------- (b) data-parallel steps
MODELS = {"270k": [784, 300, 100, 10], "3.0M": [784, 1500, 1200, 10]}


def make_model(sizes):
    from descend import nn

    return nn.MLP(sizes)


def sgd(params):
    from descend import optim

    return optim.SGD(params, lr=0.01, momentum=0.9)


def bench_steps(client, args):
    import descend
    from descend import distributed as dd
    from descend import train

    print(f"\n(b) time per optimizer step, single process vs data-parallel on {args.workers} workers "
          f"(second epoch of {args.steps} steps)")
    print(f"    {'model':>6} {'params':>9} {'batch':>6} {'single ms':>10} {'parallel ms':>12} {'speed-up':>9} "
          f"{'overhead ms':>12}")
    out = []
    for name in args.models:
        sizes = MODELS[name]
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        breakeven = None
        for bs in args.batches:
            rng = np.random.default_rng(0)
            n = bs * args.steps
            X = rng.normal(size=(n, 784)).astype(np.float32)
            y = rng.integers(0, 10, n)
            single, parallel = [], []
            for _ in range(args.repeats):
                descend.manual_seed(0)
                model = make_model(sizes)
                h = train.fit(model, (X, y), loss="cross_entropy", optimizer=sgd(model.parameters()),
                              batch_size=bs, epochs=2, seed=0, progress=False)
                single.append(h.epochs[1]["epoch_time"] / args.steps)
                m = dd.fit(lambda s=sizes: make_model(s), (X, y), loss="cross_entropy", optimizer=sgd,
                           batch_size=bs, epochs=2, seed=0, cluster=client, progress=False)
                parallel.append(m.history.epochs[1]["epoch_time"] / args.steps)
            ts, tp = statistics.median(single), statistics.median(parallel)
            overhead = tp - ts / args.workers
            if breakeven is None and tp < ts:
                breakeven = bs
            print(f"    {name:>6} {n_params:>9,} {bs:>6} {ts * 1e3:>10.1f} {tp * 1e3:>12.1f} {ts / tp:>8.2f}x "
                  f"{overhead * 1e3:>12.1f}")
            out.append({"model": name, "params": n_params, "batch": bs, "single_s": single, "parallel_s": parallel})
        print(f"    {name}: data-parallel steps are faster from batch size "
              f"{breakeven if breakeven is not None else '> ' + str(args.batches[-1])}")
    return out


# ----------------------------------------------------------------------------- (c) out of core
def bench_out_of_core(client, args):
    import dask.array as da

    from descend import distributed as dd

    n, d, chunk, bs = args.rows, 784, args.chunk, 1024
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, 10, n)
    sizes = MODELS["270k"]
    with tempfile.TemporaryDirectory(prefix="descend-bench-") as tmp:
        da.to_npy_stack(os.path.join(tmp, "X"), da.from_array(X, chunks=(chunk, d)))
        da.to_npy_stack(os.path.join(tmp, "y"), da.from_array(y, chunks=(chunk,)))
        Xd = da.from_npy_stack(os.path.join(tmp, "X"), mmap_mode="r")
        yd = da.from_npy_stack(os.path.join(tmp, "y"), mmap_mode="r")
        mem, disk = [], []
        for _ in range(args.repeats):
            for store, data in ((mem, (X, y)), (disk, (Xd, yd))):
                m = dd.fit(lambda: make_model(sizes), data, loss="cross_entropy", optimizer=sgd, batch_size=bs,
                           epochs=2, seed=0, cluster=client, progress=False)
                store.append(m.history.epochs[1]["epoch_time"])
    tm, td = statistics.median(mem), statistics.median(disk)
    print(f"\n(c) one shuffled epoch, {n:,} x {d} float32 ({X.nbytes / 2**20:.0f} MiB), batch {bs}, "
          f"{args.workers} workers, 270k-parameter MLP")
    print(f"    in memory (NumPy, scattered once)        {tm:7.2f} s")
    print(f"    out of core (dask.array, {chunk}-row .npy chunks, mmap) {td:7.2f} s   ({td / tm:.2f}x)")
    return {"memory_s": mem, "dask_s": disk}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=16, help="epochs of each run in (a)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8, help="steps per epoch in (b)")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024, 4096])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="models in (b)")
    ap.add_argument("--rows", type=int, default=65536, help="examples in (c)")
    ap.add_argument("--chunk", type=int, default=8192, help="rows per chunk file in (c)")
    ap.add_argument("--parts", default="abc")
    ap.add_argument("--threads", default="1", help="BLAS threads of this process (0: library default)")
    args = ap.parse_args()

    from descend import distributed as dd

    print(f"descend.distributed benchmark: {os.cpu_count()} CPUs, {args.workers} worker processes, "
          f"BLAS threads here: {_THREADS if _THREADS != '0' else 'default'}")
    t = time.perf_counter()
    with dd.client(n_workers=args.workers, set_as_default=False) as client:
        print(f"LocalCluster started in {time.perf_counter() - t:.2f} s")
        if "a" in args.parts:
            bench_sweep(client, args)
        if "b" in args.parts:
            bench_steps(client, args)
        if "c" in args.parts:
            bench_out_of_core(client, args)


if __name__ == "__main__":
    main()
