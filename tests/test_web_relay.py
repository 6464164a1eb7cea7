"""scripts/web_relay.py for real: the Pekko server, the relay, Socket.IO clients, Chromium.

The relay runs as its own process (``python scripts/web_relay.py``) against the
recommended Pekko server of ``tests/pekko``; the test talks to both ends: the
server through its stdin/stdout control, the relay through (a) two python-socketio
clients and (b) the relay's page in headless Chromium driven by Selenium. Needs
Maven and a JDK, the ``[web]`` extra, and Debian's ``chromium`` and
``chromium-driver`` for (b) (skips locally without them; errors in CI, where
GREENCLIENT_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import eventlet
import eventlet.queue
import pytest

from .conftest import require_tool
from .scala_server import (
    ROOT,
    ServerProcess,
    build_pekko_servers,
    pekko_server_argv,
    python_server_env,
)

pytestmark = pytest.mark.pekko

#: What Scala broadcasts: non-ASCII, a "~" and quotes inside strings.
MESSAGES: list[Any] = [
    {"type": "chat", "user": "ana", "text": "olá ~ café às três"},
    {"type": "chat", "user": "李雷", "text": '你好 ~~ "quoted" \\ 😀'},
    {"type": "score", "player": "zoë", "points": 120},
]
RELAY = ROOT / "scripts" / "web_relay.py"
URL_LINE = re.compile(r"open (http://127\.0\.0\.1:\d+/)")


def require_module(name: str, extra: str) -> None:
    """Skip without the module (fail when GREENCLIENT_REQUIRE_TOOLS=1)."""
    try:
        __import__(name)
    except ImportError:
        message = f"{name} is not installed (pip install -e '.[{extra}]')"
        if os.environ.get("GREENCLIENT_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; GREENCLIENT_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)


@pytest.fixture(scope="module")
def scala() -> Iterator[ServerProcess]:
    """The recommended Pekko server on a free port."""
    mvn = require_tool("mvn", "maven")
    java = require_tool("java", "default-jdk-headless")
    classpath = build_pekko_servers(mvn)
    server = ServerProcess(pekko_server_argv(java, classpath, "pekko"), name="pekko").start()
    try:
        yield server
    finally:
        server.stop()


class RelayProcess:
    """``python scripts/web_relay.py`` against ``scala``, on a free HTTP port."""

    def __init__(self, scala: ServerProcess):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(RELAY),
                "--scala-host",
                scala.host,
                "--scala-port",
                str(scala.port),
                "--http-port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **python_server_env()},
            cwd=ROOT,
        )
        self.output: list[str] = []
        self.errors: list[str] = []
        self._urls: eventlet.queue.Queue[str | None] = eventlet.queue.Queue()
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            eventlet.spawn(self._read, self.proc.stdout, self.output, True),
            eventlet.spawn(self._read, self.proc.stderr, self.errors, False),
        ]
        try:
            url = self._urls.get(timeout=60)
        except queue.Empty:
            url = None
        if url is None:
            self.stop()
            raise AssertionError(f"the relay did not start: {self.output} {self.errors}")
        self.url = url

    def _read(self, stream: IO[bytes], lines: list[str], watch: bool) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "backslashreplace").rstrip()
                lines.append(line)
                found = URL_LINE.search(line) if watch else None
                if found:
                    self._urls.put(found.group(1))
        if watch:
            self._urls.put(None)

    def stop(self) -> int | None:
        """Ctrl-C (SIGINT), as a user would; kill after 15 s. Returns the exit status."""
        status: int | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            status = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        for reader in self._readers:
            reader.wait()
        return status


@pytest.fixture
def relay(scala: ServerProcess) -> Iterator[RelayProcess]:
    require_module("flask_socketio", "web")
    scala.wait_clients(0)
    process = RelayProcess(scala)
    try:
        scala.wait_clients(1)  # the relay's one connection
        yield process
    finally:
        status = process.stop()
        errors = "\n".join(process.errors)
        assert "Traceback" not in errors, errors
        assert status == 0, (status, process.output, errors)
        scala.wait_clients(0)


def test_two_socketio_clients_get_every_broadcast_and_reach_scala(
    scala: ServerProcess, relay: RelayProcess
) -> None:
    require_module("socketio", "test")
    import socketio

    def next_message(client: socketio.SimpleClient) -> Any:
        while True:  # skip the status events
            event, *data = client.receive(timeout=20)
            if event == "message":
                return data[0]

    with socketio.SimpleClient() as one, socketio.SimpleClient() as two:
        one.connect(relay.url, wait_timeout=20)
        two.connect(relay.url, wait_timeout=20)
        assert one.receive(timeout=20) == [
            "status",
            f"connected to the Scala server at {scala.host}:{scala.port}",
        ]
        for message in MESSAGES:
            scala.broadcast(message)
        for client in (one, two):
            assert [next_message(client) for _ in MESSAGES] == MESSAGES
        sent = {"type": "chat", "text": 'from Socket.IO: olá ~ "x" \\ 你好 😀', "n": [1, 2.5]}
        assert one.call("send", sent, timeout=20) == {"ok": True}
        assert scala.take_received(1) == [sent]
        assert scala.invalid == []


def test_chromium_shows_broadcasts_and_its_form_reaches_scala(
    scala: ServerProcess, relay: RelayProcess, tmp_path: Path
) -> None:
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver", "chromium-driver")
    require_module("selenium", "test")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=900,620",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=chromedriver)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(60)
        driver.get(relay.url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "connected to the Scala" in d.find_element(By.ID, "status").text)
        for message in MESSAGES:
            scala.broadcast(message)

        def shown(d: Any) -> list[str] | Literal[False]:
            texts = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#messages code")]
            return texts if len(texts) >= len(MESSAGES) else False

        texts: list[str] = wait.until(shown)
        assert [json.loads(text) for text in texts] == MESSAGES
        assert texts[1] == json.dumps(MESSAGES[1], ensure_ascii=False, separators=(",", ":"))

        typed = 'from the browser: olá ~ "quotes" 你好 😀'
        box = driver.find_element(By.ID, "text")
        # ChromeDriver's send_keys takes characters of the BMP only: the emoji goes in by script.
        box.send_keys(typed.replace("😀", ""))
        driver.execute_script("arguments[0].value += arguments[1];", box, "😀")
        driver.find_element(By.CSS_SELECTOR, "#send button").click()
        assert scala.take_received(1, timeout=30) == [{"type": "chat", "text": typed}]

        # Too long for one Socket.IO packet: the page says so and sends nothing,
        # and the browser's connection stays up for the next message.
        driver.execute_script("arguments[0].value = 'é'.repeat(200001);", box)
        driver.find_element(By.CSS_SELECTOR, "#send button").click()
        wait.until(lambda d: "not sent: 400002 bytes" in d.find_element(By.ID, "status").text)
        driver.execute_script("arguments[0].value = 'after the long one';", box)
        driver.find_element(By.CSS_SELECTOR, "#send button").click()
        after = [{"type": "chat", "text": "after the long one"}]
        assert scala.take_received(1, timeout=30) == after
        scala.broadcast({"type": "chat", "user": "scala", "text": "got it ~ obrigado 👍"})
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#messages code")) > 3)
        screenshot = os.environ.get("GREENCLIENT_SCREENSHOT") or str(tmp_path / "relay.png")
        assert driver.save_screenshot(screenshot)
    finally:
        driver.quit()


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["--http-port", "x"], 2, "is not a port number"),
        (["--http-port", "99999"], 2, "is not a port number"),
        (["--scala-port", "0"], 2, "is not a port number"),
        (["--rate", "0"], 2, "is not a number greater than 0"),
        (["--scala-host", "127.0.0.1", "--scala-port", "1"], 1, "web_relay: connection to"),
    ],
)
def test_bad_options_and_an_unreachable_server_end_without_a_traceback(
    argv: list[str], status: int, says: str
) -> None:
    require_module("flask_socketio", "web")
    done = subprocess.run(
        [sys.executable, str(RELAY), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **python_server_env()},
        check=False,
    )
    assert done.returncode == status
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert "Eventlet is deprecated" not in done.stderr


def test_relay_reconnects_when_scala_restarts() -> None:
    require_module("flask_socketio", "web")
    require_module("socketio", "test")
    import socketio

    mvn = require_tool("mvn", "maven")
    java = require_tool("java", "default-jdk-headless")
    classpath = build_pekko_servers(mvn)
    with socket.socket() as probe:  # a port that was free a moment ago, for both servers
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = pekko_server_argv(java, classpath, "pekko", port)
    first = ServerProcess(argv, name="pekko").start()
    relay = RelayProcess(first)
    second: ServerProcess | None = None
    try:
        first.wait_clients(1)
        with socketio.SimpleClient() as browser:
            browser.connect(relay.url, wait_timeout=20)

            def next_event(name: str) -> Any:
                while True:
                    event, *data = browser.receive(timeout=30)
                    if event == name:
                        return data[0]

            assert next_event("status").startswith("connected")
            first.stop()  # Scala goes away...
            assert "reconnecting" in next_event("status")
            second = ServerProcess(argv, name="pekko").start()  # ...and comes back
            assert next_event("status").startswith("connected")
            second.wait_clients(1)
            second.broadcast(MESSAGES[1])
            assert next_event("message") == MESSAGES[1]
            assert browser.call("send", {"back": "de volta ~ 😀"}, timeout=20) == {"ok": True}
            assert second.take_received(1) == [{"back": "de volta ~ 😀"}]
    finally:
        status = relay.stop()
        first.stop()
        if second is not None:
            second.stop()
    assert status == 0, (status, relay.output, relay.errors)
