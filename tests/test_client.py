"""GreenClient over real loopback sockets, against the reference server and raw servers."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
from typing import Any

import eventlet
import eventlet.patcher
import eventlet.queue
import hypothesis
import hypothesis.strategies as st
import pytest

import greenclient
from greenclient.server import ReferenceServer

from .helpers import RawServer, wait_until


def connected(server: ReferenceServer, **options: Any) -> greenclient.GreenClient:
    expected = server.clients + 1
    client = greenclient.connect("127.0.0.1", server.port, **options)
    assert server.wait_for_clients(expected, 5.0)
    return client


def test_round_trip_with_non_ascii_and_delimiter_inside(server: ReferenceServer) -> None:
    with connected(server) as client:
        server.broadcast({"text": "olá ~ 你好 🎉", "n": 1})
        assert client.get(timeout=5) == {"text": "olá ~ 你好 🎉", "n": 1}
        client.send({"echo": "a~b", "quote": '"\\'})
        assert server.received.get(timeout=5) == {"echo": "a~b", "quote": '"\\'}
    assert client.closed


def test_connect_context_manager_returns_open_client(server: ReferenceServer) -> None:
    with greenclient.GreenClient("127.0.0.1", server.port) as client:
        assert client.state is greenclient.ConnectionState.OPEN
    assert client.closed


def test_get_timeout_raises_queue_empty(server: ReferenceServer) -> None:
    with connected(server) as client, pytest.raises(queue.Empty):
        client.get(timeout=0.05)


def test_character_split_across_reads_arrives_intact(server: ReferenceServer) -> None:
    # One byte per write: every multi-byte character is split across recv() calls.
    with connected(server) as client:
        message = {"text": "ção 世界 🎉"}
        server.broadcast_bytes(
            json.dumps(message, ensure_ascii=False).encode() + b"~", bytewise=True
        )
        assert client.get(timeout=5) == message


def test_messages_in_one_write_arrive_separately_in_order(server: ReferenceServer) -> None:
    with connected(server) as client:
        server.broadcast_bytes(b"".join(b'{"seq":%d}~' % i for i in range(1000)))
        assert [client.get(timeout=5)["seq"] for _ in range(1000)] == list(range(1000))
        assert client.stats.messages_received == 1000


def test_empty_and_whitespace_frames_are_skipped_silently(server: ReferenceServer) -> None:
    errors: list[greenclient.ProtocolError] = []
    with connected(server, on_error=errors.append) as client:
        server.broadcast_bytes(b'~~{"a":1}~\n~ \r\n~{"b":2}~')
        assert [client.get(timeout=5), client.get(timeout=5)] == [{"a": 1}, {"b": 2}]
        assert errors == []


def test_server_eof_ends_iteration_after_every_message(server: ReferenceServer) -> None:
    with connected(server) as client:
        server.broadcast_bytes(b'{"a":1}~{"a":2}~')
        assert wait_until(lambda: client.queue.qsize() == 2)
        server.close_clients()
        assert list(client) == [{"a": 1}, {"a": 2}]
        with pytest.raises(greenclient.ConnectionClosed):
            client.get(timeout=1)
        assert client.closed


def test_blocked_consumers_are_all_woken_when_server_closes(server: ReferenceServer) -> None:
    with connected(server) as client:
        results: eventlet.queue.Queue[str] = eventlet.queue.Queue()

        def by_get() -> None:
            try:
                client.get()
            except greenclient.ConnectionClosed:
                results.put("closed")

        def by_iteration() -> None:
            results.put(f"iterated {list(client)}")

        for _ in range(3):
            eventlet.spawn_n(by_get)
        eventlet.spawn_n(by_iteration)
        eventlet.sleep(0.05)
        server.close_clients()
        woken = sorted(results.get(timeout=5) for _ in range(4))
        assert woken == ["closed", "closed", "closed", "iterated []"]


def test_close_from_another_green_thread_wakes_consumer(server: ReferenceServer) -> None:
    client = connected(server)
    outcome: eventlet.queue.Queue[str] = eventlet.queue.Queue()

    def consume() -> None:
        try:
            client.get(timeout=10)
            outcome.put("message")
        except greenclient.ConnectionClosed:
            outcome.put("closed")

    eventlet.spawn_n(consume)
    eventlet.sleep(0.01)
    client.close()
    assert outcome.get(timeout=5) == "closed"
    client.close()  # idempotent
    assert client.closed


def test_close_keeps_messages_already_queued(server: ReferenceServer) -> None:
    client = connected(server)
    server.broadcast({"kept": True})
    assert wait_until(lambda: client.queue.qsize() == 1)
    client.close()
    assert client.get(timeout=1) == {"kept": True}
    with pytest.raises(greenclient.ConnectionClosed):
        client.get(timeout=1)


def test_close_right_after_connect_closes_the_socket(server: ReferenceServer) -> None:
    client = greenclient.connect("127.0.0.1", server.port)
    client.close()  # the listener has not run yet
    assert client.closed
    assert wait_until(lambda: server.clients == 0)


def test_send_on_closed_client_raises(server: ReferenceServer) -> None:
    client = connected(server)
    client.close()
    with pytest.raises(greenclient.ConnectionClosed):
        client.send({"late": True})


def test_send_unencodable_raises_encode_error_and_writes_nothing(server: ReferenceServer) -> None:
    with connected(server) as client:
        with pytest.raises(greenclient.EncodeError):
            client.send({"bad": object()})
        with pytest.raises(greenclient.EncodeError):
            client.send(float("nan"))
        client.send({"good": 1})
        assert server.received.get(timeout=5) == {"good": 1}
        assert server.errors == []
        assert client.stats.messages_sent == 1


def test_concurrent_senders_never_interleave_or_collide(server: ReferenceServer) -> None:
    # 200 green threads x 500 messages; without the send lock eventlet raises
    # "Second simultaneous write" or the bytes of two frames interleave.
    senders, per_sender = 200, 500
    padding = "x" * 200  # frames big enough that sendall() needs several writes
    with connected(server) as client:
        failures: list[BaseException] = []

        def sender(n: int) -> None:
            try:
                for i in range(per_sender):
                    client.send({"sender": n, "i": i, "pad": padding})
            except BaseException as exc:
                failures.append(exc)
                raise

        pool = eventlet.GreenPool(senders)
        for n in range(senders):
            pool.spawn_n(sender, n)
        pool.waitall()
        assert failures == []
        last = [-1] * senders
        for _ in range(senders * per_sender):
            message = server.received.get(timeout=10)
            assert message["i"] == last[message["sender"]] + 1  # each sender's order kept
            last[message["sender"]] = message["i"]
        assert server.received.qsize() == 0
        assert server.errors == []
        assert client.stats.messages_sent == senders * per_sender


def test_bad_frames_are_reported_counted_and_skipped(server: ReferenceServer) -> None:
    errors: list[greenclient.ProtocolError] = []
    with connected(server, on_error=errors.append, max_frame_size=64) as client:
        server.broadcast_bytes(
            b'{"ok":1}~{not json}~\xff\xfe~{"a":"\x00"}~'
            + b"[" * 100_000
            + b'~{"big":"'
            + b"x" * 100
            + b'"}~{"ok":2}~'
        )
        assert client.get(timeout=5) == {"ok": 1}
        assert client.get(timeout=5) == {"ok": 2}
        kinds = [type(e).__name__ for e in errors]
        assert kinds == [
            "DecodeError",
            "DecodeError",
            "DecodeError",
            "FrameTooLarge",
            "FrameTooLarge",
        ]
        assert errors[1].frame == b"\xff\xfe"  # type: ignore[attr-defined]
        assert client.stats.decode_errors == 3
        assert client.stats.frames_too_large == 2
        assert client.stats.messages_received == 2


def test_deep_nesting_does_not_kill_the_listener(server: ReferenceServer) -> None:
    errors: list[greenclient.ProtocolError] = []
    with connected(server, on_error=errors.append, max_frame_size=1 << 20) as client:
        server.broadcast_bytes(b"[" * 200_000 + b"]" * 200_000 + b'~{"after":1}~')
        assert client.get(timeout=5) == {"after": 1}
        assert len(errors) == 1
        assert isinstance(errors[0], greenclient.DecodeError)
        assert "nested" in str(errors[0])


def test_on_error_that_raises_is_logged_and_listener_goes_on(
    server: ReferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(error: greenclient.ProtocolError) -> None:
        raise RuntimeError("application bug")

    with connected(server, on_error=explode) as client:
        server.broadcast_bytes(b"{oops}~")
        server.broadcast({"next": 1})
        assert client.get(timeout=5) == {"next": 1}
        assert client.stats.callback_errors == 1
    assert "application bug" in caplog.text


def test_default_on_error_logs_a_warning(
    server: ReferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    with connected(server) as client:
        server.broadcast_bytes(b"{oops}~")
        server.broadcast({"next": 1})
        assert client.get(timeout=5) == {"next": 1}
    warnings = [r for r in caplog.records if r.name == "greenclient" and r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "invalid JSON" in warnings[0].getMessage()


def test_partial_frame_at_eof_is_reported_not_delivered(server: ReferenceServer) -> None:
    errors: list[greenclient.ProtocolError] = []
    with connected(server, on_error=errors.append) as client:
        server.broadcast_bytes(b'{"whole":1}~{"cut":')
        assert client.get(timeout=5) == {"whole": 1}
        server.close_clients()
        with pytest.raises(greenclient.ConnectionClosed):
            client.get(timeout=5)
        assert [type(e) for e in errors] == [greenclient.PartialFrame]
        assert errors[0].frame == b'{"cut":'  # type: ignore[attr-defined]
        assert client.stats.partial_frames == 1


def test_bounded_queue_makes_the_listener_wait(server: ReferenceServer) -> None:
    with connected(server, maxsize=10) as client:
        server.broadcast_bytes(b"".join(b'{"seq":%d}~' % i for i in range(500)))
        eventlet.sleep(0.2)
        assert client.queue.qsize() == 10  # full, and no more than that
        assert [client.get(timeout=5)["seq"] for _ in range(500)] == list(range(500))


def test_maxsize_zero_is_refused() -> None:
    # eventlet's Queue(0) is a channel, not an unbounded queue: refuse the ambiguity.
    with pytest.raises(ValueError, match="maxsize"):
        greenclient.GreenClient("127.0.0.1", 1, maxsize=0)


def test_listener_yields_while_reading_a_backlog() -> None:
    # Fill the socket buffers while the hub is blocked, so recv() never has to
    # wait: only the listener's own yield lets the ticker run during the backlog.
    real_sleep = eventlet.patcher.original("time").sleep
    total = 30_000
    payload = b"".join(b'{"seq":%d,"pad":"%s"}~' % (i, b"p" * 60) for i in range(total))

    def blast(sock: socket.socket) -> None:
        sock.sendall(payload)

    with RawServer(blast) as raw:
        client = greenclient.GreenClient("127.0.0.1", raw.port, maxsize=total + 10)
        client.connect()
        sock = raw.connections.get(timeout=5)
        ticks_during_backlog = 0
        real_sleep(0.3)  # the server's sendall runs once we yield; give it the CPU below
        eventlet.sleep(0)  # let the server write what the buffers take

        def ticker() -> None:
            nonlocal ticks_during_backlog
            while client.stats.messages_received < total:
                if client.stats.messages_received > 0:
                    ticks_during_backlog += 1
                eventlet.sleep(0)

        with_ticker = eventlet.spawn(ticker)
        assert wait_until(lambda: client.stats.messages_received == total, timeout=20)
        with_ticker.wait()
        assert ticks_during_backlog >= 5
        client.close()
        sock.close()


def test_stats_count_bytes_both_ways(server: ReferenceServer) -> None:
    with connected(server) as client:
        client.send({"a": 1})
        assert server.received.get(timeout=5) == {"a": 1}
        server.broadcast_bytes(b'{"b":2}~')
        assert client.get(timeout=5) == {"b": 2}
        assert client.stats.bytes_sent == len(b'{"a":1}~')
        assert client.stats.bytes_received == len(b'{"b":2}~')
        assert client.stats.messages_sent == 1


@pytest.mark.parametrize(
    ("framing", "wire"),
    [
        ("json", b'{"a":1}{"b":[2]}\n{"c":"~"}'),
        ("length", b'\x00\x00\x00\x07{"a":1}\x00\x00\x00\x09{"b":[2]}\x00\x00\x00\x09{"c":"~"}'),
    ],
)
def test_other_framings_over_a_socket(server: ReferenceServer, framing: str, wire: bytes) -> None:
    with connected(server, framing=framing) as client:
        server.broadcast_bytes(wire)
        assert [client.get(timeout=5) for _ in range(3)] == [{"a": 1}, {"b": [2]}, {"c": "~"}]


def test_length_framing_sends_length_prefix() -> None:
    with RawServer() as raw:
        client = greenclient.connect("127.0.0.1", raw.port, framing="length")
        sock = raw.connections.get(timeout=5)
        client.send({"a": "~"})
        sock.settimeout(5)
        assert sock.recv(100) == b'\x00\x00\x00\x09{"a":"~"}'
        client.close()


def test_text_and_bytes_codecs(server: ReferenceServer) -> None:
    with connected(server, codec="text") as text_client:
        server.broadcast_bytes("héllo~".encode())
        assert text_client.get(timeout=5) == "héllo"
        with pytest.raises(greenclient.EncodeError):
            text_client.send("a~b")
    assert wait_until(lambda: server.clients == 0)
    with connected(server, codec="bytes") as bytes_client:
        server.broadcast_bytes(b"\x00\xff~")
        assert bytes_client.get(timeout=5) == b"\x00\xff"


def test_multi_byte_delimiter(server: ReferenceServer) -> None:
    with connected(server, delimiter="\r\n") as client:
        server.broadcast_bytes(b'{"a":"x\\r\\ny"}\r\n{"b":2}\r\n')
        assert [client.get(timeout=5), client.get(timeout=5)] == [{"a": "x\r\ny"}, {"b": 2}]


def test_orjson_codec_round_trip(server: ReferenceServer) -> None:
    pytest.importorskip("orjson")
    with connected(server, codec=greenclient.JsonCodec.orjson()) as client:
        server.broadcast({"t": "ü~"})
        assert client.get(timeout=5) == {"t": "ü~"}
        client.send({"t": "~é"})
        assert server.received.get(timeout=5) == {"t": "~é"}


def test_connect_refused_raises_connect_error() -> None:
    with RawServer() as raw:
        port = raw.port
    with pytest.raises(greenclient.ConnectError, match="refused") as info:
        greenclient.connect("127.0.0.1", port)
    assert info.value.retryable


def test_connect_timeout_when_server_never_accepts() -> None:
    # A backlog that is full and never accepted: the kernel drops further SYNs.
    with RawServer(backlog=0, accept=False) as raw:
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", raw.port))
                fillers.append(filler)
            with pytest.raises(greenclient.ConnectError, match="timed out"):
                greenclient.connect("127.0.0.1", raw.port, connect_timeout=0.5)
        finally:
            for filler in fillers:
                filler.close()


def test_keepalive_is_set_on_the_socket(server: ReferenceServer) -> None:
    keepalive = greenclient.KeepAlive(idle=7, interval=3, count=4)
    with connected(server, keepalive=keepalive) as client:
        assert client._conn is not None
        sock = client._conn.transport.sock
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
    assert wait_until(lambda: server.clients == 0)
    with connected(server, keepalive=None) as plain:
        assert plain._conn is not None
        assert plain._conn.transport.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


def test_connect_twice_is_an_error(server: ReferenceServer) -> None:
    with connected(server) as client, pytest.raises(greenclient.GreenClientError):
        client.connect()


def test_an_application_can_hang_its_own_attributes_on_a_client() -> None:
    client = greenclient.GreenClient("127.0.0.1", 8000)
    client.room = "lobby"  # type: ignore[attr-defined]
    assert client.room == "lobby"  # type: ignore[attr-defined]


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    data=st.binary(max_size=300),
    delimiter=st.sampled_from([b"~", b"\n", b"\r\n", b"~~", b"\x00\xff"]),
)
def test_the_listener_counts_delimiters_as_bytes_count_does(data: bytes, delimiter: bytes) -> None:
    # The listener sizes its slices by this count (faster than bytes.count).
    sample = data + delimiter.join([data, b"", data[:7]])
    assert greenclient.client._count(sample, delimiter) == sample.count(delimiter)


def test_a_falsy_on_error_callable_is_still_called(server: ReferenceServer) -> None:
    class Collector(list[greenclient.ProtocolError]):
        """A callable that is false while it is empty."""

        def __call__(self, error: greenclient.ProtocolError) -> None:
            self.append(error)

    errors = Collector()
    with connected(server, on_error=errors) as client:
        server.broadcast_bytes(b"{oops}~")
        server.broadcast({"next": 1})
        assert client.get(timeout=5) == {"next": 1}
    assert len(errors) == 1
    assert isinstance(errors[0], greenclient.DecodeError)
