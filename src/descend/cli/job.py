"""What ``descend train`` does, without the command line around it.

:func:`run_training` takes a resolved configuration (see :mod:`.config`) and
does the whole job: load and split the data, standardise it, build the MLP,
train it with :func:`descend.train.fit`, evaluate it, and write the run folder
(:mod:`.runs`) with its report (:mod:`.report`). :func:`load_run` rebuilds a
trained model and its preprocessing from a run folder for ``evaluate`` and
``predict``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import descend
from descend import data as ddata

from ..data.builtin import IMAGE_SHAPES
from ..data.preprocessing import check_standardization
from ..serialization import CheckpointError, check_parameters
from ..train.guards import counted
from . import report as rep
from .config import (
    DEFAULTS,
    LR_FIND_KEYS,
    RUN_CONFIG_TITLE,
    ConfigError,
    format_batch_size,
    format_model,
    to_jsonable,
)
from .runs import (
    MODEL_FILE,
    RUN_FORMAT,
    RunError,
    StagedRun,
    read_json,
    write_bytes,
    write_csv,
    write_json,
    write_new,
    write_text,
    write_toml,
)

__all__ = ["Prepared", "Run", "dataset_names", "load_data", "prepare", "build_model", "run_training",
           "load_run", "LoadedRun", "predict_arrays", "evaluate_arrays", "evaluate_job", "predict_job",
           "lr_find_job"]

_FILE_LOADERS = {"load_csv", "load_npz", "load_idx"}
_SYNTHETIC_SIZE = 1000


# --------------------------------------------------------------------------- data

def dataset_names() -> list[str]:
    """Names accepted by ``--dataset``: the bundled sets and the synthetic generators."""
    names = []
    for attr in ddata.__all__:
        if attr.startswith("load_") and attr not in _FILE_LOADERS:
            names.append(attr[5:])
        elif attr.startswith("make_"):
            names.append(attr[5:])
    return names


def _load_dataset(name: str, seed: int):
    loader = getattr(ddata, f"load_{name}", None) if f"load_{name}" not in _FILE_LOADERS else None
    if loader is not None:
        X, y = loader()
        if name in IMAGE_SHAPES:  # rows of pixels: handed on as the images they are
            X = X.reshape(len(X), *IMAGE_SHAPES[name])
        return (X, y), f"bundled data set {name!r}"
    maker = getattr(ddata, f"make_{name}", None)
    if maker is None:
        raise ConfigError("dataset", f"unknown data set {name!r}; choose from: {', '.join(dataset_names())}")
    kwargs = {"n_samples": _SYNTHETIC_SIZE, "seed": seed}
    if "noise" in inspect.signature(maker).parameters:
        kwargs["noise"] = 0.1
    return maker(**kwargs), f"synthetic data set {name!r} ({_SYNTHETIC_SIZE} examples, noise 0.1)"


def load_file(path: str, target: str | None, *, need_target: bool = True, images: bool = False):
    """Read ``(X, y)`` from a ``.csv``, ``.npz`` or IDX file (``IMAGES,LABELS`` for IDX pairs).

    A CSV ``target`` is a column name or position (default: the last column);
    for ``.npz`` it names the target array. With ``need_target=False`` a file
    may hold features only (``y`` is then None). ``X`` is a table
    (n_examples, n_features), images flattened to rows of pixels, unless
    ``images``: then images are returned as stored, (n, H, W) or (n, C, H, W).
    """
    if "," in path and not os.path.exists(path):
        image_file, labels = path.split(",", 1)
        return ddata.load_idx(image_file, labels, flatten=not images)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file {path!r} does not exist")
    lower = path.lower()
    if lower.endswith(".npz"):
        try:
            return ddata.load_npz(path, y_key=target)
        except ddata.DataFormatError:
            if need_target:
                raise
        # features only (for predict): read the features array, validated by load_npz
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
        key = next((k for k in ("X", "x", "data", "features", "inputs", "images") if k in keys), None)
        if key is None:
            raise ddata.DataFormatError(f"{os.path.basename(path)} has no features array; it has {keys}")
        return ddata.load_npz(path, x_key=key, y_key=key)[0], None
    if lower.endswith((".csv", ".txt", ".tsv")):
        col = target
        if col is not None and col.lstrip("-").isdigit():
            col = int(col)
        delimiter = "\t" if lower.endswith(".tsv") else ","
        return ddata.load_csv(path, target=-1 if col is None else col, delimiter=delimiter)
    if "idx" in lower or "ubyte" in lower:
        images = ddata.read_idx(path).astype(np.float32)
        if images.max(initial=0) > 1.0:
            images /= 255.0
        return images.reshape(len(images), -1), None
    raise ConfigError("data", f"{path!r}: unknown file type (expected .csv, .tsv, .npz, or IDX images,labels)")


def load_data(cfg: dict[str, Any]):
    """``(X, y, description)`` for the configuration's ``data`` file or ``dataset`` name.

    ``X`` is a table (n_examples, n_features) or, for image data (IDX files,
    image arrays in ``.npz`` files, the bundled digits), the images
    (n, H, W) or (n, C, H, W): :func:`prepare` flattens them and keeps their shape.
    """
    if cfg.get("data"):
        X, y = load_file(cfg["data"], cfg.get("target"), images=True)
        desc = f"file {os.path.basename(cfg['data'])}"
    else:
        (X, y), desc = _load_dataset(cfg["dataset"], cfg["seed"])
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"data: features must be a table (n_examples, n_features), got shape {X.shape}")
    if y is None:
        raise ValueError("data: no target column/array found")
    return X, np.asarray(y), desc


def load_test_data(cfg: dict[str, Any]):
    """``(X_test, y_test)`` from ``--test-data`` (the same target column as ``--data``), or None."""
    if not cfg.get("test_data"):
        return None
    X, y = load_file(cfg["test_data"], cfg.get("target"), images=True)
    return np.asarray(X), np.asarray(y)


def infer_task(y: np.ndarray, task: str) -> str:
    if task != "auto":
        return task
    return "classification" if y.dtype.kind in "biu" and (y.ndim == 1 or y.shape[1] == 1) else "regression"


@dataclass
class Prepared:
    """Data ready for training: raw and standardised splits plus the preprocessing state."""

    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray
    X_test_raw: np.ndarray
    y_test_raw: np.ndarray
    classes: np.ndarray | None  # original labels, index = class id
    preprocessing: dict = field(default_factory=dict)
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) of image data (rows are its pixels)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        if self.task == "classification":
            return len(self.classes)
        return self.y_train.shape[1]


def _standardizer(X_train, enabled: bool):
    if not enabled:
        d = X_train.shape[1]
        return {"mean": np.zeros(d), "scale": np.ones(d)}
    sc = ddata.StandardScaler().fit(X_train)
    return {"mean": sc.mean_, "scale": sc.scale_}


def stored_image_shape(X: np.ndarray) -> tuple[int, int, int] | None:
    """(C, H, W) of images stored as (n, H, W) (one channel) or (n, C, H, W); None for a table."""
    shape = tuple(int(n) for n in np.shape(X)[1:])
    if len(shape) == 2:
        return (1, *shape)
    return shape if len(shape) == 3 else None


def apply_scaling(X: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype=np.float32) -> np.ndarray:
    return ((np.asarray(X, dtype=np.float64) - mean) / scale).astype(dtype)


def prepare(cfg: dict[str, Any], X: np.ndarray, y: np.ndarray, test=None) -> Prepared:
    """Split into train/validation/test (stratified for classes) and standardise with training statistics.

    Features become ``(x - mean) / std`` with the training split's statistics
    (a constant feature keeps std 1), in ``cfg["dtype"]``; regression targets
    are standardised the same way (predictions are mapped back). ``test``: a
    held-out ``(X_test, y_test)`` (``--test-data``); ``X, y`` are then the
    training data, kept in their order, and only the validation part is split off.
    """
    task = infer_task(y, cfg["task"])
    dtype = np.dtype(cfg.get("dtype", "float32"))
    seed = cfg["seed"]
    classes = None
    X = np.asarray(X)
    if test is not None and np.asarray(test[0]).shape[1:] != X.shape[1:]:
        raise ValueError(f"test_data: {np.asarray(test[0]).shape[1:]} features per example, but the "
                         f"data has {X.shape[1:]}")
    # images become rows of pixels; their shape is kept for a convolutional network
    image_shape = stored_image_shape(X)
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    if test is not None and np.ndim(test[0]) > 2:
        test = (np.asarray(test[0]).reshape(len(test[0]), -1), test[1])
    if task == "classification":
        y = y.reshape(-1)
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise ValueError("data: classification needs integer class labels; use --task regression")
        classes, y_ids = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"data: classification needs at least 2 classes, found {len(classes)}")
        y = y_ids.astype(np.int64)
        stratify = y
        if test is not None:
            y_test = np.asarray(test[1]).reshape(-1)
            unknown = np.setdiff1d(y_test, classes)
            if len(unknown):
                raise ValueError(f"test_data: labels {unknown[:5].tolist()} are not among the training "
                                 f"data's classes {classes[:10].tolist()}")
            test = (test[0], np.searchsorted(classes, y_test).astype(np.int64))
    else:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if not np.all(np.isfinite(y)):
            raise ValueError("data: the targets contain NaN or infinite values")
        stratify = None
    if not np.all(np.isfinite(X)):
        raise ValueError("data: the features contain NaN or infinite values")
    counts = np.bincount(y) if stratify is not None else None
    if counts is not None and counts.min() < 2:
        stratify = None  # a class with one example cannot be on both sides
    if test is None:
        X_tr, X_te, y_tr, y_te = ddata.train_test_split(X, y, test_size=cfg["test_size"],
                                                        stratify=stratify, seed=seed)
    else:
        X_te, y_te = np.asarray(test[0]), np.asarray(test[1])
        if task == "regression":
            y_te = np.asarray(y_te, dtype=np.float64).reshape(len(y_te), -1)
        if task == "regression" and y_te.shape[1:] != y.shape[1:]:
            raise ValueError(f"test_data: {y_te.shape[1]} target columns, but the data has {y.shape[1]}")
        if not (np.all(np.isfinite(X_te)) and np.all(np.isfinite(y_te))):
            raise ValueError("test_data: the features or targets contain NaN or infinite values")
        X_tr, y_tr = X, y
    X_val = y_val = None
    if cfg["val_size"] > 0:
        strat = y_tr if stratify is not None and np.bincount(y_tr).min() >= 2 else None
        X_tr, X_val, y_tr, y_val = ddata.train_test_split(X_tr, y_tr, test_size=cfg["val_size"], stratify=strat,
                                                          seed=seed + 1)
    # A convolution applies one kernel at every pixel, so every pixel must keep the image's one
    # scale: per-pixel standardisation would blow the rarely inked border pixels up to large values.
    scaling = _standardizer(X_tr, cfg["standardize"] and cfg["model"] != "conv")
    pre = {"mean": scaling["mean"], "scale": scaling["scale"]}
    if task == "regression" and cfg["standardize"]:
        # standardised targets keep the loss O(1) whatever the units; predictions are mapped back
        y_mean = y_tr.astype(np.float64).mean(axis=0)
        y_scale = y_tr.astype(np.float64).std(axis=0)
        y_scale[y_scale == 0] = 1.0
    else:
        y_mean = np.zeros(1 if y.ndim == 1 else y.shape[1])
        y_scale = np.ones_like(y_mean)
    pre["y_mean"], pre["y_scale"] = y_mean, y_scale

    def sx(a):
        return None if a is None else apply_scaling(a, pre["mean"], pre["scale"], dtype)

    def sy(a):
        if a is None or task == "classification":
            return a
        return ((a.astype(np.float64) - y_mean) / y_scale).astype(dtype)

    y_te_raw = classes[y_te] if task == "classification" else y_te
    return Prepared(task, sx(X_tr), sy(y_tr), sx(X_val), sy(y_val), sx(X_te), sy(y_te),
                    np.asarray(X_te), y_te_raw, classes, pre, image_shape)


# --------------------------------------------------------------------------- model

def conv_image_shape(n_features: int, image_shape=None) -> tuple[int, int, int]:
    """(C, H, W) of the images whose pixels are rows of ``n_features``.

    ``image_shape``: the shape the data recorded (IDX files, image arrays in ``.npz``
    files, the bundled digits), which must hold ``n_features`` pixels. Without one
    it is guessed: square images with 1 channel, else 3.
    """
    if image_shape is not None:
        shape = tuple(int(n) for n in image_shape)
        if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != n_features:
            raise ConfigError("model", f"conv: the data's image shape {shape} does not hold its {n_features} "
                                       "features per example")
        return shape  # type: ignore[return-value]
    for channels in (1, 3):
        side = rep.image_shape(n_features // channels) if n_features % channels == 0 else None
        if side is not None:
            return (channels, *side)
    raise ConfigError("model", f"conv needs images: {n_features} features per example are not the "
                               "pixels of square images with 1 or 3 channels, and the data records no image "
                               "shape (IDX files, image arrays in .npz files and the bundled digits do)")


def layer_widths(hidden, n_features: int, n_outputs: int) -> list[int]:
    """Input, hidden and output widths of the MLP (input and output alone for the conv network)."""
    return [n_features, *([] if hidden == "conv" else hidden), n_outputs]


def describe_model(hidden, n_features: int, n_outputs: int, image_shape=None) -> str:
    if hidden == "conv":
        c, h, w = conv_image_shape(n_features, image_shape)
        return f"conv (LeNet-style, {c}x{h}x{w} images -> {n_outputs})"
    return format_model(layer_widths(hidden, n_features, n_outputs))


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def check_model_size(sizes: list[int], dtype: str = "float32") -> None:
    """Refuse, before anything is allocated, an MLP whose parameters alone exceed this machine's
    memory (training needs about four times that: gradients and optimizer state)."""
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    check_memory("model", n_params * np.dtype(dtype).itemsize,
                 lambda size: f"layer sizes {format_model(sizes)} make {n_params:,} parameters: "
                              f"{size} in {dtype} (about 4x that to train)")


def check_memory(key: str, need: int, describe) -> None:
    """Refuse, before anything is allocated, work whose arrays alone (``need`` bytes) exceed this
    machine's memory: :class:`ConfigError` for ``key``, its message ``describe(size)`` (``size``:
    ``need`` in KiB, GiB, ...) and the memory there is."""
    memory = physical_memory()
    if memory is not None and need > memory:
        raise ConfigError(key, f"{describe(_bytes(need))}, more than this machine's {_bytes(memory)} of memory")


def build_model(n_features: int, hidden: list[int] | str, n_outputs: int, activation: str, dropout: float,
                dtype: str = "float32", image_shape=None):
    """``nn.MLP([n_features, *hidden, n_outputs])``: logits (classification) or values (regression);
    for ``hidden="conv"`` an ``nn.LeNet`` over the rows' pixels as images of ``image_shape`` (C, H, W)
    (see :func:`conv_image_shape`; 16 and 32 channels and one hidden layer of 64: 0.987 test accuracy
    on the 8x8 digits over 5 seeds, LeNet-5's 6 and 16 channels 0.96)."""
    activation = "identity" if activation == "linear" else activation  # nn's name for it
    if hidden == "conv":
        return descend.nn.LeNet(conv_image_shape(n_features, image_shape), n_outputs, channels=(16, 32), hidden=(64,),
                                activation=activation, dropout=dropout, dtype=np.dtype(dtype))
    check_model_size([n_features, *hidden, n_outputs], dtype)
    return descend.nn.MLP([n_features, *hidden, n_outputs], activation=activation, dropout=dropout,
                          dtype=np.dtype(dtype))


def make_optimizer(cfg: dict[str, Any], params):
    hp = {"lr": cfg["lr"]}
    if cfg["weight_decay"]:
        hp["weight_decay"] = cfg["weight_decay"]
    if cfg["momentum"] is not None:
        hp["momentum"] = cfg["momentum"]
    name = cfg["optimizer"]
    names = list(descend.optim.names())
    if name not in names:
        raise ConfigError("optimizer", f"unknown optimizer {name!r}; choose from: {', '.join(names)}")
    try:
        return descend.optim.get(name, params, **hp)
    except TypeError as exc:  # e.g. momentum for an optimizer without one: name the flag at fault
        key = next((k for k in hp if k != "lr" and repr(k) in str(exc)), "optimizer")
        raise ConfigError(key, f"{name}: {exc}") from None


def make_scheduler(cfg: dict[str, Any], optimizer, steps_per_epoch: int):
    """``(scheduler or None, interval)`` for the ``--scheduler`` short names.

    Each is a ``descend.optim.lr_scheduler`` object stepped once per epoch
    (``interval="epoch"``), except ``onecycle``, stepped once per optimizer
    step as in PyTorch. With ``E`` epochs and base rate ``lr``:

    * ``cosine``: ``CosineAnnealingLR(T_max=E)``, from ``lr`` down to 0;
    * ``step``: ``StepLR(step_size=max(1, E // 3), gamma=0.1)``;
    * ``exponential``: ``ExponentialLR(gamma=0.01 ** (1 / E))``, ``lr / 100`` at the end;
    * ``onecycle``: ``OneCycleLR(max_lr=lr, total_steps=E * steps_per_epoch)``;
    * ``plateau``: ``ReduceLROnPlateau(factor=0.1, patience=5)`` on the validation loss
      (the training loss without a validation set).
    """
    name = cfg["scheduler"]
    sched = descend.optim.lr_scheduler
    epochs = cfg["epochs"]
    if name == "none":
        return None, "epoch"
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if name == "step":
        return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if name == "exponential":
        return sched.ExponentialLR(optimizer, gamma=0.01 ** (1.0 / max(1, epochs))), "epoch"
    if name == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=cfg["lr"], total_steps=epochs * steps_per_epoch), "step"
    if name == "plateau":
        return sched.ReduceLROnPlateau(optimizer, factor=0.1, patience=5), "epoch"
    raise ConfigError("scheduler", f"unknown scheduler {name!r}")  # pragma: no cover - choices checked


