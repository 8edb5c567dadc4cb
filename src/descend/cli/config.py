"""The configuration of a ``descend train`` run: defaults, TOML files and flags.

One table of keys (:data:`FIELDS`) drives everything: the defaults shown by
``--help``, the keys a ``--config`` TOML file may hold, and the checks applied
to the merged result. Precedence, lowest first::

    built-in defaults  <  --config FILE  <  flags given on the command line

A TOML file is flat (``lr = 0.01``, ``model = [64, 32]`` or ``model = "64,32"``);
keys may be spelt with ``_`` or ``-``. An unknown key is an error that lists
the valid ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError", "Field", "FIELDS", "DEFAULTS", "load_toml", "merge", "parse_model",
    "parse_batch_size", "format_model", "format_batch_size", "SCHEDULERS", "TASKS", "check_int",
    "int_flag",
]

#: ``--scheduler`` choices: short names for the common learning-rate schedules
#: (each maps onto a scheduler of ``descend.optim.lr_scheduler``; see ``cli/train.py``).
SCHEDULERS = ("none", "cosine", "step", "exponential", "onecycle", "plateau")
TASKS = ("auto", "classification", "regression")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "softplus", "linear")
DTYPES = ("float32", "float64")
#: The keys only ``descend lr-find`` reads: a train run's stored configuration leaves them out.
LR_FIND_KEYS = ("start_lr", "end_lr", "steps")
#: The first words of a run's own config.toml (its header comment, written by descend train).
RUN_CONFIG_TITLE = "descend train configuration"
#: lr-find's keys that a run's config.toml held before train stopped storing them (``num_iter``
#: was lr-find's ``steps``): such a file still re-runs its run, and they are skipped there.
_OLD_RUN_CONFIG_KEYS = ("start_lr", "end_lr", "num_iter")
#: The range of an integer value: a TOML integer is a signed 64-bit number.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class ConfigError(ValueError):
    """A configuration value is invalid. ``key`` names it; ``source`` says where it came from."""

    def __init__(self, key: str | None, message: str, source: str | None = None):
        self.key = key
        self.source = source
        where = ""
        if key is not None:
            where = f"{key!r}" if source is None else f"{key!r} (from {source})"
            where += ": "
        super().__init__(where + message)
        self.detail = message


@dataclass(frozen=True)
class Field:
    """One configuration key: its name, kind, default and help text."""

    name: str
    kind: str  # "int", "float", "str", "bool", "model", "batch", "path"
    default: Any
    help: str
    optional: bool = False  # may be None (absent); TOML has no null, so a file can only omit it
    choices: tuple | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


FIELDS: tuple[Field, ...] = (
    # data
    Field("dataset", "str", "digits",
          "Bundled or synthetic data set (digits, iris, breast_cancer, diabetes, moons, spirals, ...); "
          "ignored when --data is given."),
    Field("data", "path", None, "Your own data: a .csv, .npz or IDX file (overrides --dataset).",
          optional=True),
    Field("test_data", "path", None,
          "A held-out test set in a file of its own (the same columns as --data): the data is then "
          "all training data, in its own order, and --test-size is not used.", optional=True),
    Field("target", "str", None,
          "Target column of a CSV file, or target array of an .npz file (default: last column / 'y').",
          optional=True),
    Field("task", "str", "auto", "classification, regression, or auto (integer targets: classification).",
          choices=TASKS),
    Field("test_size", "float", 0.2, "Fraction of the data held out as the test set."),
    Field("val_size", "float", 0.1,
          "Fraction of the training part held out for validation curves (0: none)."),
    Field("standardize", "bool", True, "Standardise features with the training set's mean and std."),
    # model
    Field("model", "model", [256],
          "Hidden layer sizes, comma separated (e.g. 64,32), or empty for a linear model y = Wx + b "
          "(--model '': no hidden layer; --model 1 is one hidden unit, which a ReLU can kill), or conv: a "
          "LeNet-style convolutional network for images (their shape from IDX files, image arrays in "
          ".npz files and the digits, else square with 1 or 3 channels; pixels are not standardised "
          "one by one)."),
    Field("activation", "str", "relu", "Hidden-layer activation.", choices=ACTIVATIONS),
    Field("dropout", "float", 0.0, "Dropout probability after each hidden layer."),
    Field("dtype", "str", "float32", "Floating-point type of the parameters and data.", choices=DTYPES),
    # optimisation
    Field("optimizer", "str", "adam", "Any optimizer of descend.optim (sgd, adam, adamw, rmsprop, ...)."),
    Field("lr", "float", 1e-3, "Learning rate."),
    Field("momentum", "float", None, "Momentum (optimizers that take one, e.g. sgd, rmsprop).",
          optional=True),
    Field("weight_decay", "float", 0.0, "L2 weight decay."),
    Field("l1", "float", 0.0,
          "L1 penalty: the training loss gets l1 times the sum of |w| over the layers' weights "
          "(not their biases) added."),
    Field("batch_size", "batch", 32, "Mini-batch size: k, 1 (SGD) or 'full' (full-batch gradient descent)."),
    Field("epochs", "int", 30, "Number of passes over the training set."),
    Field("shuffle", "bool", True, "New example order every epoch (reproducible from --seed)."),
    Field("max_steps", "int", None, "Stop after this many optimizer steps.", optional=True),
    Field("scheduler", "str", "none",
          "Learning-rate schedule: cosine annealing to 0, step (x0.1 at each third of the epochs), "
          "exponential (to lr/100), onecycle (per step), plateau (x0.1 after 5 epochs without "
          "validation improvement).", choices=SCHEDULERS),
    Field("patience", "int", None, "Early stopping: epochs without validation improvement.",
          optional=True),
    Field("tol", "float", None, "Stop when an epoch's mean training loss falls below this.",
          optional=True),
    Field("grad_tol", "float", None, "Stop when an epoch's mean gradient norm falls below this.",
          optional=True),
    Field("max_time", "float", None, "Stop after this many seconds.", optional=True),
    Field("divergence_factor", "float", 1e4,
          "Stop as diverged when the loss climbs more than this many times its scale above its best "
          "(or the parameters pass 100 times this); 0: only an inf/nan loss counts."),
    Field("seed", "int", 0, "Random seed: one seed reproduces a run bit for bit."),
    Field("threads", "int", None,
          "Threads for NumPy's matrix products (BLAS). Default: 1 for small models, where threads cost "
          "more than they save; the BLAS library's own choice for large ones.", optional=True),
    Field("compile", "bool", True,
          "Trace the training step once and replay it (faster, same results); --no-compile: every step eager."),
    Field("checkpoint_dir", "path", None,
          "Write a checkpoint there after every epoch (resume an interrupted run with --resume).",
          optional=True),
    Field("checkpoint_every", "int", None, "Also checkpoint every this many optimizer steps.",
          optional=True),
    Field("resume", "bool", False, "Continue from the checkpoint in --checkpoint-dir, if there is one."),
    # lr-find
    # the names and defaults of descend.train.lr_find (tests/cli/test_cli_config.py checks them)
    Field("start_lr", "float", 1e-7, "lr-find: smallest learning rate tried."),
    Field("end_lr", "float", 10.0, "lr-find: largest learning rate tried."),
    Field("steps", "int", 100, "lr-find: number of steps (learning rates) tried."),
    # output
    Field("name", "str", None,
          "Run name: the run folder is RUNS_DIR/NAME, never overwritten (default: dataset-timestamp).",
          optional=True),
    Field("runs_dir", "path", "runs", "Folder that holds the run folders."),
    Field("progress", "bool", True, "Show a live progress bar."),
)

_BY_NAME = {f.name: f for f in FIELDS}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS}


def valid_keys() -> list[str]:
    return [f.name for f in FIELDS]


# --------------------------------------------------------------------------- parsing helpers

def parse_model(value, *, key: str = "model", source: str | None = None) -> list[int] | str:
    """``"64,32"``, ``[64, 32]``, ``64`` or ``""`` -> ``[64, 32]`` / ``[64]`` / ``[]``; ``"conv"`` -> ``"conv"``."""
    if isinstance(value, str) and value.strip().lower() == "conv":
        return "conv"  # the convolutional network (job.build_model)
    if isinstance(value, bool):
        raise ConfigError(key, f"expected hidden layer sizes like 64,32, got {value!r}", source)
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, str):
        text = value.strip().strip("[]")
        items = [] if not text else [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(key, f"expected hidden layer sizes like 64,32, got {value!r}", source)
    sizes = []
    for item in items:
        try:
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                raise ValueError
            size = int(item)
        except (TypeError, ValueError):
            raise ConfigError(key, f"layer size {item!r} is not an integer (expected e.g. 64,32)",
                              source) from None
        if size < 1:
            raise ConfigError(key, f"layer sizes must be positive, got {size}", source)
        sizes.append(size)
    return sizes


def format_model(sizes) -> str:
    return sizes if isinstance(sizes, str) else ",".join(str(s) for s in sizes)


def parse_batch_size(value, *, key: str = "batch_size", source: str | None = None) -> int | None:
    """``32`` / ``"32"`` -> 32; ``"full"`` (or ``"all"``, ``"none"``) -> None (full batch)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("full", "all", "none"):
            return None
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(key, f"expected a positive integer or 'full', got {value!r}", source) from None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected a positive integer or 'full', got {value!r}", source)
    if value < 1:
        raise ConfigError(key, f"must be at least 1 (or 'full'), got {value}", source)
    return value


