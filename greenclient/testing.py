"""A test kit for applications built on greenclient: a scripted server and pytest fixtures.

No Scala and no subprocess: :class:`ScriptedServer` listens on 127.0.0.1 in the
test's own process (green threads, like the application) and plays a script
the test writes, step by step: expect a message matching a pattern, send one,
reply to the last request, send raw bytes, close, reset. The script plays as
soon as a client connects, while the test drives the application::

    # conftest.py of the application's tests
    pytest_plugins = ["greenclient.testing"]

    # test_app.py
    def test_join(greenserver):
        greenserver.expect({"type": "join", "room": "lobby"}).reply({"members": 3})
        app = App(port=greenserver.port)
        assert app.join("lobby") == 3
        greenserver.wait()        # every step played, or ScriptFailed says which did not

The plugin is opt-in: listing it in ``pytest_plugins`` (of the test suite's
top-level ``conftest.py``) gives the tests the :func:`greenserver` fixture.
greenclient registers no pytest entry point: importing this module
monkey-patches the process (``import greenclient``), which no other test run in
the same environment should get unasked.

The server is the reference server (:class:`~greenclient.server.ReferenceServer`)
with its automatic replies off: what it sends is what the script says.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import eventlet
import eventlet.event
import eventlet.queue
import pytest

from .routing import DEFAULT_CORRELATION_FIELD
from .server import ReferenceServer

__all__ = ["DEFAULT_STEP_TIMEOUT", "ScriptFailed", "ScriptedServer", "greenserver", "matches"]

#: Seconds a step waits (for a client, a message, a disconnection) unless told otherwise.
DEFAULT_STEP_TIMEOUT: Final = 10.0

Pattern = Mapping[str, Any] | Callable[[Any], bool] | None


class ScriptFailed(AssertionError):
    """A step of the script did not happen as written; the message says which and why."""


def matches(message: Any, pattern: Any) -> bool:
    """True when ``message`` matches ``pattern``, compared as JSON values.

    * ``None`` as the whole pattern matches any message (``expect()``);
      anywhere inside a pattern it is JSON ``null`` and matches only ``None``;
    * a mapping matches a dict that has each of its keys with a matching value
      (other keys are ignored, recursively for nested mappings);
    * a list or tuple matches a list of the same length, item by item;
    * a class matches an instance of it (``int`` no ``bool``; ``float`` any
      number but a ``bool``): ``{"id": str}``;
    * another callable matches when it returns true for the value;
    * ``True`` and ``False`` match only themselves (not ``1`` or ``0``, which
      are other JSON values), and a number never matches a ``bool``;
    * any other value matches an equal one (``1`` matches ``1.0``).
    """
    if pattern is None:
        return True
    return _matches(message, pattern)


def _matches(message: Any, pattern: Any) -> bool:
    if pattern is None:
        return message is None
    if isinstance(pattern, Mapping):
        return isinstance(message, Mapping) and all(
            key in message and _matches(message[key], value) for key, value in pattern.items()
        )
    if isinstance(pattern, (list, tuple)):
        return (
            isinstance(message, (list, tuple))
            and len(message) == len(pattern)
            and all(_matches(m, p) for m, p in zip(message, pattern, strict=True))
        )
    if isinstance(pattern, type):
        if isinstance(message, bool) and pattern is not bool:
            return pattern is object
        if pattern is float:
            return isinstance(message, (int, float))
        return isinstance(message, pattern)
    if callable(pattern):
        return bool(pattern(message))
    if isinstance(pattern, bool) or isinstance(message, bool):
        return type(message) is type(pattern) and message == pattern
    return bool(message == pattern)


@dataclass(frozen=True)
class _Step:
    kind: str  # expect, expect_close, send, reply, raw, close, reset, sleep
    arg: Any = None
    timeout: float | None = None

    def __str__(self) -> str:
        if self.kind in ("close", "reset", "expect_close"):
            return f"{self.kind}()"
        return f"{self.kind}({self.arg!r})"


class ScriptedServer:
    """A loopback server in the test's process that plays a script, step by step.

    Args:
        delimiter: the frames' delimiter, as in greenclient.
        timeout: default seconds each step waits (see :data:`DEFAULT_STEP_TIMEOUT`).
        correlation_field: the field :meth:`reply` copies from the last request.

    Each script method adds a step and returns the server, so steps chain.
    Steps that talk to a client wait for one to be connected first (after a
    :meth:`close` or :meth:`reset`, for the next connection: a reconnecting
    client). The script holds one client at a time; what it sends goes to
    every connected client.

    Attributes:
        received: every message received, in order, whether expected or not.
        connections: how many connections were accepted so far.
    """

    def __init__(
        self,
        *,
        delimiter: str | bytes = "~",
        timeout: float = DEFAULT_STEP_TIMEOUT,
        correlation_field: str = DEFAULT_CORRELATION_FIELD,
    ):
        self.timeout = timeout
        self.correlation_field = correlation_field
        self.received: list[Any] = []
        self.connections = 0
        self._inbox: eventlet.queue.Queue[tuple[str, Any]] = eventlet.queue.Queue()
        # Messages taken from the inbox while a step waited for a client, kept for
        # the steps after it, in order.
        self._held: deque[tuple[str, Any]] = deque()
        self._server = ReferenceServer(
            "127.0.0.1",
            0,
            delimiter=delimiter,
            answer_requests=False,
            on_message=self._on_message,
            on_event=self._on_event,
        )
        self._steps: list[_Step] = []
        self._played = 0
        self._more = eventlet.event.Event()
        self._failure: ScriptFailed | None = None
        self._reported = False
        self._connected = False
        self._last: Any = None
        self._runner: Any = None

    # -- life -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address to connect to (always 127.0.0.1)."""
        return self._server.host

    @property
    def port(self) -> int:
        """The port it listens on (chosen free at start)."""
        return self._server.port

    def start(self) -> ScriptedServer:
        """Listen on a free port of 127.0.0.1 and start playing the script."""
        self._server.start()
        self._runner = eventlet.spawn(self._play)
        return self

    def stop(self) -> None:
        """Stop playing, close every connection and stop listening. Idempotent."""
        if self._runner is not None:
            self._runner.kill()
            self._runner = None
        self._server.stop()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the script -----------------------------------------------------------------

    def _add(self, kind: str, arg: Any = None, timeout: float | None = None) -> ScriptedServer:
        self._steps.append(_Step(kind, arg, timeout))
        if not self._more.ready():
            self._more.send(None)
        return self

    def expect(self, pattern: Pattern = None, *, timeout: float | None = None) -> ScriptedServer:
        """Step: the next message from the client must match ``pattern`` (see :func:`matches`).

        The message is kept as the last request, for :meth:`reply`.
        """
        return self._add("expect", pattern, timeout)

    def send(self, message: Any) -> ScriptedServer:
        """Step: send ``message`` (encoded as greenclient does) to the client."""
        return self._add("send", message)

    def reply(self, message: Mapping[str, Any] | None = None) -> ScriptedServer:
        """Step: answer the last expected message with ``message`` plus its correlation id.

        ``message`` defaults to ``{"type": "reply"}``. The step fails if the last
        expected message carries no correlation id.
        """
        return self._add("reply", dict(message) if message is not None else {"type": "reply"})

    def send_raw(self, data: bytes) -> ScriptedServer:
        """Step: write ``data`` as it is (no delimiter added): partial or broken frames."""
        return self._add("raw", bytes(data))

    def close(self) -> ScriptedServer:
        """Step: close the connection (the client sees the end of the stream)."""
        return self._add("close")

    def reset(self) -> ScriptedServer:
        """Step: reset the connection (the client sees ``ConnectionResetError``)."""
        return self._add("reset")

    def expect_close(self, *, timeout: float | None = None) -> ScriptedServer:
        """Step: the client must close its connection before sending anything else."""
        return self._add("expect_close", None, timeout)

    def sleep(self, seconds: float) -> ScriptedServer:
        """Step: wait ``seconds`` before the next step."""
        return self._add("sleep", seconds)

    # -- results --------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True when every step added so far has played."""
        return self._played == len(self._steps) and self._failure is None

    def wait(self, timeout: float | None = None) -> None:
        """Wait until every step added so far has played.

        Args:
            timeout: seconds to wait; default: the step timeout times the
                number of steps left, plus one step timeout.

        Raises:
            ScriptFailed: a step failed (which one, what came instead), or the
                script did not finish within ``timeout``.
        """
        left = len(self._steps) - self._played
        limit = timeout if timeout is not None else self.timeout * (left + 1)
        deadline = time.monotonic() + limit
        while self._failure is None and self._played < len(self._steps):
            if time.monotonic() > deadline:
                step = self._steps[self._played]
                self._fail(f"the script did not finish within {limit} s (at {step})")
                break
            eventlet.sleep(0.005)
        self.check()

    def check(self) -> None:
        """Raise the script's failure, if any (once); the fixture calls it at teardown.

        Raises:
            ScriptFailed: a step failed.
        """
        if self._failure is not None and not self._reported:
            self._reported = True
            raise self._failure

    # -- playing --------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        self.received.append(message)
        self._inbox.put(("message", message))

    def _on_event(self, line: str) -> None:
        kind = line.partition(" ")[0]
        if kind == "CONNECTED":
            self.connections += 1
            self._inbox.put(("connected", None))
        elif kind == "DISCONNECTED":
            self._inbox.put(("disconnected", None))
        elif kind == "INVALID":
            self._inbox.put(("invalid", line.partition(" ")[2]))

    def _fail(self, why: str) -> None:
        if self._failure is None:
            received = ", ".join(repr(m) for m in self.received[-10:]) or "nothing"
            self._failure = ScriptFailed(
                f"{why}\nlast messages received: {received}\nscript: "
                + " -> ".join(
                    ("[failed] " if i == self._played else "") + str(step)
                    for i, step in enumerate(self._steps)
                )
            )

    def _next_event(self, step: _Step, waiting_for: str) -> tuple[str, Any]:
        if self._held:
            return self._held.popleft()
        timeout = step.timeout if step.timeout is not None else self.timeout
        try:
            event: tuple[str, Any] = self._inbox.get(timeout=timeout)
            return event
        except eventlet.queue.Empty:
            raise _StepFailed(f"{step}: no {waiting_for} within {timeout} s") from None

    def _wait_connected(self, step: _Step) -> None:
        while not self._connected:
            kind, value = self._next_event(step, "client connection")
            if kind == "connected":
                self._connected = True
            elif kind == "message":
                raise _StepFailed(f"{step}: received {value!r} before the connection step")

    def _wait_client_now(self, step: _Step) -> None:
        """For a step that sends: a client must be connected now, not only when last seen.

        The connection events not read yet are read (a client that left since the
        last step is noticed); messages met on the way are kept for later steps.
        """
        timeout = step.timeout if step.timeout is not None else self.timeout
        deadline = time.monotonic() + timeout
        while not (self._connected and self._server.clients):
            try:
                kind, value = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except eventlet.queue.Empty:
                raise _StepFailed(f"{step}: no client connection within {timeout} s") from None
            if kind == "connected":
                self._connected = True
            elif kind == "disconnected":
                self._connected = False
            else:
                self._held.append((kind, value))

    def _wait_disconnected(self, step: _Step, *, strict: bool) -> None:
        while self._connected:
            kind, value = self._next_event(step, "end of the connection")
            if kind == "disconnected":
                self._connected = False
            elif kind == "message" and strict:
                raise _StepFailed(f"{step}: received {value!r} before the connection ended")

    def _play(self) -> None:
        try:
            while True:
                while self._played == len(self._steps):
                    self._more.wait()
                    self._more = eventlet.event.Event()
                step = self._steps[self._played]
                self._play_step(step)
                self._played += 1
        except _StepFailed as exc:
            self._fail(f"step {self._played + 1} failed: {exc}")
        except Exception as exc:
            self._fail(f"step {self._played + 1} failed: {exc!r}")

    def _play_step(self, step: _Step) -> None:
        server = self._server
        if step.kind == "sleep":
            eventlet.sleep(step.arg)
            return
        self._wait_connected(step)
        if step.kind == "expect":
            while True:
                kind, value = self._next_event(step, "message")
                if kind == "message":
                    if not matches(value, step.arg):
                        raise _StepFailed(f"{step}: received {value!r}, which does not match")
                    self._last = value
                    return
                if kind == "disconnected":
                    self._connected = False
                    raise _StepFailed(f"{step}: the client disconnected instead")
                if kind == "invalid":
                    raise _StepFailed(f"{step}: received a frame that is not JSON ({value})")
        elif step.kind == "send":
            self._wait_client_now(step)
            server.broadcast(step.arg)
        elif step.kind == "reply":
            last = self._last
            if not isinstance(last, Mapping) or self.correlation_field not in last:
                raise _StepFailed(
                    f"{step}: the last expected message {last!r} has no {self.correlation_field!r}"
                )
            self._wait_client_now(step)
            server.broadcast({**step.arg, self.correlation_field: last[self.correlation_field]})
        elif step.kind == "raw":
            self._wait_client_now(step)
            server.broadcast_bytes(step.arg)
        elif step.kind == "close":
            server.close_clients()
            self._wait_disconnected(step, strict=False)
        elif step.kind == "reset":
            server.reset_clients()
            self._wait_disconnected(step, strict=False)
        elif step.kind == "expect_close":
            self._wait_disconnected(step, strict=True)


class _StepFailed(Exception):
    pass


_FAILED_KEY: Final = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Note whether the test did not pass, so that teardown piles no second error on it.

    Not passing: it failed, skipped itself, or is marked ``xfail``.
    """
    report = yield
    if call.when == "call" and (not report.passed or hasattr(report, "wasxfail")):
        item.stash[_FAILED_KEY] = True  # failed, skipped, or expected to fail
    return report


@pytest.fixture
def greenserver(request: pytest.FixtureRequest) -> Iterator[ScriptedServer]:
    """A :class:`ScriptedServer` on 127.0.0.1 (free port), stopped after the test.

    After a test that passed, the fixture waits for the rest of the script and
    reports a step that failed (even if the test never called ``wait()``): a
    script that did not play to the end fails the test. After a test that
    failed, skipped itself or is marked ``xfail``, it stays quiet.
    """
    server = ScriptedServer().start()
    try:
        yield server
        if not request.node.stash.get(_FAILED_KEY, False):
            server.wait()
    finally:
        server.stop()
