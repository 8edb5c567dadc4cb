"""What the Network tab downloads: a script that reproduces the run, a config for
``descend train`` (zipped with the training and test rows it reads), the trained model and the
data.

The script is written from the same configuration :func:`descend.playground.recipe.build`
trains, spelt out with descend's public API, and stops after the same number of steps, so it
prints the loss the page shows (the tests run it and compare).
"""

from __future__ import annotations

import base64
import csv
import io
import math
import os
import tempfile
import zipfile

from .. import serialization
from .config import (
    ACTIVATION_NAMES,
    batch_size_of,
    hyperparameter_schema,
    optimizer_hyperparameters,
)
from .recipe import loss_name

__all__ = ["export", "script", "train_config", "train_bundle", "model_npz", "data_csv", "EXPORTS"]

EXPORTS = ("script", "config", "model", "data")


def _stem(cfg: dict) -> str:
    return f"playground-{cfg['dataset']}"


def steps_to_repeat(trainer) -> int:
    """Steps the script runs: those done, plus the diverging one (so it restores the same way)."""
    return trainer.global_step + (1 if trainer.stop_reason == "diverged" else 0)


def script(cfg: dict, steps: int, task: str, csv_name: str | None = None) -> str:
    """A Python script that repeats ``steps`` steps of the run ``cfg`` and prints its losses.

    ``task`` ("classification" or "regression") picks the loss; ``csv_name`` is the uploaded
    file's name, read from the script's working folder.
    """
    lines = [
        f'"""Reproduces a descend playground run: {cfg["dataset"]} data, a '
        f'{"-".join(str(s) for s in [len(cfg["features"]), *cfg["hidden"], 1])} network, '
        f'{cfg["optimizer"]}, {steps} steps.',
        "",
        "Run it with `python <this file>`: it prints the final training and test loss, the",
        "numbers the playground showed (same seed, same steps).",
        '"""',
        "import descend",
        "from descend import nn, optim",
        "from descend.optim import lr_scheduler",
        "from descend.playground.datasets import features, load",
        "from descend.train import Trainer",
        "from descend.train.metrics import evaluate",
        "",
    ]
    if cfg["dataset"] == "csv":
        lines.append(f"split = load(\"csv\", csv_path={csv_name!r}, "
                     f"test_fraction={cfg['test_fraction']!r}, seed={cfg['seed']})")
    else:
        lines.append(f"split = load({cfg['dataset']!r}, n_samples={cfg['n_samples']}, "
                     f"noise={cfg['noise']!r}, test_fraction={cfg['test_fraction']!r}, "
                     f"seed={cfg['seed']})")
    lines += [
        f"FEATURES = {cfg['features']!r}",
        "X_train = features(split.points_train, FEATURES)",
        "X_test = features(split.points_test, FEATURES)",
        "",
        f"descend.manual_seed({cfg['seed']})  # the initial weights come from the seed",
        f"model = nn.MLP([{len(cfg['features'])}, {', '.join(map(str, cfg['hidden']))}"
        f"{', ' if cfg['hidden'] else ''}1], activation={ACTIVATION_NAMES[cfg['activation']]!r}, "
        f"dropout={cfg['dropout']!r})",
    ]
    if cfg["init"] == "zeros":
        lines += ["for parameter in model.parameters():", "    nn.init.zeros_(parameter)"]
    data_loss = {"bce_with_logits": "binary_cross_entropy_with_logits",
                 "mse": "mse_loss"}[loss_name(task)]
    lines.append(f"data_loss = nn.functional.{data_loss}")
    loss = "data_loss"
    if cfg["regularization"] != "none" and cfg["reg_rate"] != 0:
        term = "layer.weight.abs().sum()" if cfg["regularization"] == "l1" else \
            "(layer.weight * layer.weight).sum()"
        lines += [
            "",
            "",
            "def loss(output, target):",
            f"    penalty = sum({term} for layer in model.linears)",
            f"    return data_loss(output, target) + {cfg['reg_rate']!r} * penalty",
            "",
            "",
        ]
        loss = "loss"
    hp = ", ".join(f"{k}={v!r}" for k, v in optimizer_hyperparameters(cfg).items())
    lines.append(f"optimizer = optim.get({cfg['optimizer']!r}, model.parameters(), {hp})")
    schedule = {
        "none": "None",
        "exponential": f"lr_scheduler.ExponentialLR(optimizer, gamma={cfg['schedule_gamma']!r})",
        "step": f"lr_scheduler.StepLR(optimizer, step_size={cfg['schedule_period']}, "
                f"gamma={cfg['schedule_gamma']!r})",
        "cosine": f"lr_scheduler.CosineAnnealingLR(optimizer, T_max={cfg['schedule_period']})",
    }[cfg["schedule"]]
    lines.append(f"scheduler = {schedule}")
    batch = "len(X_train)" if cfg["batch_mode"] == "batch" else \
        "1" if cfg["batch_mode"] == "stochastic" else f"min({cfg['batch_size']}, len(X_train))"
    if steps > 0:
        lines += [
            f"trainer = Trainer(model, (X_train, split.y_train), loss={loss}, optimizer=optimizer,",
            f"                  batch_size={batch}, epochs=None, max_steps={steps},",
            "                  scheduler=scheduler, scheduler_interval=\"step\", "
            f"seed={cfg['seed']}, progress=False)",
            "trainer.run()",
        ]
    lines += [
        "train = evaluate(model, (X_train, split.y_train), loss=data_loss, metrics=(\"loss\",))",
        "test = evaluate(model, (X_test, split.y_test), loss=data_loss, metrics=(\"loss\",))",
        f"print(f\"steps {steps}  train loss {{train['loss']!r}}  test loss {{test['loss']!r}}\")",
        "",
    ]
    return "\n".join(lines)


