"""greenclient against real Scala servers on the JVM, and against its reference server.

Every scenario runs against each server, driven the same way through the
stdin/stdout protocol of ``tests/scala_server.py``:

* ``scala``: ``tests/scala/GreenServer.scala`` (scala.actors, Debian's ``scala``);
* ``pekko``: ``RecommendedServer`` of the Maven project ``tests/pekko/`` (Apache
  Pekko IO, Scala 2.13): per-connection framing, Jackson, acknowledged writes;
* ``pekko-plain``: ``PlainServer`` of the same project, written as most Akka IO
  servers are (one plain ``Write`` per message, each ``Received`` printed as it is);
* ``python``: greenclient's reference server (``python -m greenclient.server``).

The JVM cases carry the ``scala`` or ``pekko`` marker and need Debian's ``scala``,
or Maven and a JDK (a skip without them locally, an error in CI where
GREENCLIENT_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventlet
import eventlet.greenthread
import eventlet.timeout
import pytest

import greenclient

from .conftest import require_tool
from .scala_server import (
    ServerFailed,
    ServerProcess,
    build_pekko_servers,
    compile_scala_server,
    pekko_server_argv,
    python_server_argv,
    python_server_env,
    scala_server_argv,
)

SCALA = pytest.param("scala", marks=pytest.mark.scala)
PEKKO = pytest.param("pekko", marks=pytest.mark.pekko)
PEKKO_PLAIN = pytest.param("pekko-plain", marks=pytest.mark.pekko)
KINDS = [SCALA, PEKKO, PEKKO_PLAIN, "python"]
#: The servers that frame what they receive. The plain Pekko server prints each
#: Received as UTF-8 on its own: a character split between two reads is lost, so
#: the scenarios that split characters on their way to the server leave it out.
FRAMING_KINDS = [SCALA, PEKKO, "python"]

#: What a game server broadcasts: accents, CJK, emoji (outside the BMP), a "~".
MESSAGES: list[Any] = [
    {"type": "chat", "user": "ana", "text": "olá, café às três, ça va"},
    {"type": "chat", "user": "李雷", "text": "你好，世界 / こんにちは"},
    {"type": "score", "player": "zoë", "points": 120, "badge": "🎉😀"},
    {"type": "chat", "text": 'a ~ tilde, "quotes" and \\ a backslash'},
    {"seq": 5, "nested": {"list": [1, 2.5, -3, None, True, False]}, "empty": ""},
]


@pytest.fixture(scope="session")
def scala_command() -> tuple[str, Path]:
    """``scala`` and the compiled classes (compiled once; reused while the source is unchanged)."""
    scala = require_tool("scala")  # first: its name is also the Debian package's
    scalac = require_tool("scalac")
    return scala, compile_scala_server(scalac)


@pytest.fixture(scope="session")
def pekko_command() -> tuple[str, str]:
    """``java`` and the class path of the Pekko servers (built with Maven once)."""
    mvn = require_tool("mvn", "maven")
    java = require_tool("java", "default-jdk-headless")
    return java, build_pekko_servers(mvn)


def start_server(request: pytest.FixtureRequest, kind: str, delimiter: str = "~") -> ServerProcess:
    """Start the ``kind`` server ("scala", "pekko", "pekko-plain" or "python") on a free port."""
    if kind == "scala":
        scala, classes = request.getfixturevalue("scala_command")
        argv = scala_server_argv(scala, classes, 0, delimiter)
        return ServerProcess(argv, name="scala", delimiter=delimiter).start()
    if kind.startswith("pekko"):
        java, classpath = request.getfixturevalue("pekko_command")
        argv = pekko_server_argv(java, classpath, kind, 0, delimiter)
        return ServerProcess(argv, name=kind, delimiter=delimiter).start()
    argv = python_server_argv(0, delimiter)
    return ServerProcess(argv, name="python", delimiter=delimiter, env=python_server_env()).start()


@pytest.fixture(scope="module", params=KINDS)
def module_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    server = start_server(request, request.param)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(module_server: ServerProcess) -> Iterator[ServerProcess]:
    """The module's server with no client and nothing received; left that way after the test."""
    module_server.wait_clients(0)
    while not module_server.received.empty():
        module_server.received.get_nowait()
    module_server.invalid.clear()
    yield module_server
    module_server.close_clients()
    try:
        module_server.wait_clients(0, timeout=10)
    except ServerFailed:
        module_server.start()  # it lost track of its clients: the next test gets a fresh one


