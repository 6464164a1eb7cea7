"""Handlers by message type over real loopback sockets: routing, order, concurrency, errors."""

from __future__ import annotations

import logging
import queue
import random
from collections.abc import Iterator
from typing import Any

import eventlet
import eventlet.event
import pytest

import greenclient
from greenclient.messaging import DEFAULT_BACKLOG, Dispatcher
from greenclient.server import ReferenceServer

from .helpers import wait_until


@pytest.fixture
def srv() -> Iterator[ReferenceServer]:
    with ReferenceServer("127.0.0.1", 0) as server:
        yield server


def connected(server: ReferenceServer, **options: Any) -> greenclient.GreenClient:
    expected = server.clients + 1
    client = greenclient.connect("127.0.0.1", server.port, **options)
    assert server.wait_for_clients(expected, 10.0)
    return client


def test_handlers_take_their_type_and_the_rest_goes_to_the_queue(srv: ReferenceServer) -> None:
    with connected(srv) as client:
        chats: list[Any] = []
        moves: list[Any] = []
        client.on("chat")(chats.append)

        @client.on("move")
        def on_move(message: Any) -> None:
            moves.append(message)

        for n in range(6):
            srv.broadcast({"type": ["chat", "move", "score"][n % 3], "n": n})
        assert client.get(timeout=5) == {"type": "score", "n": 2}
        assert client.get(timeout=5) == {"type": "score", "n": 5}
        assert client.join_handlers(10)
        assert chats == [{"type": "chat", "n": 0}, {"type": "chat", "n": 3}]
        assert moves == [{"type": "move", "n": 1}, {"type": "move", "n": 4}]
        assert client.stats.messages_received == 6


def test_catch_all_takes_what_no_other_handler_takes(srv: ReferenceServer) -> None:
    with connected(srv) as client:
        chats: list[Any] = []
        rest: list[Any] = []
        client.on("chat")(chats.append)
        client.on("*")(rest.append)
        srv.broadcast({"type": "chat"})
        srv.broadcast({"type": "move"})
        srv.broadcast({"no": "type"})
        srv.broadcast(["a", "list"])
        assert wait_until(lambda: len(chats) + len(rest) == 4, 10)
        assert chats == [{"type": "chat"}]
        assert rest == [{"type": "move"}, {"no": "type"}, ["a", "list"]]
        with pytest.raises(queue.Empty):
            client.get(timeout=0.05)


def test_one_at_a_time_in_arrival_order(srv: ReferenceServer) -> None:
    with connected(srv) as client:
        seen: list[int] = []
        running = [0, 0]  # now, most ever
        rng = random.Random(7)

        @client.on("*")
        def slow(message: Any) -> None:
            running[0] += 1
            running[1] = max(running[1], running[0])
            eventlet.sleep(rng.choice([0, 0, 0.001]))
            seen.append(message["n"])
            running[0] -= 1

        for n in range(300):
            srv.broadcast({"n": n})
        assert wait_until(lambda: len(seen) == 300, 30)
        assert seen == list(range(300))
        assert running[1] == 1


def test_concurrency_runs_up_to_n_at_once_and_back_pressure_stops_reading(
    srv: ReferenceServer,
) -> None:
    with connected(srv, concurrency=4) as client:
        gate = eventlet.event.Event()
        started: list[int] = []
        running = [0, 0]

        @client.on("*")
        def blocked(message: Any) -> None:
            running[0] += 1
            running[1] = max(running[1], running[0])
            started.append(message["n"])
            gate.wait()
            running[0] -= 1

        total = 2000
        sender = eventlet.spawn(
            lambda: [srv.broadcast({"n": n, "pad": "x" * 200}) for n in range(total)]
        )
        assert wait_until(lambda: len(started) == 4, 10)
        # The pool is full: the dispatcher waits with the 5th message, its backlog
        # fills, the listener waits with one more, and the rest stays in the
        # kernel's buffers (the server's writes wait too).
        dispatcher = client._messaging.dispatcher  # type: ignore[union-attr]
        most = 4 + 1 + DEFAULT_BACKLOG + 1
        assert wait_until(lambda: dispatcher.running == most, 10)
        eventlet.sleep(0.2)
        assert running[1] == 4
        assert started == [0, 1, 2, 3]  # started in arrival order
        assert client.stats.messages_received < total
        assert dispatcher.running == most
        gate.send(None)
        assert wait_until(lambda: len(started) == total, 30)
        assert client.join_handlers(30)
        assert sorted(started) == list(range(total))
        assert running[1] == 4
        sender.wait()


