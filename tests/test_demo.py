"""The demo, run as a user runs it: a subprocess, with real stdin and stdout."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from greenclient.server import ReferenceServer

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, str(ROOT / "scripts" / "demo.py")]
LINE = re.compile(r"^\d\d:\d\d:\d\d  (.*)$")


def run_demo(args: list[str], stdin: bytes = b"", timeout: float = 30) -> list[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(
        DEMO + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err.decode("utf-8", "replace")
    return out.decode("utf-8").splitlines()


def something_listens_on_8000() -> bool:
    try:
        with socket.create_connection(("localhost", 8000), timeout=1):
            return True
    except OSError:
        return False


def test_demo_with_embedded_server_prints_sample_messages() -> None:
    if something_listens_on_8000():
        pytest.skip("something listens on localhost:8000; the embedded server is not used")
    lines = run_demo(["--count", "5", "--rate", "50"])
    assert "embedded reference server" in lines[0]
    messages = []
    for line in lines[1:]:
        match = LINE.match(line)
        assert match, line
        messages.append(json.loads(match.group(1)))
    assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5]
    # Non-ASCII text is printed as itself, and a "~" inside a string survives framing.
    assert "café" in lines[1]
    assert "\\u" not in "\n".join(lines)
    assert any("~" in m.get("text", "") for m in messages)


def test_demo_sends_typed_lines_and_prints_what_arrives() -> None:
    server: ReferenceServer = ReferenceServer(
        "127.0.0.1", 0, on_message=lambda message: server.broadcast({"echo": message})
    )
    with server:
        lines = run_demo(
            ["--port", str(server.port), "--host", "127.0.0.1", "--count", "2"],
            stdin=b'hello ~ world\n{"action":"move","x":1}\n',
        )
        assert server.received.get(timeout=5) == {"text": "hello ~ world"}
        assert server.received.get(timeout=5) == {"action": "move", "x": 1}
    assert lines[0].startswith("greenclient-demo: connected to 127.0.0.1:")
    printed = [json.loads(LINE.match(line).group(1)) for line in lines[1:]]  # type: ignore[union-attr]
    assert printed == [{"echo": {"text": "hello ~ world"}}, {"echo": {"action": "move", "x": 1}}]


def test_demo_with_explicit_port_and_no_server_fails_clearly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [*DEMO, "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert b"refused" in proc.stderr


def test_demo_main_is_callable_in_process() -> None:
    from greenclient import demo

    with pytest.raises(SystemExit) as info:
        demo.main(["--help"])
    assert info.value.code == 0


def test_installed_console_command_runs_the_demo() -> None:
    command = shutil.which("greenclient-demo")
    if command is None:
        pytest.skip("greenclient-demo is not installed (python3 -m pip install -e .)")
    if something_listens_on_8000():
        pytest.skip("something listens on localhost:8000; the embedded server is not used")
    proc = subprocess.run(
        [command, "--count", "2", "--rate", "50"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )
    lines = proc.stdout.decode("utf-8").splitlines()
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert "embedded reference server" in lines[0]
    assert len(lines) == 3
