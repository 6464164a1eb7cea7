"""greenclient's commands, run as a user runs them: installed, in a subprocess.

``greenclient-demo``, ``python -m greenclient`` and ``python -m greenclient.server``
never answer a bad option, a closed pipe or an unreachable server with a traceback:
one line on standard error and a non-zero status. None prints eventlet's
deprecation notice. Every wait is bounded; every server listens on a free port.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import eventlet
import pytest

import greenclient
from greenclient import _cli
from greenclient.server import ReferenceServer

from .helpers import RawServer, free_port, wait_until

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}
TIMEOUT = 60
DEPRECATION = b"Eventlet is deprecated"


def installed(name: str) -> str:
    """The path of an installed console script (next to this interpreter, or on PATH)."""
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    message = f"{name} is not installed (python3 -m pip install -e .)"
    if os.environ.get("GREENCLIENT_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


DEMO_COMMANDS = {
    "greenclient-demo": lambda: [installed("greenclient-demo")],
    "python -m greenclient": lambda: [sys.executable, "-m", "greenclient"],
}
SERVER = [sys.executable, "-m", "greenclient.server"]


def run(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, timeout=TIMEOUT, env=ENV, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], status: int) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == status, err
    assert b"Traceback" not in proc.stderr
    assert DEPRECATION not in proc.stderr
    assert len(err.splitlines()) == 1, err
    return err


BAD_DEMO_OPTIONS = [
    (["--port", "99999"], "1 to 65535"),
    (["--port", "0"], "1 to 65535"),
    (["--port", "http"], "not a port number"),
    (["--delimiter", ""], "must not be empty"),
    (["--delimiter", "}"], "cannot delimit JSON"),
    (["--delimiter", "1"], "cannot delimit JSON"),
    (["--delimiter", "\udcff"], "not valid UTF-8"),  # the byte 0xff, as argv decodes it
    # Frame most messages, not all: JSON writes their first character itself.
    (["--delimiter", "\\n"], "cannot delimit JSON"),  # backslash, n
    (["--delimiter", "ee"], "cannot delimit JSON"),
    (["--delimiter", " ~"], "cannot delimit JSON"),
    (["--delimiter", "0x"], "cannot delimit JSON"),
    (["--rate", "0"], "greater than 0"),
    (["--rate", "-3"], "greater than 0"),
    (["--rate", "nan"], "greater than 0"),
    (["--count", "0"], "at least 1"),
    (["--count", "1.5"], "at least 1"),
    (["--no-such-option"], "unrecognized arguments"),
]


@pytest.mark.parametrize(("options", "says"), BAD_DEMO_OPTIONS)
def test_demo_rejects_a_bad_option_in_one_line(
    options: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from greenclient import demo

    with pytest.raises(SystemExit) as info:
        demo.main(options)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("greenclient-demo: error: ")
    assert says in err


@pytest.mark.parametrize("command", DEMO_COMMANDS)
@pytest.mark.parametrize("options", [["--port", "99999"], ["--delimiter", "}"], ["--rate", "0"]])
def test_installed_demo_rejects_a_bad_option_in_one_line(command: str, options: list[str]) -> None:
    err = assert_one_line_error(run([*DEMO_COMMANDS[command](), *options]), 2)
    assert err.startswith(f"{command}: error: ")


@pytest.mark.parametrize("command", DEMO_COMMANDS)
def test_demo_prints_its_version_and_help_without_eventlet_notice(command: str) -> None:
    version = run([*DEMO_COMMANDS[command](), "--version"])
    assert version.returncode == 0
    assert version.stdout.decode() == f"{command} (greenclient {greenclient.__version__})\n"
    assert version.stderr == b""
    helped = run([*DEMO_COMMANDS[command](), "--help"])
    assert helped.returncode == 0
    assert helped.stderr == b""
    for option in (b"--host", b"--port", b"--delimiter", b"--count", b"--rate", b"--version"):
        assert option in helped.stdout


def test_demo_that_cannot_connect_says_so_in_one_line() -> None:
    demo = DEMO_COMMANDS["greenclient-demo"]()
    proc = run([*demo, "--host", "127.0.0.1", "--port", str(free_port())])
    assert "refused" in assert_one_line_error(proc, 1)


@contextlib.contextmanager
def broadcasting_server(**options: Any) -> Iterator[ReferenceServer]:
    """A reference server that broadcasts a numbered message every 5 ms to its clients."""

    def flood() -> None:
        for n in range(100_000):
            server.broadcast({"n": n, "text": "olá ~ tilde"})
            eventlet.sleep(0.005)

    server = ReferenceServer("127.0.0.1", 0, **options)
    with server:
        thread = eventlet.spawn(flood)
        try:
            yield server
        finally:
            thread.kill()


def read_line(stream: IO[bytes]) -> bytes:
    """One line from a child's pipe, with a deadline (the pipe is green: others run)."""
    with eventlet.Timeout(TIMEOUT):
        return stream.readline()


