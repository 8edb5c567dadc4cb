"""What does one training step of a ReLU MLP cost: descend against hand-written NumPy and PyTorch.

A step is: zero the gradients, forward, softmax cross-entropy, backward, plain SGD update
(float32, ``lr = 0.01``), on these sizes (layer widths, batch):

    tiny     2-16-16-2            32
    small    64-128-10            64
    medium   784-256-256-10       128
    large    784-1024-1024-10     256
    wide     1024-4096-4096-10    512

Candidates (all start from the same parameters and see the same batch):

    numpy   hand-written backpropagation: z = a Wᵀ + b, relu, softmax cross-entropy, W -= lr·dW
    torch   PyTorch eager (nn.Sequential, CrossEntropyLoss, optim.SGD), if installed
    eager   descend's ordinary API: opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
    fast    descend.compile.TrainStep: the same step traced once and replayed into preallocated buffers
    fit     descend.train.fit itself (shuffled mini-batches, loss and gradient-norm history, the
            divergence guard): the time between consecutive steps, stamped by a callback

Timing: candidates run in blocks (a few warm-up steps, then ``k`` timed steps) in a rotating
order, round after round, so that all of them see the same machine load; a block's sample is the
median of its steps. The table gives the median over the blocks and their min-max, the ratios
eager/torch, fast/numpy and fit/numpy, and the GEMM throughput of the fit step: its matrix
products' floating-point operations (forward 2·B·Σ in·out, backward the same for dW plus dX for
every layer but the first) per second, and that as a fraction of this machine's float32 GEMM peak
(the best of a few 2048×2048 products through NumPy).

BLAS and PyTorch use the same number of threads: ``--threads N`` (default: what the BLAS library
reports, through threadpoolctl if it is installed; else OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
the CPU count). Without threadpoolctl, set OPENBLAS_NUM_THREADS before starting Python instead.

Run:
    python benchmarks/step.py                       # all sizes, all candidates
    python benchmarks/step.py --quick               # fewer, shorter rounds
    python benchmarks/step.py --sizes tiny,small --json results.json
    python benchmarks/step.py --scaling docs/images/step_scaling.png   # cost vs width, depth, batch
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

SIZES = {
    "tiny": ((2, 16, 16, 2), 32),
    "small": ((64, 128, 10), 64),
    "medium": ((784, 256, 256, 10), 128),
    "large": ((784, 1024, 1024, 10), 256),
    "wide": ((1024, 4096, 4096, 10), 512),
}
LR = 0.01
N_BATCHES = 64  # distinct batches in the data set fit shuffles (the other candidates reuse the first)
CANDIDATES = ("numpy", "torch", "eager", "fast", "fit")


# ============================================================================ threads
def blas_threads() -> tuple[int, str]:
    """The number of threads the BLAS library NumPy uses, and how it was found."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            return int(blas[0]["num_threads"]), f"threadpoolctl ({blas[0].get('internal_api')})"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var]), var
    return os.cpu_count() or 1, "cpu count"


def set_threads(n: int) -> str:
    """Make BLAS use ``n`` threads (threadpoolctl); returns a note on what was done."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        have, how = blas_threads()
        if have != n:
            return f"threadpoolctl is not installed: BLAS keeps {have} threads ({how}); set OPENBLAS_NUM_THREADS={n}"
        return how
    threadpool_limits(n, user_api="blas")
    return "threadpoolctl"


# ============================================================================ problem
def gemm_flops(sizes, batch) -> float:
    """Floating-point operations of the matrix products of one step (see the module docstring)."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    fwd = sum(2 * batch * a * b for a, b in pairs)
    d_w = fwd
    d_x = fwd - 2 * batch * pairs[0][0] * pairs[0][1]  # no gradient for the input batch
    return float(fwd + d_w + d_x)


def init_params(sizes, seed=0):
    """PyTorch's default Linear initialisation, drawn once and shared by every candidate."""
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        biases.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return weights, biases


def make_data(sizes, batch, n_batches, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch * n_batches, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch * n_batches)
    return X, y