def format_batch_size(value) -> str:
    return "full" if value is None else str(value)


def check_int(key: str | None, value: int, source: str | None = None) -> int:
    """``value`` if it is a signed 64-bit integer, else :class:`ConfigError`: TOML integers are
    64-bit, Python's are not (a 20-digit ``--epochs`` would otherwise run for ever)."""
    if not INT_MIN <= value <= INT_MAX:
        raise ConfigError(key, f"{value} is out of range (integers must lie in [{INT_MIN}, {INT_MAX}])",
                          source)
    return value


def int_flag(ctx, param, value):
    """typer/click ``callback`` of an integer option of any descend command: :func:`check_int`,
    reported as a usage error naming the flag (``None``, an option left unset, passes)."""
    if value is None:
        return value
    try:
        return check_int(None, value)
    except ConfigError as exc:
        import typer  # the cli extra's: this module is read without it (sweep workers)

        raise typer.BadParameter(exc.detail, ctx=ctx, param=param) from None


def _coerce(field: Field, value, source: str | None):
    """Check the type of one value (from TOML or a flag) and normalise it."""
    key = field.name
    if value is None:
        if field.optional:
            return None
        raise ConfigError(key, "a value is required", source)
    kind = field.kind
    if kind == "model":
        return parse_model(value, key=key, source=source)
    if kind == "batch":
        return parse_batch_size(value, key=key, source=source)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}", source)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}", source)
        return check_int(key, value, source)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}", source)
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}", source)
        return value
    if kind in ("str", "path"):
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}", source)
        if field.choices is not None:
            value = value.strip().lower()
            if value not in field.choices:
                raise ConfigError(key, f"{value!r} is not one of {', '.join(field.choices)}", source)
        return value
    raise AssertionError(kind)  # pragma: no cover


