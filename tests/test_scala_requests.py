"""request() against the Scala servers (scala.actors, Pekko) and the reference server.

Each answers an object with a ``_correlation_id`` by writing
``{"type": "reply", "_correlation_id": id, "echo": request}`` to every client
(``tests/test_scala.py`` checks that wire contract; here ``request()`` relies on it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import eventlet
import pytest

import greenclient

from .scala_server import ServerProcess
from .test_scala import FRAMING_KINDS, pekko_command, scala_command, start_server

__all__ = ["pekko_command", "scala_command"]  # fixtures, used by start_server


@pytest.fixture(scope="module", params=FRAMING_KINDS)
def peer(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    server = start_server(request, request.param)
    try:
        yield server
    finally:
        server.stop()


def test_request_reply_with_non_ascii_and_a_tilde(peer: ServerProcess) -> None:
    peer.wait_clients(0)
    with greenclient.connect("127.0.0.1", peer.port) as client:
        peer.wait_clients(1)
        message = {"type": "join", "room": "salão ~ 大厅 🎉", "n": 7}
        reply = client.request(message, timeout=30)
        assert reply["type"] == "reply"
        assert reply["echo"] == {**message, "_correlation_id": reply["_correlation_id"]}


def test_concurrent_requests_and_two_clients(peer: ServerProcess) -> None:
    peer.wait_clients(0)
    clients = [greenclient.connect("127.0.0.1", peer.port) for _ in range(2)]
    try:
        peer.wait_clients(2)

        def ask(index: int, worker: int) -> list[Any]:
            client = clients[index]
            return [
                client.request({"c": index, "w": worker, "i": i}, timeout=30)["echo"]
                for i in range(5)
            ]

        threads = [eventlet.spawn(ask, c, w) for c in range(2) for w in range(10)]
        with eventlet.Timeout(120):
            results = [thread.wait() for thread in threads]
        pairs = [(c, w) for c in range(2) for w in range(10)]
        for (c, w), echoes in zip(pairs, results, strict=True):
            assert [(e["c"], e["w"], e["i"]) for e in echoes] == [(c, w, i) for i in range(5)]
        # Each client saw the other's 50 replies on its queue, never its own.
        for index, client in enumerate(clients):
            others = [client.get(timeout=30) for _ in range(50)]
            assert {m["echo"]["c"] for m in others} == {1 - index}
            assert client.stats.late_replies == 0
    finally:
        for client in clients:
            client.close()
