"""Fault tests: a server that misbehaves on purpose and an application that is busy.

Each test drives real sockets on 127.0.0.1, over plain TCP and TLS where the
fault concerns both, and bounds every wait itself. The scenarios: close() from
another green thread, a write that fails while the application reads slowly, a
send interrupted by a timeout or a kill, handshakes dropped by the server, a
flood of invalid frames, large frames while the consumer pauses, reconnections
while the queue is full, a handshake trickled byte by byte, close() during
connect(), and a host name that is not valid.
"""

from __future__ import annotations

import _ssl
import contextlib
import enum
import fractions
import json
import logging
import math
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import eventlet.queue
import pytest
import trustme

import greenclient
from greenclient import client as client_module

from .helpers import RawServer, reset, wait_until

psutil = pytest.importorskip("psutil")

MiB = 1024 * 1024
# getattr: the same tests run against older versions, to see them fail there.
DEFAULT_MAX_QUEUE_BYTES = getattr(client_module, "DEFAULT_MAX_QUEUE_BYTES", 4 * MiB)
LOG_BURST = getattr(client_module, "LOG_BURST", 5)
ConnectionLost: type[Exception] = getattr(
    greenclient, "ConnectionLost", type("Missing", (Exception,), {})
)
FAST = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.05, reset_after=0.5)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


class Tls:
    """Server and client TLS settings made from one test CA."""

    def __init__(self, ca: trustme.CA):
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(self.server)
        self.client = ssl.create_default_context()
        ca.configure_trust(self.client)

    def options(self) -> dict[str, Any]:
        return {"ssl_context": self.client, "server_hostname": "localhost"}


@contextlib.contextmanager
def serve(
    handler: Callable[[socket.socket], Any], tls: Tls | None
) -> Iterator[tuple[RawServer, dict[str, Any]]]:
    """A RawServer running ``handler``, behind TLS when ``tls`` is given; and the client options."""
    if tls is None:
        with RawServer(handler) as raw:
            yield raw, {}
        return
    context = tls.server

    def wrapped(sock: socket.socket) -> None:
        tls_sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            tls_sock.do_handshake()
            handler(tls_sock)
        finally:
            tls_sock.close()

    with RawServer(wrapped) as raw:
        yield raw, tls.options()


@pytest.fixture(params=["tcp", "tls"])
def tls(request: pytest.FixtureRequest, ca: trustme.CA) -> Tls | None:
    return Tls(ca) if request.param == "tls" else None


# -- close() from another green thread -------------------------------------------------


def test_close_from_another_green_thread_wakes_every_consumer(
    tls: Tls | None, caplog: pytest.LogCaptureFixture
) -> None:
    def hold(sock: socket.socket) -> None:
        sock.sendall(b'{"hello":1}~')
        eventlet.sleep(30)

    reasons: list[BaseException | None] = []
    with serve(hold, tls) as (raw, options):
        client = greenclient.connect(
            "127.0.0.1", raw.port, on_disconnect=lambda c, r: reasons.append(r), **options
        )
        assert client.get(timeout=5) == {"hello": 1}
        woken: eventlet.queue.Queue[str] = eventlet.queue.Queue()

        def by_get() -> None:
            with contextlib.suppress(greenclient.ConnectionClosed):
                client.get()
                woken.put("message")
            woken.put("get")

        def by_iteration() -> None:
            woken.put(f"iterated {list(client)}")

        for consumer in (by_get, by_get, by_iteration):
            eventlet.spawn_n(consumer)
        eventlet.sleep(0.05)  # all three are blocked now
        eventlet.spawn(client.close).wait()
        got = sorted(woken.get(timeout=5) for _ in range(3))
    assert got == ["get", "get", "iterated []"]
    assert reasons == [None]
    assert client.closed
    assert "listener failed" not in caplog.text


# -- a write that fails while the application reads slowly -----------------------------


