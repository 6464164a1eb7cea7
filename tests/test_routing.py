"""The routing decisions, without sockets or green threads: ids, the pending table, handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import greenclient
from greenclient.errors import DecodeError
from greenclient.routing import (
    CATCH_ALL,
    CorrelationIds,
    HandlerRegistry,
    PendingRequests,
    Router,
    dict_field,
)


def test_ids_have_a_random_prefix_per_object_and_a_counter() -> None:
    a, b = CorrelationIds(), CorrelationIds()
    assert a.prefix != b.prefix
    assert a.prefix.endswith(".")
    assert len(a.prefix) == 17
    ids = [a.next() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids[:2] == [a.prefix + "1", a.prefix + "2"]
    assert all(a.is_ours(i) for i in ids)
    assert not any(b.is_ours(i) for i in ids)
    assert not a.is_ours(17)
    assert not a.is_ours(None)
    assert not a.is_ours([a.prefix])


def test_pending_take_classifies_ours_theirs_and_late() -> None:
    table: PendingRequests[str] = PendingRequests("me.")
    first, second = table.add("w1"), table.add("w2")
    assert (first, second) == ("me.1", "me.2")
    assert len(table) == 2
    assert table.take(second) == (True, "w2")
    assert table.take(second) == (True, None)  # answered twice: the second is late
    assert table.late == 1
    assert table.take("you.1") == (False, None)  # another client's reply
    assert table.take(None) == (False, None)
    assert table.take(["me.1"]) == (False, None)  # not a str: never ours, never hashed
    assert table.take({"a": 1}) == (False, None)
    assert table.late == 1
    table.discard(first)  # timed out
    table.discard(first)  # idempotent
    assert len(table) == 0
    assert table.take(first) == (True, None)
    assert table.late == 2


def test_pending_take_all_empties_the_table() -> None:
    table: PendingRequests[int] = PendingRequests()
    for waiter in range(5):
        table.add(waiter)
    assert sorted(table.take_all()) == [0, 1, 2, 3, 4]
    assert len(table) == 0
    assert table.take_all() == []


def test_pending_never_accumulates_over_many_requests() -> None:
    table: PendingRequests[int] = PendingRequests()
    for n in range(10_000):
        cid = table.add(n)
        if n % 3 == 0:
            assert table.take(cid) == (True, n)
        else:
            table.discard(cid)
    assert len(table) == 0


@dataclass
class Chat:
    text: str


class Shout(Chat):
    pass


def handler(name: str) -> Any:
    def run(message: Any) -> str:
        return name

    run.__name__ = name
    return run


def test_registry_finds_by_class_then_type_then_catch_all() -> None:
    registry: HandlerRegistry[str] = HandlerRegistry()
    assert not registry
    assert registry.find({"type": "chat"}) is None
    registry.add("chat", "by-type")
    assert registry
    registry.add(Chat, "by-class")
    assert registry.find({"type": "chat"}) == "by-type"
    assert registry.find({"type": "move"}) is None
    assert registry.find(Chat("x")) == "by-class"
    assert registry.find(Shout("x")) == "by-class"  # nearest base class
    registry.add(CATCH_ALL, "all")
    assert registry.find({"type": "move"}) == "all"
    assert registry.find({"no": "type"}) == "all"
    assert registry.find({"type": ["not", "hashable"]}) == "all"
    assert registry.find("a text message") == "all"
    registry.add(Shout, "shout")
    assert registry.find(Shout("x")) == "shout"
    registry.remove(Shout)
    assert registry.find(Shout("x")) == "by-class"


def test_registry_events_by_class_only() -> None:
    registry: HandlerRegistry[str] = HandlerRegistry()
    registry.add(CATCH_ALL, "all")
    event = greenclient.Connected("h", 1, False)
    assert registry.find_event(event) is None  # the catch-all takes messages only
    registry.add(greenclient.Connected, "on-connected")
    assert registry.find_event(event) == "on-connected"
    assert registry.find_event(greenclient.Disconnected(None, False)) is None


def test_registry_refuses_duplicates_and_bad_keys() -> None:
    registry: HandlerRegistry[str] = HandlerRegistry()
    registry.add("chat", "a")
    registry.add(CATCH_ALL, "b")
    with pytest.raises(ValueError, match="chat"):
        registry.add("chat", "c")
    with pytest.raises(ValueError, match="catch-all"):
        registry.add(CATCH_ALL, "c")
    with pytest.raises(TypeError):
        registry.add(3, "c")  # type: ignore[arg-type]
    registry.remove("chat")
    registry.remove(CATCH_ALL)
    registry.remove("never-registered")
    assert not registry


def test_registry_type_field_is_configurable() -> None:
    registry: HandlerRegistry[str] = HandlerRegistry("kind")
    registry.add("chat", "a")
    assert registry.find({"kind": "chat"}) == "a"
    assert registry.find({"type": "chat"}) is None


def make_router(prefix: str = "me.") -> tuple[Router[str, str], list[tuple[str, Any]]]:
    log: list[tuple[str, Any]] = []
    router: Router[str, str] = Router(
        PendingRequests(prefix),
        HandlerRegistry(),
        reply=lambda waiter, message: log.append((waiter, message)),
        dispatch=lambda handler, message: log.append((handler, message)),
    )
    return router, log


def test_router_with_nothing_registered_returns_everything() -> None:
    router, log = make_router()
    assert not router.active
    batch = [{"type": "chat"}, {"_correlation_id": "me.1"}, "text"]
    assert router.route(batch) == batch
    assert log == []


def test_router_replies_go_to_their_request_only_in_order() -> None:
    router, log = make_router()
    w1 = router.pending.add("w1")
    w2 = router.pending.add("w2")
    router.requests_made = True
    batch = [
        {"type": "reply", "_correlation_id": w2, "n": 2},
        {"type": "chat", "n": 3},
        {"type": "reply", "_correlation_id": "other.1", "n": 4},  # another client's
        {"type": "reply", "_correlation_id": w1, "n": 5},
        {"type": "reply", "_correlation_id": w1, "n": 6},  # late: w1 answered already
    ]
    assert router.route(batch) == [batch[1], batch[2]]
    assert log == [("w2", batch[0]), ("w1", batch[3])]
    assert router.pending.late == 1
    assert len(router.pending) == 0


def test_router_handlers_take_their_messages_and_errors_stay_in_place() -> None:
    router, log = make_router()
    router.handlers.add("chat", "on-chat")
    assert router.active
    error = DecodeError("bad", b"x")
    batch: list[Any] = [{"type": "chat", "n": 1}, error, {"type": "move"}, {"type": "chat", "n": 2}]
    assert router.route(batch, errors=True) == [error, {"type": "move"}]
    assert log == [("on-chat", batch[0]), ("on-chat", batch[3])]


def test_router_catch_all_never_takes_replies() -> None:
    router, log = make_router()
    router.handlers.add(CATCH_ALL, "all")
    cid = router.pending.add("w")
    router.requests_made = True
    batch = [{"type": "chat"}, {"_correlation_id": cid}]
    assert router.route(batch) == []
    assert log == [("all", batch[0]), ("w", batch[1])]


def test_dict_field() -> None:
    assert dict_field({"a": 1}, "a") == 1
    assert dict_field({"a": 1}, "b") is None
    assert dict_field(["a"], "a") is None
    assert dict_field("a", "a") is None
