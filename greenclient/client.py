"""GreenClient: the socket, the listener green thread, the queue and the send lock.

Everything eventlet-specific in greenclient lives in this module. The framing
and decoding are done by :class:`~greenclient.protocol.MessageProtocol`, which
does no I/O.

Invariants:

* One green thread (the *runner*) owns the socket's reading side. It connects
  (and reconnects), starts ``on_connect`` in a green thread of its own, then
  loops recv -> protocol -> queue. When it ends, for whatever reason, its
  ``finally`` marks the client closed and wakes every green thread blocked in
  ``get()``, iteration or ``send()``; the end of each connection is reported
  (``on_disconnect``, ``Disconnected``) exactly once.
* ``send()`` waits while there is no connection, except in the runner's own
  callbacks, which could wait forever: there it raises ``ConnectionClosed``.
* A frame is written whole under one semaphore, so any number of green threads
  may call ``send()`` at once; frames never interleave.
* ``client.queue`` carries, in order: decoded messages; :class:`Connected` and
  :class:`Disconnected` events when ``events=True``; and finally :data:`END`
  once the connection is over for good.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import eventlet
import eventlet.event
import eventlet.greenthread
import eventlet.hubs
import eventlet.queue
import eventlet.semaphore
import eventlet.timeout
import greenlet

from .codec import Codec, CodecName
from .errors import (
    ConnectError,
    ConnectionClosed,
    DecodeError,
    FrameTooLarge,
    GreenClientError,
    JSONStreamError,
    PartialFrame,
    ProtocolError,
    ReadIdleTimeout,
    SendTimeout,
)
from .framing import DEFAULT_MAX_FRAME_SIZE, Framer, FramingName
from .protocol import MessageProtocol

__all__ = [
    "END",
    "Connected",
    "ConnectionState",
    "Disconnected",
    "GreenClient",
    "KeepAlive",
    "ReconnectPolicy",
    "Stats",
    "connect",
]

logger = logging.getLogger("greenclient")

DEFAULT_MAXSIZE: Final = 4096
DEFAULT_RECV_SIZE: Final = 64 * 1024


class _End:
    """The type of :data:`END`."""

    _instance: _End | None = None

    def __new__(cls) -> _End:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "greenclient.END"

    def __reduce__(self) -> str:
        return "END"


#: Put on ``client.queue`` once the connection is over for good. ``get()`` and
#: iteration turn it into ``ConnectionClosed``; read it yourself only if you
#: consume ``client.queue`` directly.
END: Final = _End()


class ConnectionState(enum.Enum):
    """Where a client is in its life."""

    NEW = "new"  #: created, connect() not called yet
    CONNECTING = "connecting"  #: opening the first connection
    OPEN = "open"  #: connected; messages flow
    RECONNECTING = "reconnecting"  #: lost the connection, trying again
    CLOSED = "closed"  #: over for good


@dataclass(frozen=True)
class Connected:
    """Event: a connection opened (``events=True`` puts it on the queue).

    ``reconnect`` is False for the first connection and True for later ones.
    """

    host: str
    port: int
    reconnect: bool


@dataclass(frozen=True)
class Disconnected:
    """Event: a connection ended. ``reason`` is the error, or None for a clean EOF/close."""

    reason: BaseException | None
    will_reconnect: bool


@dataclass(frozen=True)
class ReconnectPolicy:
    """How the client reconnects: exponential backoff with full jitter.

    The n-th consecutive attempt (n = 0, 1, ...) waits a random time between 0
    and ``min(max_delay, initial_delay * multiplier ** n)``. The count goes back
    to 0 only after a connection has stayed up for ``reset_after`` seconds, so a
    server that accepts and drops at once still sees growing delays.

    Args:
        initial_delay: the cap of the first delay, in seconds.
        max_delay: the largest delay, in seconds.
        multiplier: growth of the cap per failed attempt.
        max_attempts: give up after this many consecutive failed attempts
            (None: no limit).
        max_elapsed: give up after trying for this many seconds since the
            connection was lost (None: no limit).
        reset_after: seconds a connection must stay up to reset the backoff.
        retry_initial: ``connect()`` retries the first connection too, with the
            same policy, before it raises ``ConnectError``.
        seed: seed of the jitter's random numbers, for reproducible delays
            (None: seeded from the OS).

    Errors that retrying cannot fix (a name that does not resolve, a TLS
    certificate that does not verify) end the retries at once.
    """

    initial_delay: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_attempts: int | None = None
    max_elapsed: float | None = None
    reset_after: float = 5.0
    retry_initial: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the wait before attempt number ``attempt`` (0-based)."""
        cap = min(self.max_delay, self.initial_delay * self.multiplier ** min(attempt, 64))
        return (rng or random).uniform(0.0, cap)