# --------------------------------------------------------------------------- BLAS threads

#: Multiply-adds of the largest matrix product of one step below which one BLAS thread is used.
#: Below it, waking and synchronising threads costs more than it saves: the default digits run
#: (batch 32, 64x256 weights: 5e5) trains several times faster single-threaded, most of all on a
#: busy machine. Above it (e.g. batch 128 with 784x256 weights: 2.6e7) BLAS keeps its own choice.
SMALL_MODEL_WORK = 1 << 22


def blas_threads(cfg: dict[str, Any], sizes: list[int], batch_rows: int):
    """A context manager limiting BLAS threads per ``cfg["threads"]`` (None: by model size).

    ``sizes`` are the layer widths, ``batch_rows`` the examples per step; the
    work of the largest product is ``batch_rows * max(fan_in * fan_out)``.
    Needs ``threadpoolctl`` (installed with scikit-learn); without it the
    automatic choice does nothing and an explicit ``threads`` is an error.
    """
    threads = cfg.get("threads")
    if threads is None:
        work = batch_rows * max((a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)), default=0)
        if work > SMALL_MODEL_WORK:
            return contextlib.nullcontext()
        threads = 1
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if cfg.get("threads") is None:
            return contextlib.nullcontext()
        raise ConfigError("threads", "limiting BLAS threads needs threadpoolctl (pip install threadpoolctl)") from None
    return threadpool_limits(limits=threads, user_api="blas")