# --------------------------------------------------------------------------- TOML

def read_toml(path: str, what: str, error) -> dict[str, Any]:
    """The table in the TOML file ``path``. A file that is missing, a folder or not TOML
    raises ``error(message)``, the message calling the file ``what`` (e.g. "config file")."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position "
                    f"{exc.start}); TOML files are UTF-8") from None
    except FileNotFoundError:
        raise error(f"{what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path!r} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path!r} is not valid TOML: {exc}") from None


def load_toml(path, keys=None, command: str = "descend train") -> dict[str, Any]:
    """Read a flat TOML config file; unknown keys are an error listing the valid ones.

    ``keys``: the keys ``command`` reads (default: every key of :data:`FIELDS`). A key of the
    table that this command does not read (``steps``, lr-find's, in a ``descend train`` file) is
    an error naming the key and the command, not silently ignored: train and lr-find share one
    table of keys, but not every key does something in both. Relative paths inside the file
    (``data``, ``runs_dir``) are taken relative to the file's folder, so a config works from any
    working directory.
    """
    path = os.fspath(path)
    source = os.path.basename(path)
    raw = read_toml(path, "config file", lambda message: ConfigError(None, message))
    accepted = valid_keys() if keys is None else [k for k in valid_keys() if k in set(keys)]
    with open(path, "rb") as fh:
        run_config = command == "descend train" and fh.readline().startswith(f"# {RUN_CONFIG_TITLE} (".encode())
    if run_config:
        raw = {k: v for k, v in raw.items() if k.replace("-", "_") not in _OLD_RUN_CONFIG_KEYS}
    # every key of another command at once (a run's config.toml given to lr-find holds a dozen)
    unread = [k for k in raw if k.replace("-", "_") in _BY_NAME and k.replace("-", "_") not in accepted]
    if unread:
        owners = sorted({"descend lr-find" if k.replace("-", "_") in LR_FIND_KEYS else "descend train"
                         for k in unread})
        listed = ", ".join(repr(k) for k in unread)
        raise ConfigError(
            None,
            f"{path!r}: key{'s' if len(unread) > 1 else ''} {listed} "
            f"{'are' if len(unread) > 1 else 'is'} not read by {command} (key{'s' if len(unread) > 1 else ''} "
            f"of {' and '.join(owners)}); remove {'them' if len(unread) > 1 else 'it'}. "
            f"The keys {command} reads are: " + ", ".join(accepted),
        )
    out: dict[str, Any] = {}
    for raw_key, value in raw.items():
        key = raw_key.replace("-", "_")
        field = _BY_NAME.get(key)
        if field is None:
            hint = difflib.get_close_matches(key, accepted, n=1)
            did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(
                None,
                f"{path!r}: unknown key {raw_key!r}{did_you_mean}; valid keys are: "
                + ", ".join(accepted),
            )
        if isinstance(value, dict):
            raise ConfigError(key, "tables are not allowed; the config file is flat (key = value)", source)
        value = _coerce(field, value, source)
        if field.kind == "path" and value is not None and not os.path.isabs(value):
            value = os.path.join(os.path.dirname(os.path.abspath(path)), value)
        out[key] = value
    return out


# --------------------------------------------------------------------------- merging

def merge(file_values: dict[str, Any] | None, flag_values: dict[str, Any],
          given: set[str]) -> dict[str, Any]:
    """Resolve the configuration: defaults < file < flags explicitly ``given``.

    ``flag_values`` holds every flag's value (typer fills in defaults for the
    ones not typed); only those in ``given`` override the file. Returns a dict
    with every key of :data:`FIELDS`, type-checked and range-checked.
    """
    cfg = dict(DEFAULTS)
    sources = {k: "default" for k in cfg}
    for key, value in (file_values or {}).items():
        cfg[key] = value
        sources[key] = "config file"
    for key, value in flag_values.items():
        if key in _BY_NAME and key in given:
            cfg[key] = _coerce(_BY_NAME[key], value, _BY_NAME[key].flag)
            sources[key] = _BY_NAME[key].flag
    check(cfg, sources)
    return cfg


def _source(sources, key):
    src = (sources or {}).get(key)
    return None if src in (None, "default") else src


def check(cfg: dict[str, Any], sources: dict[str, str] | None = None) -> None:
    """Range checks that do not need the rest of the library (raise :class:`ConfigError`)."""

    def bad(key, msg):
        raise ConfigError(key, msg, _source(sources, key))

    if not (0.0 < cfg["test_size"] < 1.0):
        bad("test_size", f"must be in (0, 1), got {cfg['test_size']}")
    if not (0.0 <= cfg["val_size"] < 1.0):
        bad("val_size", f"must be in [0, 1), got {cfg['val_size']}")
    if not (0.0 <= cfg["dropout"] < 1.0):
        bad("dropout", f"must be in [0, 1), got {cfg['dropout']}")
    if not cfg["lr"] > 0:
        bad("lr", f"must be positive, got {cfg['lr']}")
    if cfg["momentum"] is not None and not (0.0 <= cfg["momentum"] < 1.0):
        bad("momentum", f"must be in [0, 1), got {cfg['momentum']}")
    if cfg["weight_decay"] < 0:
        bad("weight_decay", f"must be non-negative, got {cfg['weight_decay']}")
    if cfg.get("l1", 0.0) < 0:
        bad("l1", f"must be non-negative, got {cfg['l1']}")
    if cfg["epochs"] < 1:
        bad("epochs", f"must be at least 1, got {cfg['epochs']}")
    for key in ("max_steps", "patience", "steps", "checkpoint_every", "threads"):
        if cfg[key] is not None and cfg[key] < 1:
            bad(key, f"must be at least 1, got {cfg[key]}")
    for key in ("tol", "grad_tol"):
        if cfg[key] is not None and cfg[key] < 0:
            bad(key, f"must be non-negative, got {cfg[key]}")
    if cfg.get("divergence_factor", 0) != 0 and not cfg["divergence_factor"] > 1:
        bad("divergence_factor", f"must be > 1, or 0 to turn the growth rule off, got {cfg['divergence_factor']}")
    if cfg["max_time"] is not None and not cfg["max_time"] > 0:
        bad("max_time", f"must be positive, got {cfg['max_time']}")
    if cfg["seed"] < 0:
        bad("seed", f"must be a non-negative integer, got {cfg['seed']}")
    if not (0 < cfg["start_lr"] < cfg["end_lr"]):
        bad("start_lr", f"need 0 < start_lr < end_lr, got {cfg['start_lr']} and {cfg['end_lr']}")
    if cfg["steps"] < 2:
        bad("steps", f"must be at least 2, got {cfg['steps']}")
    if cfg["checkpoint_dir"] is None:
        if cfg["resume"]:
            bad("resume", "needs --checkpoint-dir (the folder holding the checkpoint to resume from)")
        if cfg["checkpoint_every"] is not None:
            bad("checkpoint_every", "needs --checkpoint-dir (where to write the checkpoints)")
    if cfg["name"] is not None:
        name = cfg["name"]
        if not name or name.startswith(".") or "/" in name or "\\" in name or os.sep in name:
            bad("name", f"must be a plain folder name (no path separators, not starting with '.'), got {name!r}")
    if cfg["patience"] is not None and cfg["val_size"] == 0:
        bad("patience", "early stopping watches the validation loss; it needs val_size > 0")


def to_jsonable(cfg: dict[str, Any]) -> dict[str, Any]:
    """The resolved configuration as JSON-friendly values (what ``config.json`` stores)."""
    out = {}
    for f in FIELDS:
        value = cfg.get(f.name)
        out[f.name] = list(value) if f.kind == "model" and not isinstance(value, str) else value
    return out


def fields_by_name() -> dict[str, Field]:
    return dict(_BY_NAME)