@dataclass(frozen=True)
class KeepAlive:
    """TCP keepalive settings; applied where the OS has the option.

    A peer that vanishes without a FIN or RST (cable pulled, host gone) is
    noticed after about ``idle + interval * count`` seconds of silence.
    """

    idle: int = 60
    interval: int = 10
    count: int = 5


@dataclass
class Stats:
    """Counters of one client; they only ever grow."""

    messages_received: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    bytes_sent: int = 0
    #: frames skipped, by error kind
    frames_too_large: int = 0
    decode_errors: int = 0
    partial_frames: int = 0
    stream_errors: int = 0
    #: connections opened, and how many of them were reconnections
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    callback_errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    def count_error(self, error: ProtocolError) -> None:
        """Count one skipped frame under its kind."""
        if isinstance(error, FrameTooLarge):
            self.frames_too_large += 1
        elif isinstance(error, DecodeError):
            self.decode_errors += 1
        elif isinstance(error, PartialFrame):
            self.partial_frames += 1
        elif isinstance(error, JSONStreamError):
            self.stream_errors += 1
        kind = type(error).__name__
        self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1


_SHARED_RNG: Final = random.Random()


def _default_on_error(error: ProtocolError) -> None:
    logger.warning("greenclient: %s", error)


_NOT_RETRYABLE_GAI: Final = {
    getattr(socket, name)
    for name in ("EAI_NONAME", "EAI_FAIL", "EAI_SERVICE")
    if hasattr(socket, name)
}


def _map_connect_error(exc: BaseException, host: str, port: int) -> ConnectError:
    """Turn what opening a connection raised into a ConnectError (the one place that does)."""
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectError(f"TLS certificate of {where} not accepted: {exc}", retryable=False)
    if isinstance(exc, ssl.SSLError):
        return ConnectError(f"TLS handshake with {where} failed: {exc}", retryable=False)
    if isinstance(exc, socket.gaierror):
        retryable = exc.errno not in _NOT_RETRYABLE_GAI
        return ConnectError(f"cannot resolve {host!r}: {exc}", retryable=retryable)
    if isinstance(exc, (TimeoutError, eventlet.timeout.Timeout)):
        return ConnectError(f"connecting to {where} timed out")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"connection to {where} refused")
    return ConnectError(f"cannot connect to {where}: {exc}")


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


def _shutdown(sock: socket.socket | None) -> None:
    """Close ``sock`` so that green threads blocked in recv() or sendall() on it wake up.

    shutdown() makes the socket readable (recv returns b"") and breaks pending
    writes (EPIPE); the yield lets the hub deliver that to the waiting green
    threads before the descriptor goes away. A close() without it leaves them
    blocked forever, on the default hub and on the asyncio hub alike.
    """
    if sock is None:
        return
    with contextlib.suppress(OSError):  # ENOTCONN after a reset: the yield is needed all the same
        sock.shutdown(socket.SHUT_RDWR)
    eventlet.sleep(0)
    with contextlib.suppress(OSError):
        sock.close()


