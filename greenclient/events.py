"""Values the client hands to the application: events, state, settings, counters. No I/O.

Nothing here imports eventlet or touches a socket: these are plain values, frozen
where they describe a fact (an event, a setting) so they cannot change by accident.

* :data:`END` ends ``client.queue`` once the connection is over for good.
* :class:`Connected` / :class:`Disconnected` are put on the queue with
  ``events=True``, in order with the messages.
* :class:`ConnectionState` is where a client is in its life.
* :class:`KeepAlive` holds the TCP keepalive settings.
* :class:`Stats` counts what one client did; its numbers only grow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from . import _checks
from .errors import DecodeError, FrameTooLarge, JSONStreamError, PartialFrame, ProtocolError

__all__ = [
    "END",
    "Connected",
    "ConnectionState",
    "Disconnected",
    "KeepAlive",
    "Stats",
]


class _End:
    """The type of :data:`END` (one instance, readable repr, survives pickling)."""

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
    """Event: a connection ended.

    ``reason`` is the error that ended it (a :class:`~greenclient.ConnectionLost`
    for a reset or a failed write, :class:`~greenclient.ReadIdleTimeout`...), or
    None for a clean end of stream or ``close()``.
    """

    reason: BaseException | None
    will_reconnect: bool


@dataclass(frozen=True)
class KeepAlive:
    """TCP keepalive settings; applied where the OS has the option.

    A peer that vanishes without a FIN or RST (cable pulled, host gone) is
    noticed after about ``idle + interval * count`` seconds of silence.

    Raises:
        TypeError, ValueError: a setting is not an ``int`` of at least 1 (and at
            most 32,767 seconds, or 127 probes: Linux's bounds).
    """

    idle: int = 60
    interval: int = 10
    count: int = 5

    def __post_init__(self) -> None:
        # Linux's bounds: TCP_KEEPIDLE and TCP_KEEPINTVL up to 32,767 s, TCP_KEEPCNT up to 127.
        for name, maximum in (("idle", 32_767), ("interval", 32_767), ("count", 127)):
            _checks.whole(name, getattr(self, name), maximum=maximum)


@dataclass
class Stats:
    """Counters of one client; they only ever grow.

    ``messages_sent`` and ``bytes_sent`` count frames handed to the kernel by
    the writer, not frames queued by ``send()``; ``frames_unsent`` counts frames
    that ``send()`` had queued when their connection ended before the writer
    started them (they were never written, not even in part).
    """

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
    #: frames queued by send() and dropped, unstarted, with their connection
    frames_unsent: int = 0
    #: frames of a write that failed when the connection broke (part may have left)
    frames_failed: int = 0
    #: lines the default on_error log left out (rate limit)
    log_lines_suppressed: int = 0
    #: replies that came after their request timed out or failed (dropped)
    late_replies: int = 0
    #: handlers (``on()``) that raised
    handler_errors: int = 0
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
