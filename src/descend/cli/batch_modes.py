"""``descend batch-modes``: batch, stochastic and mini-batch gradient descent on one problem.

The command is :func:`descend.train.batch_modes` on a data set of ``descend train`` (the same
loading, splitting and standardising, from :mod:`descend.cli.job`), with a report: a table
of updates, final loss, noise and wall time per mode, the full training loss against updates
and against examples seen, and the losses the updates saw.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from .config import int_flag

__all__ = ["register"]


def batch_modes_command(
    dataset: Annotated[str, typer.Option(
        "--dataset", help="Bundled or synthetic data set (as for descend train); ignored when --data is "
        "given.")] = "linear",
    data: Annotated[str | None, typer.Option(
        "--data", metavar="PATH", help="Your own data: a .csv, .npz or IDX file.", show_default=False)] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="Target column of a CSV file, or target array of an .npz file.",
        show_default=False)] = None,
    model: Annotated[str, typer.Option(
        "--model", help="Hidden layer sizes, comma separated; empty (the default) for a linear model.")] = "",
    lr: Annotated[float, typer.Option("--lr", help="The one learning rate every mode uses.")] = 0.05,
    epochs: Annotated[int, typer.Option(
        "--epochs", min=1, callback=int_flag, help="The budget: passes over the training set, the same for every mode.")] = 10,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=2, callback=int_flag, help="The mini-batch size (batch uses all examples, stochastic one).")] = 32,
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer of descend.optim for every mode.")] = "sgd",
    seed: Annotated[int, typer.Option("--seed", min=0, callback=int_flag, help="Seed of the data, initial parameters and order.")] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for the plots, results.json and report.html (created if missing; "
        "default: a new folder under --runs-dir).", file_okay=False, show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where the default output folder is created.")] = Path("runs"),
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on failure.")] = False,
) -> None:
    """Batch vs stochastic vs mini-batch gradient descent: same model, learning rate and budget.

    Trains one model from the same initial parameters with all the examples per update
    (batch), one (stochastic) and --batch-size (mini-batch), for the same number of examples
    seen, and writes a report: batch descent is smooth but updates rarely, stochastic
    descent updates at every example but noisily, mini-batch descent is in between.
    With no options: the first gradient-descent example, y = 2x (a linear model, one weight).
    """
    import numpy as np

    from .. import optim
    from ..random import manual_seed
    from ..train import batch_modes
    from ..train.guards import counted
    from .config import DEFAULTS, ConfigError, parse_model
    from .job import build_model, load_data, prepare

    if not (np.isfinite(lr) and lr > 0):
        raise typer.BadParameter(f"must be a positive number, got {lr!r}", param_hint="--lr")
    if optimizer not in optim.names():
        raise typer.BadParameter(f"unknown optimizer {optimizer!r}; choose from: {', '.join(optim.names())}",
                                 param_hint="--optimizer")
    try:
        hidden = parse_model(model, key="model")
    except ConfigError as exc:
        raise typer.BadParameter(exc.detail, param_hint="--model") from None
    if hidden == "conv":
        raise typer.BadParameter("batch-modes trains an MLP; give hidden layer sizes or nothing",
                                 param_hint="--model")
    cfg = dict(DEFAULTS, dataset=dataset, data=data, target=target, model=hidden, seed=seed, val_size=0.0)
    try:
        X, y, desc = load_data(cfg)
        prep = prepare(cfg, X, y)
    except ConfigError as exc:
        raise typer.BadParameter(exc.detail, param_hint="--dataset") from None
    classification = prep.task == "classification"
    loss = "cross_entropy" if classification else "mse"
    manual_seed(seed)  # the initial parameters
    net = build_model(prep.n_features, hidden, prep.n_outputs, "relu", 0.0)
    n = len(prep.X_train)
    modes = {"batch": None, "stochastic": 1, f"mini-batch {batch_size}": batch_size}
    from .landscape import check_flag_memory, check_output_folder, output_folder

    # the histories keep a loss (8 bytes) for every update of every mode
    updates = epochs * (1 + n + -(-n // batch_size))
    check_flag_memory("--epochs", updates * 8,
                  lambda size: f"{epochs} epochs of {n} examples make {updates:,} updates, whose losses take {size}")
    check_output_folder(out, runs_dir)
    result = batch_modes(net, (prep.X_train, prep.y_train), loss=loss, lr=lr, epochs=epochs, modes=modes,
                         optimizer=optimizer, seed=seed)
    rows = result.table()
    _print_table(rows, f"{desc}: {n} training examples, {optimizer} at lr {lr:g}, {counted(epochs, 'epoch')} each")
    command = " ".join(["descend", "batch-modes", *(f"{flag} {shlex.quote(str(v))}" for flag, v in (
        ("--data", data) if data else ("--dataset", dataset), ("--target", target), ("--model", model),
        ("--lr", f"{lr:g}"), ("--epochs", epochs), ("--batch-size", batch_size), ("--optimizer", optimizer),
        ("--seed", seed)) if v is not None and (flag != "--model" or v))])
    out_dir = output_folder(out, runs_dir, f"batch-modes-{Path(data).stem if data else dataset}")
    written = _write_outputs(out_dir, result, rows, desc, loss, command)
    typer.echo(f"wrote {', '.join(p.name for p in written)} to {out_dir}")


def _print_table(rows, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, head in enumerate(("mode", "batch", "updates", "examples", "final loss", "noise", "rose",
                              "seconds")):
        table.add_column(head, justify="left" if i == 0 else "right", no_wrap=True)
    for name, batch, updates, examples, final, noise, rises, seconds in rows:
        table.add_row(name, str(batch), str(updates), str(examples), f"{final:.4g}", f"{noise:.3g}",
                      f"{rises:.0%}", f"{seconds:.3g}")
    import shutil

    # the table needs about 90 columns; a pipe or a narrow terminal must not truncate the names
    Console(width=max(100, shutil.get_terminal_size((100, 24)).columns)).print(table)


def _write_outputs(out_dir: Path, result, rows, desc: str, loss: str, command: str) -> list[Path]:
    from .. import viz
    from ..train.guards import counted
    from .report import data_uri, figure_png, render
    from .runs import write_bytes, write_json, write_text

    full = viz.plot_batch_modes(result, title=f"{desc}: the loss on the whole training set")
    seen = viz.plot_history(result.histories, panels=("loss",), x=("step", "examples"),
                            examples_per_epoch=result.n_examples,
                            title="The losses the updates saw (each on its own batch)")
    images = []
    written = []
    for name, fig, caption in (
            ("full_loss.png", full, "Loss on the whole training set against updates and examples seen"),
            ("step_loss.png", seen, "The loss of each update's own batch: stochastic descent's is noisy")):
        png = figure_png(fig)
        write_bytes(out_dir / name, png)
        written.append(out_dir / name)
        images.append((caption, data_uri(png)))
    summary = {
        "data": desc, "n_examples": result.n_examples, "epochs": result.epochs, "lr": result.lr,
        "optimizer": result.optimizer, "loss": loss, "command": command,
        # the table's columns (one definition, BatchModes.TABLE_HEAD) as keys: "batch_size", ...
        "modes": [dict(zip((h.replace(" ", "_") for h in result.TABLE_HEAD), r, strict=True))
                  for r in rows],
    }
    write_json(out_dir / "results.json", summary)
    written.append(out_dir / "results.json")
    table_rows = [[r[0], r[1], r[2], r[3], r[4], r[5], f"{r[6]:.0%}", r[7]] for r in rows]
    page = render("batch_modes.html.j2", title="Batch, stochastic and mini-batch gradient descent",
                  subtitle=f"{desc}, {result.n_examples} training examples; {result.optimizer} at "
                           f"lr {result.lr:g} for {counted(result.epochs, 'epoch')} each ({loss} loss)",
                  head=list(result.TABLE_HEAD), rows=table_rows, images=images, command=command)
    write_text(out_dir / "report.html", page)
    written.append(out_dir / "report.html")
    return written


def register(app: typer.Typer) -> None:
    """Add ``batch-modes`` to the ``descend`` command."""
    app.command("batch-modes")(batch_modes_command)