def train_config(cfg: dict, steps: int, n_train: int, task: str, train_file: str,
                 test_file: str) -> str:
    """A ``config.toml`` for ``descend train --config`` with the run's settings.

    ``train_file`` and ``test_file`` are the run's training and test rows (features and label,
    :func:`data_csv`), beside the file; ``descend train`` reads them as they are (no split, no
    scaling), seeds the same generator, builds the same network and takes the same batches for
    ``steps`` steps. Where the playground has a setting ``descend train`` cannot state, the
    file's first lines say which, and that its losses are then close to, not equal to, the page's.
    """
    import tomli_w

    hp = optimizer_hyperparameters(cfg)
    batches = max(1, math.ceil(n_train / batch_size_of(cfg, n_train)))
    values = {
        "data": train_file, "test_data": test_file, "task": task, "val_size": 0.0,
        "standardize": False, "model": cfg["hidden"], "activation": cfg["activation"],
        "dropout": cfg["dropout"], "optimizer": cfg["optimizer"], "lr": cfg["lr"],
        "batch_size": "full" if cfg["batch_mode"] == "batch" else batch_size_of(cfg, n_train),
        "epochs": max(1, math.ceil(steps / batches)), "seed": cfg["seed"],
    }
    if steps > 0:
        values["max_steps"] = steps
    differs = _not_representable(cfg, steps, task)
    for key in ("momentum", "weight_decay"):
        if key in hp:
            values[key] = hp[key]
    if cfg["regularization"] == "l1" and cfg["reg_rate"] > 0:
        values["l1"] = cfg["reg_rate"]
    if cfg["regularization"] == "l2" and cfg["reg_rate"] > 0:
        # the nearest descend train has: d/dw of rate·w² is 2·rate·w, but on the biases too
        values["weight_decay"] = values.get("weight_decay", 0.0) + 2 * cfg["reg_rate"]
    notes = ["# descend train --config config.toml  (in the folder of this file and its data)"]
    if differs:
        notes.append("# Not the same run as the playground's, so the losses differ a little:")
        notes += [f"#  - {reason}" for reason in differs]
    else:
        notes.append("# The playground's run: same data, initial weights, batches and steps; the "
                     "final train and test loss agree to float rounding.")
    return "\n".join(notes) + "\n" + tomli_w.dumps(values)