@contextlib.contextmanager
def clients(
    server: ServerProcess, count: int, **options: Any
) -> Iterator[list[greenclient.GreenClient]]:
    """``count`` connected clients, once the server has registered them all; closed on exit."""
    with contextlib.ExitStack() as stack:
        opened = [
            stack.enter_context(
                greenclient.connect(server.host, server.port, connect_timeout=10, **options)
            )
            for _ in range(count)
        ]
        server.wait_clients(count)
        yield opened


def take(client: greenclient.GreenClient, count: int, timeout: float = 10.0) -> list[Any]:
    return [client.get(timeout=timeout) for _ in range(count)]


def assert_same(expected: Any, actual: Any, where: str = "value") -> None:
    """Equal JSON values, and of the same JSON types (True is not 1; 2 and 2.0 are one number)."""
    message = f"{where}: {actual!r} != {expected!r}"
    if isinstance(expected, (bool, str)) or expected is None:
        assert type(actual) is type(expected), message
        assert actual == expected, message
    elif isinstance(expected, (int, float)):
        assert isinstance(actual, (int, float)), message
        assert not isinstance(actual, bool), message
        assert actual == expected, message
    elif isinstance(expected, list):
        assert isinstance(actual, list), message
        assert len(actual) == len(expected), message
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{where}[{i}]")
    else:
        assert isinstance(actual, dict), message
        assert actual.keys() == expected.keys(), message
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}[{key!r}]")


# -- server to greenclient --------------------------------------------------------


def test_broadcasts_arrive_decoded_and_in_order(server: ServerProcess) -> None:
    with clients(server, 3) as group:
        for message in MESSAGES:
            server.broadcast(message)
        for client in group:
            assert take(client, len(MESSAGES)) == MESSAGES


def test_messages_written_one_byte_per_write_arrive_intact(server: ServerProcess) -> None:
    # Every multi-byte character is split across writes, so across reads too.
    with clients(server, 2) as group:
        for message in MESSAGES[:3]:
            server.bytewise(server.encode(message))
        for client in group:
            assert take(client, 3) == MESSAGES[:3]


def test_many_messages_in_one_write_arrive_separately(server: ServerProcess) -> None:
    messages = [{"seq": i, "text": f"olá ~ {i} 😀"} for i in range(1000)]
    with clients(server, 2) as group:
        server.raw("".join(server.encode(m) + server.delimiter for m in messages))
        for client in group:
            assert take(client, len(messages)) == messages
            assert client.stats.messages_received == len(messages)


def test_message_split_across_writes_arrives_once(server: ServerProcess) -> None:
    text = server.encode({"text": "cut in the middle of 你好"})
    cut = text.index("你") + 1
    with clients(server, 1) as (client,):
        server.raw(text[:cut])
        server.raw(text[cut:] + server.delimiter)
        assert take(client, 1) == [{"text": "cut in the middle of 你好"}]
        assert client.queue.empty()


def test_json_framing_against_a_server_that_sends_no_delimiter(server: ServerProcess) -> None:
    # What the lecture's homework server does: JSON values back to back, nothing between.
    values: list[Any] = [
        {"text": "braces in a string: }{ and a ~ too"},
        {"nested": {"a": [1, {"b": "é"}]}},
        [1, "two", {"three": 3}],
        {"emoji": "😀"},
    ]
    stream = "".join(json.dumps(v, ensure_ascii=False) for v in values[:3]) + ' \t {"emo'
    with clients(server, 2, framing="json") as group:
        server.raw(stream)
        server.raw('ji": "😀"}')
        for client in group:
            assert take(client, len(values)) == values


@pytest.mark.parametrize("module_server", [SCALA, PEKKO, PEKKO_PLAIN], indirect=True)  # JVM
def test_scala_frame_helper_escapes_the_delimiter_inside_strings(server: ServerProcess) -> None:
    messages = [*MESSAGES, {"~": "~~", "list": ["~", "a~b"]}, {"text": "\\u007e stays text"}]
    with clients(server, 2) as group:
        for message in messages:
            server.command("json " + json.dumps(message, ensure_ascii=False, separators=(",", ":")))
        for client in group:
            assert take(client, len(messages)) == messages


# -- greenclient to server --------------------------------------------------------

