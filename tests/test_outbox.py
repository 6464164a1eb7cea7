"""Sending through the outbox: what send() returning means, flush(), close(drain=...)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import eventlet
import eventlet.hubs
import eventlet.patcher
import eventlet.queue
import pytest

import greenclient

from .helpers import RawServer, reset

MiB = 1024 * 1024


class Reader:
    """Reads a connection after ``delay`` seconds; collects the frames."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.frames: eventlet.queue.Queue[bytes] = eventlet.queue.Queue()

    def __call__(self, sock: socket.socket) -> None:
        eventlet.sleep(self.delay)
        buffer = b""
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return
            *frames, buffer = (buffer + data).split(b"~")
            for frame in frames:
                self.frames.put(frame)

    @staticmethod
    def count_frames(sock: socket.socket) -> int:
        """Count the frames received until the end of the stream (or a reset)."""
        frames, buffer = 0, b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return frames
                buffer += data
                frames += buffer.count(b"~")
                buffer = buffer[buffer.rfind(b"~") + 1 :]
        except ConnectionResetError:
            return frames


def test_flush_waits_until_the_frames_reach_the_kernel() -> None:
    reader = Reader(delay=0.5)
    with RawServer(reader) as raw:
        client = greenclient.connect("127.0.0.1", raw.port)
        client.send("x" * (8 * MiB))
        with pytest.raises(greenclient.SendTimeout):
            client.flush(timeout=0.05)  # the server does not read yet
        client.flush(timeout=30)
        assert client.stats.messages_sent == 1
        assert len(reader.frames.get(timeout=10)) == 8 * MiB + 2
        client.close()


def test_close_with_drain_writes_what_was_queued() -> None:
    reader = Reader()
    with RawServer(reader) as raw:
        client = greenclient.connect("127.0.0.1", raw.port)
        for i in range(100):
            client.send({"i": i})
        client.close(drain=True, timeout=10)
        assert [reader.frames.get(timeout=5) for _ in range(100)] == [
            b'{"i":%d}' % i for i in range(100)
        ]
    assert client.stats.frames_unsent == 0


def test_close_without_drain_drops_unstarted_frames_and_counts_them() -> None:
    reader = Reader()
    with RawServer(reader) as raw:
        client = greenclient.connect("127.0.0.1", raw.port)
        for i in range(100):
            client.send({"i": i})  # queued; the writer has not run yet
        client.close()
        eventlet.sleep(0.1)
        assert reader.frames.qsize() == 0
    assert client.stats.frames_unsent == 100
    assert client.stats.messages_sent == 0


def test_leaving_a_with_block_drains() -> None:
    reader = Reader()
    with RawServer(reader) as raw:
        with greenclient.connect("127.0.0.1", raw.port) as client:
            client.send({"last": "words"})
        assert reader.frames.get(timeout=5) == b'{"last":"words"}'


def test_leaving_a_with_block_loses_nothing_while_the_server_keeps_talking() -> None:
    # The client stops reading (its queue is full), so bytes stay unread in its
    # socket; closing such a socket makes the kernel send a reset and drop what it
    # still held to send. Leaving the block must first let the server take it all.
    outcome: eventlet.queue.Queue[int] = eventlet.queue.Queue()

    def talkative_slow_reader(sock: socket.socket) -> None:
        talker = eventlet.spawn(sock.sendall, b'{"tick":0}~' * 100_000)
        eventlet.sleep(0.2)  # the client's frames pile up meanwhile
        frames, buffer = 0, b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                buffer += data
                frames += buffer.count(b"~")
                buffer = buffer[buffer.rfind(b"~") + 1 :]
        except ConnectionResetError:
            pass  # once every frame was taken, a reset may still end the stream
        talker.kill()
        outcome.put(frames)

    with RawServer(talkative_slow_reader) as raw:
        with greenclient.connect("127.0.0.1", raw.port, maxsize=1) as client:
            for i in range(2000):
                client.send({"i": i, "pad": "p" * 1000})
        assert outcome.get(timeout=30) == 2000
    assert client.stats.messages_sent == 2000


