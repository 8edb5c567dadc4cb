"""What the page may ask for: the Network tab's settings, checked, with the update rule they run.

A configuration is a flat JSON object (the page keeps it in its URL). :func:`check` turns
whatever the page sent into a complete, typed configuration or raises :class:`ConfigError`
naming the setting and what is wrong with it, so a bad request changes nothing.
"""

from __future__ import annotations

import inspect
import math
import numbers

from ..nn.activations import ACTIVATIONS
from ..optim import registry
from .datasets import DATASETS, FEATURES

__all__ = ["ConfigError", "DEFAULTS", "LIMITS", "PRESETS", "check", "salvage",
           "hyperparameter_schema", "update_rule", "schema"]

#: The activations by the page's names: descend's own, with TensorFlow Playground's "linear".
ACTIVATION_NAMES = {"linear": "identity", **{name: name for name in ACTIVATIONS if name != "identity"}}

BATCH_MODES = ("batch", "stochastic", "minibatch")
REGULARIZATIONS = ("none", "l1", "l2")
INITS = ("default", "zeros")
SCHEDULES = ("none", "exponential", "step", "cosine")
#: Hyperparameters the page does not offer: the learning rate has its own control, the rest
#: change what is optimised (maximize) or how a failure is handled (the loop's guard does that).
_HIDDEN_HYPERPARAMETERS = {"lr", "maximize", "skip_nonfinite", "max_eval", "line_search_fn"}

LIMITS = {
    "n_samples": (20, 5000), "noise": (0.0, 1.0), "test_fraction": (0.1, 0.9),
    "seed": (0, 2**31 - 1), "layers": (0, 10), "neurons": (1, 64), "dropout": (0.0, 0.9),
    "reg_rate": (0.0, 10.0), "lr": (1e-6, 100.0), "schedule_gamma": (0.5, 1.0),
    "schedule_period": (1, 100_000), "steps_per_frame": (1, 1000), "batch_size": (1, 5000),
}

DEFAULTS = {
    "dataset": "circle", "n_samples": 500, "noise": 0.1, "test_fraction": 0.3, "seed": 0,
    "features": ["x1", "x2"], "hidden": [4, 2], "activation": "tanh", "dropout": 0.0,
    "regularization": "none", "reg_rate": 0.001, "init": "default",
    "batch_mode": "minibatch", "batch_size": 10, "optimizer": "sgd", "lr": 0.03,
    "hyper": {}, "schedule": "none", "schedule_gamma": 0.999, "schedule_period": 1000,
    "steps_per_frame": 10,
}

#: Presets: a configuration and one sentence on why it works or fails.
PRESETS = {
    "spiral-deep-tanh": (
        {"dataset": "spiral", "noise": 0.05, "features": ["x1", "x2", "sinx1", "sinx2"],
         "hidden": [8, 8, 8, 8, 8, 8], "activation": "tanh", "optimizer": "adam", "lr": 0.01,
         "batch_mode": "minibatch", "batch_size": 16},
        "Six tanh layers bend the plane into the two arms; tanh is zero-centred and Adam "
        "rescales each weight's step, so the gradient still reaches the first layers."),
    "lr-too-high": (
        {"dataset": "plane", "noise": 0.05, "hidden": [8, 8], "activation": "relu",
         "optimizer": "sgd", "lr": 2.0, "batch_mode": "batch"},
        "Each step overshoots the valley by more than it gained, so the squared error grows "
        "geometrically: the divergence guard stops the run and puts back the last good network."),
    "xor-sgd": (
        {"dataset": "xor", "hidden": [8, 8], "activation": "relu", "optimizer": "sgd",
         "lr": 0.01, "batch_mode": "minibatch", "batch_size": 10},
        "Plain SGD with a small learning rate creeps along the flat start of the loss: the "
        "same net as 'xor-adam', many more steps to the same boundary."),
    "xor-adam": (
        {"dataset": "xor", "hidden": [8, 8], "activation": "relu", "optimizer": "adam",
         "lr": 0.01, "batch_mode": "minibatch", "batch_size": 10},
        "Adam divides each step by the gradient's running size, so flat directions move as "
        "fast as steep ones: the XOR boundary forms within a few hundred steps."),
    "batch-smooth": (
        {"dataset": "gauss", "noise": 0.3, "hidden": [3], "optimizer": "sgd", "lr": 0.1,
         "batch_mode": "batch"},
        "The full-batch gradient is the true gradient: the loss falls smoothly, one step per "
        "epoch."),
    "stochastic-noisy": (
        {"dataset": "gauss", "noise": 0.3, "hidden": [3], "optimizer": "sgd", "lr": 0.1,
         "batch_mode": "stochastic"},
        "One example per step gives a noisy estimate of the gradient: the training loss jitters "
        "from step to step, but an epoch is hundreds of steps, so it gets there sooner."),
}


