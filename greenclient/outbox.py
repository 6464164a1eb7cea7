"""The writing side of one connection: a buffer bounded in bytes and its one writer green thread.

``send()`` appends whole frames to an :class:`Outbox`; one writer green thread,
started by the first frame, takes everything queued, joins it and writes it with
one ``sendall`` (frames queued while a write is in progress go out together in
the next one), in the manner of nats.py's flusher.

Invariants:

* Only the writer writes the socket, and it writes frames in the order they
  were queued. A frame is queued whole or not at all: a caller interrupted
  (``eventlet.Timeout``, kill) while waiting for room queued nothing.
* Once the writer has taken a frame, the frame is written whole, or the write
  fails and the connection is ended and reported (the failure goes to
  ``on_failure``); nothing is ever written after a partial frame.
* ``size`` counts the bytes queued and not yet handed to the kernel (the
  write in progress included). ``put`` waits while it is at least ``limit``,
  so the buffer holds at most ``limit`` plus one frame.
* After :meth:`Outbox.end` nothing more is written; frames not yet taken by the
  writer are dropped and counted, and every waiter is woken.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable

import eventlet
import eventlet.greenthread
import eventlet.hubs
import eventlet.timeout
import greenlet
from eventlet.queue import Waiter

from .errors import ConnectionClosed, ConnectionLost, SendTimeout
from .events import Stats
from .transport import Transport

__all__ = ["Outbox", "OutboxEnded", "StopGreenThread"]

logger = logging.getLogger("greenclient")

_ENDED_FIRST = "the connection ended before its frames were written"

# Shared by every Outbox until a sender first waits: most outboxes never need
# waiters of their own. Never mutated.
_NO_ROOM_WAITERS: deque[Waiter] = deque()
_NO_FLUSH_WAITERS: list[tuple[int, Waiter]] = []


class StopGreenThread(greenlet.GreenletExit):  # type: ignore[misc]
    """Thrown into a green thread of greenclient's own to make it stop where it waits."""


class OutboxEnded(Exception):
    """The connection of this outbox is over; the frame was not queued (internal)."""


