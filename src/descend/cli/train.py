"""``descend train``, ``descend lr-find``, ``descend evaluate`` and ``descend predict``.

Every option of ``train`` can also come from a TOML file (``--config run.toml``);
flags typed on the command line override the file, and the file overrides the
defaults shown by ``--help`` (see :mod:`descend.cli.config`).
"""

from __future__ import annotations

import inspect
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from .config import (
    DEFAULTS,
    ConfigError,
    fields_by_name,
    format_batch_size,
    format_model,
    load_toml,
    merge,
)

__all__ = ["register", "EXIT_DIVERGED"]

#: Exit code of a ``descend train`` run that diverged (its run folder is written all the same).
EXIT_DIVERGED = 3

_F = fields_by_name()
_GIVEN_SOURCES = ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


def _help(name: str) -> str:
    f = _F[name]
    text = f.help
    if f.choices:
        text += " One of: " + ", ".join(f.choices) + "."
    return text


def _opt(name: str, *decls: str, **kw):
    return typer.Option(*(decls or (_F[name].flag,)), help=_help(name), **kw)


# Every option of train and lr-find, stated once: its type, flag, help and (through
# _shown_default) its default. A command names the ones it takes with _with_options.
TargetOpt = Annotated[str | None, _opt("target", show_default=False)]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on failure.")]
_OPTIONS = {
    "config": Annotated[Path | None, typer.Option(
        "--config", "-c", help="TOML file with any of these options (flags override it).",
        dir_okay=False, show_default=False)],
    "dataset": Annotated[str, _opt("dataset")],
    "data": Annotated[str | None, _opt("data", metavar="PATH", show_default=False)],
    "test_data": Annotated[str | None, _opt("test_data", metavar="PATH", show_default=False)],
    "target": TargetOpt,
    "task": Annotated[str, _opt("task")],
    "test_size": Annotated[float, _opt("test_size")],
    "val_size": Annotated[float, _opt("val_size")],
    "standardize": Annotated[bool, _opt("standardize", "--standardize/--no-standardize")],
    "model": Annotated[str, _opt("model", metavar="SIZES")],
    "activation": Annotated[str, _opt("activation")],
    "dropout": Annotated[float, _opt("dropout")],
    "dtype": Annotated[str, _opt("dtype")],
    "shuffle": Annotated[bool, _opt("shuffle", "--shuffle/--no-shuffle")],
    "grad_tol": Annotated[float | None, _opt("grad_tol", show_default=False)],
    "checkpoint_dir": Annotated[str | None, _opt("checkpoint_dir", metavar="DIR", show_default=False)],
    "checkpoint_every": Annotated[int | None, _opt("checkpoint_every", metavar="STEPS", show_default=False)],
    "resume": Annotated[bool, _opt("resume", "--resume/--no-resume")],
    "compile": Annotated[bool, _opt("compile", "--compile/--no-compile")],
    "threads": Annotated[int | None, _opt("threads", show_default=False)],
    "optimizer": Annotated[str, _opt("optimizer")],
    "lr": Annotated[float, _opt("lr")],
    "momentum": Annotated[float | None, _opt("momentum", show_default=False)],
    "weight_decay": Annotated[float, _opt("weight_decay")],
    "l1": Annotated[float, _opt("l1")],
    "batch_size": Annotated[str, _opt("batch_size", metavar="K|full")],
    "epochs": Annotated[int, _opt("epochs")],
    "max_steps": Annotated[int | None, _opt("max_steps", show_default=False)],
    "scheduler": Annotated[str, _opt("scheduler")],
    "patience": Annotated[int | None, _opt("patience", show_default=False)],
    "tol": Annotated[float | None, _opt("tol", show_default=False)],
    "max_time": Annotated[float | None, _opt("max_time", metavar="SECONDS", show_default=False)],
    "divergence_factor": Annotated[float, _opt("divergence_factor", metavar="FACTOR")],
    "seed": Annotated[int, _opt("seed")],
    "name": Annotated[str | None, _opt("name", show_default=False)],
    "runs_dir": Annotated[str, _opt("runs_dir", metavar="DIR")],
    "progress": Annotated[bool, _opt("progress", "--progress/--no-progress")],
    "start_lr": Annotated[float, _opt("start_lr")],
    "end_lr": Annotated[float, _opt("end_lr")],
    "steps": Annotated[int, _opt("steps")],
    # lr-find's alone: where its plot goes (not a config key)
    "output": Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write the plot (PNG). Default: RUNS_DIR/lr-find-<dataset>-<time>.png.",
        dir_okay=False, show_default=False)],
    "debug": DebugOpt,
}


def _shown_default(name: str):
    """The default of an option as --help shows it; None leaves the option unset unless given."""
    if name == "model":
        return format_model(DEFAULTS["model"])
    if name == "batch_size":
        return format_batch_size(DEFAULTS["batch_size"])
    if name == "debug":
        return False
    return DEFAULTS.get(name)