@pytest.mark.parametrize("reconnect", [False, True], ids=["once", "reconnect"])
def test_failed_write_ends_the_connection_cleanly(tls: Tls | None, reconnect: bool) -> None:
    count = 300
    connections = 0

    def then_reset(sock: socket.socket) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            sock.sendall(b"".join(b'{"i":%d}~' % i for i in range(count)))
            eventlet.sleep(0.2)
            reset(sock)  # the application has not read most of it yet
        else:
            sock.sendall(b'{"second":1}~')
            eventlet.sleep(30)

    errors: list[greenclient.ProtocolError] = []
    reasons: list[BaseException | None] = []
    with serve(then_reset, tls) as (raw, options):
        client = greenclient.connect(
            "127.0.0.1",
            raw.port,
            codec="bytes",  # ciphertext read as data would show up as messages
            maxsize=1,
            recv_size=64,
            on_error=errors.append,
            on_disconnect=lambda c, r: reasons.append(r),
            reconnect=FAST if reconnect else False,
            **options,
        )
        got = [client.get(timeout=5)]
        eventlet.sleep(0.5)  # the reset has arrived; the listener waits for room
        for _ in range(50):
            try:
                client.send(b"ack")
            except greenclient.ConnectionClosed:
                break
            eventlet.sleep(0.01)
        while True:
            try:
                message = client.get(timeout=5)
            except greenclient.ConnectionClosed:
                break
            if message == b'{"second":1}':
                break
            got.append(message)
        if reconnect:
            assert message == b'{"second":1}'
        client.close()
    assert errors == []
    assert got == [b'{"i":%d}' % i for i in range(len(got))]  # in order, nothing foreign
    assert len(reasons) == 1 if not reconnect else len(reasons) >= 1
    assert isinstance(reasons[0], ConnectionLost)


# -- a send interrupted by a timeout or a kill -----------------------------------------


class FrameCollector:
    """Reads a connection slowly, then splits what it received on ``~``."""

    def __init__(self, delay: float):
        self.delay = delay
        self.frames: eventlet.queue.Queue[bytes] = eventlet.queue.Queue()

    def __call__(self, sock: socket.socket) -> None:
        eventlet.sleep(self.delay)  # meanwhile the client's buffers fill up
        buffer = bytearray()
        start = 0
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return
            buffer += data
            while (end := buffer.find(b"~", start)) >= 0:
                self.frames.put(bytes(buffer[:end]))
                del buffer[: end + 1]
                start = 0
            start = len(buffer)


@pytest.mark.parametrize("interrupt", ["timeout", "kill"])
def test_interrupted_send_never_corrupts_the_next_frame(tls: Tls | None, interrupt: str) -> None:
    big = {"big": "x" * (8 * MiB)}
    collector = FrameCollector(delay=0.5)
    with serve(collector, tls) as (raw, options):
        client = greenclient.connect("127.0.0.1", raw.port, **options)
        # The first big send is interrupted while the server does not read yet.
        if interrupt == "timeout":
            with eventlet.Timeout(0.05, False):
                client.send(big)
        else:
            sender = eventlet.spawn(client.send, big)
            eventlet.sleep(0.05)
            sender.kill()
        # A second one meets a full buffer and is interrupted before any byte of it left.
        with eventlet.Timeout(0.05, False):
            client.send({"cancelled": True})
        client.send({"after": 1})
        frames = [collector.frames.get(timeout=20) for _ in range(2)]
        client.close()
    decoded = [json.loads(frame) for frame in frames]  # every frame whole
    assert [list(message) for message in decoded] == [["big"], ["after"]]


# -- handshakes dropped by the server --------------------------------------------------


@pytest.mark.parametrize("phase", ["connect", "reconnect"])
def test_dropped_tls_handshakes_are_retried(ca: trustme.CA, phase: str) -> None:
    tls = Tls(ca)
    accepted = 0
    dropped = 3

    def drop_some(sock: socket.socket) -> None:
        nonlocal accepted
        accepted += 1
        first_served = phase == "reconnect" and accepted == 1
        if not first_served and accepted <= dropped + (phase == "reconnect"):
            sock.recv(4096)  # the ClientHello
            sock.close()  # EOF in the middle of the handshake
            return
        tls_sock = tls.server.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            tls_sock.do_handshake()
            tls_sock.sendall(b'{"n":%d}~' % accepted)
            if not first_served:
                eventlet.sleep(30)
        finally:
            tls_sock.close()

    policy = greenclient.ReconnectPolicy(
        initial_delay=0.01, max_delay=0.05, max_attempts=50, retry_initial=True
    )
    with RawServer(drop_some) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, reconnect=policy, **tls.options())
        try:
            if phase == "reconnect":
                assert client.get(timeout=5) == {"n": 1}
            assert client.get(timeout=10) == {"n": accepted}
        finally:
            client.close()
    assert accepted == dropped + 1 + (phase == "reconnect")


# -- a flood of invalid frames -------------------------------------------------------------


