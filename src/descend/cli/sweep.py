"""``descend sweep CONFIG.toml``: many ``descend train`` runs at once on a Dask cluster.

The TOML file holds a base run (the keys of ``descend train --config``) and a ``[grid]``
table of values to vary; every combination is one run::

    dataset = "digits"
    epochs = 20
    model = [64]

    [grid]
    optimizer = ["sgd", "momentum", "adam"]
    lr = [1e-3, 1e-2, 1e-1]
    seed = [0, 1, 2, 3]

The sweep folder (``RUNS_DIR/sweep-<file>-<time>`` or ``--name``) gets one run folder per
configuration (exactly what ``descend train`` writes, or ``error.txt`` for a run that
failed), ``sweep.csv`` (one row per run), ``sweep.toml`` (the file) and ``report.html``
comparing the runs: the best configuration, the loss curves overlaid and a sortable table.

Runs execute in worker processes (``--cluster``: an embedded local cluster by default, or a
running Dask scheduler's address or scheduler file); the files they write travel back here,
so the workers need no shared file system. Data files (``data = "..."``) must be readable by
the workers at the same path.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import Annotated, Any

import tomli_w
import typer

from .config import LR_FIND_KEYS, int_flag
from .runs import write_bytes

__all__ = ["register", "load_sweep", "train_config", "SweepConfigError"]

# Keys a sweep sets itself, or that would make runs collide (one checkpoint folder for all).
_NOT_IN_SWEEP = {
    "name": "each run's folder name is chosen by the sweep",
    "checkpoint_dir": "runs of a sweep would share one checkpoint folder",
    "checkpoint_every": "runs of a sweep are not checkpointed",
    "resume": "runs of a sweep are not checkpointed",
    # lr-find's keys share the table with train's, but a sweep runs descend train only
    **{key: "it is a key of descend lr-find; a sweep runs descend train" for key in LR_FIND_KEYS},
}
_NOT_IN_GRID = {"runs_dir", "progress"}


class SweepConfigError(ValueError):
    """The sweep file is invalid; the message names the key and where it came from."""


# --------------------------------------------------------------------------- the file

def load_sweep(path) -> tuple[dict, dict, list[dict]]:
    """Read a sweep file: ``(base, grid, configs)``.

    ``base`` holds the checked base keys, ``grid`` the checked lists of values, ``configs``
    one complete, checked ``descend train`` configuration per combination (scikit-learn's
    ``ParameterGrid`` order: keys sorted, the last one varying fastest).
    """
    from ..distributed.sweep import ParameterGrid
    from . import config as C

    path = os.fspath(path)
    name = os.path.basename(path)
    raw = C.read_toml(path, "sweep file", SweepConfigError)
    fields = C.fields_by_name()
    folder = os.path.dirname(os.path.abspath(path))

    def field_of(raw_key, where):
        key = raw_key.replace("-", "_")
        if key in _NOT_IN_SWEEP:
            raise SweepConfigError(f"{name}: {where}{raw_key!r} cannot be set in a sweep ({_NOT_IN_SWEEP[key]})")
        f = fields.get(key)
        if f is None:
            hint = difflib.get_close_matches(key, list(fields), n=1)
            raise SweepConfigError(
                f"{name}: unknown key {where}{raw_key!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}; "
                f"valid keys are: {', '.join(k for k in fields if k not in _NOT_IN_SWEEP)}")
        return f

    def coerce(f, value, source):
        try:
            value = C._coerce(f, value, source)
        except C.ConfigError as exc:
            raise SweepConfigError(str(exc)) from None
        if f.kind == "path" and value is not None and not os.path.isabs(value):
            value = os.path.join(folder, value)
        if f.name == "optimizer":
            _check_optimizer(value, source)
        return value

    grid_raw = raw.pop("grid", None)
    base: dict[str, Any] = {}
    for raw_key, value in raw.items():
        if isinstance(value, dict):
            raise SweepConfigError(f"{name}: [{raw_key}] is not a sweep table; the only table is [grid]")
        f = field_of(raw_key, "")
        base[f.name] = coerce(f, value, name)
    if grid_raw is None:
        raise SweepConfigError(f"{name}: no [grid] table; add one with the values to vary, "
                               f"e.g. [grid] lr = [0.001, 0.01]")
    if not isinstance(grid_raw, dict):
        raise SweepConfigError(f"{name}: grid must be a table ([grid]), got {type(grid_raw).__name__}")
    if not grid_raw:
        raise SweepConfigError(f"{name}: the [grid] table is empty")
    grid: dict[str, list] = {}
    for raw_key, values in grid_raw.items():
        f = field_of(raw_key, "[grid] ")
        if f.name in _NOT_IN_GRID:
            raise SweepConfigError(f"{name}: [grid] {raw_key!r} cannot vary within a sweep")
        if not isinstance(values, list):
            written = "{...}" if isinstance(values, dict) else tomli_w.dumps({"v": values})[len("v = "):].strip()
            raise SweepConfigError(f"{name}: [grid] {raw_key!r} must be a list of values, e.g. "
                                   f"{raw_key} = [{written}], got {raw_key} = {written}")
        if not values:
            raise SweepConfigError(f"{name}: [grid] {raw_key!r} is an empty list")
        if f.name in base:
            raise SweepConfigError(f"{name}: {raw_key!r} is both a base key and in [grid]; keep one")
        grid[f.name] = [coerce(f, v, f"{name} [grid]") for v in values]
    configs = []
    sources = {k: name for k in base}
    sources.update({k: f"{name} [grid]" for k in grid})
    for combo in ParameterGrid(grid):
        cfg = dict(C.DEFAULTS)
        cfg.update(base)
        cfg.update(combo)
        try:
            C.check(cfg, sources)
        except C.ConfigError as exc:
            raise SweepConfigError(f"{exc} (in the configuration {_label(combo)})") from None
        cfg["progress"] = False
        # lr-find's keys are no setting of a train run: not in its parameters or sweep.csv
        configs.append({k: v for k, v in cfg.items() if k not in LR_FIND_KEYS})
    return base, grid, configs


def _check_optimizer(name, source):
    from .. import optim

    known = list(optim.names())
    if name not in known:
        raise SweepConfigError(f"'optimizer' (from {source}): unknown optimizer {name!r}; choose from: "
                               f"{', '.join(known)}")


def _fmt_value(value) -> str:
    if isinstance(value, list):
        return "x".join(str(v) for v in value) or "linear"
    if value is None:
        return "full"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _label(combo: dict) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in combo.items())


def run_name(index: int, combo: dict) -> str:
    """Folder name of a run: ``007-lr=0.01-optimizer=adam``, safe on every file system."""
    text = "-".join(f"{k}={_fmt_value(v)}" for k, v in combo.items())
    text = re.sub(r"[^A-Za-z0-9_.=+-]", "_", text)[:100]
    return f"{index:03d}-{text}" if text else f"{index:03d}"


# --------------------------------------------------------------------------- one run (on a worker)

def _silent(*args, **kwargs) -> None:
    pass


def train_config(cfg: dict) -> dict:
    """Run ``descend train`` for one configuration in a temporary folder on this worker.

    Returns the run's final metrics, its per-epoch loss curves and, under ``files``, the
    bytes of every file of its run folder (written by the process that started the sweep).
    """
    from .job import run_training

    with tempfile.TemporaryDirectory(prefix="descend-sweep-") as tmp:
        cfg = dict(cfg)
        cfg["runs_dir"] = tmp
        warnings: list[str] = []  # printed by the process that started the sweep, each with its run
        run = run_training(cfg, echo=_silent, warn=warnings.append)
        files = {p.name: p.read_bytes() for p in sorted(Path(run.path).iterdir()) if p.is_file()}
        out = dict(run.metrics)
        # a divergence is in the runs table and the summary already (its stop_message)
        diverged = f"warning: {run.metrics['stop_message']}" if run.metrics.get("diverged") else None
        out["warnings"] = [w.removeprefix("warning: ") for w in warnings if w != diverged]
        out["train_loss_curve"] = [r.get("train_loss") for r in run.history.epochs]
        out["val_loss_curve"] = [r.get("val_loss") for r in run.history.epochs]
        out["files"] = files
        return out


# --------------------------------------------------------------------------- writing results here

def _store_run(record: dict, sweep_dir: Path, names: list[str]) -> None:
    """Write a finished run's files into its folder (``error.txt`` for a failed one)."""
    folder = sweep_dir / names[record["index"]]
    folder.mkdir(exist_ok=True)
    if record["status"] != "ok":
        text = f"{record['error']}\n\n{record.get('traceback') or ''}"
        write_bytes(folder / "error.txt", text.encode("utf-8"))
        return
    result = record["result"]
    files = result.pop("files", {})
    for fname, data in files.items():
        # config.toml is kept as the worker wrote it: its runs_dir is "..", the folder that holds
        # the run (here the sweep folder), so a re-run lands beside the run, or beside a copy of it
        if fname == "config.json":
            info = json.loads(data)
            if isinstance(info.get("config"), dict):
                info["config"]["runs_dir"] = str(sweep_dir)
                info["config"]["name"] = folder.name
            data = (json.dumps(info, indent=2) + "\n").encode()
        write_bytes(folder / os.path.basename(fname), data)
    result["run_dir"] = folder.name


