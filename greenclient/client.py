"""GreenClient: the lifecycle, the runner green thread and the public API.

The pieces it drives, one module each: :mod:`~greenclient.transport` opens the
connection and maps socket errors; :mod:`~greenclient.outbox` holds the frames
to send and their one writer; :mod:`~greenclient.inbox` is the incoming queue;
:mod:`~greenclient.backoff` decides when to reconnect;
:mod:`~greenclient.protocol` frames and decodes (no I/O).

Invariants:

* One green thread, the *runner*, owns the client's life and the socket's
  reading side: it opens every connection (the first included), reads
  (recv -> protocol -> queue), ends each connection and reconnects. Only the
  runner closes a socket, and only once that connection's writer has stopped.
* One writer green thread per connection writes the socket (see
  :class:`~greenclient.outbox.Outbox`). A failed write never touches the socket:
  it tells the runner, which delivers what had already arrived, then ends the
  connection with the write's error as the reason.
* ``close()`` never touches the socket either: it stops the runner where it
  waits (reading, waiting for room on the queue, sleeping before a retry,
  connecting), never inside an application callback; the runner then ends the
  connection itself.
* Every change of ``state`` goes through :meth:`GreenClient._set_state`. The end
  of each connection is reported exactly once, in
  :meth:`GreenClient._end_connection`; decoded messages reach the queue in
  :meth:`GreenClient._deliver` only.
* ``client.queue`` carries, in order: decoded messages; :class:`Connected` and
  :class:`Disconnected` events when ``events=True``; and finally :data:`END`
  once the client is closed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Generic, overload

import eventlet
import eventlet.event
import eventlet.greenthread
import eventlet.hubs
import eventlet.timeout
import greenlet
from eventlet.queue import Waiter

from . import _checks
from .backoff import Backoff, ReconnectPolicy
from .codec import Codec, CodecName
from .errors import (
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    DecodeError,
    FrameTooLarge,
    GreenClientError,
    JSONStreamError,
    PartialFrame,
    ProtocolError,
    SendTimeout,
)
from .events import END, Connected, ConnectionState, Disconnected, KeepAlive, Stats
from .framing import (
    DEFAULT_MAX_FRAME_SIZE,
    DelimiterFramer,
    Framer,
    FramingName,
    LengthPrefixFramer,
)
from .inbox import Inbox
from .messaging import DEFAULT_REQUEST_TIMEOUT, Messaging
from .outbox import Outbox, OutboxEnded, StopGreenThread
from .protocol import MessageProtocol
from .routing import DEFAULT_CORRELATION_FIELD, DEFAULT_TYPE_FIELD, TypedCodec, dict_field
from .transport import Transport, check_tls, open_connection

if TYPE_CHECKING:
    from typing_extensions import TypedDict, TypeVar, Unpack

    #: The type of the messages a client hands out: Any, unless its codec is a
    #: ``TypedCodec[M]`` (such as ``MsgspecCodec[M]``).
    M = TypeVar("M", default=Any)
else:
    from typing import TypeVar

    M = TypeVar("M")  # a TypeVar default needs Python 3.13 at run time

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_MAXSIZE",
    "DEFAULT_MAX_QUEUE_BYTES",
    "DEFAULT_SEND_BUFFER_SIZE",
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

#: Default ``maxsize``: messages the queue holds before the listener waits.
DEFAULT_MAXSIZE: Final = 4096
#: Default ``max_queue_bytes``: frame bytes the queue holds before the listener
#: waits. Decoded JSON takes 1 to ~24 times its wire size in memory, so the
#: queue's messages take at most ~100 MB with the default.
DEFAULT_MAX_QUEUE_BYTES: Final = 4 * 1024 * 1024
#: Default ``send_buffer_size``: bytes ``send()`` may queue before it waits.
DEFAULT_SEND_BUFFER_SIZE: Final = 1024 * 1024
DEFAULT_RECV_SIZE: Final = 64 * 1024
#: How long the runner works before it lets other green threads run.
YIELD_BUDGET: Final = 0.002
#: How long one call into the protocol should take. The runner hands it at most
#: as many frames as its estimate of the cost per frame allows (FRAMES_PER_SLICE
#: at most, MIN_FRAMES_PER_SLICE at least), then checks its time budget.
SLICE_BUDGET: Final = 0.001
FRAMES_PER_SLICE: Final = 1024
MIN_FRAMES_PER_SLICE: Final = 16
#: The first estimate of the cost of a frame (pessimistic: a rejected one).
INITIAL_FRAME_COST: Final = 20e-6
#: How many times the default on_error logs within LOG_WINDOW seconds.
LOG_BURST: Final = 5
LOG_WINDOW: Final = 10.0
#: Bytes of a rejected frame shown by the default on_error.
LOG_PREFIX: Final = 40
#: Reads made without waiting, after a failed write, to deliver what already arrived.
DRAIN_READS: Final = 256
#: How long close(drain=True) waits past its timeout for the runner to close the socket.
LINGER_GRACE: Final = 0.5
_DEFAULT_KEEPALIVE: Final = KeepAlive()


class _ErrorLog:
    """The default ``on_error``: a rate-limited warning naming the peer and the frame.

    At most ``LOG_BURST`` lines per ``LOG_WINDOW`` seconds; the first line after
    a window in which lines were left out says how many.
    """

    __slots__ = ("_lines", "_suppressed", "_window_start", "peer", "stats")

    def __init__(self, peer: str, stats: Stats):
        self.peer = peer
        self.stats = stats
        self._window_start = -LOG_WINDOW
        self._lines = 0
        self._suppressed = 0

    def __call__(self, error: ProtocolError) -> None:
        now = time.monotonic()
        if now - self._window_start >= LOG_WINDOW:
            self.flush()
            self._window_start = now
            self._lines = 0
        if self._lines >= LOG_BURST:
            self._suppressed += 1
            self.stats.log_lines_suppressed += 1
            return
        self._lines += 1
        logger.warning("greenclient: %s: %s (%s)", self.peer, error, describe_frame(error))

    def flush(self) -> None:
        """Log how many lines were left out since the last one, if any."""
        if self._suppressed:
            logger.warning(
                "greenclient: %s: %d more rejected frame(s) not logged (at most %d lines per %gs)",
                self.peer,
                self._suppressed,
                LOG_BURST,
                LOG_WINDOW,
            )
            self._suppressed = 0


def describe_frame(error: ProtocolError) -> str:
    """Return ``"N bytes: b'prefix'..."`` for the frame behind ``error`` (escaped, short)."""
    sample: bytes | None = None
    if isinstance(error, (DecodeError, PartialFrame)):
        size, sample = len(error.frame), error.frame
    elif isinstance(error, JSONStreamError):
        size, sample = error.skipped, error.sample
    elif isinstance(error, FrameTooLarge):
        size = error.size
    else:
        return "frame unknown"
    text = f"frame of {size} bytes"
    if sample is not None:
        text += f": {sample[:LOG_PREFIX]!r}" + ("..." if len(sample) > LOG_PREFIX else "")
    return text


class _Signal:
    """Fired once; the green threads waiting on it are then woken in the order they came.

    What senders wait on for a connection. An ``eventlet.event.Event`` keeps its
    waiters in a set and wakes them in any order: senders that waited through an
    outage would queue their frames in any order. Here one hub callback switches
    to each waiter in turn, so each runs (and queues its frame) before the next.
    """

    __slots__ = ("_waiters", "fired", "value")

    def __init__(self) -> None:
        self.fired = False
        self.value = False
        self._waiters: deque[Waiter] = deque()

    def fire(self, value: bool = True) -> None:
        if self.fired:
            return
        self.fired = True
        self.value = value
        if self._waiters:
            waiters = list(self._waiters)
            self._waiters.clear()
            eventlet.hubs.get_hub().schedule_call_global(0, _switch_in_turn, waiters, value)

    def wait(self, timeout: float | None) -> None:
        """Wait until fired, or for ``timeout`` seconds (None: no limit)."""
        if self.fired:
            return
        waiter = Waiter()
        self._waiters.append(waiter)
        timer = eventlet.timeout.Timeout(timeout) if timeout is not None else None
        try:
            waiter.wait()
        except eventlet.timeout.Timeout as exc:
            if exc is not timer:
                raise
        finally:
            if timer is not None:
                timer.cancel()
            if not self.fired:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)


def _switch_in_turn(waiters: list[Waiter], value: bool) -> None:
    """In the hub: run each waiter until it waits again (or ends), in order."""
    for waiter in waiters:
        waiter.switch(value)


class _Connection:
    """One open connection: its transport, its outbox, and how it is ending."""

    __slots__ = (
        "ending",
        "hello",
        "in_recv",
        "outbox",
        "ready",
        "ready_done",
        "ready_now",
        "transport",
    )

    def __init__(self, transport: Transport, outbox: Outbox):
        self.transport = transport
        self.outbox = outbox
        # Fired True once sends may go ahead (on_connect done), False if it ends
        # first. Made only when a sender has to wait for it (see ready_event()).
        self.ready: _Signal | None = None
        self.ready_done = False  # decided: True (ready_now) or False (ended first)
        self.ready_now = False
        #: set (to the write's error) when the writer failed: deliver, then end
        self.ending: BaseException | None = None
        self.in_recv = False  # the runner waits in recv (only there may a failed write stop it)
        self.hello: greenlet.greenlet | None = None  # runs on_connect

    def set_ready(self, value: bool) -> None:
        """Decide, once, whether sends may go ahead (True) or the connection ended first."""
        if self.ready_done:
            return
        self.ready_done = True
        self.ready_now = value
        if self.ready is not None:
            self.ready.fire(value)

    def ready_event(self) -> _Signal:
        """The signal fired once ``set_ready`` decides (already fired if it has)."""
        event = self.ready
        if event is None:
            event = self.ready = _Signal()
            if self.ready_done:
                event.fire(self.ready_now)
        return event


def _count(data: bytes, delimiter: bytes) -> int:
    """``data.count(delimiter)``, faster.

    ``bytes.count`` of one byte compares every byte in a loop; ``replace`` finds
    each occurrence with ``memchr``, so it costs less than half as much on
    frames of tens of bytes or more, even with its copy.
    """
    return (len(data) - len(data.replace(delimiter, b""))) // len(delimiter)


def _min_frame_bytes(framer: Framer) -> int:
    """The fewest bytes a non-empty frame takes on the wire (bounds frames per slice)."""
    if isinstance(framer, LengthPrefixFramer):
        return 4
    if isinstance(framer, DelimiterFramer):
        return 1 + len(framer.delimiter)
    return 2


class GreenClient(Generic[M]):
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
        maxsize: how many messages ``client.queue`` holds (default 4096) before
            the listener waits; TCP then makes the server wait in turn.
        max_queue_bytes: how many bytes of frames the queue holds (default 4 MiB)
            before the listener waits. It may be passed by the frames of one read.
            Decoded JSON takes 1 to ~24 times its wire size in memory
            (``[[],[],...]`` is the worst; an array of ints about 5 times), so
            the default bounds the queue's messages to about 100 MB.
        on_error: called with each ``ProtocolError`` (a rejected frame), in the
            listener green thread. Default: a warning on the ``greenclient``
            logger naming the peer, the frame's length and its first bytes, at
            most 5 lines per 10 s (then a line saying how many were left out).
            An exception it raises is logged and ignored.
        recv_size: bytes asked of each ``recv`` (default 64 KiB).
        connect_timeout: seconds to open a connection, in all: name resolution,
            TCP connect and TLS handshake share this one deadline.
        reconnect: False (default) or None, True for the default
            :class:`ReconnectPolicy`, or a policy.
        on_connect: called as ``on_connect(client)`` after every connection and
            reconnection, in a green thread of its own while the listener reads,
            before ``send()`` calls waiting for the connection go ahead: the place
            to send a hello.
        on_disconnect: called as ``on_disconnect(client, reason)`` once whenever a
            connection ends.
        events: also put :class:`Connected` / :class:`Disconnected` on the queue,
            in order with the messages. An event never waits for room: it borrows
            a slot, given back when it is taken.
        send_timeout: seconds ``send()`` may wait, for a connection while
            (re)connecting or for room in the send buffer, before raising
            ``SendTimeout`` (nothing queued); None waits as long as needed.
        send_buffer_size: bytes of frames ``send()`` may queue for the writer
            (default 1 MiB) before it waits for the writer to catch up.
        read_idle_timeout: seconds without any byte received after which the
            connection is treated as dead (``ReadIdleTimeout``); None: never.
        keepalive: TCP keepalive settings, on by default; None turns it off.
        ssl_context: wrap the connection in TLS with this context (certificates
            are verified by ``ssl.create_default_context()``'s defaults). Make
            it after ``import greenclient``; TLS 1.2 renegotiation is turned
            off on it (``OP_NO_RENEGOTIATION``, see RELIABILITY.rst), for
            every user of this context object.
        server_hostname: the name to verify the certificate against (default
            ``host``).
        yield_every: the listener lets other green threads run after each read
            and after every few milliseconds of work; kept for tests, leave it True.
        correlation_field: the field ``request()`` adds to carry a request's
            correlation id, and in which the reply carries it back (default
            ``"_correlation_id"``).
        type_field: the field whose value selects the handler registered with
            ``on("...")`` (default ``"type"``).
        concurrency: how many handlers (``on()``) may run at once (default 1:
            one at a time, in arrival order).

    The client is generic over the type of its messages: ``GreenClient[Any]``
    with the JSON codec, ``GreenClient[Chat | Move]`` with a
    ``MsgspecCodec[Chat | Move]``, so that ``get()``, iteration, ``request()``
    and handlers registered with ``on("...")`` are typed.

    Raises:
        TypeError: an argument has the wrong type: a size or count that is not
            an ``int``, a timeout that is not a number or None, ``reconnect``
            neither a bool nor a :class:`ReconnectPolicy`, a callback that
            cannot be called, a delimiter neither ``str`` nor ``bytes``...
        ValueError: a size, count or ``port`` out of range (sizes and counts
            start at 1); a timeout that is not finite, or not above 0
            (``send_timeout`` may be 0: never wait); an empty field name; an
            unknown framing or codec; an empty delimiter.

    Every argument is checked here, so that none fails later in a green thread.
    """

    # Slots keep an idle client small (thousands may share one process); "__dict__"
    # stays so that an application can still hang its own attributes on a client:
    # the dict is made only then.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_backoff",
        "_busy",
        "_closing",
        "_concurrency",
        "_conn",
        "_connect_timeout",
        "_correlation_field",
        "_default_on_error",
        "_delimiter",
        "_events",
        "_frame_cost",
        "_frames_lost",
        "_frames_lost_reason",
        "_frames_lost_reported",
        "_frames_per_slice",
        "_keepalive",
        "_linger_cut",
        "_linger_until",
        "_messaging",
        "_min_frame",
        "_next",
        "_on_connect",
        "_on_disconnect",
        "_on_error",
        "_opened",
        "_read_idle_timeout",
        "_recv_size",
        "_runner",
        "_send_buffer_size",
        "_send_timeout",
        "_server_hostname",
        "_ssl_context",
        "_stale_hellos",
        "_type_field",
        "_yield",
        "close_reason",
        "host",
        "policy",
        "port",
        "protocol",
        "queue",
        "state",
        "stats",
    )

    @overload
    def __init__(
        self: GreenClient[M],
        host: str = ...,
        port: int = ...,
        *,
        codec: TypedCodec[M],
        **options: Unpack[_Options],
    ) -> None: ...

    @overload
    def __init__(
        self: GreenClient[Any],
        host: str = ...,
        port: int = ...,
        *,
        codec: CodecName | Codec = ...,
        **options: Unpack[_Options],
    ) -> None: ...

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
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        on_error: Callable[[ProtocolError], Any] | None = None,
        recv_size: int = DEFAULT_RECV_SIZE,
        connect_timeout: float | None = 10.0,
        reconnect: bool | ReconnectPolicy | None = False,
        on_connect: Callable[[GreenClient], Any] | None = None,
        on_disconnect: Callable[[GreenClient, BaseException | None], Any] | None = None,
        events: bool = False,
        send_timeout: float | None = None,
        send_buffer_size: int = DEFAULT_SEND_BUFFER_SIZE,
        read_idle_timeout: float | None = None,
        keepalive: KeepAlive | None = _DEFAULT_KEEPALIVE,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        yield_every: bool = True,
        correlation_field: str = DEFAULT_CORRELATION_FIELD,
        type_field: str = DEFAULT_TYPE_FIELD,
        concurrency: int = 1,
    ):
        if not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        port = _checks.whole("port", port)
        if not 1 <= port <= 65535:
            # The C library would wrap 65536 and up to another port without a word.
            raise ValueError(f"port must be from 1 to 65535, not {port}")
        maxsize = _checks.whole("maxsize", maxsize)  # eventlet's Queue(0) would be a channel
        max_queue_bytes = _checks.whole("max_queue_bytes", max_queue_bytes)
        recv_size = _checks.whole("recv_size", recv_size)
        send_buffer_size = _checks.whole("send_buffer_size", send_buffer_size)
        concurrency = _checks.whole("concurrency", concurrency)
        max_frame_size = _checks.whole("max_frame_size", max_frame_size)
        connect_timeout = _checks.optional_seconds("connect_timeout", connect_timeout)
        send_timeout = _checks.optional_seconds("send_timeout", send_timeout, zero=True)
        read_idle_timeout = _checks.optional_seconds("read_idle_timeout", read_idle_timeout)
        if reconnect is None:
            reconnect = False
        _checks.instance(
            "reconnect", reconnect, (bool, ReconnectPolicy), "a bool or a ReconnectPolicy"
        )
        _checks.flag("events", events)
        _checks.flag("yield_every", yield_every)
        _checks.optional_callable("on_error", on_error)
        _checks.optional_callable("on_connect", on_connect)
        _checks.optional_callable("on_disconnect", on_disconnect)
        if keepalive is not None:
            _checks.instance("keepalive", keepalive, KeepAlive, "a KeepAlive or None")
        check_tls(ssl_context, server_hostname)
        _checks.field_name("correlation_field", correlation_field)
        _checks.field_name("type_field", type_field)
        self.host = host
        self.port = port
        self.protocol = MessageProtocol(
            framing=framing, codec=codec, delimiter=delimiter, max_frame_size=max_frame_size
        )
        self.queue = Inbox(maxsize, max_queue_bytes)
        self.stats = Stats()
        self.state = ConnectionState.NEW
        self.policy: ReconnectPolicy | None = (
            ReconnectPolicy() if reconnect is True else (reconnect or None)
        )
        self._backoff = Backoff(self.policy) if self.policy is not None else None
        # None: the default rate-limited log, made at the first rejected frame.
        self._on_error: Callable[[ProtocolError], Any] | None = on_error
        self._default_on_error: _ErrorLog | None = None
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._events = events
        self._recv_size = recv_size
        self._connect_timeout = connect_timeout
        self._send_timeout = send_timeout
        self._send_buffer_size = send_buffer_size
        self._read_idle_timeout = read_idle_timeout
        self._keepalive = keepalive
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname
        self._yield = yield_every
        framer = self.protocol.framer
        self._delimiter: bytes | None = (
            framer.delimiter if isinstance(framer, DelimiterFramer) else None
        )
        self._min_frame = _min_frame_bytes(framer)  # n * this many bytes hold <= n frames
        self._frame_cost = INITIAL_FRAME_COST
        self._frames_per_slice = int(SLICE_BUDGET / INITIAL_FRAME_COST)
        self._conn: _Connection | None = None
        # on_connect green threads still running after their connection ended.
        self._stale_hellos: set[greenlet.greenlet] | None = None
        # Frames that send() accepted and that ended with their connection unwritten
        # (or in a write that failed): all of them, and the count flush() has reported.
        self._frames_lost = 0
        self._frames_lost_reported = 0
        self._frames_lost_reason: BaseException | None = None
        self._runner: greenlet.greenlet | None = None
        self._busy = False  # the runner is in an application callback or ending a connection
        self._closing = False
        # Set by close(drain=True): until when the socket is kept open, after the
        # flush, for the peer to acknowledge what was written (Transport.close).
        self._linger_until: float | None = None
        self._linger_cut = False  # a plain close() ended the linger: drains no longer extend it
        # Fired once the first connection is open (True) or the client closed (False).
        self._opened: eventlet.event.Event = eventlet.event.Event()
        # Fired, then dropped, whenever a connection opens or the client closes:
        # what senders wait on while there is no usable connection (made by the
        # first such sender, see _next_event()).
        self._next: _Signal | None = None
        self.close_reason: BaseException | None = None
        self._correlation_field = correlation_field
        self._type_field = type_field
        self._concurrency = concurrency
        # Made by the first request() or on(): until then every message goes to
        # the queue without being looked at.
        self._messaging: Messaging | None = None

    @property
    def reconnect_delays(self) -> list[float]:
        """Seconds waited before each reconnect attempt, most recent last (at most 100)."""
        return self._backoff.delays if self._backoff is not None else []

    # -- state ----------------------------------------------------------------------

    def _stopping(self) -> bool:
        """True once close() was called (a method: the flag changes while we wait)."""
        return self._closing

    def _set_state(self, state: ConnectionState) -> None:
        """The one place where ``state`` changes. CLOSED is final."""
        if self.state is not ConnectionState.CLOSED:
            self.state = state

    # -- opening --------------------------------------------------------------------

    def connect(self) -> GreenClient:
        """Open the connection and start the listener green thread.

        Returns:
            The client itself, so ``client = GreenClient(...).connect()`` works.

        Raises:
            ConnectError: the connection could not be opened (after the retries
                of a policy with ``retry_initial=True``).
            ConnectionClosed: ``close()`` was called meanwhile (from another
                green thread); raised at once.
            GreenClientError: the client was already connected or closed.
        """
        if self.state is not ConnectionState.NEW:
            raise GreenClientError(f"connect() on a client that is {self.state.value}")
        self._set_state(ConnectionState.CONNECTING)
        # spawn_n: a bare greenlet, lighter than a GreenThread (nobody joins it).
        self._runner = eventlet.spawn_n(self._run)
        try:
            opened = self._opened.wait()
        except BaseException as exc:  # the caller was interrupted: leave no runner behind
            if isinstance(exc, Exception):
                self.close()
            else:
                self._close_interrupted()
            raise
        if opened:
            return self
        reason = self.close_reason
        if self._closing or reason is None:
            raise ConnectionClosed("closed while connecting")
        if isinstance(reason, GreenClientError):
            raise reason
        raise ConnectError(f"cannot connect to {self.host}:{self.port}: {reason!r}") from reason

    def _open(self) -> Transport:
        return open_connection(
            self.host,
            self.port,
            timeout=self._connect_timeout,
            keepalive=self._keepalive,
            ssl_context=self._ssl_context,
            server_hostname=self._server_hostname,
            read_idle_timeout=self._read_idle_timeout,
        )

    def _open_with_retries(self) -> Transport:
        """Try to connect as the policy says; raise the last ConnectError on giving up."""
        backoff = self._backoff
        assert backoff is not None
        error: ConnectError | None = None
        while True:
            delay = backoff.next_delay(error)
            if delay is None:
                assert error is not None
                raise error
            if delay:
                eventlet.sleep(delay)
            if self._closing:
                raise StopGreenThread
            try:
                return self._open()
            except ConnectError as exc:
                error = exc

    # -- the runner green thread ----------------------------------------------------

    def _run(self) -> None:
        reason: BaseException | None = None
        try:
            if self._backoff is not None and self.policy is not None and self.policy.retry_initial:
                self._backoff.start()
                transport = self._open_with_retries()
            else:
                transport = self._open()
            reconnecting = False
            while True:
                reason = self._serve(transport, reconnecting)
                if self._backoff is None or self._closing:
                    break
                self._set_state(ConnectionState.RECONNECTING)
                self._backoff.down()
                transport = self._open_with_retries()
                reconnecting = True
        except StopGreenThread:
            reason = None  # close(): not an error of the connection
        except ConnectError as exc:
            reason = exc
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C (or sys.exit() in a callback) that landed in the listener: the
            # client closes, and the exception goes on to the main green thread,
            # as it would have had it landed there.
            reason = None
            raise
        except BaseException as exc:  # a bug: keep it visible, but still wake everyone
            logger.exception("greenclient: listener failed")
            reason = exc
        finally:
            self._finish(reason)

    def _serve(self, transport: Transport, reconnecting: bool) -> BaseException | None:
        """Run one connection from its opening to its reported end; return why it ended."""
        conn = _Connection(
            transport, Outbox(transport, self._send_buffer_size, self.stats, self._write_failed)
        )
        reason: BaseException | None = None
        try:
            self._conn = conn
            self.stats.connects += 1
            if reconnecting:
                self.stats.reconnects += 1
            if self._backoff is not None:
                self._backoff.up()
            self._set_state(ConnectionState.OPEN)
            if not self._opened.ready():
                self._opened.send(True)
            self._put_event(Connected(self.host, self.port, reconnecting))
            if self._on_connect is None:
                self._make_ready(conn)
            else:
                conn.hello = eventlet.spawn_n(self._hello, conn)
            self._wake_senders()
            reason = self._read(conn)
        except StopGreenThread:
            reason = None
            raise
        finally:
            self._end_connection(conn, reason)
        return reason

    def _make_ready(self, conn: _Connection) -> None:
        conn.set_ready(True)

    def _hello(self, conn: _Connection) -> None:
        """Run on_connect in its own green thread, then let waiting senders go ahead."""
        try:
            self._callback(self._on_connect, self)
        finally:
            if self._stale_hellos is not None:
                self._stale_hellos.discard(eventlet.getcurrent())
        if conn is self._conn:
            self._make_ready(conn)

    def _read(self, conn: _Connection) -> BaseException | None:
        """Read until the connection ends; return why (None for a clean end of stream)."""
        transport = conn.transport
        recv = transport.recv
        size = self._recv_size
        stats = self.stats
        pause = self._yield
        clock = time.monotonic
        feed = self._feed
        last_yield = clock()
        while True:
            if conn.ending is not None:
                return self._drain(conn)
            if self._closing:
                raise StopGreenThread
            conn.in_recv = True
            try:
                data = recv(size)
            except StopGreenThread:
                if self._stopping():
                    raise
                continue  # the writer failed: deliver what already arrived, then end
            except GreenClientError as exc:  # ConnectionLost, ReadIdleTimeout
                return exc
            finally:
                conn.in_recv = False
            if not data:
                return None
            stats.bytes_received += len(data)
            last_yield = feed(data, last_yield)
            if pause:
                eventlet.sleep(0)
                last_yield = clock()

    def _feed(self, data: bytes, last_yield: float) -> float:
        """Hand ``data`` to the protocol a bounded slice at a time; return the last yield time.

        A slice holds at most ``self._frames_per_slice`` frames: what SLICE_BUDGET
        allows at the estimated cost of a frame. The estimate follows the most
        expensive recent frames (rejected ones cost most) and relaxes slowly,
        so a flood of cheap valid frames goes through in whole reads and a flood
        of invalid ones in small slices. The runner yields whenever it has
        worked YIELD_BUDGET seconds without yielding.
        """
        protocol = self.protocol
        delimiter = self._delimiter
        limit = self._frames_per_slice
        if len(data) <= limit * self._min_frame:
            # Too short to hold more than a slice: no slicing, no timing (the
            # common case with many connections: small reads, one per message).
            rejected = protocol.rejected
            frame_bytes = protocol.frame_bytes
            items = protocol.receive_data(data)
            if items:
                if protocol.rejected == rejected:  # only messages: no per-item check
                    self._deliver(items, protocol.frame_bytes - frame_bytes)
                else:
                    self._deliver_mixed(items, protocol.frame_bytes - frame_bytes)
            return last_yield
        if delimiter is not None and _count(data, delimiter) <= limit:
            pieces: Iterable[bytes] = (data,)
        else:
            pieces = self._slices(data, limit)
        receive = protocol.receive_data
        clock = time.monotonic
        queue = self.queue
        for piece in pieces:
            if self._closing:  # close() came while a callback of ours ran
                raise StopGreenThread
            started = clock()
            waits = queue.waits
            rejected = protocol.rejected
            frame_bytes = protocol.frame_bytes
            items = receive(piece)
            if items:
                if protocol.rejected == rejected:  # only messages: no per-item check
                    self._deliver(items, protocol.frame_bytes - frame_bytes)
                else:
                    self._deliver_mixed(items, protocol.frame_bytes - frame_bytes)
            now = clock()
            if len(items) >= MIN_FRAMES_PER_SLICE and queue.waits == waits:
                # Time spent waiting for room on the queue is not the frames' cost.
                self._estimate_cost((now - started) / len(items))
            if self._yield and now - last_yield >= YIELD_BUDGET:
                eventlet.sleep(0)
                last_yield = clock()
        return last_yield

    def _estimate_cost(self, cost: float) -> None:
        estimate = max(cost, self._frame_cost * 0.8)
        self._frame_cost = estimate
        self._frames_per_slice = max(
            MIN_FRAMES_PER_SLICE, min(FRAMES_PER_SLICE, int(SLICE_BUDGET / estimate))
        )

    def _slices(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Cut ``data`` into pieces of at most ``limit`` frames each."""
        delimiter = self._delimiter
        end_of_data = len(data)
        floor = limit * self._min_frame  # so short that it cannot hold more frames
        if delimiter is None:
            step = floor
        else:
            step = max(floor, end_of_data * limit // max(1, data.count(delimiter)))
        pos = 0
        while pos < end_of_data:
            end = min(end_of_data, pos + step)
            if delimiter is not None:
                while end - pos > floor and data.count(delimiter, pos, end) > limit:
                    end = pos + max(floor, (end - pos) // 2)
            yield data[pos:end]
            pos = end

    def _deliver(self, messages: list[Any], nbytes: int) -> None:
        """Put decoded messages on the queue (waits while it is full): the one place that does.

        Once the application made a request or registered a handler, replies
        and handled messages leave here instead (they count as received too).
        """
        messaging = self._messaging
        if messaging is not None:
            count = len(messages)
            self.stats.messages_received += count
            messages = messaging.route(messages)  # may wait for room among the handlers
            if messages:
                self.queue.put_batch(messages, nbytes * len(messages) // count)
            return
        # Counted as they are put: put_batch() may wait for room after putting
        # part of them, and the listener may be stopped there.
        self.queue.put_batch(messages, nbytes, self._count_received)

    def _count_received(self, count: int) -> None:
        self.stats.messages_received += count

    def _deliver_mixed(self, items: list[Any], nbytes: int) -> None:
        """Deliver the messages among ``items`` and report the rejected frames, in stream order."""
        count = sum(1 for item in items if not isinstance(item, ProtocolError))
        run: list[Any] = []
        for item in items:
            if isinstance(item, ProtocolError):
                if run:
                    self._deliver(run, nbytes * len(run) // count)
                    run = []
                self._report(item)
            else:
                run.append(item)
        if run:
            self._deliver(run, nbytes * len(run) // count)

    def _drain(self, conn: _Connection) -> BaseException | None:
        """After a failed write: deliver what can be read without waiting; return the reason."""
        for _ in range(DRAIN_READS):
            try:
                data = conn.transport.recv_nowait(self._recv_size)
            except GreenClientError:
                break
            if not data:
                break
            self.stats.bytes_received += len(data)
            self._feed(data, time.monotonic())
        return conn.ending

    def _write_failed(self, error: ConnectionLost) -> None:
        """Called by the writer whose write failed: have the runner end its connection.

        The runner is stopped only where it waits for bytes; otherwise it sees
        ``ending`` at its next read. Either way it first delivers what already
        arrived, then ends the connection with ``error`` as the reason.
        """
        conn = self._conn
        if conn is None or conn.ending is not None:
            return
        conn.ending = error
        conn.set_ready(False)
        runner = self._runner
        if conn.in_recv and runner is not None and not runner.dead:
            eventlet.greenthread.kill(runner, StopGreenThread())

    def _end_connection(self, conn: _Connection, reason: BaseException | None) -> None:
        """End ``conn`` and report it, once: the one place where a connection's end is reported.

        The writer is stopped before the socket is closed (so a TLS socket is
        never torn down under anyone); frames it had not started are dropped and
        counted; a partial frame left in the framer is reported.
        """
        self._busy = True
        try:
            if reason is None and conn.ending is not None:
                reason = conn.ending
            hello = conn.hello
            if hello is not None and not hello.dead:
                # on_connect still runs: from now on its sends fail instead of
                # going out on the next connection, ahead of or after its hello.
                if self._stale_hellos is None:
                    self._stale_hellos = set()
                self._stale_hellos.add(hello)
            outbox = conn.outbox
            outbox.end(reason)
            self.stats.frames_unsent += outbox.dropped
            self.stats.frames_failed += outbox.failed
            if (outbox.dropped or outbox.failed) and not outbox.lost_reported:
                self._frames_lost += outbox.dropped + outbox.failed
                self._frames_lost_reason = reason
            conn.set_ready(False)
            if self._conn is conn:
                self._conn = None
            lingering = self._closing and self._linger_until is not None
            conn.transport.close(self._linger_deadline if lingering else None)
            for item in self.protocol.receive_eof():
                if isinstance(item, ProtocolError):
                    self._report(item)
                else:
                    self.stats.messages_received += 1
                    if self._messaging is None or self._messaging.route([item]):
                        self.queue.put_now(item)
            if self._default_on_error is not None:
                self._default_on_error.flush()
            will_reconnect = self._backoff is not None and not self._closing
            if self._messaging is not None:
                # Requests waiting for a reply fail now, not at their timeout;
                # so do those whose send() still waits: woken, they see it.
                self._messaging.connection_ended(reason)
                self._wake_senders()
            self.stats.disconnects += 1
            self._put_event(Disconnected(reason, will_reconnect))
            self._callback(self._on_disconnect, self, reason)
        finally:
            self._busy = False

    def _put_event(self, event: Connected | Disconnected) -> None:
        """Put a connection event on the queue (events=True) without ever waiting.

        An event with a handler (``on(Connected)``) goes to the handler instead.
        """
        if self._messaging is not None and self._messaging.event(event):
            return
        if self._events:
            self.queue.put_now(event)

    def _report(self, error: ProtocolError) -> None:
        self.stats.count_error(error)
        on_error = self._on_error
        if on_error is None:
            on_error = self._default_on_error
            if on_error is None:
                peer = f"{self.host}:{self.port}"
                on_error = self._default_on_error = _ErrorLog(peer, self.stats)
        self._callback(on_error, error)

    def _callback(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        """Run an application callback; in the runner, close() waits for it to return."""
        if callback is None:
            return
        in_runner = eventlet.getcurrent() is self._runner
        busy = self._busy
        if in_runner:
            self._busy = True
        try:
            callback(*args)
        except Exception:
            self.stats.callback_errors += 1
            logger.exception("greenclient: callback %r raised", callback)
        finally:
            if in_runner:
                self._busy = busy
        if in_runner and not busy and self._closing:
            # close() came while the callback ran (or from it) and left the
            # runner alone: stop now, as close() would have, not after the rest
            # of the read (whose delivery could wait for room for ever).
            raise StopGreenThread

    def _wake_senders(self) -> None:
        """Wake every green thread waiting for a connection (it opened, or the client closed).

        They are woken in the order they called ``send()``, each running until it
        has queued its frame (or waits again) before the next.
        """
        event = self._next
        if event is not None:
            self._next = None
            event.fire()

    def _next_event(self) -> _Signal:
        """What a sender waits on while there is no usable connection."""
        event = self._next
        if event is None:
            event = self._next = _Signal()
        return event

    def _finish(self, reason: BaseException | None) -> None:
        """Mark the client closed and wake every green thread waiting on it. Idempotent."""
        if self.state is ConnectionState.CLOSED:
            return
        self._set_state(ConnectionState.CLOSED)
        if self.close_reason is None:
            self.close_reason = reason
        if not self._opened.ready():
            self._opened.send(False)
        self._wake_senders()
        # END is always on the queue once the client is closed, so get() and
        # iteration need no check of their own.
        self.queue.put_now(END)
        if self._messaging is not None:
            self._messaging.close(self.close_reason)

    # -- the application's side ---------------------------------------------------

    def send(self, message: Any) -> None:
        """Queue one message, as one whole frame, for the connection's writer.

        Safe to call from any number of green threads at once: frames are queued
        whole, in call order, and written by one writer, never interleaved.
        Senders that wait for a connection are woken in the order of their
        calls, each queuing its frame before the next runs; senders that wait
        for room likewise. (A ``send()`` made at the moment they are woken may
        still go first.)

        What returning means: the frame is queued on the current connection,
        behind every frame queued before it. The writer then writes it whole, or
        the connection ends first: a write that fails ends the connection and is
        reported (``on_disconnect``, ``Disconnected``) with its reason, and frames
        the writer had not started are dropped (``stats.frames_unsent``), never
        sent in part. :meth:`flush` waits until queued frames reached the kernel.

        While the client is (re)connecting, or while ``send_buffer_size`` bytes
        are queued, ``send()`` waits, up to ``send_timeout``. A caller
        interrupted while it waits (``eventlet.Timeout``, kill) queued nothing.

        Raises:
            EncodeError: the message cannot be encoded; nothing was queued.
            SendTimeout: no connection, or no room, within ``send_timeout``.
            ConnectionClosed: the client is closed; or a write on the current
                connection failed and that connection has not ended yet (after
                its end, sends wait for a reconnection as during an outage); or
                this is one of the runner's callbacks (``on_error``,
                ``on_disconnect``) and there is no connection; or this is an
                ``on_connect`` whose connection has ended (its sends never go out
                on the next connection).
        """
        data = self.protocol.encode(message)
        if self._stale_hellos and eventlet.getcurrent() in self._stale_hellos:
            raise ConnectionClosed("on_connect's connection ended; it never sends on the next one")
        conn = self._conn
        if conn is not None and conn.ready_now:
            outbox = conn.outbox
            if outbox.size < outbox.limit:
                # Room now: put() does not wait. Any wait goes through
                # _send_waiting, whose one deadline bounds the whole of it.
                try:
                    outbox.put(data)
                    return
                except OutboxEnded:
                    pass
        self._send_waiting(data)

    def _send_until(
        self, message: Any, until: float | None, abandon: Callable[[], bool] | None = None
    ) -> None:
        """:meth:`send`, for ``request()``: its timeout counts ``send()``'s wait too.

        Gives up (``SendTimeout``) at the monotonic time ``until`` if given, and
        returns without queuing anything as soon as ``abandon()`` is true while
        it waits (the request failed meanwhile: its connection ended).
        """
        if until is None and abandon is None:
            self.send(message)
            return
        data = self.protocol.encode(message)
        if self._stale_hellos and eventlet.getcurrent() in self._stale_hellos:
            raise ConnectionClosed("on_connect's connection ended; it never sends on the next one")
        conn = self._conn
        if conn is not None and conn.ready_now and conn.outbox.size < conn.outbox.limit:
            try:
                conn.outbox.put(data)
                return
            except OutboxEnded:
                pass
        self._send_waiting(data, until, abandon)

    def _send_waiting(
        self, data: bytes, until: float | None = None, abandon: Callable[[], bool] | None = None
    ) -> None:
        """Queue ``data`` once there is a connection and room for it.

        Raises what :meth:`send` raises. ``until``: a monotonic time to give up
        at (``SendTimeout``) if it comes before ``send_timeout`` runs out.
        ``abandon``: return, queuing nothing, once it is true.
        """
        deadline = None if self._send_timeout is None else time.monotonic() + self._send_timeout
        if until is not None and (deadline is None or until < deadline):
            deadline = until
        current = eventlet.getcurrent()
        while True:
            if abandon is not None and abandon():
                return
            if self.state is ConnectionState.CLOSED or self._closing:
                raise ConnectionClosed("send() on a closed client", self.close_reason)
            if self._stale_hellos and current in self._stale_hellos:
                raise ConnectionClosed(
                    "on_connect's connection ended; it never sends on the next one"
                )
            conn = self._conn
            inside = current is self._runner or (conn is not None and current is conn.hello)
            usable = conn is not None and conn.ending is None and not conn.outbox.ended
            remaining = None if deadline is None else deadline - time.monotonic()
            if conn is not None and usable and (conn.ready_now or inside):
                try:
                    conn.outbox.put(data, remaining)
                    return
                except OutboxEnded:
                    continue
                except SendTimeout:
                    if until is not None and deadline == until:
                        raise  # the caller's own deadline (request()'s timeout)
                    raise SendTimeout(
                        f"no room in the send buffer within send_timeout={self._send_timeout}s "
                        "(the server reads too slowly)"
                    ) from None
            if inside:
                # Only the runner can bring the connection back: waiting here for
                # it would wait forever.
                raise ConnectionClosed("send() from a callback while disconnected")
            if conn is not None and conn.ending is not None:
                # The write failed and the runner has not ended the connection yet
                # (it first delivers what already arrived, and may be waiting for
                # room on the queue): fail now rather than wait for a reconnection
                # that a consumer blocked here could hold up. The yield keeps a
                # caller that retries in a loop from starving the hub.
                eventlet.sleep(0)
                raise ConnectionClosed("the connection broke while sending", conn.ending)
            if remaining is not None and remaining <= 0:
                raise SendTimeout(
                    "no connection in time"
                    if until is not None and deadline == until
                    else f"no connection within send_timeout={self._send_timeout}s"
                )
            # No connection yet; or the runner is ending this one (the server
            # closed it, a read failed): wait for the next one.
            event = conn.ready_event() if conn is not None and usable else self._next_event()
            event.wait(remaining)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every frame queued by ``send()`` so far has been handed to the kernel.

        The kernel may still hold it: that is not an acknowledgement from the
        server.

        Frames lost with an earlier connection count too: if any frame that
        ``send()`` accepted since the previous ``flush()`` ended with its
        connection unwritten (``stats.frames_unsent``) or in a write that failed
        (``stats.frames_failed``), this raises, once, even after a reconnection.

        Raises:
            ConnectionClosed: there is no connection, or frames sent since the
                previous ``flush()`` ended with their connection before they were
                all written (``reason`` says why).
            SendTimeout: not done within ``timeout`` seconds; the frames stay queued.
        """
        lost = self._frames_lost - self._frames_lost_reported
        if lost:
            self._frames_lost_reported = self._frames_lost
            raise ConnectionClosed(
                f"{lost} frame(s) sent since the last flush() were not written:"
                " their connection ended first",
                self._frames_lost_reason,
            )
        conn = self._conn
        if conn is None:
            raise ConnectionClosed("no connection to flush", self.close_reason)
        try:
            conn.outbox.flush(timeout)
        except ConnectionClosed:
            # Reported here, whether or not the end of the connection has been
            # counted yet: the next flush() must not report these frames again.
            conn.outbox.lost_reported = True
            self._frames_lost_reported = self._frames_lost
            raise

    # -- request/reply and handlers -------------------------------------------------

    def _get_messaging(self) -> Messaging:
        messaging = self._messaging
        if messaging is None:
            codec = self.protocol.codec
            messaging = self._messaging = Messaging(
                self._send_until,
                self.stats,
                correlation_field=self._correlation_field,
                type_field=self._type_field,
                read_field=getattr(codec, "read_field", dict_field),
                with_field=getattr(codec, "with_field", None),
                concurrency=self._concurrency,
            )
            if self.state is ConnectionState.CLOSED:
                messaging.close(self.close_reason)
        return messaging

    def request(self, message: Any, timeout: float | None = DEFAULT_REQUEST_TIMEOUT) -> M:
        """Send ``message`` with a new correlation id; return the reply that carries it.

        The id (this client's random prefix and a counter) is added to a copy
        of ``message`` under ``correlation_field``; the server answers with a
        message that carries the same id in the same field. That reply is
        returned here and reaches neither the queue nor a handler. Any number
        of green threads may have requests in flight at once.

        Args:
            message: a dict (or, with a typed codec, a Struct).
            timeout: seconds to wait for the reply, counted from the call
                (``send()`` waiting for a connection or for room included);
                None: until the reply comes or the connection ends.

        Returns:
            The reply, as the codec decoded it.

        Raises:
            RequestTimeout: no reply within ``timeout``; a reply that comes later
                is counted in ``stats.late_replies`` and dropped. Also when
                ``send()`` was still waiting for a connection or for room at
                ``timeout``: then the request was never sent.
            ConnectionClosed: the client is closed, or the connection ended
                before the reply came (raised at once, not at the timeout).
            EncodeError: the message cannot be encoded or carry an id; nothing
                was sent.
            SendTimeout: no connection, or no room, within ``send_timeout``.
            ValueError: ``timeout`` is negative.
        """
        reply: M = self._get_messaging().request(message, timeout)
        return reply

    @overload
    def on(self, key: type[_T]) -> Callable[[Callable[[_T], Any]], Callable[[_T], Any]]: ...

    @overload
    def on(self, key: str) -> Callable[[Callable[[M], Any]], Callable[[M], Any]]: ...

    def on(self, key: str | type) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
        """Register the decorated function as the handler of ``key``.

        Args:
            key: a value of the type field (``"chat"``); ``"*"`` for every
                message no other handler takes; a message class (typed codecs:
                that Struct and its subclasses); or :class:`Connected` /
                :class:`Disconnected` for connection events.

        A message a handler takes does not go to the queue; the others do.
        Handlers run in a green thread of their own (not the listener's, so they
        may call ``request()``), one at a time in arrival order, or up to
        ``concurrency`` at once. An exception in a handler is logged and counted
        in ``stats.handler_errors``; the next message is handled as usual.

        Raises:
            ValueError: ``key`` already has a handler.
            TypeError: ``key`` is neither a ``str`` nor a class.
        """
        messaging = self._get_messaging()

        def register(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
            messaging.on(key, handler)
            return handler

        return register

    def join_handlers(self, timeout: float | None = None) -> bool:
        """Wait until every message handed to a handler so far has been handled.

        Returns:
            True when no handler is left to run; False after ``timeout`` seconds.
        """
        if self._messaging is None:
            return True
        return self._messaging.dispatcher.join(timeout)

    def get(self, timeout: float | None = None) -> M:
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
            queue.put_now(END)  # for the next consumer
            raise ConnectionClosed(reason=self.close_reason)
        message: M = item
        return message

    def __iter__(self) -> Iterator[M]:
        """Yield every message until the connection is over."""
        # The queue's own loop: no call per message (the hot path of most applications).
        return self.queue.take_until(END)

    def close(self, *, drain: bool = False, timeout: float | None = 10.0) -> None:
        """Close the connection and stop any reconnecting. Idempotent.

        Args:
            drain: first wait (up to ``timeout`` seconds) until the frames queued
                by ``send()`` have been handed to the kernel, then (on Linux)
                until the server has acknowledged every byte written, reading
                and discarding what arrives meanwhile: closing a socket with
                unread bytes makes the kernel reset the connection and drop
                what it still held to send. Without it, frames the writer has
                not started are dropped, and the socket is closed at once.
            timeout: the most ``drain`` waits, both steps together (None: no
                limit; a negative value counts as 0). A warning is logged when
                it ran out with written bytes unacknowledged.

        Messages already on the queue can still be read; then ``get()`` raises
        ``ConnectionClosed``. Green threads blocked in ``get()``, ``send()``,
        ``flush()`` or ``connect()`` are woken at once. ``close()`` never touches
        the socket itself: it stops the listener where it waits, and the
        listener closes the socket (after an application callback it is
        running, if any, returns: ``close(drain=True)`` waits for that too,
        within ``timeout``).

        While a ``close(drain=True)`` waits, another one waits too, within its
        own ``timeout`` (the socket stays open for the one that waits longest;
        if one gives up on its flush first, it closes, and frames not yet
        written are dropped), and a plain ``close()`` ends the wait: the socket
        is closed at once. A loss that ``flush()`` has not reported yet (frames
        lost with an earlier connection) does not stop the drain of the current
        connection; ``close()`` cannot report it: call ``flush()`` first to know. Called
        from eventlet's hub (a signal handler runs there), ``close()`` cannot
        wait: ``drain`` is ignored, as if it were False.
        """
        in_hub = eventlet.getcurrent() is eventlet.hubs.get_hub().greenlet
        if timeout is not None:
            if isinstance(timeout, (int, float)) and timeout < 0:
                timeout = 0.0
            timeout = _checks.seconds("timeout", timeout, zero=True, infinite=True)
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        drain = drain and not in_hub  # nothing can wait in the hub
        if self._closing:
            if self._linger_until is not None and self.state is not ConnectionState.CLOSED:
                if drain:
                    self._wait_for_linger(deadline)  # as the first, within its own timeout
                else:
                    # Close now: the runner's linger ends at its next check.
                    self._linger_until = time.monotonic()
                    self._linger_cut = True
            return
        if drain and self._conn is not None:
            self._drain_for_close(deadline)
            if self._stopping():  # another close() came meanwhile: wait as it does
                self._wait_for_linger(deadline)
                return
        self._closing = True
        conn = self._conn
        if conn is not None:
            conn.outbox.end(None)  # wakes senders waiting for room, stops the writer
        self._wake_senders()
        runner = self._runner
        if runner is None:
            self._finish(None)
            return
        if runner is not eventlet.getcurrent() and not runner.dead and not self._busy:
            eventlet.greenthread.kill(runner, StopGreenThread())
        if runner.dead:
            # Covers a runner stopped before it ever ran: its finally never ran either.
            self._finish(None)
        elif self.state is ConnectionState.CONNECTING and not self._opened.ready():
            self._opened.send(False)
        elif drain:
            self._wait_for_linger(deadline)

    def _drain_for_close(self, deadline: float) -> None:
        """close(drain=True)'s flush; on success, have the runner linger until ``deadline``.

        With several close(drain=True) at once, the socket stays open for the one
        that waits longest (each caller still waits within its own timeout),
        unless a plain close() cut the wait short.
        """
        for _ in range(2):
            left = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
            try:
                self.flush(left)
            except ConnectionClosed:
                # Reported once, a loss with an earlier connection: this one may
                # still have frames to deliver (a second flush tells).
                if self._conn is None or self._stopping():
                    return
                continue
            except GreenClientError:  # SendTimeout: out of time
                return
            if not self._linger_cut:
                current = self._linger_until
                self._linger_until = deadline if current is None else max(current, deadline)
            return

    def _linger_deadline(self) -> float:
        """Until when the runner keeps a drained socket open (asked at each check)."""
        return self._linger_until if self._linger_until is not None else 0.0

    def _wait_for_linger(self, limit: float) -> None:
        """After a drain: wait while the runner lingers before closing the socket.

        So that a program that ends right after ``close(drain=True)`` does not
        reset the connection. Until the linger's deadline or ``limit`` (the
        caller's own, a monotonic time), whichever comes first, and a moment
        more for the runner to close the socket.
        """
        if eventlet.getcurrent() is self._runner:
            return
        while self.state is not ConnectionState.CLOSED and self._linger_until is not None:
            until = min(limit, self._linger_until) + LINGER_GRACE
            left = until - time.monotonic()
            if left <= 0:
                break
            self._next_event().wait(None if left == math.inf else left)

    @property
    def closed(self) -> bool:
        """True once the connection is over for good."""
        return self.state is ConnectionState.CLOSED

    def __enter__(self) -> GreenClient[M]:
        if self.state is ConnectionState.NEW:
            self.connect()
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if isinstance(exc_type, type) and not issubclass(exc_type, Exception):
            self._close_interrupted()  # Ctrl-C, sys.exit()...
            return
        # Leaving normally, let the frames already sent go out first.
        self.close(drain=exc_type is None)

    def _close_interrupted(self) -> None:
        """close() while an interrupt (``KeyboardInterrupt``, ``SystemExit``) goes on.

        On eventlet's asyncio hub, once such an exception went through the hub,
        the hub no longer runs: switching green threads (as close() does to stop
        the listener) raises ``RuntimeError("Already running!")``, which would
        replace the interrupt (a traceback and status 1 instead of 130). There
        the client is left to end with the process; the interrupt goes on.
        """
        with contextlib.suppress(RuntimeError):
            self.close()

    def __repr__(self) -> str:
        return f"<GreenClient {self.host}:{self.port} {self.state.value}>"


if TYPE_CHECKING:

    class _Options(TypedDict, total=False):
        """The keyword options of :class:`GreenClient` but ``codec``."""

        delimiter: str | bytes
        framing: FramingName | Framer
        max_frame_size: int
        maxsize: int
        max_queue_bytes: int
        on_error: Callable[[ProtocolError], Any] | None
        recv_size: int
        connect_timeout: float | None
        reconnect: bool | ReconnectPolicy | None
        on_connect: Callable[[GreenClient], Any] | None
        on_disconnect: Callable[[GreenClient, BaseException | None], Any] | None
        events: bool
        send_timeout: float | None
        send_buffer_size: int
        read_idle_timeout: float | None
        keepalive: KeepAlive | None
        ssl_context: ssl.SSLContext | None
        server_hostname: str | None
        yield_every: bool
        correlation_field: str
        type_field: str
        concurrency: int

    class ClientOptions(_Options, total=False):
        """The keyword options of :class:`GreenClient`, for typing ``connect(**options)``."""

        codec: CodecName | Codec


@overload
def connect(
    host: str = ...,
    port: int = ...,
    *,
    codec: TypedCodec[M],
    **options: Unpack[_Options],
) -> GreenClient[M]: ...


@overload
def connect(
    host: str = ...,
    port: int = ...,
    *,
    codec: CodecName | Codec = ...,
    **options: Unpack[_Options],
) -> GreenClient[Any]: ...


def connect(host: str = "localhost", port: int = 8000, **options: Any) -> GreenClient[Any]:
    """Return a connected :class:`GreenClient`; use it in ``with`` to close it on exit.

    Takes the same keyword options as :class:`GreenClient` (type checkers know
    them: a misspelt option is an error).

    Raises:
        ConnectError: the connection could not be opened.
        TypeError: an unknown option.
    """
    return GreenClient(host, port, **options).connect()
