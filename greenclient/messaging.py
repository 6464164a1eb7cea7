"""Request/reply and handlers: the eventlet side of :mod:`greenclient.routing`.

A client creates its :class:`Messaging` on first use (``request()`` or ``on()``);
a client that uses neither has none, and its listener puts every message on the
queue as before, at no extra cost.

Invariants:

* ``request()`` registers its waiter before it sends, so a reply that comes
  back at once still finds it; whatever happens next (reply, timeout, error,
  end of the connection), the waiter is removed before ``request()`` returns
  or raises.
* When a connection ends, every waiting request is woken at once with
  ``ConnectionClosed``, by the listener, before the end is reported
  (``on_disconnect``, ``Disconnected``).
* One green thread, the *dispatcher*, takes handled messages and connection
  events from a bounded backlog in arrival order and runs their handlers: one
  at a time by default, or up to ``concurrency`` at once in a ``GreenPool``.
  When the pool is full the dispatcher waits for a free slot; the backlog then
  fills, the listener waits to put the next message, and TCP makes the server
  wait: handlers never make memory grow.
* The dispatcher is not the listener: a handler may call ``request()`` (whose
  reply the listener reads) or ``send()``. A handler that makes a request
  while the backlog is full waits for its reply no longer than its timeout.
* A handler's exception (an ``eventlet.Timeout`` of its own included) is logged
  on the ``greenclient`` logger and counted in :attr:`Dispatcher.errors`;
  dispatch goes on with the next message.
* When the client closes, the dispatcher runs the handlers of what is already
  in the backlog, then ends; :meth:`Dispatcher.join` waits for that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

import eventlet
import eventlet.event
import eventlet.greenpool
import eventlet.queue
import eventlet.timeout

from .errors import ConnectionClosed, EncodeError, RequestTimeout, SendTimeout
from .routing import (
    DEFAULT_CORRELATION_FIELD,
    DEFAULT_TYPE_FIELD,
    FieldReader,
    HandlerRegistry,
    PendingRequests,
    Router,
    dict_field,
)

__all__ = ["DEFAULT_BACKLOG", "DEFAULT_REQUEST_TIMEOUT", "Dispatcher", "Messaging"]

logger = logging.getLogger("greenclient")

#: Messages that may wait for their handler before the listener waits in turn.
DEFAULT_BACKLOG: Final = 128
#: Seconds ``request()`` waits for its reply unless told otherwise.
DEFAULT_REQUEST_TIMEOUT: Final = 10.0

Handler = Callable[[Any], Any]


class _Stop:
    def __repr__(self) -> str:
        return "<dispatcher stop>"


_STOP: Final = _Stop()


class Dispatcher:
    """Runs handlers in a green thread of their own, in arrival order.

    Args:
        concurrency: how many handlers may run at once (1: one at a time, in
            arrival order; N > 1: started in arrival order, in a GreenPool of N).
        backlog: how many messages may wait for a handler.

    Raises:
        ValueError: ``concurrency`` or ``backlog`` is below 1.
    """

    def __init__(self, concurrency: int = 1, backlog: int = DEFAULT_BACKLOG):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if backlog < 1:
            raise ValueError("backlog must be at least 1")
        self.concurrency = concurrency
        self._backlog: eventlet.queue.Queue[Any] = eventlet.queue.Queue(backlog)
        self._pool = eventlet.greenpool.GreenPool(concurrency) if concurrency > 1 else None
        self._thread: Any = None
        self._stopping = False
        self._ended = False  # the dispatcher green thread has run its last handler
        self._lent = 0  # slots lent to connection events, given back as the backlog drains
        # Ordinals of the items handed over and not finished yet; join() waits
        # for those handed over before it was called.
        self._handed = 0
        self._open: set[int] = set()
        self._progress: eventlet.event.Event | None = None  # made by a waiting join()
        #: Handlers that raised.
        self.errors = 0
        #: Handlers that ran (whether they raised or not).
        self.handled = 0
        #: Called (no arguments) each time a handler raises.
        self.on_error: Callable[[], Any] | None = None

    def put(self, handler: Callable[[Any], Any], item: Any) -> None:
        """Queue ``handler(item)``; wait while the backlog is full.

        After :meth:`stop`, the item is dropped (the client is closed).
        """
        if self._stopping:
            return
        if self._thread is None:
            self._thread = eventlet.spawn(self._run)
        self._handed += 1
        ordinal = self._handed
        self._open.add(ordinal)
        try:
            self._backlog.put((handler, item, ordinal))
        except BaseException:  # the listener was stopped while it waited for room
            self._finished_one(ordinal)
            raise
        if self._ended:  # it waited for room past the dispatcher's end: dropped
            self._finished_one(ordinal)

    def put_now(self, handler: Callable[[Any], Any], item: Any) -> None:
        """Queue ``handler(item)`` without waiting: a full backlog lends a slot for it.

        For connection events, which the listener reports while a handler may
        be waiting for it. The slot is given back once the backlog has room.
        """
        if self._stopping:
            return
        backlog = self._backlog
        if backlog.full():
            backlog.resize(backlog.maxsize + 1)
            self._lent += 1
        self.put(handler, item)

    def _run(self) -> None:
        backlog = self._backlog
        get = backlog.get
        pool = self._pool
        while True:
            entry = get()
            if self._lent and backlog.qsize() < backlog.maxsize:
                backlog.resize(backlog.maxsize - 1)  # give a lent slot back
                self._lent -= 1
            if entry is _STOP:
                break
            handler, item, ordinal = entry
            if pool is None:
                self._call(handler, item, ordinal)
            else:
                pool.spawn_n(self._call, handler, item, ordinal)  # waits while the pool is full
        # What got in behind the stop marker (a put that was waiting for room when
        # stop() came) is dropped, not left for join() to wait on for ever; so is
        # what such a put brings in later (see put()).
        self._ended = True
        while not backlog.empty():
            entry = backlog.get_nowait()
            if entry is not _STOP:
                self._finished_one(entry[2])
        if pool is not None:
            pool.waitall()

    def _call(self, handler: Callable[[Any], Any], item: Any, ordinal: int) -> None:
        try:
            handler(item)
        except (Exception, eventlet.timeout.Timeout):  # an eventlet.Timeout of the handler's own
            self.errors += 1
            if self.on_error is not None:
                self.on_error()
            logger.exception("greenclient: handler %r raised on %r", handler, _short(item))
        finally:
            self.handled += 1
            self._finished_one(ordinal)

    def _finished_one(self, ordinal: int) -> None:
        self._open.discard(ordinal)
        progress = self._progress
        if progress is not None:
            self._progress = None
            progress.send(None)

    def stop(self) -> None:
        """Run what is already in the backlog, then end the dispatcher. Idempotent.

        Never waits: the stop marker gets a slot of its own if the backlog is full.
        """
        if self._stopping:
            return
        self._stopping = True
        if self._thread is None:
            return
        backlog = self._backlog
        try:
            backlog.put_nowait(_STOP)
        except eventlet.queue.Full:
            backlog.resize(backlog.maxsize + 1)
            backlog.put_nowait(_STOP)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every handler queued so far has returned.

        Items queued after the call are not waited for.

        Returns:
            True once those handlers have all returned; False after ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        target = self._handed
        while self._open and min(self._open) <= target:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            progress = self._progress
            if progress is None:
                progress = self._progress = eventlet.event.Event()
            progress.wait(remaining)
        return True

    @property
    def running(self) -> int:
        """Handlers queued or running that have not returned yet."""
        return len(self._open)


def _short(item: Any, limit: int = 200) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[:limit] + "..."


class Messaging:
    """Request/reply and handlers for one client.

    Args:
        send: ``send(message, until, abandon)`` sends one message, giving up
            with ``SendTimeout`` at the monotonic time ``until`` (None: only at
            ``send_timeout``), and unsent as soon as ``abandon()`` is true.
        stats: the client's counters; ``late_replies`` and ``handler_errors``
            are kept up to date.
        correlation_field: the field that carries correlation ids.
        type_field: the field whose value selects a handler.
        read_field: reads a field of a decoded message by its name on the wire.
        with_field: returns a message with a field added (for the id of a request).
        concurrency: how many handlers may run at once.
    """

    def __init__(
        self,
        send: Callable[[Any, float | None, Callable[[], bool]], Any],
        stats: Any,
        *,
        correlation_field: str = DEFAULT_CORRELATION_FIELD,
        type_field: str = DEFAULT_TYPE_FIELD,
        read_field: FieldReader = dict_field,
        with_field: Callable[[Any, str, Any], Any] | None = None,
        concurrency: int = 1,
    ):
        self._send = send
        self._stats = stats
        self._with_field = with_field or _dict_with_field
        self.pending: PendingRequests[eventlet.event.Event] = PendingRequests()
        self.handlers: HandlerRegistry[Handler] = HandlerRegistry(type_field, read_field)
        self.dispatcher = Dispatcher(concurrency)
        self.dispatcher.on_error = self._count_handler_error
        self.router: Router[eventlet.event.Event, Handler] = Router(
            self.pending,
            self.handlers,
            reply=_wake,
            dispatch=self.dispatcher.put,
            correlation_field=correlation_field,
            read_field=read_field,
        )
        self.correlation_field = correlation_field
        self._closed_reason: BaseException | None = None
        self._closed = False

    def _count_handler_error(self) -> None:
        self._stats.handler_errors += 1

    def route(self, messages: list[Any], *, errors: bool = False) -> list[Any]:
        """Hand out replies and handled messages; return the rest for the queue, in order.

        ``errors``: the batch may hold ``ProtocolError`` items, kept in their place.
        """
        pending = self.pending
        late = pending.late
        rest = self.router.route(messages, errors=errors)
        if pending.late != late:
            self._stats.late_replies += pending.late - late
        return rest

    def event(self, event: object) -> bool:
        """Hand a connection event to its handler, never waiting; False when none takes it."""
        handler = self.handlers.find_event(event)
        if handler is None:
            return False
        self.dispatcher.put_now(handler, event)
        return True

    def connection_ended(self, reason: BaseException | None) -> None:
        """Fail every waiting request with ``ConnectionClosed`` (the connection is over)."""
        for waiter in self.pending.take_all():
            error = ConnectionClosed("the connection ended before the reply came", reason)
            waiter.send_exception(error)

    def close(self, reason: BaseException | None) -> None:
        """The client is closed: fail waiting requests, let the handlers finish the backlog."""
        self._closed = True
        self._closed_reason = reason
        self.connection_ended(reason)
        self.dispatcher.stop()

    def on(self, key: str | type, handler: Handler) -> None:
        """Register ``handler`` (see ``GreenClient.on``)."""
        self.handlers.add(key, handler)

    def request(self, message: Any, timeout: float | None = DEFAULT_REQUEST_TIMEOUT) -> Any:
        """Send ``message`` with a new correlation id; return the reply that carries it.

        Raises:
            RequestTimeout: no reply within ``timeout`` seconds.
            ConnectionClosed: the client is closed, or the connection ended
                before the reply came.
            EncodeError: the message cannot be encoded (nothing was sent).
            SendTimeout: ``send()`` found no connection, or no room, within
                ``send_timeout`` (before ``timeout`` ran out).
        """
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 or None")
        if self._closed:
            raise ConnectionClosed("request() on a closed client", self._closed_reason)
        deadline = None if timeout is None else time.monotonic() + timeout
        waiter = eventlet.event.Event()
        cid = self.pending.add(waiter)
        self.router.requests_made = True
        try:
            tagged = self._with_field(message, self.correlation_field, cid)
            try:
                # Gives up, unsent, if the connection ends while it waits (the
                # waiter then holds ConnectionClosed, raised below).
                self._send(tagged, deadline, waiter.ready)
            except SendTimeout:
                if deadline is None or time.monotonic() < deadline:
                    raise  # send_timeout ran out first
                raise RequestTimeout(
                    f"no reply to request {cid} within {timeout} s (it was never sent: "
                    "no connection, or no room, in time)",
                    cid,
                ) from None
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # A timer of our own, cancelled however the wait ends: Event.wait(timeout)
            # leaves its timer (and so this client) alive until the timeout when the
            # wait ends with an exception (the connection ended, the client closed).
            timer = eventlet.timeout.Timeout(remaining) if remaining is not None else None
            try:
                return waiter.wait()  # the reply, or raises ConnectionClosed
            except eventlet.timeout.Timeout as exc:
                if exc is not timer:
                    raise
                raise RequestTimeout(f"no reply to request {cid} within {timeout} s", cid) from None
            finally:
                if timer is not None:
                    timer.cancel()
        finally:
            self.pending.discard(cid)


def _wake(waiter: eventlet.event.Event, reply: Any) -> None:
    waiter.send(reply)


def _dict_with_field(message: Any, name: str, value: Any) -> Any:
    if isinstance(message, dict):
        return {**message, name: value}
    raise EncodeError(
        f"request() sends a dict (or, with a typed codec, a Struct), not {type(message).__name__}"
    )