# --------------------------------------------------------------------------- evaluation

def forward(model, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Model outputs for ``X`` in evaluation mode, in chunks (no graph is recorded)."""
    model.eval()
    outs = []
    with descend.no_grad():
        for i in range(0, len(X), batch):
            outs.append(np.asarray(model(descend.tensor(X[i:i + batch])).data))
    if not outs:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(outs)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def evaluate_arrays(model, task: str, X: np.ndarray, y: np.ndarray, y_scale=None) -> dict[str, float]:
    """Metrics of ``model`` on standardised ``X`` and encoded ``y``.

    Classification: cross-entropy ``loss`` and ``accuracy``. Regression: ``loss``
    (the MSE that was minimised, on standardised targets), and ``mse``, ``mae``
    (original units, via ``y_scale``) and ``r2`` = 1 - SSE/SST.
    """
    out = forward(model, X)
    if task == "classification":
        # cross-entropy from the log-softmax, log sum exp(z) - z_y >= 0: exact where the
        # probability of the true class underflows (a diverged run's logits), never -0.0
        z = out.astype(np.float64)
        top = z.max(axis=1)
        log_sum = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        loss = float(np.mean(log_sum - z[np.arange(len(y)), y]))
        return {"loss": loss, "accuracy": float(np.mean(z.argmax(axis=1) == y))}
    err = out.astype(np.float64) - y
    scale = np.ones(err.shape[1]) if y_scale is None else np.asarray(y_scale, np.float64)
    loss = float(np.mean(err ** 2))
    sst = float(np.sum((y - y.mean(axis=0)) ** 2))
    r2 = 1.0 - float(np.sum(err ** 2)) / sst if sst > 0 else float("nan")
    return {"loss": loss, "mse": float(np.mean((err * scale) ** 2)), "mae": float(np.mean(np.abs(err * scale))),
            "r2": r2}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


# --------------------------------------------------------------------------- the job

@dataclass
class Run:
    """What :func:`run_training` returns."""

    path: Path
    metrics: dict
    history: Any
    config: dict


def _log_scale(values) -> bool:
    """A log axis helps when the values span more than a factor of 10 (and are all positive)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() > 10)


