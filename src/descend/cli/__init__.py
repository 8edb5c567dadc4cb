"""The ``descend`` command (extra ``cli``: typer + rich).

Each command group lives in its own module and registers itself on ``app``:
``train.py`` (train, lr-find, evaluate, predict) and ``landscape.py``
(landscape, basins, search).
"""

from __future__ import annotations

import importlib
import sys

try:
    import typer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the descend command needs the 'cli' extra: pip install 'descend[cli]'"
    ) from exc

app = typer.Typer(
    name="descend",
    help="Gradient descent and backpropagation from first principles: train, explore, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_COMMAND_MODULES = ("train", "landscape")


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"descend.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"descend.cli.{name}":
                continue  # that command group is not installed in this build
            raise
        module.register(app)


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
