"""greenclient-demo: print incoming messages while sending the lines you type.

Two green threads run side by side, which is the point of the library: one
prints every message as it arrives, the other reads standard input and sends
each line. A line that is valid JSON is sent as that value; any other line is
sent as ``{"text": line}``.

With no ``--host``/``--port`` and nothing listening on localhost:8000, the demo
starts greenclient's reference server in the same process, which broadcasts a
few sample messages a second (and echoes what you send), and says so on its
first line.

On a terminal, the line being typed stays readable: each message is printed
above it, and the prompt with what was typed so far is printed again below.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import sys
import time
import unicodedata
from collections.abc import Iterator
from typing import Any, Final, TextIO

import eventlet

if sys.platform != "win32":
    import termios
    import tty

from . import _cli
from .client import GreenClient
from .errors import ConnectError, ConnectionClosed, GreenClientError
from .server import ReferenceServer, sample_messages

__all__ = ["main"]

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8000
PROMPT: Final = "> "


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


class _Output:
    """Where messages and notices are printed; on a terminal, also the line being typed.

    ``typed`` is None when standard input is not a terminal being edited here:
    then lines are printed as they are.
    """

    def __init__(self, out: TextIO, editing: bool):
        self.out = out
        self.typed: list[str] | None = [] if editing else None

    def line(self, text: str) -> None:
        """Print one line, above the prompt when a line is being typed."""
        if self.typed is None:
            self.out.write(text + "\n")
        else:
            # Back to the start of the prompt's line, erase it, print, then the prompt again.
            self.out.write("\r\x1b[K" + text + "\n" + PROMPT + "".join(self.typed))
        self.out.flush()

    def echo(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _width(char: str) -> int:
    """Columns a character takes on a terminal (2 for wide East Asian characters)."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _typed_lines(output: _Output) -> Iterator[str]:
    """Lines typed on a terminal in cbreak mode, edited here: the echo is ours.

    Handles printable text (UTF-8), backspace, Ctrl-U (erase the line), Enter, and
    Ctrl-D on an empty line (end of input); other control keys are ignored. Ctrl-C
    still interrupts (cbreak mode keeps signals).
    """
    assert output.typed is not None
    typed = output.typed
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    escape = False
    while True:
        try:
            chunk = os.read(0, 1024)  # green after monkey_patch(): other green threads run
        except OSError:
            return
        if not chunk:
            return
        for char in decoder.decode(chunk):
            if escape:  # the rest of an arrow key or other escape sequence
                escape = not (char.isalpha() or char == "~")
            elif char == "\x1b":
                escape = True
            elif char in "\r\n":
                line = "".join(typed)
                typed.clear()
                output.echo("\n" + PROMPT)
                yield line
            elif char in "\x7f\x08":
                if typed:
                    width = _width(typed.pop())
                    output.echo("\b" * width + " " * width + "\b" * width)
            elif char == "\x15":  # Ctrl-U
                typed.clear()
                output.echo("\r\x1b[K" + PROMPT)
            elif char == "\x04":  # Ctrl-D
                if not typed:
                    return
            elif char >= " ":
                typed.append(char)
                output.echo(char)


def _piped_lines() -> Iterator[str]:
    """Lines of standard input when it is not a terminal (a pipe, a file)."""
    pending = b""
    while True:
        try:
            chunk = os.read(0, 65536)  # green after monkey_patch()
        except OSError:
            return
        if not chunk:
            if pending:
                yield pending.decode("utf-8", "replace")
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            yield raw.decode("utf-8", "replace")


def _send_lines(client: GreenClient, output: _Output) -> None:
    lines = _piped_lines() if output.typed is None else _typed_lines(output)
    try:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            try:
                client.send(_line_to_message(line))
            except ConnectionClosed:
                return
            except GreenClientError as exc:
                output.line(f"not sent: {exc}")
    except OSError:  # the output went away; the main green thread reports it
        return


