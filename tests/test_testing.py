"""The test kit: ScriptedServer's steps, its failure reports, and the greenserver fixture."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import eventlet
import pytest

import greenclient
from greenclient.testing import ScriptedServer, ScriptFailed, matches

from .helpers import wait_until
from .scala_server import ROOT


def test_matches() -> None:
    assert matches({"type": "chat", "user": "ana"}, {"type": "chat"})
    assert not matches({"type": "move"}, {"type": "chat"})
    assert not matches({"user": "ana"}, {"type": "chat"})
    assert matches({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}})
    assert not matches({"a": {"b": 2}}, {"a": {"b": 1}})
    assert not matches(["type", "chat"], {"type": "chat"})
    assert matches({"n": 5}, lambda m: m["n"] > 3)
    assert matches("anything", None)
    assert matches([1, 2], [1, 2])
    assert not matches([1, 2], [2, 1])


def test_matches_compares_as_json_values() -> None:
    # JSON true is not 1 and null is not "anything": an assertion must not pass on them.
    assert not matches({"ok": 1, "count": False}, {"ok": True, "count": 0})
    assert not matches({"ok": 0.0}, {"ok": False})
    assert not matches({"items": [1]}, {"items": [True]})
    assert not matches({"error": "disk full"}, {"error": None})
    assert matches({"error": None}, {"error": None})
    assert matches({"ok": True, "n": 1.0}, {"ok": True, "n": 1})
    # A class matches its instances; int is not bool, float takes any number.
    assert not matches({"n": "5"}, {"n": int})
    assert not matches({"n": True}, {"n": int})
    assert matches({"n": 5, "x": 2, "id": "a"}, {"n": int, "x": float, "id": str})
    # Lists match item by item, partially for the dicts in them.
    assert matches([{"a": 1, "b": 2}], [{"a": 1}])
    assert not matches([1, 2, 3], [1, 2])
    # As the whole pattern, None still matches any message: expect() with no pattern.
    assert matches({"anything": True}, None)


def test_every_step_against_a_real_client(greenserver: ScriptedServer) -> None:
    greenserver.expect({"type": "hello"}).send({"type": "welcome"})
    greenserver.expect({"type": "ask"}).reply({"type": "answer", "n": 42})
    greenserver.send_raw(b'{"partial":').send_raw(b' "yes"}~').close()
    greenserver.expect({"type": "hello", "again": True}).reset()
    policy = greenclient.ReconnectPolicy(initial_delay=0.01)
    with greenclient.connect(greenserver.host, greenserver.port, reconnect=policy) as client:
        client.send({"type": "hello"})
        assert client.get(timeout=10) == {"type": "welcome"}
        reply = client.request({"type": "ask"}, timeout=10)
        assert reply == {"type": "answer", "n": 42, "_correlation_id": reply["_correlation_id"]}
        assert client.get(timeout=10) == {"partial": "yes"}
        # The close: the client reconnects; then it says hello again and is reset.
        assert wait_until(lambda: client.stats.reconnects == 1, 10)
        client.send({"type": "hello", "again": True})
        greenserver.wait()
    assert greenserver.connections >= 2
    assert greenserver.received[0] == {"type": "hello"}


def test_expect_close(greenserver: ScriptedServer) -> None:
    greenserver.expect({"type": "bye"}).expect_close()
    with greenclient.connect(greenserver.host, greenserver.port) as client:
        client.send({"type": "bye"})
    greenserver.wait()


def failing(script: Any, drive: Any, timeout: float = 0.5) -> str:
    """Play ``script`` against a client that ``drive`` drives; return the failure's text."""
    with ScriptedServer(timeout=timeout) as server:
        script(server)
        with greenclient.connect(server.host, server.port) as client:
            drive(client)
            with pytest.raises(ScriptFailed) as info:
                server.wait()
    server.check()  # reported once only
    return str(info.value)


