"""The playground's web server: Starlette routes, one WebSocket per browser tab, uvicorn.

``GET /`` is the page and ``/static/...`` its scripts and styles, all served from the
installed package (no CDN, nothing built at install time). ``/ws`` carries JSON messages both
ways: on connect the server sends ``hello`` (every choice the page offers); the page sends
requests (see :class:`~descend.playground.session.NetworkSession` and
:func:`~descend.playground.landscape.handle`) and gets ``ready``, ``frame``, ``status``,
``export``, ``uploaded``, ``landscape`` or ``error`` messages back. The page answers each
``frame`` with ``drawn`` once it is on screen (or replaced by a newer one before it was drawn);
the server keeps at most two frames unanswered. A malformed request
is answered with an ``error`` and the connection goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
import webbrowser
from urllib.parse import urlsplit

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the playground needs the 'ui' extra: pip install 'descend[ui]'") from exc

from .. import landscapes
from . import config, landscape
from .session import MAX_UPLOAD_BYTES, NetworkSession

__all__ = ["create_app", "serve", "is_loopback"]

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: The largest message the page may send: an upload (its text as JSON) and some room.
MAX_MESSAGE_CHARS = 2 * MAX_UPLOAD_BYTES + 10_000


def hello() -> dict:
    return {"type": "hello", "schema": config.schema(), "upload_limit": MAX_UPLOAD_BYTES,
            "landscapes": [n for n in landscapes.names() if landscapes.get(n).dim == 2]}


def _same_origin(websocket: WebSocket) -> bool:
    """Refuse pages of other sites: a browser sends their Origin, which must be this server."""
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser (a test client, a script on this machine)
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host")


async def _connection(websocket: WebSocket) -> None:
    if not _same_origin(websocket):
        await websocket.close(code=1008)
        return
    await websocket.accept()
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue = asyncio.Queue()

    def send(message: dict) -> None:
        # Called from the session's thread, which also writes the JSON: a frame's text costs
        # milliseconds, which the event loop then spends answering the page instead.
        try:
            text = json.dumps(message, allow_nan=False)
        except ValueError as exc:  # a non-finite number slipped through: say so, go on
            text = json.dumps({"type": "error", "message": f"internal error: {exc} "
                                                          f"in a {message.get('type')} message"})
        with contextlib.suppress(RuntimeError):  # the loop is gone: the tab closed
            loop.call_soon_threadsafe(outbox.put_nowait, text)

    session = NetworkSession(send)
    sessions = websocket.app.state.sessions
    sessions.add(session)
    landscape_lock = asyncio.Lock()

    async def pump() -> None:
        while True:
            await websocket.send_text(await outbox.get())

    async def answer_landscape(request: dict) -> None:
        async with landscape_lock:  # one at a time per tab; the Network tab keeps training
            try:
                # computed and written as JSON in a worker thread: a race's or a basin map's
                # text is large, and the event loop meanwhile answers the Network tab
                await asyncio.to_thread(lambda: send(landscape.handle(request)))
            except (ValueError, TypeError) as exc:
                send({"type": "error", "message": f"landscape: {exc}"})
            except Exception as exc:  # reported; the connection goes on
                send({"type": "error",
                      "message": f"landscape: internal error ({type(exc).__name__}): {exc}"})

    pumping = asyncio.create_task(pump())
    tasks = set()
    send(hello())
    try:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            text = received.get("text")
            if text is None:  # a binary frame: receive_text() would fail and drop the tab
                send({"type": "error", "message": "a message must be JSON text, not binary"})
                continue
            if len(text) > MAX_MESSAGE_CHARS:
                send({"type": "error", "message": f"message too large ({len(text)} characters; "
                                                  f"the limit is {MAX_MESSAGE_CHARS})"})
                continue
            try:
                message = json.loads(text)
            except json.JSONDecodeError as exc:
                send({"type": "error", "message": f"not a JSON message: {exc}"})
                continue
            except RecursionError:  # e.g. [[[[...]]]]: the parser's recursion runs out
                send({"type": "error", "message": "not a JSON message: nested too deeply"})
                continue
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                send({"type": "error", "message": "a message must be an object with a 'type'"})
                continue
            if message["type"] == "drawn":
                # The page drew the last frame: only now is the next one computed, so frames
                # never queue up in front of the answer to a click.
                session.frame_sent()
            elif message["type"] == "landscape":
                task = asyncio.create_task(answer_landscape(message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif message["type"].startswith("_"):
                send({"type": "error", "message": f"unknown request type {message['type']!r}"})
            else:
                session.submit(message)
    except WebSocketDisconnect:
        pass
    finally:
        # No await here: when the connection's task is cancelled, this must still run whole.
        pumping.cancel()
        for task in tasks:
            task.cancel()
        sessions.discard(session)
        session.close(wait=False)


async def _index(request):
    return FileResponse(os.path.join(STATIC, "index.html"), media_type="text/html")


def create_app(on_start=None) -> Starlette:
    """The Starlette application. ``app.state.sessions`` holds the open tabs' sessions;
    ``on_start()`` is called once the server accepts connections (e.g. to open a browser)."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if on_start is not None:
            on_start()
        yield
        for session in list(app.state.sessions):
            session.close(wait=False)

    app = Starlette(routes=[
        Route("/", _index),
        WebSocketRoute("/ws", _connection),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan)
    app.state.sessions = set()
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port=0``: a free port, read back from it).

    It listens at once, so a browser opened before uvicorn starts accepting waits in the
    backlog instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(host: str = "127.0.0.1", port: int = 0, open_browser: bool = True, announce=print) -> None:
    """Serve the playground until Ctrl-C. ``announce(url)`` is told where it listens."""
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"

    def started():
        announce(url)
        if open_browser:  # in a thread: starting a browser may take a while; serving may not wait
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    _uvicorn(create_app(on_start=started)).run(sockets=[sock])


def _uvicorn(app) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_max_size=MAX_MESSAGE_CHARS * 4))


@contextlib.contextmanager
def serving(host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0):
    """The playground served from a background thread, as :func:`serve` serves it, for as long
    as the ``with`` block runs (tests, benchmarks, screenshots): yields its URL."""
    sock = bind(host, port)
    server = _uvicorn(create_app())
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        if not server.started:
            raise RuntimeError(f"the playground server did not start within {timeout:g} s")
        yield f"http://{host}:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
