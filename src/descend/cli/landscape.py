"""``descend landscape``, ``descend basins`` and ``descend search``: optimisers on test functions.

* ``descend landscape NAME --optimizers sgd,momentum,nesterov,adam``: walk each optimizer
  from one start, print a table (final point, value, distance to the nearest known minimum,
  steps and evaluations to get within ``--radius`` of it) and write ``paths.png``,
  ``paths.gif``, ``results.json`` and a self-contained ``report.html``.
* ``descend landscape --list``: the functions and their published minima.
* ``descend basins NAME --optimizer sgd``: start from every point of a grid; the share of
  starts that reach each minimum; ``basins.png``.
* ``descend search NAME --method random,local,annealing,multistart,gd --budget N``: gradient
  descent and gradient-free search at the same budget of function evaluations, in the same
  table as ``landscape``; ``paths.png`` (where each method's best point went),
  ``convergence.png`` (best value against evaluations).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .config import int_flag

__all__ = ["register"]

METHODS = ("random", "local", "annealing", "multistart", "hopping", "tunnel", "gd")
DEFAULT_METHODS = "random,local,annealing,multistart,gd"

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on failure.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Folder for the plots, results.json and report.html (created if missing; "
    "default: a new folder under --runs-dir).", file_okay=False, show_default=False)]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Where the default output folder is created.")]
StartOpt = Annotated[str | None, typer.Option(
    "--start", metavar="X,Y", help="Starting point (default: the landscape's standard start).",
    show_default=False)]
RadiusOpt = Annotated[float, typer.Option(
    "--radius", help="A method has reached a minimum when it stays within this distance of it.")]
PlotsOpt = Annotated[bool, typer.Option("--plots/--no-plots", help="Write the plots and report.html.")]
# basins and search (landscape's own takes a list of names and one rate per optimizer)
LandscapeArg = Annotated[str | None, typer.Argument(help="Landscape name; without one, the list of landscapes.",
                                                    show_default=False)]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate (default: the landscape's suggestion).",
                                             show_default=False)]


# --------------------------------------------------------------------------- argument parsing

def _landscape(name: str | None, command: str, param: str = "NAME"):
    """The landscape ``name``; without a name (the usage shows it optional), the list of
    landscapes for ``command``, and the command ends there with exit 0, as ``descend landscape`` does."""
    from ..landscapes import get

    if name is None:
        _list_landscapes(command)
        raise typer.Exit(0)
    try:
        return get(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=param) from None


def _point(text: str | None, land, param: str = "--start") -> np.ndarray:
    if text is None:
        return np.array(land.start, dtype=np.float64)
    try:
        pt = np.array([float(t) for t in text.replace(" ", "").split(",") if t != ""], dtype=np.float64)
    except ValueError:
        raise typer.BadParameter(f"expected numbers X,Y, got {text!r}", param_hint=param) from None
    if pt.size != land.dim:
        raise typer.BadParameter(f"{land.name} needs {land.dim} coordinates, got {text!r}", param_hint=param)
    if not np.all(np.isfinite(pt)):
        raise typer.BadParameter(f"coordinates must be finite, got {text!r}", param_hint=param)
    return pt


def _optimizers(text: str, param: str = "--optimizers") -> list[str]:
    from .. import optim

    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not items:
        raise typer.BadParameter("give at least one optimizer", param_hint=param)
    known = optim.names()
    for it in items:
        if it not in known:
            raise typer.BadParameter(f"unknown optimizer {it!r}; choose from {', '.join(known)}", param_hint=param)
    return items


def _lrs(text: str | None, n: int, param: str = "--lr") -> list[float | None]:
    if text is None:
        return [None] * n
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected a number or a comma-separated list, got {text!r}", param_hint=param) from None
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n:
        raise typer.BadParameter(f"give one learning rate, or one per optimizer ({n}), got {len(vals)}", param_hint=param)
    if not all(v > 0 and np.isfinite(v) for v in vals):
        raise typer.BadParameter(f"learning rates must be positive, got {text!r}", param_hint=param)
    return vals


def _positive(value, param: str, integer: bool = False):
    if value is None:
        return None
    if not (value > 0) or (not integer and not np.isfinite(value)):
        raise typer.BadParameter(f"must be positive, got {value!r}", param_hint=param)
    return value


def check_flag_memory(flag: str, need: int, describe) -> None:
    """Refuse, as a usage error of ``flag``, work whose arrays alone (``need`` bytes) exceed this
    machine's memory (the check ``descend train`` makes of its layer sizes)."""
    from .config import ConfigError
    from .job import check_memory

    try:
        check_memory(flag, need, describe)
    except ConfigError as exc:
        raise typer.BadParameter(exc.detail, param_hint=flag) from None


