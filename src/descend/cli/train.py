"""``descend train``, ``descend lr-find``, ``descend evaluate`` and ``descend predict``.

Every option of ``train`` can also come from a TOML file (``--config run.toml``);
flags typed on the command line override the file, and the file overrides the
defaults shown by ``--help`` (see :mod:`descend.cli.config`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .config import DEFAULTS, ConfigError, fields_by_name, format_batch_size, format_model, load_toml, merge

__all__ = ["register"]

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


# Option types shared by the commands (Annotated aliases keep the signatures readable).
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", "-c", help="TOML file with any of these options (flags override it).",
    dir_okay=False, show_default=False)]
DatasetOpt = Annotated[str, _opt("dataset")]
DataOpt = Annotated[Optional[str], _opt("data", metavar="PATH", show_default=False)]
TargetOpt = Annotated[Optional[str], _opt("target", show_default=False)]
TaskOpt = Annotated[str, _opt("task")]
TestSizeOpt = Annotated[float, _opt("test_size")]
ValSizeOpt = Annotated[float, _opt("val_size")]
StandardizeOpt = Annotated[bool, _opt("standardize", "--standardize/--no-standardize")]
ModelOpt = Annotated[str, _opt("model", metavar="SIZES")]
ActivationOpt = Annotated[str, _opt("activation")]
DropoutOpt = Annotated[float, _opt("dropout")]
DtypeOpt = Annotated[str, _opt("dtype")]
ShuffleOpt = Annotated[bool, _opt("shuffle", "--shuffle/--no-shuffle")]
GradTolOpt = Annotated[Optional[float], _opt("grad_tol", show_default=False)]
CheckpointDirOpt = Annotated[Optional[str], _opt("checkpoint_dir", metavar="DIR", show_default=False)]
CheckpointEveryOpt = Annotated[Optional[int], _opt("checkpoint_every", metavar="STEPS", show_default=False)]
ResumeOpt = Annotated[bool, _opt("resume", "--resume/--no-resume")]
CompileOpt = Annotated[bool, _opt("compile", "--compile/--no-compile")]
ThreadsOpt = Annotated[Optional[int], _opt("threads", show_default=False)]
OptimizerOpt = Annotated[str, _opt("optimizer")]
LrOpt = Annotated[float, _opt("lr")]
MomentumOpt = Annotated[Optional[float], _opt("momentum", show_default=False)]
WeightDecayOpt = Annotated[float, _opt("weight_decay")]
BatchOpt = Annotated[str, _opt("batch_size", metavar="K|full")]
EpochsOpt = Annotated[int, _opt("epochs")]
MaxStepsOpt = Annotated[Optional[int], _opt("max_steps", show_default=False)]
SchedulerOpt = Annotated[str, _opt("scheduler")]
PatienceOpt = Annotated[Optional[int], _opt("patience", show_default=False)]
TolOpt = Annotated[Optional[float], _opt("tol", show_default=False)]
MaxTimeOpt = Annotated[Optional[float], _opt("max_time", metavar="SECONDS", show_default=False)]
SeedOpt = Annotated[int, _opt("seed")]
NameOpt = Annotated[Optional[str], _opt("name", show_default=False)]
RunsDirOpt = Annotated[str, _opt("runs_dir", metavar="DIR")]
ProgressOpt = Annotated[bool, _opt("progress", "--progress/--no-progress")]
StartLrOpt = Annotated[float, _opt("start_lr")]
EndLrOpt = Annotated[float, _opt("end_lr")]
NumIterOpt = Annotated[int, _opt("num_iter")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on failure.")]


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
        file_values = load_toml(config_path) if config_path is not None else {}
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


def train(
    ctx: typer.Context,
    config: ConfigOpt = None,
    dataset: DatasetOpt = DEFAULTS["dataset"],
    data: DataOpt = None,
    target: TargetOpt = None,
    task: TaskOpt = DEFAULTS["task"],
    model: ModelOpt = format_model(DEFAULTS["model"]),
    activation: ActivationOpt = DEFAULTS["activation"],
    dropout: DropoutOpt = DEFAULTS["dropout"],
    dtype: DtypeOpt = DEFAULTS["dtype"],
    optimizer: OptimizerOpt = DEFAULTS["optimizer"],
    lr: LrOpt = DEFAULTS["lr"],
    momentum: MomentumOpt = None,
    weight_decay: WeightDecayOpt = DEFAULTS["weight_decay"],
    batch_size: BatchOpt = format_batch_size(DEFAULTS["batch_size"]),
    epochs: EpochsOpt = DEFAULTS["epochs"],
    shuffle: ShuffleOpt = DEFAULTS["shuffle"],
    max_steps: MaxStepsOpt = None,
    scheduler: SchedulerOpt = DEFAULTS["scheduler"],
    patience: PatienceOpt = None,
    tol: TolOpt = None,
    grad_tol: GradTolOpt = None,
    max_time: MaxTimeOpt = None,
    seed: SeedOpt = DEFAULTS["seed"],
    compile: CompileOpt = DEFAULTS["compile"],
    threads: ThreadsOpt = None,
    test_size: TestSizeOpt = DEFAULTS["test_size"],
    val_size: ValSizeOpt = DEFAULTS["val_size"],
    standardize: StandardizeOpt = DEFAULTS["standardize"],
    checkpoint_dir: CheckpointDirOpt = None,
    checkpoint_every: CheckpointEveryOpt = None,
    resume: ResumeOpt = DEFAULTS["resume"],
    name: NameOpt = None,
    runs_dir: RunsDirOpt = DEFAULTS["runs_dir"],
    progress: ProgressOpt = DEFAULTS["progress"],
    debug: DebugOpt = False,
) -> None:
    """Train an MLP and write a run folder with metrics, model, plots and report.html.

    With no options: the digits data set (1797 8x8 handwritten digits), a
    64-256-10 ReLU MLP trained by mini-batch Adam for 30 epochs (a few
    seconds), test accuracy about 0.97-0.98. The run folder RUNS_DIR/NAME holds
    history.csv, metrics.json, model.npz, PNG plots and a self-contained
    report.html (open it in a browser). Options can also come from a TOML
    file (--config); flags override it.
    """
    cfg = _resolve(ctx, _params(locals()))
    from .job import run_training

    try:
        run = run_training(cfg, echo=typer.echo, config_source=str(config) if config else None)
    except ConfigError as exc:
        raise _usage_error(exc) from None
    m = run.metrics
    if "test_accuracy" in m:
        summary = f"test accuracy {m['test_accuracy']:.4f}   test loss {m['test_loss']:.4f}"
    else:
        summary = f"test R² {m['test_r2']:.4f}   test MSE {m['test_mse']:.4g}"
    typer.echo(f"{summary}   ({m['epochs']} epochs, {m['train_time_s']:.1f} s, stopped: {m['stop_reason']})")
    typer.echo(f"run folder: {run.path}")
    typer.echo(f"report:     {run.path / 'report.html'}")


def _params(local_vars: dict) -> dict:
    return {k: v for k, v in local_vars.items() if k != "ctx"}


def lr_find(
    ctx: typer.Context,
    config: ConfigOpt = None,
    dataset: DatasetOpt = DEFAULTS["dataset"],
    data: DataOpt = None,
    target: TargetOpt = None,
    task: TaskOpt = DEFAULTS["task"],
    model: ModelOpt = format_model(DEFAULTS["model"]),
    activation: ActivationOpt = DEFAULTS["activation"],
    dropout: DropoutOpt = DEFAULTS["dropout"],
    dtype: DtypeOpt = DEFAULTS["dtype"],
    optimizer: OptimizerOpt = DEFAULTS["optimizer"],
    momentum: MomentumOpt = None,
    weight_decay: WeightDecayOpt = DEFAULTS["weight_decay"],
    batch_size: BatchOpt = format_batch_size(DEFAULTS["batch_size"]),
    start_lr: StartLrOpt = DEFAULTS["start_lr"],
    end_lr: EndLrOpt = DEFAULTS["end_lr"],
    num_iter: NumIterOpt = DEFAULTS["num_iter"],
    seed: SeedOpt = DEFAULTS["seed"],
    threads: ThreadsOpt = None,
    test_size: TestSizeOpt = DEFAULTS["test_size"],
    val_size: ValSizeOpt = DEFAULTS["val_size"],
    standardize: StandardizeOpt = DEFAULTS["standardize"],
    runs_dir: RunsDirOpt = DEFAULTS["runs_dir"],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to write the plot (PNG). Default: RUNS_DIR/lr-find-<dataset>-<time>.png.",
        dir_okay=False, show_default=False)] = None,
    debug: DebugOpt = False,
) -> None:
    """Find a learning rate: train briefly while raising it exponentially, plot loss against it.

    Prints the suggested learning rate (where the loss falls fastest) and writes
    the plot; pass the suggestion to `descend train --lr`.
    """
    params = _params(locals())
    params.pop("output")
    cfg = _resolve(ctx, params)
    from .job import lr_find_job

    try:
        result = lr_find_job(cfg, output)
    except ConfigError as exc:
        raise _usage_error(exc) from None
    typer.echo(f"lr-find: {result['data']}, {result['steps']} steps from {cfg['start_lr']:g} to "
               f"{cfg['end_lr']:g} ({'stopped early: the loss blew up' if result['stop_reason'] == 'diverged' else 'all steps'})")
    typer.echo(f"suggested learning rate: {result['suggestion']:.3g}   (steepest fall of the smoothed loss; "
               f"the minimum-loss rule gives {result['lr_min_loss']:.3g})")
    if result.get("plot"):
        typer.echo(f"plot: {result['plot']}")
    else:
        typer.echo("no plot: install the 'plot' extra (pip install 'descend[plot]') to draw it")
    typer.echo(f"next: descend train --optimizer {cfg['optimizer']} --lr {result['suggestion']:.3g}")


RunDirArg = Annotated[Path, typer.Argument(help="A run folder written by `descend train` (or its model.npz).",
                                           show_default=False)]


def evaluate(
    run_dir: RunDirArg,
    data: Annotated[Optional[str], typer.Option(
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
    typer.echo(f"{result['run']} on {result['data']} ({result['examples']} examples)")
    for key, value in result["metrics"].items():
        typer.echo(f"  {key:<10} {value:.4f}")


def predict(
    run_dir: RunDirArg,
    data: Annotated[Optional[str], typer.Option(
        "--data", metavar="PATH",
        help="Examples to predict (.csv, .npz or IDX images); a target column/array, if present, is ignored. "
             "Default: the run's own test split, with a target column.",
        show_default=False)] = None,
    target: TargetOpt = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="CSV file to write (default: standard output). Never overwrites.",
        dir_okay=False, show_default=False)] = None,
    proba: Annotated[bool, typer.Option("--proba", help="Add one probability column per class.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Predict with a trained run: one CSV row per example (prediction, optionally probabilities)."""
    from .job import predict_job

    text = predict_job(run_dir, data, target, proba)
    if output is None:
        sys.stdout.write(text)
        return
    from .runs import write_new

    write_new(output, text.encode("utf-8"))
    typer.echo(f"wrote {text.count(chr(10)) - 1} predictions to {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("lr-find")(lr_find)
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)
