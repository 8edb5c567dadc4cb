"""The ``descend`` command (extra ``cli``: typer + rich).

Each command group lives in its own module and registers itself on ``app``:
``train.py`` (train, lr-find, evaluate, predict) and ``landscape.py``
(landscape, basins, search) and ``sweep.py`` (sweep, extra ``distributed``) and
``batch_modes.py`` (batch-modes).

Exit codes: 0 success; 2 usage error (bad flag, bad value, bad config file);
1 failure, reported as one line ``error: ...`` on stderr (a reader that closes the pipe early,
as ``| head`` does, is no failure: the command finishes its work quietly, with its own exit code); 3 ``descend train`` whose
training diverged (the run folder is written, with ``"diverged": true`` in metrics.json,
and one ``warning: ...`` line says where and why); 130 interrupted (Ctrl-C). ``--debug`` (anywhere
on the command line, or ``DESCEND_DEBUG=1``) shows the full traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import stat
import sys

try:
    import typer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the descend command needs the 'cli' extra: pip install 'descend[cli]'"
    ) from exc

from typer.core import TyperGroup

_DEBUG_FLAG = "--debug"


def debug_enabled() -> bool:
    """True when ``--debug`` was given (or ``DESCEND_DEBUG`` is set to a true value)."""
    return _state["debug"] or os.environ.get("DESCEND_DEBUG", "").lower() in ("1", "true", "yes", "on")


_state = {"debug": False}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # a message may span lines; the report must not
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        text = f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return text or type(exc).__name__


class DescendGroup(TyperGroup):
    """The top-level group: takes ``--debug`` wherever it appears and turns failures into one line."""

    def parse_args(self, ctx, args):
        args = list(args)
        cut = args.index("--") if "--" in args else len(args)
        if _DEBUG_FLAG in args[:cut]:
            _state["debug"] = True
            args = [a for a in args[:cut] if a != _DEBUG_FLAG] + args[cut:]
        else:
            _state["debug"] = False
        return super().parse_args(ctx, args)

    def main(self, *args, **kwargs):
        # `descend train --help | head -2`, `descend predict 2>&1 | head -2`, `descend train | head -3`
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = (_ClosedPipeIsNull(stream) if _is_pipe(stream) else stream for stream in saved)
        try:
            return super().main(*args, **kwargs)
        finally:
            sys.stdout, sys.stderr = saved

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command, ctx)
        return command

    def format_help(self, ctx, formatter):
        _plain_flags(self, ctx)
        return super().format_help(ctx, formatter)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, EOFError):
            raise
        except Exception as exc:
            if _is_click_exception(exc) or debug_enabled():
                raise  # usage errors print themselves (exit 2); --debug shows the traceback
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(1) from None


class _ClosedPipeIsNull:
    """Standard output or error as the command sees them when they are a pipe: once the reader
    closes it (``| head``), what is still written goes to the null device and the command carries
    on. The reader has all it wanted, so that is no failure: ``--help`` exits 0, a usage error
    keeps its 2, and ``descend train | head -3`` still trains and writes its run folder. Without
    this, the first write after the close raises BrokenPipeError (or rich, meeting it, exits 1)
    wherever the command happens to be."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_null()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_null()

    def _to_null(self):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()  # what the closed pipe refused is still buffered: drop it there

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _is_pipe(stream) -> bool:
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError):  # a captured stream (tests) has no descriptor
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _plain_flags(command, ctx) -> None:
    """No type column for on/off flags: typer's help shows ``<bool>`` beside every ``--x/--no-x``
    and ``--help``, which takes no value. An empty metavar leaves the column blank."""
    params = list(getattr(command, "params", ()))
    help_option = command.get_help_option(ctx) if hasattr(command, "get_help_option") else None
    for param in [*params, help_option]:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""


def _is_click_exception(exc: BaseException) -> bool:
    # typer.BadParameter's ancestors include click's ClickException (vendored in recent typer)
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


app = typer.Typer(
    cls=DescendGroup,
    name="descend",
    help="Gradient descent and backpropagation from first principles: train, explore, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_COMMAND_MODULES = ("train", "landscape", "sweep", "batch_modes", "playground")


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"descend.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"descend.cli.{name}":
                continue  # that command group is not installed in this build
            raise
        module.register(app)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"descend {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on failure (also DESCEND_DEBUG=1)."),
    version: bool = typer.Option(False, "--version", help="Print descend's version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Gradient descent and backpropagation from first principles: train, explore, compare.

    Start with `descend train`: an MLP on the digits data set, with a report in runs/.
    """


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``descend`` console script and ``python -m descend``."""
    try:
        app(args=argv, prog_name="descend", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
