"""Opening a connection, and the one map from socket errors to greenclient's errors.

:func:`open_connection` opens TCP, sets keepalive and wraps TLS under **one**
deadline (``connect_timeout`` bounds the whole open, however slowly a server
trickles its handshake). :class:`Transport` is one open connection's socket: it
is read by exactly one green thread (the client's runner) and written by exactly
one other (the client's writer), and only the runner closes it, after the writer
has stopped, so a TLS socket is never torn down under a reader and its raw bytes
are never read.

:func:`map_error` is the one place that turns what the socket layer raises
(``OSError``, ``ssl`` errors, timeouts, ``UnicodeError`` for a host name such as
``"a..b"``, ``gaierror``) into :class:`~greenclient.ConnectError` (opening) or
:class:`~greenclient.ConnectionLost` (receiving, sending), the original kept as
``__cause__``.
"""

from __future__ import annotations

import _ssl
import contextlib
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import Final, Literal

import eventlet
import eventlet.hubs
import eventlet.timeout

from . import _checks
from .backoff import is_retryable
from .errors import ConnectError, ConnectionLost, GreenClientError, ReadIdleTimeout
from .events import KeepAlive

try:  # Linux: how many written bytes the peer has not acknowledged yet
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _SIOCOUTQ = None

__all__ = ["Transport", "check_tls", "map_error", "open_connection"]

logger = logging.getLogger("greenclient")

#: While lingering, at most this many reads are discarded between two checks.
LINGER_READS: Final = 64
#: The longest pause between two checks of what the peer acknowledged.
LINGER_MAX_PAUSE: Final = 0.05

Action = Literal["connect", "receive", "send"]

_WHILE: Final = {"receive": "receiving", "send": "sending"}