def _with_options(*names: str):
    """Give a command the options ``names`` of ``_OPTIONS``, in that (--help) order, after ``ctx``.

    typer reads a command's options from its signature; writing the signature from the one
    table, rather than spelling out each parameter in each command, keeps train and lr-find
    from declaring a shared option twice. The command receives them as keyword arguments.
    """
    def decorate(command):
        params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=_OPTIONS[name],
                                     default=_shown_default(name)) for name in names]
        command.__signature__ = inspect.Signature(params, return_annotation=None)
        return command

    return decorate


def _resolve(ctx: typer.Context, params: dict) -> dict:
    """Merge defaults, the ``--config`` file and the flags typed on the command line."""
    config_path = params.pop("config", None)
    params.pop("debug", None)
    given = set()
    for name in params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in _GIVEN_SOURCES:
            given.add(name)
    try:
        # the file may hold only the keys this command has options for
        file_values = ({} if config_path is None else
                       load_toml(config_path, keys=params, command=f"descend {ctx.info_name}"))
        return merge(file_values, params, given)
    except ConfigError as exc:
        raise _usage_error(exc, config_path) from None


def _usage_error(exc: ConfigError, config_path=None) -> typer.BadParameter:
    """A bad value is a usage error (exit code 2) naming the flag or the config file it came from."""
    if exc.source and exc.source.startswith("--"):
        return typer.BadParameter(exc.detail, param_hint=f"'{exc.source}'")
    if config_path is not None and (exc.key is None or exc.source is not None):
        message = str(exc) if exc.key is None else f"{exc.key!r} in {config_path}: {exc.detail}"
        return typer.BadParameter(message, param_hint="'--config'")
    flag = _F[exc.key].flag if exc.key in _F else None
    return typer.BadParameter(exc.detail, param_hint=f"'{flag}'" if flag else None)


@_with_options(
    "config", "dataset", "data", "test_data", "target", "task", "model", "activation", "dropout",
    "dtype", "optimizer", "lr", "momentum", "weight_decay", "l1", "batch_size", "epochs", "shuffle",
    "max_steps",
    "scheduler", "patience", "tol", "grad_tol", "max_time", "divergence_factor", "seed", "compile", "threads",
    "test_size", "val_size", "standardize", "checkpoint_dir", "checkpoint_every", "resume", "name",
    "runs_dir", "progress", "debug",
)
def train(ctx: typer.Context, **options) -> None:
    """Train a network (an MLP, or --model conv) and write a run folder with metrics, model, plots and report.html.

    With no options: the digits data set (1797 8x8 handwritten digits), a
    64-256-10 ReLU MLP trained by mini-batch Adam for 30 epochs (a few
    seconds), test accuracy about 0.97-0.98; --model conv trains a LeNet-style
    convolutional network on the images instead. The run folder RUNS_DIR/NAME holds
    history.csv, metrics.json, model.npz, PNG plots and a self-contained
    report.html (open it in a browser). Options can also come from a TOML
    file (--config); flags override it.
    """
    config = options["config"]
    cfg = _resolve(ctx, options)
    from .job import run_training

    try:
        run = run_training(cfg, echo=typer.echo, warn=lambda message: typer.echo(message, err=True),
                           config_source=str(config) if config else None)
    except ConfigError as exc:
        raise _usage_error(exc) from None
    m = run.metrics
    from .report import fixed

    if "test_accuracy" in m:
        summary = f"test accuracy {fixed(m['test_accuracy'])}   test loss {fixed(m['test_loss'])}"
    else:
        summary = f"test R² {fixed(m['test_r2'])}   test MSE {m['test_mse'] + 0.0:.4g}"
    from ..train.guards import counted

    typer.echo(f"{summary}   ({counted(m['epochs'], 'epoch')}, {m['train_time_s']:.1f} s, stopped: {m['stop_reason']})")
    typer.echo(f"run folder: {run.path}")
    typer.echo(f"report:     {run.path / 'report.html'}")
    if m["stop_reason"] == "diverged":
        raise typer.Exit(EXIT_DIVERGED)  # the run is kept, but a script must not take it for a good one


