"""The benchmark's servers, one process each, on 127.0.0.1. No eventlet, no greenclient.

Started by the orchestrator::

    python -m bench.servers blast --messages N [--kind mixed]
    python -m bench.servers invalid --messages N
    python -m bench.servers large --messages N --frame-size BYTES
    python -m bench.servers fanout

Each prints ``LISTENING <port>`` once it listens, and exits when its standard
input closes (the orchestrator holds it open), after ``--lifetime`` seconds, or
(``fanout``) when its control connection closes. Nothing outlives the run.

``blast``
    Accepts connections one after the other; to each it writes the same
    precomputed stream of N framed messages (``seq`` 0..N-1) as fast as the
    client takes it, then closes. TCP makes it wait for a slow client.
``invalid``
    The same, with N invalid frames (``x~``) followed by one valid message.
``large``
    The same, with N JSON frames of ``--frame-size`` bytes each (``seq``
    0..N-1, a long string), built one at a time.
``fanout``
    Accepts any number of connections (selectors). A connection that sends a
    line is the *control* connection; its commands, one per line:

    ``wait N``  answer ``ready`` once N other connections are accepted
    ``go K``    write K framed messages (``seq`` 0..K-1) to every other
                connection, one write per message and client, message after
                message; answer ``sent SECONDS``
    ``close``   reset every other connection (no TIME_WAIT left), answer ``closed``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable

from bench import common

_LINGER_RESET = struct.pack("ii", 1, 0)


def _exit_when_stdin_closes() -> None:
    """Watch standard input in a daemon thread; end the process at EOF."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 1024):
                pass
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _listen(backlog: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((common.HOST, 0))
    listener.listen(backlog)
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    return listener


def _large_frames(count: int, size: int) -> Iterable[bytes]:
    template = common.large_frame(size)
    head = b'{"seq":'
    for seq in range(count):
        number = str(seq).encode("ascii")
        # Same size whatever the number: the number replaces filler characters.
        yield head + number + b',"blob":"' + template[len(head) + 9 + len(number) :]


def blast(payload: Callable[[], Iterable[bytes]], lifetime: float) -> int:
    listener = _listen(16)
    listener.settimeout(0.5)
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            for data in payload():
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            # Wait for the client to close first so that it has read everything.
            while conn.recv(65536):
                pass
        except OSError:
            pass
        finally:
            conn.close()
    return 0


class _FanOut:
    def __init__(self, lifetime: float):
        common.raise_nofile(1 << 20)
        self.listener = _listen(4096)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.clients: dict[int, socket.socket] = {}
        self.control: socket.socket | None = None
        self.pending = b""
        self.waiting_for: int | None = None
        self.deadline = time.monotonic() + lifetime

    def run(self) -> int:
        while time.monotonic() < self.deadline:
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    self._accept()
                elif not self._readable(sock):
                    return 0
            if self.waiting_for is not None and len(self.clients) >= self.waiting_for:
                self.waiting_for = None
                self._answer("ready")
        return 1

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: say so, keep serving
                print(f"accept failed: {exc}", file=sys.stderr, flush=True)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.clients[conn.fileno()] = conn
            self.selector.register(conn, selectors.EVENT_READ)

    def _readable(self, sock: socket.socket) -> bool:
        """Handle a readable connection; False when the control connection ended."""
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        if sock is not self.control and not data:
            self._drop(sock)
            return True
        if not data:
            return False
        if self.control is None:
            self.control = sock
            self.clients.pop(sock.fileno(), None)
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            self._command(line.decode("ascii", "replace").split())
        return True

    def _drop(self, sock: socket.socket) -> None:
        self.clients.pop(sock.fileno(), None)
        self.selector.unregister(sock)
        sock.close()

    def _answer(self, line: str) -> None:
        assert self.control is not None
        self.control.setblocking(True)
        self.control.sendall(line.encode("ascii") + b"\n")
        self.control.setblocking(False)

    def _command(self, words: list[str]) -> None:
        if words[:1] == ["wait"]:
            self.waiting_for = int(words[1])
        elif words[:1] == ["go"]:
            self._answer(f"sent {self._broadcast(int(words[1])):.6f}")
        elif words[:1] == ["close"]:
            for sock in list(self.clients.values()):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                self._drop(sock)
            self._answer("closed")

    def _broadcast(self, count: int) -> float:
        frames = [common.fan_out_message(seq) for seq in range(count)]
        clients = list(self.clients.values())
        start = time.perf_counter()
        for frame in frames:
            for sock in clients:
                try:
                    sent = sock.send(frame)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    continue
                if sent < len(frame):
                    # The client's buffer is full: finish this frame blocking.
                    sock.settimeout(30.0)
                    with contextlib.suppress(OSError):
                        sock.sendall(frame[sent:])
                    sock.setblocking(False)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["blast", "invalid", "large", "fanout"])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kind", choices=["ascii", "utf8", "mixed"], default="mixed")
    parser.add_argument("--frame-size", type=int, default=1 << 20)
    parser.add_argument("--lifetime", type=float, default=600.0)
    args = parser.parse_args(argv)
    _exit_when_stdin_closes()
    common.install_deadline(args.lifetime + 5)
    if args.mode == "blast":
        data = common.stream(args.messages, args.kind)
        return blast(lambda: [data], args.lifetime)
    if args.mode == "invalid":
        flood = common.invalid_flood(args.messages)
        return blast(lambda: [flood], args.lifetime)
    if args.mode == "large":
        return blast(lambda: _large_frames(args.messages, args.frame_size), args.lifetime)
    return _FanOut(args.lifetime).run()


if __name__ == "__main__":
    sys.exit(main())