def test_invalid_flood_lets_other_green_threads_run() -> None:
    # Every rejection costs 20 us of real time here (a slow on_error), so one 64 KiB
    # read of "x~" costs over half a second; the listener must yield within it.
    garbage = b"x~" * 32768

    def flood(sock: socket.socket) -> None:
        eventlet.sleep(0.2)  # the listener waits in recv, then all of it arrives at once
        sock.sendall(garbage + b'{"after":1}~')
        eventlet.sleep(30)

    def slow_on_error(error: greenclient.ProtocolError) -> None:
        end = time.perf_counter() + 20e-6
        while time.perf_counter() < end:
            pass

    ticks = 0

    def ticker() -> None:
        nonlocal ticks
        for _ in range(10_000_000):
            eventlet.sleep(0)
            if 0 < client.stats.decode_errors < 32768:  # in the middle of the flood
                ticks += 1

    with RawServer(flood) as raw:
        client = greenclient.connect(
            "127.0.0.1", raw.port, on_error=slow_on_error, recv_size=len(garbage) + 64
        )
        thread = eventlet.spawn(ticker)
        try:
            assert client.get(timeout=60) == {"after": 1}
        finally:
            thread.kill()
            client.close()
    assert client.stats.decode_errors == 32768
    print(f"ticks of another green thread during the flood: {ticks}")
    # 0.65 s of work arriving in a few reads: yielding only per read gives a handful.
    assert ticks >= 50


def test_default_error_log_is_rate_limited_and_names_the_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def flood(sock: socket.socket) -> None:
        sock.sendall(b"x\x00y~" * 5000 + b'{"after":1}~')
        eventlet.sleep(30)

    caplog.set_level(logging.WARNING, logger="greenclient")
    with RawServer(flood) as raw:
        client = greenclient.connect("127.0.0.1", raw.port)
        assert client.get(timeout=30) == {"after": 1}
        client.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "greenclient"]
    assert client.stats.decode_errors == 5000
    assert len(lines) == LOG_BURST + 1
    assert all(f"127.0.0.1:{raw.port}" in line for line in lines)
    assert "frame of 3 bytes: b'x\\x00y'" in lines[0]
    assert f"{5000 - LOG_BURST} more rejected frame(s) not logged" in lines[-1]
    assert client.stats.log_lines_suppressed == 5000 - LOG_BURST


# -- memory: large frames while the consumer pauses ----------------------------------------


def rss() -> int:
    value: int = psutil.Process().memory_info().rss
    return value


def test_queue_is_bounded_by_bytes_while_the_consumer_pauses() -> None:
    # Just under 1 MiB of "[[],[],...]": each takes ~24 MB once decoded.
    frame = b"[" + b"[]," * (MiB // 3 - 2) + b"[]]~"
    count = 16

    def flood(sock: socket.socket) -> None:
        for _ in range(count):
            sock.sendall(frame)
        sock.sendall(b'{"last":1}~')
        eventlet.sleep(30)

    with RawServer(flood) as raw:
        before = rss()
        client = greenclient.connect("127.0.0.1", raw.port)  # the defaults
        assert wait_until(lambda: client.queue.qsize() >= 2, timeout=30)
        previous = -1
        for _ in range(100):  # the consumer pauses until the listener stops
            eventlet.sleep(0.2)
            if client.stats.messages_received == previous:
                break
            previous = client.stats.messages_received
        held = client.queue.qsize()
        growth = rss() - before
        messages = [client.get(timeout=30) for _ in range(count + 1)]
        client.close()
    print(f"held {held} frames of {len(frame)} bytes; RSS grew {growth / MiB:.0f} MiB")
    assert messages[-1] == {"last": 1}
    assert held <= DEFAULT_MAX_QUEUE_BYTES // len(frame) + 2
    assert growth < 256 * MiB


# -- reconnections while the queue is full ----------------------------------------------------


def test_events_never_enlarge_the_queue_for_good() -> None:
    def drop(sock: socket.socket) -> None:
        sock.close()

    with RawServer(drop) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, events=True, maxsize=4, reconnect=FAST)
        assert wait_until(lambda: client.stats.disconnects >= 30, timeout=30)
        client.close()
    assert client.queue.maxsize == 4
    items = []
    while client.queue.qsize():
        items.append(client.queue.get_nowait())
    assert items[-1] is greenclient.END
    assert len(items) == 1 + client.stats.connects + client.stats.disconnects
    assert not client.queue.full()


# -- the handshake trickled byte by byte, and close() meanwhile ---------------------------------