#: Hyperparameters with a range narrower than "a number >= 0": averaging weights (outside
#: [0, 1] the running averages grow without bound, and RMSprop's goes negative under its square
#: root), and L-BFGS's counts, which bound the work of one step (the page must stay responsive).
HYPER_LIMITS = {"alpha": (0.0, 1.0), "rho": (0.0, 1.0), "dampening": (0.0, 1.0),
                "max_iter": (1, 1000), "history_size": (1, 1000)}


class ConfigError(ValueError):
    """A setting the page sent is missing, of the wrong type or out of range."""


def _number(raw, key, *, integer=False):
    value = raw.get(key, DEFAULTS.get(key))
    lo, hi = LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if integer:
        if float(value) != int(value):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if not lo <= value <= hi:
        raise ConfigError(f"{key} must be between {lo:g} and {hi:g}, got {value!r}")
    return value


def _choice(raw, key, choices):
    value = raw.get(key, DEFAULTS.get(key))
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def hyperparameter_schema(name: str) -> list[dict]:
    """The hyperparameters the page offers for optimizer ``name``: ``[{name, kind, default}]``.

    Read from the optimizer class's signature (with the registry's presets, e.g. momentum
    0.9 for "momentum"), so a new optimizer in the registry shows up with its controls.
    ``kind`` is "float", "int", "bool" or "pair" (Adam's betas).
    """
    cls, preset = registry.get_class(name)
    out = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in ("self", "params") or p.name in _HIDDEN_HYPERPARAMETERS:
            continue
        default = preset.get(p.name, p.default)
        if isinstance(default, bool):
            kind = "bool"
        elif isinstance(default, tuple) and len(default) == 2:
            kind, default = "pair", list(default)
        elif isinstance(default, int):
            kind = "int" if p.name in ("max_iter", "history_size") else "float"
        elif isinstance(default, float):
            kind = "float"
        else:
            continue
        out.append({"name": p.name, "kind": kind, "default": default})
    return out


def _hyper(raw, optimizer):
    given = raw.get("hyper", {})
    if not isinstance(given, dict):
        raise ConfigError(f"hyper must be an object of hyperparameters, got {given!r}")
    schema_ = {h["name"]: h for h in hyperparameter_schema(optimizer)}
    out = {}
    for key, value in given.items():
        if key not in schema_:
            raise ConfigError(f"optimizer {optimizer!r} has no hyperparameter {key!r}; it has "
                              f"{', '.join(schema_) or 'none the page offers'}")
        kind = schema_[key]["kind"]
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"hyper.{key} must be true or false, got {value!r}")
        elif kind == "pair":
            if not (isinstance(value, list) and len(value) == 2 and all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v < 1
                    for v in value)):
                raise ConfigError(f"hyper.{key} must be two numbers in [0, 1), got {value!r}")
            value = [float(v) for v in value]
        else:
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(float(value)) or value < 0:
                raise ConfigError(f"hyper.{key} must be a number >= 0, got {value!r}")
            value = int(value) if kind == "int" else float(value)
            if kind == "int" and value < 1:
                raise ConfigError(f"hyper.{key} must be at least 1, got {value!r}")
            lo, hi = HYPER_LIMITS.get(key, (0, math.inf))
            if not lo <= value <= hi:
                raise ConfigError(f"hyper.{key} must be between {lo:g} and {hi:g}, got {value!r}")
        out[key] = value
    return out


