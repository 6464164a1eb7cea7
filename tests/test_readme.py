"""README.rst: what a new user reads first is there, true, and its links lead somewhere."""

from __future__ import annotations

import inspect
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import greenclient
from greenclient.server import ReferenceServer

from .helpers import RawServer, wait_until

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"

#: The two commands of the first screen, exactly as a new user copies them.
COMMANDS = [
    "python3 -m pip install -e . && greenclient-demo",
    "python3 -m pip install -e '.[test]' && python3 -m pytest",
]
#: What a reader sees first: a terminal's worth of lines.
FIRST_SCREEN = 60


def readme() -> str:
    return README.read_text(encoding="utf-8")


def sections(text: str) -> list[str]:
    """Titles of the sections, in order (any underline style)."""
    lines = text.splitlines()
    return [
        lines[i - 1].strip()
        for i in range(1, len(lines))
        if re.fullmatch(r"([=\-~^])\1{2,}", lines[i])
        and lines[i - 1].strip()
        and len(lines[i]) >= len(lines[i - 1].strip())
        and not lines[i - 1].startswith(("=", "-", "`"))
    ]


def code_block_after(text: str, title: str) -> str:
    """The first literal or code block after section ``title``, dedented."""
    start = text.index(f"\n{title}\n")
    block = re.search(r"(?:::|\.\. code-block:: python)\n\n((?:    .*\n|\n)+)", text[start:])
    assert block, f"no code block after {title!r}"
    return inspect.cleandoc("\n" + block.group(1))


def test_the_two_commands_are_on_the_first_screen_verbatim() -> None:
    first = "\n".join(readme().splitlines()[:FIRST_SCREEN])
    for command in COMMANDS:
        assert f"\n    {command}\n" in first, command


def test_first_screen_says_what_it_is_for_whom_and_shows_an_example() -> None:
    text = readme()
    first = "\n".join(text.splitlines()[:FIRST_SCREEN])
    assert "eventlet" in first
    assert "JSON" in first
    assert "TCP" in first
    assert "for Python programs that already run on eventlet" in first
    assert "\nExample\n=======\n" in first
    example = code_block_after(text, "Example")
    assert len(example.strip().splitlines()) <= 12
    assert example.startswith("import greenclient")


def test_sections_come_in_the_order_a_reader_needs_them() -> None:
    titles = sections(readme())
    expected = [
        "Try it",
        "Example",
        "Usage",
        "Options",
        "What ``client.queue`` carries",
        "Errors",
        "The wire format",
        "Reliability",
        "Logging",
        "Using it with a Scala server",
        "Testing your application: the reference server",
        "Performance",
        "Development",
    ]
    positions = [titles.index(title) for title in expected]
    assert positions == sorted(positions), titles


def test_no_reader_is_assumed_to_have_seen_a_lecture() -> None:
    assert "lecture" not in readme().lower()


def linked_paths(path: Path) -> list[str]:
    """Relative targets of the links, images and figures of an .rst file."""
    text = path.read_text(encoding="utf-8")
    targets = re.findall(r"`[^`<]*<([^>`]+)>`_", text)
    targets += re.findall(r"^\.\. (?:image|figure|include|literalinclude):: (\S+)", text, re.M)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize(
    "document",
    [
        "README.rst",
        "tests/scala/README.rst",
        "scripts/README.rst",
        "CHANGELOG.rst",
        "greenclient/RELIABILITY.rst",
    ],
)
def test_every_linked_repository_file_exists(document: str) -> None:
    path = ROOT / document
    for target in linked_paths(path):
        assert (path.parent / target).exists(), f"{document} links to {target}, which is missing"


def test_readme_has_no_image_that_breaks_outside_the_repository() -> None:
    # The README is also the package's description on an index, where relative paths
    # lead nowhere: it links to files instead of showing images.
    images = re.findall(r"^\.\. (?:image|figure):: (\S+)", readme(), re.M)
    assert [image for image in images if not image.startswith("https://")] == []


