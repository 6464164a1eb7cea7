"""The client's life at its edges: close() from anywhere, callbacks that send, failed sends.

Each test reproduces a sequence of green-thread switches that once went wrong.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
from typing import Any

import eventlet
import pytest
import trustme

import greenclient
from greenclient.server import ReferenceServer

from .helpers import RawServer, free_port, wait_until

FAST = greenclient.ReconnectPolicy(initial_delay=0.02, max_delay=0.1, reset_after=0.5)


def drain(client: greenclient.GreenClient) -> list[Any]:
    items = []
    while client.queue.qsize():
        items.append(client.queue.get_nowait())
    return items


def test_close_from_another_green_thread_reports_the_disconnect_once() -> None:
    seen: list[BaseException | None] = []
    with ReferenceServer() as server:
        client = greenclient.connect(
            "127.0.0.1", server.port, events=True, on_disconnect=lambda c, r: seen.append(r)
        )
        assert isinstance(client.queue.get(timeout=5), greenclient.Connected)
        eventlet.sleep(0.05)
        client.close()
        eventlet.sleep(0.1)
        client.close()
        items = drain(client)
    assert seen == [None]
    assert items == [greenclient.Disconnected(None, will_reconnect=False), greenclient.END]
    assert client.stats.disconnects == 1


def test_close_after_the_end_puts_no_second_end() -> None:
    with ReferenceServer() as server:
        client = greenclient.connect("127.0.0.1", server.port)
        assert server.wait_for_clients(1, 5)
        server.close_clients()
        assert wait_until(lambda: client.closed)
        client.close()
        assert drain(client) == [greenclient.END]


def test_close_while_connect_is_in_progress_wins() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    def slow_handshake(sock: socket.socket) -> None:
        eventlet.sleep(0.3)  # the client sits in do_handshake() meanwhile
        tls = server_context.wrap_socket(sock, server_side=True)
        try:
            tls.sendall(b'{"after":"close"}~')
            eventlet.sleep(3)
        finally:
            tls.close()

    with RawServer(slow_handshake) as raw:
        client = greenclient.GreenClient(
            "127.0.0.1", raw.port, ssl_context=client_context, server_hostname="localhost"
        )
        closer = eventlet.spawn_after(0.1, client.close)
        with pytest.raises(greenclient.ConnectionClosed, match="while connecting"):
            client.connect()
        closer.wait()
        assert client.closed
        assert drain(client) == [greenclient.END]


def test_send_from_on_disconnect_fails_instead_of_hanging() -> None:
    log: list[str] = []

    def on_disconnect(client: greenclient.GreenClient, reason: object) -> None:
        try:
            client.send({"bye": 1})
        except greenclient.ConnectionClosed:
            log.append("ConnectionClosed")

    with ReferenceServer() as server:
        client = greenclient.connect("127.0.0.1", server.port, on_disconnect=on_disconnect)
        assert server.wait_for_clients(1, 5)
        server.close_clients()
        with pytest.raises(greenclient.ConnectionClosed):
            client.get(timeout=5)
    assert log == ["ConnectionClosed"]


def test_send_from_on_error_at_end_of_stream_fails_instead_of_hanging() -> None:
    def cut(sock: socket.socket) -> None:
        sock.sendall(b'{"cut":')
        sock.shutdown(socket.SHUT_RDWR)

    failures: list[str] = []

    def on_error(error: greenclient.ProtocolError) -> None:
        try:
            client.send({"error": str(error)})
        except greenclient.ConnectionClosed:
            failures.append("ConnectionClosed")

    with RawServer(cut) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, on_error=on_error)
        with pytest.raises(greenclient.ConnectionClosed):
            client.get(timeout=5)
    assert failures == ["ConnectionClosed"]


def test_close_from_on_disconnect_stops_reconnecting_cleanly() -> None:
    with ReferenceServer() as server:
        client = greenclient.connect(
            "127.0.0.1",
            server.port,
            reconnect=FAST,
            on_disconnect=lambda c, reason: c.close(),
        )
        assert server.wait_for_clients(1, 5)
        server.close_clients()
        assert wait_until(lambda: client.closed)
        assert client.close_reason is None
        assert client.stats.reconnects == 0


def test_on_connect_that_sends_a_lot_to_an_echoing_server_does_not_deadlock() -> None:
    # The listener reads while on_connect still sends, so the echoes never fill
    # both directions' buffers.
    count, payload = 1000, "x" * 10_000
    done: list[int] = []

    def hello(client: greenclient.GreenClient) -> None:
        for i in range(count):
            client.send({"i": i, "p": payload})
        done.append(count)

    with ReferenceServer(echo=True) as server:
        client = greenclient.connect("127.0.0.1", server.port, on_connect=hello)
        try:
            echoed = [client.get(timeout=30)["i"] for _ in range(count)]
            assert echoed == list(range(count))
            assert wait_until(lambda: done == [count], timeout=30)
        finally:
            client.close()


def test_max_elapsed_bounds_the_backoff_sleep_too() -> None:
    port = free_port()
    policy = greenclient.ReconnectPolicy(
        initial_delay=3.0, max_delay=3.0, max_elapsed=0.2, retry_initial=True, seed=7
    )
    client = greenclient.GreenClient("127.0.0.1", port, reconnect=policy)
    with pytest.raises(greenclient.ConnectError):
        client.connect()
    # (tests/test_backoff.py checks the cap itself with a fake clock)
    assert client.reconnect_delays
    assert all(d <= 0.2 for d in client.reconnect_delays)


def test_failed_send_keeps_what_tcp_already_delivered() -> None:
    data = b"".join(b'{"i":%d}~' % i for i in range(10))

    def send_then_close(sock: socket.socket) -> None:
        sock.sendall(data)
        sock.close()  # FIN; the client's later writes get an RST

    with RawServer(send_then_close) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, maxsize=1, recv_size=16)
        got: list[int] = []
        for message in client:
            got.append(message["i"])
            eventlet.sleep(0.05)
            with contextlib.suppress(greenclient.ConnectionClosed):
                client.send({"ack": message["i"]})
    assert got == list(range(10))


def test_sends_after_a_failed_write_fail_and_yield() -> None:
    # The listener is blocked on a full queue, so it has not ended the connection
    # yet; once the writer has failed, every send fails at once, and each failure
    # yields, so a caller retrying in a loop cannot starve other green threads.
    def two_then_close(sock: socket.socket) -> None:
        sock.sendall(b'{"i":0}~{"i":1}~')
        sock.close()

    ticks = 0

    def ticker() -> None:
        nonlocal ticks
        for _ in range(10_000):
            ticks += 1
            eventlet.sleep(0)

    with RawServer(two_then_close) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, maxsize=1)
        assert wait_until(client.queue.full)
        eventlet.sleep(0.1)  # the peer has closed
        thread = eventlet.spawn(ticker)
        failures = 0
        for _ in range(200):
            try:
                client.send({"retry": True})
            except greenclient.ConnectionClosed:
                failures += 1
            eventlet.sleep(0.001)
        thread.kill()
        assert [client.get(timeout=5), client.get(timeout=5)] == [{"i": 0}, {"i": 1}]
        with pytest.raises(greenclient.ConnectionClosed) as info:
            client.get(timeout=5)
        client.close()
    assert failures >= 100
    assert ticks >= 100
    assert isinstance(info.value.reason, greenclient.ConnectionLost)


def bad_frame_between_two_messages(sock: socket.socket) -> None:
    sock.sendall(b'{"a":1}~bad~{"b":2}~')
    eventlet.sleep(10)


def test_close_during_on_error_with_a_full_queue_ends_the_connection() -> None:
    # The queue holds one message and nobody reads it: after on_error returns,
    # the listener must not go on to wait for room for {"b":2}.
    def slow_on_error(error: greenclient.ProtocolError) -> None:
        eventlet.sleep(0.2)  # close() comes meanwhile

    ended: list[BaseException | None] = []
    with RawServer(bad_frame_between_two_messages) as raw:
        client = greenclient.connect(
            "127.0.0.1",
            raw.port,
            maxsize=1,
            on_error=slow_on_error,
            on_disconnect=lambda c, reason: ended.append(reason),
        )
        assert wait_until(lambda: client.stats.decode_errors == 1)
        client.close()
        assert wait_until(lambda: client.closed, timeout=5)
        assert ended == [None]
        # What was on the queue before close() is still there; nothing after it.
        assert drain(client) == [{"a": 1}, greenclient.END]


def test_close_from_on_error_stops_the_listener_when_it_returns() -> None:
    calls: list[greenclient.ProtocolError] = []

    def give_up(error: greenclient.ProtocolError) -> None:
        calls.append(error)
        client.close()

    def flood(sock: socket.socket) -> None:
        sock.sendall(b"bad~" * 1000 + b'{"after":1}~')
        eventlet.sleep(10)

    with RawServer(flood) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, on_error=give_up)
        assert wait_until(lambda: client.closed, timeout=5)
        assert len(calls) == 1
        assert drain(client) == [greenclient.END]


SYSTEM_EXIT_IN_ON_ERROR = """
import os, sys
import greenclient
from greenclient.server import ReferenceServer

