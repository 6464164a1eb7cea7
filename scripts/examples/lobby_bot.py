"""A small greenclient application: a bot that joins a lobby and answers "!ping".

It shows the two layers above the queue: ``request()`` (joining is a request
whose reply says how many members the room has) and handlers (``on("chat")``
for chat messages, ``on(Connected)`` to join again after every reconnection).
Its tests, ``test_lobby_bot.py``, run it against greenclient's scripted server.
"""

from __future__ import annotations

from typing import Any  # typing creates no locks, sockets or threads

import greenclient  # before anything that does: it monkey-patches the standard library


class LobbyBot:
    """Joins ``room`` as ``name`` on every connection; answers ``!ping`` with ``pong``.

    Args:
        host, port: the chat server.
        name: the bot's name in the room.
        room: the room to join.
        join_timeout: seconds to wait for the server to confirm a join.
    """

    def __init__(
        self,
        host: str,
        port: int,
        name: str = "bot",
        room: str = "lobby",
        join_timeout: float = 5.0,
    ):
        self.name = name
        self.room = room
        self.join_timeout = join_timeout
        self.members: int | None = None
        self.pings = 0
        self.errors: list[greenclient.GreenClientError] = []
        self.client: greenclient.GreenClient = greenclient.GreenClient(
            host, port, reconnect=greenclient.ReconnectPolicy(initial_delay=0.05)
        )
        self.client.on(greenclient.Connected)(self._on_connected)
        self.client.on("chat")(self._on_chat)

    def start(self) -> LobbyBot:
        """Connect; the bot joins its room as soon as the connection is up."""
        self.client.connect()
        return self

    def join(self) -> int:
        """Join the room; return how many members it has.

        Raises:
            greenclient.RequestTimeout: the server did not confirm in time.
        """
        reply = self.client.request(
            {"type": "join", "room": self.room, "name": self.name}, timeout=self.join_timeout
        )
        members: int = reply["members"]
        self.members = members
        return members

    def _on_connected(self, event: greenclient.Connected) -> None:
        # A handler runs beside the listener, so it may wait for a reply.
        try:
            self.join()
        except greenclient.GreenClientError as exc:
            self.errors.append(exc)  # a real bot would log it, or retry later

    def _on_chat(self, message: Any) -> None:
        if message.get("text") == "!ping" and message.get("user") != self.name:
            self.pings += 1
            reply = {"type": "chat", "user": self.name, "to": message.get("user"), "text": "pong"}
            self.client.send(reply)

    def close(self) -> None:
        """Leave: close the connection."""
        self.client.close()

    def __enter__(self) -> LobbyBot:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
