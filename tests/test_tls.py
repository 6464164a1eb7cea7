"""TLS against a real TLS server on loopback, with certificates made by the test (trustme)."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventlet
import pytest
import trustme

import greenclient
from greenclient.server import ReferenceServer

from .conftest import require_tool
from .helpers import RawServer, free_port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[ReferenceServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with ReferenceServer("127.0.0.1", 0, ssl_context=context) as server:
        yield server


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_tls_round_trip_with_verified_certificate(
    ca: trustme.CA, tls_server: ReferenceServer
) -> None:
    with greenclient.connect(
        "127.0.0.1", tls_server.port, ssl_context=trusting(ca), server_hostname="localhost"
    ) as client:
        assert tls_server.wait_for_clients(1, 5)
        tls_server.broadcast({"secret": "olá ~"})
        assert client.get(timeout=5) == {"secret": "olá ~"}
        client.send({"reply": "ok"})
        assert tls_server.received.get(timeout=5) == {"reply": "ok"}


def test_untrusted_certificate_fails_fast_and_is_not_retryable(
    tls_server: ReferenceServer,
) -> None:
    with pytest.raises(greenclient.ConnectError, match="certificate") as info:
        greenclient.connect(
            "127.0.0.1",
            tls_server.port,
            ssl_context=ssl.create_default_context(),
            server_hostname="localhost",
            connect_timeout=5,
        )
    assert not info.value.retryable


def test_wrong_hostname_fails(ca: trustme.CA, tls_server: ReferenceServer) -> None:
    with pytest.raises(greenclient.ConnectError, match="certificate"):
        greenclient.connect(
            "127.0.0.1",
            tls_server.port,
            ssl_context=trusting(ca),
            server_hostname="not-the-server.example",
            connect_timeout=5,
        )


def test_reconnect_stops_on_a_certificate_error(tls_server: ReferenceServer) -> None:
    policy = greenclient.ReconnectPolicy(initial_delay=0.01, retry_initial=True)
    with pytest.raises(greenclient.ConnectError):
        greenclient.connect(
            "127.0.0.1",
            tls_server.port,
            ssl_context=ssl.create_default_context(),
            server_hostname="localhost",
            reconnect=policy,
            connect_timeout=5,
        )


def test_tls_handshake_with_a_silent_server_times_out(ca: trustme.CA) -> None:
    # The server accepts TCP but never answers the TLS handshake.
    def silent(sock: socket.socket) -> None:
        sock.recv(65536)
        eventlet.sleep(10)

    with RawServer(silent) as raw, pytest.raises(greenclient.ConnectError, match="timed out"):
        greenclient.connect(
            "127.0.0.1",
            raw.port,
            ssl_context=trusting(ca),
            server_hostname="localhost",
            connect_timeout=0.5,
        )


def test_a_connect_timeout_keeps_its_cause(ca: trustme.CA) -> None:
    def silent(sock: socket.socket) -> None:
        sock.recv(65536)
        eventlet.sleep(10)

    with RawServer(silent) as raw, pytest.raises(greenclient.ConnectError) as info:
        greenclient.connect("127.0.0.1", raw.port, ssl_context=trusting(ca), connect_timeout=0.3)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert info.value.retryable


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), "server-side context"),
        (
            lambda: _versions(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2),
            "allows no TLS version",
        ),
    ],
)
def test_a_tls_context_that_can_never_connect_is_refused_at_construction(
    make: Any, text: str
) -> None:
    # Every attempt would fail the same way: refused at once, not retried for ever.
    with pytest.raises(ValueError, match=text):
        greenclient.GreenClient("127.0.0.1", 8000, ssl_context=make(), reconnect=True)


def _versions(low: ssl.TLSVersion, high: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.minimum_version = low
    context.maximum_version = high
    return context


@pytest.mark.parametrize("name", ["a..b", ".x", "a\x00b", ""])
def test_an_invalid_server_hostname_is_refused_at_construction(name: str) -> None:
    with pytest.raises(ValueError, match="server_hostname"):
        greenclient.GreenClient(
            "127.0.0.1", 8000, ssl_context=ssl.create_default_context(), server_hostname=name
        )


def test_a_server_that_renegotiates_tls_does_not_break_the_client(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # TLS 1.2 renegotiation makes a write wait to read the socket the listener
    # reads: eventlet refuses the second reader ("Second simultaneous read"), which
    # broke the writer. The client now refuses renegotiation: the server may end
    # the connection, which is reported like any end.
    openssl = require_tool("openssl")
    pem = tmp_path / "server.pem"
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(pem))
    port = free_port()
    command = [openssl, "s_server", "-tls1_2", "-accept", f"127.0.0.1:{port}"]
    command += ["-cert", str(pem), "-naccept", "1"]
    server = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ends: list[BaseException | None] = []
    try:
        # Retries while s_server starts; then stays closed once it has quit.
        policy = greenclient.ReconnectPolicy(
            initial_delay=0.1, max_delay=0.1, max_attempts=50, retry_initial=True
        )
        client = greenclient.connect(
            "127.0.0.1",
            port,
            ssl_context=trusting(ca),
            server_hostname="localhost",
            reconnect=policy,
            on_disconnect=lambda _client, reason: ends.append(reason),
        )
        assert client.state is greenclient.ConnectionState.OPEN

        def send_big_frames() -> None:
            with contextlib.suppress(greenclient.GreenClientError):
                for i in range(3000):
                    client.send({"i": i, "pad": "x" * 20_000})

        sender = eventlet.spawn(send_big_frames)
        assert server.stdin is not None
        for _ in range(10):  # ask s_server to renegotiate while the writer writes
            eventlet.sleep(0.1)
            if ends:
                break
            server.stdin.write(b"R\n")
            server.stdin.flush()
        eventlet.sleep(0.5)
        sender.kill()
        client.close()
    finally:
        server.kill()
        server.wait(timeout=10)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    for reason in ends:
        assert reason is None or isinstance(reason, greenclient.GreenClientError)
        assert "RuntimeError" not in repr(reason)


def test_the_reference_server_closes_tls_clients_without_a_stray_error(
    ca: trustme.CA, tls_server: ReferenceServer, capfd: pytest.CaptureFixture[str]
) -> None:
    ends: list[BaseException | None] = []
    client = greenclient.connect(
        "127.0.0.1",
        tls_server.port,
        ssl_context=trusting(ca),
        server_hostname="localhost",
        on_disconnect=lambda _client, reason: ends.append(reason),
    )
    try:
        assert tls_server.wait_for_clients(1, 5)
        eventlet.sleep(0.1)  # the server's reader now waits in recv()
        tls_server.close_clients()
        for _ in range(200):  # bounded: the client sees the end within a moment
            if ends and tls_server.clients == 0:
                break
            eventlet.sleep(0.01)
        assert len(ends) == 1
        assert tls_server.clients == 0
    finally:
        client.close()
    assert "Read on closed or unwrapped SSL socket" not in capfd.readouterr().err


def test_the_reference_server_closes_a_client_still_in_its_handshake_quietly(
    tls_server: ReferenceServer, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.port)) as raw:  # no handshake
        assert tls_server.wait_for_clients(1, 5)
        eventlet.sleep(0.1)  # the server's handshake waits for the client's hello
        tls_server.close_clients()
        for _ in range(200):  # bounded
            if tls_server.clients == 0:
                break
            eventlet.sleep(0.01)
        assert tls_server.clients == 0
        raw.settimeout(5)
        assert raw.recv(1) == b""
    assert "Traceback" not in capfd.readouterr().err