def trickler(seconds: float, state: dict[str, bool]) -> Callable[[socket.socket], None]:
    """A server that announces a TLS record and sends it one byte every 50 ms."""

    def trickle(sock: socket.socket) -> None:
        state["trickling"] = True
        try:
            sock.recv(65536)  # the ClientHello
            sock.sendall(b"\x16\x03\x03\x40\x00")  # a 16 KiB handshake record follows
            for _ in range(int(seconds / 0.05)):
                eventlet.sleep(0.05)
                sock.sendall(b"\x00")
        finally:
            state["trickling"] = False
            sock.close()

    return trickle


def test_connect_timeout_bounds_the_whole_tls_handshake(ca: trustme.CA) -> None:
    state: dict[str, bool] = {}
    with RawServer(trickler(5.0, state)) as raw:
        with pytest.raises(greenclient.ConnectError, match="timed out") as info:
            greenclient.connect("127.0.0.1", raw.port, connect_timeout=0.5, **Tls(ca).options())
        assert state["trickling"]  # the server was still sending when connect() gave up
    assert info.value.retryable


def test_close_during_connect_raises_connection_closed_at_once(ca: trustme.CA) -> None:
    state: dict[str, bool] = {}
    with RawServer(trickler(20.0, state)) as raw:
        client = greenclient.GreenClient(
            "127.0.0.1", raw.port, connect_timeout=30, **Tls(ca).options()
        )
        closer = eventlet.spawn_after(0.2, client.close)
        with pytest.raises(greenclient.ConnectionClosed, match="while connecting"):
            client.connect()
        assert state["trickling"]  # connect() did not wait for the server to give up
        closer.wait()
    assert client.closed
    assert client.queue.get(timeout=1) is greenclient.END


# -- a host name that is not valid -------------------------------------------------------------


@pytest.mark.parametrize("host", ["a..b", "x" * 300])
def test_invalid_host_name_is_a_final_connect_error(host: str) -> None:
    with pytest.raises(greenclient.ConnectError, match="invalid host name") as info:
        greenclient.connect(host, 1, reconnect=greenclient.ReconnectPolicy(retry_initial=True))
    assert not info.value.retryable


# -- how a connection ends: reset or clean close, TCP and TLS ---------------------------


def test_a_reset_is_reported_as_connection_lost(tls: Tls | None) -> None:
    def half_then_reset(sock: socket.socket) -> None:
        sock.sendall(b'{"a":1}~{"b":')
        eventlet.sleep(0.2)
        reset(sock)

    errors: list[greenclient.ProtocolError] = []
    reasons: list[BaseException | None] = []
    with serve(half_then_reset, tls) as (raw, options):
        client = greenclient.connect(
            "127.0.0.1",
            raw.port,
            on_error=errors.append,
            on_disconnect=lambda c, r: reasons.append(r),
            **options,
        )
        assert client.get(timeout=5) == {"a": 1}
        with pytest.raises(greenclient.ConnectionClosed) as info:
            client.get(timeout=5)
        client.close()
    assert len(reasons) == 1
    assert isinstance(reasons[0], ConnectionLost), reasons
    assert info.value.reason is reasons[0]
    assert [type(e) for e in errors] == [greenclient.PartialFrame]


def test_a_clean_tls_close_is_a_clean_end(ca: trustme.CA) -> None:
    def then_close_notify(sock: socket.socket) -> None:
        sock.sendall(b'{"a":1}~')
        assert isinstance(sock, ssl.SSLSocket)
        with contextlib.suppress(OSError, ValueError):
            sock.unwrap()  # TLS close_notify, then the FIN

    reasons: list[BaseException | None] = []
    with serve(then_close_notify, Tls(ca)) as (raw, options):
        client = greenclient.connect(
            "127.0.0.1", raw.port, on_disconnect=lambda c, r: reasons.append(r), **options
        )
        assert client.get(timeout=5) == {"a": 1}
        with pytest.raises(greenclient.ConnectionClosed) as info:
            client.get(timeout=5)
    assert reasons == [None]
    assert info.value.reason is None


# -- flush() across connections ---------------------------------------------------------