def map_error(exc: BaseException, host: str, port: int, action: Action) -> GreenClientError:
    """Return the greenclient error for ``exc``, raised while doing ``action`` with host:port.

    Opening (``action="connect"``) gives a :class:`ConnectError` whose
    ``retryable`` comes from :func:`greenclient.backoff.is_retryable`; receiving
    and sending give a :class:`ConnectionLost`. The caller raises the result
    ``from exc``.
    """
    where = f"{host}:{port}"
    if action != "connect":
        return ConnectionLost(f"connection to {where} lost while {_WHILE[action]}: {exc!r}")
    retryable = is_retryable(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = f"TLS certificate of {where} not accepted: {exc}"
    elif isinstance(exc, ssl.SSLError):
        message = f"TLS handshake with {where} failed: {exc!r}"
    elif isinstance(exc, socket.gaierror):
        message = f"cannot resolve {host!r}: {exc}"
    elif isinstance(exc, UnicodeError):
        message = f"invalid host name {host!r}: {exc}"
    elif isinstance(exc, (TimeoutError, eventlet.timeout.Timeout)):
        message = f"connecting to {where} timed out"
        retryable = True
    elif isinstance(exc, ConnectionRefusedError):
        message = f"connection to {where} refused"
    else:
        message = f"cannot connect to {where}: {exc!r}"
    return ConnectError(message, retryable=retryable)


def check_tls(context: ssl.SSLContext | None, server_hostname: str | None) -> None:
    """Check a client's TLS arguments, and turn renegotiation off on ``context``.

    TLS 1.2 renegotiation, started by the server, makes a write wait to read
    the socket that the listener is reading; eventlet refuses a second reader
    and the connection breaks with a ``RuntimeError``. With
    ``OP_NO_RENEGOTIATION`` (set on ``context`` here, where OpenSSL has it) the
    client refuses the server's request instead, and the connection goes on
    or the server ends it, which the client reports and survives like any end.

    Raises:
        TypeError: ``context`` is not an ``ssl.SSLContext`` (or was made before
            eventlet's monkey patch), ``server_hostname`` not a ``str``.
        ValueError: ``context`` is a server-side context, or its minimum TLS
            version is above its maximum (no attempt could ever succeed);
            ``server_hostname`` is not a valid host name.
    """
    if context is not None:
        given: object = context  # typed loosely: the application may pass anything
        if not isinstance(given, ssl.SSLContext) and isinstance(given, _ssl._SSLContext):
            # An ssl.SSLContext of the module as it was before eventlet patched it.
            raise TypeError(
                "ssl_context was made before eventlet's monkey patch (which importing "
                "greenclient applies): make it after `import greenclient`"
            )
        _checks.instance("ssl_context", context, ssl.SSLContext, "an ssl.SSLContext or None")
        if context.protocol == ssl.PROTOCOL_TLS_SERVER:
            raise ValueError(
                "ssl_context is a server-side context (PROTOCOL_TLS_SERVER); "
                "a client needs one such as ssl.create_default_context()"
            )
        low, high = context.minimum_version, context.maximum_version
        bounds = (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED)
        if low not in bounds and high not in bounds and low > high:
            raise ValueError(
                f"ssl_context allows no TLS version: its minimum {low.name} "
                f"is above its maximum {high.name}"
            )
        context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    if server_hostname is not None:
        _checks.instance("server_hostname", server_hostname, str, "a str or None")
        try:
            if not server_hostname or "\x00" in server_hostname:
                raise UnicodeError("empty, or holds a NUL character")
            server_hostname.encode("idna")
        except UnicodeError as exc:
            raise ValueError(
                f"server_hostname {server_hostname!r} is no valid host name: {exc}"
            ) from None


def _set_keepalive(sock: socket.socket, keepalive: KeepAlive) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", keepalive.idle),
        ("TCP_KEEPINTVL", keepalive.interval),
        ("TCP_KEEPCNT", keepalive.count),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


def open_connection(
    host: str,
    port: int,
    *,
    timeout: float | None,
    keepalive: KeepAlive | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    read_idle_timeout: float | None = None,
) -> Transport:
    """Open TCP (and TLS) to host:port within ``timeout`` seconds in all.

    Name resolution, the TCP connect and the TLS handshake share one deadline.
    Whoever calls this owns the half-open socket: if the calling green thread is
    killed meanwhile, the socket is closed before the exception goes on.

    Raises:
        ConnectError: the connection could not be opened; ``retryable`` says
            whether trying again may help.
    """
    sock: socket.socket | None = None
    deadline = eventlet.timeout.Timeout(timeout) if timeout is not None else None
    try:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if keepalive is not None:
            _set_keepalive(sock, keepalive)
        if ssl_context is not None:
            # suppress_ragged_eofs=False: a reset, or an end without TLS's
            # close_notify, raises SSLEOFError instead of passing for a clean end
            # of stream (eventlet's green SSL recv turns a reset into b"").
            sock = ssl_context.wrap_socket(
                sock,
                server_hostname=server_hostname or host,
                do_handshake_on_connect=False,
                suppress_ragged_eofs=False,
            )
            sock.do_handshake()
        sock.settimeout(None)
        return Transport(sock, host, port, read_idle_timeout)
    except eventlet.timeout.Timeout as exc:
        _close_quietly(sock)
        if exc is not deadline:
            raise  # someone else's timeout: not ours to map
        error = TimeoutError(f"connect_timeout of {timeout} s passed")
        raise map_error(error, host, port, "connect") from error
    except (OSError, ValueError, UnicodeError) as exc:
        _close_quietly(sock)
        raise map_error(exc, host, port, "connect") from exc
    except BaseException:
        _close_quietly(sock)
        raise
    finally:
        if deadline is not None:
            deadline.cancel()


def _close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


class Transport:
    """One open connection: ``recv`` for its one reader, ``sendall`` for its one writer.

    Every error leaves as :class:`ConnectionLost` (or :class:`ReadIdleTimeout`);
    ``recv`` returns ``b""`` only for a clean end of stream. For plain TCP it
    reads the underlying non-blocking socket and waits in the hub itself,
    because eventlet's green ``recv`` turns ECONNRESET into ``b""`` and a reset
    would pass for a clean end.

    Args:
        sock: a connected green socket (``ssl.SSLSocket`` for TLS).
        host, port: the peer, for messages.
        read_idle_timeout: seconds without any byte after which ``recv`` raises
            ``ReadIdleTimeout`` (None: never).
    """

    __slots__ = ("_idle", "_idle_exc", "_raw", "host", "peer", "port", "sock", "tls")

    def __init__(
        self, sock: socket.socket, host: str, port: int, read_idle_timeout: float | None = None
    ):
        self.sock = sock
        self.host = host
        self.port = port
        self.peer = f"{host}:{port}"
        self.tls = isinstance(sock, ssl.SSLSocket)
        self._raw: socket.socket | None = None if self.tls else getattr(sock, "fd", None)
        self._idle = read_idle_timeout
        self._idle_exc = (
            None
            if read_idle_timeout is None
            else ReadIdleTimeout(f"no data for {read_idle_timeout} seconds")
        )

    def recv(self, size: int) -> bytes:
        """Wait for bytes; return them, or ``b""`` at a clean end of stream.

        Raises:
            ConnectionLost: the connection broke (reset, TLS error...).
            ReadIdleTimeout: nothing arrived for ``read_idle_timeout`` seconds.
        """
        raw = self._raw
        try:
            if raw is None:
                if self._idle is None:
                    return self.sock.recv(size)
                # A timeout around recv loses nothing (around sendall it could).
                with eventlet.timeout.Timeout(self._idle, self._idle_exc):
                    return self.sock.recv(size)
            while True:
                try:
                    return raw.recv(size)
                except BlockingIOError:
                    eventlet.hubs.trampoline(
                        raw, read=True, timeout=self._idle, timeout_exc=self._idle_exc
                    )
        except ReadIdleTimeout:
            raise
        except (OSError, eventlet.hubs.IOClosed, ValueError) as exc:
            # ValueError: a TLS socket closed under the reader (never by greenclient).
            raise map_error(exc, self.host, self.port, "receive") from exc

    def recv_nowait(self, size: int) -> bytes | None:
        """Return what can be read without waiting (``b""`` at end of stream), None if nothing.

        Used once the connection is ending, to deliver what already arrived.
        Afterwards the socket no longer waits (TLS), so call it only then.

        Raises:
            ConnectionLost: the connection broke.
        """
        try:
            if self._raw is not None:
                try:
                    return self._raw.recv(size)
                except BlockingIOError:
                    return None
            self.sock.setblocking(False)
            try:
                return self.sock.recv(size)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return None
        except (OSError, ValueError) as exc:
            raise map_error(exc, self.host, self.port, "receive") from exc

    def sendall(self, data: bytes) -> None:
        """Write all of ``data``, waiting (in the hub) while the kernel's buffer is full.

        Raises:
            ConnectionLost: the connection broke; part of ``data`` may have left.
        """
        try:
            self.sock.sendall(data)
        except (OSError, eventlet.hubs.IOClosed, ValueError) as exc:
            raise map_error(exc, self.host, self.port, "send") from exc

    def close(self, linger_until: Callable[[], float] | None = None) -> None:
        """Close the socket. Only the reader calls it, once the writer has stopped.

        Args:
            linger_until: returns a ``time.monotonic()`` deadline (``math.inf``:
                none), asked again at every check, so that it can be moved.
                Closing a socket with unread bytes makes the kernel send a
                reset, which drops the written bytes the peer has not
                acknowledged yet. So first, until the peer has acknowledged
                every written byte (on Linux; elsewhere this is not known and
                nothing is waited for) or the deadline passes, what arrives is
                read and discarded. None: close at once.
        """
        if linger_until is not None:
            with contextlib.suppress(GreenClientError, OSError, ValueError):
                unacknowledged = self._linger(linger_until)
                if unacknowledged:
                    logger.warning(
                        "greenclient: closed the connection to %s with %d written bytes "
                        "not yet acknowledged by the peer: they may be lost",
                        self.peer,
                        unacknowledged,
                    )
        _close_quietly(self.sock)

    def _linger(self, until: Callable[[], float]) -> int | None:
        """Discard what arrives until the peer acknowledged every written byte, or ``until()``.

        Returns:
            How many written bytes are still unacknowledged (None: unknown).
        """
        pause = 0.001
        while True:
            for _ in range(LINGER_READS):
                if not self.recv_nowait(65536):  # None: nothing now; b"": end of stream
                    break
            unacknowledged = self.unacknowledged()
            left = until() - time.monotonic()
            if not unacknowledged or left <= 0:
                return unacknowledged
            eventlet.sleep(min(pause, left))
            pause = min(pause * 2, LINGER_MAX_PAUSE)

    def unacknowledged(self) -> int | None:
        """How many written bytes the peer has not acknowledged (None: not known here)."""
        if _SIOCOUTQ is None:
            return None
        try:
            raw = fcntl.ioctl(self.sock.fileno(), _SIOCOUTQ, b"\0\0\0\0")
        except (OSError, ValueError):
            return None
        count: int = struct.unpack("i", raw)[0]
        return count
