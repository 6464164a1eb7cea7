"""mypy sees a client's message type: GreenClient is generic over what its codec decodes.

The module is type-checked with the rest of the suite (``mypy``, strict), so each
``assert_type`` below is checked there; one test also runs mypy on a snippet
that must be rejected.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

import greenclient
from greenclient.testing import ScriptedServer
from greenclient.typed import MsgspecCodec

from .scala_server import ROOT

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:

    def assert_type(value: object, _type: object) -> object:
        return value


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
        assert_type(client, greenclient.GreenClient[Chat | Move])
        first = client.get(timeout=10)
        assert_type(first, Chat | Move)
        assert first == Chat("hi")
        for message in client:
            assert_type(message, Chat | Move)
            assert message == Move(1)
            break
        moves: list[Move] = []

        @client.on(Move)
        def on_move(move: Move) -> None:
            moves.append(move)

        client.send(Move(2))
        greenserver.wait()

    plain = greenclient.GreenClient("127.0.0.1", 1)
    assert_type(plain, greenclient.GreenClient[Any])


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
            number: int = client.get()

            @client.on(Chat)
            def handle(message: int) -> None: ...
            """
        )
    )
    # In a subprocess: mypy does not run inside a monkey-patched process on every hub.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            str(snippet),
            "--strict",
            "--no-incremental",
            "--config-file",
            "",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    out = done.stdout
    assert 'Revealed type is "snippet.Chat"' in out, out
    assert out.count('Revealed type is "snippet.Chat"') == 2, out
    assert (
        'Incompatible types in assignment (expression has type "Chat", variable has type "int")'
        in out
    ), out
    assert "handle" in out or 'Argument 1 has incompatible type "Callable[[int], None]"' in out, out
    errors = [line for line in out.splitlines() if "snippet.py" in line and ": error:" in line]
    assert len(errors) == 2, out
