"""Tests of the example application, written with greenclient's test kit.

Each test writes what the server does (``greenserver``'s script), drives the
bot, and checks that the whole script played (``greenserver.wait()``).
"""

from __future__ import annotations

import greenclient
from greenclient.testing import ScriptedServer

from .lobby_bot import LobbyBot


def test_joins_on_connect_and_answers_ping(greenserver: ScriptedServer) -> None:
    greenserver.expect({"type": "join", "room": "lobby", "name": "bot"}).reply(
        {"type": "joined", "members": 3}
    )
    greenserver.send({"type": "chat", "user": "ana", "text": "!ping"})
    greenserver.expect({"type": "chat", "to": "ana", "text": "pong"})
    with LobbyBot(greenserver.host, greenserver.port):
        greenserver.wait()


def test_joins_again_after_a_reset(greenserver: ScriptedServer) -> None:
    join = {"type": "join", "room": "lobby"}
    greenserver.expect(join).reply({"members": 1})
    greenserver.reset()
    greenserver.expect(join).reply({"members": 2})
    with LobbyBot(greenserver.host, greenserver.port) as bot:
        greenserver.wait()
        assert bot.client.join_handlers(10)
        assert bot.members == 2
        assert bot.client.stats.reconnects == 1


def test_ignores_broken_frames_and_other_messages(greenserver: ScriptedServer) -> None:
    greenserver.expect({"type": "join"}).reply({"members": 1})
    greenserver.send_raw(b"{this is not json~")
    greenserver.send({"type": "move", "x": 1})
    greenserver.send({"type": "chat", "user": "bob", "text": "hello"})
    greenserver.send({"type": "chat", "user": "bob", "text": "!ping"})
    greenserver.expect({"type": "chat", "to": "bob", "text": "pong"})
    with LobbyBot(greenserver.host, greenserver.port) as bot:
        greenserver.wait()
        assert bot.client.get(timeout=5) == {"type": "move", "x": 1}  # no handler: the queue
        assert bot.client.stats.decode_errors == 1
        assert bot.pings == 1


def test_a_join_that_times_out_is_reported(greenserver: ScriptedServer) -> None:
    greenserver.expect({"type": "join"})  # no reply: the join on connect times out
    with LobbyBot(greenserver.host, greenserver.port, join_timeout=0.2) as bot:
        greenserver.wait()
        assert bot.client.join_handlers(10)
        assert bot.members is None
        assert [type(e) for e in bot.errors] == [greenclient.RequestTimeout]
        # The server answers a second try.
        greenserver.expect({"type": "join"}).reply({"members": 5})
        assert bot.join() == 5
        greenserver.wait()