def test_handler_errors_are_logged_counted_and_dispatch_goes_on(
    srv: ReferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    with connected(srv) as client:
        seen: list[int] = []

        @client.on("*")
        def fragile(message: Any) -> None:
            if message["n"] % 2:
                raise RuntimeError(f"boom {message['n']}")
            seen.append(message["n"])

        with caplog.at_level(logging.ERROR, logger="greenclient"):
            for n in range(6):
                srv.broadcast({"n": n})
            assert wait_until(lambda: client.stats.handler_errors == 3, 10)
            assert client.join_handlers(10)
        assert seen == [0, 2, 4]
        assert sum("boom" in (r.exc_text or "") for r in caplog.records) == 3
        assert client.state is greenclient.ConnectionState.OPEN


def test_connection_events_in_order_with_messages(srv: ReferenceServer) -> None:
    log: list[Any] = []
    policy = greenclient.ReconnectPolicy(initial_delay=0.01)
    client = greenclient.GreenClient("127.0.0.1", srv.port, reconnect=policy)
    client.on(greenclient.Connected)(log.append)
    client.on(greenclient.Disconnected)(log.append)
    client.on("chat")(lambda m: log.append(m["n"]))
    with client.connect():
        assert srv.wait_for_clients(1, 10)
        srv.broadcast({"type": "chat", "n": 1})
        assert wait_until(lambda: len(log) == 2, 10)
        srv.close_clients()
        assert wait_until(lambda: client.stats.reconnects == 1, 10)
        assert srv.wait_for_clients(1, 10)
        srv.broadcast({"type": "chat", "n": 2})
        assert wait_until(lambda: len(log) == 5, 10)
    assert client.join_handlers(10)
    assert isinstance(log[0], greenclient.Connected)
    assert not log[0].reconnect
    assert log[1] == 1
    assert isinstance(log[2], greenclient.Disconnected)
    assert log[2].will_reconnect
    assert isinstance(log[3], greenclient.Connected)
    assert log[3].reconnect
    assert log[4] == 2
    assert isinstance(log[5], greenclient.Disconnected)
    assert not log[5].will_reconnect


def test_a_handler_can_make_requests(srv: ReferenceServer) -> None:
    with connected(srv) as client:
        answers: list[Any] = []

        @client.on("question")
        def ask_back(message: Any) -> None:
            answers.append(client.request({"about": message["n"]}, timeout=10)["echo"]["about"])

        for n in range(5):
            srv.broadcast({"type": "question", "n": n})
        assert wait_until(lambda: len(answers) == 5, 20)
        assert answers == [0, 1, 2, 3, 4]


def test_handlers_finish_the_backlog_after_the_connection_ends(srv: ReferenceServer) -> None:
    client = connected(srv)
    seen: list[int] = []

    @client.on("*")
    def slow(message: Any) -> None:
        eventlet.sleep(0.001)
        seen.append(message["n"])

    for n in range(50):
        srv.broadcast({"n": n})
    assert wait_until(lambda: client.stats.messages_received == 50, 10)
    srv.close_clients()
    assert wait_until(lambda: client.closed, 10)
    assert client.join_handlers(30)
    assert seen == list(range(50))


def test_duplicate_and_bad_registrations(srv: ReferenceServer) -> None:
    with connected(srv) as client:
        client.on("chat")(print)
        with pytest.raises(ValueError, match="already registered"):
            client.on("chat")(print)
        with pytest.raises(TypeError):
            client.on(42)(print)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="concurrency"):
        greenclient.GreenClient("127.0.0.1", 1, concurrency=0)