class Outbox:
    """Frames waiting to be written on one connection, and the green thread that writes them.

    Args:
        transport: the connection's socket.
        limit: bytes of queued frames from which ``put`` waits.
        stats: the client's counters (``messages_sent``, ``bytes_sent``).
        on_failure: called in the writer with the ``ConnectionLost`` of a failed
            write, once, after the outbox has ended.
    """

    __slots__ = (
        "_flush_waiters",
        "_room_waiters",
        "_writer_waiter",
        "dropped",
        "ended",
        "failed",
        "frames",
        "limit",
        "lost_reported",
        "on_failure",
        "queued",
        "reason",
        "size",
        "stats",
        "transport",
        "writer",
        "written",
    )

    def __init__(
        self,
        transport: Transport,
        limit: int,
        stats: Stats,
        on_failure: Callable[[ConnectionLost], None],
    ):
        self.transport = transport
        self.limit = limit
        self.stats = stats
        self.on_failure = on_failure
        self.frames: list[bytes] = []
        self.size = 0
        self.queued = 0  #: frames ever queued
        self.written = 0  #: frames ever handed to the kernel
        self.ended = False
        self.reason: BaseException | None = None
        self.dropped = 0  #: frames dropped unstarted by end()
        self.failed = 0  #: frames of the write that failed (they may have left in part)
        self.lost_reported = False  #: a flush() has told the application of this end
        self.writer: greenlet.greenlet | None = None
        self._writer_waiter: Waiter | None = None  # set while the writer waits for frames
        self._room_waiters = _NO_ROOM_WAITERS
        self._flush_waiters = _NO_FLUSH_WAITERS

    # -- the senders' side ----------------------------------------------------------

    def put(self, frame: bytes, timeout: float | None = None) -> None:
        """Queue one whole frame; wait while the buffer holds ``limit`` bytes or more.

        Raises:
            OutboxEnded: the connection ended; the frame was not queued.
            SendTimeout: no room within ``timeout`` seconds; not queued.
        """
        if self.size >= self.limit and not self.ended:
            self._wait_for_room(timeout)
        if self.ended:
            raise OutboxEnded
        self.frames.append(frame)
        self.size += len(frame)
        self.queued += 1
        waiter = self._writer_waiter
        if waiter is not None:
            self._writer_waiter = None
            eventlet.hubs.get_hub().schedule_call_global(0, waiter.switch)
        elif self.writer is None:
            self.writer = eventlet.spawn_n(self._write_loop)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every frame queued so far has been handed to the kernel.

        Raises:
            ConnectionClosed: the connection ended first (``reason`` says why).
            SendTimeout: not done within ``timeout`` seconds (the frames stay queued).
        """
        target = self.queued
        if self.written >= target:
            return
        if self.ended:
            raise ConnectionClosed(_ENDED_FIRST, self.reason)
        waiter = Waiter()
        entry = (target, waiter)
        if self._flush_waiters is _NO_FLUSH_WAITERS:
            self._flush_waiters = []
        self._flush_waiters.append(entry)
        timer = eventlet.timeout.Timeout(timeout) if timeout is not None else None
        try:
            while self.written < target and not self.ended:
                waiter.wait()
        except eventlet.timeout.Timeout as exc:
            if exc is not timer:
                raise
            raise SendTimeout(f"queued frames not written within {timeout}s") from None
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):
                self._flush_waiters.remove(entry)
        if self.written < target:
            raise ConnectionClosed(_ENDED_FIRST, self.reason)

    def _wait_for_room(self, timeout: float | None) -> None:
        waiter = Waiter()
        if self._room_waiters is _NO_ROOM_WAITERS:
            self._room_waiters = deque()
        timer = eventlet.timeout.Timeout(timeout) if timeout is not None else None
        try:
            while self.size >= self.limit and not self.ended:
                self._room_waiters.append(waiter)
                try:
                    waiter.wait()
                finally:
                    with contextlib.suppress(ValueError):
                        self._room_waiters.remove(waiter)
        except eventlet.timeout.Timeout as exc:
            if exc is not timer:
                raise
            raise SendTimeout(
                f"no room in the send buffer within {timeout}s (the server reads too slowly)"
            ) from None
        finally:
            if timer is not None:
                timer.cancel()

    # -- the writer -------------------------------------------------------------------

    def _write_loop(self) -> None:
        transport = self.transport
        stats = self.stats
        try:
            while True:
                while not self.frames:
                    if self.ended:
                        return
                    waiter = self._writer_waiter = Waiter()
                    try:
                        waiter.wait()
                    finally:
                        self._writer_waiter = None
                if self.ended:
                    return
                frames = self.frames
                self.frames = []
                data = frames[0] if len(frames) == 1 else b"".join(frames)
                try:
                    transport.sendall(data)
                except BaseException:
                    self.failed = len(frames)
                    raise
                self.size -= len(data)
                self.written += len(frames)
                stats.messages_sent += len(frames)
                stats.bytes_sent += len(data)
                self._wake_after_write()
        except StopGreenThread:
            pass
        except ConnectionLost as exc:
            self._fail(exc)
        except Exception as exc:  # a bug: still end the connection, and say why
            logger.exception("greenclient: writer failed")
            lost = ConnectionLost(f"the writer failed: {exc!r}")
            lost.__cause__ = exc
            self._fail(lost)

    def _fail(self, error: ConnectionLost) -> None:
        if not self.ended:
            self.end(error)
            self.on_failure(error)

    def _wake_after_write(self) -> None:
        hub = eventlet.hubs.get_hub()
        while self._room_waiters and self.size < self.limit:
            hub.schedule_call_global(0, self._room_waiters.popleft().switch)
        written = self.written
        for target, waiter in self._flush_waiters:
            if target <= written:
                hub.schedule_call_global(0, waiter.switch)

    # -- the end ----------------------------------------------------------------------

    def end(self, reason: BaseException | None) -> None:
        """Stop writing for good; frames not started are dropped (counted in ``dropped``).

        Wakes every green thread waiting for room or for a flush. A writer
        waiting anywhere else (in ``sendall``) is stopped, unless it is the caller.
        """
        if self.ended:
            return
        self.ended = True
        self.reason = reason
        self.dropped = len(self.frames)
        self.frames = []
        hub = eventlet.hubs.get_hub()
        for waiter in self._room_waiters:
            hub.schedule_call_global(0, waiter.switch)
        for _, waiter in self._flush_waiters:
            hub.schedule_call_global(0, waiter.switch)
        writer = self.writer
        if writer is not None and writer is not eventlet.getcurrent():
            waiter = self._writer_waiter
            if waiter is not None:
                self._writer_waiter = None
                hub.schedule_call_global(0, waiter.switch)
            elif writer and not writer.dead:  # started, and waiting in sendall
                eventlet.greenthread.kill(writer, StopGreenThread())
