"""What does a LeNet-5 training step cost against PyTorch, and how well does the default conv model learn?

Step: LeNet-5 (``descend.nn.LeNet((1, 28, 28), 10)``: conv 5x5 pad 2 -> 6x28x28, max pool,
conv 5x5 -> 16x10x10, max pool, 400-120-84-10, ReLU), softmax cross-entropy and plain SGD
(``lr = 0.01``), on a float32 batch of 64 images of 28x28. Candidates, from the same parameters
(descend's initialisation copied into PyTorch through the state_dict) on the same batch:

    torch   PyTorch eager (nn.Sequential of the same layers, optim.SGD)
    fast    descend.compile.TrainStep: the step traced once and replayed into fixed buffers
    eager   descend's ordinary API: opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()

They run in blocks (warm-up, then ``k`` timed steps whose median is the block's sample) in a
rotating order, round after round, so that all see the same machine load; the table gives the
median block, its range, and each candidate's ratio to torch measured in the same run.
PyTorch uses as many threads as the BLAS library NumPy calls (``--threads``, default: BLAS's
own number as threadpoolctl reports it; both are set to it).

The replayed step is then taken apart: every call of its plan is timed on its own, and the
share of the step spent in matrix products (``np.matmul``: the convolutions' im2col products
and the fully connected layers) is reported, next to the other big items (im2col copies,
col2im additions, pooling passes).

Accuracy: ``descend train --model conv`` on the bundled 8x8 digits with every other default,
for ``--seeds`` seeds (test accuracy and training time of each).

Run:
    python benchmarks/conv.py                  # timing (5 rounds) and digits accuracy (5 seeds)
    python benchmarks/conv.py --quick          # 3 short rounds, 2 seeds
    python benchmarks/conv.py --threads 1 --json conv.json

For figures against PyTorch start it with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``
(the BLAS kernel in use is printed at the start).
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH, LR = 64, 0.01


def blas_setup(threads: int | None):
    """Limit BLAS to ``threads`` (None: keep its own); returns (threads, kernel description)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    if threads is not None:
        threadpool_limits(threads, user_api="blas")
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    info = blas[0] if blas else {}
    desc = f"{info.get('internal_api', '?')} {info.get('version', '')} kernel {info.get('architecture', '?')}"
    return int(info.get("num_threads", threads or 1)), desc


def build(seed: int = 0):
    """The descend model, its PyTorch copy (same parameters), and one batch."""
    import descend
    from descend import nn

    descend.manual_seed(seed)
    model = nn.LeNet((1, 28, 28), 10)
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    return model, x, y


def torch_copy(model):
    import torch
    from torch import nn as tnn

    from descend import nn

    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            layers.append(tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding))
        elif isinstance(m, nn.MaxPool2d):
            layers.append(tnn.MaxPool2d(m.kernel_size, m.stride))
        elif isinstance(m, nn.Linear):
            layers.append(tnn.Linear(m.in_features, m.out_features))
        else:
            layers.append({nn.ReLU: tnn.ReLU, nn.Flatten: tnn.Flatten}[type(m)]())
    tmodel = tnn.Sequential(*layers)
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return tmodel


def candidates():
    """name -> a function doing one training step, each with its own model and optimizer."""
    import torch

    import descend
    from descend import nn, optim
    from descend.compile import TrainStep

    out = {}
    model, x, y = build()
    tmodel = torch_copy(model)
    topt = torch.optim.SGD(tmodel.parameters(), lr=LR)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    tloss = torch.nn.CrossEntropyLoss()

    def torch_step():
        topt.zero_grad()
        tloss(tmodel(tx), ty).backward()
        topt.step()

    out["torch"] = torch_step

    fast_model, _, _ = build()
    step = TrainStep(fast_model, nn.CrossEntropyLoss(), optim.SGD(fast_model.parameters(), lr=LR))
    out["fast"] = lambda: step(x, y)
    out["_step"] = step

    eager_model, _, _ = build()
    eopt = optim.SGD(eager_model.parameters(), lr=LR)
    eloss = nn.CrossEntropyLoss()
    xt, yt = descend.tensor(x), descend.tensor(y)

    def eager_step():
        eopt.zero_grad()
        eloss(eager_model(xt), yt).backward()
        eopt.step()

    out["eager"] = eager_step
    return out


def time_rounds(steps: dict, rounds: int, k: int, warmup: int = 3) -> dict[str, list[float]]:
    names = [n for n in steps if not n.startswith("_")]
    samples = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotating: each sees every slot
        for name in order:
            fn = steps[name]
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(k):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            samples[name].append(statistics.median(times))
    return samples