# --------------------------------------------------------------------------- the report

_SHOWN_METRICS = ("val_loss", "val_accuracy", "val_r2", "test_loss", "test_accuracy", "test_r2")


def _group_label(config: dict, keys) -> str:
    return _label({k: config[k] for k in keys}) or "all runs"


def _curves_figure(records, grid: dict, metric_key: str, best) -> dict | None:
    """Loss curves of every successful run, one line per configuration (mean over its seeds, range
    shaded when the grid varies the seed): ``{"uri", "caption"}``, or None without matplotlib."""
    try:
        from .. import viz
    except ImportError:
        return None
    from .report import data_uri, figure_png

    key = "val_loss_curve" if any(any(x is not None for x in r["result"].get("val_loss_curve") or [])
                                  for r in records) else "train_loss_curve"
    what = "validation" if key == "val_loss_curve" else "training"
    keys = [k for k in grid if k != "seed"]
    groups: dict[str, list] = {}
    for r in records:
        curve = r["result"].get(key) or []
        if any(v is not None for v in curve):
            groups.setdefault(_group_label(r["config"], keys), []).append(curve)
    if not groups:
        return None
    best_label = None if best is None else _group_label(best["config"], keys)
    fig = viz.plot_curve_groups(groups, highlight=best_label if best_label in groups else None,
                                ylabel=f"{what} loss", title=f"{what.capitalize()} loss per epoch")
    seeds = " (the mean over seeds, their range shaded)" if "seed" in grid else ""
    caption = (f"{what.capitalize()} loss per epoch of each configuration{seeds}; the best by "
               f"{metric_key} is drawn thick")
    return {"uri": data_uri(figure_png(fig)), "caption": caption}