def check(raw, *, has_csv: bool = False) -> dict:
    """A complete configuration from the page's (possibly partial) one; raises ConfigError.

    Missing keys take :data:`DEFAULTS`; unknown keys are refused (a typo never falls back to
    a default silently). ``has_csv`` says whether this session holds an uploaded file.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"the configuration must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; settings are {', '.join(DEFAULTS)}")
    cfg = {"dataset": _choice(raw, "dataset", tuple(DATASETS))}
    if cfg["dataset"] == "csv" and not has_csv:
        raise ConfigError("dataset 'csv' needs an uploaded file: upload a CSV first")
    cfg["n_samples"] = _number(raw, "n_samples", integer=True)
    cfg["noise"] = _number(raw, "noise")
    cfg["test_fraction"] = _number(raw, "test_fraction")
    cfg["seed"] = _number(raw, "seed", integer=True)
    feats = raw.get("features", DEFAULTS["features"])
    if not isinstance(feats, list) or not feats or any(f not in FEATURES for f in feats) \
            or len(set(feats)) != len(feats):
        raise ConfigError(f"features must be a non-empty list of distinct names from "
                          f"{', '.join(FEATURES)}, got {feats!r}")
    cfg["features"] = [f for f in FEATURES if f in feats]  # one order: the table's
    hidden = raw.get("hidden", DEFAULTS["hidden"])
    lo, hi = LIMITS["layers"]
    nlo, nhi = LIMITS["neurons"]
    if not isinstance(hidden, list) or not lo <= len(hidden) <= hi or any(
            isinstance(h, bool) or not isinstance(h, int) or not nlo <= h <= nhi for h in hidden):
        raise ConfigError(f"hidden must be a list of {lo} to {hi} layer sizes, each from {nlo} "
                          f"to {nhi}, got {hidden!r}")
    cfg["hidden"] = list(hidden)
    cfg["activation"] = _choice(raw, "activation", tuple(ACTIVATION_NAMES))
    cfg["dropout"] = _number(raw, "dropout")
    cfg["regularization"] = _choice(raw, "regularization", REGULARIZATIONS)
    cfg["reg_rate"] = _number(raw, "reg_rate")
    cfg["init"] = _choice(raw, "init", INITS)
    cfg["batch_mode"] = _choice(raw, "batch_mode", BATCH_MODES)
    cfg["batch_size"] = _number(raw, "batch_size", integer=True)
    cfg["optimizer"] = _choice(raw, "optimizer", tuple(registry.names()))
    cfg["lr"] = _number(raw, "lr")
    cfg["hyper"] = _hyper(raw, cfg["optimizer"])
    cfg["schedule"] = _choice(raw, "schedule", SCHEDULES)
    cfg["schedule_gamma"] = _number(raw, "schedule_gamma")
    cfg["schedule_period"] = _number(raw, "schedule_period", integer=True)
    cfg["steps_per_frame"] = _number(raw, "steps_per_frame", integer=True)
    return cfg


def salvage(raw, *, has_csv: bool = False) -> tuple[dict, list[str]]:
    """The configuration of a shared link, keeping every setting that is valid on its own.

    Returns ``(config, problems)``: the complete configuration :func:`check` makes of the good
    settings (the bad ones take :data:`DEFAULTS`), and one message per setting left out. A
    link with one mistyped value (or ``dataset=csv`` in a tab without the upload) so keeps
    the rest of what was shared. Settings are tried in :data:`DEFAULTS`' order, so ``hyper``
    is judged against the optimizer that was kept.
    """
    if not isinstance(raw, dict):
        return check({}), [f"the configuration must be an object, got {type(raw).__name__}"]
    problems = [f"unknown setting {key!r}" for key in raw if key not in DEFAULTS]
    kept: dict = {}
    for key in DEFAULTS:
        if key not in raw:
            continue
        try:
            check({**kept, key: raw[key]}, has_csv=has_csv)
        except ConfigError as exc:
            problems.append(str(exc))
        else:
            kept[key] = raw[key]
    return check(kept, has_csv=has_csv), problems


def batch_size_of(cfg: dict, n_train: int) -> int:
    """The number of examples per step: all (batch), 1 (stochastic) or k (mini-batch)."""
    mode = cfg["batch_mode"]
    if mode == "batch":
        return n_train
    if mode == "stochastic":
        return 1
    return min(cfg["batch_size"], n_train)


def optimizer_hyperparameters(cfg: dict) -> dict:
    """The keyword arguments of ``optim.get(cfg["optimizer"], params, **...)``."""
    hp = {"lr": cfg["lr"]}
    for key, value in cfg["hyper"].items():
        hp[key] = tuple(value) if isinstance(value, list) else value
    return hp


def _effective(cfg: dict) -> dict:
    """The optimizer's hyperparameters as it will run: registry presets, then the page's."""
    values = {h["name"]: h["default"] for h in hyperparameter_schema(cfg["optimizer"])}
    values.update(cfg["hyper"])
    return values


def update_rule(cfg: dict, n_train: int) -> list[str]:
    """The update rule the configuration runs, as lines of plain-text maths for the page.

    The first line is the objective (the batch and the regulariser), the next the
    optimizer's update of each parameter θ with gradient g, with the hyperparameters' values.
    """
    k = batch_size_of(cfg, n_train)
    how = {"batch": f"batch: all {k} examples" if k > 1 else "batch: the 1 example",
           "stochastic": "stochastic: one example", "minibatch": f"mini-batch: k = {k}"}[
        cfg["batch_mode"]]
    reg = {"none": "", "l1": f" + {cfg['reg_rate']:g}·Σ|w|",
           "l2": f" + {cfg['reg_rate']:g}·Σw²"}[cfg["regularization"]]
    lines = [f"g = ∇θ [ (1/|B|) Σ_(i∈B) ℓ(f(xᵢ; θ), yᵢ){reg} ],  |B| = {k}  ({how})"]
    name, hp, lr = cfg["optimizer"], _effective(cfg), f"{cfg['lr']:g}"
    wd = hp.get("weight_decay", 0)
    decoupled = name == "adamw" or hp.get("decoupled_weight_decay", False)
    if wd and not decoupled:
        lines.append(f"g ← g + {wd:g}·θ   (weight decay)")
    if name in ("sgd", "momentum", "nesterov"):
        mu, damp = hp.get("momentum", 0), hp.get("dampening", 0)
        buffer = f"b ← {mu:g}·b + g" if not damp else f"b ← {mu:g}·b + {1 - damp:g}·g"
        if not mu:
            lines.append(f"θ ← θ − η·g,   η = {lr}")
        elif hp.get("nesterov"):
            lines += [buffer, f"θ ← θ − η·(g + {mu:g}·b),   η = {lr}"]
        else:
            lines += [buffer, f"θ ← θ − η·b,   η = {lr}"]
    elif name == "adagrad":
        start = hp.get("initial_accumulator_value", 0)
        lines.append("s ← s + g²" + (f",   s₀ = {start:g}" if start else ""))
        if hp.get("lr_decay"):
            lines.append(f"θ ← θ − ηₜ·g / (√s + ε),   ηₜ = η / (1 + (t − 1)·{hp['lr_decay']:g}),"
                         f"   η = {lr}")
        else:
            lines.append(f"θ ← θ − η·g / (√s + ε),   η = {lr}")
    elif name == "rmsprop":
        a = hp.get("alpha", 0.99)
        lines.append(f"v ← {a:g}·v + {1 - a:g}·g²")
        rms = "√v"
        if hp.get("centered"):  # the variance of g instead of its second moment
            lines.append(f"ḡ ← {a:g}·ḡ + {1 - a:g}·g")
            rms = "√(v − ḡ²)"
        if hp.get("momentum"):
            lines += [f"b ← {hp['momentum']:g}·b + g / ({rms} + ε)", f"θ ← θ − η·b,   η = {lr}"]
        else:
            lines.append(f"θ ← θ − η·g / ({rms} + ε),   η = {lr}")
    elif name == "adadelta":
        r = hp.get("rho", 0.9)
        lines += [f"v ← {r:g}·v + {1 - r:g}·g²", "Δ ← √(u + ε) / √(v + ε) · g",
                  f"u ← {r:g}·u + {1 - r:g}·Δ²", f"θ ← θ − η·Δ,   η = {lr}"]
    elif name in ("adam", "adamw", "adamax", "nadam", "radam"):
        b1, b2 = hp.get("betas", (0.9, 0.999))
        if decoupled and (wd or name == "adamw"):
            lines.append(f"θ ← θ − η·{wd:g}·θ   (decoupled weight decay)")
        lines.append(f"m ← {b1:g}·m + {1 - b1:g}·g,   m̂ = m / (1 − {b1:g}ᵗ)")
        if name == "adamax":
            lines += [f"u ← max({b2:g}·u, |g| + ε)", f"θ ← θ − η·m̂ / u,   η = {lr}"]
        else:
            if hp.get("amsgrad"):  # the largest second moment so far: steps never grow back
                lines += [f"v ← {b2:g}·v + {1 - b2:g}·g²",
                          f"vₘₐₓ ← max(vₘₐₓ, v),   v̂ = vₘₐₓ / (1 − {b2:g}ᵗ)"]
            else:
                lines.append(f"v ← {b2:g}·v + {1 - b2:g}·g²,   v̂ = v / (1 − {b2:g}ᵗ)")
            if name == "nadam":
                lines.append(f"θ ← θ − η·(μₜ₊₁·m̂ + (1 − μₜ)·g / (1 − Πμ)) / (√v̂ + ε),   η = {lr}")
            elif name == "radam":
                lines += ["ρₜ = ρ∞ − 2t·β₂ᵗ / (1 − β₂ᵗ)",
                          f"θ ← θ − η·rₜ·m̂ / (√v̂ + ε) if ρₜ > 5, else θ − η·m̂,   η = {lr}"]
            else:
                lines.append(f"θ ← θ − η·m̂ / (√v̂ + ε),   η = {lr}")
    elif name == "lbfgs":
        lines += [f"d = −H·g   (H from the last {hp.get('history_size', 100)} pairs Δθ, Δg)",
                  f"θ ← θ + η·d,   η = {lr}"]
    if cfg["schedule"] != "none":
        lines.append({"exponential": f"η ← η·{cfg['schedule_gamma']:g} after every step",
                      "step": f"η ← η·{cfg['schedule_gamma']:g} every {cfg['schedule_period']} steps",
                      "cosine": f"η ← η₀·(1 + cos(π·t / {cfg['schedule_period']})) / 2"}[cfg["schedule"]])
    return lines


def schema() -> dict:
    """Everything the page needs to draw its controls: choices, limits, defaults, presets."""
    return {
        "defaults": DEFAULTS, "limits": LIMITS,
        "datasets": {name: {"task": task, "about": about} for name, (task, about) in DATASETS.items()},
        "features": {name: label for name, (_, label) in FEATURES.items()},
        "activations": list(ACTIVATION_NAMES), "batch_modes": list(BATCH_MODES),
        "regularizations": list(REGULARIZATIONS), "inits": list(INITS),
        "schedules": list(SCHEDULES),
        "optimizers": {name: hyperparameter_schema(name) for name in registry.names()},
        "presets": {name: {"config": c, "why": why} for name, (c, why) in PRESETS.items()},
    }