def _plots(history, run_dir: Path, task: str) -> list[tuple[str, bytes]]:
    """Write loss/accuracy/lr PNGs with descend.viz; return ``(caption, png)`` for the report.

    Returns ``[]`` when matplotlib (the ``plot`` extra) is not installed: the report then says
    so instead.
    """
    try:
        from descend import viz
    except ImportError:
        return []
    what = " (MSE on the standardised target)" if task == "regression" else " (cross-entropy)"
    specs = [("loss.png", f"Loss{what}: training (per step and per epoch) and validation",
              lambda: viz.plot_history(history, panels=["loss"], title="Loss"))]
    if task == "classification":
        specs.append(("accuracy.png", "Accuracy: training and validation",
                      lambda: viz.plot_history(history, panels=["metrics"], title="Accuracy")))
    if history.step_lr:
        specs.append(("lr.png", "Learning-rate schedule (per optimizer step)",
                      lambda: viz.plot_lr_schedule(history.step_lr, log=_log_scale(history.step_lr),
                                                   title="Learning rate")))
    out = []
    for filename, caption, draw in specs:
        png = rep.figure_png(draw())
        write_bytes(run_dir / filename, png)
        out.append((caption, png))
    return out


def _surface_section(model, prep: Prepared, run_dir: Path) -> list[tuple[str, list]]:
    """For two-feature data: the data and the learned decision regions (or regression surface),
    written to ``surface.png``; ``[]`` for other data or without matplotlib."""
    if prep.n_features != 2 or (prep.task == "regression" and prep.n_outputs != 1):
        return []
    try:
        from descend import viz
    except ImportError:
        return []
    pre = prep.preprocessing
    dtype = prep.X_train.dtype
    X_train_raw = prep.X_train.astype(np.float64) * pre["scale"] + pre["mean"]
    if prep.task == "classification":
        def predict(points):
            return forward(model, apply_scaling(points, pre["mean"], pre["scale"], dtype)).argmax(axis=1)

        y_train = prep.y_train
        names = [str(c) for c in prep.classes.tolist()]
    else:
        def predict(points):
            out = forward(model, apply_scaling(points, pre["mean"], pre["scale"], dtype)).astype(np.float64)
            return out[:, 0] * pre["y_scale"][0] + pre["y_mean"][0]

        y_train = prep.y_train[:, 0].astype(np.float64) * pre["y_scale"][0] + pre["y_mean"][0]
        names = None
    X = np.concatenate([X_train_raw, np.asarray(prep.X_test_raw, dtype=np.float64)])
    y = np.concatenate([np.asarray(y_train), np.asarray(prep.y_test_raw).reshape(-1) if prep.task == "regression"
                        else prep.y_test])
    fig = viz.plot_decision_surface(predict, X, y, task=prep.task, class_names=names)
    png = rep.figure_png(fig)
    write_bytes(run_dir / "surface.png", png)
    what = ("decision regions, boundaries and the misclassified examples (crosses)"
            if prep.task == "classification" else "predicted value (fill) against the targets (points)")
    return [("What the model learned", [(f"Training and test examples over the learned {what}", png)])]


def _conv_section(model, prep: Prepared, run_dir: Path, examples: int = 4) -> list[tuple[str, list]]:
    """For the conv network: its first layer's kernels (``filters.png``) and the feature maps they
    make of a few test images (``feature_maps.png``); ``[]`` for other models or without matplotlib."""
    if not isinstance(model, descend.nn.LeNet):
        return []
    try:
        from descend import viz
    except ImportError:
        return []
    conv, act = model[0], model[1]  # the first convolution and its activation
    images = prep.X_test[:examples].reshape((-1, *model.in_shape))
    with descend.no_grad():
        maps = act(conv(descend.tensor(images))).data
    filters = rep.figure_png(viz.plot_filters(conv.weight, title="First-layer kernels"))
    feature_maps = rep.figure_png(viz.plot_feature_maps(images, maps, title="What the first layer sees"))
    write_bytes(run_dir / "filters.png", filters)
    write_bytes(run_dir / "feature_maps.png", feature_maps)
    return [("Inside the convolutional network", [
        ("The learned kernels of the first convolution layer (red positive, blue negative weights)", filters),
        ("Test images and the feature maps of the first layer (after its activation)", feature_maps),
    ])]