def _spread(values: list) -> str:
    """``mean ± standard deviation (min–max)`` of finite values, or '-'."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return "-"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.4g}"
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean:.4g} ± {std:.2g} ({min(vals):.4g}–{max(vals):.4g})"


def _seed_table(result, grid: dict, metric_cols: list) -> dict | None:
    """Mean, spread and range of each metric over the seeds of each configuration (None unless
    the grid varies the seed)."""
    if "seed" not in grid:
        return None
    keys = [k for k in grid if k != "seed"]
    groups: dict[tuple, list] = {}
    for r in result:
        groups.setdefault(tuple(_fmt_value(r["config"][k]) for k in keys), []).append(r)
    metrics = [k for k in metric_cols if k in _SHOWN_METRICS]
    rows = []
    for values, members in groups.items():
        ok = [m["result"] for m in members if m["status"] == "ok"]
        rows.append([*values, f"{len(ok)} of {len(members)}", *(_spread([res.get(k) for res in ok]) for k in metrics)])
    counts = sorted({len(m) for m in groups.values()})
    return {"head": [*keys, "seeds ok", *metrics], "rows": rows,
            "numeric": list(range(len(keys) + 1, len(keys) + 1 + len(metrics))),
            "counts": " or ".join(str(c) for c in counts)}


def _report(result, grid: dict, base: dict, metric_key: str, best, sweep_name: str, command: str,
            cluster_desc: str) -> str:
    from .report import render

    busy = sum(r["wall_time"] for r in result if r["wall_time"] == r["wall_time"])
    cards = [("configurations", len(result)), ("failed", len(result.errors)), ("workers", result.n_workers),
             ("sweep time (s)", f"{result.wall_time:.1f}"), ("sum of run times (s)", f"{busy:.1f}")]
    best_info = None
    if best is not None:
        res = best["result"]
        best_info = {"label": _label({k: best["config"][k] for k in grid}), "run_dir": res.get("run_dir", ""),
                     "metrics": [(k, res[k]) for k in _SHOWN_METRICS if k in res]}
    metric_cols = [k for k in (*_SHOWN_METRICS, "epochs", "stop_reason")
                   if any(k in (r["result"] or {}) for r in result)]
    rows, classes = [], []
    for r in result:
        res = r["result"] or {}
        link = res.get("run_dir")
        run_cell = (f"{r['index']:03d}", f"{link}/report.html") if link else f"{r['index']:03d}"
        rows.append([run_cell, _status(r),
                     *(_fmt_value(r["config"].get(k)) for k in grid), *(res.get(k) for k in metric_cols),
                     r["wall_time"], str(r["worker"])])
        classes.append("best" if best is not None and r["index"] == best["index"]
                       else "err" if r["status"] != "ok" else "")
    n_grid = len(grid)
    runs = {"head": ["run", "status", *grid, *metric_cols, "time (s)", "worker"], "rows": rows, "classes": classes,
            "numeric": [i for i, k in enumerate(metric_cols, start=2 + n_grid) if k != "stop_reason"]
            + [2 + n_grid + len(metric_cols)]}
    return render(
        "sweep.html.j2", title=f"descend sweep {sweep_name}",
        subtitle=(f"{len(result)} runs of descend train on {cluster_desc}; varied: {', '.join(grid)}. "
                  f"Best run chosen by {metric_key}."),
        cards=cards, best=best_info, curves=_curves_figure(result.ok, grid, metric_key, best) if result.ok else None,
        seeds=_seed_table(result, grid, metric_cols), runs=runs,
        errors=[(r["index"], r["error"] or "error") for r in result if r["status"] != "ok"],
        base=[(k, _fmt_value(v)) for k, v in base.items()], command=command)


def _choose_metric(metric: str, records) -> tuple[str, str]:
    ok = [r for r in records if r["status"] == "ok"]
    if metric == "auto":
        metric = "val_loss" if ok and all((r["result"] or {}).get("val_loss") is not None for r in ok) \
            else "train_loss"
    mode = "max" if metric.endswith(("accuracy", "r2")) else "min"
    return metric, mode


# --------------------------------------------------------------------------- the command

#: A lower bound on the memory of one local dask worker process (the interpreter, NumPy, descend
#: and dask's worker take over 100 MiB).
_WORKER_BYTES = 64 << 20


def sweep_command(
    config: Annotated[Path, typer.Argument(
        help="TOML file: base keys of `descend train` and a \\[grid] table of values to vary.",
        dir_okay=False, show_default=False)],
    cluster: Annotated[str | None, typer.Option(
        "--cluster", metavar="ADDRESS", help="Dask scheduler address (tcp://host:8786) or scheduler file. "
        "Default: a local cluster of worker processes on this machine.", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, callback=int_flag, help="Worker processes of the local cluster (default: one per core); with "
        "--cluster, wait until this many workers have joined.", show_default=False)] = None,
    retries: Annotated[int, typer.Option("--retries", min=0, callback=int_flag,
                                         help="Times a run lost with its worker is started again.")] = 2,
    metric: Annotated[str, typer.Option(
        "--metric", help="Metric that picks the best run: auto (val_loss, or train_loss without validation), "
        "or any key of metrics.json (accuracy and r2 are maximised, the rest minimised).")] = "auto",
    name: Annotated[str | None, typer.Option(
        "--name", help="Sweep folder name under --runs-dir (default: sweep-<file>-<time>).",
        show_default=False)] = None,
    runs_dir: Annotated[Path | None, typer.Option(
        "--runs-dir", help="Where the sweep folder is created (default: the file's runs_dir, or runs).",
        file_okay=False, show_default=False)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the sweep's progress.")] = True,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on failure.")] = False,
) -> None:
    """Run every configuration of a grid as a `descend train` run, in parallel on a Dask cluster.

    Writes one run folder per configuration, sweep.csv and a report.html comparing them.
    """
    from .runs import RunError, new_run_dir, write_text

    try:
        base, grid, configs = load_sweep(config)
    except SweepConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="CONFIG") from None
    if cluster is None and workers is not None:
        from .landscape import check_flag_memory

        # each local worker is a Python process with NumPy, descend and dask's worker loaded
        check_flag_memory("--workers", workers * _WORKER_BYTES,
                          lambda size: f"a local cluster of {workers} worker processes needs at least {size} "
                                       f"({_WORKER_BYTES >> 20} MiB each)")
    from .. import distributed  # an ImportError here names the extra to install
    if name is not None and (not name or name in (".", "..") or "/" in name or os.sep in name):
        raise typer.BadParameter(f"must be a plain folder name, got {name!r}", param_hint="--name")
    parent = runs_dir if runs_dir is not None else Path(base.get("runs_dir", "runs"))
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", Path(config).stem) or "sweep"
    try:
        sweep_dir = new_run_dir(parent, name, stem=f"sweep-{stem}")
    except RunError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name" if name else "--runs-dir") from None
    sweep_dir = sweep_dir.resolve()
    write_bytes(sweep_dir / "sweep.toml", Path(config).read_bytes())
    combos = [{k: cfg[k] for k in grid} for cfg in configs]
    names = [run_name(i, combo) for i, combo in enumerate(combos)]
    cluster_desc = cluster or f"a local cluster of {workers or os.cpu_count() or 1} worker processes"
    from ..train.guards import counted

    typer.echo(f"descend sweep: {counted(len(configs), 'configuration')} ({' x '.join(f'{len(v)} {k}' for k, v in grid.items())})"
               f" on {cluster_desc} -> {sweep_dir}")

    def on_record(record):
        _store_run(record, sweep_dir, names)

    result = distributed.sweep(train_config, configs=configs, cluster=cluster, n_workers=workers, retries=retries,
                               progress=progress, on_record=on_record)
    result.to_csv(sweep_dir / "sweep.csv")
    metric_key, mode = _choose_metric(metric, result.records)
    try:
        best = result.best(metric_key, mode)
    except ValueError:
        best = None
    options = {"--cluster": cluster, "--workers": workers, "--retries": retries, "--metric": metric}
    command = " ".join(["descend", "sweep", shlex.quote(str(config))] +
                       [f"{k} {shlex.quote(str(v))}" for k, v in options.items() if v is not None])
    write_text(sweep_dir / "report.html", _report(result, grid, base, metric_key, best, sweep_dir.name, command,
                                                  cluster_desc))
    _print_summary(result, grid, metric_key, best)
    typer.echo(f"sweep folder: {sweep_dir}")
    typer.echo(f"report:       {sweep_dir / 'report.html'}")
    if not result.ok:
        first = result.errors[0]
        raise RuntimeError(f"all {len(result)} configurations failed; the first ({names[first['index']]}): "
                           f"{first['error']}")


def _status(record) -> str:
    """A run's status in the tables: ok, diverged (finished, but its training diverged) or failed."""
    if record["status"] != "ok":
        return "failed"
    return "diverged" if (record["result"] or {}).get("diverged") else "ok"


def _print_summary(result, grid, metric_key, best) -> None:
    busy = sum(r["wall_time"] for r in result if r["wall_time"] == r["wall_time"])
    typer.echo(f"{len(result.ok)} of {len(result)} runs finished in {result.wall_time:.1f} s on "
               f"{result.n_workers} workers (the runs took {busy:.1f} s together)")
    for r in result.errors:
        typer.echo(f"  failed: run {r['index']} ({_label({k: r['config'][k] for k in grid})}): {r['error']}")
    for r in result.ok:
        if _status(r) == "diverged":
            typer.echo(f"  diverged: run {r['index']} ({_label({k: r['config'][k] for k in grid})}): "
                       f"{r['result'].get('stop_message', '')}")
        for warning in r["result"].get("warnings") or ():
            typer.echo(f"  warning: run {r['index']} ({_label({k: r['config'][k] for k in grid})}): {warning}")
    if best is not None:
        typer.echo(f"best by {metric_key}: run {best['index']} ({_label({k: best['config'][k] for k in grid})}) "
                   f"{metric_key} {best['result'][metric_key]:.4g}")


def register(app: typer.Typer) -> None:
    """Add ``sweep`` to the ``descend`` command."""
    app.command("sweep")(sweep_command)