# ============================================================================ candidates
class Stepper:
    """A candidate whose sample is the median time of single steps on a fixed batch."""

    kind = "step"

    def __init__(self, step):
        self.step = step

    def block(self, k: int, warmup: int) -> float:
        step = self.step
        for _ in range(warmup):
            step()
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def numpy_candidate(sizes, batch, X, y):
    weights, biases = init_params(sizes)
    x, t = X[:batch], y[:batch]
    n_layers = len(weights)
    rows = np.arange(batch)

    def step():
        acts, pres = [x], []
        a = x
        for i in range(n_layers):
            z = a @ weights[i].T + biases[i]
            pres.append(z)
            a = np.maximum(z, 0) if i < n_layers - 1 else z
            acts.append(a)
        shifted = a - a.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, t]))
        delta = e / s
        delta[rows, t] -= 1
        delta /= batch
        for i in reversed(range(n_layers)):
            g_w = delta.T @ acts[i]
            g_b = delta.sum(axis=0)
            if i:
                delta = (delta @ weights[i]) * (pres[i - 1] > 0)
            weights[i] -= LR * g_w
            biases[i] -= LR * g_b
        return loss

    return Stepper(step)


def torch_candidate(sizes, batch, X, y, threads):
    import torch

    torch.set_num_threads(threads)
    weights, biases = init_params(sizes)
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, t = torch.from_numpy(X[:batch]), torch.from_numpy(y[:batch])

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss.item()

    return Stepper(step)


def descend_model(sizes):
    from descend import nn

    model = nn.MLP(list(sizes))
    weights, biases = init_params(sizes)
    for lin, w, b in zip(model.linears, weights, biases, strict=True):
        lin.weight.data[...] = w
        lin.bias.data[...] = b
    return model


def eager_candidate(sizes, batch, X, y):
    import descend
    from descend import nn, optim

    model = descend_model(sizes)
    opt = optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x, t = descend.Tensor(X[:batch]), descend.Tensor(y[:batch])

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss.item()

    return Stepper(step)


def fast_candidate(sizes, batch, X, y):
    from descend import nn, optim
    from descend.compile import TrainStep

    model = descend_model(sizes)
    opt = optim.SGD(model.parameters(), lr=LR)
    train_step = TrainStep(model, nn.CrossEntropyLoss(), opt)
    x, t = X[:batch], y[:batch]
    return Stepper(lambda: train_step(x, t))


class FitCandidate:
    """``descend.train.fit``: a sample is the median time between consecutive steps of one fit call.

    A callback stamps the time at the end of every step (its own cost, about a
    microsecond, is included); the first steps, which trace the step and check
    the replay against the eager step, are left out.
    """

    kind = "fit"
    skip = 3

    def __init__(self, sizes, batch, X, y):
        from descend import optim
        from descend.train import Callback, fit

        class Stamps(Callback):
            def __init__(self):
                self.t = []

            def on_step_end(self, state):
                self.t.append(time.perf_counter())

        self.fit, self.stamps_cls, self.batch = fit, Stamps, batch
        self.model = descend_model(sizes)
        self.opt = optim.SGD(self.model.parameters(), lr=LR)
        self.data = (X, y)

    def block(self, k: int, warmup: int) -> float:
        stamps = self.stamps_cls()
        self.fit(self.model, self.data, loss="cross_entropy", optimizer=self.opt, batch_size=self.batch,
                 epochs=None, max_steps=k + self.skip, progress=False, seed=0, callbacks=[stamps])
        return statistics.median(np.diff(stamps.t[self.skip - 1:]))


# ============================================================================ measurement
def build(name, sizes, batch, X, y, threads):
    if name == "numpy":
        return numpy_candidate(sizes, batch, X, y)
    if name == "torch":
        return torch_candidate(sizes, batch, X, y, threads)
    if name == "eager":
        return eager_candidate(sizes, batch, X, y)
    if name == "fast":
        return fast_candidate(sizes, batch, X, y)
    if name == "fit":
        return FitCandidate(sizes, batch, X, y)
    raise ValueError(name)


class GemmProbe:
    """The float32 GEMM peak, measured as one more candidate in every round (the best sample wins)."""

    def __init__(self, n: int):
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((n, n)).astype(np.float32)
        self.b = rng.standard_normal((n, n)).astype(np.float32)
        self.out = np.empty((n, n), np.float32)
        self.flops = 2.0 * n**3
        self.best = 0.0

    def block(self, repeats: int = 3) -> None:
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.matmul(self.a, self.b, out=self.out)
            self.best = max(self.best, self.flops / (time.perf_counter() - t0) / 1e9)