def test_flush_reports_frames_lost_with_an_earlier_connection(tls: Tls | None) -> None:
    connections = 0
    second = eventlet.queue.Queue()

    def never_read_then_reset(sock: socket.socket) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            eventlet.sleep(1.0)  # reads nothing while the client sends
            reset(sock)
        else:
            data = b""
            deadline = time.monotonic() + 10
            while b"~" not in data and time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            second.put(data)
            eventlet.sleep(10)

    frame = {"pad": "x" * 200_000}
    with serve(never_read_then_reset, tls) as (raw, options):
        client = greenclient.connect(
            "127.0.0.1",
            raw.port,
            reconnect=FAST,
            send_buffer_size=64 * MiB,
            events=True,
            **options,
        )
        assert isinstance(client.get(timeout=5), greenclient.Connected)
        for _ in range(40):
            client.send(frame)  # queued: the server reads none of it
        assert isinstance(client.get(timeout=10), greenclient.Disconnected)
        assert isinstance(client.get(timeout=10), greenclient.Connected)
        with pytest.raises(greenclient.ConnectionClosed, match="not written"):
            client.flush(5)
        assert client.stats.frames_unsent + client.stats.frames_failed == 40
        assert client.stats.messages_sent < 40
        client.send({"after": 1})
        client.flush(5)  # the loss was reported once; this frame went out
        assert second.get(timeout=10) == b'{"after":1}~'
        client.close()


@pytest.mark.parametrize("port", [0, 65536, 65536 + 8000, -1])
def test_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        greenclient.GreenClient("127.0.0.1", port)


@pytest.mark.parametrize("host", [123, b"127.0.0.1", None, ("127.0.0.1", 8000)])
def test_a_host_that_is_no_str_is_refused_at_construction(host: object) -> None:
    with pytest.raises(TypeError, match="host must be a str"):
        greenclient.GreenClient(host, 8000)  # type: ignore[call-overload]


def test_a_slow_on_connect_never_sends_on_the_next_connection() -> None:
    connections = 0
    received: eventlet.queue.Queue[bytes] = eventlet.queue.Queue()

    def drop_first(sock: socket.socket) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            eventlet.sleep(0.1)  # ends while the first on_connect still runs
            sock.close()
            return
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"~") < 2 and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        received.put(data)
        eventlet.sleep(10)

    calls: list[int] = []
    outcomes: list[tuple[int, str]] = []

    def on_connect(client: greenclient.GreenClient) -> None:
        calls.append(len(calls) + 1)
        nth = calls[-1]
        if nth == 1:
            eventlet.sleep(0.6)
        try:
            client.send({"hello": nth})
            outcomes.append((nth, "sent"))
        except greenclient.ConnectionClosed:
            outcomes.append((nth, "refused"))

    with RawServer(drop_first) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, reconnect=FAST, on_connect=on_connect)
        assert wait_until(lambda: len(outcomes) == 2, 10), outcomes
        client.send({"after": 1})
        data = received.get(timeout=10)
        client.close()
    assert sorted(outcomes) == [(1, "refused"), (2, "sent")]
    assert data == b'{"hello":2}~{"after":1}~'


