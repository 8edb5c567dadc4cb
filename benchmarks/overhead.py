"""How much does the autodiff engine's bookkeeping cost next to the NumPy arithmetic it runs?

(a) a chain of 1,000 elementwise operations on 10,000-element float32 arrays, forward and
    backward, against the same NumPy calls with their derivatives written by hand;
(b) one training step (forward, cross-entropy, backward) of a 784-256-256-10 ReLU MLP at
    batch 128, engine versus hand-written NumPy backpropagation.

Prints the median time of each and the ratio engine / NumPy (targets: <= 2.0 and <= 1.3). The
two are run alternately, so that both see the same machine load, and the ratio is the median of
the ratios of neighbouring runs.
Run:  python benchmarks/overhead.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import descend as d
from descend.nn import functional as F


def paired_times(fa, fb, repeats: int, warmup: int = 3) -> tuple[float, float, float]:
    """Median times of ``fa`` and ``fb`` run alternately, and the median of their ratios."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, times in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb), statistics.median(a / b for a, b in zip(ta, tb, strict=True))


# ---------------------------------------------------------------- (a) elementwise chain
CHAIN = 1000


def chain_engine(x0: np.ndarray):
    x = d.tensor(x0, requires_grad=True)
    y = x
    for i in range(CHAIN):
        k = i % 4
        if k == 0:
            y = d.sin(y)
        elif k == 1:
            y = y * 1.5
        elif k == 2:
            y = d.tanh(y)
        else:
            y = y + 0.25
    y.sum().backward()
    return x.grad


def chain_numpy(x0: np.ndarray):
    saved = []
    y = x0
    for i in range(CHAIN):
        k = i % 4
        if k == 0:
            saved.append(y)
            y = np.sin(y)
        elif k == 1:
            y = y * 1.5
        elif k == 2:
            y = np.tanh(y)
            saved.append(y)
        else:
            y = y + 0.25
    g = np.ones_like(y)
    for i in reversed(range(CHAIN)):
        k = i % 4
        if k == 0:
            g = g * np.cos(saved.pop())
        elif k == 1:
            g = g * 1.5
        elif k == 2:
            t = saved.pop()
            g = g * (1 - t * t)
        # k == 3: d(y + c)/dy = 1
    return g


# ---------------------------------------------------------------- (b) MLP step
SIZES = (784, 256, 256, 10)
BATCH = 128


def make_mlp(rng):
    weights, biases = [], []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        biases.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return weights, biases


def mlp_numpy(x, y, weights, biases):
    """Hand-written backprop: z = a Wᵀ + b, a = relu(z), softmax cross-entropy."""
    acts, pres = [x], []
    a = x
    n_layers = len(weights)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = a @ w.T + b
        pres.append(z)
        a = np.maximum(z, 0) if i < n_layers - 1 else z
        acts.append(a)
    z = acts[-1]
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(np.mean(np.log(s[:, 0]) - shifted[np.arange(n), y]))
    delta = e / s
    delta[np.arange(n), y] -= 1
    delta /= n
    gw, gb = [None] * n_layers, [None] * n_layers
    for i in reversed(range(n_layers)):
        gw[i] = delta.T @ acts[i]
        gb[i] = delta.sum(axis=0)
        if i:
            delta = (delta @ weights[i]) * (pres[i - 1] > 0)
    return loss, gw, gb


def mlp_engine_factory(weights, biases):
    params = [d.tensor(w, requires_grad=True) for w in weights]
    bparams = [d.tensor(b, requires_grad=True) for b in biases]
    linear = getattr(F, "linear", None)
    cross_entropy = getattr(F, "cross_entropy", None)

    def step(x, y):
        for p in params + bparams:
            p.grad = None
        a = d.tensor(x)
        n_layers = len(params)
        for i in range(n_layers):
            if linear is not None:
                a = linear(a, params[i], bparams[i])
            else:
                a = a @ params[i].T + bparams[i]
            if i < n_layers - 1:
                a = F.relu(a)
        if cross_entropy is not None:
            loss = cross_entropy(a, y)
        else:
            loss = -F.log_softmax(a, axis=1)[np.arange(len(y)), y].mean()
        loss.backward()
        return loss.item(), [p.grad for p in params], [p.grad for p in bparams]

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    x0 = rng.standard_normal(10_000).astype(np.float32)
    g_engine, g_numpy = chain_engine(x0), chain_numpy(x0)
    assert np.allclose(g_engine, g_numpy, rtol=1e-4, atol=1e-6), "chain gradients disagree"
    t_engine, t_numpy, r = paired_times(lambda: chain_engine(x0), lambda: chain_numpy(x0), args.repeats)
    print(f"(a) {CHAIN}-op elementwise chain, 10k float32, fwd+bwd: "
          f"engine {t_engine * 1e3:.2f} ms, numpy {t_numpy * 1e3:.2f} ms, ratio {r:.2f} (target <= 2.0)")

    weights, biases = make_mlp(rng)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    engine_step = mlp_engine_factory(weights, biases)
    le, gwe, _ = engine_step(x, y)
    ln, gwn, _ = mlp_numpy(x, y, weights, biases)
    assert abs(le - ln) < 1e-4 and all(np.allclose(a, b, atol=1e-5) for a, b in zip(gwe, gwn, strict=True)), "MLP gradients disagree"
    t_engine, t_numpy, r = paired_times(lambda: engine_step(x, y), lambda: mlp_numpy(x, y, weights, biases),
                                        args.repeats * 4)
    print(f"(b) MLP {'-'.join(map(str, SIZES))} step at batch {BATCH}: "
          f"engine {t_engine * 1e3:.3f} ms, numpy {t_numpy * 1e3:.3f} ms, ratio {r:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
