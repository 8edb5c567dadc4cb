"""Time to 97% test accuracy on the digits data: descend vs PyTorch vs scikit-learn.

The same problem for all three, in one run:

* data: scikit-learn's bundled 8x8 digits (1797 images), a stratified 75/25
  split (seed 0), features standardised with statistics of the training part;
* model: an MLP 64-256-128-10 with ReLU and each library's default
  initialisation, cross-entropy on the logits;
* training: Adam, lr 2e-3, betas (0.9, 0.999), eps 1e-8, no weight decay,
  mini-batches of 32 in a new random order every epoch, up to EPOCHS epochs;
* one thread each (BLAS and PyTorch), so that the comparison measures the
  libraries rather than thread scheduling (``--threads 0``: library defaults).

Each library trains epoch by epoch; after every epoch the test accuracy is
measured *outside* the clock. Reported per library, as the median over the
seeds: the training time (wall clock and CPU) until the test accuracy first
reaches 97%, the epochs that took, the wall time per epoch, and the final
test accuracy after all epochs. On a shared machine the CPU time is the
steadier figure.

descend trains through ``descend.train.fit`` (the real loop as a user gets
it, progress display off: per-step gradient norm, divergence guard and all);
PyTorch through a hand-written loop over pre-made tensors (no DataLoader: its
fastest idiomatic form); scikit-learn through ``MLPClassifier.partial_fit``
(one epoch per call).

``--sweep`` repeats the comparison for a few other architectures and
hyperparameters, so that one lucky configuration cannot make the case.

Run:  python benchmarks/train_digits.py [--epochs 15] [--seeds 0 1 2 3 4] [--threads 1] [--sweep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

TARGET = 0.97

# (hidden sizes, learning rate, batch size) tried by --sweep, besides the chosen one.
SWEEP = [
    ([256, 128], 2e-3, 32), ([128, 128], 1e-3, 32), ([256], 1e-3, 32), ([256, 128], 1e-3, 64),
    ([128], 3e-3, 32), ([512, 256], 1e-3, 64),
]


def load_data():
    import numpy as np

    from descend import data

    X, y = data.load_digits()
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.25, stratify=y, seed=0)
    scaler = data.StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr).astype(np.float32), y_tr,
            scaler.transform(X_te).astype(np.float32), y_te)


class Clock:
    """Accumulates training time (wall and CPU); test evaluations happen while it is stopped."""

    def __init__(self):
        self.total = 0.0
        self.cpu = 0.0
        self.t = self.c = None

    def start(self):
        self.t = time.perf_counter()
        self.c = time.process_time()

    def stop(self):
        self.total += time.perf_counter() - self.t
        self.cpu += time.process_time() - self.c

    @property
    def both(self):
        return (self.total, self.cpu)


def run_descend(Xtr, ytr, Xte, yte, epochs, seed, hidden, lr, batch):
    import numpy as np

    import descend
    from descend import nn, optim, train

    descend.manual_seed(seed)
    model = nn.MLP([64, *hidden, 10])
    opt = optim.Adam(model.parameters(), lr=lr)
    clock = Clock()
    accs, times = [], []

    class Measure(train.Callback):
        def on_epoch_end(self, state):
            clock.stop()
            model.eval()
            with descend.no_grad():
                pred = model(Xte).data.argmax(axis=1)
            model.train()
            accs.append(float(np.mean(pred == yte)))
            times.append(clock.both)
            clock.start()

    clock.start()
    train.fit(model, (Xtr, ytr), loss=nn.CrossEntropyLoss(), optimizer=opt, batch_size=batch,
              epochs=epochs, shuffle=True, seed=seed, callbacks=[Measure()], progress=False)
    return accs, times


def run_torch(Xtr, ytr, Xte, yte, epochs, seed, hidden, lr, batch):
    import torch

    torch.manual_seed(seed)
    sizes = [64, *hidden, 10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    Xt = torch.from_numpy(Xte)
    g = torch.Generator().manual_seed(seed)
    n = len(X)
    clock = Clock()
    accs, times = [], []
    for _ in range(epochs):
        clock.start()
        perm = torch.randperm(n, generator=g)
        for lo in range(0, n, batch):
            idx = perm[lo:lo + batch]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
        clock.stop()
        with torch.no_grad():
            accs.append(float((model(Xt).argmax(1).numpy() == yte).mean()))
        times.append(clock.both)
    return accs, times


def run_sklearn(Xtr, ytr, Xte, yte, epochs, seed, hidden, lr, batch):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", solver="adam",
                        alpha=0.0, batch_size=batch, learning_rate_init=lr, beta_1=0.9,
                        beta_2=0.999, epsilon=1e-8, shuffle=True, random_state=seed)
    classes = np.arange(10)
    clock = Clock()
    accs, times = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            clock.start()
            clf.partial_fit(Xtr, ytr, classes=classes)
            clock.stop()
            accs.append(float(np.mean(clf.predict(Xte) == yte)))
            times.append(clock.both)
    return accs, times


def summarise(name, runs):
    """Median over seeds of: time to TARGET (wall, CPU), epochs to TARGET, time per epoch, final accuracy."""
    inf = float("inf")
    wall, cpu, epochs, per_epoch, final = [], [], [], [], []
    for accs, times in runs:
        hit = next((i for i, a in enumerate(accs) if a >= TARGET), None)
        wall.append(times[hit][0] if hit is not None else inf)
        cpu.append(times[hit][1] if hit is not None else inf)
        epochs.append(hit + 1 if hit is not None else inf)
        per_epoch.append(times[-1][0] / len(times))
        final.append(accs[-1])
    med = statistics.median

    def sec(v):
        return f"{v:8.3f} s" if v != inf else "   never  "

    e = med(epochs)
    print(f"{name:<20} {sec(med(wall))} {sec(med(cpu))}   {e if e != inf else '-':>6}   "
          f"{med(per_epoch) * 1e3:7.1f} ms   {med(final):.4f}   ({', '.join(f'{a:.3f}' for a in final)})")
    return {"to_target_wall": med(wall), "to_target_cpu": med(cpu), "epochs": e,
            "per_epoch": med(per_epoch), "final_accuracy": med(final)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--sweep", action="store_true",
                   help="also run the other configurations of SWEEP (a few minutes)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/PyTorch threads (default 1; 0 leaves each library's default)")
    args = p.parse_args(argv)
    if args.threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    Xtr, ytr, Xte, yte = load_data()
    runners = [("descend", run_descend)]
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        runners.append((f"PyTorch {torch.__version__.split('+')[0]}", run_torch))
    except ImportError:
        print("(PyTorch not installed: skipped)")
    try:
        import sklearn

        runners.append((f"scikit-learn {sklearn.__version__}", run_sklearn))
    except ImportError:
        print("(scikit-learn not installed: skipped)")
    configs = [(args.hidden, args.lr, args.batch_size)]
    if args.sweep:
        configs += [c for c in SWEEP if c != configs[0]]
    results = {}
    for hidden, lr, batch in configs:
        print(f"\ndigits: {len(Xtr)} train / {len(Xte)} test; MLP {[64, *hidden, 10]} ReLU, Adam "
              f"lr={lr:g}, batch {batch}, {args.epochs} epochs, seeds {args.seeds}")
        print(f"{'':<20} {'time to 97% test acc':^22}   {'epochs':>6}   {'wall per':>10}   final test accuracy")
        print(f"{'library':<20} {'wall':>10} {'CPU':>10}   {'to 97%':>6}   {'epoch':>10}   median  (per seed)")
        for name, fn in runners:
            runs = [fn(Xtr, ytr, Xte, yte, args.epochs, s, hidden, lr, batch) for s in args.seeds]
            results[(tuple(hidden), lr, batch, name)] = summarise(name, runs)
    return results

if __name__ == "__main__":
    main()
