"""Run a message server in a subprocess and drive it through its stdin/stdout protocol.

Four servers speak the same protocol: the Scala server of ``tests/scala/GreenServer.scala``
(scala.actors, Debian's Scala), the two Apache Pekko IO servers of ``tests/pekko/`` (built
with Maven: ``PlainServer``, written as most Akka IO servers are, and
``RecommendedServer``), and greenclient's reference server (``python -m greenclient.server``).
:class:`ServerProcess` drives any of them, so the interop tests run the same scenarios
against all.

Commands go to the server's standard input, one per line (``send TEXT``,
``raw TEXT``, ``bytewise TEXT``, ``close``, ``flood N`` (the Pekko servers), ``quit``);
each is carried out before the server prints ``OK COMMAND``. The server reports
``LISTENING HOST PORT``, ``CONNECTED N``, ``DISCONNECTED N``, ``RECEIVED JSON``,
``INVALID ERROR`` and ``ERROR ...`` for a command it does not know. The plain Pekko
server does not frame what it receives: it prints each ``Received`` as
``PRINTED N "TEXT"`` (N: the connection's number), and :class:`ServerProcess` frames
those texts itself, one buffer per connection, into the same ``received`` values.

Every wait here has a timeout; the test process is monkey-patched by eventlet, so
the server's output is read by green threads and waited for on eventlet queues.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import eventlet
import eventlet.greenthread
import eventlet.queue

__all__ = [
    "PEKKO_PROJECT",
    "PEKKO_SERVERS",
    "ROOT",
    "SCALA_BUILD",
    "SCALA_SOURCE",
    "ServerFailed",
    "ServerProcess",
    "build_pekko_servers",
    "compile_scala_server",
    "pekko_server_argv",
    "python_server_argv",
    "python_server_env",
    "scala_lib",
    "scala_server_argv",
]

ROOT = Path(__file__).resolve().parent.parent
SCALA_SOURCE = ROOT / "tests" / "scala" / "GreenServer.scala"
#: Classes go to SCALA_BUILD / "classes"; the hash of what they were built from, beside them.
SCALA_BUILD = ROOT / "build" / "scala"
SCALA_MAIN = "GreenServer"
#: The Maven project of the Pekko servers; its build output goes to its ``target`` folder.
PEKKO_PROJECT = ROOT / "tests" / "pekko"
#: Server kind -> main class.
PEKKO_SERVERS = {
    "pekko": "greenclient.pekko.RecommendedServer",
    "pekko-plain": "greenclient.pekko.PlainServer",
}


def scala_lib(scalac: str) -> Path:
    """The ``lib`` folder of the Scala installation that ``scalac`` belongs to.

    Debian's ``/usr/bin/scalac`` leads to ``/usr/share/scala-2.11/bin/scalac``,
    whose ``lib`` holds ``scala-actors.jar`` and ``scala-parser-combinators.jar``.
    """
    return Path(os.path.realpath(scalac)).parent.parent / "lib"


def _build_key(scalac: str) -> str:
    """What the classes depend on: the source, and the Scala version (by its library's path)."""
    library = os.path.realpath(scala_lib(scalac) / "scala-library.jar")
    digest = hashlib.sha256(SCALA_SOURCE.read_bytes())
    digest.update(b"\0" + library.encode())
    return digest.hexdigest()


def compile_scala_server(scalac: str, *, timeout: float = 300.0) -> Path:
    """Compile GreenServer.scala into ``build/scala/classes`` unless it is already there.

    The classes are reused when ``build/scala/classes.sha256`` matches the hash of
    the current source and Scala library; otherwise they are compiled into a
    fresh folder that replaces the old one, and the hash is written last, so an
    interrupted compilation is never taken for a finished one.

    Returns:
        The folder of the classes, for ``scala -classpath``.

    Raises:
        RuntimeError: scalac failed or took longer than ``timeout``; the message
            holds its output.
    """
    classes = SCALA_BUILD / "classes"
    stamp = SCALA_BUILD / "classes.sha256"
    key = _build_key(scalac)
    if (
        stamp.is_file()
        and stamp.read_text().strip() == key
        and (classes / "GreenServer.class").is_file()
    ):
        return classes
    SCALA_BUILD.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix="classes-", dir=SCALA_BUILD))
    lib = scala_lib(scalac)
    classpath = os.pathsep.join(
        str(lib / jar) for jar in ("scala-actors.jar", "scala-parser-combinators.jar")
    )
    argv = [scalac, "-classpath", classpath, "-d", str(fresh), str(SCALA_SOURCE)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise RuntimeError(f"scalac took longer than {timeout} s: {' '.join(argv)}") from exc
    if done.returncode != 0:
        shutil.rmtree(fresh, ignore_errors=True)
        raise RuntimeError(f"scalac failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    shutil.rmtree(classes, ignore_errors=True)
    fresh.rename(classes)
    stamp.write_text(key + "\n")
    return classes


def scala_server_argv(scala: str, classes: Path, port: int = 0, delimiter: str = "~") -> list[str]:
    """The command that runs the compiled Scala server."""
    return [scala, "-classpath", str(classes), SCALA_MAIN, str(port), delimiter]


def _pekko_build_key() -> str:
    """What the Pekko build depends on: pom.xml and every source file."""
    digest = hashlib.sha256()
    files = [PEKKO_PROJECT / "pom.xml", *sorted((PEKKO_PROJECT / "src").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(PEKKO_PROJECT)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_pekko_servers(mvn: str, *, timeout: float = 900.0) -> str:
    """Build the Pekko servers with Maven unless the build is up to date.

    ``mvn -B -q package`` compiles into ``tests/pekko/target/classes`` and copies
    the runtime dependencies into ``target/lib`` (Maven downloads them once into
    its local repository). ``target/build.sha256``, written last, records the
    pom.xml and sources the build came from.

    Returns:
        The class path for ``java -cp``.

    Raises:
        RuntimeError: Maven failed or took longer than ``timeout``; the message
            holds its output.
    """
    target = PEKKO_PROJECT / "target"
    stamp = target / "build.sha256"
    classpath = os.pathsep.join([str(target / "classes"), str(target / "lib" / "*")])
    key = _pekko_build_key()
    if stamp.is_file() and stamp.read_text().strip() == key:
        return classpath
    stamp.unlink(missing_ok=True)
    argv = [mvn, "-B", "-q", "-f", str(PEKKO_PROJECT / "pom.xml"), "package"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"Maven took longer than {timeout} s: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise RuntimeError(f"Maven failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    stamp.write_text(key + "\n")
    return classpath


def pekko_server_argv(
    java: str, classpath: str, kind: str, port: int = 0, delimiter: str = "~"
) -> list[str]:
    """The command that runs a built Pekko server (``kind``: a key of PEKKO_SERVERS)."""
    return [java, "-cp", classpath, PEKKO_SERVERS[kind], str(port), delimiter]


def python_server_argv(port: int = 0, delimiter: str = "~") -> list[str]:
    """The command that runs greenclient's reference server."""
    return [
        sys.executable,
        "-m",
        "greenclient.server",
        "--port",
        str(port),
        "--delimiter",
        delimiter,
    ]


def python_server_env() -> dict[str, str]:
    """Environment for the reference server: this checkout first, UTF-8 stdio."""
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": str(ROOT) if not path else str(ROOT) + os.pathsep + path,
        "PYTHONIOENCODING": "utf-8",
    }


class ServerFailed(AssertionError):
    """The server did not do what it was told in time, or exited; the message shows its output."""


class ServerProcess:
    """A server subprocess speaking the stdin/stdout control protocol.

    Args:
        argv: the command (see :func:`scala_server_argv`, :func:`python_server_argv`).
        name: for messages, e.g. ``"scala"``.
        delimiter: the server's delimiter, used by :meth:`broadcast`.
        env: added to this process's environment.

    Attributes (valid after :meth:`start`): ``host``, ``port``; ``clients``, the
    number of connected clients the server last reported; ``connections``, how
    many ``CONNECTED`` lines it has printed in all; ``received``, an
    eventlet queue of the values of its ``RECEIVED`` lines (``json.loads``);
    ``invalid``, the text of its ``INVALID`` lines.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        delimiter: str = "~",
        env: Mapping[str, str] | None = None,
    ):
        self.argv = list(argv)
        self.name = name
        self.delimiter = delimiter
        self.env = {**os.environ, **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._readers: list[eventlet.greenthread.GreenThread] = []
        self._reset()

    def _reset(self) -> None:
        self.host = ""
        self.port = 0
        self.clients = 0
        self.connections = 0
        self.received: eventlet.queue.Queue[Any] = eventlet.queue.Queue()
        self.invalid: list[str] = []
        self.floods: eventlet.queue.Queue[list[int]] = eventlet.queue.Queue()
        self._printed: dict[str, bytes] = {}  # connection number -> unframed bytes
        self.lines: collections.deque[str] = collections.deque(maxlen=200)  # stdout and stderr
        self._acks: eventlet.queue.Queue[str | None] = eventlet.queue.Queue()
        self._listening: eventlet.queue.Queue[tuple[str, int] | None] = eventlet.queue.Queue()

    # -- life ---------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the server and wait for its ``LISTENING`` line.

        A stopped server may be started again: it starts with a clean slate.

        Raises:
            ServerFailed: it exited or printed nothing within ``timeout`` (it is stopped).
        """
        self.stop()
        self._reset()
        proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=self.env,
        )
        self._proc = proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._readers = [
            eventlet.spawn(self._read_stdout, proc.stdout),
            eventlet.spawn(self._read_stderr, proc.stderr),
        ]
        try:
            where = self._listening.get(timeout=timeout)
        except queue.Empty:
            where = None
        if where is None:
            self.stop()
            raise self._failure(f"did not print LISTENING within {timeout} s")
        self.host, self.port = where
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """Quit the server: ``quit``, then terminate, then kill, each with a timeout.

        Returns the exit status (None if even kill did not end it). Idempotent.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"quit\n")
                proc.stdin.flush()
        status: int | None = None
        for end in (None, proc.terminate, proc.kill):
            if end is not None:
                with contextlib.suppress(OSError):
                    end()
            try:
                status = proc.wait(timeout=timeout if end is None else 5.0)
                break
            except subprocess.TimeoutExpired:
                continue
        for reader in self._readers:
            reader.kill()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return status

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- output -------------------------------------------------------------------

    def _read_stdout(self, stream: IO[bytes]) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self._handle(raw.decode("utf-8", "backslashreplace").rstrip("\r\n"))
        except (OSError, ValueError):  # closed by stop()
            pass
        finally:
            self._listening.put(None)
            self._acks.put(None)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(stream.readline, b""):
                self.lines.append("stderr: " + raw.decode("utf-8", "backslashreplace").rstrip())

    def _handle(self, line: str) -> None:
        self.lines.append(line)
        kind, _, rest = line.partition(" ")
        if kind == "LISTENING":
            host, port = rest.split()
            self._listening.put((host, int(port)))
        elif kind in ("CONNECTED", "DISCONNECTED"):
            self.clients = int(rest)
            if kind == "CONNECTED":
                self.connections += 1
        elif kind == "RECEIVED":
            self.received.put(json.loads(rest))
        elif kind == "INVALID":
            self.invalid.append(rest)
        elif kind == "PRINTED":
            number, _, text = rest.partition(" ")
            self._frame_printed(number, json.loads(text))
        elif kind == "FLOOD":
            counts = rest.split(" refused ", 1)[1] if " refused " in rest else ""
            self.floods.put([int(c) for c in counts.split(",") if c])
        elif kind == "OK":
            self._acks.put(rest)
        elif kind == "ERROR":
            self._acks.put(line)

    def _frame_printed(self, number: str, text: str) -> None:
        """Frame what the plain server printed for one connection, as a framing server would.

        A character cut between two ``Received`` reached the server's print as
        U+FFFD: the frame holding it is reported as invalid, not repaired.
        """
        pending = self._printed.get(number, b"") + text.encode("utf-8", "surrogatepass")
        *frames, pending = pending.split(self.delimiter.encode("utf-8"))
        self._printed[number] = pending
        for frame in frames:
            decoded = frame.decode("utf-8", "replace")
            if "\ufffd" in decoded:
                self.invalid.append(f"a character was cut: {decoded!r}")
                continue
            if not decoded.strip():
                continue
            try:
                self.received.put(json.loads(decoded))
            except ValueError as exc:
                self.invalid.append(f"not JSON: {exc}")

    def _failure(self, what: str) -> ServerFailed:
        output = "\n".join(self.lines)
        return ServerFailed(f"{self.name} server {what}; its last output:\n{output}")

    # -- commands -----------------------------------------------------------------

    def command(self, line: str, timeout: float = 30.0) -> None:
        """Send one command line and wait until the server has carried it out.

        Raises:
            ServerFailed: no ``OK`` within ``timeout``, an ``ERROR``, or the server exited.
        """
        if "\n" in line or "\r" in line:
            raise ValueError("a command is one line")
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise self._failure(f"is not running (command {line[:60]!r})")
        name = line.partition(" ")[0]
        proc.stdin.write(line.encode("utf-8") + b"\n")
        proc.stdin.flush()
        try:
            ack = self._acks.get(timeout=timeout)
        except queue.Empty:
            raise self._failure(f"did not carry out {line[:60]!r} within {timeout} s") from None
        if ack is None:
            self._acks.put(None)  # the server exited: the next wait must see it too
            raise self._failure(f"exited during {line[:60]!r}")
        if ack != name:
            raise self._failure(f"answered {ack!r} to {line[:60]!r}")

    def send(self, text: str) -> None:
        """Write ``text`` and the delimiter to every client, in one write."""
        self.command("send " + text)

    def raw(self, text: str) -> None:
        """Write ``text`` alone to every client, in one write (it may hold many frames)."""
        self.command("raw " + text)

    def bytewise(self, text: str) -> None:
        """Write ``text`` and the delimiter to every client, one byte per write."""
        self.command("bytewise " + text)

    def close_clients(self) -> None:
        """Close every client connection."""
        self.command("close")

    def encode(self, message: Any) -> str:
        """``message`` as compact JSON text safe to frame: the delimiter escaped inside strings."""
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        if self.delimiter in text:
            if len(self.delimiter) != 1:
                raise ValueError(f"cannot escape the delimiter {self.delimiter!r} in {text!r}")
            # JSON has no "~" (or other delimiter character) outside strings: \u escape it there.
            text = text.replace(self.delimiter, f"\\u{ord(self.delimiter):04x}")
        return text

    def flood(self, count: int, timeout: float = 300.0) -> list[int]:
        """Broadcast ``count`` messages as fast as the server can (the Pekko servers only).

        The messages are ``Control.floodMessage(i)`` for i in 0 .. count - 1:
        ``{"seq": i, "text": ...}``.

        Returns:
            For each connected client, how many of its Writes the server saw refused
            (``CommandFailed``), sorted; those messages never left the server.
        """
        while not self.floods.empty():
            self.floods.get_nowait()
        self.command(f"flood {count}", timeout=timeout)
        try:
            refused: list[int] = self.floods.get(timeout=1)
        except queue.Empty:
            raise self._failure("printed no FLOOD line") from None
        return refused

    def broadcast(self, message: Any) -> None:
        """Send ``message`` as JSON to every client (as ``send``)."""
        self.send(self.encode(message))

    # -- waits --------------------------------------------------------------------

    def wait_clients(self, count: int, timeout: float = 15.0) -> None:
        """Wait until the server reports exactly ``count`` connected clients.

        Raises:
            ServerFailed: it did not within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while self.clients != count:
            if time.monotonic() > deadline:
                raise self._failure(
                    f"reports {self.clients} clients, not {count}, after {timeout} s"
                )
            eventlet.sleep(0.005)

    def wait_connections(self, total: int, timeout: float = 15.0) -> None:
        """Wait until the server has reported ``total`` connections since it started.

        Raises:
            ServerFailed: it did not within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while self.connections < total:
            if time.monotonic() > deadline:
                raise self._failure(f"reports {self.connections} connections, not {total}")
            eventlet.sleep(0.005)

    def take_received(self, count: int, timeout: float = 15.0) -> list[Any]:
        """Return the next ``count`` values the server received, in the order it printed them.

        Raises:
            ServerFailed: fewer arrived within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        values: list[Any] = []
        while len(values) < count:
            try:
                values.append(self.received.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise self._failure(
                    f"received {len(values)} of {count} messages in {timeout} s"
                ) from None
        return values
