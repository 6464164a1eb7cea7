"""A GreenClient with the msgspec codec over real loopback sockets: Structs in and out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import attrs
import eventlet
import msgspec
import pytest

import greenclient
from greenclient.server import ReferenceServer
from greenclient.typed import MsgspecCodec

from .helpers import wait_until


class Chat(msgspec.Struct, tag="chat", tag_field="type"):
    user: str
    text: str


class Move(msgspec.Struct, tag="move", tag_field="type"):
    player: str
    x: int
    y: int


class Join(msgspec.Struct, tag="join", tag_field="type"):
    room: str


class Reply(msgspec.Struct, tag="reply", tag_field="type"):
    correlation_id: str = msgspec.field(name="_correlation_id")
    echo: dict[str, Any] = msgspec.field(default_factory=dict)


Message = Chat | Move | Join | Reply


@pytest.fixture
def srv() -> Iterator[ReferenceServer]:
    with ReferenceServer("127.0.0.1", 0) as server:
        yield server


def typed_client(server: ReferenceServer, **options: Any) -> greenclient.GreenClient:
    expected = server.clients + 1
    client = greenclient.connect(
        "127.0.0.1", server.port, codec=MsgspecCodec[Message](Message), **options
    )
    assert server.wait_for_clients(expected, 10.0)
    return client


def test_typed_messages_in_and_out(srv: ReferenceServer) -> None:
    with typed_client(srv) as client:
        srv.broadcast({"type": "chat", "user": "ana", "text": "olá ~"})
        assert client.get(timeout=5) == Chat("ana", "olá ~")
        client.send(Move("bob", 1, -2))
        assert srv.received.get(timeout=5) == {"type": "move", "player": "bob", "x": 1, "y": -2}


def test_validation_failure_is_reported_like_a_bad_frame(srv: ReferenceServer) -> None:
    errors: list[greenclient.ProtocolError] = []
    with typed_client(srv, on_error=errors.append) as client:
        srv.broadcast({"type": "move", "player": "bob", "x": "three", "y": 0})
        srv.broadcast({"type": "dance"})
        srv.broadcast({"type": "move", "player": "bob", "x": 3, "y": 0})
        assert client.get(timeout=5) == Move("bob", 3, 0)
        assert [type(e) for e in errors] == [greenclient.DecodeError] * 2
        assert "Expected `int`, got `str` - at `$.x`" in str(errors[0])
        assert "Invalid value 'dance' - at `$.type`" in str(errors[1])
        assert client.stats.decode_errors == 2


def test_typed_request_and_handler_by_class(srv: ReferenceServer) -> None:
    with typed_client(srv) as client:
        chats: list[Chat] = []
        client.on(Chat)(chats.append)
        reply = client.request(Join("lobby"), timeout=10)
        assert isinstance(reply, Reply)
        cid = reply.correlation_id
        assert reply.echo == {"type": "join", "room": "lobby", "_correlation_id": cid}
        srv.broadcast({"type": "chat", "user": "ana", "text": "hi"})
        srv.broadcast({"type": "move", "player": "bob", "x": 1, "y": 1})
        assert client.get(timeout=5) == Move("bob", 1, 1)
        assert wait_until(lambda: chats == [Chat("ana", "hi")], 10)


def test_handler_by_tag_string_and_reply_struct_with_its_id(srv: ReferenceServer) -> None:
    srv.answer_requests = False
    with typed_client(srv) as client:
        moves: list[Any] = []
        client.on("move")(moves.append)
        srv.broadcast({"type": "move", "player": "p", "x": 0, "y": 0})
        assert wait_until(lambda: moves == [Move("p", 0, 0)], 10)
        # A Struct that has the correlation field gets its value replaced, not a copy as dict.
        thread = eventlet.spawn(client.request, Reply(correlation_id="ignored"), 30)
        request = srv.received.get(timeout=5)
        assert request["type"] == "reply"
        assert request["_correlation_id"] != "ignored"
        srv.broadcast({"type": "reply", "_correlation_id": request["_correlation_id"]})
        assert thread.wait() == Reply(correlation_id=request["_correlation_id"])


@dataclasses.dataclass
class PlainMessage:
    """A dataclass message type: msgspec reads and writes each field under its name."""

    type: str
    text: str = ""
    _correlation_id: str = ""
    echo: dict[str, Any] = dataclasses.field(default_factory=dict)


@attrs.define
class AttrsMessage:
    type: str
    text: str = ""
    echo: dict[str, Any] = attrs.field(factory=dict)


@pytest.mark.parametrize("kind", [PlainMessage, AttrsMessage])
def test_dataclass_and_attrs_messages_are_routed_by_their_type_field(
    srv: ReferenceServer, kind: type
) -> None:
    client = greenclient.connect("127.0.0.1", srv.port, codec=MsgspecCodec(kind))
    with client:
        assert srv.wait_for_clients(1, 10.0)
        chats: list[Any] = []
        client.on("chat")(chats.append)
        srv.broadcast({"type": "chat", "text": "hi"})
        srv.broadcast({"type": "move", "text": "e4"})
        assert client.get(timeout=5) == kind("move", "e4")
        assert wait_until(lambda: chats == [kind("chat", "hi")], 10)


def test_a_dataclass_reply_is_matched_to_its_request(srv: ReferenceServer) -> None:
    client = greenclient.connect("127.0.0.1", srv.port, codec=MsgspecCodec(PlainMessage))
    with client:
        assert srv.wait_for_clients(1, 10.0)
        reply = client.request(PlainMessage("join", "lobby"), timeout=10)
        assert reply.type == "reply"
        assert reply.echo == {
            "type": "join",
            "text": "lobby",
            "_correlation_id": reply._correlation_id,
            "echo": {},
        }
        assert client.stats.late_replies == 0
        with pytest.raises(eventlet.queue.Empty):
            client.get(timeout=0.2)  # the reply went to request(), not to the queue