def measure_size(sizes, batch, candidates, rounds, block_seconds, threads, verbose=True, probe=None):
    """Interleaved blocks of every candidate; returns {name: [block samples (s)]}."""
    X, y = make_data(sizes, batch, N_BATCHES)
    built = {name: build(name, sizes, batch, X, y, threads) for name in candidates}
    # Block length from a first estimate of the step time (the numpy step, or the first candidate).
    first = built.get("numpy") or next(iter(built.values()))
    est = first.block(2, 1)
    k = int(max(3, min(400, block_seconds / max(est, 1e-6))))
    samples = {name: [] for name in built}
    order = list(built)
    for r in range(rounds):
        turn = order[r % len(order):] + order[:r % len(order)]
        for name in turn:
            cand = built[name]
            gc.collect()
            samples[name].append(cand.block(k, 2 if r else 5))
        if probe is not None:
            probe.block()
        if verbose:
            print(f"  round {r + 1}/{rounds}: " + "  ".join(
                f"{n} {samples[n][-1] * 1e3:.3f}" for n in order) + " ms", file=sys.stderr, flush=True)
    del built
    gc.collect()
    return samples


def summarise(samples, flops):
    out = {}
    for name, vals in samples.items():
        med = statistics.median(vals)
        out[name] = {"median_ms": med * 1e3, "min_ms": min(vals) * 1e3, "max_ms": max(vals) * 1e3,
                     "samples_ms": [v * 1e3 for v in vals], "gflops": flops / med / 1e9,
                     "best_gflops": flops / min(vals) / 1e9}
    return out


def add_peak(res, peak):
    for r in res.values():
        r["peak_fraction"] = r["gflops"] / peak
        r["best_peak_fraction"] = r["best_gflops"] / peak


def ratio(res, a, b, key="median_ms"):
    """a / b of the medians (key="min_ms": of the fastest blocks, the least disturbed by other load)."""
    if a in res and b in res:
        return res[a][key] / res[b][key]
    return None