def leave(error):
    raise SystemExit(3)

server = ReferenceServer("127.0.0.1", 0).start()
client = greenclient.connect("127.0.0.1", server.port, on_error=leave)
server.wait_for_clients(1, 10)
server.broadcast_bytes(b"bad~")
try:
    for message in client:
        pass
    print("the loop ended", flush=True)
except SystemExit as exc:
    print("main got SystemExit", exc.code, "closed" if client.closed else "open", flush=True)
os._exit(0)  # the exception went through the hub: no clean-up is attempted after it
"""


def test_system_exit_in_a_callback_reaches_the_application_and_closes_the_client() -> None:
    # Ctrl-C or sys.exit() that lands in the listener is the application's, not a
    # bug of greenclient's to log and swallow. (In a process of its own: on the
    # asyncio hub, an exception that went through the hub leaves it unusable.)
    proc = subprocess.run(
        [sys.executable, "-c", SYSTEM_EXIT_IN_ON_ERROR],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == b"main got SystemExit 3 closed\n", proc.stderr
    assert b"listener failed" not in proc.stderr


def test_messages_received_counts_what_is_on_the_queue_while_the_listener_waits() -> None:
    def ten(sock: socket.socket) -> None:
        sock.sendall(b"".join(b'{"n":%d}~' % n for n in range(10)))
        eventlet.sleep(10)

    with RawServer(ten) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, maxsize=3)
        assert wait_until(lambda: client.queue.qsize() == 3)
        eventlet.sleep(0.05)
        assert client.stats.messages_received == 3  # on the queue; 7 wait for room
        client.close()  # the listener is stopped while it waits
        got = drain(client)
        assert got == [{"n": 0}, {"n": 1}, {"n": 2}, greenclient.END]
        assert client.stats.messages_received == 3