def _tls_receiver(sock: socket.socket, idle: float | None) -> Callable[[int], bytes]:
    """Return ``recv(size)`` for a green TLS socket, raising ReadIdleTimeout after ``idle`` s."""
    if idle is None:
        return sock.recv
    timeout_exc = ReadIdleTimeout(f"no data for {idle} seconds")

    def recv(size: int) -> bytes:
        # A timeout around recv loses nothing (around sendall it could: eventlet #332).
        with eventlet.timeout.Timeout(idle, timeout_exc):
            return sock.recv(size)

    return recv


class GreenClient:
    """A connection to a message server, read by a listener green thread.

    Args:
        host, port: the server, ``localhost:8000`` by default.
        delimiter: ends each frame with ``framing="delimiter"``; ``str`` (UTF-8)
            or ``bytes``, one byte or more. Default ``"~"``.
        framing: ``"delimiter"`` (default), ``"json"`` (consecutive JSON values
            with no delimiter) or ``"length"`` (4-byte big-endian length prefix),
            or a framer object (see :mod:`greenclient.framing`).
        codec: ``"json"`` (default), ``"text"``, ``"bytes"`` or a codec object,
            e.g. ``JsonCodec.orjson()``.
        max_frame_size: the largest frame accepted; longer ones are reported as
            ``FrameTooLarge`` and discarded without being stored. Default 1 MiB.
        maxsize: capacity of ``client.queue`` (default 4096 messages). When it is
            full the listener waits, and TCP makes the server wait in turn, so a
            slow reader bounds memory instead of growing it.
        on_error: called with each ``ProtocolError`` (a rejected frame), in the
            listener green thread. Default: a warning on the ``greenclient``
            logger. An exception it raises is logged and ignored.
        recv_size: bytes asked of each ``recv`` (default 64 KiB).
        connect_timeout: seconds to open a connection, TLS handshake included.
        reconnect: False (default), True for the default :class:`ReconnectPolicy`,
            or a policy.
        on_connect: called as ``on_connect(client)`` after every connection and
            reconnection, in a green thread of its own while the listener reads,
            before ``send()`` calls waiting for the connection go ahead: the place
            to send a hello.
        on_disconnect: called as ``on_disconnect(client, reason)`` whenever a
            connection ends.
        events: also put :class:`Connected` / :class:`Disconnected` on the queue,
            in order with the messages. An event never waits for room: a full
            queue grows by one slot for it.
        send_timeout: seconds ``send()`` waits for a connection while
            (re)connecting before raising ``SendTimeout``; None waits as long as
            the client tries to reconnect.
        read_idle_timeout: seconds without any byte received after which the
            connection is treated as dead (``ReadIdleTimeout``); None: never.
        keepalive: TCP keepalive settings, on by default; None turns it off.
        ssl_context: wrap the connection in TLS with this context (certificates
            are verified by ``ssl.create_default_context()``'s defaults).
        server_hostname: the name to verify the certificate against (default
            ``host``).
        yield_every: the listener yields to other green threads after each
            ``recv`` (eventlet's ``recv`` does not yield while data is waiting);
            kept for tests, leave it True.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 8000,
        *,
        delimiter: str | bytes = "~",
        framing: FramingName | Framer = "delimiter",
        codec: CodecName | Codec = "json",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        maxsize: int = DEFAULT_MAXSIZE,
        on_error: Callable[[ProtocolError], Any] | None = None,
        recv_size: int = DEFAULT_RECV_SIZE,
        connect_timeout: float | None = 10.0,
        reconnect: bool | ReconnectPolicy = False,
        on_connect: Callable[[GreenClient], Any] | None = None,
        on_disconnect: Callable[[GreenClient, BaseException | None], Any] | None = None,
        events: bool = False,
        send_timeout: float | None = None,
        read_idle_timeout: float | None = None,
        keepalive: KeepAlive | None = KeepAlive(),
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        yield_every: bool = True,
    ):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1 (eventlet's Queue(0) is a channel)")
        if recv_size < 1:
            raise ValueError("recv_size must be at least 1")
        self.host = host
        self.port = port
        self.protocol = MessageProtocol(
            framing=framing, codec=codec, delimiter=delimiter, max_frame_size=max_frame_size
        )
        self.queue: eventlet.queue.Queue[Any] = eventlet.queue.Queue(maxsize)
        self.stats = Stats()
        self.state = ConnectionState.NEW
        self.policy: ReconnectPolicy | None = (
            ReconnectPolicy() if reconnect is True else (reconnect or None)
        )
        self._on_error = on_error or _default_on_error
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._events = events
        self._recv_size = recv_size
        self._connect_timeout = connect_timeout
        self._send_timeout = send_timeout
        self._read_idle_timeout = read_idle_timeout
        self._keepalive = keepalive
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname
        self._yield = yield_every
        # Clients without a seed share one generator: 2.5 KB each adds up over
        # thousands of connections.
        seed = self.policy.seed if self.policy else None
        self._rng = _SHARED_RNG if seed is None else random.Random(seed)
        self._sock: socket.socket | None = None
        self._send_lock: eventlet.semaphore.Semaphore | None = None  # made by the first send
        # Fired when sends may go ahead (connected and on_connect done) or the
        # client closed; replaced by a fresh one whenever the connection is lost.
        self._ready = eventlet.event.Event()
        self._runner: greenlet.greenlet | None = None
        self._hello: greenlet.greenlet | None = None  # runs on_connect
        self._closing = False
        # Index of the next backoff delay: grows with every attempt, and goes back
        # to 0 once a connection has stayed up for the policy's reset_after.
        self._attempt = 0
        self.close_reason: BaseException | None = None
        #: Seconds waited before each reconnect attempt, most recent last (bounded).
        self.reconnect_delays: list[float] = []

    # -- opening -----------------------------------------------------------------

    def connect(self) -> GreenClient:
        """Open the connection and start the listener green thread.

        Returns:
            The client itself, so ``client = GreenClient(...).connect()`` works.

        Raises:
            ConnectError: the connection could not be opened (after the retries
                of a policy with ``retry_initial=True``).
            GreenClientError: the client was already connected or closed.
        """
        if self.state is not ConnectionState.NEW:
            raise GreenClientError(f"connect() on a client that is {self.state.value}")
        self.state = ConnectionState.CONNECTING
        try:
            if self.policy is not None and self.policy.retry_initial:
                sock = self._connect_with_retries(time.monotonic())
            else:
                sock = self._open()
        except BaseException as exc:
            self._finish(exc)
            raise
        if self._closing:  # close() came while the connection was being opened
            _shutdown(sock)
            raise ConnectionClosed("closed while connecting")
        # Start the listener last, once every attribute it uses exists.
        self._sock = sock
        self.state = ConnectionState.OPEN
        # spawn_n: a bare greenlet, lighter than a GreenThread (nobody waits on it).
        self._runner = eventlet.spawn_n(self._run, sock)
        return self

    def _open(self) -> socket.socket:
        """Open one connection (TCP, keepalive, TLS), or raise ConnectError."""
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._keepalive is not None:
                _set_keepalive(sock, self._keepalive)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(
                    sock,
                    server_hostname=self._server_hostname or self.host,
                    do_handshake_on_connect=False,
                )
                sock.do_handshake()  # still under connect_timeout
            sock.settimeout(None)
            return sock
        except (OSError, eventlet.timeout.Timeout) as exc:
            _shutdown(sock)
            raise _map_connect_error(exc, self.host, self.port) from exc
        except BaseException:  # killed by close() mid-connect: no other thread uses sock
            if sock is not None:
                sock.close()
            raise

    def _connect_with_retries(self, lost_at: float) -> socket.socket:
        """Try to connect following the policy; raise the last ConnectError on giving up.

        ``self._attempt`` carries the backoff count across reconnections; the
        runner resets it only after a connection stayed up ``reset_after`` seconds.
        """
        policy = self.policy
        assert policy is not None
        tries = 0
        while True:
            if self._closing:
                raise ConnectionClosed("closed while reconnecting")
            if tries or self.state is ConnectionState.RECONNECTING:
                delay = policy.delay(self._attempt, self._rng)
                if policy.max_elapsed is not None:
                    # Never sleep past the deadline; the last attempt comes at it.
                    delay = max(0.0, min(delay, lost_at + policy.max_elapsed - time.monotonic()))
                self._attempt += 1
                del self.reconnect_delays[:-100]
                self.reconnect_delays.append(delay)
                eventlet.sleep(delay)
                if self._closing:
                    raise ConnectionClosed("closed while reconnecting")
            tries += 1
            try:
                return self._open()
            except ConnectError as exc:
                if not exc.retryable:
                    raise
                if policy.max_attempts is not None and tries >= policy.max_attempts:
                    raise
                if (
                    policy.max_elapsed is not None
                    and time.monotonic() - lost_at >= policy.max_elapsed
                ):
                    raise

    # -- the runner green thread ----------------------------------------------------

    def _run(self, sock: socket.socket) -> None:
        reason: BaseException | None = None
        reconnecting = False
        unreported = False  # a connection is up whose end has not been reported yet
        try:
            while True:
                self._sock = sock
                self.state = ConnectionState.OPEN
                self.stats.connects += 1
                if reconnecting:
                    self.stats.reconnects += 1
                up_since = time.monotonic()
                unreported = True
                self._connected(reconnecting)
                reason = self._listen(sock)
                # Both before _shutdown() yields: a sender must never find the old,
                # fired event with no socket (it would spin without yielding).
                self._sock = None
                self._ready = eventlet.event.Event()
                _shutdown(sock)
                for item in self.protocol.receive_eof():
                    if isinstance(item, ProtocolError):
                        self._report(item)
                    else:
                        self._deliver(item)
                will_reconnect = self.policy is not None and not self._closing
                unreported = False
                self._disconnected(reason, will_reconnect)
                if not will_reconnect or self._closing:  # close() may come from on_disconnect
                    break
                self.state = ConnectionState.RECONNECTING
                assert self.policy is not None
                if time.monotonic() - up_since >= self.policy.reset_after:
                    self._attempt = 0
                try:
                    sock = self._connect_with_retries(time.monotonic())
                except ConnectionClosed:
                    break  # close() during the retries: not an error of the connection
                except GreenClientError as exc:
                    reason = exc
                    break
                reconnecting = True
        except greenlet.GreenletExit:
            # close() from another green thread killed the listener wherever it was
            # waiting; the end of the connection is still reported, once.
            reason = None
            if unreported:
                self._sock = None
                self._disconnected(None, False)
        except BaseException as exc:  # a bug: keep it visible, but still wake everyone
            logger.exception("greenclient: listener failed")
            reason = exc
        finally:
            self._finish(reason)

    def _connected(self, reconnect: bool) -> None:
        """Report a new connection, then let sends go ahead once on_connect is done.

        on_connect runs in a green thread of its own while the listener already
        reads: an on_connect that sends a lot to an echoing server must not wait
        for a listener that waits for it.
        """
        self._put_event(Connected(self.host, self.port, reconnect))
        if self._on_connect is None:
            self._ready.send(True)
        else:
            self._hello = eventlet.spawn_n(self._run_on_connect, self._ready)

    def _run_on_connect(self, ready: eventlet.event.Event) -> None:
        self._callback(self._on_connect, self)
        if ready is self._ready and not ready.ready():  # still the same connection
            ready.send(True)

    def _disconnected(self, reason: BaseException | None, will_reconnect: bool) -> None:
        self.stats.disconnects += 1
        self._put_event(Disconnected(reason, will_reconnect))
        self._callback(self._on_disconnect, self, reason)

    def _put_event(self, event: Connected | Disconnected) -> None:
        """Put a connection event on the queue (events=True) without ever waiting.

        A consumer may be blocked in send() waiting for the reconnection that this
        event precedes; so when the queue is full it grows by one slot for the
        event instead (a few slots per reconnection at most).
        """
        if self._events:
            self._put_growing(event)

    def _put_growing(self, item: Any) -> None:
        """Put ``item`` on the queue now; a full queue grows by one slot for it."""
        queue = self.queue
        try:
            queue.put_nowait(item)
        except eventlet.queue.Full:
            queue.resize(queue.maxsize + 1)
            queue.put_nowait(item)

    def _listen(self, sock: socket.socket) -> BaseException | None:
        """Read until the connection ends; return why (None for a clean EOF).

        For plain TCP it reads the underlying non-blocking socket and waits in the
        hub itself, because eventlet's green ``recv`` turns ECONNRESET into ``b""``
        and a reset would pass for a clean end of stream. (Inlined here rather than
        wrapped in a closure: with 10,000 clients every parked object counts.)
        """
        idle = self._read_idle_timeout
        raw = None if isinstance(sock, ssl.SSLSocket) else getattr(sock, "fd", None)
        recv = _tls_receiver(sock, idle) if raw is None else raw.recv
        timeout_exc = None if idle is None else ReadIdleTimeout(f"no data for {idle} seconds")
        trampoline = eventlet.hubs.trampoline
        size = self._recv_size
        receive = self.protocol.receive_data
        put = self.queue.put
        stats = self.stats
        pause = self._yield
        rejected_type = ProtocolError  # a local: looked up once per message
        while True:
            try:
                data = recv(size)
            except BlockingIOError:  # the raw socket has nothing yet: wait in the hub
                try:
                    trampoline(raw, read=True, timeout=idle, timeout_exc=timeout_exc)
                except ReadIdleTimeout as exc:
                    return exc
                except (OSError, eventlet.hubs.IOClosed) as exc:
                    return None if self._closing else exc
                continue
            except ReadIdleTimeout as exc:
                return exc
            except (OSError, eventlet.hubs.IOClosed) as exc:
                return None if self._closing else exc
            if not data:
                return None
            stats.bytes_received += len(data)
            items = receive(data)
            rejected = 0
            for item in items:
                if isinstance(item, rejected_type):
                    self._report(item)
                    rejected += 1
                else:
                    put(item)
            stats.messages_received += len(items) - rejected
            if pause:
                eventlet.sleep(0)

    def _deliver(self, message: Any) -> None:
        self.queue.put(message)
        self.stats.messages_received += 1

    def _report(self, error: ProtocolError) -> None:
        self.stats.count_error(error)
        self._callback(self._on_error, error)

    def _callback(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            self.stats.callback_errors += 1
            logger.exception("greenclient: callback %r raised", callback)

    def _finish(self, reason: BaseException | None) -> None:
        """Mark the client closed and wake every green thread waiting on it. Idempotent."""
        if self.state is ConnectionState.CLOSED:
            return
        self.state = ConnectionState.CLOSED
        if self.close_reason is None:
            self.close_reason = reason
        sock, self._sock = self._sock, None
        _shutdown(sock)
        if not self._ready.ready():
            self._ready.send(False)
        # END is always on the queue once the client is closed, so get() and
        # iteration need no check of their own.
        self._put_growing(END)

    # -- the application's side ---------------------------------------------------

    def send(self, message: Any) -> None:
        """Send one message as one whole frame.

        Safe to call from any number of green threads at once: each frame is
        written whole, never interleaved with another. While the client is
        (re)connecting, waits up to ``send_timeout`` for the connection.

        Raises:
            EncodeError: the message cannot be encoded; nothing was written.
            SendTimeout: no connection came within ``send_timeout``.
            ConnectionClosed: the client is closed, or the connection broke while
                the frame was being written (it may have arrived in part; the
                server drops an incomplete frame).
        """
        data = self.protocol.encode(message)
        deadline = None if self._send_timeout is None else time.monotonic() + self._send_timeout
        while True:
            sock = self._wait_ready(deadline)
            if self._send_lock is None:
                # Made here, not in __init__: a receive-only client never needs it,
                # and thousands of idle clients would each carry one.
                self._send_lock = eventlet.semaphore.Semaphore(1)
            with self._send_lock:
                if sock is not self._sock:
                    # The connection changed while we waited for the lock; nothing
                    # was written yet, so go again with the current one.
                    continue
                try:
                    sock.sendall(data)
                except OSError as exc:
                    # Stop writing but keep reading: what the server sent before the
                    # break is still delivered, and the listener then sees the end.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                    # Until the listener reaches the end of what the server sent,
                    # further sends fail the same way at once; the yield keeps a
                    # caller that retries in a loop from starving every green thread.
                    eventlet.sleep(0)
                    raise ConnectionClosed(f"connection broke while sending: {exc}", exc) from exc
            self.stats.messages_sent += 1
            self.stats.bytes_sent += len(data)
            return

    def _wait_ready(self, deadline: float | None) -> socket.socket:
        """Return the socket once sends may go ahead (see ``send()`` for errors)."""
        while True:
            if self.state is ConnectionState.CLOSED or self._closing:
                raise ConnectionClosed("send() on a closed client", self.close_reason)
            sock = self._sock
            current = eventlet.getcurrent()
            # on_connect (and the listener's callbacks) may send before the others go ahead.
            inside = current is self._runner or current is self._hello
            if sock is not None and (self._ready.ready() or inside):
                return sock
            if inside:
                # Only the listener can bring the connection back: waiting here for
                # it would wait forever.
                raise ConnectionClosed("send() from a callback while disconnected")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise SendTimeout(f"no connection within send_timeout={self._send_timeout}s")
            self._ready.wait(remaining)

    def get(self, timeout: float | None = None) -> Any:
        """Return the next message, blocking only the calling green thread.

        Args:
            timeout: seconds to wait; None waits until a message comes or the
                connection is over.

        Raises:
            queue.Empty: nothing arrived within ``timeout``.
            ConnectionClosed: the connection is over and every message that
                arrived before has been handed out.
        """
        queue = self.queue
        item = queue.get(timeout=timeout)
        if item is END:
            queue.put_nowait(END)  # for the next consumer
            raise ConnectionClosed(reason=self.close_reason)
        return item

    def __iter__(self) -> Iterator[Any]:
        """Yield every message until the connection is over."""
        get = self.queue.get
        while True:
            # get() inlined: iteration is the hot path of most applications.
            item = get()
            if item is END:
                self.queue.put_nowait(END)  # for the next consumer
                return
            yield item

    def close(self) -> None:
        """Close the connection and stop any reconnecting. Idempotent.

        Messages already on the queue can still be read; then ``get()`` raises
        ``ConnectionClosed``. Green threads blocked in ``get()`` or ``send()``
        are woken.
        """
        if self._closing:
            return
        self._closing = True
        runner = self._runner
        _shutdown(self._sock)
        if runner is not None and eventlet.getcurrent() is not runner and not runner.dead:
            eventlet.greenthread.kill(runner)
        if runner is None or runner.dead:
            # Covers a runner killed before it ever ran: its finally never ran either.
            self._finish(None)

    @property
    def closed(self) -> bool:
        """True once the connection is over for good."""
        return self.state is ConnectionState.CLOSED

    def __enter__(self) -> GreenClient:
        if self.state is ConnectionState.NEW:
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<GreenClient {self.host}:{self.port} {self.state.value}>"


def connect(host: str = "localhost", port: int = 8000, **options: Any) -> GreenClient:
    """Return a connected :class:`GreenClient`; use it in ``with`` to close it on exit.

    Takes the same keyword options as :class:`GreenClient`.

    Raises:
        ConnectError: the connection could not be opened.
    """
    return GreenClient(host, port, **options).connect()
