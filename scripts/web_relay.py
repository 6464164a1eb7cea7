#!/usr/bin/env python3
"""web_relay: browsers <-> Flask-SocketIO <-> greenclient <-> the Scala server.

A Flask application with Flask-SocketIO (``async_mode="eventlet"``) shares one
greenclient connection to the Scala server. One green thread reads that connection
and emits every message to every browser as the Socket.IO event ``message``; every
``send`` event a browser emits is sent to the Scala server. ``GET /`` serves a page
that shows the live messages and has a form to send one.

With no ``--scala-host``/``--scala-port`` and nothing listening on localhost:8000,
the relay starts greenclient's reference server in the same process (it broadcasts
sample messages and echoes what it receives) and says so.

Run from a checkout (needs the ``[web]`` extra)::

    python3 -m pip install -e '.[web]'
    python3 scripts/web_relay.py [--scala-host H] [--scala-port 8000] [--http-port 5000]
"""

# isort: off
import warnings

# A command: eventlet's notice to developers is not for the relay's users.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import greenclient  # first: patches sockets, locks and threads before Flask makes any

# isort: on

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import eventlet
import eventlet.patcher
import eventlet.wsgi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from greenclient import _cli
from greenclient.server import ReferenceServer, sample_messages

try:
    from flask import Flask, Response, request
    from flask_socketio import SocketIO
except ImportError as exc:  # reported by main(), without a traceback
    MISSING: ImportError | None = exc
else:
    MISSING = None

__all__ = ["create_app", "main", "relay_messages"]

DEFAULT_SCALA_HOST = "localhost"
DEFAULT_SCALA_PORT = 8000
STATIC = Path(__file__).resolve().parent / "web_relay_static"
#: The largest Socket.IO packet the relay accepts from a browser (python-engineio's
#: default, stated here): a bigger one closes the browser's connection.
MAX_PACKET_BYTES = 1_000_000
#: The longest text (UTF-8 bytes) the page sends: JSON escaping may double it on
#: the way, and the packet must still fit.
MAX_TEXT_BYTES = 400_000

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>greenclient web relay</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 52em; }
  #status { color: #555; }
  #messages { list-style: none; padding: 0; border: 1px solid #ccc; height: 22em;
              overflow-y: auto; }
  #messages li { padding: .25em .6em; border-bottom: 1px solid #eee; }
  #messages time { color: #888; margin-right: .6em; }
  form { display: flex; gap: .5em; margin-top: .8em; }
  #text { flex: 1; padding: .3em; }
</style>
</head>
<body>
<h1>greenclient web relay</h1>
<p id="status">connecting...</p>
<ul id="messages"></ul>
<form id="send">
  <input id="text" name="text" autocomplete="off" placeholder="a message for the Scala server">
  <button type="submit">Send</button>
</form>
<script src="/static/socket.io.min.js"></script>
<script>
  const socket = io();
  const MAX_TEXT_BYTES = __MAX_TEXT_BYTES__;
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  socket.on("message", (message) => {
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString();
    const code = document.createElement("code");
    code.textContent = JSON.stringify(message);
    item.append(time, code);
    list.append(item);
    list.scrollTop = list.scrollHeight;
  });
  socket.on("status", (text) => { status.textContent = text; });
  socket.on("disconnect", () => { status.textContent = "the relay is unreachable"; });
  document.getElementById("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    if (!input.value) return;
    const size = new TextEncoder().encode(input.value).length;
    if (size > MAX_TEXT_BYTES) {
      status.textContent = `not sent: ${size} bytes, more than the relay takes (${MAX_TEXT_BYTES})`;
      return;
    }
    socket.emit("send", {type: "chat", text: input.value}, (answer) => {
      if (!answer.ok) status.textContent = "not sent: " + answer.error;
    });
    input.value = "";
  });