def _seeded_setup(cfg: dict[str, Any]):
    """Seed, load and split the data, build the model and its optimizer: what every job starts with.

    Returns ``(data description, Prepared, model, optimizer)``.
    """
    descend.manual_seed(cfg["seed"])
    X, y, data_desc = load_data(cfg)
    prep = prepare(cfg, X, y, load_test_data(cfg))
    model = build_model(prep.n_features, cfg["model"], prep.n_outputs, cfg["activation"], cfg["dropout"],
                        cfg["dtype"], prep.image_shape)
    return data_desc, prep, model, make_optimizer(cfg, model.parameters())


def l1_penalized(loss, model, rate: float):
    """``loss(output, target) + rate·Σ|w|`` over the weights of the model's layers (a parameter
    named ``weight``), not their biases: the penalty ``--l1`` trains with. The reported losses
    (history, metrics.json) include it during training; the evaluations after it do not."""
    from ..train.metrics import penalized

    weights = [p for name, p in model.named_parameters() if name.rsplit(".", 1)[-1] == "weight"]
    return penalized(loss, weights, "l1", rate)


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run_training(cfg: dict[str, Any], *, echo=print, warn=_warn_stderr, config_source: str | None = None) -> Run:
    """Do the whole ``descend train`` job and return the run (see the module docstring).

    Everything that can be checked is checked before training starts (data,
    optimizer, scheduler, a free run name). The run folder is assembled in a
    hidden staging folder and appears under its name only once complete
    (:class:`~descend.cli.runs.StagedRun`); on any failure or interruption
    nothing is left behind.
    """
    t0 = time.perf_counter()
    data_desc, prep, model, optimizer = _seeded_setup(cfg)
    batch = cfg["batch_size"]
    n_train = len(prep.X_train)
    steps_per_epoch = 1 if batch is None else -(-n_train // batch)
    scheduler, interval = make_scheduler(cfg, optimizer, steps_per_epoch)
    loss = descend.nn.CrossEntropyLoss() if prep.task == "classification" else descend.nn.MSELoss()
    if cfg.get("l1"):
        loss = l1_penalized(loss, model, cfg["l1"])
    metrics = ("loss", "accuracy") if prep.task == "classification" else ("loss",)
    validation = (prep.X_val, prep.y_val) if prep.X_val is not None else None
    if cfg["patience"] is not None and validation is None:
        raise ConfigError("patience", "early stopping needs a validation set (val_size > 0)")

    threads = blas_threads(cfg, layer_widths(cfg["model"], prep.n_features, prep.n_outputs), batch or n_train)
    try:
        staged = StagedRun(cfg["runs_dir"], cfg["name"], stem=_stem(cfg))
    except RunError as exc:
        if cfg["name"] is not None and "already exists" in str(exc):
            raise ConfigError("name", str(exc)) from None
        raise
    try:
        with threads:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            write_toml(staged.path / "config.toml", _toml_config(cfg),
                       header=f"{RUN_CONFIG_TITLE} ({stamp}); re-run with: descend train --config config.toml")
            echo(f"descend train: {data_desc}, {prep.task}, {n_train} train / "
                 f"{0 if prep.X_val is None else len(prep.X_val)} validation / {len(prep.X_test)} test examples")
            echo(f"model {describe_model(cfg['model'], prep.n_features, prep.n_outputs, prep.image_shape)} ({cfg['activation']}), "
                 f"{cfg['optimizer']} lr={cfg['lr']:g}, batch {format_batch_size(batch)}, {counted(cfg['epochs'], 'epoch')}"
                 f" -> {staged.final_path}")
            history = descend.train.fit(
                model, (prep.X_train, prep.y_train), loss=loss, optimizer=optimizer,
                batch_size=batch, epochs=cfg["epochs"], shuffle=cfg["shuffle"], max_steps=cfg["max_steps"],
                validation=validation, metrics=metrics, scheduler=scheduler, scheduler_interval=interval,
                tol=cfg["tol"], grad_tol=cfg["grad_tol"], patience=cfg["patience"], max_time=cfg["max_time"],
                progress=cfg["progress"], seed=cfg["seed"], checkpoint_dir=cfg["checkpoint_dir"],
                resume=cfg["resume"], checkpoint_every=cfg["checkpoint_every"],
                compile=None if cfg["compile"] else False,  # None: fit traces descend.nn models (an MLP is one)
                divergence_factor=cfg.get("divergence_factor", 1e4) or None,  # 0: the growth rule off
                divergence_warning=False,  # reported once, below, as one line
            )
            if history.stop_reason == "diverged":
                warn(f"warning: {history.stop_message}")
            for message in dead_layer_warnings(model, prep, cfg):
                warn(f"warning: {message}")
            train_time = time.perf_counter() - t0
            result = _finish(cfg, staged.path, staged.name, model, prep, history, data_desc, train_time,
                             config_source)
            result.path = staged.publish()
            if staged.renamed:
                echo(f"note: run folder {str(staged.final_path.with_name(staged.requested))!r} appeared while "
                     f"training (another run with the same --name); this run is in {str(result.path)!r}")
    except BaseException:
        staged.discard()  # nothing half-written is ever left in the runs folder
        raise
    return result


def dead_layer_warnings(model, prep: Prepared, cfg: dict[str, Any], limit: int = 4096) -> list[str]:
    """A sentence for each hidden layer whose every unit is dead (its activation's derivative
    is 0 for every training example looked at, the first ``limit``): the layers above it then
    see a constant, and so does the loss. One ReLU unit (``--model 1``) dies this way easily,
    and a reader who wanted the linear model y = Wx + b gets a constant."""
    if cfg["model"] == "conv" or not cfg["model"]:
        return []
    X, y = prep.X_train[:limit], prep.y_train[:limit]
    loss = "cross_entropy" if prep.task == "classification" else "mse"
    layers = descend.backprop.MLP.from_module(model).explain(X, y, loss=loss).layers[:-1]
    messages = []
    for stats in layers:
        if stats.dead_fraction == 1.0:
            units = stats.shape[0]
            messages.append(
                f"hidden layer {stats.layer} ({units} {cfg['activation']} unit{'s' if units != 1 else ''}) is "
                f"dead: its output is 0 for all {len(X)} training examples looked at, so the model predicts "
                f"a constant. For a linear model use --model '' (no hidden layer); otherwise use wider "
                f"layers, a smaller --lr or --activation leaky_relu")
    return messages


def _stem(cfg) -> str:
    if cfg.get("data"):
        base = os.path.splitext(os.path.basename(cfg["data"].split(",")[0]))[0]
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in base) or "run"
    return cfg["dataset"]


