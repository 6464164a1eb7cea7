"""request(): replies matched by correlation id over real loopback sockets, on either hub.

The reference server answers every object with a ``_correlation_id`` by
broadcasting ``{"type": "reply", "_correlation_id": id, "echo": request}`` to every
client, as the Scala servers do.
"""

from __future__ import annotations

import gc
import queue
import weakref
from collections.abc import Iterator
from typing import Any

import eventlet
import eventlet.greenthread
import pytest

import greenclient
from greenclient.server import ReferenceServer

from .helpers import RawServer, reset, wait_until


@pytest.fixture
def silent() -> Iterator[ReferenceServer]:
    """A reference server that does not answer requests (replies are sent by the test)."""
    with ReferenceServer("127.0.0.1", 0, answer_requests=False) as srv:
        yield srv


def connected(server: ReferenceServer, **options: Any) -> greenclient.GreenClient:
    expected = server.clients + 1
    client = greenclient.connect("127.0.0.1", server.port, **options)
    assert server.wait_for_clients(expected, 10.0)
    return client


def pending(client: greenclient.GreenClient) -> int:
    return 0 if client._messaging is None else len(client._messaging.pending)


def test_request_returns_the_reply_and_it_skips_the_queue(server: ReferenceServer) -> None:
    with connected(server) as client:
        reply = client.request({"action": "join", "room": "lobby"}, timeout=10)
        assert reply["type"] == "reply"
        assert reply["echo"]["room"] == "lobby"
        cid = reply["_correlation_id"]
        assert reply["echo"] == {"action": "join", "room": "lobby", "_correlation_id": cid}
        assert server.received.get(timeout=5) == reply["echo"]
        with pytest.raises(queue.Empty):
            client.get(timeout=0.1)
        assert pending(client) == 0
        assert client.stats.late_replies == 0


def test_ordinary_messages_still_reach_the_queue_in_order(server: ReferenceServer) -> None:
    with connected(server) as client:
        server.broadcast({"n": 1})
        client.request({"q": 1})
        server.broadcast({"n": 2})
        assert client.get(timeout=5) == {"n": 1}
        assert client.get(timeout=5) == {"n": 2}


@pytest.mark.parametrize("threads", [1, 10, 100])
def test_concurrent_requests_each_get_their_own_reply(
    server: ReferenceServer, threads: int
) -> None:
    with connected(server) as client:

        def worker(n: int) -> list[int]:
            got = []
            for i in range(5):
                reply = client.request({"worker": n, "i": i}, timeout=30)
                got.append(reply["echo"]["i"])
                assert reply["echo"]["worker"] == n
            return got

        pool = [eventlet.spawn(worker, n) for n in range(threads)]
        with eventlet.Timeout(60):
            results = [thread.wait() for thread in pool]
        assert results == [[0, 1, 2, 3, 4]] * threads
        assert pending(client) == 0
        with pytest.raises(queue.Empty):
            client.get(timeout=0.05)


def test_timeout_raises_and_leaves_nothing_behind(silent: ReferenceServer) -> None:
    with connected(silent) as client:
        with pytest.raises(greenclient.RequestTimeout) as info:
            client.request({"q": 1}, timeout=0.05)
        assert isinstance(info.value, greenclient.GreenClientError)
        assert info.value.correlation_id.startswith(client._messaging.pending.ids.prefix)  # type: ignore[union-attr]
        assert pending(client) == 0
        for _ in range(50):
            with pytest.raises(greenclient.RequestTimeout):
                client.request({"q": 2}, timeout=0)
        assert pending(client) == 0


def test_late_reply_is_counted_and_dropped(silent: ReferenceServer) -> None:
    with connected(silent) as client:
        with pytest.raises(greenclient.RequestTimeout) as info:
            client.request({"q": 1}, timeout=0.05)
        request = silent.received.get(timeout=5)
        assert request["_correlation_id"] == info.value.correlation_id
        silent.broadcast({"type": "reply", "_correlation_id": info.value.correlation_id})
        silent.broadcast({"after": True})
        assert client.get(timeout=5) == {"after": True}  # the late reply never reached the queue
        assert client.stats.late_replies == 1


