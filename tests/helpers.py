"""Servers and waits shared by the client tests. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import gc
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventlet
import eventlet.queue

from greenclient.protocol import MessageProtocol

__all__ = ["RawServer", "free_port", "receive", "reset", "run_mypy", "wait_until"]


def receive(protocol: MessageProtocol, pieces: list[bytes], *, eof: bool = True) -> list[Any]:
    """Feed ``pieces`` to ``protocol`` (then the end of stream); return every item out."""
    out: list[Any] = []
    for piece in pieces:
        out += protocol.receive_data(piece)
    if eof:
        out += protocol.receive_eof()
    return out


def run_mypy(snippet: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``mypy --strict`` on ``snippet`` in a subprocess, with a cache beside it.

    In a subprocess: mypy does not run inside a monkey-patched process on every hub.
    """
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            str(snippet),
            "--strict",
            *options,
            "--no-incremental",
            "--config-file",
            "",
            "--cache-dir",
            str(snippet.parent / "mypy-cache"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.005) -> bool:
    """Poll ``predicate`` (yielding to other green threads) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        eventlet.sleep(step)
    return True


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class RawServer:
    """A listening socket whose connections are handed to ``handler(sock)`` in green threads.

    For fault tests that need exact control of the bytes and of how a connection
    ends. ``connections`` receives each accepted socket. Used as a context manager,
    it stops listening and closes every connection on exit.
    """

    def __init__(
        self,
        handler: Callable[[socket.socket], Any] | None = None,
        *,
        port: int = 0,
        backlog: int = 128,
        accept: bool = True,
    ):
        self.handler = handler
        self.connections: eventlet.queue.Queue[socket.socket] = eventlet.queue.Queue()
        self._socks: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(backlog)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[Any] = []
        self._acceptor = eventlet.spawn(self._accept) if accept else None

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._socks.append(sock)
            self.connections.put(sock)
            if self.handler is not None:
                self._threads.append(eventlet.spawn(self._run, sock))

    def _run(self, sock: socket.socket) -> None:
        assert self.handler is not None
        with contextlib.suppress(OSError):
            self.handler(sock)

    def stop_listening(self) -> None:
        """Refuse new connections; the accepted ones stay as they are."""
        if self._acceptor is not None:
            self._acceptor.kill()
        with contextlib.suppress(OSError):
            self._listener.close()

    def close(self) -> None:
        self.stop_listening()
        for thread in self._threads:
            thread.kill()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def spawned(func: Callable[..., Any], *args: Any) -> Iterator[Any]:
    """Run ``func`` in a green thread for the duration of the block, then kill it."""
    thread = eventlet.spawn(func, *args)
    try:
        yield thread
    finally:
        thread.kill()


def garbage_left_by(action: Callable[[], Any]) -> int:
    """Run ``action`` with the cyclic garbage collector off; return how many objects
    only that collector could free afterwards (reference cycles it left behind)."""
    gc.collect()
    gc.disable()
    try:
        action()
        return gc.collect()
    finally:
        gc.enable()