class _FramerWithoutForbidden:
    """Has the methods of a framer, not its ``forbidden`` attribute."""

    def feed(self, data: bytes) -> list[bytes]:
        return []

    def feed_eof(self) -> list[bytes]:
        return []

    def frame(self, payload: bytes) -> bytes:
        return payload


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"read_idle_timeout": 0}, ValueError, "read_idle_timeout"),
        ({"read_idle_timeout": -1}, ValueError, "read_idle_timeout"),
        ({"read_idle_timeout": float("nan")}, ValueError, "read_idle_timeout"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout"),
        ({"connect_timeout": "5"}, TypeError, "connect_timeout"),
        ({"send_timeout": -1}, ValueError, "send_timeout"),
        ({"send_timeout": float("inf")}, ValueError, "send_timeout"),
        ({"delimiter": 5}, TypeError, "delimiter"),
        ({"recv_size": 1.5}, TypeError, "recv_size"),
        ({"maxsize": 1.5}, TypeError, "maxsize"),
        ({"maxsize": 0}, ValueError, "maxsize"),
        ({"max_queue_bytes": 0}, ValueError, "max_queue_bytes"),
        ({"max_frame_size": 2.0}, TypeError, "max_frame_size"),
        ({"concurrency": 1.5}, TypeError, "concurrency"),
        ({"send_buffer_size": True}, TypeError, "send_buffer_size"),
        ({"reconnect": 1}, TypeError, "reconnect"),
        ({"reconnect": "yes"}, TypeError, "reconnect"),
        ({"keepalive": True}, TypeError, "keepalive"),
        ({"ssl_context": "ctx"}, TypeError, "ssl_context"),
        ({"server_hostname": b"x"}, TypeError, "server_hostname"),
        ({"on_error": 5}, TypeError, "on_error"),
        ({"on_connect": "x"}, TypeError, "on_connect"),
        ({"on_disconnect": 1}, TypeError, "on_disconnect"),
        ({"type_field": 5}, TypeError, "type_field"),
        ({"correlation_field": None}, TypeError, "correlation_field"),
        ({"correlation_field": ""}, ValueError, "correlation_field"),
        ({"codec": 5}, TypeError, "codec"),
        ({"codec": object()}, TypeError, "decode_frames"),
        ({"framing": 5}, TypeError, "framing"),
        ({"events": "no"}, TypeError, "events"),
        ({"framing": greenclient.DelimiterFramer}, TypeError, "an instance, not the class"),
        ({"framing": _FramerWithoutForbidden()}, TypeError, "forbidden"),
        ({"connect_timeout": 10**400}, ValueError, "connect_timeout"),
        ({"yield_every": "no"}, TypeError, "yield_every"),
    ],
)
def test_a_wrong_argument_is_refused_at_construction(
    options: dict[str, Any], error: type[Exception], text: str
) -> None:
    # The README: only a wrong argument raises TypeError or ValueError, at construction;
    # not later, in the listener, as a reconnect storm or a "listener failed".
    with pytest.raises(error, match=text):
        greenclient.GreenClient("127.0.0.1", 8000, **options)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_elapsed": -1}, ValueError),
        ({"reset_after": -1}, ValueError),
        ({"initial_delay": float("nan")}, ValueError),
        ({"multiplier": 0.5}, ValueError),
        ({"max_attempts": -1}, ValueError),
        ({"max_attempts": 2.5}, TypeError),
        ({"max_delay": "30"}, TypeError),
        ({"max_delay": math.inf}, ValueError),
        ({"max_delay": 10**400}, ValueError),
        ({"seed": bytearray(b"x")}, TypeError),
    ],
)
def test_a_wrong_reconnect_policy_is_refused(
    options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match=next(iter(options))):
        greenclient.ReconnectPolicy(**options)


@pytest.mark.parametrize(
    "settings", [{"idle": 0}, {"interval": -1}, {"count": 1.5}, {"idle": 2**31}, {"count": 128}]
)
def test_wrong_keepalive_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError), match=next(iter(settings))):
        greenclient.KeepAlive(**settings)


def test_an_ssl_context_made_before_the_monkey_patch_is_refused_with_the_reason() -> None:
    # What ssl.create_default_context() gives when called before `import greenclient`:
    # an SSLContext of the unpatched module, which eventlet cannot use.
    unpatched = _ssl._SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError, match="before eventlet's monkey patch"):
        greenclient.GreenClient("127.0.0.1", 8000, ssl_context=unpatched)  # type: ignore[call-overload]


class Size(enum.IntEnum):
    SMALL = 100


def test_whole_numbers_and_seconds_of_other_types_are_taken_for_their_value() -> None:
    client = greenclient.GreenClient(  # type: ignore[call-overload]
        "127.0.0.1",
        Size.SMALL + 8000,
        maxsize=Size.SMALL,
        connect_timeout=fractions.Fraction(3, 2),
        reconnect=None,
    )
    assert client.queue.maxsize == 100
    assert type(client.queue.maxsize) is int
    assert client._connect_timeout == 1.5
    assert client.policy is None
    client.close()
    policy = greenclient.ReconnectPolicy(max_elapsed=math.inf, reset_after=math.inf, seed="abc")
    assert policy.delay(1000, random.Random(1)) >= 0
    # A huge multiplier reaches the cap instead of overflowing.
    huge = greenclient.ReconnectPolicy(multiplier=1e100, max_delay=30)
    assert all(0 <= huge.delay(n, random.Random(n)) <= 30 for n in range(70))


def test_the_edge_values_of_the_arguments_are_accepted() -> None:
    client = greenclient.GreenClient(
        "127.0.0.1",
        65535,
        send_timeout=0,
        connect_timeout=None,
        read_idle_timeout=0.5,
        delimiter="|",
        reconnect=greenclient.ReconnectPolicy(max_attempts=0, max_elapsed=0, initial_delay=0),
        keepalive=None,
        on_error=print,
        maxsize=1,
        concurrency=1,
    )
    assert isinstance(client.protocol.framer, greenclient.DelimiterFramer)
    assert client.protocol.framer.delimiter == b"|"
    client.close()