def test_disconnect_fails_every_pending_request_at_once(silent: ReferenceServer) -> None:
    with connected(silent) as client:
        outcomes: list[Any] = []

        def ask(n: int) -> None:
            try:
                client.request({"n": n}, timeout=120)
            except greenclient.ConnectionClosed as exc:
                outcomes.append(exc)

        threads = [eventlet.spawn(ask, n) for n in range(5)]
        assert wait_until(lambda: silent.received.qsize() == 5, 10)
        assert pending(client) == 5
        silent.close_clients()
        # Far sooner than the requests' 120 s timeout; the bound only stops a hung test.
        with eventlet.Timeout(30):
            for thread in threads:
                thread.wait()
        assert len(outcomes) == 5
        assert all(isinstance(exc, greenclient.ConnectionClosed) for exc in outcomes)
        assert pending(client) == 0
        with pytest.raises(greenclient.ConnectionClosed):
            client.request({"n": 99})


def test_reconnecting_client_fails_pending_then_serves_new_ones(silent: ReferenceServer) -> None:
    policy = greenclient.ReconnectPolicy(initial_delay=0.01, max_delay=0.05)
    with connected(silent, reconnect=policy) as client:
        failed = eventlet.spawn(client.request, {"n": 1}, 120)
        assert wait_until(lambda: pending(client) == 1, 10)
        silent.close_clients()
        with eventlet.Timeout(30), pytest.raises(greenclient.ConnectionClosed):
            failed.wait()
        assert wait_until(lambda: client.stats.reconnects == 1, 10)
        silent.answer_requests = True
        assert client.request({"n": 2}, timeout=10)["echo"]["n"] == 2


def test_close_fails_pending_requests(silent: ReferenceServer) -> None:
    client = connected(silent)
    thread = eventlet.spawn(client.request, {"n": 1}, 120)
    assert wait_until(lambda: pending(client) == 1, 10)
    client.close()
    with eventlet.Timeout(30), pytest.raises(greenclient.ConnectionClosed):
        thread.wait()
    assert pending(client) == 0


def test_broadcast_replies_go_to_their_own_client_only(server: ReferenceServer) -> None:
    clients = [connected(server) for _ in range(3)]
    try:

        def ask(index: int) -> list[Any]:
            return [clients[index].request({"c": index, "i": i}, timeout=30) for i in range(10)]

        threads = [eventlet.spawn(ask, i) for i in range(3)]
        with eventlet.Timeout(60):
            replies = [thread.wait() for thread in threads]
        for index, got in enumerate(replies):
            assert [r["echo"]["c"] for r in got] == [index] * 10
            assert [r["echo"]["i"] for r in got] == list(range(10))
        # Every client also sees the other clients' replies, as ordinary messages.
        for index, client in enumerate(clients):
            others: list[Any] = []
            while len(others) < 20:
                others.append(client.get(timeout=10))
            assert sorted(m["echo"]["c"] for m in others) == sorted(
                [c for c in range(3) if c != index] * 10
            )
            assert all(m["type"] == "reply" for m in others)
            assert client.stats.late_replies == 0
    finally:
        for client in clients:
            client.close()


def test_correlation_field_is_configurable(server: ReferenceServer) -> None:
    with connected(server, correlation_field="rid") as client:
        thread = eventlet.spawn(client.request, {"q": 1}, 120)
        request = server.received.get(timeout=5)
        assert "rid" in request
        assert "_correlation_id" not in request
        server.broadcast({"type": "answer", "rid": request["rid"], "ok": True})
        with eventlet.Timeout(30):
            assert thread.wait() == {"type": "answer", "rid": request["rid"], "ok": True}


def test_request_refuses_what_it_cannot_tag(server: ReferenceServer) -> None:
    with connected(server) as client:
        with pytest.raises(greenclient.EncodeError):
            client.request(["not", "a", "dict"])
        with pytest.raises(greenclient.EncodeError):
            client.request({"x": object()})
        with pytest.raises(ValueError, match="timeout"):
            client.request({"x": 1}, timeout=-1)
        assert pending(client) == 0


def test_a_client_that_never_requests_routes_nothing(server: ReferenceServer) -> None:
    with connected(server) as client:
        server.broadcast({"type": "reply", "_correlation_id": "someone.1"})
        assert client.get(timeout=5)["_correlation_id"] == "someone.1"
        assert client._messaging is None