</script>
</body>
</html>
"""


class Relay:
    """What the application shares: the one greenclient connection and its status line."""

    def __init__(self, client: greenclient.GreenClient, where: str):
        self.client = client
        self.status = f"connected to the Scala server at {where}"


def create_app(relay: Relay) -> tuple[Any, Any]:
    """The Flask application and its SocketIO object, relaying through ``relay.client``.

    Returns:
        ``(app, socketio)``; serve ``app`` with eventlet's WSGI server, and run
        :func:`relay_messages` in a green thread (``socketio.start_background_task``).
    """
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    socketio = SocketIO(app, async_mode="eventlet", max_http_buffer_size=MAX_PACKET_BYTES)

    @app.get("/")
    def index() -> Any:
        return Response(
            PAGE.replace("__MAX_TEXT_BYTES__", str(MAX_TEXT_BYTES)), mimetype="text/html"
        )

    def on_connect() -> None:
        socketio.emit("status", relay.status, to=request.sid)  # type: ignore[attr-defined]

    def on_send(message: Any) -> dict[str, Any]:
        # Each event runs in a green thread of its own: a send that waits for the
        # Scala server to come back (up to send_timeout) blocks nobody else.
        try:
            relay.client.send(message)
        except greenclient.GreenClientError as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
        return {"ok": True}

    socketio.on_event("connect", on_connect)
    socketio.on_event("send", on_send)
    return app, socketio


def relay_messages(relay: Relay, socketio: Any, where: str) -> None:
    """Emit every message from the Scala server to every browser, until the client closes.

    The one reader of the connection's queue. With ``events=True`` the queue also
    carries ``Connected``/``Disconnected``: they become the page's status line.
    """
    for item in relay.client:
        if isinstance(item, greenclient.Connected):
            relay.status = f"connected to the Scala server at {where}"
            socketio.emit("status", relay.status)
        elif isinstance(item, greenclient.Disconnected):
            relay.status = f"lost the Scala server at {where}; reconnecting"
            socketio.emit("status", relay.status)
        else:
            socketio.emit("message", item)


def _broadcast_samples(server: ReferenceServer, rate: float) -> None:
    for message in sample_messages():
        eventlet.sleep(1.0 / rate)
        server.broadcast(message)


def _client(host: str, port: int) -> greenclient.GreenClient:
    return greenclient.GreenClient(
        host,
        port,
        connect_timeout=5.0,
        reconnect=greenclient.ReconnectPolicy(initial_delay=0.5, max_delay=5.0),
        events=True,
        send_timeout=5.0,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the relay until Ctrl-C; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="web_relay.py", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--scala-host", help=f"Scala server host (default {DEFAULT_SCALA_HOST})")
    parser.add_argument(
        "--scala-port", type=_cli.port, help=f"Scala server port (default {DEFAULT_SCALA_PORT})"
    )
    parser.add_argument("--http-host", default="127.0.0.1", help="(default 127.0.0.1)")
    parser.add_argument(
        "--http-port", type=_cli.port_or_zero, default=5000, help="0 picks a free port"
    )
    parser.add_argument(
        "--rate",
        type=_cli.positive_float,
        default=1.0,
        help="sample messages a second (embedded server)",
    )
    args = parser.parse_args(argv)
    if MISSING is not None:
        print(
            f"web_relay: {MISSING}; install the [web] extra: pip install -e '.[web]'",
            file=sys.stderr,
        )
        return 1

    explicit = args.scala_host is not None or args.scala_port is not None
    host = args.scala_host or DEFAULT_SCALA_HOST
    port = args.scala_port if args.scala_port is not None else DEFAULT_SCALA_PORT
    server: ReferenceServer | None = None
    client = _client(host, port)
    try:
        client.connect()
        where = f"{host}:{port}"
        note = ""
    except greenclient.ConnectError as exc:
        if explicit:
            print(f"web_relay: {exc}", file=sys.stderr)
            return 1
        server = ReferenceServer("127.0.0.1", 0, echo=True).start()
        eventlet.spawn_n(_broadcast_samples, server, args.rate)
        client = _client("127.0.0.1", server.port)
        client.connect()
        where = f"127.0.0.1:{server.port}"
        note = (
            f"nothing listens on {host}:{port}, so this is greenclient's embedded reference "
            f"server on {where}, sending sample messages and echoing what it receives; "
        )
    try:
        listener = eventlet.listen((args.http_host, args.http_port))
    except OSError as exc:
        print(
            f"web_relay: cannot listen on {args.http_host}:{args.http_port}: {exc}", file=sys.stderr
        )
        client.close()
        if server is not None:
            server.stop()
        return 1
    relay = Relay(client, where)
    app, socketio = create_app(relay)
    reader = socketio.start_background_task(relay_messages, relay, socketio, where)
    http_port = listener.getsockname()[1]
    print(
        f"web_relay: {note}relaying to the Scala server at {where}; "
        f"open http://{args.http_host}:{http_port}/",
        flush=True,
    )
    # Ctrl-C (or SIGTERM) only writes a byte to a pipe that the main green thread
    # reads: the hub wakes at once, and no KeyboardInterrupt lands inside the hub
    # (which would leave the asyncio hub unable to run the shutdown below).
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    real_os = eventlet.patcher.original("os")  # a handler may run inside the hub: no green call

    def on_signal(signum: int, frame: object) -> None:
        with contextlib.suppress(BlockingIOError):  # a byte is waiting already
            real_os.write(wake_write, b"!")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    http = eventlet.spawn(eventlet.wsgi.server, listener, app, log_output=False)
    http.link(lambda _: on_signal(0, None))  # the server ended on its own: stop too
    try:
        os.read(wake_read, 1)  # green after monkey_patch(): the relay runs meanwhile
    finally:
        http.kill()
        socketio.server.shutdown()  # stops the Socket.IO server's own background tasks
        client.close()  # ends the reader's loop
        reader.join()
        if server is not None:
            server.stop()
    print("web_relay: stopped", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the server started
        sys.exit(130)