def tiny_window_listener() -> socket.socket:
    """A listener on 127.0.0.1 whose connections have a 4 KiB receive buffer (a tiny window)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


@contextlib.contextmanager
def unacknowledged() -> Iterator[greenclient.GreenClient]:
    """A client whose 200,000 written bytes a server that never reads has not acknowledged.

    They are in the kernel (``flush()`` returned), so only the linger of
    ``close(drain=True)`` still waits for them.
    """
    listener = tiny_window_listener()
    client = greenclient.connect("127.0.0.1", listener.getsockname()[1])
    server_side, _ = listener.accept()  # never reads
    try:
        client.send("x" * 200_000)
        client.flush(timeout=10)
        yield client
    finally:
        client.close()
        server_side.close()
        listener.close()


def test_close_with_drain_stops_waiting_for_the_server_at_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with unacknowledged() as client:
        started = time.monotonic()
        client.close(drain=True, timeout=0.5)
        assert time.monotonic() - started < 10  # bounded by the timeout, not hanging
        assert client.closed
        assert "not yet acknowledged by the peer" in caplog.text


def test_send_timeout_bounds_the_wait_for_room() -> None:
    reader = Reader(delay=30)
    with RawServer(reader) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, send_timeout=0.1, send_buffer_size=1024)
        client.send("x" * (8 * MiB))  # fills the buffer and the socket's
        with pytest.raises(greenclient.SendTimeout, match=r"room .*send_timeout=0\.1s"):
            client.send({"small": 1})
        client.close()


def test_send_timeout_bounds_the_whole_wait_when_the_connection_ends_meanwhile() -> None:
    # The wait for room ends with the connection; the wait for a reconnection
    # that follows is part of the same send_timeout, not a fresh one.
    raw = RawServer()
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    client = greenclient.connect(
        "127.0.0.1", raw.port, send_timeout=1.0, send_buffer_size=1024, reconnect=policy
    )
    try:
        client.send("x" * (8 * MiB))  # fills the buffer and the socket's
        sock = raw.connections.get(timeout=5)

        def end_for_good() -> None:
            # No write fails (the socket stays open for reading): the
            # connection ends on the server's EOF, and no reconnection comes.
            raw.stop_listening()
            sock.shutdown(socket.SHUT_WR)

        eventlet.spawn_after(0.8, end_for_good)
        started = time.monotonic()
        with pytest.raises(greenclient.SendTimeout):
            client.send({"small": 1})
        waited = time.monotonic() - started
        assert waited < 1.5, f"send() waited {waited:.2f}s with send_timeout=1.0"
    finally:
        client.close()
        raw.close()


def test_a_sender_waiting_for_room_goes_on_to_the_next_connection_when_the_server_closes() -> None:
    # A clean close by the server is no failed write: the sender waits for the
    # reconnection, as during an outage, and its frame goes out there.
    reader = Reader()
    first: list[socket.socket] = []

    def handler(sock: socket.socket) -> None:
        if not first:
            first.append(sock)  # never read: the client's buffers fill up
            return
        reader(sock)

    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    with RawServer(handler) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, send_buffer_size=1024, reconnect=policy)
        try:
            client.send("x" * (8 * MiB))  # fills the buffer and the socket's
            eventlet.spawn_after(0.3, lambda: first[0].shutdown(socket.SHUT_WR))
            client.send({"small": 1})  # waits for room, then for the next connection
            assert reader.frames.get(timeout=10) == b'{"small":1}'
            assert client.stats.connects == 2
        finally:
            client.close()


def test_flush_without_a_connection_raises() -> None:
    with RawServer() as raw:
        client = greenclient.connect("127.0.0.1", raw.port)
        client.close()
    with pytest.raises(greenclient.ConnectionClosed):
        client.flush()


def test_senders_waiting_for_room_go_out_in_call_order() -> None:
    reader = Reader(delay=0.5)
    with RawServer(reader) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, send_buffer_size=1024)
        try:
            client.send("x" * (8 * MiB))  # fills the buffer and the socket's
            called: list[int] = []

            def sender(k: int) -> None:
                called.append(k)
                client.send({"k": k, "pad": "y" * 700})  # about the buffer's size each

            for k in range(30):
                eventlet.spawn_n(sender, k)
                eventlet.sleep(0.001)
            assert client.stats.messages_sent == 0
            assert len(reader.frames.get(timeout=10)) == 8 * MiB + 2
            got = [json.loads(reader.frames.get(timeout=10))["k"] for _ in range(30)]
            assert got == called == list(range(30))
        finally:
            client.close()


def test_close_with_drain_from_a_signal_handler_closes_at_once() -> None:
    # eventlet runs a signal handler in its hub, where nothing can wait: drain is
    # ignored there, rather than failing with "Cannot switch to MAINLOOP".
    outcome: list[str] = []
    with unacknowledged() as client:

        def on_signal(signum: int, frame: object) -> None:
            try:
                client.close(drain=True, timeout=5)
                outcome.append("closed")
            except BaseException as exc:  # recorded for the assertion
                outcome.append(f"{type(exc).__name__}: {exc}")

        previous = signal.signal(signal.SIGUSR1, on_signal)
        try:
            real_threading = eventlet.patcher.original("threading")
            real_time = eventlet.patcher.original("time")

            def signal_soon() -> None:
                real_time.sleep(0.2)
                os.kill(os.getpid(), signal.SIGUSR1)

            real_threading.Thread(target=signal_soon).start()
            for _ in range(200):  # bounded: the signal comes after 0.2 s
                if outcome:
                    break
                eventlet.sleep(0.05)
            assert outcome == ["closed"]
            assert client.closed
        finally:
            signal.signal(signal.SIGUSR1, previous)


def test_leaving_a_with_block_drains_after_an_unreported_earlier_loss() -> None:
    # A frame lost with the first connection, never reported by flush(): leaving the
    # block must still deliver what was sent on the second connection.
    listener = tiny_window_listener()
    counted: eventlet.queue.Queue[int] = eventlet.queue.Queue()

    def server() -> None:
        first, _ = listener.accept()  # never reads, then resets
        eventlet.sleep(0.3)
        reset(first)
        second, _ = listener.accept()
        counted.put(Reader.count_frames(second))

    thread = eventlet.spawn(server)
    policy = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.02)
    try:
        with greenclient.connect("127.0.0.1", listener.getsockname()[1], reconnect=policy) as c:
            c.send("x" * 8_000_000)  # stuck behind the tiny window: lost with the reset
            for _ in range(500):  # bounded: the reset comes after 0.3 s
                if c.stats.reconnects:
                    break
                eventlet.sleep(0.01)
            assert c.stats.reconnects == 1
            for i in range(300):
                c.send({"i": i, "pad": "p" * 1000})
        assert counted.get(timeout=10) == 300
        assert c.stats.frames_unsent == 0
    finally:
        thread.kill()
        listener.close()


def test_a_second_close_with_drain_waits_as_the_first_does() -> None:
    with unacknowledged() as client:
        first = eventlet.spawn(client.close, drain=True, timeout=0.5)
        eventlet.sleep(0)  # the first close is lingering now
        assert not client.closed
        client.close(drain=True)  # returns when the first one's wait is over
        assert client.state is greenclient.ConnectionState.CLOSED
        first.wait()


def test_a_second_close_with_drain_keeps_to_its_own_timeout_and_a_plain_close_ends_the_wait() -> (
    None
):
    with unacknowledged() as client:
        first = eventlet.spawn(client.close, drain=True, timeout=None)  # would wait for ever
        eventlet.sleep(0.1)
        with eventlet.Timeout(10):  # a hang fails the test instead of stalling the suite
            started = time.monotonic()
            client.close(drain=True, timeout=0.3)
            assert time.monotonic() - started < 5  # its own timeout, not the first one's
            assert not first.dead  # the first still waits
            client.close()  # close now: the linger ends at its next check
            first.wait()
        assert client.closed


def _half_reading_server() -> tuple[socket.socket, Any]:
    """A listener whose one connection reads about 1 MB slowly, then stops reading."""
    listener = tiny_window_listener()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            got = 0
            while got < 1_000_000:
                got += len(conn.recv(65536))
                eventlet.sleep(0.002)
            eventlet.sleep(30)

    return listener, eventlet.spawn(serve)


def test_two_closes_with_drain_during_the_flush_both_wait_for_the_close() -> None:
    # Both calls wait in flush(); the second to finish it used to return at once,
    # the socket still open, and a program ending then would reset the connection.
    listener, server = _half_reading_server()
    client = greenclient.connect("127.0.0.1", listener.getsockname()[1])
    try:
        client.send("x" * 3_000_000)
        eventlet.sleep(0.05)
        states: list[greenclient.ConnectionState] = []

        def closer() -> None:
            client.close(drain=True, timeout=1)
            states.append(client.state)

        threads = [eventlet.spawn(closer), eventlet.spawn(closer)]
        with eventlet.Timeout(10):
            for thread in threads:
                thread.wait()
        assert states == [greenclient.ConnectionState.CLOSED] * 2
    finally:
        server.kill()
        listener.close()


def test_close_with_drain_from_the_hub_ends_a_lingering_close() -> None:
    # From the hub nothing can wait: drain=True there is a plain close(), which ends
    # the wait of a close(drain=True, timeout=None) against a server that never reads.
    with unacknowledged() as client:
        first = eventlet.spawn(client.close, drain=True, timeout=None)
        eventlet.sleep(0.1)
        assert not first.dead
        eventlet.hubs.get_hub().schedule_call_global(0, client.close, drain=True)
        with eventlet.Timeout(10):
            first.wait()
        assert client.closed


@pytest.mark.parametrize(
    ("timeout", "error"),
    [(float("nan"), ValueError), ("5", TypeError), (10**400, ValueError)],
    ids=["nan", "str", "huge"],
)
def test_close_refuses_a_timeout_that_is_no_number_of_seconds(
    timeout: Any, error: type[Exception]
) -> None:
    with RawServer(Reader()) as raw:
        client = greenclient.connect("127.0.0.1", raw.port)
        with pytest.raises(error, match="timeout"):
            client.close(drain=True, timeout=timeout)
        client.close(drain=True, timeout=-1)  # a negative timeout counts as 0
        assert client.closed
