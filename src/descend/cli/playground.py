"""``descend playground``: the live page in the browser (extra ``ui``)."""

from __future__ import annotations

import typer

from .config import int_flag


def playground(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on; anything but loopback is reachable "
                                  "from other machines."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port (0: a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
    threads: int = typer.Option(1, "--threads", min=1, callback=int_flag,
                                help="Threads for NumPy's matrix products (BLAS). The playground's "
                                     "networks are small: one thread is fastest, and leaves a core "
                                     "to the server."),
) -> None:
    """Watch gradient descent train a network and walk a landscape, live in the browser."""
    try:
        from ..playground.server import is_loopback, serve
    except ImportError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not is_loopback(host):
        typer.echo(f"warning: listening on {host}: other machines can reach the playground "
                   "(it has no login)", err=True)
    from .job import blas_threads

    try:
        with blas_threads({"threads": threads}, [], 0):
            serve(host=host, port=port, open_browser=not no_browser,
                  announce=lambda url: typer.echo(f"descend playground at {url} (Ctrl-C stops it)"))
    except KeyboardInterrupt:
        # uvicorn has closed every connection and session; it raises Ctrl-C again afterwards
        typer.echo("descend playground stopped")
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                 param_hint="--host/--port") from None


def register(app: typer.Typer) -> None:
    app.command("playground")(playground)
