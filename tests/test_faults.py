"""Fault tests over real sockets: floods, slow consumers, servers that die mid-frame.

Each test is bounded in time by its own waits, and checks that nothing TCP
delivered is lost. Memory is measured as the test process's RSS (psutil).
"""

from __future__ import annotations

import contextlib
import socket

import eventlet
import eventlet.patcher
import pytest

import greenclient

from .helpers import RawServer, reset, wait_until

psutil = pytest.importorskip("psutil")

MiB = 1024 * 1024


def rss() -> int:
    value: int = psutil.Process().memory_info().rss
    return value


class RssSampler:
    """Samples this process's RSS from a green thread while a test runs."""

    def __init__(self) -> None:
        self.start = rss()
        self.peak = self.start
        self._thread = eventlet.spawn(self._run)

    def _run(self) -> None:
        for _ in range(100_000):
            self.peak = max(self.peak, rss())
            eventlet.sleep(0.01)

    def stop(self) -> int:
        self._thread.kill()
        self.peak = max(self.peak, rss())
        return self.peak - self.start


def test_100_mb_without_delimiter_keeps_memory_bounded() -> None:
    chunk = b"x" * (64 * 1024)
    chunks = 1600  # 100 MiB

    def flood(sock: socket.socket) -> None:
        sock.sendall(b'{"before":1}~')
        for _ in range(chunks):
            sock.sendall(chunk)
        sock.sendall(b'~{"after":1}~')

    errors: list[greenclient.ProtocolError] = []
    with RawServer(flood) as raw:
        sampler = RssSampler()
        with greenclient.connect("127.0.0.1", raw.port, on_error=errors.append) as client:
            assert client.get(timeout=10) == {"before": 1}
            assert client.get(timeout=60) == {"after": 1}
            growth = sampler.stop()
            assert client.stats.bytes_received == len(b'{"before":1}~~{"after":1}~') + 100 * MiB
    assert [type(e) for e in errors] == [greenclient.FrameTooLarge]
    # 1 MiB frame limit + one 64 KiB read; allow for the interpreter's own noise.
    print(f"RSS growth during the 100 MiB flood: {growth / MiB:.1f} MiB")
    assert growth < 32 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"


def test_flood_with_slow_consumer_is_bounded_and_complete() -> None:
    total, batch = 500_000, 5_000

    def flood(sock: socket.socket) -> None:
        for start in range(0, total, batch):
            sock.sendall(b"".join(b'{"seq":%d}~' % i for i in range(start, start + batch)))

    maxsize = 1000
    with RawServer(flood) as raw:
        sampler = RssSampler()
        with greenclient.connect("127.0.0.1", raw.port, maxsize=maxsize) as client:
            expected = 0
            fullest = 0
            for _ in range(total):
                fullest = max(fullest, client.queue.qsize())
                message = client.get(timeout=10)
                assert message["seq"] == expected
                expected += 1
                if expected % 2_000 == 0:
                    eventlet.sleep(0.001)  # a consumer slower than the network
            growth = sampler.stop()
    assert expected == total
    assert fullest <= maxsize
    assert fullest == maxsize  # the consumer really was the slow side
    print(f"RSS growth during the 500,000-message flood: {growth / MiB:.1f} MiB")
    assert growth < 64 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"


def test_server_dies_mid_frame_partial_is_reported_not_delivered() -> None:
    def die_mid_frame(sock: socket.socket) -> None:
        sock.sendall(b'{"whole":true}~{"half":"tr')
        eventlet.sleep(0.05)
        sock.shutdown(socket.SHUT_RDWR)

    errors: list[greenclient.ProtocolError] = []
    with RawServer(die_mid_frame) as raw:
        client = greenclient.connect("127.0.0.1", raw.port, on_error=errors.append)
        assert list(client) == [{"whole": True}]
    assert [type(e) for e in errors] == [greenclient.PartialFrame]
    assert errors[0].frame == b'{"half":"tr'  # type: ignore[attr-defined]


def test_partial_frame_is_not_glued_to_the_next_connection() -> None:
    # After a reconnect, the bytes left from the old connection must not be
    # prepended to the first frame of the new one.
    connections = 0

    def serve(sock: socket.socket) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            sock.sendall(b'{"cut":')
            eventlet.sleep(0.05)
            sock.shutdown(socket.SHUT_RDWR)
        else:
            sock.sendall(b'{"fresh":1}~')
            eventlet.sleep(5)

    errors: list[greenclient.ProtocolError] = []
    policy = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.05)
    with RawServer(serve) as raw:
        client = greenclient.connect(
            "127.0.0.1", raw.port, reconnect=policy, on_error=errors.append
        )
        try:
            assert client.get(timeout=5) == {"fresh": 1}
        finally:
            client.close()
    assert [type(e) for e in errors] == [greenclient.PartialFrame]


def test_many_clients_each_get_every_broadcast() -> None:
    from greenclient.server import ReferenceServer

    with ReferenceServer() as server:
        clients = [greenclient.connect("127.0.0.1", server.port) for _ in range(200)]
        try:
            assert server.wait_for_clients(200, 10)
            for i in range(20):
                server.broadcast({"i": i})
            for client in clients:
                assert [client.get(timeout=5)["i"] for _ in range(20)] == list(range(20))
        finally:
            for client in clients:
                client.close()
        assert wait_until(lambda: server.clients == 0)


def test_send_on_a_reset_connection_ends_it_with_the_reason() -> None:
    # The peer resets while the hub is not polling; the writer meets the reset
    # first. The connection must end, once, with the reset as its reason.
    real_sleep = eventlet.patcher.original("time").sleep
    reasons: list[BaseException | None] = []
    with RawServer() as raw:
        client = greenclient.connect(
            "127.0.0.1", raw.port, on_disconnect=lambda c, r: reasons.append(r)
        )
        peer = raw.connections.get(timeout=5)
        eventlet.sleep(0.01)  # the listener is now blocked in recv()
        reset(peer)
        real_sleep(0.2)  # the RST arrives; the hub does not run meanwhile
        with contextlib.suppress(greenclient.ConnectionClosed):
            client.send({"a": 1})
        with pytest.raises(greenclient.ConnectionClosed) as info:
            client.get(timeout=5)
        assert client.closed
    assert len(reasons) == 1
    assert isinstance(reasons[0], greenclient.ConnectionLost)
    assert info.value.reason is reasons[0]