#: Values that a broken encoder or parser gets wrong.
TRICKY: list[Any] = [
    "~",
    "~~ two tildes ~",
    "ends with a tilde~",
    'she said "olá"',
    "back\\slash, \\\\ two, and a trailing one \\",
    "\\u007e is six characters, not a tilde",
    '\\"~',
    "slash / and control \n\t\r\b\f\x01 characters",
    "accents àéîõü, CJK 李雷 你好, emoji 😀🎉👍🏽",
    "",
    0,
    -1,
    2**53,
    0.1,
    -2.5e-10,
    1e300,
    True,
    False,
    None,
    [],
    {},
    ["~", {"k~ey": "va~lue", "ü": ["😀", 1.5, None]}],
]


def test_server_parses_greenclient_json_to_the_exact_values(server: ServerProcess) -> None:
    sent = [{"i": i, "value": value} for i, value in enumerate(TRICKY)]
    with clients(server, 1) as (client,):
        for message in sent:
            client.send(message)
        received = server.take_received(len(sent))
    assert_same(sent, received)
    assert server.invalid == []


@pytest.mark.parametrize("module_server", FRAMING_KINDS, indirect=True)
def test_server_frames_bytes_that_arrive_one_at_a_time(server: ServerProcess) -> None:
    # A plain socket, so the split points are ours: inside characters and frames.
    wire = '{"a":"olá 😀 \\u007e"}~~{"b":[1,2]}~'.encode()
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.wait_clients(1)
        for i in range(len(wire)):
            sock.sendall(wire[i : i + 1])
            eventlet.sleep(0.002)
        assert server.take_received(2) == [{"a": "olá 😀 ~"}, {"b": [1, 2]}]
    assert server.invalid == []


