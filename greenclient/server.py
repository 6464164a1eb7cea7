"""The reference server: the Scala server's behaviour, in Python, on green threads.

Our users' server is an actor that accepts clients, prints every message it
receives and writes ``SendToClients(message)`` to every connected client. This
module does the same so that the demo, the tests and the benchmark have a
server wherever Python runs: it is greenclient's test fixture, and it is not
meant for production.

It answers requests: every JSON object it receives that has a
``"_correlation_id"`` field is answered by broadcasting, to every client,
``{"type": "reply", "_correlation_id": <the same id>, "echo": <the object>}``
(what ``GreenClient.request()`` waits for).

It can run inside an eventlet program (:class:`ReferenceServer`, as the demo
and the tests do) or as its own process (``python -m greenclient.server``),
driven by commands on standard input, one per line:

``json VALUE``      broadcast the JSON value as greenclient sends it (compact, a
                    delimiter inside a string escaped), then the delimiter
``send TEXT``       write TEXT and the delimiter to every client, in one write
``raw TEXT``        write TEXT alone (no delimiter)
``bytewise TEXT``   write TEXT and the delimiter one byte per write
``close``           close every client connection
``quit``            stop (so does the end of standard input)

and reporting on standard output, one line each: ``LISTENING HOST PORT``,
``CONNECTED N``, ``DISCONNECTED N`` (N: clients now connected),
``RECEIVED JSON`` (each frame received, as compact JSON), ``INVALID ERROR``,
``OK COMMAND`` once a command is done, and ``ERROR REASON`` for a command it
could not carry out.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import socket
import ssl
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import eventlet.hubs
import eventlet.queue
import eventlet.semaphore
import greenlet

from . import _cli
from .errors import EncodeError, ProtocolError
from .protocol import MessageProtocol, delimiter_bytes

__all__ = ["CORRELATION_FIELD", "ReferenceServer", "main", "reply_to", "sample_messages"]

#: The field whose presence makes a received object a request to answer.
CORRELATION_FIELD = "_correlation_id"


def reply_to(request: Any, field: str = CORRELATION_FIELD) -> dict[str, Any] | None:
    """Return the reply the reference servers broadcast for ``request``, or None.

    A request is a JSON object with ``field``; its reply is
    ``{"type": "reply", field: <the same id>, "echo": request}``.
    """
    if isinstance(request, dict) and field in request:
        return {"type": "reply", field: request[field], "echo": request}
    return None


def sample_messages() -> Iterator[dict[str, Any]]:
    """Endless sample traffic of a small game: chat with non-ASCII text and a ``~``."""
    samples: list[dict[str, Any]] = [
        {"type": "chat", "user": "ana", "text": "olá, tudo bem? café às três"},
        {"type": "move", "player": "bob", "x": 3, "y": -1},
        {"type": "chat", "user": "李雷", "text": "你好 ~ a tilde inside a string"},
        {"type": "score", "player": "zoë", "points": 120, "badge": "🎉"},
        {"type": "chat", "user": "олег", "text": "привет! ~~ two tildes"},
    ]
    for seq in itertools.count(1):
        yield {"seq": seq, **samples[(seq - 1) % len(samples)]}


class _Peer:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.lock = eventlet.semaphore.Semaphore(1)
        self.reset = False  # close with an RST, not a FIN

    def write(self, data: bytes, bytewise: bool = False) -> None:
        with self.lock:
            if bytewise:
                for i in range(len(data)):
                    self.sock.sendall(data[i : i + 1])
                    eventlet.sleep(0)
            else:
                self.sock.sendall(data)


class ReferenceServer:
    """A broadcast server with the Scala server's behaviour, on green threads.

    Args:
        host, port: where to listen; port 0 picks a free one (see :attr:`port`).
        delimiter: frames end with it, as in greenclient.
        echo: broadcast every message received to every client (a chat room),
            except the requests it answers.
        answer_requests: answer every received object that has a
            ``"_correlation_id"`` with a reply broadcast to every client
            (see :func:`reply_to`).
        ssl_context: serve TLS with this (server-side) context.
        on_message: called with each decoded message received (after recording).

    Received messages are put on :attr:`received` (an unbounded eventlet queue);
    rejected frames on :attr:`errors`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delimiter: str | bytes = "~",
        echo: bool = False,
        answer_requests: bool = True,
        on_message: Callable[[Any], Any] | None = None,
        on_event: Callable[[str], Any] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.host = host
        self.port = port
        self.delimiter = delimiter_bytes(delimiter)
        self.echo = echo
        self.answer_requests = answer_requests
        self.received: eventlet.queue.Queue[Any] = eventlet.queue.Queue()
        self.errors: list[ProtocolError] = []
        self._on_message = on_message
        self._on_event = on_event
        self._ssl_context = ssl_context
        self._encoder = MessageProtocol(delimiter=self.delimiter)
        self._peers: dict[int, _Peer] = {}
        self._listener: socket.socket | None = None
        self._pool = eventlet.GreenPool()
        self._acceptor: Any = None

    def start(self) -> ReferenceServer:
        """Listen and start accepting clients; returns the server itself."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1024)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = eventlet.spawn(self._accept_loop, listener)
        return self

    @property
    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._peers)

    def wait_for_clients(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` clients are connected; False on timeout."""
        deadline = eventlet.hubs.get_hub().clock() + timeout
        while len(self._peers) < count:
            if eventlet.hubs.get_hub().clock() > deadline:
                return False
            eventlet.sleep(0.005)
        return True

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                # The handshake runs in the connection's own green thread, not here.
                sock = self._ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            peer = _Peer(sock)
            self._peers[id(peer)] = peer
            self._event(f"CONNECTED {len(self._peers)}")
            self._pool.spawn_n(self._read_loop, peer)

    def _read_loop(self, peer: _Peer) -> None:
        protocol = MessageProtocol(delimiter=self.delimiter)
        try:
            if isinstance(peer.sock, ssl.SSLSocket):
                try:
                    peer.sock.do_handshake()
                except (OSError, ValueError, AttributeError):
                    # AttributeError: shut down (close_clients) before its handshake.
                    return
            while True:
                try:
                    data = peer.sock.recv(65536)
                except (OSError, ValueError):  # ValueError: a TLS socket shut down meanwhile
                    break
                if not data:
                    break
                for item in protocol.receive_data(data):
                    if isinstance(item, ProtocolError):
                        self.errors.append(item)
                        self._event(f"INVALID {item}")
                        continue
                    self.received.put(item)
                    if self._on_message is not None:
                        self._on_message(item)
                    reply = reply_to(item) if self.answer_requests else None
                    if reply is not None:
                        # A request is answered, not echoed: its echo would carry
                        # its id back to the sender ahead of the reply.
                        self.broadcast(reply)
                    elif self.echo:
                        self.broadcast(item)
                eventlet.sleep(0)
        finally:
            self._peers.pop(id(peer), None)
            # shutdown and a yield before close: a broadcast blocked writing to this
            # peer must wake up rather than wait on a closed descriptor. (Not for a
            # reset: shutting down the writing side would send a FIN first.)
            if not peer.reset:
                with contextlib.suppress(OSError):
                    peer.sock.shutdown(socket.SHUT_RDWR)
            eventlet.sleep(0)
            with contextlib.suppress(OSError):
                peer.sock.close()
            self._event(f"DISCONNECTED {len(self._peers)}")

    def _event(self, line: str) -> None:
        if self._on_event is not None:
            self._on_event(line)

    def broadcast(self, message: Any) -> int:
        """Send ``message`` (encoded as greenclient would) to every client."""
        return self.broadcast_bytes(self._encoder.encode(message))

    def broadcast_bytes(self, data: bytes, *, bytewise: bool = False) -> int:
        """Write ``data`` as it is to every client; returns how many got it."""
        sent = 0
        for key, peer in list(self._peers.items()):
            try:
                peer.write(data, bytewise)
                sent += 1
            except OSError:
                # Its reader sees the shutdown, ends and closes the socket.
                self._peers.pop(key, None)
                with contextlib.suppress(OSError):
                    peer.sock.shutdown(socket.SHUT_RDWR)
        return sent

    def close_clients(self) -> None:
        """Close every client connection (each client sees end of stream).

        Over TLS the connection is shut down without TLS's ``close_notify``, so a
        greenclient client reports a ``ConnectionLost``, not a clean end.

        Only shutdown() here: it wakes each connection's reader, which closes its
        socket itself (closing under a blocked green reader would leave it hanging).
        """
        for peer in list(self._peers.values()):
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)

    def reset_clients(self) -> None:
        """Reset every client connection: an RST instead of a FIN (each client sees a reset)."""
        for peer in list(self._peers.values()):
            peer.reset = True
            with contextlib.suppress(OSError):
                peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # Wakes the connection's reader without sending anything; its
                # close() then sends the RST (SO_LINGER with a zero timeout).
                peer.sock.shutdown(socket.SHUT_RD)

    def stop(self, *, wait: bool = True) -> None:
        """Stop listening and close every client.

        Args:
            wait: wait for the connections' green threads to end. ``False`` for a
                process on its way out after Ctrl-C, whose hub may no longer run
                (eventlet's asyncio hub does not after an interrupt went through
                it): the sockets are shut down without switching green threads.
        """
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        self.close_clients()
        if not wait:
            return
        if self._acceptor is not None:
            self._acceptor.kill()
            self._acceptor = None
        self._pool.waitall()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_lines() -> Iterator[str]:
    """Lines of standard input, read without blocking other green threads.

    Standard input that cannot be read (closed, or ``/dev/null``, which eventlet's
    poller refuses) ends like an empty one.
    """
    pending = b""
    while True:
        try:
            chunk = os.read(0, 65536)  # green after monkey_patch()
        except BrokenPipeError:
            raise  # thrown in here: standard output went away (see _serve's say())
        except OSError:
            chunk = b""
        if not chunk:
            if pending:
                yield pending.decode("utf-8", "replace")
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")