def test_timeout_counts_the_wait_for_a_connection(server: ReferenceServer) -> None:
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    client = connected(server, reconnect=policy)  # no send_timeout: send() would wait on
    try:
        server.stop()
        assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
        with eventlet.Timeout(10), pytest.raises(greenclient.RequestTimeout, match="never sent"):
            client.request({"op": "ping"}, timeout=0.3)
        assert pending(client) == 0
        assert client.stats.messages_sent == 0
    finally:
        client.close()


def test_timeout_counts_the_wait_for_room() -> None:
    with RawServer() as raw:  # never reads
        client = greenclient.connect("127.0.0.1", raw.port, send_buffer_size=1024)
        try:
            client.send("x" * (8 * 1024 * 1024))  # fills the buffer and the socket's
            with eventlet.Timeout(10), pytest.raises(greenclient.RequestTimeout, match="never"):
                client.request({"op": "ping"}, timeout=0.3)
            assert pending(client) == 0
        finally:
            client.close()


def test_send_timeout_still_raises_when_it_comes_first(server: ReferenceServer) -> None:
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    client = connected(server, reconnect=policy, send_timeout=0.2)
    try:
        server.stop()
        assert wait_until(lambda: client.state is greenclient.ConnectionState.RECONNECTING)
        with eventlet.Timeout(10), pytest.raises(greenclient.SendTimeout):
            client.request({"op": "ping"}, timeout=5)
    finally:
        client.close()


def test_a_request_whose_send_waits_fails_at_once_when_the_connection_ends() -> None:
    # The documented rule (every waiting request raises ConnectionClosed when the
    # connection ends) covers a request whose send() still waits for room.
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    with RawServer() as raw:  # never reads
        client = greenclient.connect("127.0.0.1", raw.port, send_buffer_size=1024, reconnect=policy)
        try:
            sock = raw.connections.get(timeout=5)
            client.send("x" * (8 * 1024 * 1024))  # fills the buffer and the socket's
            outcome: list[str] = []

            def ask() -> None:
                try:
                    client.request({"op": "ping"}, timeout=30)
                except greenclient.ConnectionClosed:
                    outcome.append("ConnectionClosed")

            asker = eventlet.spawn(ask)
            eventlet.sleep(0.2)  # request() waits for room now
            raw.stop_listening()  # no reconnection
            reset(sock)
            with eventlet.Timeout(10):
                asker.wait()
            assert outcome == ["ConnectionClosed"]
            assert pending(client) == 0
        finally:
            client.close()


def test_the_echoing_reference_server_answers_requests_instead_of_echoing_them() -> None:
    # Echoed, a request would come back to its sender with its id ahead of the
    # reply, and request() would return the request itself.
    with ReferenceServer("127.0.0.1", 0, echo=True) as server:
        client = connected(server)
        other = connected(server)
        try:
            reply = client.request({"op": "join", "room": "lobby"}, timeout=10)
            assert reply["type"] == "reply"
            assert reply["echo"]["op"] == "join"
            client.send({"op": "chat"})  # no id: echoed to everyone
            assert client.get(timeout=5) == {"op": "chat"}
            assert other.get(timeout=5)["type"] == "reply"  # broadcast, as the Scala servers do
            assert other.get(timeout=5) == {"op": "chat"}
            assert client.stats.late_replies == 0
        finally:
            client.close()
            other.close()


def test_a_closed_client_is_freed_while_its_request_had_time_left(
    silent: ReferenceServer,
) -> None:
    # The request fails at close(); nothing may keep the client alive until the
    # request's timeout would have passed.
    client = connected(silent)
    outcome: list[BaseException] = []
    thread = eventlet.spawn(_ask, client, outcome)
    for _ in range(100):  # bounded: the request is made within the first yields
        if pending(client):
            break
        eventlet.sleep(0.01)
    assert pending(client) == 1
    client.close()
    thread.wait()
    assert [type(e) for e in outcome] == [greenclient.ConnectionClosed]
    alive = weakref.ref(client)
    del client, thread, outcome
    eventlet.sleep(0.05)
    gc.collect()
    assert alive() is None


def _ask(client: greenclient.GreenClient, outcome: list[BaseException]) -> None:
    try:
        client.request({"type": "ping"}, timeout=60)
    except greenclient.GreenClientError as exc:
        outcome.append(exc)