def _broadcast_samples(server: ReferenceServer, rate: float) -> None:
    for message in sample_messages():
        eventlet.sleep(1.0 / rate)
        try:
            server.broadcast(message)
        except GreenClientError:
            return


@contextlib.contextmanager
def _cbreak_if_terminal(out: TextIO) -> Iterator[bool]:
    """Put the terminal in cbreak mode (keys arrive one by one, no echo) if both
    standard input and ``out`` are terminals; restore it on exit. Yields whether it did."""
    if sys.platform == "win32":
        yield False
        return
    try:
        interactive = os.isatty(0) and out.isatty()
        saved = termios.tcgetattr(0) if interactive else None
    except (OSError, ValueError, termios.error):
        saved = None
    if saved is None:
        yield False
        return
    try:
        tty.setcbreak(0)
        yield True
    finally:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = _cli.ArgumentParser(prog=prog, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", help=f"server host (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=_cli.port, help=f"server port, 1 to 65535 (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--delimiter",
        type=_cli.delimiter,
        default="~",
        help="ends each message; one that JSON does not use outside strings (default ~)",
    )
    parser.add_argument(
        "--count", type=_cli.count, help="exit after this many messages (at least 1)"
    )
    parser.add_argument(
        "--rate",
        type=_cli.positive_float,
        default=3.0,
        help="sample messages a second from the embedded server (default 3)",
    )
    _cli.add_version(parser)
    return parser


def main(argv: list[str] | None = None, *, prog: str = "greenclient-demo") -> int:
    """Run the demo with ``argv`` (default: the command line); returns the exit status.

    A bad option exits with status 2 and one line on standard error; a server that
    cannot be reached, status 1; a closed standard output, status 141, quietly.
    """
    args = _parser(prog).parse_args(argv)
    if not _cli.prepare_output():
        return _cli.BROKEN_PIPE_STATUS  # no standard output at all: as if closed
    out = sys.stdout
    try:
        with _cbreak_if_terminal(out) as editing:
            return _run(args, prog, _Output(out, editing))
    except BrokenPipeError:
        return _cli.quiet_broken_pipe()
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, prog: str, output: _Output) -> int:
    explicit = args.host is not None or args.port is not None
    host = args.host or DEFAULT_HOST
    port = args.port if args.port is not None else DEFAULT_PORT
    server: ReferenceServer | None = None
    client = GreenClient(host, port, delimiter=args.delimiter, connect_timeout=5.0)
    try:
        client.connect()
        output.line(f"{prog}: connected to {host}:{port}; type a line to send it")
    except ConnectError as exc:
        if explicit:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 1
        server = ReferenceServer("127.0.0.1", 0, delimiter=args.delimiter, echo=True).start()
        eventlet.spawn_n(_broadcast_samples, server, args.rate)
        client = GreenClient("127.0.0.1", server.port, delimiter=args.delimiter)
        client.connect()
        output.line(
            f"{prog}: nothing listens on {host}:{port}, so this is greenclient's "
            f"embedded reference server on 127.0.0.1:{server.port}, sending sample messages; "
            "type a line to send it"
        )
    sender = eventlet.spawn(_send_lines, client, output)
    received = 0
    interrupted = False
    try:
        for message in client:
            output.line(_format(message))
            received += 1
            if args.count is not None and received >= args.count:
                break
        else:
            output.line(f"{prog}: the server closed the connection")
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if interrupted:
            # On the way out after Ctrl-C: no switching green threads, which the
            # asyncio hub can no longer do once an interrupt went through it. The
            # sockets close with the process; the server's are shut down first.
            if server is not None:
                server.stop(wait=False)
        else:
            sender.kill()
            client.close()
            if server is not None:
                server.stop()
        if output.typed is not None:
            output.echo("\r\x1b[K")
    return 0


if __name__ == "__main__":
    sys.exit(main())
