"""TLS against a real TLS server on loopback, with certificates made by the test (trustme)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import eventlet
import pytest
import trustme

import greenclient
from greenclient.server import ReferenceServer

from .helpers import RawServer


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