def test_server_reports_bad_frames_and_keeps_the_connection(server: ServerProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        server.wait_clients(1)
        sock.sendall(b'{not json}~{"bad utf-8":"\xff"}~{"ok":"after"}~')
        assert server.take_received(1) == [{"ok": "after"}]
    assert len(server.invalid) == 2


# -- many clients, and the end of a connection -----------------------------------


def test_fifty_clients_get_every_broadcast_and_are_all_heard(server: ServerProcess) -> None:
    broadcasts = [{"seq": i, "text": f"à tous ~ {i} 📣"} for i in range(20)]
    with clients(server, 50) as group:
        for broadcast in broadcasts:
            server.broadcast(broadcast)
        for client in group:
            assert take(client, len(broadcasts)) == broadcasts
        sent: list[dict[str, Any]] = [
            {"client": c, "seq": k, "text": f"olá ~ {c}"} for k in range(3) for c in range(50)
        ]
        for message in sent:
            group[message["client"]].send(message)
        received = server.take_received(len(sent))
    key = json.dumps
    assert sorted(map(key, received)) == sorted(map(key, sent))
    for c in range(50):  # each client's messages in the order it sent them
        assert [m["seq"] for m in received if m["client"] == c] == [0, 1, 2]


def test_server_closing_wakes_every_blocked_consumer(server: ServerProcess) -> None:
    def by_get(client: greenclient.GreenClient) -> str:
        try:
            message = client.get()  # no timeout: only the end of the connection wakes it
        except greenclient.ConnectionClosed:
            return "closed"
        return f"got {message!r}"

    def by_iteration(client: greenclient.GreenClient) -> str:
        return f"ended after {list(client)!r}"

    with clients(server, 10) as group:
        waiters: list[eventlet.greenthread.GreenThread] = []
        for client in group:
            waiters.append(eventlet.spawn(by_get, client))
            waiters.append(eventlet.spawn(by_iteration, client))
        eventlet.sleep(0.05)
        assert not any(w.dead for w in waiters), "a consumer was not blocked"
        server.close_clients()
        with eventlet.timeout.Timeout(10, AssertionError("a blocked consumer was not woken")):
            results = [w.wait() for w in waiters]
        assert results == ["closed", "ended after []"] * 10
        assert all(client.closed for client in group)
        server.wait_clients(0, timeout=10)  # and the server has let go of every connection


def test_messages_sent_before_the_close_are_all_read_first(server: ServerProcess) -> None:
    with clients(server, 2) as group:
        for message in MESSAGES:
            server.broadcast(message)
        server.close_clients()
        for client in group:
            with eventlet.timeout.Timeout(10, AssertionError("iteration did not end")):
                assert list(client) == MESSAGES
            with pytest.raises(greenclient.ConnectionClosed):
                client.get(timeout=1)
        server.wait_clients(0, timeout=10)


def test_client_reconnects_after_the_server_closes_it(server: ServerProcess) -> None:
    policy = greenclient.ReconnectPolicy(initial_delay=0.05, max_delay=0.2, max_attempts=50)
    with clients(server, 1, reconnect=policy, events=True) as (client,):
        assert client.get(timeout=10) == greenclient.Connected(server.host, server.port, False)
        before = server.connections
        server.close_clients()
        lost = client.get(timeout=10)
        assert isinstance(lost, greenclient.Disconnected)
        assert lost.will_reconnect
        assert client.get(timeout=10) == greenclient.Connected(server.host, server.port, True)
        server.wait_connections(before + 1)
        server.wait_clients(1)
        server.broadcast(MESSAGES[1])
        assert client.get(timeout=10) == MESSAGES[1]
        client.send({"back": "de volta ~ 😀"})
        assert server.take_received(1) == [{"back": "de volta ~ 😀"}]
        assert client.stats.reconnects == 1


# -- another delimiter --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_two_byte_delimiter_both_ways(request: pytest.FixtureRequest, kind: str) -> None:
    server = start_server(request, kind, delimiter="\r\n")
    try:
        with clients(server, 2, delimiter="\r\n") as group:
            server.broadcast(MESSAGES[0])
            server.bytewise(server.encode(MESSAGES[2]))  # "\r" and "\n" in writes of their own
            server.send(server.encode(MESSAGES[1]))
            for client in group:
                assert take(client, 3) == [MESSAGES[0], MESSAGES[2], MESSAGES[1]]
            group[0].send({"text": "line\r\nbreaks ~ inside"})
            assert server.take_received(1) == [{"text": "line\r\nbreaks ~ inside"}]
        if kind == "pekko-plain":
            return  # it does not frame: a character split across reads is lost (see above)
        # The server's side of a delimiter split across reads: one byte per write.
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            server.wait_clients(1)
            for byte in '{"x":"é"}\r\n{"y":"😀"}\r\n'.encode():
                sock.sendall(bytes([byte]))
                eventlet.sleep(0.002)
            assert server.take_received(2) == [{"x": "é"}, {"y": "😀"}]
    finally:
        server.stop()


# -- a broadcast flood (the Pekko servers) ------------------------------------------

FLOOD = 100_000


def flood_message(i: int) -> dict[str, Any]:
    """What ``Control.floodMessage(i)`` of tests/pekko broadcasts."""
    return {"seq": i, "text": f"flood olá ~ 你好 😀 message number {i} of the broadcast"}


@pytest.mark.parametrize("module_server", [PEKKO, PEKKO_PLAIN], indirect=True)
def test_flood_delivers_every_message_the_server_wrote_in_order(server: ServerProcess) -> None:
    # The plain server may refuse Writes (CommandFailed) when a client's connection is
    # still busy with the previous one; the recommended one never does. Either way,
    # each client must get exactly what its server wrote: a prefix of the flood for
    # the plain server (after its first refusal it refuses every later Write), the
    # whole flood for the recommended one.
    with clients(server, 3) as group:
        refused = server.flood(FLOOD)
        assert len(refused) == 3
        if server.name == "pekko":
            assert refused == [0, 0, 0]
        server.close_clients()  # after the last byte each server accepted to write
        counts = []
        for client in group:
            with eventlet.timeout.Timeout(120, AssertionError("the flood did not end")):
                messages = list(client)
            assert messages == [flood_message(i) for i in range(len(messages))]
            counts.append(len(messages))
            assert client.stats.frames_too_large == client.stats.decode_errors == 0
            assert client.stats.partial_frames == 0
        assert sorted(counts) == sorted(FLOOD - r for r in refused)


# -- request and reply: the reply goes to every client -----------------------------


@pytest.mark.parametrize("module_server", [SCALA, PEKKO, "python"], indirect=True)
def test_server_answers_a_request_to_every_client(server: ServerProcess) -> None:
    request = {"_correlation_id": "r-1 ~ olá", "action": "ping", "n": [1, 2.5, None]}
    with clients(server, 2) as group:
        group[0].send(request)
        group[0].send({"no": "correlation id, no reply"})
        group[0].send({"_correlation_id": 7, "then": "a second one"})
        assert server.take_received(3)[0] == request
        for client in group:
            assert take(client, 2) == [
                {"type": "reply", "_correlation_id": "r-1 ~ olá", "echo": request},
                {
                    "type": "reply",
                    "_correlation_id": 7,
                    "echo": {"_correlation_id": 7, "then": "a second one"},
                },
            ]
