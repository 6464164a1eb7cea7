"""greenclient through ``ncat --broker``: a second real peer that is not ours.

ncat's broker mode relays whatever one client writes to every other client,
byte for byte, so two greenclient clients can talk to each other through it.
Needs Debian's ``ncat`` (a skip without it locally, an error in CI where
GREENCLIENT_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import IO, Any

import eventlet
import eventlet.greenthread
import eventlet.queue
import eventlet.timeout
import pytest

import greenclient

from .conftest import require_tool

pytestmark = pytest.mark.ncat

#: ncat -v prints this for each client it accepts (and adds it to the broker's set first).
ACCEPTED = re.compile(r"Connection from 127\.0\.0\.1:\d+\.$")

MESSAGES: list[Any] = [
    {"from": "a", "text": "olá, café às três ~ a tilde inside"},
    {"from": "a", "text": "你好 ~~ 😀", "n": [1, 2.5, None, True]},
    {"from": "a", "text": 'quotes " and \\ backslash ~'},
]
REPLIES: list[Any] = [
    {"from": "b", "text": "ça va ~ bien, 谢谢 🎉"},
    {"from": "b", "text": "~"},
]


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Broker:
    """A running ``ncat --broker`` on 127.0.0.1, and what it reported on stderr."""

    def __init__(self, ncat: str):
        self.ncat = ncat
        self.port = 0
        self.accepted = 0
        self.lines: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._events: eventlet.queue.Queue[str | None] = eventlet.queue.Queue()
        self._reader: eventlet.greenthread.GreenThread | None = None

    def start(self, attempts: int = 3, timeout: float = 10.0) -> Broker:
        """Start ncat on a free port; try another port if that one was taken meanwhile."""
        for _ in range(attempts):
            self.port = free_port()
            argv = [self.ncat, "-v", "--broker", "--listen", "127.0.0.1", str(self.port)]
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            assert proc.stderr is not None
            self._proc = proc
            self._events = eventlet.queue.Queue()
            self._reader = eventlet.spawn(self._read, proc.stderr, self._events)
            deadline = time.monotonic() + timeout
            while (line := self._next(deadline)) is not None:
                if "Listening on" in line:
                    return self
            self.stop()
        raise AssertionError(f"ncat did not start: {self.lines}")

    def _read(self, stream: IO[bytes], events: eventlet.queue.Queue[str | None]) -> None:
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "backslashreplace").rstrip()
                self.lines.append(line)
                events.put(line)
        except (OSError, ValueError):
            pass
        finally:
            events.put(None)

    def _next(self, deadline: float) -> str | None:
        try:
            line: str | None = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        return line

    def wait_accepted(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ncat has accepted ``count`` clients in all."""
        deadline = time.monotonic() + timeout
        while self.accepted < count:
            line = self._next(deadline)
            if line is None:
                raise AssertionError(
                    f"ncat accepted {self.accepted} of {count} clients: {self.lines}"
                )
            if ACCEPTED.search(line):
                self.accepted += 1

    def stop(self) -> None:
        """Stop ncat: terminate, then kill, each with a timeout."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for end in (proc.terminate, proc.kill):
            end()
            try:
                proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        if self._reader is not None:
            self._reader.kill()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    relay = Broker(require_tool("ncat")).start()
    try:
        yield relay
    finally:
        relay.stop()


def pair(broker: Broker) -> tuple[greenclient.GreenClient, greenclient.GreenClient]:
    """Two clients, both accepted by the broker (so neither misses the other's first bytes)."""
    a = greenclient.connect("127.0.0.1", broker.port, connect_timeout=10)
    b = greenclient.connect("127.0.0.1", broker.port, connect_timeout=10)
    broker.wait_accepted(2)
    return a, b


def test_two_clients_exchange_messages_both_ways(broker: Broker) -> None:
    a, b = pair(broker)
    with a, b:
        for message in MESSAGES:
            a.send(message)
        assert [b.get(timeout=10) for _ in MESSAGES] == MESSAGES
        for reply in REPLIES:
            b.send(reply)
        assert [a.get(timeout=10) for _ in REPLIES] == REPLIES
        assert a.queue.empty()  # the broker does not echo to the sender
        assert b.queue.empty()


def test_tilde_inside_a_string_is_escaped_on_the_wire(broker: Broker) -> None:
    # A plain socket beside the two clients sees the exact bytes the broker relays.
    a, b = pair(broker)
    with a, b, socket.create_connection(("127.0.0.1", broker.port), timeout=10) as spy:
        broker.wait_accepted(3)
        a.send(MESSAGES[0])
        wire = b""
        with eventlet.timeout.Timeout(10, AssertionError("the frame did not arrive whole")):
            while not wire.endswith(b"~"):
                chunk = spy.recv(4096)
                assert chunk, "the broker closed the connection"
                wire += chunk
        assert wire.count(b"~") == 1  # only the delimiter; the "~" in the text went as \u007e
        assert json.loads(wire[:-1].decode("utf-8")) == MESSAGES[0]
        assert b.get(timeout=10) == MESSAGES[0]


def test_both_clients_send_and_receive_at_the_same_time(broker: Broker) -> None:
    a, b = pair(broker)
    count = 300
    with a, b:

        def talk(me: greenclient.GreenClient, name: str) -> None:
            for i in range(count):
                me.send({"from": name, "seq": i, "text": f"olá ~ {i} 😀"})
                if i % 50 == 0:
                    eventlet.sleep(0)

        senders = [eventlet.spawn(talk, a, "a"), eventlet.spawn(talk, b, "b")]
        got_by_b = [b.get(timeout=10) for _ in range(count)]
        got_by_a = [a.get(timeout=10) for _ in range(count)]
        with eventlet.timeout.Timeout(10, AssertionError("a sender did not finish")):
            for sender in senders:
                sender.wait()
    assert got_by_b == [{"from": "a", "seq": i, "text": f"olá ~ {i} 😀"} for i in range(count)]
    assert got_by_a == [{"from": "b", "seq": i, "text": f"olá ~ {i} 😀"} for i in range(count)]
