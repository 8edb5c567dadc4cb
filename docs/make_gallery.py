"""Regenerate the pictures of docs/landscapes.md (and the batch-modes one of docs/optimizers.md)
into docs/images/.

    python docs/make_gallery.py

Deterministic: fixed starts, learning rates and seeds, so the same images (and the numbers it
prints, which the page quotes) come back on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from descend import landscapes as L
from descend import search as S
from descend import viz

OUT = Path(__file__).resolve().parent / "images"
DPI = 80


def panels(n, width=5.0, height=4.4):
    fig = Figure(figsize=(width * n, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, n, i + 1) for i in range(n)]


def save(fig, name):
    fig.savefig(OUT / name, dpi=DPI)
    print(f"  wrote images/{name} ({(OUT / name).stat().st_size // 1024} KiB)")


def learning_rates():
    """Too small, about right, too large: plain gradient descent on a tilted bowl (κ = 10)."""
    land = L.quadratic(condition=10.0, angle=np.pi / 6)
    start = [-2.5, 2.0]
    fig, axes = panels(3)
    for ax, (lr, verdict) in zip(axes, [(0.01, "too small"), (0.15, "about right"), (0.21, "too large")], strict=True):
        res = L.minimize(land, start, optimizer="sgd", lr=lr, steps=60, tol=None)
        viz.plot_paths(land, {f"sgd, lr={lr}": res}, ax=ax, resolution=120,
                       title=f"lr = {lr}: {verdict}\nf after 60 steps = {res.fun:.3g}")
        print(f"  lr={lr}: f after 60 steps = {res.fun:.3g}")
    save(fig, "learning_rate.png")


def landscapes_overview():
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax1 = fig.add_subplot(1, 3, 1)
    ax2 = fig.add_subplot(1, 3, 2)
    ax3 = fig.add_subplot(1, 3, 3, projection="3d")
    viz.plot_landscape(L.himmelblau(), ax=ax1, resolution=150)
    viz.plot_landscape(L.six_hump_camel(), ax=ax2, resolution=150)
    viz.plot_landscape(L.rosenbrock(), kind="surface", ax=ax3, resolution=80)
    save(fig, "landscapes.png")


def basins():
    """Different starting points end in different minima."""
    land = L.himmelblau()
    bm = L.basins(land, optimizer="sgd", lr=0.01, steps=500, resolution=100)
    print(f"  himmelblau sgd basins: 100x100 starts in {bm.seconds:.2f} s; shares "
          + ", ".join(f"{bm.shares[i]:.1%}" for i in range(4)))
    save(viz.plot_basins(bm), "basins_himmelblau.png")
    camel = L.six_hump_camel()
    for opt, lr in (("sgd", 0.02), ("momentum", 0.02)):
        bm = L.basins(camel, optimizer=opt, lr=lr, steps=500, resolution=100)
        print(f"  six-hump camel {opt}: global minimum from {bm.global_share:.1%} of starts, "
              f"no known minimum {bm.shares[-1]:.1%}")
        if opt == "sgd":
            save(viz.plot_basins(bm), "basins_camel.png")
        else:
            save(viz.plot_basins(bm), "basins_camel_momentum.png")


def restarts():
    """A single descent stops in the nearest dimple of Rastrigin; restarts find the bottom."""
    land = L.rastrigin()
    start = [3.1, -2.2]
    single = L.minimize(land, start, optimizer="sgd", lr=0.002, steps=400)
    multi = S.multistart(land, n_starts=20, optimizer="sgd", lr=0.002, steps=400, seed=0)
    hop = S.basin_hopping(land, start, n_iter=30, step_size=1.0, temperature=2.0, optimizer="sgd",
                          lr=0.002, steps=400, seed=0)
    tunnel = S.tunneling(land, start, seed=0)
    print(f"  rastrigin: single descent f={single.fun:.3g} ({single.nfev} evals); multistart best "
          f"f={multi.fun:.3g} ({multi.nfev} evals); basin hopping f={hop.fun:.3g} ({hop.nfev} evals); "
          f"tunnelling f={tunnel.fun:.3g} ({tunnel.nfev} evals, minima {np.round(tunnel.values, 3).tolist()})")
    fig, axes = panels(2, width=5.6)
    viz.plot_paths(land, {"one descent": single, "best of 20 restarts": multi,
                          "basin hopping (minima visited)": hop.path,
                          "tunnelling (minima, each lower)": tunnel.path},
                   ax=axes[0], resolution=200, levels=12, title="Rastrigin: stuck, restarted, hopping, tunnelling")
    viz.plot_convergence({"one descent": single, "multistart (20)": multi, "basin hopping": hop,
                          "tunnelling": tunnel}, land,
                         ax=axes[1], log_x=True)
    save(fig, "restarts_rastrigin.png")


def momentum():
    """Momentum in a ravine: κ = 50, rotated; the same learning rate for all three."""
    land = L.quadratic(condition=50.0, angle=np.pi / 5)
    start = [-2.5, 2.0]
    runs = {name: L.minimize(land, start, optimizer=name, lr=0.018, steps=150, tol=None)
            for name in ("sgd", "momentum", "nesterov")}
    for name, r in runs.items():
        k = L.steps_to_reach(r.path, [0, 0], 1e-3)
        print(f"  ravine {name}: f after 150 steps = {r.fun:.2e}, steps to 1e-3: {k}")
    fig, axes = panels(2, width=5.6)
    viz.plot_paths(land, runs, ax=axes[0], resolution=140, title="A ravine (κ = 50), lr = 0.018")
    viz.plot_convergence(runs, land, ax=axes[1], title="f − f* against evaluations (one per step)")
    save(fig, "momentum_ravine.png")


def adaptive():
    """Badly scaled: curvature 1 along x, 100 along y (axis-aligned)."""
    land = L.quadratic(condition=100.0, angle=0.0)
    start = [-2.5, 2.0]
    runs = {
        "sgd, lr=0.0195": L.minimize(land, start, optimizer="sgd", lr=0.0195, steps=200, tol=None),
        "adagrad, lr=0.5": L.minimize(land, start, optimizer="adagrad", lr=0.5, steps=200, tol=None),
        "rmsprop, lr=0.02": L.minimize(land, start, optimizer="rmsprop", lr=0.02, steps=200, tol=None),
        "adam, lr=0.1": L.minimize(land, start, optimizer="adam", lr=0.1, steps=200, tol=None),
    }
    for name, r in runs.items():
        print(f"  scaled {name}: f after 200 steps = {r.fun:.2e}")
    fig, axes = panels(2, width=5.6)
    viz.plot_paths(land, runs, ax=axes[0], resolution=140, title="Badly scaled bowl (κ = 100)")
    viz.plot_convergence(runs, land, ax=axes[1], title="f − f* against steps")
    save(fig, "adaptive_scaling.png")


def budgets():
    """Random, local random, annealing and gradient descent at 1000 evaluations each."""
    land = L.himmelblau()
    start = [0.0, 0.0]
    runs = {
        "random search": S.random_search(land, n_samples=1000, seed=0),
        "local random search": S.random_local_search(land, start, step_size=0.5, n_steps=999, seed=0),
        "simulated annealing": S.simulated_annealing(land, start, step_size=0.5, n_steps=999, t0=1.0, seed=0),
        "gradient descent": L.minimize(land, start, optimizer="sgd", lr=0.01, steps=999),
    }
    for name, r in runs.items():
        print(f"  budget {name}: best f={r.fun:.3g} after {r.nfev} evaluations ({r.njev} gradients)")
    fig, axes = panels(2, width=5.6)
    walks = {}
    for name, r in runs.items():
        if name == "random search":
            _, _, pts = r.best_trace()
            keep = np.r_[True, np.any(pts[1:] != pts[:-1], axis=1)]
            walks[name + " (records)"] = pts[keep]
        else:
            walks[name] = r.path
    viz.plot_paths(land, walks, ax=axes[0], resolution=140, title="Himmelblau from (0, 0): where the best point went")
    viz.plot_convergence(runs, land, ax=axes[1], log_x=True)
    save(fig, "search_budget.png")


def animation():
    land = L.himmelblau()
    runs = {name: L.minimize(land, [-0.5, -4.5], optimizer=name, steps=60, tol=None)
            for name in ("sgd", "momentum", "adam")}
    viz.animate_paths(land, runs, path=OUT / "paths.gif", frames=30, fps=8, resolution=100, dpi=55)
    print(f"  wrote images/paths.gif ({(OUT / 'paths.gif').stat().st_size // 1024} KiB)")


def batch_modes():
    """Batch, stochastic and mini-batch descent on y = 2x: one lr, one budget of examples."""
    import descend
    from descend import nn, train
    from descend.data import make_linear

    X, y = make_linear(n_samples=800, noise=0.1, seed=0)
    descend.manual_seed(0)
    result = train.batch_modes(nn.Linear(1, 1), (X, y), loss="mse", lr=0.05, epochs=10, seed=0)
    for name, run in result.runs.items():
        print(f"  {name}: {int(run.updates[-1])} updates, final loss {run.final_loss:.4g}, noise "
              f"{run.noise:.3g}, loss rose in {run.rises:.0%} of the intervals")
    save(viz.plot_batch_modes(result, title="y = 2x + noise, 800 examples, SGD at lr 0.05 for 10 epochs"),
         "batch_modes.png")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for step in (landscapes_overview, learning_rates, basins, restarts, momentum, adaptive, budgets, animation,
                 batch_modes):
        print(step.__name__)
        step()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"total {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
