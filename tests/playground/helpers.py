"""Shared pieces of the playground tests: a session driven without a server, and messages."""

from __future__ import annotations

import queue
import time

from descend.playground.session import NetworkSession


class DrivenSession:
    """A NetworkSession whose messages land in a queue; frames are acknowledged as read."""

    def __init__(self):
        self.messages: queue.Queue = queue.Queue()
        self.session = NetworkSession(self.messages.put)

    def send(self, message: dict) -> None:
        self.session.submit(message)

    def wait_for(self, kind: str, timeout: float = 20.0, where=None) -> dict:
        """The next message of type ``kind`` (matching ``where``), acknowledging frames on the way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=0.05)
            except queue.Empty:
                continue
            if message["type"] == "frame":
                self.session.frame_sent()
            if message["type"] == kind and (where is None or where(message)):
                return message
            if message["type"] == "error" and kind != "error":
                raise AssertionError(f"the session answered with an error: {message['message']}")
        raise AssertionError(f"no {kind!r} message within {timeout} s")

    def configure(self, **config) -> dict:
        self.send({"type": "config", "config": config})
        ready = self.wait_for("ready")
        self.wait_for("frame")
        return ready

    def close(self) -> None:
        self.session.close()