def _parser() -> argparse.ArgumentParser:
    parser = _cli.ArgumentParser(
        prog="python -m greenclient.server",
        description=__doc__.split("\n\n")[0],
        epilog="Commands on standard input: json VALUE, send TEXT, raw TEXT, bytewise TEXT, "
        "close, quit (see the module's documentation). A ~ inside a JSON string: "
        'json {"text": "a ~ b"} sends it escaped, as greenclient does.',
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=_cli.port_or_zero,
        default=8000,
        help="the port to listen on; 0 picks a free one, printed on the LISTENING line "
        "(default 8000)",
    )
    parser.add_argument(
        "--delimiter",
        type=_cli.delimiter,
        default="~",
        help="ends each message, both ways; one that JSON does not use outside strings (default ~)",
    )
    parser.add_argument("--echo", action="store_true", help="broadcast what it receives")
    _cli.add_version(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the reference server as its own process, driven by stdin commands.

    Returns the exit status: 0 after ``quit`` or the end of standard input, 1 when it
    cannot listen, 2 for a bad option, 130 after Ctrl-C (SIGINT), 141 when its
    standard output was closed.
    """
    args = _parser().parse_args(argv)
    if not _cli.prepare_output():
        return _cli.BROKEN_PIPE_STATUS  # no standard output at all: as if closed
    try:
        return _serve(args)
    except BrokenPipeError:
        return _cli.quiet_broken_pipe()


def _serve(args: argparse.Namespace) -> int:
    main_thread = greenlet.getcurrent()
    output_closed = False

    def say(line: str) -> None:
        nonlocal output_closed
        if output_closed:
            return
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            output_closed = True
            if greenlet.getcurrent() is main_thread:
                raise
            # A connection's green thread: end the command loop, which main() reports.
            eventlet.hubs.get_hub().schedule_call_global(0, main_thread.throw, BrokenPipeError())

    def on_message(message: Any) -> None:
        say("RECEIVED " + json.dumps(message, ensure_ascii=False, separators=(",", ":")))

    server = ReferenceServer(
        args.host,
        args.port,
        delimiter=args.delimiter,
        echo=args.echo,
        on_message=on_message,
        on_event=say,
    )
    try:
        server.start()
    except OSError as exc:
        print(
            f"python -m greenclient.server: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    say(f"LISTENING {server.host} {server.port}")
    delimiter = server.delimiter
    try:
        for line in _read_lines():
            if not line.strip():
                continue  # a blank line is no command
            command, _, text = line.lstrip(" ").partition(" ")
            if command == "send":
                server.broadcast_bytes(text.encode("utf-8") + delimiter)
            elif command == "json":
                try:
                    server.broadcast(json.loads(text))
                except ValueError as exc:
                    say(f"ERROR not JSON: {exc}")
                    continue
                except EncodeError as exc:
                    say(f"ERROR {exc}")
                    continue
            elif command == "raw":
                server.broadcast_bytes(text.encode("utf-8"))
            elif command == "bytewise":
                server.broadcast_bytes(text.encode("utf-8") + delimiter, bytewise=True)
            elif command == "close":
                server.close_clients()
            elif command == "quit":
                break
            elif command:
                say(f"ERROR unknown command {command!r}")
                continue
            say(f"OK {command}")
    except KeyboardInterrupt:
        server.stop(wait=False)
        return 130  # as a shell reports a command ended by Ctrl-C (128 + SIGINT)
    except BaseException:
        server.stop(wait=False)
        raise
    server.stop()
    return 0


if __name__ == "__main__":  # python -m greenclient.server (the package patches first)
    sys.exit(main())
