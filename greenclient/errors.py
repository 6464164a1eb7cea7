"""The exceptions greenclient raises or reports.

Every error is a :class:`GreenClientError`, so ``except greenclient.GreenClientError``
catches all of them. The tree::

    GreenClientError
    ├── ConnectionClosed          the connection is over; no more messages will come
    ├── ConnectionLost            the connection broke while receiving or sending (a reason)
    ├── ConnectError              could not open a connection (refused, timeout, DNS, TLS)
    ├── SendTimeout               send() waited send_timeout for a connection, none came;
    │                             or flush() ran out of time
    ├── ReadIdleTimeout           nothing arrived for read_idle_timeout seconds (a reason)
    ├── RequestTimeout            request() got no reply within its timeout
    ├── ProtocolError             a received frame was rejected; the listener goes on
    │   ├── FrameTooLarge         a frame grew past max_frame_size; it is discarded
    │   ├── DecodeError           a frame is not valid UTF-8 / JSON; ``.frame`` has its bytes
    │   ├── PartialFrame          the connection ended in the middle of a frame
    │   └── JSONStreamError       framing="json": bytes that cannot start a JSON value
    └── EncodeError               send() could not encode a message; nothing was written

Errors that describe bad input from the server (the ``ProtocolError`` branch) are
never raised into the application: the listener passes them to the client's
``on_error`` callback, counts them in ``client.stats`` and carries on with the next
frame. The others are raised by the call that failed.

The I/O layer turns ``OSError``, ``ssl`` errors, timeouts and invalid host names
into these classes in one place (:mod:`greenclient.transport`), so callers never
need to catch ``socket`` or ``ssl`` exceptions; the original is the
``__cause__``. Wrong arguments to ``GreenClient(...)`` raise ``TypeError`` or
``ValueError`` at construction.
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "ConnectionClosed",
    "ConnectionLost",
    "DecodeError",
    "EncodeError",
    "FrameTooLarge",
    "GreenClientError",
    "JSONStreamError",
    "PartialFrame",
    "ProtocolError",
    "ReadIdleTimeout",
    "RequestTimeout",
    "SendTimeout",
]


class GreenClientError(Exception):
    """Base class of every greenclient error."""


class ConnectionClosed(GreenClientError):
    """The connection is over and every message that arrived has been handed out.

    Raised by ``get()`` and ``send()`` on a closed client, and ends iteration.
    ``reason`` is the exception that ended the connection, or None after
    ``close()`` or a clean end of stream from the server.
    """

    def __init__(self, message: str = "connection closed", reason: BaseException | None = None):
        super().__init__(message)
        self.reason = reason


class ConnectionLost(GreenClientError):
    """The connection broke: reset by the peer, a failed write, a TLS error mid-stream.

    Never raised by ``get()``: it is the ``reason`` of a
    :class:`~greenclient.Disconnected` event, of ``on_disconnect`` and of the
    ``ConnectionClosed`` that follows. ``__cause__`` is the ``OSError`` or
    ``ssl.SSLError`` the socket raised.
    """


class ConnectError(GreenClientError):
    """Opening a connection failed: refused, timed out, name not resolved or TLS failed.

    ``retryable`` is False for errors that retrying cannot fix (a name that does not
    resolve or is not a valid host name, a certificate that does not verify); the
    reconnect loop stops on them. A refused or timed-out connect, and an EOF or
    reset during the TLS handshake, are retryable.
    """

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class SendTimeout(GreenClientError):
    """``send()`` waited ``send_timeout`` seconds, for a connection or for room, in vain.

    It waited for a connection while (re)connecting, or for room in the send
    buffer (``send_buffer_size``) while the writer could not keep up; the
    message says which. Nothing of the message was queued or written.
    ``flush(timeout)`` raises it too when the frames queued before it were not
    all written in time (they stay queued).
    """


class ReadIdleTimeout(GreenClientError):
    """Nothing arrived for ``read_idle_timeout`` seconds; the connection was dropped."""


class RequestTimeout(GreenClientError):
    """``request()`` got no reply within its timeout.

    The request is forgotten: a reply that comes later is counted in
    ``stats.late_replies`` and dropped. ``correlation_id`` is the request's id.
    """

    def __init__(self, message: str, correlation_id: str):
        super().__init__(message)
        self.correlation_id = correlation_id


class ProtocolError(GreenClientError):
    """A received frame was rejected. Reported through ``on_error``, never raised.

    The frame is skipped; the listener goes on with the next one.
    """


class FrameTooLarge(ProtocolError):
    """A frame grew past ``max_frame_size`` bytes.

    Its bytes are discarded as they arrive (memory stays bounded) up to the next
    frame boundary, where framing resumes. ``size`` is how many bytes had been seen
    when the limit was crossed (for length-prefixed frames, the announced length).
    """

    def __init__(self, size: int, limit: int):
        super().__init__(
            f"frame of at least {size} bytes exceeds max_frame_size={limit}; discarded"
        )
        self.size = size
        self.limit = limit


class DecodeError(ProtocolError):
    """A frame could not be decoded (invalid UTF-8, invalid JSON, nested too deeply, NUL).

    ``frame`` holds the raw bytes of the frame, so the application can log or inspect
    them; ``__cause__`` is the decoder's own exception.
    """

    def __init__(self, message: str, frame: bytes):
        super().__init__(message)
        self.frame = frame


class PartialFrame(ProtocolError):
    """The connection ended while a frame was incomplete; its bytes are in ``frame``.

    The partial frame is never delivered as a message.
    """

    def __init__(self, frame: bytes):
        super().__init__(f"connection ended inside a frame ({len(frame)} bytes left unframed)")
        self.frame = frame


class JSONStreamError(ProtocolError):
    """``framing="json"``: bytes that cannot start a JSON value were skipped.

    ``skipped`` is how many bytes were dropped; ``sample`` holds the first of
    them (at most 1 KiB) for logging.
    """

    def __init__(self, skipped: int, sample: bytes):
        super().__init__(f"skipped {skipped} bytes that do not start a JSON value")
        self.skipped = skipped
        self.sample = sample


class EncodeError(GreenClientError):
    """``send()`` could not turn the message into a safe frame; nothing was written.

    Raised when the object is not serialisable, or when its bytes would contain the
    delimiter and no escape exists (text or bytes codec, or a delimiter that JSON
    can produce outside strings).
    """