@_with_options(
    "config", "dataset", "data", "target", "task", "model", "activation", "dropout", "dtype",
    "optimizer", "momentum", "weight_decay", "l1", "batch_size", "start_lr", "end_lr", "steps", "seed",
    "threads", "test_size", "val_size", "standardize", "runs_dir", "output", "debug",
)
def lr_find(ctx: typer.Context, **options) -> None:
    """Find a learning rate: train briefly while raising it exponentially, plot loss against it.

    Prints the suggested learning rate (where the loss falls fastest) and writes
    the plot; pass the suggestion to `descend train --lr`.
    """
    output = options.pop("output")
    cfg = _resolve(ctx, options)
    from .job import lr_find_job

    try:
        result = lr_find_job(cfg, output)
    except ConfigError as exc:
        raise _usage_error(exc) from None
    typer.echo(f"lr-find: {result['data']}, {result['steps']} steps from {cfg['start_lr']:g} to "
               f"{cfg['end_lr']:g} ({'stopped early: the loss blew up' if result['stop_reason'] == 'diverged' else 'all steps'})")
    suggestion, tenth = result["suggestion"], result["lr_min_loss"]
    # the two rules of thumb disagree either way round: say which one came out lower
    than = "lower than" if tenth < suggestion else "higher than" if tenth > suggestion else "the same as"
    typer.echo(f"suggested learning rate: {suggestion:.3g}   (where the smoothed loss falls fastest; "
               f"the other rule, a tenth of the rate at the lowest smoothed loss, gives {tenth:.3g}, "
               f"{than} the suggestion)")
    if result.get("plot"):
        typer.echo(f"plot: {result['plot']}")
    else:
        typer.echo("no plot: install the 'plot' extra (pip install 'descend[plot]') to draw it")
    typer.echo("next: " + _train_command(cfg, suggestion))


#: The settings of lr-find that the rate it suggests depends on, all of them keys of train too.
_RATE_SETTINGS = ("data", "dataset", "target", "task", "test_size", "val_size", "standardize", "model",
                  "activation", "dropout", "dtype", "optimizer", "momentum", "weight_decay", "l1",
                  "batch_size", "seed")


def _train_command(cfg: dict, lr: float) -> str:
    """``descend train`` with lr-find's setting (``cfg``) and the rate ``lr``, quoted for the shell.

    The data source, model and optimizer are always spelt out, the other settings of
    ``_RATE_SETTINGS`` where they differ from train's defaults: the suggested rate is only
    good for the very problem lr-find ran.
    """
    always = ("dataset" if cfg["data"] is None else "data", "model", "optimizer")
    words = ["descend", "train"]
    for key in _RATE_SETTINGS:
        value = cfg[key]
        if key not in always and (value == DEFAULTS[key] or key == "dataset" and cfg["data"]
                                  or value is None and key != "batch_size"):  # None: full batch
            continue
        flag = _F[key].flag
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
            continue
        text = (format_model(value) if key == "model" else format_batch_size(value) if key == "batch_size"
                else repr(value) if isinstance(value, float) else str(value))
        words += [flag, shlex.quote(text)]  # '' is a linear model
    return " ".join([*words, "--lr", f"{lr:.3g}"])


RunDirArg = Annotated[Path, typer.Argument(help="A run folder written by `descend train` (or its model.npz).",
                                           show_default=False)]


def evaluate(
    run_dir: RunDirArg,
    data: Annotated[str | None, typer.Option(
        "--data", metavar="PATH",
        help="Labelled data (.csv, .npz, IMAGES,LABELS for IDX). Default: the run's own test split.",
        show_default=False)] = None,
    target: TargetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Evaluate a trained run on labelled data: loss and accuracy (or MSE and R²)."""
    from .job import evaluate_job

    result = evaluate_job(run_dir, data, target)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from .report import fixed

    typer.echo(f"{result['run']} on {result['data']} ({result['examples']} examples)")
    for key, value in result["metrics"].items():
        typer.echo(f"  {key:<10} {fixed(value)}")  # an R² of -4e-6 is not "-0.0000"


def predict(
    run_dir: RunDirArg,
    data: Annotated[str | None, typer.Option(
        "--data", metavar="PATH",
        help="Examples to predict (.csv, .npz or IDX images); a target column/array, if present, is ignored. "
             "Default: the run's own test split, with a target column.",
        show_default=False)] = None,
    target: TargetOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="CSV file to write (default: standard output). An existing file is kept "
        "unless --force is given.", dir_okay=False, show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing --output file (atomically: the old one stays whole until the new "
        "one is complete).")] = False,
    proba: Annotated[bool, typer.Option("--proba", help="Add one probability column per class.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Predict with a trained run: one CSV row per example (prediction, optionally probabilities)."""
    from .job import predict_job

    if force and output is None:
        raise typer.BadParameter("--force replaces an --output file; give -o FILE", param_hint="--force")
    text = predict_job(run_dir, data, target, proba)
    if output is None:
        sys.stdout.write(text)
        return
    from .runs import write_bytes, write_new

    try:
        (write_bytes if force else write_new)(output, text.encode("utf-8"))
    except FileExistsError as exc:
        raise FileExistsError(f"{exc}, or pass --force to replace it") from None
    typer.echo(f"wrote {text.count(chr(10)) - 1} predictions to {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("lr-find")(lr_find)
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)
