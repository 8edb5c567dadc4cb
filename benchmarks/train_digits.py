"""Time to 97% test accuracy on the digits data: descend vs PyTorch vs scikit-learn.

The same problem for all three, in one run:

* data: scikit-learn's bundled 8x8 digits (1797 images), a stratified 75/25
  split (seed 0), features standardised with statistics of the training part;
* model: an MLP 64-128-128-10 with ReLU, default (Kaiming-uniform style)
  initialisation of each library, cross-entropy on the logits;
* training: Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay,
  mini-batches of 32 in a new random order every epoch, up to EPOCHS epochs.

Each library trains epoch by epoch; after every epoch the test accuracy is
measured *outside* the clock. Reported per library (median over the seeds):
the training time until the test accuracy first reaches 97%, the epochs
that took, and the final test accuracy after all epochs.

descend trains through ``descend.train.fit`` (the real loop: progress off,
everything else as a user gets it, including the per-step gradient norm and
divergence guard); PyTorch through a hand-written loop over pre-made tensors
(no DataLoader, its fastest idiomatic form); scikit-learn through
``MLPClassifier.partial_fit`` (one epoch per call).

Run:  python benchmarks/train_digits.py [--epochs 40] [--seeds 0 1 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

TARGET = 0.97


def load_data():
    import numpy as np

    from descend import data

    X, y = data.load_digits()
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.25, stratify=y, seed=0)
    scaler = data.StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr).astype(np.float32), y_tr,
            scaler.transform(X_te).astype(np.float32), y_te)


class Clock:
    """Accumulates training time; test evaluations happen while it is stopped."""

    def __init__(self):
        self.total = 0.0
        self.t = None

    def start(self):
        self.t = time.perf_counter()

    def stop(self):
        self.total += time.perf_counter() - self.t


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
            times.append(clock.total)
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
        times.append(clock.total)
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
            times.append(clock.total)
    return accs, times


def summarise(name, runs):
    reach, ep_reach, final = [], [], []
    for accs, times in runs:
        hit = next((i for i, a in enumerate(accs) if a >= TARGET), None)
        reach.append(times[hit] if hit is not None else float("inf"))
        ep_reach.append(hit + 1 if hit is not None else float("inf"))
        final.append(accs[-1])
    t = statistics.median(reach)
    e = statistics.median(ep_reach)
    per_epoch = statistics.median(times[-1] / len(times) for _, times in runs)
    t_str = f"{t:8.3f} s" if t != float("inf") else "   never"
    e_str = f"{e:5.1f}" if e != float("inf") else "  -  "
    print(f"{name:<22} {t_str}   {e_str}   {per_epoch * 1e3:8.1f} ms   {statistics.median(final):.4f}"
          f"   ({', '.join(f'{a:.4f}' for a in final)})")
    return t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS/torch threads (default: each library's own default)")
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
    print(f"digits: {len(Xtr)} train / {len(Xte)} test; MLP {[64, *args.hidden, 10]} ReLU, Adam "
          f"lr={args.lr:g}, batch {args.batch_size}, {args.epochs} epochs, seeds {args.seeds}")
    print(f"{'library':<22} {'to 97%':>10}   {'epochs':>5}   {'per epoch':>11}   final acc (per seed)")
    results = {}
    for name, fn in runners:
        runs = [fn(Xtr, ytr, Xte, yte, args.epochs, s, args.hidden, args.lr, args.batch_size)
                for s in args.seeds]
        results[name] = summarise(name, runs)
    return results


if __name__ == "__main__":
    main()
