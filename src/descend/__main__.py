"""``python -m descend`` and the ``descend`` console script: the command line (extra ``cli``).

This module imports nothing beyond the standard library until the command line is needed, so
that with only the core installed the ``descend`` command still says, in one line, which extra
to install instead of a chained traceback.
"""

import sys

#: The top-level packages the ``cli`` extra brings (see pyproject.toml).
_CLI_EXTRA = {"typer", "click", "rich", "matplotlib", "PIL", "threadpoolctl"}


def _missing_module(exc: BaseException) -> str | None:
    """The top-level name of the module whose absence caused ``exc`` (following its causes)."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            return exc.name.split(".")[0]
        exc = exc.__cause__ or exc.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the ``descend`` command; exit status 1 with one ``error:`` line without the extra."""
    try:
        from descend.cli import main as cli_main
    except ImportError as exc:
        missing = _missing_module(exc)
        if missing not in _CLI_EXTRA:
            raise
        print(f"error: the descend command needs the 'cli' extra ({missing} is not installed): "
              "pip install 'descend[cli]'", file=sys.stderr)
        return 1
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
