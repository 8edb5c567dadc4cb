"""Basin maps: one batched gradient-descent run from every point of a grid.

Times ``descend.landscapes.basins`` on Himmelblau (100 x 100 starts, 500 SGD
steps; target: under 10 seconds) and, as the peer measured in the same run,
the same 500 steps written as hand-vectorised NumPy with the analytic gradient,
which is the floor a batched run can reach. Prints medians, min-max and the
ratio descend / NumPy.

Run:  python benchmarks/basins.py [--resolution 100] [--steps 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from descend import landscapes


def numpy_himmelblau_sgd(starts: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """SGD on f = (x² + y − 11)² + (x + y² − 7)², all starts at once, gradient by hand."""
    x, y = starts[:, 0].copy(), starts[:, 1].copy()
    for _ in range(steps):
        a = x * x + y - 11.0
        b = x + y * y - 7.0
        gx = 4.0 * a * x + 2.0 * b
        gy = 2.0 * a + 4.0 * b * y
        x -= lr * gx
        y -= lr * gy
    return np.stack([x, y], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=100)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    land = landscapes.himmelblau()
    lr = 0.01
    bm = landscapes.basins(land, optimizer="sgd", lr=lr, steps=args.steps, resolution=args.resolution)
    floor_end = numpy_himmelblau_sgd(bm.starts, lr, args.steps)
    reached = np.linalg.norm(floor_end[:, None, :] - np.asarray([m.x for m in land.minima])[None], axis=2)
    assert (reached.min(axis=1) < 1e-3).mean() > 0.99, "the NumPy peer must solve the same problem"

    t_descend, t_numpy = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        t0 = time.perf_counter()
        landscapes.basins(land, optimizer="sgd", lr=lr, steps=args.steps, resolution=args.resolution)
        t_descend.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        numpy_himmelblau_sgd(bm.starts, lr, args.steps)
        t_numpy.append(time.perf_counter() - t0)

    n = args.resolution ** 2
    print(f"basins: Himmelblau, {args.resolution}x{args.resolution} = {n} starts, {args.steps} SGD steps, "
          f"median of {args.repeats}")
    print(f"{'':18}{'median s':>10}{'min s':>9}{'max s':>9}")
    for name, ts in (("descend.basins", t_descend), ("hand-written NumPy", t_numpy)):
        print(f"{name:18}{statistics.median(ts):10.3f}{min(ts):9.3f}{max(ts):9.3f}")
    print(f"ratio descend / NumPy: {statistics.median(t_descend) / statistics.median(t_numpy):.2f}; "
          f"share reaching a global minimum {bm.global_share:.3f}; target: descend under 10 s")


if __name__ == "__main__":
    main()
