"""greenclient-demo: print incoming messages while sending the lines you type.

Two green threads run side by side, which is the point of the library: one
prints every message as it arrives, the other reads standard input and sends
each line. A line that is valid JSON is sent as that value; any other line is
sent as ``{"text": line}``.

With no ``--host``/``--port`` and nothing listening on localhost:8000, the demo
starts greenclient's reference server in the same process, which broadcasts a
few sample messages a second (and echoes what you send), and says so on its
first line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, TextIO

import eventlet

from .client import GreenClient
from .errors import ConnectError, ConnectionClosed, GreenClientError
from .server import ReferenceServer, sample_messages

__all__ = ["main"]

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8000


def _format(message: Any) -> str:
    stamp = time.strftime("%H:%M:%S")
    if isinstance(message, (bytes, bytearray)):
        return f"{stamp}  {bytes(message)!r}"
    return f"{stamp}  {json.dumps(message, ensure_ascii=False)}"


def _line_to_message(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return {"text": line}


def _send_stdin(client: GreenClient, out: TextIO) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(0, 65536)  # green after monkey_patch(): other green threads run
        except OSError:
            return
        if not chunk:
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                client.send(_line_to_message(line))
            except ConnectionClosed:
                return
            except GreenClientError as exc:
                print(f"not sent: {exc}", file=out, flush=True)


def _broadcast_samples(server: ReferenceServer, rate: float) -> None:
    for message in sample_messages():
        eventlet.sleep(1.0 / rate)
        server.broadcast(message)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="greenclient-demo", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--host", help=f"server host (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"server port (default {DEFAULT_PORT})")
    parser.add_argument("--delimiter", default="~", help="frame delimiter (default ~)")
    parser.add_argument("--count", type=int, help="exit after this many messages")
    parser.add_argument(
        "--rate", type=float, default=3.0, help="sample messages a second from the embedded server"
    )
    args = parser.parse_args(argv)
    out = sys.stdout
    if isinstance(out, __import__("io").TextIOWrapper):
        out.reconfigure(errors="backslashreplace")

    explicit = args.host is not None or args.port is not None
    host = args.host or DEFAULT_HOST
    port = args.port if args.port is not None else DEFAULT_PORT
    server: ReferenceServer | None = None
    client = GreenClient(host, port, delimiter=args.delimiter, connect_timeout=5.0)
    try:
        client.connect()
        print(f"greenclient-demo: connected to {host}:{port}; type a line to send it", file=out)
    except ConnectError as exc:
        if explicit:
            print(f"greenclient-demo: {exc}", file=sys.stderr)
            return 1
        server = ReferenceServer("127.0.0.1", 0, delimiter=args.delimiter, echo=True).start()
        eventlet.spawn_n(_broadcast_samples, server, args.rate)
        client = GreenClient("127.0.0.1", server.port, delimiter=args.delimiter)
        client.connect()
        print(
            f"greenclient-demo: nothing listens on {host}:{port}, so this is greenclient's "
            f"embedded reference server on 127.0.0.1:{server.port}, sending sample messages; "
            "type a line to send it",
            file=out,
        )
    out.flush()
    sender = eventlet.spawn(_send_stdin, client, out)
    received = 0
    try:
        for message in client:
            print(_format(message), file=out, flush=True)
            received += 1
            if args.count is not None and received >= args.count:
                break
        else:
            print("greenclient-demo: the server closed the connection", file=out, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sender.kill()
        client.close()
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
