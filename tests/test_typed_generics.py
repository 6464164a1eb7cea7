"""mypy sees a client's message type: GreenClient is generic over what its codec decodes.

One test uses a typed client over a real socket; the other runs mypy (strict) on
a snippet and checks the types it reveals and the errors it reports.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest

import greenclient
from greenclient.testing import ScriptedServer
from greenclient.typed import MsgspecCodec

from .helpers import run_mypy


class Chat(msgspec.Struct, tag="chat", tag_field="type"):
    text: str


class Move(msgspec.Struct, tag="move", tag_field="type"):
    x: int


Message = Chat | Move


def test_typed_client_types_at_run_time(greenserver: ScriptedServer) -> None:
    greenserver.send({"type": "chat", "text": "hi"}).send({"type": "move", "x": 1})
    greenserver.expect({"type": "move", "x": 2})
    codec = MsgspecCodec[Message](Message)
    with greenclient.connect(greenserver.host, greenserver.port, codec=codec) as client:
        first = client.get(timeout=10)
        assert first == Chat("hi")
        for message in client:
            assert message == Move(1)
            break
        moves: list[Move] = []

        @client.on(Move)
        def on_move(move: Move) -> None:
            moves.append(move)

        client.send(Move(2))
        greenserver.wait()


def test_mypy_rejects_a_wrong_message_type(tmp_path: Path) -> None:
    pytest.importorskip("mypy")  # the dev extra
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            import msgspec
            import greenclient
            from greenclient.typed import MsgspecCodec

            class Chat(msgspec.Struct, tag="chat"):
                text: str

            client = greenclient.GreenClient("h", 1, codec=MsgspecCodec[Chat](Chat))
            reveal_type(client.get())
            reveal_type(client.request({"a": 1}))
            for message in client:
                reveal_type(message)
            reveal_type(greenclient.GreenClient("h", 1))
            number: int = client.get()

            @client.on(Chat)
            def handle(message: int) -> None: ...
            """
        )
    )
    done = run_mypy(snippet)
    out = done.stdout
    assert 'Revealed type is "snippet.Chat"' in out, out
    assert out.count('Revealed type is "snippet.Chat"') == 3, out
    assert 'Revealed type is "greenclient.client.GreenClient[Any]"' in out, out
    assert (
        'Incompatible types in assignment (expression has type "Chat", variable has type "int")'
        in out
    ), out
    assert "handle" in out or 'Argument 1 has incompatible type "Callable[[int], None]"' in out, out
    errors = [line for line in out.splitlines() if "snippet.py" in line and ": error:" in line]
    assert len(errors) == 2, out
