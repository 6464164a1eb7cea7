"""Reconnect with backoff, connection events, sends during an outage, liveness."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator
from typing import Any

import eventlet
import eventlet.queue
import pytest

import greenclient
from greenclient.server import ReferenceServer

from .helpers import RawServer, free_port, reset, wait_until

FAST = greenclient.ReconnectPolicy(initial_delay=0.02, max_delay=0.1, reset_after=0.5)


def drain_events(client: greenclient.GreenClient, count: int) -> list[Any]:
    return [client.queue.get(timeout=5) for _ in range(count)]


def test_server_restart_reconnects_and_on_connect_resends_hello() -> None:
    port = free_port()
    hellos: list[str] = []

    def hello(client: greenclient.GreenClient) -> None:
        hellos.append("hello")
        client.send({"hello": len(hellos)})

    first = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=FAST, on_connect=hello, events=True)
    try:
        assert first.received.get(timeout=5) == {"hello": 1}
        first.broadcast({"from": "first"})
        assert drain_events(client, 2) == [
            greenclient.Connected("127.0.0.1", port, reconnect=False),
            {"from": "first"},
        ]
        first.stop()
        disconnected = client.queue.get(timeout=5)
        assert isinstance(disconnected, greenclient.Disconnected)
        assert disconnected.will_reconnect
        with ReferenceServer("127.0.0.1", port) as second:
            assert second.received.get(timeout=5) == {"hello": 2}
            assert client.queue.get(timeout=5) == greenclient.Connected("127.0.0.1", port, True)
            second.broadcast({"from": "second"})
            assert client.get(timeout=5) == {"from": "second"}
            assert client.stats.reconnects == 1
            assert client.stats.connects == 2
            assert client.state is greenclient.ConnectionState.OPEN
    finally:
        client.close()


def test_backoff_grows_while_connections_drop_at_once_and_resets_after_uptime() -> None:
    # A server that accepts and drops at once: every connection "succeeds", so a
    # delay that reset on each successful connect would never grow.
    policy = greenclient.ReconnectPolicy(
        initial_delay=0.01, max_delay=0.16, multiplier=2.0, reset_after=30.0, seed=7
    )

    def drop(sock: socket.socket) -> None:
        sock.close()

    with RawServer(drop) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, reconnect=policy)
        assert wait_until(lambda: len(client.reconnect_delays) >= 6, timeout=10)
        client.close()
    rng = random.Random(7)
    expected = [policy.delay(i, rng) for i in range(6)]
    assert client.reconnect_delays[:6] == pytest.approx(expected)
    caps = [min(0.16, 0.01 * 2**i) for i in range(6)]
    assert all(d <= cap for d, cap in zip(client.reconnect_delays, caps, strict=False))

    # The same server with reset_after=0: each connection counts as having stayed
    # up long enough, so every delay is drawn from the first, smallest range.
    short = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.16, reset_after=0.0, seed=7)
    with RawServer(drop) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, reconnect=short)
        assert wait_until(lambda: len(client.reconnect_delays) >= 6, timeout=10)
        client.close()
    assert all(d <= 0.01 for d in client.reconnect_delays)


def test_close_stops_every_retry_at_once() -> None:
    port = free_port()
    slow = greenclient.ReconnectPolicy(initial_delay=5.0, max_delay=5.0, retry_initial=True)
    server = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=slow)
    server.stop()
    assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
    client.close()
    assert client.closed
    with pytest.raises(greenclient.ConnectionClosed):
        client.get(timeout=1)
    # Nothing connects any more, even once a server is back.
    with RawServer(port=port) as raw:
        eventlet.sleep(0.3)
        assert raw.connections.qsize() == 0


def test_gives_up_after_max_attempts_and_wakes_consumers() -> None:
    port = free_port()
    policy = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3)
    server = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=policy)
    outcome: eventlet.queue.Queue[BaseException] = eventlet.queue.Queue()

    def consume() -> None:
        try:
            client.get()
        except greenclient.ConnectionClosed as exc:
            outcome.put(exc)

    eventlet.spawn_n(consume)
    server.stop()
    closed = outcome.get(timeout=10)
    assert isinstance(closed, greenclient.ConnectionClosed)
    assert isinstance(closed.reason, greenclient.ConnectError)
    assert len(client.reconnect_delays) == 3
    assert client.closed


def test_max_elapsed_bounds_the_retrying() -> None:
    port = free_port()
    policy = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.02, max_elapsed=0.3)
    server = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=policy)
    server.stop()
    assert wait_until(lambda: client.closed, timeout=10)
    assert isinstance(client.close_reason, greenclient.ConnectError)
    assert len(client.reconnect_delays) >= 3


def test_retry_initial_waits_for_a_late_server() -> None:
    port = free_port()
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1, retry_initial=True)
    started: list[ReferenceServer] = []

    def start_later() -> None:
        eventlet.sleep(0.3)
        started.append(ReferenceServer("127.0.0.1", port).start())

    eventlet.spawn_n(start_later)
    client = greenclient.connect("127.0.0.1", port, reconnect=policy)
    try:
        assert client.state is greenclient.ConnectionState.OPEN
        assert started
        assert client.reconnect_delays  # it did have to wait
    finally:
        client.close()
        for srv in started:
            srv.stop()


def test_without_retry_initial_connect_fails_at_once() -> None:
    port = free_port()
    with pytest.raises(greenclient.ConnectError):
        greenclient.connect("127.0.0.1", port, reconnect=True)


def test_send_during_outage_waits_and_goes_after_on_connect() -> None:
    port = free_port()

    def hello(client: greenclient.GreenClient) -> None:
        client.send({"hello": True})

    first = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=FAST, on_connect=hello)
    try:
        assert first.received.get(timeout=5) == {"hello": True}
        first.stop()
        assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
        sent: eventlet.queue.Queue[str] = eventlet.queue.Queue()

        def send() -> None:
            client.send({"during": "outage"})
            sent.put("sent")

        eventlet.spawn_n(send)
        eventlet.sleep(0.1)
        assert sent.qsize() == 0  # still waiting for a connection
        with ReferenceServer("127.0.0.1", port) as second:
            assert sent.get(timeout=5) == "sent"
            got = [second.received.get(timeout=5), second.received.get(timeout=5)]
            assert got == [{"hello": True}, {"during": "outage"}]
    finally:
        client.close()


def test_send_timeout_raises_when_no_connection_comes() -> None:
    port = free_port()
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    server = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=policy, send_timeout=0.2)
    try:
        server.stop()
        assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
        with pytest.raises(greenclient.SendTimeout):
            client.send({"lost": False})
        assert client.stats.messages_sent == 0
    finally:
        client.close()


def test_close_wakes_a_sender_waiting_for_the_connection() -> None:
    port = free_port()
    server = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=FAST)
    server.stop()
    assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
    outcome: eventlet.queue.Queue[str] = eventlet.queue.Queue()

    def send() -> None:
        try:
            client.send({"x": 1})
            outcome.put("sent")
        except greenclient.ConnectionClosed:
            outcome.put("closed")

    eventlet.spawn_n(send)
    eventlet.sleep(0.05)
    client.close()
    assert outcome.get(timeout=5) == "closed"


def test_read_idle_timeout_drops_a_silent_connection_and_reconnects() -> None:
    def silent(sock: socket.socket) -> None:
        eventlet.sleep(10)

    with RawServer(silent) as raw:
        client = greenclient.connect(
            "127.0.0.1", raw.port, read_idle_timeout=0.2, reconnect=FAST, events=True
        )
        try:
            events = drain_events(client, 3)
            assert isinstance(events[0], greenclient.Connected)
            assert isinstance(events[1], greenclient.Disconnected)
            assert isinstance(events[1].reason, greenclient.ReadIdleTimeout)
            assert events[2] == greenclient.Connected("127.0.0.1", raw.port, reconnect=True)
        finally:
            client.close()


def test_read_idle_timeout_without_reconnect_ends_the_stream() -> None:
    def silent(sock: socket.socket) -> None:
        eventlet.sleep(10)

    with RawServer(silent) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, read_idle_timeout=0.2)
        with pytest.raises(greenclient.ConnectionClosed) as info:
            client.get(timeout=5)
        assert isinstance(info.value.reason, greenclient.ReadIdleTimeout)


def test_reset_connection_is_reported_and_reconnected() -> None:
    connections = 0

    def message_then_reset(sock: socket.socket) -> None:
        nonlocal connections
        connections += 1
        sock.sendall(b'{"n":%d}~' % connections)
        eventlet.sleep(0.05)
        reset(sock)

    disconnects: list[BaseException | None] = []
    with RawServer(message_then_reset) as raw:
        client = greenclient.connect(
            "127.0.0.1",
            raw.port,
            reconnect=FAST,
            on_disconnect=lambda c, reason: disconnects.append(reason),
        )
        try:
            assert [client.get(timeout=5), client.get(timeout=5)] == [{"n": 1}, {"n": 2}]
            assert isinstance(disconnects[0], greenclient.ConnectionLost)
            assert isinstance(disconnects[0].__cause__, ConnectionResetError)
            assert client.stats.reconnects >= 1
        finally:
            client.close()


def test_on_connect_failure_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    def broken(client: greenclient.GreenClient) -> None:
        raise RuntimeError("hello failed")

    with (
        ReferenceServer() as server,
        greenclient.connect("127.0.0.1", server.port, on_connect=broken) as client,
    ):
        client.send({"still": "works"})
        assert server.received.get(timeout=5) == {"still": "works"}
        assert client.stats.callback_errors == 1
    assert "hello failed" in caplog.text


def test_unresolvable_name_is_not_retryable_but_a_refusal_is() -> None:
    # Checked on the mapping itself: the tests make no DNS queries.
    from greenclient.transport import map_error

    unknown = socket.gaierror(socket.EAI_NONAME, "Name unknown")
    no_name = map_error(unknown, "x.invalid", 1, "connect")
    assert isinstance(no_name, greenclient.ConnectError)
    assert not no_name.retryable
    assert "cannot resolve" in str(no_name)
    again = map_error(socket.gaierror(socket.EAI_AGAIN, "Try again"), "x.invalid", 1, "connect")
    assert isinstance(again, greenclient.ConnectError)
    assert again.retryable
    refused = map_error(ConnectionRefusedError(), "127.0.0.1", 1, "connect")
    assert isinstance(refused, greenclient.ConnectError)
    assert refused.retryable


def test_sender_racing_a_disconnect_waits_instead_of_spinning() -> None:
    # A send() that comes while the listener is closing the old socket must wait
    # for the new connection. Spinning there would block the hub until the
    # send_timeout expired, so a SendTimeout here means the hub was starved.
    port = free_port()
    server = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=FAST, send_timeout=5)
    failures: list[str] = []

    def sender() -> None:
        for i in range(2000):
            try:
                client.send({"i": i})
            except greenclient.GreenClientError as exc:
                failures.append(type(exc).__name__)
            eventlet.sleep(0)

    thread = eventlet.spawn(sender)
    try:
        eventlet.sleep(0.01)
        server.stop()
        with ReferenceServer("127.0.0.1", port):
            thread.wait()
            assert "SendTimeout" not in failures
            assert client.stats.reconnects == 1
    finally:
        client.close()


def senders_in_call_order(client: greenclient.GreenClient, count: int) -> list[int]:
    """Start ``count`` green threads, one after the other, each sending ``{"k": i}``."""
    called: list[int] = []

    def sender(k: int) -> None:
        called.append(k)
        client.send({"k": k})

    for k in range(count):
        eventlet.spawn_n(sender, k)
        eventlet.sleep(0.001)  # sender k has called send() and waits
    return called


@contextlib.contextmanager
def in_an_outage() -> Iterator[tuple[greenclient.GreenClient, int]]:
    """A client whose server went away: it is reconnecting to ``port``; closed after."""
    port = free_port()
    first = ReferenceServer("127.0.0.1", port).start()
    client = greenclient.connect("127.0.0.1", port, reconnect=FAST)
    try:
        first.stop()
        assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
        yield client, port
    finally:
        client.close()


def test_senders_waiting_through_an_outage_go_out_in_call_order() -> None:
    with in_an_outage() as (client, port):
        called = senders_in_call_order(client, 30)
        assert client.stats.messages_sent == 0
        with ReferenceServer("127.0.0.1", port) as second:
            got = [second.received.get(timeout=5)["k"] for _ in range(30)]
        assert called == list(range(30))
        assert got == called


def test_senders_waiting_for_on_connect_go_out_in_call_order() -> None:
    with ReferenceServer() as server:
        client = greenclient.connect(
            "127.0.0.1", server.port, on_connect=lambda c: eventlet.sleep(0.2)
        )
        try:
            called = senders_in_call_order(client, 30)
            got = [server.received.get(timeout=5)["k"] for _ in range(30)]
            assert got == called == list(range(30))
        finally:
            client.close()


def test_a_sender_that_gives_up_does_not_hold_up_the_others() -> None:
    with in_an_outage() as (client, port):
        outcomes: list[str] = []

        def impatient() -> None:
            try:
                with eventlet.Timeout(0.1):
                    client.send({"k": "impatient"})
            except eventlet.Timeout:
                outcomes.append("gave up")

        eventlet.spawn_n(impatient)
        eventlet.sleep(0.01)
        called = senders_in_call_order(client, 5)
        eventlet.sleep(0.2)
        assert outcomes == ["gave up"]
        with ReferenceServer("127.0.0.1", port) as second:
            got = [second.received.get(timeout=5)["k"] for _ in range(5)]
            eventlet.sleep(0.1)
            assert second.received.qsize() == 0
        assert got == called
