"""One optimizer step, descend against torch.optim, on 3 million float32 parameters.

The parameters are 30 arrays (10 of 200,000, 10 of 80,000 and 10 of 20,000
values; ``--scale F`` multiplies every size by F) with fixed gradients. With
``--layout flat`` descend's parameters are consecutive views of one array and
their gradients of another (the layout of descend's traced training step,
which lets an optimizer update a group in one pass); torch's stay separate. For each optimizer the script times
``optimizer.step()`` of descend and of torch.optim's default CPU
implementation, alternating the two step by step so that both see the same
machine load, and prints the median times and the ratio descend / torch
(target: <= 1.5). With ``--rounds R`` the whole table is measured R times and
the summary gives each ratio's median and range over the rounds (on a shared
machine a single round can be off either way). L-BFGS is timed with a closure
that returns a constant loss and leaves the gradients as they are (one
iteration per step, the same work in both).

The two libraries alternate in blocks of ``--block`` steps (default 4), and
the first step of each block is not timed: idle worker threads do not go to
sleep at once (torch's OpenMP threads spin for milliseconds after a parallel
region), so the first step after the other library's block shares the cores
with that library's threads, which a program using one library never sees.
descend's optimizers start no threads: their rules are NumPy loops on the
calling thread (only the finiteness probe, a dot product, may run on BLAS's
threads). ``--pause S`` sleeps S seconds before every block instead, so that
each library starts with the other's threads asleep.

``--blas-threads N`` limits NumPy's BLAS to N threads for the run, with
threadpoolctl: thread counts are the caller's choice, never descend's.

Run:  python benchmarks/optim.py [--rounds R] [--repeats N] [--block K] [--pause S] [--only adam,sgd]
                                 [--layout separate|flat] [--scale F] [--blas-threads N] [--torch-threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np

import descend
from descend import optim

SIZES = [200_000] * 10 + [80_000] * 10 + [20_000] * 10  # 3,000,000 in 30 arrays (before --scale)

# registry name -> (descend hyperparameters, torch class name, torch hyperparameters)
CASES = {
    "sgd": ({"lr": 1e-3}, "SGD", {"lr": 1e-3}),
    "momentum": ({"lr": 1e-3, "momentum": 0.9}, "SGD", {"lr": 1e-3, "momentum": 0.9}),
    "nesterov": ({"lr": 1e-3, "momentum": 0.9, "nesterov": True}, "SGD",
                 {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    "adagrad": ({}, "Adagrad", {}),
    "rmsprop": ({}, "RMSprop", {}),
    "adadelta": ({}, "Adadelta", {}),
    "adam": ({}, "Adam", {}),
    "adamw": ({}, "AdamW", {}),
    "adamax": ({}, "Adamax", {}),
    "nadam": ({}, "NAdam", {}),
    "radam": ({}, "RAdam", {}),
    "lbfgs": ({}, "LBFGS", {}),
}


def _data(sizes, seed: int = 0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    grads = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    return values, grads


def _views(arrays):
    """Copies of ``arrays`` that are consecutive views of one new array."""
    whole = np.concatenate(arrays)
    bounds = np.cumsum([0] + [a.size for a in arrays]).tolist()
    return [whole[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _descend_step(name, values, grads, flat=False):
    params = [descend.tensor(v.copy(), requires_grad=True) for v in values]
    if flat:
        for p, v in zip(params, _views(values), strict=True):
            p.data = v
        grads = _views(grads)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    hp = CASES[name][0]
    opt = optim.get(name, params, **hp)
    if name == "lbfgs":
        return lambda: opt.step(lambda: 1.0)
    return opt.step


def _torch_step(name, values, grads, torch):
    params = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.from_numpy(g.copy())
    _, cls, hp = CASES[name]
    opt = getattr(torch.optim, cls)(params, **hp)
    if name == "lbfgs":
        constant = torch.tensor(1.0)
        return lambda: opt.step(lambda: constant)
    return opt.step


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _block(step, k, pause=0.0):
    """After ``pause`` seconds, run ``step`` ``k`` times; the times of all but the first
    (which follows the other library)."""
    if pause:
        time.sleep(pause)  # the other library's idle threads go to sleep
    step()
    return [_time(step) for _ in range(k - 1)]


def _round(names, values, grads, torch, repeats, block, pause, flat):
    """{name: (descend seconds, torch seconds or None)}: medians over ``repeats`` alternating blocks."""
    out = {}
    for name in names:
        ours = _descend_step(name, values, grads, flat)
        theirs = _torch_step(name, values, grads, torch) if torch is not None else None
        for _ in range(3):  # warm up: state allocation, caches
            ours()
            if theirs is not None:
                theirs()
        t_ours, t_theirs = [], []
        for _ in range(repeats):
            t_ours += _block(ours, block, pause if theirs is not None else 0.0)
            if theirs is not None:
                t_theirs += _block(theirs, block, pause)
        out[name] = (statistics.median(t_ours), statistics.median(t_theirs) if t_theirs else None)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="blocks per library, optimizer and round")
    parser.add_argument("--block", type=int, default=4, help="steps per block, the first untimed (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="measure the whole table this many times")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds to sleep before each block, so that the other library's idle "
                             "threads are asleep (default 0: alternate at once)")
    parser.add_argument("--only", default=None, help="comma-separated registry names to run")
    parser.add_argument("--layout", choices=("separate", "flat"), default="separate",
                        help="descend's parameters: separate arrays, or views of one array (the traced step's)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every array size by this")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit NumPy's BLAS to this many threads (threadpoolctl; default: as it is)")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rounds < 1 or args.block < 2:
        parser.error("--repeats and --rounds must be positive, --block at least 2")
    if not args.pause >= 0:
        parser.error("--pause must be a non-negative number of seconds")
    if not args.scale > 0:
        parser.error("--scale must be positive")
    if args.blas_threads is not None and args.blas_threads < 1:
        parser.error("--blas-threads must be a positive integer")
    try:
        import torch
    except ImportError:  # descend alone: report absolute times
        torch = None
    names = list(CASES) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"--only: unknown optimizer(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    limits = contextlib.nullcontext()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(args.blas_threads, user_api="blas")
    with limits:
        _report(args, names, torch)


def _report(args, names, torch) -> None:
    sizes = [max(1, round(n * args.scale)) for n in SIZES]
    values, grads = _data(sizes)
    flat = args.layout == "flat"
    print(f"one step() on {sum(sizes):,} float32 parameters in {len(sizes)} arrays ({args.layout}); "
          f"median of {args.repeats} blocks of {args.block - 1} timed steps"
          + (f" after a {args.pause:g} s pause" if args.pause else "") + f", {args.rounds} round(s)")
    if torch is not None:
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        from torch.optim.optimizer import _default_to_fused_or_foreach

        probe = [torch.zeros(1)]
        fused, foreach = _default_to_fused_or_foreach(probe, differentiable=False, use_fused=False)
        impl = "fused" if fused else "foreach (multi-tensor)" if foreach else "for-loop (single-tensor, foreach=False)"
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, default CPU implementation: {impl}")
    print(f"numpy {np.__version__}, descend {descend.__version__}")
    rounds = []
    for r in range(args.rounds):
        result = _round(names, values, grads, torch, args.repeats, args.block, args.pause, flat)
        rounds.append(result)
        if torch is None:
            print(f"round {r + 1}: " + ", ".join(f"{n} {a * 1e3:.2f} ms" for n, (a, _) in result.items()))
        else:
            print(f"round {r + 1}: " + ", ".join(f"{n} {a / b:.2f}" for n, (a, b) in result.items()))
    print()
    if torch is None:
        print(f"{'optimizer':<10} {'descend ms':>11}")
        for name in names:
            print(f"{name:<10} {statistics.median(r[name][0] for r in rounds) * 1e3:11.2f}")
        return
    print(f"{'optimizer':<10} {'descend ms':>11} {'torch ms':>9} {'ratio':>6} {'range':>11}")
    worst = []
    for name in names:
        a = statistics.median(r[name][0] for r in rounds) * 1e3
        b = statistics.median(r[name][1] for r in rounds) * 1e3
        ratios = [r[name][0] / r[name][1] for r in rounds]
        mid = statistics.median(ratios)
        worst.append(mid)
        print(f"{name:<10} {a:11.2f} {b:9.2f} {mid:6.2f} {min(ratios):5.2f}-{max(ratios):.2f}")
    print(f"worst median ratio {max(worst):.2f} (target <= 1.5), geometric mean {statistics.geometric_mean(worst):.2f}")


if __name__ == "__main__":
    main()