def check_output_folder(out: Path | None, runs_dir: Path) -> None:
    """Refuse an output folder that cannot be one, before any work (nothing is created yet)."""
    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{str(out)!r} exists and is not a folder", param_hint="--out")
    if out is None and runs_dir.exists() and not runs_dir.is_dir():
        raise typer.BadParameter(f"{str(runs_dir)!r} exists and is not a folder", param_hint="--runs-dir")


def output_folder(out: Path | None, runs_dir: Path, stem: str) -> Path:
    """The output folder, created only once there is something to write in it (a command that
    fails or is interrupted before, as basins out of memory, leaves no empty folder behind)."""
    check_output_folder(out, runs_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out
    from .runs import new_run_dir

    return new_run_dir(runs_dir, None, stem=stem)


def _extra_hyperparameters(name: str) -> dict:
    # L-BFGS without a line search takes fixed steps of length lr and stalls on curved
    # valleys; the strong-Wolfe search is what makes it the method it is meant to be.
    return {"line_search_fn": "strong_wolfe"} if name == "lbfgs" else {}


# --------------------------------------------------------------------------- tables

def _fmt_point(x) -> str:
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return "diverged"
    from .report import fixed

    return "(" + ", ".join(fixed(v) for v in x) + ")"


def _fmt_num(v, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if not np.isfinite(v):
        return "—" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def _row(label: str, settings: str, res, land, radius: float, gd_path: bool) -> dict:
    """One table row for a Result: where it ended, how far from a known minimum, and what
    it cost to get within ``radius`` of that minimum (and stay)."""
    from ..landscapes import steps_to_reach

    x = np.asarray(res.x, dtype=np.float64)
    finite = bool(np.all(np.isfinite(x)) and np.isfinite(res.fun))
    idx, dist = land.nearest_minimum(x) if np.all(np.isfinite(x)) else (None, float("nan"))
    steps = evals = None
    if idx is not None and finite:
        target = land.minima[idx].point
        if gd_path:  # the walker's own path: step k is path row k
            k = steps_to_reach(res.path, target, radius)
            if k is not None:
                steps, evals = k, int(res.evaluations[k])
        else:  # best point so far, against evaluations spent
            ev, _, pts = res.best_trace()
            k = steps_to_reach(pts, target, radius)
            if k is not None:
                steps, evals = k, int(ev[k])
    diverged = "diverged" in str(res.get("message", ""))
    to_global = (float(min(np.linalg.norm(x - m.point) for m in land.global_minima))
                 if land.global_minima and np.all(np.isfinite(x)) else float("nan"))
    return {
        "method": label, "settings": settings, "x": x.tolist(), "fun": float(res.fun),
        "nearest_minimum": list(land.minima[idx].x) if idx is not None else None,
        "nearest_is_global": bool(land.minima[idx].is_global) if idx is not None else None,
        "distance": dist, "distance_to_global": to_global, "steps_to_reach": steps, "evals_to_reach": evals,
        "nfev": int(res.nfev), "njev": int(res.njev), "diverged": diverged,
        "message": str(res.get("message", "")),
    }


def _nearest_text(row: dict, radius: float) -> str:
    """Where a method ended relative to the known minima, in words: "at a global minimum
    (2.1e-07 from it)" (within ``radius``), "2.314 from a global minimum" (the nearest, not
    reached), and for a local one also how far the global minimum is."""
    if row["nearest_is_global"] is None:
        return _fmt_num(row["distance"])
    kind = "global" if row["nearest_is_global"] else "local"
    if row["distance"] <= radius:
        text = f"at a {kind} minimum ({_fmt_num(row['distance'])} from it)"
    else:
        text = f"{_fmt_num(row['distance'])} from a {kind} minimum"
    if not row["nearest_is_global"] and np.isfinite(row["distance_to_global"]):
        text += f"; {_fmt_num(row['distance_to_global'])} from the global"
    return text


def _print_table(title: str, rows: list[dict], radius: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, just in (("method", "left"), ("settings", "left"), ("final point", "left"),
                      ("f(final)", "right"), ("distance to a known minimum", "left"),
                      (f"steps to {radius:g}", "right"),
                      (f"evals to {radius:g}", "right"), ("nfev", "right"), ("njev", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        near = _nearest_text(r, radius)
        table.add_row(
            r["method"], r["settings"], "diverged" if r["diverged"] else _fmt_point(r["x"]),
            _fmt_num(r["fun"]), near, _fmt_num(r["steps_to_reach"]), _fmt_num(r["evals_to_reach"]),
            str(r["nfev"]), str(r["njev"]),
        )
    Console(width=max(120, _console_width())).print(table)


def _console_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


# --------------------------------------------------------------------------- report.html

def _image(path: Path, caption: str) -> tuple[str, str]:
    """``(caption, data URI)`` of a written PNG or GIF, for the report."""
    from .report import data_uri

    return caption, data_uri(path.read_bytes(), {".png": "image/png", ".gif": "image/gif"}[path.suffix.lower()])


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> dict:
    """A table for the report template: header, rows of text cells, the numeric columns."""
    return {"head": header, "rows": rows, "numeric": sorted(numeric)}


def _write_report(out: Path, title: str, subtitle: str, table: dict, images: list, notes: str,
                  land, command: str) -> Path:
    from .report import render
    from .runs import write_text

    minima = [[_fmt_point(m.x), _fmt_num(m.value, 8), "global" if m.is_global else "local"] for m in land.minima]
    page = render(
        "landscape.html.j2", title=title, subtitle=subtitle, results=table, notes=notes,
        images=[_image(p, c) for p, c in images if p.exists()], command=command,
        landscape={"title": land.title, "formula": land.formula, "minima": minima,
                   "domain": " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in land.domain)})
    path = out / "report.html"
    write_text(path, page)
    return path


def _command_line(command: str, name: str, options: dict) -> str:
    """The command that reproduces this run, with every setting spelt out."""
    parts = ["descend", command, name]
    for flag, value in options.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{flag}={value}" if str(value).startswith("-") else f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def _rows_table(rows: list[dict], radius: float) -> dict:
    return _table(
        ["method", "settings", "final point", "f(final)", "distance to a known minimum",
         f"steps to {radius:g}", f"evals to {radius:g}", "nfev", "njev"],
        [[r["method"], r["settings"], "diverged" if r["diverged"] else _fmt_point(r["x"]), _fmt_num(r["fun"]),
          _nearest_text(r, radius), _fmt_num(r["steps_to_reach"]), _fmt_num(r["evals_to_reach"]),
          str(r["nfev"]), str(r["njev"])] for r in rows],
        {3, 5, 6, 7, 8},
    )


# --------------------------------------------------------------------------- commands

def _list_landscapes(command: str = "landscape") -> None:
    from rich.console import Console
    from rich.table import Table

    from ..landscapes import get, names

    table = Table(title=f"Landscapes (descend {command} NAME)", title_justify="left", show_lines=True)
    table.add_column("name")
    table.add_column("domain")
    table.add_column("known minima (point: value)")
    for n in names():
        land = get(n)
        mins = "\n".join(
            f"{_fmt_point(m.x)}: {_fmt_num(m.value, 7)}" + (" global" if m.is_global else " local")
            for m in land.minima
        )
        dom = " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in land.domain)
        dims = " (any dim)" if "dim" in land.options else ""
        table.add_row(n + dims, dom, mins)
    Console(width=max(110, _console_width())).print(table)


def landscape_command(
    name: Annotated[str | None, typer.Argument(
        help="Landscape name; without one, the list of landscapes.", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the landscapes and their known minima.")] = False,
    optimizers: Annotated[str, typer.Option("--optimizers", help="Comma-separated optimizer names.")] = "sgd,momentum,nesterov,adam",
    lr: Annotated[str | None, typer.Option(
        "--lr", help="One learning rate for all, or one per optimizer (comma-separated). Default: "
        "the landscape's suggestion for each optimizer.", show_default=False)] = None,
    steps: Annotated[int, typer.Option("--steps", min=0, callback=int_flag, help="Steps per optimizer.")] = 300,
    start: StartOpt = None,
    tol: Annotated[float, typer.Option("--tol", help="Stop when the gradient norm is at most this.")] = 1e-6,
    radius: RadiusOpt = 1e-3,
    out: OutOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    plots: PlotsOpt = True,
    frames: Annotated[int, typer.Option("--frames", min=1, callback=int_flag, help="Frames in paths.gif.")] = 100,
    debug: DebugOpt = False,
) -> None:
    """Walk several optimizers downhill from one start; compare where they end and what it cost.

    Without a NAME (or with --list): the landscapes to choose from, with their known minima.
    """
    if list_ or name is None:
        _list_landscapes()
        return
    from ..landscapes import minimize

    land = _landscape(name, "landscape")
    if land.dim != 2 and plots:
        raise typer.BadParameter("only 2-D landscapes can be drawn", param_hint="NAME")
    names_ = _optimizers(optimizers)
    lrs = _lrs(lr, len(names_))
    x0 = _point(start, land)
    _positive(radius, "--radius")
    if not tol >= 0:
        raise typer.BadParameter(f"must be >= 0, got {tol!r}", param_hint="--tol")
    # each optimizer's path keeps its point, f and gradient norm at every step, in float64
    check_flag_memory("--steps", len(names_) * (steps + 1) * (land.dim + 2) * 8,
                  lambda size: f"{steps} steps of {len(names_)} optimizers record paths of {size}")
    if plots:  # paths.gif picks the step each frame shows from an array of --frames numbers
        check_flag_memory("--frames", frames * 8, lambda size: f"{frames} frames need {size} to list their steps")
    check_output_folder(out, runs_dir)

    results, rows = {}, []
    for opt, rate in zip(names_, lrs, strict=True):
        res = minimize(land, x0, optimizer=opt, steps=steps, lr=rate, tol=tol, **_extra_hyperparameters(opt))
        label = opt if opt not in results else f"{opt} #{len(results) + 1}"
        results[label] = res
        used = res.hyperparameters.get("lr")
        rows.append(_row(label, f"lr={used:g}" if used is not None else "", res, land, radius, gd_path=True))
    _print_table(f"{land.title} from {_fmt_point(x0)}, {steps} steps", rows, radius)
    command = _command_line("landscape", land.name, {
        "--optimizers": ",".join(names_), "--lr": lr, "--steps": steps,
        "--start": ",".join(f"{v:g}" for v in x0), "--tol": tol, "--radius": radius})
    out_dir = output_folder(out, runs_dir, f"landscape-{land.name}")
    _finish(out_dir, land, rows, results, radius, plots, frames, kind="landscape",
            subtitle=f"Optimizers from {_fmt_point(x0)}, at most {steps} steps each; "
                     f"stop when the gradient norm ≤ {tol:g}.", command=command)


def _finish(out_dir, land, rows, results, radius, plots, frames, kind, subtitle, command, extra_images=(),
            notes=""):
    from .runs import write_json

    write_json(out_dir / "results.json", {
        "landscape": land.name, "command": kind, "radius": radius, "rows": rows,
        "paths": {k: np.asarray(r.path).tolist() for k, r in results.items()} if results else {},
    })
    written = [out_dir / "results.json"]
    if plots:
        from .. import viz

        images = list(extra_images)
        if results:
            viz.plot_paths(land, {k: _drawable_path(r) for k, r in results.items()},
                           path=out_dir / "paths.png")
            images.insert(0, (out_dir / "paths.png", "Paths over the landscape (circle: start, cross: end)"))
            if frames:
                viz.animate_paths(land, {k: _drawable_path(r) for k, r in results.items()},
                                  path=out_dir / "paths.gif", frames=frames)
                images.insert(1, (out_dir / "paths.gif", "The same, animated"))
        report = _write_report(out_dir, f"descend {kind}: {land.title}", subtitle,
                               _rows_table(rows, radius), images, notes, land, command)
        written += [p for p, _ in images] + [report]
    typer.echo(f"wrote {', '.join(p.name for p in written if p.exists())} to {out_dir}")


def _drawable_path(res):
    """What to draw for a result: the walk for gradient descent and local methods, the
    sequence of record-breaking points for random search and restarts."""
    method = res.get("method")
    if method in ("random", "multistart", "basin_hopping"):
        ev, best, pts = res.best_trace()
        keep = np.r_[True, np.any(pts[1:] != pts[:-1], axis=1)] if len(pts) else np.zeros(0, bool)
        return pts[keep]
    return np.asarray(res.path)


def basins_command(
    name: LandscapeArg = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer name (elementwise: not lbfgs).")] = "sgd",
    lr: LrOpt = None,
    steps: Annotated[int, typer.Option("--steps", min=1, callback=int_flag, help="Steps from every start.")] = 500,
    resolution: Annotated[int, typer.Option("--resolution", min=2, callback=int_flag, help="Grid points per axis.")] = 100,
    radius: RadiusOpt = 1e-3,
    out: OutOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    plots: PlotsOpt = True,
    debug: DebugOpt = False,
) -> None:
    """Start from every point of a grid at once; which minimum does each start reach?"""
    from ..landscapes import basins

    land = _landscape(name, "basins")
    if land.dim != 2:
        raise typer.BadParameter("basins need a 2-D landscape", param_hint="NAME")
    opt = _optimizers(optimizer, "--optimizer")
    if len(opt) != 1:
        raise typer.BadParameter("give one optimizer", param_hint="--optimizer")
    if opt[0] == "lbfgs":
        raise typer.BadParameter("lbfgs couples the starts (line search); use an elementwise optimizer",
                                 param_hint="--optimizer")
    _positive(lr, "--lr")
    _positive(radius, "--radius")
    # per start, in 8-byte numbers: its grid point (meshgrid, starts), position, gradient, final
    # point (2 each), f, and a distance and a step count for each known minimum
    starts = resolution * resolution
    check_flag_memory("--resolution", starts * 8 * (11 + 2 * len(land.minima)),
                  lambda size: f"a {resolution}×{resolution} grid of {starts:,} starts needs at least {size}")
    check_output_folder(out, runs_dir)
    t0 = time.perf_counter()
    bm = basins(land, optimizer=opt[0], lr=lr, steps=steps, resolution=resolution, tol=radius)
    seconds = time.perf_counter() - t0
    shares = bm.shares
    rows = []
    for i, m in enumerate(land.minima):
        med = bm.median_steps(i)
        rows.append({"minimum": list(m.x), "value": m.value, "global": m.is_global, "share": shares[i],
                     "median_steps": med, "starts": int((bm.labels == i).sum())})
    stuck = float((bm.labels < 0).mean() - bm.diverged.mean())

    from rich.console import Console
    from rich.table import Table

    used = bm.hyperparameters.get("lr")
    title = (f"{land.title}: {opt[0]} (lr={used:g}), {steps} steps from {bm.labels.size} starts "
             f"({resolution}×{resolution} grid) in {seconds:.2f} s")
    table = Table(title=title, title_justify="left")
    for col, just in (("minimum", "left"), ("f", "right"), ("kind", "left"), ("share of starts", "right"),
                      (f"median steps to {radius:g}", "right")):
        table.add_column(col, justify=just)
    body = []
    for r in rows:
        cells = [_fmt_point(r["minimum"]), _fmt_num(r["value"], 7), "global" if r["global"] else "local",
                 f"{r['share']:.1%}", _fmt_num(r["median_steps"])]
        table.add_row(*cells)
        body.append(cells)
    for label, share in (("no known minimum", stuck), ("diverged", float(bm.diverged.mean()))):
        cells = [label, "", "", f"{share:.1%}", ""]
        table.add_row(*cells)
        body.append(cells)
    Console(width=max(110, _console_width())).print(table)
    typer.echo(f"global minimum reached from {bm.global_share:.1%} of starts; "
               f"{bm.nfev} function and {bm.njev} gradient evaluations")

    from .runs import write_json

    out_dir = output_folder(out, runs_dir, f"basins-{land.name}")
    write_json(out_dir / "results.json", {
        "landscape": land.name, "command": "basins", "optimizer": opt[0], "hyperparameters": bm.hyperparameters,
        "steps": steps, "resolution": resolution, "radius": radius, "rows": rows,
        "no_known_minimum": stuck, "diverged": float(bm.diverged.mean()), "global_share": bm.global_share,
        "nfev": bm.nfev, "njev": bm.njev, "seconds": seconds,
        "labels": bm.labels.tolist(), "xs": bm.xs.tolist(), "ys": bm.ys.tolist(),
    })
    written = [out_dir / "results.json"]
    if plots:
        from .. import viz

        viz.plot_basins(bm, path=out_dir / "basins.png")
        table = _table(["minimum", "f", "kind", "share of starts", f"median steps to {radius:g}"],
                       body, {1, 3, 4})
        report = _write_report(
            out_dir, f"descend basins: {land.title}", title, table,
            [(out_dir / "basins.png", "Left: the minimum each start converged to. Right: steps it took.")],
            f"Global minimum reached from {bm.global_share:.1%} of starts; {bm.nfev} function and "
            f"{bm.njev} gradient evaluations in one batched run.", land,
            _command_line("basins", land.name, {"--optimizer": opt[0], "--lr": used, "--steps": steps,
                                                "--resolution": resolution, "--radius": radius}))
        written += [out_dir / "basins.png", report]
    typer.echo(f"wrote {', '.join(p.name for p in written)} to {out_dir}")


def search_command(
    name: LandscapeArg = None,
    method: Annotated[str, typer.Option(
        "--method", help=f"Comma-separated methods: {', '.join(METHODS)}.")] = DEFAULT_METHODS,
    budget: Annotated[int, typer.Option("--budget", min=2, callback=int_flag, help="Function evaluations each method may spend.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, callback=int_flag, help="Seed for the random methods.")] = 0,
    start: StartOpt = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer for gd, multistart, hopping and tunnel.")] = "sgd",
    lr: LrOpt = None,
    step_size: Annotated[float | None, typer.Option(
        "--step-size", help="Proposal scale for local, annealing and hopping, start radius of tunnel's walks "
        "(default: 5% of the domain's width).",
        show_default=False)] = None,
    t0: Annotated[float, typer.Option("--t0", help="Starting temperature for annealing (scale of f's barriers).")] = 1.0,
    starts: Annotated[int, typer.Option("--starts", min=1, callback=int_flag, help="Random starts for multistart.")] = 10,
    radius: RadiusOpt = 1e-3,
    out: OutOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    plots: PlotsOpt = True,
    debug: DebugOpt = False,
) -> None:
    """Gradient descent against gradient-free search, at the same budget of evaluations."""
    from .. import search
    from ..landscapes import minimize

    land = _landscape(name, "search")
    methods = [m.strip().lower() for m in method.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad:
        raise typer.BadParameter(f"unknown method {', '.join(bad) or '(none)'}; choose from {', '.join(METHODS)}",
                                 param_hint="--method")
    opt = _optimizers(optimizer, "--optimizer")
    if len(opt) != 1:
        raise typer.BadParameter("give one optimizer", param_hint="--optimizer")
    opt = opt[0]
    _positive(lr, "--lr")
    _positive(step_size, "--step-size")
    _positive(t0, "--t0")
    _positive(radius, "--radius")
    x0 = _point(start, land)
    widths = np.array([hi - lo for lo, hi in land.domain])
    sigma = float(step_size) if step_size is not None else float(0.05 * widths.mean())
    # each method records a point and f for every evaluation, in float64
    check_flag_memory("--budget", len(methods) * budget * (land.dim + 1) * 8,
                  lambda size: f"{budget} evaluations of {len(methods)} methods record {size}")
    if "multistart" in methods and budget // starts < 2:
        raise typer.BadParameter(f"a budget of {budget} leaves fewer than 2 evaluations for each of {starts} starts",
                                 param_hint="--budget")
    check_output_folder(out, runs_dir)
    hp = _extra_hyperparameters(opt)

    results, rows = {}, []
    for m in methods:
        if m == "random":
            res = search.random_search(land, n_samples=budget, seed=seed)
            settings = f"{budget} samples"
        elif m == "local":
            res = search.random_local_search(land, x0, step_size=sigma, n_steps=budget - 1, seed=seed,
                                             bounds=land.domain)
            settings = f"σ={sigma:g}"
        elif m == "annealing":
            res = search.simulated_annealing(land, x0, step_size=sigma, n_steps=budget - 1, t0=t0, seed=seed,
                                             bounds=land.domain)
            settings = f"σ={sigma:g}, T0={t0:g}"
        elif m == "multistart":
            per = budget // starts
            res = search.multistart(land, n_starts=starts, optimizer=opt, seed=seed, steps=per - 1, lr=lr, **hp)
            settings = f"{starts}×{per - 1} steps {opt}, lr={res.hyperparameters.get('lr'):g}"
        elif m == "hopping":
            local = 50
            hops = max(budget // (local + 1) - 1, 0)
            res = search.basin_hopping(land, x0, n_iter=hops, step_size=sigma * 4, temperature=t0,
                                       optimizer=opt, seed=seed, steps=local, lr=lr, bounds=land.domain, **hp)
            settings = f"{hops} hops × {local} steps {opt}"
        elif m == "tunnel":
            # each tunnelling walk starts --step-size away from the minimum; the budget caps them all
            res = search.tunneling(land, x0, n_cycles=budget, radius=sigma, optimizer=opt, seed=seed, lr=lr,
                                   max_evaluations=budget, **hp)
            settings = f"radius {sigma:g}: {res.cycles} tunnels to lower basins, {opt} descents"
        else:  # gd
            res = minimize(land, x0, optimizer=opt, steps=budget - 1, lr=lr, **hp)
            res["method"] = "gd"
            settings = f"{opt}, lr={res.hyperparameters.get('lr'):g}"
        results[m] = res
        rows.append(_row(m, settings, res, land, radius, gd_path=False))
    _print_table(f"{land.title}: budget {budget} evaluations, seed {seed}", rows, radius)

    out_dir = output_folder(out, runs_dir, f"search-{land.name}")
    images = []
    if plots:
        from .. import viz

        viz.plot_convergence(results, land, log_x=True, path=out_dir / "convergence.png")
        images.append((out_dir / "convergence.png", "Best value found against evaluations spent"))
    _finish(out_dir, land, rows, results, radius, plots, 0, kind="search",
            subtitle=f"Each method may spend {budget} function evaluations (seed {seed}).",
            command=_command_line("search", land.name, {
                "--method": ",".join(methods), "--budget": budget, "--seed": seed,
                "--start": ",".join(f"{v:g}" for v in x0), "--optimizer": opt, "--lr": lr,
                "--step-size": sigma, "--t0": t0, "--starts": starts, "--radius": radius}),
            extra_images=images,
            notes="Paths show where each method's best point so far went (random search and restarts: "
                  "the record-breaking samples). Gradient evaluations (njev) are counted separately; "
                  "by backpropagation each costs a small multiple of a function evaluation.")


def register(app: typer.Typer) -> None:
    """Add ``landscape``, ``basins`` and ``search`` to the ``descend`` command."""
    app.command("landscape")(landscape_command)
    app.command("basins")(basins_command)
    app.command("search")(search_command)