def test_a_message_that_does_not_match_is_reported_with_the_script() -> None:
    text = failing(
        lambda s: s.expect({"type": "join"}).send({"ok": 1}),
        lambda c: c.send({"type": "leave"}),
    )
    assert "step 1 failed: expect({'type': 'join'}): received {'type': 'leave'}" in text
    assert "[failed] expect({'type': 'join'}) -> send({'ok': 1})" in text


def test_a_message_that_never_comes_is_a_timeout() -> None:
    text = failing(lambda s: s.expect({"type": "join"}), lambda c: None, timeout=0.2)
    assert "no message within 0.2 s" in text


def test_a_client_that_leaves_early_is_reported() -> None:
    text = failing(lambda s: s.expect({"type": "join"}), lambda c: c.close())
    assert "the client disconnected instead" in text


def test_a_frame_that_is_not_json_is_reported() -> None:
    def drive(client: greenclient.GreenClient) -> None:
        client.protocol.codec = greenclient.TextCodec()
        client.send("not json")

    text = failing(lambda s: s.expect({"type": "join"}), drive)
    assert "not JSON" in text


def test_reply_needs_a_correlation_id() -> None:
    text = failing(lambda s: s.expect().reply(), lambda c: c.send({"plain": True}))
    assert "has no '_correlation_id'" in text


def test_a_script_left_unfinished_fails_the_test_at_teardown(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["greenclient.testing"]\n')
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import greenclient
            import pytest

            def test_forgets_a_step(greenserver):
                greenserver.expect({"type": "hello"}).expect({"type": "never"})
                with greenclient.connect(greenserver.host, greenserver.port) as client:
                    client.send({"type": "hello"})
                    greenserver.timeout = 0.2

            def test_fails_by_itself(greenserver):
                greenserver.expect({"type": "never"})
                assert False, "the test's own failure"

            def test_skips_itself(greenserver):
                greenserver.expect({"type": "never"})
                pytest.skip("not here")

            @pytest.mark.xfail(reason="known")
            def test_expected_to_fail(greenserver):
                greenserver.expect({"type": "never"})
                assert False
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        # Only the plugin under test: third-party plugins installed here (hypothesis,
        # which loads trio) could import a socket library after the monkey patching.
        env={
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in out, out
    assert "1 error" in out, out
    assert "ERROR at teardown of test_forgets_a_step" in out, out
    assert "expect({'type': 'never'})" in out, out
    assert "the test's own failure" in out, out
    assert "ERROR at teardown of test_fails_by_itself" not in out, out
    # Nor a step timeout waited out for them: the fixture did not wait at all.
    assert "no message within" not in out, out


def test_a_send_step_with_no_client_connected_fails() -> None:
    # "Steps that talk to a client wait for one to be connected first": the client
    # left after its message, so the send step waits for a client, and none comes.
    def drive(client: greenclient.GreenClient) -> None:
        client.send({"type": "join"})
        client.close(drain=True)

    text = failing(lambda s: s.expect({"type": "join"}).sleep(0.3).send({"w": 1}), drive)
    assert "step 3 failed: send({'w': 1}): no client connection within 0.5 s" in text


def test_a_send_step_waits_for_the_next_client() -> None:
    with ScriptedServer(timeout=10) as server:
        server.expect({"type": "join"}).sleep(0.2).send({"type": "welcome"})
        server.expect({"type": "thanks"})
        with greenclient.connect(server.host, server.port) as first:
            first.send({"type": "join"})
        eventlet.sleep(0.5)  # the send step is waiting for a client by now
        assert not server.done
        with greenclient.connect(server.host, server.port) as second:
            assert second.get(timeout=10) == {"type": "welcome"}
            second.send({"type": "thanks"})
            server.wait()


def test_a_step_that_raises_is_reported() -> None:
    text = failing(lambda s: s.send({"not json": object()}), lambda c: None)
    assert "step 1 failed: EncodeError" in text