def _not_representable(cfg: dict, steps: int, task: str) -> list[str]:
    """Why ``descend train`` cannot repeat the run exactly (empty when it can)."""
    reasons = []
    if task == "classification":
        reasons.append("descend train gives each class a logit of its own (softmax cross-entropy); "
                       "the playground has one logit (binary cross-entropy)")
    if cfg["init"] == "zeros":
        reasons.append("descend train has no zero initialisation; it keeps the default one")
    if cfg["schedule"] != "none":
        reasons.append(f"the playground's {cfg['schedule']} schedule per step is left out "
                       "(descend train's schedules are fixed shapes over its epochs)")
    if cfg["regularization"] == "l2" and cfg["reg_rate"] > 0:
        reasons.append("L2 stands as weight_decay = 2 x rate, which decays the biases too")
    presets = {h["name"]: h["default"] for h in hyperparameter_schema(cfg["optimizer"])}
    for name, value in cfg["hyper"].items():
        if name not in ("momentum", "weight_decay") and value != presets.get(name):
            reasons.append(f"descend train has no key for {cfg['optimizer']}'s {name} "
                           f"({value!r}); it keeps {presets.get(name)!r}")
    if steps == 0:
        reasons.append("the playground has taken no step yet; descend train takes one epoch")
    return reasons


def train_bundle(run, steps: int) -> bytes:
    """A zip of ``config.toml`` and the training and test rows it names (:func:`train_config`)."""
    stem = _stem(run.cfg)
    names = {"train": f"{stem}-train.csv", "test": f"{stem}-test.csv"}
    text = train_config(run.cfg, steps, len(run.X_train), run.split.task, names["train"],
                        names["test"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("config.toml", text)
        for part, name in names.items():
            bundle.writestr(name, data_csv(run, part))
    return out.getvalue()


def model_npz(run) -> bytes:
    """The trained model as ``descend.save`` writes it: parameters, sizes, settings."""
    state = {
        "model": run.model.state_dict(), "sizes": list(run.model.sizes),
        "activation": ACTIVATION_NAMES[run.cfg["activation"]], "features": run.cfg["features"],
        "task": run.split.task, "steps": run.trainer.global_step, "config": run.cfg,
    }
    with tempfile.TemporaryDirectory(prefix="descend-playground-") as tmp:
        path = os.path.join(tmp, "model.npz")
        serialization.save(state, path)
        with open(path, "rb") as fh:
            return fh.read()


def data_csv(run, part: str = "all") -> str:
    """The features and the label of every point as CSV with a header: ``part`` "train", "test"
    or "all" (the training rows first), in the run's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*run.cfg["features"], "label"])
    parts = {"train": [(run.X_train, run.split.y_train)], "test": [(run.X_test, run.split.y_test)]}
    for X, y in parts.get(part, parts["train"] + parts["test"]):
        for row, target in zip(X.tolist(), y[:, 0].tolist(), strict=True):
            label = int(target) if run.split.task == "classification" else repr(target)
            writer.writerow([repr(v) for v in row] + [label])
    return out.getvalue()


def export(session, what) -> dict:
    """``{"what", "filename", "text" | "base64"}`` for one of :data:`EXPORTS`."""
    if what not in EXPORTS:
        raise ValueError(f"export: what must be one of {', '.join(EXPORTS)}, got {what!r}")
    run = session.run
    stem = _stem(run.cfg)
    steps = steps_to_repeat(run.trainer)
    if what == "script":
        return {"what": what, "filename": f"{stem}.py", "mime": "text/x-python",
                "text": script(run.cfg, steps, run.split.task, session.csv_name)}
    if what == "config":
        payload = base64.b64encode(train_bundle(run, steps)).decode("ascii")
        return {"what": what, "filename": f"{stem}-descend-train.zip", "mime": "application/zip",
                "base64": payload}
    if what == "data":
        return {"what": what, "filename": f"{stem}-data.csv", "mime": "text/csv",
                "text": data_csv(run)}
    payload = base64.b64encode(model_npz(run)).decode("ascii")
    return {"what": what, "filename": "model.npz", "mime": "application/octet-stream",
            "base64": payload}