def test_dispatcher_lends_event_slots_and_gives_them_back() -> None:
    dispatcher = Dispatcher(backlog=2)
    gate = eventlet.event.Event()
    done: list[Any] = []

    def wait_then_log(item: Any) -> None:
        gate.wait()
        done.append(item)

    dispatcher.put(wait_then_log, 0)  # taken by the dispatcher, which then waits
    eventlet.sleep(0)
    dispatcher.put(done.append, 1)
    dispatcher.put(done.append, 2)  # the backlog is full now
    for n in range(3, 6):
        dispatcher.put_now(done.append, n)  # never waits
    gate.send(None)
    assert dispatcher.join(10)
    assert done == [0, 1, 2, 3, 4, 5]
    assert dispatcher._backlog.maxsize == 2
    dispatcher.stop()


def test_a_put_interrupted_while_waiting_for_room_leaves_no_count_behind() -> None:
    dispatcher = Dispatcher(backlog=1)
    gate = eventlet.event.Event()
    dispatcher.put(lambda item: gate.wait(), 0)
    eventlet.sleep(0)  # the dispatcher takes it and waits on the gate
    dispatcher.put(lambda item: None, 1)  # fills the backlog
    blocked = eventlet.spawn(dispatcher.put, lambda item: None, 2)
    eventlet.sleep(0)
    assert dispatcher.running == 3
    blocked.kill()
    assert dispatcher.running == 2
    gate.send(None)
    assert dispatcher.join(10)
    dispatcher.stop()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_handler_whose_own_eventlet_timeout_escapes_is_an_error_like_any(
    srv: ReferenceServer, concurrency: int, caplog: pytest.LogCaptureFixture
) -> None:
    # eventlet.Timeout is a BaseException: with concurrency=1 it killed the
    # dispatcher, and every later message waited for a handler for ever.
    with connected(srv, concurrency=concurrency) as client:
        seen: list[int] = []

        @client.on("*")
        def impatient(message: Any) -> None:
            if message["n"] == 0:
                with eventlet.Timeout(0.01):
                    eventlet.sleep(1)
            seen.append(message["n"])

        with caplog.at_level(logging.ERROR, logger="greenclient"):
            for n in range(4):
                srv.broadcast({"n": n})
            assert wait_until(lambda: len(seen) == 3, 10)
            assert client.join_handlers(10)
        assert sorted(seen) == [1, 2, 3]
        assert client.stats.handler_errors == 1
        assert sum("Timeout" in (r.exc_text or "") for r in caplog.records) == 1


def test_join_waits_for_what_was_handed_over_before_the_call_only() -> None:
    dispatcher = Dispatcher(concurrency=2)
    gates = [eventlet.event.Event() for _ in range(3)]
    done: list[int] = []

    def wait_for_gate(item: int) -> None:
        gates[item].wait()
        done.append(item)

    dispatcher.put(wait_for_gate, 0)
    dispatcher.put(wait_for_gate, 1)
    eventlet.sleep(0)
    joined = eventlet.spawn(dispatcher.join, 10)
    eventlet.sleep(0)
    dispatcher.put(wait_for_gate, 2)  # after the call: not waited for
    gates[1].send(None)
    gates[0].send(None)
    assert joined.wait() is True
    assert sorted(done) == [0, 1]
    assert dispatcher.running == 1
    gates[2].send(None)
    assert dispatcher.join(10)
    assert dispatcher.running == 0
    dispatcher.stop()


def test_an_item_that_got_in_behind_stop_is_dropped_and_join_returns() -> None:
    dispatcher = Dispatcher(backlog=1)
    gate = eventlet.event.Event()
    ran: list[int] = []

    def handle(item: int) -> None:
        ran.append(item)
        if item == 1:
            gate.wait()

    dispatcher.put(handle, 1)
    eventlet.sleep(0)  # 1 runs and waits on the gate
    dispatcher.put(handle, 2)  # the backlog is full
    late = eventlet.spawn(dispatcher.put, handle, 3)  # waits for room
    eventlet.sleep(0)
    dispatcher.stop()  # the stop marker gets a slot of its own, ahead of 3
    gate.send(None)
    assert dispatcher.join(5)
    late.wait()
    assert ran == [1, 2]
    assert dispatcher.running == 0