@contextlib.contextmanager
def child(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with pipes (its stdin left open, unused), killed if still running."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def ended_by(proc: subprocess.Popen[bytes], sent: signal.Signals) -> tuple[int, bytes]:
    """Send ``sent`` to the child; return its exit status and what it wrote on stderr."""
    proc.send_signal(sent)
    status = proc.wait(timeout=TIMEOUT)
    assert proc.stderr is not None
    return status, proc.stderr.read()


@pytest.mark.parametrize("command", DEMO_COMMANDS)
def test_demo_whose_reader_goes_away_ends_quietly(command: str) -> None:
    """``greenclient-demo | head -3``: no BrokenPipeError, a non-zero status."""
    with broadcasting_server() as server:
        argv = [*DEMO_COMMANDS[command](), "--host", "127.0.0.1", "--port", str(server.port)]
        with child(argv) as proc:
            assert proc.stdout is not None
            assert proc.stderr is not None
            lines = [read_line(proc.stdout) for _ in range(3)]
            assert lines[0].startswith(f"{command}: connected to 127.0.0.1:".encode())
            assert b'"n": ' in lines[2]
            proc.stdout.close()  # what head does after three lines
            status = proc.wait(timeout=TIMEOUT)
            err = proc.stderr.read()
    assert status == _cli.BROKEN_PIPE_STATUS, err
    assert err == b""


def test_python_m_greenclient_runs_the_demo() -> None:
    with broadcasting_server() as server:
        argv = [sys.executable, "-m", "greenclient", "--host", "127.0.0.1"]
        proc = run([*argv, "--port", str(server.port), "--count", "2"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    lines = proc.stdout.decode("utf-8").splitlines()
    assert lines[0].startswith("python -m greenclient: connected to 127.0.0.1:")
    assert len(lines) == 3
    assert json.loads(lines[1].split("  ", 1)[1])["text"] == "olá ~ tilde"


def test_demo_with_another_delimiter_talks_to_a_server_with_it() -> None:
    with broadcasting_server(delimiter="\n") as server:
        argv = [*DEMO_COMMANDS["greenclient-demo"](), "--host", "127.0.0.1"]
        proc = run([*argv, "--port", str(server.port), "--delimiter", "\n", "--count", "2"])
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3


# -- the reference server's command ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--port", "65536"], "0 for a free one"),
        (["--port", "-1"], "0 for a free one"),
        (["--delimiter", ""], "must not be empty"),
        (["--delimiter", "}"], "cannot delimit JSON"),
        (["--delimiter", ","], "cannot delimit JSON"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_server_rejects_a_bad_option_in_one_line(
    options: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from greenclient import server

    with pytest.raises(SystemExit) as info:
        server.main(options)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("python -m greenclient.server: error: ")
    assert says in err


def test_server_command_rejects_a_bad_option_in_one_line() -> None:
    err = assert_one_line_error(run([*SERVER, "--port", "65536"]), 2)
    assert err.startswith("python -m greenclient.server: error: ")


def test_server_help_explains_every_option_and_how_to_send_a_tilde() -> None:
    proc = run([*SERVER, "--help"])
    assert proc.returncode == 0
    assert proc.stderr == b""
    text = " ".join(proc.stdout.decode().split())
    assert "--host HOST the address to listen on (default 127.0.0.1)" in text
    assert "--delimiter DELIMITER ends each message" in text
    assert "0 picks a free one" in text
    assert 'json {"text": "a ~ b"}' in text
    version = run([*SERVER, "--version"])
    expected = f"python -m greenclient.server (greenclient {greenclient.__version__})\n"
    assert version.stdout.decode() == expected


def test_server_that_cannot_listen_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = run([*SERVER, "--port", str(port)])
    err = assert_one_line_error(proc, 1)
    assert f"cannot listen on 127.0.0.1:{port}" in err


@contextlib.contextmanager
def server_process(
    *options: str, env: dict[str, str] = ENV
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``python -m greenclient.server --port 0`` and the port of its LISTENING line."""
    proc = subprocess.Popen(
        [*SERVER, "--port", "0", *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        listening = read_line(proc.stdout).split()
        assert listening[0] == b"LISTENING", listening
        yield proc, int(listening[2])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def command(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode("utf-8") + b"\n")
    proc.stdin.flush()


def test_server_json_command_broadcasts_a_tilde_inside_a_string() -> None:
    with server_process() as (proc, port):
        assert proc.stdout is not None
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            assert read_line(proc.stdout) == b"CONNECTED 1\n"
            command(proc, 'json {"text": "a ~ b", "n": 1}')
            assert read_line(proc.stdout) == b"OK json\n"
            command(proc, "json {not json")
            assert read_line(proc.stdout).startswith(b"ERROR not JSON")
            data = b""
            while not data.endswith(b"~"):
                chunk = sock.recv(4096)
                assert chunk
                data += chunk
        assert data == b'{"text":"a \\u007e b","n":1}~'
        assert json.loads(data[:-1]) == {"text": "a ~ b", "n": 1}
        command(proc, "quit")
        assert proc.wait(TIMEOUT) == 0


def test_server_whose_reader_goes_away_ends_quietly() -> None:
    """Its output closed, the next line it reports (from a connection) ends it."""
    with server_process() as (proc, port):
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            status = proc.wait(timeout=TIMEOUT)  # CONNECTED 1 could not be written
        err = proc.stderr.read()
    assert status == _cli.BROKEN_PIPE_STATUS, err
    assert err == b""


# -- eventlet's notice: our commands hide it, the library does not ---------------------


def test_importing_the_library_leaves_eventlets_notice_to_the_application() -> None:
    env = {k: v for k, v in ENV.items() if k != "EVENTLET_TESTS"}
    proc = subprocess.run(
        [sys.executable, "-c", "import greenclient"],
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0
    assert DEPRECATION in proc.stderr


@pytest.mark.parametrize(
    ("orig_argv", "own"),
    [
        (["python3", "-m", "greenclient"], True),
        (["python3", "-m", "greenclient.server", "--port", "0"], True),
        (["python3", "-W", "error", "-X", "dev", "-m", "greenclient.demo"], True),
        (["python3", "-mgreenclient"], True),
        (["python3", "-u", "-m", "greenclient"], True),
        (["python3", "-m", "pytest"], False),
        (["python3", "app.py", "-m", "greenclient"], False),
        (["python3", "-c", "import greenclient", "-m", "greenclient"], False),
        (["python3"], False),
        (["python3", "-m"], False),
    ],
)
def test_own_commands_are_recognised_by_the_interpreters_command_line(
    orig_argv: list[str], own: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["-m"])
    assert _cli.is_own_command(orig_argv) is own


def test_server_reports_connections_from_its_green_threads() -> None:
    with server_process() as (proc, port):
        assert proc.stdout is not None
        with greenclient.connect("127.0.0.1", port, connect_timeout=TIMEOUT) as client:
            assert read_line(proc.stdout) == b"CONNECTED 1\n"
            client.send({"text": "olá ~"})
            assert read_line(proc.stdout) == 'RECEIVED {"text":"olá ~"}\n'.encode()
        assert read_line(proc.stdout) == b"DISCONNECTED 0\n"


# -- the line being typed stays readable on a terminal ------------------------------


class Terminal:
    """The controlling side of a pseudo-terminal; what the program wrote, accumulated."""

    def __init__(self, fd: int):
        self.fd = fd
        self.screen = b""
        self.position = 0  # in screen, just after what was last awaited
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait_for(self, expected: bytes, timeout: float = TIMEOUT) -> bytes:
        """Read until ``expected`` appears after the last thing awaited; return what led to it."""
        start = self.position

        def seen() -> bool:
            if select.select([self.fd], [], [], 0)[0]:
                with contextlib.suppress(BlockingIOError):
                    self.screen += os.read(self.fd, 65536)
            return expected in self.screen[start:]

        assert wait_until(seen, timeout=timeout, step=0.01), self.screen[-500:]
        self.position = self.screen.index(expected, start) + len(expected)
        return self.screen[start : self.position]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_demo_on_a_terminal_reprints_the_line_being_typed_below_each_message() -> None:
    import pty
    import termios

    control, program_side = pty.openpty()
    terminal = Terminal(control)
    saved = termios.tcgetattr(program_side)
    server = ReferenceServer("127.0.0.1", 0)
    with server:
        argv = [*DEMO_COMMANDS["greenclient-demo"](), "--host", "127.0.0.1"]
        proc = subprocess.Popen(
            [*argv, "--port", str(server.port)],
            stdin=program_side,
            stdout=program_side,
            stderr=subprocess.PIPE,
            env={**ENV, "TERM": "xterm"},
        )
        try:
            terminal.wait_for(b"connected to 127.0.0.1")
            terminal.wait_for(b"> ")
            terminal.write("héllo ~ wörld, 你好".encode())
            terminal.wait_for("你好".encode())  # echoed by the demo itself (cbreak mode)
            server.broadcast({"n": 1, "text": "olá"})
            after = terminal.wait_for("> héllo ~ wörld, 你好".encode())
            # The message went above the line being typed, which was printed again below.
            assert after.index(b'{"n": 1, "text": "ol') < after.index(b"> h\xc3\xa9llo")
            assert b"\r\x1b[K" in after
            terminal.write(b"\x7f\x7f\r")  # two backspaces, then Enter
            assert server.received.get(timeout=TIMEOUT) == {"text": "héllo ~ wörld,"}
            server.close_clients()
            terminal.wait_for(b"the server closed the connection")
            assert proc.wait(timeout=TIMEOUT) == 0
            assert proc.stderr is not None
            assert proc.stderr.read() == b""
            # The terminal is left as it was found: line mode and echo on again.
            assert termios.tcgetattr(program_side)[3] == saved[3]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            os.close(program_side)
            os.close(control)


def test_server_ends_cleanly_when_its_standard_input_is_dev_null_or_closed() -> None:
    # eventlet's poller refuses /dev/null; a closed descriptor is worse. Both are
    # what a background job or a service may get: the end of input, status 0.
    for redirect in ("</dev/null", "<&-"):
        proc = run(["sh", "-c", f'exec "$@" {redirect}', "sh", *SERVER, "--port", "0"])
        assert proc.returncode == 0, proc.stderr
        assert b"Traceback" not in proc.stderr
        assert proc.stdout.startswith(b"LISTENING 127.0.0.1 ")


def test_server_skips_blank_lines_and_a_space_before_a_command() -> None:
    proc = run([*SERVER, "--port", "0"], stdin=b"\n   \n  close\nquit\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[1:] == ["OK close"]


def test_server_under_a_c_locale_prints_escapes_instead_of_failing() -> None:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    env.pop("PYTHONIOENCODING", None)
    with server_process("--echo", env=env) as (proc, port):
        with greenclient.connect("127.0.0.1", port) as client:
            client.send({"text": "olá ~ 😀"})
            assert client.get(timeout=10) == {"text": "olá ~ 😀"}  # echoed: the server lives
        command(proc, "bogus é")
        command(proc, "quit")
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert b'RECEIVED {"text":"ol\\xe1 ~ \\U0001f600"}' in out
    assert b"ERROR unknown command 'bogus'" in out


@pytest.mark.parametrize("command", ["server", "demo"])
def test_no_standard_output_at_all_ends_quietly(command: str) -> None:
    demo = [*DEMO_COMMANDS["python -m greenclient"](), "--count", "1"]
    argv = [*SERVER, "--port", "0"] if command == "server" else demo
    proc = run(["sh", "-c", 'exec "$@" >&-', "sh", *argv])
    assert proc.returncode == _cli.BROKEN_PIPE_STATUS, proc.stderr
    assert proc.stderr == b""


def test_server_ends_with_status_130_on_ctrl_c() -> None:
    with server_process() as (proc, port), socket.create_connection(("127.0.0.1", port)) as client:
        assert proc.stdout is not None
        assert read_line(proc.stdout).startswith(b"CONNECTED")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 130
        client.settimeout(10)
        assert client.recv(1) == b""  # the server closed the connection on its way out


def test_demo_ends_with_status_130_on_ctrl_c() -> None:
    # On both hubs: on the asyncio hub, cleaning up by switching green threads after
    # the interrupt raised "RuntimeError: Already running!" (status 1, a traceback).
    with broadcasting_server() as server:
        argv = [sys.executable, "-m", "greenclient", "--host", "127.0.0.1"]
        with child([*argv, "--port", str(server.port)]) as proc:
            assert proc.stdout is not None
            lines = [read_line(proc.stdout) for _ in range(3)]
            assert b'"n": ' in lines[2]
            status, err = ended_by(proc, signal.SIGINT)
    assert status == 130, err
    assert b"Traceback" not in err, err


APP = """
import signal, sys
import greenclient
signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
with greenclient.connect("127.0.0.1", int(sys.argv[1])) as client:
    for message in client:
        print(message, flush=True)
"""


# An uncaught KeyboardInterrupt ends Python by SIGINT itself (a shell shows 130).
@pytest.mark.parametrize(
    ("sent", "statuses"), [(signal.SIGINT, {-signal.SIGINT, 130}), (signal.SIGTERM, {0})]
)
def test_an_application_interrupted_in_a_with_block_ends_with_its_own_status(
    sent: signal.Signals, statuses: set[int]
) -> None:
    # The README's loop, stopped by Ctrl-C or by a SIGTERM handler's sys.exit(0). On
    # eventlet's asyncio hub the with block's close() raised RuntimeError ("Already
    # running!") over the interrupt: a traceback and status 1.
    with (
        broadcasting_server() as server,
        child([sys.executable, "-c", APP, str(server.port)]) as proc,
    ):
        assert proc.stdout is not None
        assert b"'n'" in read_line(proc.stdout)  # messages flow: the loop runs
        got, err = ended_by(proc, sent)
    assert got in statuses, err
    assert b"RuntimeError" not in err, err


CONNECTING_APP = """
import ssl, sys
import greenclient
print("connecting", flush=True)
greenclient.connect(
    "127.0.0.1", int(sys.argv[1]), ssl_context=ssl.create_default_context(), connect_timeout=30
)
"""


def test_an_application_interrupted_in_connect_ends_with_the_interrupt() -> None:
    # connect() closes the client when interrupted; on the asyncio hub that close
    # raised RuntimeError over the KeyboardInterrupt.
    def silent(sock: socket.socket) -> None:
        eventlet.sleep(30)  # never answers the TLS handshake

    with (
        RawServer(silent) as raw,
        child([sys.executable, "-c", CONNECTING_APP, str(raw.port)]) as proc,
    ):
        assert proc.stdout is not None
        assert read_line(proc.stdout) == b"connecting\n"
        raw.connections.get(timeout=TIMEOUT)  # connect() waits in the handshake now
        eventlet.sleep(0.2)
        got, err = ended_by(proc, signal.SIGINT)
    assert got in {-signal.SIGINT, 130}, err
    assert b"KeyboardInterrupt" in err, err
    assert b"RuntimeError" not in err, err