def machine_info(threads, how) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cpus": os.cpu_count(), "threads": threads, "threads_set_by": how,
            "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform()}
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')}"
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def _ms(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def format_table(results, peak) -> str:
    lines = [
        "| size | torch eager | NumPy by hand | descend eager | descend fast | descend fit | eager / torch "
        "| fast / NumPy | fit / NumPy | fit GFLOP/s | fit % of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(res, name):
        if name not in res:
            return "–"
        r = res[name]
        return f"{_ms(r['median_ms'])} ms ({_ms(r['min_ms'])}–{_ms(r['max_ms'])})"

    def rat(res, a, b):
        v, w = ratio(res, a, b), ratio(res, a, b, "min_ms")
        return "–" if v is None else f"{v:.2f} ({w:.2f})"

    for size, entry in results.items():
        res = entry["candidates"]
        sizes, batch = entry["layers"], entry["batch"]
        fit = res.get("fit")
        lines.append(
            f"| {size}: {'-'.join(map(str, sizes))}, {batch} | {cell(res, 'torch')} | {cell(res, 'numpy')} | "
            f"{cell(res, 'eager')} | {cell(res, 'fast')} | {cell(res, 'fit')} | {rat(res, 'eager', 'torch')} | "
            f"{rat(res, 'fast', 'numpy')} | {rat(res, 'fit', 'numpy')} | "
            f"{'–' if fit is None else format(fit['gflops'], '.0f') + ' (' + format(fit['best_gflops'], '.0f') + ')'} | "
            f"{'–' if fit is None else format(100 * fit['peak_fraction'], '.0f') + ' % (' + format(100 * fit['best_peak_fraction'], '.0f') + ' %)'} |"
        )
    lines.append(f"\nRatios: of the medians (of the fastest blocks). GFLOP/s: the fit step's matrix products "
                 f"per second, median block (fastest block); float32 GEMM peak through NumPy on this machine: "
                 f"{peak:.0f} GFLOP/s (the best 2048×2048 product, probed in every round)")
    return "\n".join(lines)


# ============================================================================ scaling plot
SCALING = {
    "width": [((784, w, w, 10), 128) for w in (32, 64, 128, 256, 512, 1024, 2048)],
    "depth": [((784,) + (256,) * d + (10,), 128) for d in (1, 2, 4, 8)],
    "batch": [((784, 256, 256, 10), b) for b in (8, 32, 128, 512, 2048)],
}


def scaling(path, candidates, rounds, block_seconds, threads, probe):
    """Time the candidates over width, depth and batch sweeps; plot ms/step and GFLOP/s."""
    data = {}
    for axis, cases in SCALING.items():
        rows = []
        for sizes, batch in cases:
            print(f"{axis}: {'-'.join(map(str, sizes))} batch {batch}", file=sys.stderr, flush=True)
            s = summarise(measure_size(sizes, batch, candidates, rounds, block_seconds, threads, verbose=False,
                                       probe=probe), gemm_flops(sizes, batch))
            rows.append({"layers": sizes, "batch": batch, "flops": gemm_flops(sizes, batch), "candidates": s})
        data[axis] = rows
    peak = probe.best
    for rows in data.values():
        for r in rows:
            add_peak(r["candidates"], peak)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'descend[viz]'): no plot written", file=sys.stderr)
        return data
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
    labels = {"width": ("hidden width (784-w-w-10, batch 128)", lambda r: r["layers"][1]),
              "depth": ("hidden layers of 256 (batch 128)", lambda r: len(r["layers"]) - 2),
              "batch": ("batch size (784-256-256-10)", lambda r: r["batch"])}
    styles = {"numpy": ("NumPy by hand", "k", "--"), "torch": ("PyTorch eager", "tab:red", "-"),
              "eager": ("descend eager", "tab:orange", "-"), "fast": ("descend fast", "tab:blue", ":"),
              "fit": ("descend fit", "tab:blue", "-")}
    for col, axis in enumerate(SCALING):
        rows = data[axis]
        title, key = labels[axis]
        xs = [key(r) for r in rows]
        for name in candidates:
            if name not in rows[0]["candidates"]:
                continue
            label, color, ls = styles[name]
            ms = [r["candidates"][name]["median_ms"] for r in rows]
            gf = [r["candidates"][name]["gflops"] for r in rows]
            axes[0, col].plot(xs, ms, ls, color=color, marker="o", ms=3, label=label)
            axes[1, col].plot(xs, gf, ls, color=color, marker="o", ms=3, label=label)
        axes[1, col].axhline(peak, color="grey", lw=0.8)
        axes[1, col].text(xs[0], peak, " GEMM peak", va="bottom", fontsize=8, color="grey")
        for row in (0, 1):
            axes[row, col].set_xscale("log", base=2)
            axes[row, col].set_xlabel(title)
            axes[row, col].grid(alpha=0.3)
        axes[0, col].set_yscale("log")
        axes[0, col].set_ylabel("ms per training step")
        axes[1, col].set_ylabel("GEMM GFLOP/s")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("One SGD step of a ReLU MLP with softmax cross-entropy (float32)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)
    return data


# ============================================================================ memory
def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_kb() -> int:
    """The peak resident set (VmHWM) since the last reset."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise OSError("no VmHWM in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:  # "5" resets the peak resident set size
        fh.write("5")


def memory_child(name: str, size: str, steps: int) -> None:
    """Run ``steps`` steps of one candidate and print JSON: RSS after setup and peak RSS (KiB).

    The baseline is taken after the imports, the data, the model and its
    optimizer exist (and after a first matrix product, which makes OpenBLAS
    reserve its work buffers): what is measured is what training adds.
    """
    sizes, batch = SIZES[size]
    X, y = make_data(sizes, batch, 8)
    a = np.ones((256, 256), np.float32)
    np.matmul(a, a)
    threads = blas_threads()[0]
    if name == "torch":
        import torch

        torch.mm(torch.ones(256, 256), torch.ones(256, 256))
    if name == "fit":
        from descend import optim
        from descend.train import fit

        model = descend_model(sizes)
        opt = optim.SGD(model.parameters(), lr=LR)

        def run():
            fit(model, (X, y), loss="cross_entropy", optimizer=opt, batch_size=batch, epochs=None,
                max_steps=steps, progress=False, seed=0)
    else:
        cand = build(name, sizes, batch, X, y, threads)

        def run():
            for _ in range(steps):
                cand.step()
    gc.collect()
    base = _rss_kb()
    _reset_peak()
    run()
    print(json.dumps({"base_kib": base, "peak_kib": _peak_kb()}))


def memory(sizes_list, candidates, steps) -> dict:
    """Peak memory of a training run, each candidate in a fresh process: the peak resident set
    minus the resident set after imports and data (so PyTorch's larger library is not counted)."""
    import subprocess

    out = {}
    for size in sizes_list:
        out[size] = {}
        for name in candidates:
            if name == "fast":
                continue
            n = steps if size != "wide" else max(3, steps // 4)
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", name, size, str(n)],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            out[size][name] = {"training_mib": (r["peak_kib"] - r["base_kib"]) / 1024,
                               "peak_mib": r["peak_kib"] / 1024}
        print(f"{size}: " + ", ".join(f"{k} {v['training_mib']:.1f} MiB (process peak {v['peak_mib']:.0f})"
                                     for k, v in out[size].items()), file=sys.stderr, flush=True)
    return out


def format_memory(mem) -> str:
    names = [n for n in ("torch", "numpy", "eager", "fit") if any(n in v for v in mem.values())]
    lines = ["| size | " + " | ".join(f"{n} training / process peak" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for size, res in mem.items():
        cells = [f"{res[n]['training_mib']:.1f} / {res[n]['peak_mib']:.0f} MiB" if n in res else "–" for n in names]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ============================================================================ main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated subset of " + ",".join(SIZES))
    parser.add_argument("--only", default=",".join(CANDIDATES), help="comma-separated candidates")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 11, quick 3)")
    parser.add_argument("--block", type=float, default=None, help="seconds per block (default 0.1, quick 0.05)")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and PyTorch threads (default: BLAS's)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    parser.add_argument("--scaling", metavar="PNG", help="sweep width, depth and batch and plot to PNG")
    parser.add_argument("--memory", action="store_true",
                        help="measure the peak memory of training instead (each candidate in a fresh process)")
    parser.add_argument("--memory-child", nargs=3, metavar=("CANDIDATE", "SIZE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return

    threads, how = blas_threads()
    if args.threads is not None:
        threads = args.threads
        how = set_threads(threads)
    rounds = args.rounds or (3 if args.quick else 11)
    block = args.block or (0.05 if args.quick else 0.1)
    candidates = [c.strip() for c in args.only.split(",") if c.strip()]
    for c in candidates:
        if c not in CANDIDATES:
            parser.error(f"unknown candidate {c!r}; choose from {', '.join(CANDIDATES)}")
    if "torch" in candidates:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed: skipping it", file=sys.stderr)
            candidates.remove("torch")
    probe = GemmProbe(1024 if args.quick else 2048)
    probe.block(5)
    info = machine_info(threads, how)
    print(f"{info['cpu']}, {info['cpus']} CPUs, {threads} threads; NumPy {info['numpy']}"
          f"{', ' + info['blas'] if 'blas' in info else ''}{', torch ' + info['torch'] if 'torch' in info else ''}",
          file=sys.stderr)

    if args.memory:
        sizes_list = [x.strip() for x in args.sizes.split(",") if x.strip()]
        mem = memory(sizes_list, candidates, 10 if args.quick else 20)
        print(format_memory(mem))
        if args.json:
            _write_json(args.json, {"machine": info, "memory": mem})
        return

    if args.scaling:
        data = scaling(args.scaling, candidates, max(2, rounds // 2), block, threads, probe)
        info["gemm_peak_gflops"] = probe.best
        if args.json:
            _write_json(args.json, {"machine": info, "scaling": data})
        return

    results = {}
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        if size not in SIZES:
            parser.error(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
        sizes, batch = SIZES[size]
        print(f"{size}: {'-'.join(map(str, sizes))}, batch {batch}", file=sys.stderr, flush=True)
        samples = measure_size(sizes, batch, candidates, rounds, block, threads, probe=probe)
        flops = gemm_flops(sizes, batch)
        results[size] = {"layers": list(sizes), "batch": batch, "gemm_flops": flops,
                         "gemm_flops_6bsum": 6.0 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)),
                         "candidates": summarise(samples, flops)}
        res = results[size]["candidates"]
        results[size]["ratios"] = {k: ratio(res, *k.split("/")) for k in
                                   ("eager/torch", "fast/numpy", "fit/numpy", "fit/torch")}
        results[size]["ratios_of_minima"] = {k: ratio(res, *k.split("/"), "min_ms") for k in
                                             ("eager/torch", "fast/numpy", "fit/numpy", "fit/torch")}
    peak = probe.best
    info["gemm_peak_gflops"] = peak
    for entry in results.values():
        add_peak(entry["candidates"], peak)
    print(format_table(results, peak))
    print(f"\n{info['cpu']}, {info['cpus']} CPUs, {threads} threads ({how}); Python {info['python']}, "
          f"NumPy {info['numpy']}{' (' + info['blas'] + ')' if 'blas' in info else ''}"
          f"{', PyTorch ' + info['torch'] if 'torch' in info else ''}; {rounds} rounds")
    if args.json:
        _write_json(args.json, {"machine": info, "rounds": rounds, "results": results})


def _write_json(path, payload):
    text = json.dumps(payload, indent=1, default=float)
    if path == "-":
        print(text)
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