def _toml_config(cfg) -> dict:
    """The run's config.toml: ``descend train --config RUN/config.toml`` repeats the run.

    ``runs_dir`` is ``".."``, the folder that holds the run (relative paths in a config file are
    taken from the file's folder), so a re-run lands beside the run it repeats, and beside a
    copied run folder rather than in the original's folder. ``data`` and ``checkpoint_dir`` stay
    absolute: they name things outside the run folder. lr-find's keys are not train's.
    """
    out = {k: v for k, v in to_jsonable(cfg).items() if k not in LR_FIND_KEYS}
    out["batch_size"] = format_batch_size(cfg["batch_size"]) if cfg["batch_size"] is None else cfg["batch_size"]
    out.pop("name", None)  # a re-run gets its own folder
    for key in ("data", "test_data", "checkpoint_dir"):
        if out.get(key):
            out[key] = _abs_data(out[key]) if key == "data" else os.path.abspath(out[key])
    out["runs_dir"] = ".."  # the run folder is RUNS_DIR/NAME
    out["resume"] = False  # a re-run starts afresh unless asked again
    return out


def _abs_data(path: str) -> str:
    """Absolute form of a ``--data`` value (``IMAGES,LABELS`` pairs made absolute part by part)."""
    if "," in path and not os.path.exists(path):
        return ",".join(os.path.abspath(p) for p in path.split(",", 1))
    return os.path.abspath(path)


def _stored_config(cfg) -> dict:
    """The configuration as config.json stores it: paths absolute, so the run's data can be found
    later; lr-find's keys are not train's."""
    out = {k: v for k, v in to_jsonable(cfg).items() if k not in LR_FIND_KEYS}
    for key in ("data", "test_data", "runs_dir", "checkpoint_dir"):
        if out.get(key):
            out[key] = _abs_data(out[key]) if key == "data" else os.path.abspath(out[key])
    return out


def _finish(cfg, run_dir: Path, run_name: str, model, prep: Prepared, history, data_desc: str,
            train_time: float, config_source) -> Run:
    """Evaluate the trained model and write every file of the run into ``run_dir`` (the staging folder)."""
    task = prep.task
    splits = {"train": (prep.X_train, prep.y_train), "val": (prep.X_val, prep.y_val),
              "test": (prep.X_test, prep.y_test)}
    metrics: dict[str, Any] = {}
    for split, (Xs, ys) in splits.items():
        if Xs is None:
            continue
        for k, v in evaluate_arrays(model, task, Xs, ys, prep.preprocessing["y_scale"]).items():
            metrics[f"{split}_{k}"] = v
    n_params = int(sum(p.data.size for p in model.parameters()))
    metrics.update({
        "epochs": len(history.epochs), "steps": len(history.step_loss), "stop_reason": history.stop_reason,
        "stop_message": history.stop_message,
        # the metrics above are those of the saved parameters: after a divergence, the ones of the
        # last accepted step (its loss is the last row of steps.csv)
        "diverged": history.stop_reason == "diverged",
        "last_step_loss": history.step_loss[-1] if history.step_loss else None,
        "train_time_s": round(train_time, 3), "parameters": n_params,
    })

    # model.npz: everything needed to rebuild the network and preprocess new data
    arch = {"sizes": layer_widths(cfg["model"], prep.n_features, prep.n_outputs), "activation": cfg["activation"],
            "dropout": cfg["dropout"], "task": task, "dtype": cfg["dtype"], "conv": cfg["model"] == "conv"}
    if isinstance(model, descend.nn.LeNet):
        arch["image_shape"] = list(model.in_shape)
    pre = dict(prep.preprocessing)
    if prep.classes is not None:
        pre["classes"] = prep.classes
    descend.save({"format": RUN_FORMAT, "architecture": arch, "preprocessing": pre,
                  "state_dict": dict(model.state_dict())}, run_dir / MODEL_FILE)

    info = {"format": RUN_FORMAT, "config": _stored_config(cfg), "data": data_desc, "task": task,
            "n_features": prep.n_features, "architecture": arch,
            "classes": None if prep.classes is None else prep.classes.tolist(),
            "descend_version": descend.__version__, "python": platform.python_version(),
            "numpy": np.__version__, "config_file": config_source}
    write_json(run_dir / "config.json", info)
    write_csv(run_dir / "history.csv", history.epochs, history.columns())
    write_csv(run_dir / "steps.csv", [
        {"step": i + 1, "loss": history.step_loss[i],
         "lr": history.step_lr[i] if i < len(history.step_lr) else None,
         "grad_norm": history.step_grad_norm[i] if i < len(history.step_grad_norm) else None}
        for i in range(len(history.step_loss))])
    write_json(run_dir / "metrics.json", metrics)

    plots = _plots(history, run_dir, task)
    confusion = misclassified = None
    shape = None
    if task == "classification":
        out = forward(model, prep.X_test)
        proba = softmax(out)
        pred = proba.argmax(axis=1)
        k = len(prep.classes)
        labels = [str(c) for c in prep.classes.tolist()]
        confusion = (confusion_matrix(prep.y_test, pred, k), labels)
        wrong = np.flatnonzero(pred != prep.y_test)
        wrong = wrong[np.argsort(-proba[wrong, pred[wrong]], kind="stable")]  # most confident mistakes first
        misclassified = [{"x": prep.X_test_raw[i], "true": labels[prep.y_test[i]], "pred": labels[pred[i]],
                          "confidence": float(proba[i, pred[i]])} for i in wrong]
        shape = rep.image_shape(prep.n_features)
        if prep.image_shape is not None and prep.image_shape[0] == 1:
            shape = prep.image_shape[1:]  # (a one-channel image need not be square)
    headline = {}
    if task == "classification":
        headline["test accuracy"] = metrics["test_accuracy"]
        headline["test loss"] = metrics["test_loss"]
    else:  # the loss was minimised on the standardised target; say which number is in which units
        headline["test R²"] = metrics["test_r2"]
        headline["test MSE (target's units)"] = metrics["test_mse"]
        headline["test loss (standardised target)"] = metrics["test_loss"]
    headline["epochs"] = metrics["epochs"]
    headline["train time (s)"] = metrics["train_time_s"]
    shown_cfg = {k: (format_model(v) if k == "model" else format_batch_size(v) if k == "batch_size" else v)
                 for k, v in to_jsonable(cfg).items() if k not in (*LR_FIND_KEYS, "progress")
                 and not (k == "dataset" and cfg.get("data"))}  # --data replaces --dataset: show the one used
    html = rep.render_report(
        title=f"descend run {run_name}",
        subtitle=(f"{data_desc} · {task} · model {describe_model(cfg['model'], prep.n_features, prep.n_outputs, prep.image_shape)} "
                  f"· stopped: {history.stop_reason}"),
        config=shown_cfg, metrics=metrics, headline=headline, plots=plots, confusion=confusion,
        misclassified=misclassified, misclassified_shape=shape,
        history_rows=history.epochs, task=task,
        sections=_surface_section(model, prep, run_dir) + _conv_section(model, prep, run_dir),
        plots_note="" if plots else "The plots need matplotlib: pip install 'descend[plot]'.")
    write_text(run_dir / "report.html", html)
    return Run(run_dir, metrics, history, cfg)