def _kind(call) -> str:
    """A plan call's kind: the NumPy function, with matmul split into convolution and dense products."""
    fn = call.func
    name = getattr(fn, "__name__", type(fn).__name__)
    if name == "matmul":
        # the convolutions' products: stacked, one per example (operands of 3 or more axes), or
        # over the whole batch's columns (N·OH·OW of them, thousands)
        conv = any(isinstance(a, np.ndarray) and (a.ndim >= 3 or max(a.shape, default=0) >= 1000)
                   for a in call.args)
        return "matmul (conv)" if conv else "matmul (dense)"
    return name


def breakdown(step, repeats: int) -> tuple[float, dict[str, float]]:
    """Time every call of the replayed plan on its own: (total, seconds per kind), per step."""
    entry = next(e for e in step.entries.values() if e.plan is not None)
    calls = entry.plan.fwd + entry.plan.bwd
    per_kind: dict[str, float] = collections.defaultdict(float)
    for _ in range(repeats):
        for call in calls:
            t0 = time.perf_counter()
            call()
            per_kind[_kind(call)] += time.perf_counter() - t0
    per_kind = {k: v / repeats for k, v in per_kind.items()}
    return sum(per_kind.values()), per_kind


def digits_accuracy(seeds: int) -> list[dict]:
    """``descend train --model conv`` on the digits with every other default, one run per seed."""
    from descend.cli import job
    from descend.cli.config import DEFAULTS

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            cfg = dict(DEFAULTS)
            cfg.update(model="conv", seed=seed, runs_dir=str(Path(tmp) / "runs"), progress=False)
            t0 = time.perf_counter()
            run = job.run_training(cfg, echo=lambda *a: None)
            rows.append({"seed": seed, "test_accuracy": run.metrics["test_accuracy"],
                         "train_time_s": run.metrics["train_time_s"], "wall_s": time.perf_counter() - t0})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="BLAS and PyTorch threads (default: BLAS's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per block")
    parser.add_argument("--seeds", type=int, default=5, help="digits runs (0 to skip)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 10 steps, 2 seeds")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.seeds = 3, 10, min(args.seeds, 2)
    import torch

    threads, kernel = blas_setup(args.threads)
    torch.set_num_threads(threads)
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}; "
          f"BLAS {kernel}, {threads} thread(s) for BLAS and torch")
    steps = candidates()
    samples = time_rounds(steps, args.rounds, args.steps)
    step = steps["_step"]
    if not step.replayed:
        print(f"warning: the traced step was not replayed: {step.reason}", file=sys.stderr)
    med = {n: statistics.median(v) for n, v in samples.items()}
    print(f"\nLeNet-5 training step, 28x28, batch {BATCH}, float32 ({args.rounds} rounds x {args.steps} steps)")
    print(f"{'':8}{'median ms':>11}{'range ms':>18}{'/ torch':>9}")
    for n, v in samples.items():
        print(f"{n:8}{med[n] * 1e3:11.2f}{min(v) * 1e3:9.2f}-{max(v) * 1e3:<8.2f}{med[n] / med['torch']:9.2f}")

    total, kinds = breakdown(step, max(5, args.steps))
    print(f"\nthe replayed step call by call: {total * 1e3:.2f} ms")
    for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {k:18}{v * 1e3:8.2f} ms {100 * v / total:6.1f}%")
    matmul_share = sum(v for k, v in kinds.items() if k.startswith("matmul")) / total
    print(f"  share in matrix products: {100 * matmul_share:.1f}%")

    rows = digits_accuracy(args.seeds) if args.seeds else []
    if rows:
        print("\ndescend train --model conv on the 8x8 digits (every other option at its default)")
        for r in rows:
            print(f"  seed {r['seed']}: test accuracy {r['test_accuracy']:.4f}, training {r['train_time_s']:.2f} s")
        accs = [r["test_accuracy"] for r in rows]
        print(f"  mean {statistics.mean(accs):.4f}, min {min(accs):.4f}")
    if args.json:
        args.json.write_text(json.dumps({
            "threads": threads, "blas": kernel, "median_s": med, "samples_s": samples,
            "ratio_to_torch": {n: med[n] / med["torch"] for n in med},
            "replayed_step_s": total, "per_kind_s": kinds, "matmul_share": matmul_share, "digits": rows,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
