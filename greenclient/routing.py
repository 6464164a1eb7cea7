"""Where each received message goes: to a waiting request, to a handler, or to the queue. No I/O.

The pieces here decide; the client (:mod:`greenclient.client`) and the
dispatcher (:mod:`greenclient.dispatch`) act. Nothing in this module imports
eventlet or touches a socket, so every decision is tested with plain lists.

Invariants:

* Every correlation id a :class:`PendingRequests` hands out starts with its
  prefix, which is random per table (64 bits) and ends with ``"."``, followed
  by a counter: two clients never share an id, so with a server that
  broadcasts, one client never takes another's reply.
* An id is in the table only while its request waits for the reply:
  :meth:`PendingRequests.take` removes it when the reply arrives,
  :meth:`PendingRequests.discard` when the request gives up (timeout, error),
  :meth:`PendingRequests.take_all` when the connection ends. Nothing is left
  behind whatever happens to a request.
* A received message whose correlation field holds a string with this table's
  prefix is a reply to this client: it goes to its request, or, when that
  request is no longer waiting, it is *late* (counted and dropped). Any other
  message (other clients' replies included) is not a reply to this client.
* :class:`Router.route` keeps the order of what it hands back to the queue, and
  hands replies and handled messages out in arrival order too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from itertools import count
from typing import Any, Final, Generic, Protocol, TypeVar

from .errors import ProtocolError
from .framing import FrameItem

__all__ = [
    "CATCH_ALL",
    "DEFAULT_CORRELATION_FIELD",
    "DEFAULT_TYPE_FIELD",
    "CorrelationIds",
    "FieldReader",
    "HandlerRegistry",
    "PendingRequests",
    "Router",
    "TypedCodec",
    "dict_field",
]

#: The field that carries a request's correlation id unless the client is told
#: otherwise. The leading underscore keeps it apart from application fields.
DEFAULT_CORRELATION_FIELD: Final = "_correlation_id"
#: The field whose value selects a message's handler unless told otherwise.
DEFAULT_TYPE_FIELD: Final = "type"
#: The key of the catch-all handler: it takes the messages no other handler takes.
CATCH_ALL: Final = "*"

W = TypeVar("W")
H = TypeVar("H")
M_co = TypeVar("M_co", covariant=True)

#: Reads a field of a received message by its name on the wire; None when absent.
FieldReader = Callable[[Any, str], Any]


class TypedCodec(Protocol[M_co]):
    """A codec whose messages have a type: ``GreenClient`` is generic over it.

    :class:`~greenclient.typed.MsgspecCodec` is one; a client made with a
    ``TypedCodec[Chat]`` is a ``GreenClient[Chat]``, whose ``get()`` returns
    ``Chat``. (The JSON codec is a ``TypedCodec[Any]``.)
    """

    def decode(self, frame: bytes) -> M_co:
        """Decode one frame (raises ``DecodeError``)."""
        ...

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        """Decode frames; see :class:`~greenclient.codec.Codec`."""
        ...

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        """Encode one message; see :class:`~greenclient.codec.Codec`."""
        ...


def dict_field(message: Any, name: str) -> Any:
    """Return ``message[name]`` for a dict message, else None (the default :data:`FieldReader`)."""
    if type(message) is dict:
        return message.get(name)
    return None


class CorrelationIds:
    """Correlation ids unique to one client: a random prefix, then a counter.

    Args:
        prefix: the prefix (for tests); by default 16 random hex digits and ``"."``.
    """

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix if prefix is not None else secrets.token_hex(8) + "."
        self._counter = count(1)

    def next(self) -> str:
        """Return a new id, never returned before by this object."""
        return f"{self.prefix}{next(self._counter)}"

    def is_ours(self, value: object) -> bool:
        """True when ``value`` is an id this object could have made."""
        return type(value) is str and value.startswith(self.prefix)


class PendingRequests(Generic[W]):
    """The requests of one client that wait for their reply, by correlation id.

    ``W`` is whatever wakes the waiting request (the client stores an
    ``eventlet.event.Event``); this table only stores and hands them back.

    Args:
        prefix: the ids' prefix (see :class:`CorrelationIds`).
    """

    def __init__(self, prefix: str | None = None):
        self.ids = CorrelationIds(prefix)
        self._waiting: dict[str, W] = {}
        #: Replies that came for a request no longer waiting (timed out or failed).
        self.late = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, waiter: W) -> str:
        """Register a new request; return its correlation id."""
        cid = self.ids.next()
        self._waiting[cid] = waiter
        return cid

    def discard(self, cid: str) -> None:
        """Forget the request ``cid`` (it gave up); no effect if it is gone already."""
        self._waiting.pop(cid, None)

    def take(self, value: object) -> tuple[bool, W | None]:
        """Classify a received correlation field value.

        Returns:
            ``(False, None)``: not a reply to this client (no id, or another
            client's); ``(True, waiter)``: the reply of a waiting request, which
            is removed from the table; ``(True, None)``: a reply to this client
            whose request no longer waits. It is counted in :attr:`late`; drop it.
        """
        if type(value) is not str:
            return False, None
        waiter = self._waiting.pop(value, None)
        if waiter is not None:
            return True, waiter
        if value.startswith(self.ids.prefix):
            self.late += 1
            return True, None
        return False, None

    def take_all(self) -> list[W]:
        """Remove every waiting request and return their waiters (the connection ended)."""
        waiters = list(self._waiting.values())
        self._waiting.clear()
        return waiters


class HandlerRegistry(Generic[H]):
    """Handlers by message type, by class, and one catch-all.

    A message's handler is, in this order: the one registered for its class (or
    the nearest base class); the one registered for the value of its type field
    (a ``str``); the catch-all (:data:`CATCH_ALL`), registered under ``"*"``.
    Connection events (:class:`~greenclient.Connected`,
    :class:`~greenclient.Disconnected`) are found by class only: the catch-all
    takes messages, not events.

    Args:
        type_field: the field that holds a message's type.
        read_field: reads a field from a decoded message (:func:`dict_field`
            for dicts; a typed codec supplies its own).
    """

    def __init__(self, type_field: str = DEFAULT_TYPE_FIELD, read_field: FieldReader = dict_field):
        self.type_field = type_field
        self._read_field = read_field
        self._by_type: dict[str, H] = {}
        self._by_class: dict[type, H] = {}
        self._catch_all: H | None = None
        self._class_cache: dict[type, H | None] = {}

    def __bool__(self) -> bool:
        return bool(self._by_type or self._by_class or self._catch_all is not None)

    def add(self, key: str | type, handler: H) -> None:
        """Register ``handler`` for ``key``: a type value, ``"*"`` or a class.

        Raises:
            ValueError: ``key`` already has a handler (remove it first).
            TypeError: ``key`` is neither a ``str`` nor a class.
        """
        if isinstance(key, str):
            if key == CATCH_ALL:
                if self._catch_all is not None:
                    raise ValueError("a catch-all handler is already registered")
                self._catch_all = handler
                return
            if key in self._by_type:
                raise ValueError(f"a handler for type {key!r} is already registered")
            self._by_type[key] = handler
        elif isinstance(key, type):
            if key in self._by_class:
                raise ValueError(f"a handler for {key.__qualname__} is already registered")
            self._by_class[key] = handler
            self._class_cache.clear()
        else:
            raise TypeError(f"handlers are registered by str or class, not {key!r}")

    def remove(self, key: str | type) -> None:
        """Remove the handler of ``key``; no effect if it has none."""
        if key == CATCH_ALL:
            self._catch_all = None
        elif isinstance(key, str):
            self._by_type.pop(key, None)
        else:
            self._by_class.pop(key, None)
            self._class_cache.clear()

    def _for_class(self, cls: type) -> H | None:
        try:
            return self._class_cache[cls]
        except KeyError:
            pass
        found = None
        for base in cls.__mro__:
            found = self._by_class.get(base)
            if found is not None:
                break
        self._class_cache[cls] = found
        return found

    def find(self, message: Any) -> H | None:
        """Return the handler that takes ``message``, or None when none does."""
        if self._by_class:
            handler = self._for_class(type(message))
            if handler is not None:
                return handler
        if self._by_type:
            value = self._read_field(message, self.type_field)
            if type(value) is str:
                handler = self._by_type.get(value)
                if handler is not None:
                    return handler
        return self._catch_all

    def find_event(self, event: object) -> H | None:
        """Return the handler registered for the class of the connection event ``event``."""
        return self._for_class(type(event)) if self._by_class else None


class Router(Generic[W, H]):
    """Sends each decoded message to its request, its handler, or back to the queue.

    Args:
        pending: the client's waiting requests.
        handlers: the client's handlers.
        reply: ``reply(waiter, message)`` wakes a request with its reply.
        dispatch: ``dispatch(handler, message)`` hands a message to its handler
            (it may wait: that is how back-pressure reaches the socket).
        correlation_field: the field that carries correlation ids.
        read_field: reads a field from a decoded message.
    """

    def __init__(
        self,
        pending: PendingRequests[W],
        handlers: HandlerRegistry[H],
        *,
        reply: Callable[[W, Any], Any],
        dispatch: Callable[[H, Any], Any],
        correlation_field: str = DEFAULT_CORRELATION_FIELD,
        read_field: FieldReader = dict_field,
    ):
        self.pending = pending
        self.handlers = handlers
        self._reply = reply
        self._dispatch = dispatch
        self.correlation_field = correlation_field
        self._read_field = read_field
        #: True once a request was made: from then on every message is checked
        #: for a correlation id, so that late replies are recognised and dropped.
        self.requests_made = False

    @property
    def active(self) -> bool:
        """True when routing can take a message out of the queue's way."""
        return self.requests_made or bool(self.handlers)

    def route(self, messages: list[Any], *, errors: bool = False) -> list[Any]:
        """Hand out the replies and handled messages of ``messages``; return the rest.

        Args:
            messages: decoded messages, in arrival order.
            errors: ``messages`` may also hold ``ProtocolError`` items (rejected
                frames); they are returned in their place, untouched.

        Returns:
            The items that neither a request nor a handler took, in order:
            the caller puts the messages on the queue.
        """
        rest: list[Any] = []
        keep = rest.append
        take = self.pending.take
        field = self.correlation_field
        read = self._read_field
        plain = read is dict_field  # dicts: read the field inline
        check_replies = self.requests_made
        handlers = self.handlers if self.handlers else None
        find = handlers.find if handlers is not None else None
        # The common case, inline: dict messages and handlers by type value only.
        by_type, catch_all, type_field = (
            (handlers._by_type, handlers._catch_all, handlers.type_field)
            if handlers is not None and plain and not handlers._by_class
            else (None, None, "")
        )
        for message in messages:
            if errors and isinstance(message, ProtocolError):
                keep(message)
                continue
            if check_replies:
                if plain:
                    cid = message.get(field) if type(message) is dict else None
                else:
                    cid = read(message, field)
                if cid is not None:
                    ours, waiter = take(cid)
                    if ours:
                        if waiter is not None:
                            self._reply(waiter, message)
                        continue
            if find is not None:
                if by_type is not None:
                    kind = message.get(type_field) if type(message) is dict else None
                    handler = by_type.get(kind, catch_all) if type(kind) is str else catch_all
                else:
                    handler = find(message)
                if handler is not None:
                    self._dispatch(handler, message)
                    continue
            keep(message)
        return rest