# --------------------------------------------------------------------------- loading a run

@dataclass
class LoadedRun:
    path: Path
    model: Any
    task: str
    preprocessing: dict
    classes: np.ndarray | None
    config: dict
    n_features: int
    dtype: str = "float32"

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Raw features ``(n, n_features)`` (images are flattened) -> standardised, in the model's dtype."""
        X = np.asarray(X)
        if X.ndim > 2:
            X = X.reshape(len(X), -1)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"data has {X.shape[1] if X.ndim == 2 else X.shape} features per example; "
                             f"the model in {str(self.path)!r} expects {self.n_features}")
        if not np.all(np.isfinite(X)):
            raise ValueError("data: the features contain NaN or infinite values")
        return apply_scaling(X, self.preprocessing["mean"], self.preprocessing["scale"], np.dtype(self.dtype))

    def encode_labels(self, y: np.ndarray) -> np.ndarray:
        """Original labels -> class ids (error naming any label the model has never seen)."""
        y = np.asarray(y).reshape(-1)
        ids = np.searchsorted(self.classes, y)
        ids = np.clip(ids, 0, len(self.classes) - 1)
        unknown = self.classes[ids] != y
        if unknown.any():
            raise ValueError(f"data: labels {sorted(set(y[unknown].tolist()))[:5]} were not seen in training "
                             f"(known: {self.classes.tolist()})")
        return ids.astype(np.int64)

    def scale_targets(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != len(self.preprocessing["y_mean"]):
            raise ValueError(f"data: the model in {str(self.path)!r} predicts {len(self.preprocessing['y_mean'])} "
                             f"target(s) per example, the data has shape {y.shape}")
        return ((y - self.preprocessing["y_mean"]) / self.preprocessing["y_scale"]).astype(np.dtype(self.dtype))


def _check_preprocessing(pre, task: str, sizes: list[int], model_file) -> None:
    """Check (and normalise in place) a run's preprocessing against its model's sizes, so that a
    damaged file is refused naming the entry instead of failing inside NumPy later."""
    where = repr(str(model_file))
    if not isinstance(pre, dict):
        raise ValueError(f"{where}: the preprocessing is not a table of arrays")
    pre["mean"], pre["scale"] = check_standardization(pre.get("mean"), pre.get("scale"), sizes[0], where)
    if task == "classification":
        classes = pre.get("classes")
        n = None if classes is None else (len(classes) if np.ndim(classes) == 1 else np.shape(classes))
        if n != sizes[-1]:
            raise ValueError(f"{where}: the preprocessing 'classes' lists {n} labels; the model has "
                             f"{sizes[-1]} outputs, one per class")
        if len(classes) > 1 and not np.all(classes[1:] > classes[:-1]):
            raise ValueError(f"{where}: the preprocessing 'classes' must be distinct and sorted, got "
                             f"{classes.tolist()[:10]}")
    elif task == "regression":
        pre["y_mean"], pre["y_scale"] = check_standardization(
            pre.get("y_mean"), pre.get("y_scale"), sizes[-1], where, names=("y_mean", "y_scale"),
            what="outputs")
    else:
        raise ValueError(f"{where}: unknown task {task!r} (classification or regression)")


def load_run(run_dir) -> LoadedRun:
    """Rebuild the trained model and its preprocessing from a run folder (or its ``model.npz``)."""
    path = Path(run_dir)
    model_file = path if path.is_file() else path / MODEL_FILE
    if path.is_file():
        path = path.parent
    if not path.exists():
        raise RunError(f"run folder {str(path)!r} does not exist")
    if not model_file.exists():
        raise RunError(f"{str(path)!r} is not a run folder (no {MODEL_FILE})")
    state = descend.load(model_file)
    if not isinstance(state, dict) or state.get("format") != RUN_FORMAT:
        raise RunError(f"{str(model_file)!r} is not a descend run model (format {state.get('format')!r})"
                       if isinstance(state, dict) else f"{str(model_file)!r} is not a descend run model")
    try:
        arch = state["architecture"]
        sizes = [int(s) for s in arch["sizes"]]
        dtype = str(arch.get("dtype", "float32"))
        model = build_model(sizes[0], "conv" if arch.get("conv") else sizes[1:-1], sizes[-1],
                            str(arch["activation"]), float(arch["dropout"]), dtype, arch.get("image_shape"))
        check_parameters(state["state_dict"], model_file)
        model.load_state_dict(state["state_dict"])
        pre = state["preprocessing"]
        task = str(arch["task"])
    except CheckpointError as exc:
        raise RunError(str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{str(model_file)!r} is damaged or from another version: {exc}") from None
    try:
        _check_preprocessing(pre, task, sizes, model_file)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    model.eval()
    config_path = path / "config.json"
    config = read_json(config_path).get("config", {}) if config_path.exists() else {}
    return LoadedRun(path, model, task, pre, pre.get("classes"), config, sizes[0], dtype)


def predict_arrays(run: LoadedRun, X: np.ndarray):
    """``(predictions, probabilities or None)`` in the original label/target units."""
    out = forward(run.model, run.transform(X))
    if run.task == "classification":
        proba = softmax(out)
        return run.classes[proba.argmax(axis=1)], proba
    pred = out.astype(np.float64) * run.preprocessing["y_scale"] + run.preprocessing["y_mean"]
    return pred, None


# --------------------------------------------------------------------------- evaluate / predict / lr-find

def _features_for_run(run: LoadedRun, path: str, target: str | None):
    """Read ``path`` for prediction: features only, dropping a target column/array if the file has one."""
    lower = path.lower()
    if lower.endswith((".csv", ".txt", ".tsv")) and os.path.exists(path):
        delimiter = "\t" if lower.endswith(".tsv") else ","
        X, _ = ddata.load_csv(path, target=None, delimiter=delimiter)
        if X.shape[1] == run.n_features + 1 or target is not None:
            col = target if target is not None else run.config.get("target")
            if col is not None and str(col).lstrip("-").isdigit():
                col = int(col)
            X, _ = ddata.load_csv(path, target=-1 if col is None else col, delimiter=delimiter)
        return X
    X, _ = load_file(path, target, need_target=False)
    return X


def _own_test_split(run: LoadedRun):
    """``(X_raw, y_raw, description)``: the test split of the data the run was trained on, rebuilt from
    its configuration (same data, seed and sizes give the same split)."""
    if not run.config:
        raise RunError(f"{str(run.path)!r} has no config.json, so its data set is unknown; pass --data")
    cfg = dict(DEFAULTS)
    cfg.update(run.config)
    cfg["model"] = cfg["model"] if isinstance(cfg["model"], str) else list(cfg["model"])
    X, y, desc = load_data(cfg)
    prep = prepare(cfg, X, y, load_test_data(cfg))
    return prep.X_test_raw, prep.y_test_raw, f"{desc}, the run's test split"


def evaluate_job(run_dir, data: str | None, target: str | None) -> dict:
    """Metrics of a saved run on labelled ``data``, or on its own test split when ``data`` is None."""
    run = load_run(run_dir)
    if data is None:
        X_raw, y_raw, desc = _own_test_split(run)
    else:
        X_raw, y_raw = load_file(data, target)
        desc = os.path.basename(data)
        if y_raw is None:
            raise ValueError(f"{data}: no target found to evaluate against; pass --target")
    Xs = run.transform(X_raw)
    if run.task == "classification":
        ys = run.encode_labels(y_raw)
    else:
        ys = run.scale_targets(y_raw)
    metrics = evaluate_arrays(run.model, run.task, Xs, ys, run.preprocessing["y_scale"])
    return {"run": str(run.path), "data": desc, "examples": int(len(Xs)), "task": run.task, "metrics": metrics}


def predict_job(run_dir, data: str | None, target: str | None, proba: bool) -> str:
    """Predictions as CSV text: one row per example of ``data`` (a target column/array in it is
    ignored), or, when ``data`` is None, of the run's own test split with its true ``target`` beside."""
    run = load_run(run_dir)
    truth = None
    if data is None:
        X, truth, _ = _own_test_split(run)
    else:
        X = _features_for_run(run, data, target)
    pred, p = predict_arrays(run, X)
    lines = []
    if run.task == "classification":
        head = (["prediction"] + (["target"] if truth is not None else [])
                + ([f"p_{c}" for c in run.classes.tolist()] if proba else []))
        lines.append(",".join(head))
        for i in range(len(pred)):
            row = [str(pred[i].item())]
            if truth is not None:
                row.append(str(truth[i].item()))
            if proba:
                row += [f"{v:.6g}" for v in p[i]]
            lines.append(",".join(row))
    else:
        k = pred.shape[1]
        names = ["prediction"] if k == 1 else [f"prediction_{j}" for j in range(k)]
        if truth is not None:
            names += ["target"] if k == 1 else [f"target_{j}" for j in range(k)]
            pred = np.concatenate([pred, np.asarray(truth, np.float64).reshape(len(pred), -1)], axis=1)
        lines.append(",".join(names))
        lines.extend(",".join(f"{v:.7g}" for v in row) for row in pred)
    return "\n".join(lines) + "\n"


def lr_find_job(cfg: dict[str, Any], output=None) -> dict:
    """The learning-rate range test (:func:`descend.train.lr_find`) on the configured data and model.

    Trains ``steps`` mini-batches while the learning rate grows
    exponentially from ``start_lr`` to ``end_lr`` and suggests the rate where
    the smoothed loss falls fastest. Writes the plot to ``output`` (default
    ``RUNS_DIR/lr-find-<data>-<time>.png``; an existing file is never
    overwritten). Returns ``suggestion``, ``lr_min_loss``, ``steps``,
    ``stop_reason`` and ``plot`` (None without matplotlib).
    """
    data_desc, prep, model, optimizer = _seeded_setup(cfg)
    loss = descend.nn.CrossEntropyLoss() if prep.task == "classification" else descend.nn.MSELoss()
    if cfg.get("l1"):
        loss = l1_penalized(loss, model, cfg["l1"])  # the loss train would minimise
    sizes = layer_widths(cfg["model"], prep.n_features, prep.n_outputs)
    with blas_threads(cfg, sizes, cfg["batch_size"] or len(prep.X_train)):
        result = descend.train.lr_find(model, (prep.X_train, prep.y_train), loss, optimizer,
                                       start_lr=cfg["start_lr"], end_lr=cfg["end_lr"], steps=cfg["steps"],
                                       seed=cfg["seed"], batch_size=cfg["batch_size"])
    if result.suggestion is None:
        raise RuntimeError(f"lr-find: the loss was not finite even at start_lr={cfg['start_lr']:g}; "
                           "try a smaller --start-lr")
    plot = None
    try:
        from descend import viz
    except ImportError:
        viz = None
    if viz is not None:
        title = (f"lr-find: {data_desc}, model {describe_model(cfg['model'], prep.n_features, prep.n_outputs, prep.image_shape)}, "
                 f"{cfg['optimizer']}")
        png = rep.figure_png(viz.plot_lr_find(result.lrs, result.smoothed_losses, result.suggestion, title=title))
        if output is None:
            root = Path(cfg["runs_dir"])
            root.mkdir(parents=True, exist_ok=True)
            base = f"lr-find-{_stem(cfg)}-{time.strftime('%Y%m%d-%H%M%S')}"
            for k in range(1, 10_000):
                plot = root / (f"{base}.png" if k == 1 else f"{base}-{k}.png")
                try:
                    write_new(plot, png)
                    break
                except FileExistsError:
                    continue
        else:
            plot = Path(output)
            write_new(plot, png)
    return {"suggestion": result.suggestion, "lr_min_loss": result.lr_min_loss, "steps": len(result.lrs),
            "stop_reason": result.stop_reason, "plot": None if plot is None else str(plot), "data": data_desc}