def test_long_guides_live_next_to_what_they_describe() -> None:
    text = readme()
    assert "tests/scala/README.rst <tests/scala/README.rst>" in text
    assert "scripts/README.rst <scripts/README.rst>" in text
    assert "class FrameBuffer" not in text  # the Scala guide's code is in its own file
    assert "class FrameBuffer" in (ROOT / "tests" / "scala" / "README.rst").read_text("utf-8")
    # Long listings belong to the guides: no block of code or output over 30 lines here,
    # and the whole stays well below the 720 lines that once kept readers from the reference.
    blocks = re.findall(r"(?:::|\.\. code-block:: \w+)\n\n((?:    .*\n|\n)+)", text)
    longest = max(len(block.strip("\n").splitlines()) for block in blocks)
    assert longest <= 30
    assert len(text.splitlines()) < 650


def test_options_table_has_a_row_for_every_option() -> None:
    text = readme()
    table = text[text.index("\nOptions\n-------\n") : text.index("What ``client.queue`` carries")]
    rows = set(re.findall(r"^``(\w+)``", table, re.M))
    parameters = inspect.signature(greenclient.GreenClient).parameters.values()
    options = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert options - rows == set(), "options missing from the README's table"
    assert rows - options == set(), "rows for options that do not exist"


def test_usage_example_says_when_iteration_ends_with_reconnect() -> None:
    usage = code_block_after(readme(), "Usage")
    assert "reconnect=True" in usage
    assert "ends when the connection is over" not in usage
    assert "close()" in usage
    assert "gives up" in usage


def test_example_runs_against_the_reference_server() -> None:
    """The first screen's example, unchanged but for the address and its pace."""
    code = code_block_after(readme(), "Example")
    received: list[Any] = []
    server: ReferenceServer

    def on_message(message: Any) -> None:
        received.append(message)
        server.broadcast(message)
        if len(received) == 10:
            server.close_clients()

    server = ReferenceServer("127.0.0.1", 0, on_message=on_message)
    with server:
        address = f'greenclient.connect("127.0.0.1", {server.port})'
        program = code.replace('greenclient.connect("localhost", 8000)', address)
        program = program.replace("eventlet.sleep(0.5)", "eventlet.sleep(0.01)")
        assert program.count(str(server.port)) == 1
        assert "0.01" in program
        proc = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    printed = proc.stdout.decode().splitlines()
    assert printed == [str({"action": "move", "x": x}) for x in range(10)]


def test_logging_is_as_the_readme_says(caplog: pytest.LogCaptureFixture) -> None:
    text = readme()
    assert 'logging.getLogger("greenclient")' in text
    with RawServer(lambda sock: sock.sendall(b'{"ok": 1}~not json~{"ok": 2}~')) as raw:
        caplog.set_level(logging.DEBUG, logger="greenclient")
        with greenclient.connect("127.0.0.1", raw.port, connect_timeout=10) as client:
            assert client.get(timeout=10) == {"ok": 1}
            assert client.get(timeout=10) == {"ok": 2}
    # The rejected frame: WARNING lines on the greenclient logger, nothing else.
    assert caplog.records
    assert {(r.name, r.levelname) for r in caplog.records} == {("greenclient", "WARNING")}

    caplog.clear()

    def on_connect(client: greenclient.GreenClient) -> None:
        raise RuntimeError("a bug in the application")

    with RawServer(lambda sock: sock.recv(1)) as raw:
        client = greenclient.connect(
            "127.0.0.1", raw.port, connect_timeout=10, on_connect=on_connect
        )
        with client:
            assert wait_until(lambda: client.stats.callback_errors == 1, timeout=10)
    errors = [r for r in caplog.records if r.exc_info]
    assert [(r.name, r.levelname) for r in errors] == [("greenclient", "ERROR")]
    assert all(r.levelno >= logging.WARNING for r in caplog.records)
