"""The message protocol: framer plus codec, bytes in and messages out. No I/O.

:class:`MessageProtocol` is what a connection speaks, with the socket left out,
in the manner of h11's ``Connection``: the I/O layer hands it the bytes it
received and writes the bytes it returns. Any I/O layer can drive it; greenclient's
own is :mod:`greenclient.client`.

Data flows one way in each direction::

    receive_data(bytes) -> framer -> codec -> [message | ProtocolError, ...]
    encode(message)     -> codec -> framer -> bytes of one whole frame

Two cumulative counters let the I/O layer account for what a call returned
without looking at each item: :attr:`MessageProtocol.rejected` (how many
``ProtocolError`` items were returned so far) and
:attr:`MessageProtocol.frame_bytes` (how many received bytes the frames handed
out so far took on the wire). Both only grow, across reconnections too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .codec import Codec, CodecName, JsonCodec, make_codec
from .errors import PartialFrame, ProtocolError
from .framing import DEFAULT_MAX_FRAME_SIZE, Framer, FramingName, make_framer

__all__ = ["MessageProtocol", "delimiter_bytes"]


def delimiter_bytes(delimiter: str | bytes) -> bytes:
    """Return ``delimiter`` as bytes (UTF-8 for ``str``); it must not be empty.

    Raises:
        TypeError: ``delimiter`` is neither ``str`` nor bytes-like (``bytes(5)``
            would silently be five NUL bytes).
        ValueError: it is empty.
    """
    if isinstance(delimiter, str):
        data = delimiter.encode("utf-8")
    elif isinstance(delimiter, (bytes, bytearray, memoryview)):
        data = bytes(delimiter)
    else:
        raise TypeError(f"the delimiter must be str or bytes, not {type(delimiter).__name__}")
    if not data:
        raise ValueError("the delimiter must be at least one byte")
    return data


class MessageProtocol:
    """Frames and decodes a received stream; encodes and frames outgoing messages.

    Args:
        framing: ``"delimiter"``, ``"json"``, ``"length"`` or a framer object.
        codec: ``"json"``, ``"text"``, ``"bytes"`` or a codec object.
        delimiter: for ``framing="delimiter"``; ``str`` is encoded as UTF-8.
        max_frame_size: the largest frame accepted, in bytes.
    """

    def __init__(
        self,
        *,
        framing: FramingName | Framer = "delimiter",
        codec: CodecName | Codec = "json",
        delimiter: str | bytes = "~",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ):
        self.framer = make_framer(
            framing, delimiter=delimiter_bytes(delimiter), max_frame_size=max_frame_size
        )
        self.codec = make_codec(codec)
        #: How many ``ProtocolError`` items :meth:`receive_data` and
        #: :meth:`receive_eof` have returned so far (cumulative, never reset).
        self.rejected = 0
        self._decode: Callable[[list[Any]], tuple[list[Any], int]] = getattr(
            self.codec, "decode_counted", self._decode_and_count
        )
        # Bytes received so far. A framer that says how many bytes it holds
        # (the built-in ones: ``buffered``) gives frame_bytes for free; for
        # another framer, the lengths of the frames it returns are added up.
        self._received = 0
        self._counted_bytes = 0
        self._framer_buffers = hasattr(self.framer, "buffered")
        # The delimiter framer can hand over the frames of a read unsplit, and the
        # built-in codecs decode such a run in one go (the decode-bound path).
        self._feed_run: Callable[[bytes], bytes | list[Any]] | None = getattr(
            self.framer, "feed_run", None
        )
        self._decode_run: Callable[[bytes, bytes], tuple[list[Any], int]] | None = getattr(
            self.codec, "decode_run", None
        )
        self._run_delimiter: bytes = getattr(self.framer, "delimiter", b"")
        if self._feed_run is None or not self._run_delimiter:
            self._decode_run = None

    @property
    def frame_bytes(self) -> int:
        """How many received bytes the frames handed out so far took (read-only).

        Every complete frame counts, accepted or rejected, with its delimiter
        or length header, and so do the bytes framing skipped on the way:
        empty frames, whitespace between JSON values, garbage skipped by
        ``framing="json"``, and the bytes of an oversized frame, counted as
        they are dropped. After :meth:`receive_eof` every received byte is
        counted (a partial frame is handed out as ``PartialFrame``). In short:
        the bytes received minus those the framer still holds for an
        unfinished frame. Cumulative, never reset.

        With a framer object that has no ``buffered`` attribute, it is the sum
        of the lengths of the frames that framer returned (without delimiters).
        """
        if self._framer_buffers:
            return self._received - self.framer.buffered  # type: ignore[attr-defined,no-any-return]
        return self._counted_bytes

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Take received bytes (any bytes-like object); return what they complete.

        With the delimiter framing and a built-in codec, the frames completed
        by ``data`` are decoded with one parser call when they are all valid
        (see :meth:`JsonCodec.decode_run <greenclient.codec.JsonCodec.decode_run>`),
        frame by frame otherwise; the result is the same either way. Feeding a
        read whole is therefore fastest, but any slicing gives the same items.

        Returns:
            Decoded messages and :class:`~greenclient.errors.ProtocolError`
            instances (rejected frames), in stream order. The caller delivers the
            messages and reports the errors; both are final. When
            :attr:`rejected` did not change, every item is a message;
            :attr:`frame_bytes` grew by the wire size of what was returned.
        """
        if type(data) is not bytes:
            data = bytes(data)  # a bytearray or a memoryview of a read buffer
        self._received += len(data)
        decode_run = self._decode_run
        if decode_run is not None:
            got = self._feed_run(data)  # type: ignore[misc]
            if type(got) is bytes:
                out, errors = decode_run(got, self._run_delimiter)
                if errors:
                    self.rejected += errors
                return out
            items: list[Any] = got  # type: ignore[assignment]
        else:
            items = self.framer.feed(data)
        if not items:
            return items
        if not self._framer_buffers:
            self._counted_bytes += sum(len(i) for i in items if type(i) is bytes)
        out, errors = self._decode(items)
        if errors:
            self.rejected += errors
        return out

    def receive_eof(self) -> list[Any]:
        """The stream ended: return a ``PartialFrame`` error if a frame was cut short.

        The protocol is then ready for a new stream (after a reconnect).
        """
        items = self.framer.feed_eof()
        if isinstance(self.codec, JsonCodec):
            # Trailing whitespace after the last frame (a newline after "~") is not a
            # frame, so its loss at end of stream is no error either.
            items = [
                i
                for i in items
                if not (isinstance(i, PartialFrame) and not i.frame.strip(b" \t\r\n"))
            ]
        if not self._framer_buffers:
            self._counted_bytes += sum(len(i) for i in items if type(i) is bytes)
        out, errors = self._decode(items)
        self.rejected += errors
        return out

    def _decode_and_count(self, items: list[Any]) -> tuple[list[Any], int]:
        """For a codec without ``decode_counted``: decode, then count the errors."""
        out = self.codec.decode_frames(items)
        return out, sum(1 for item in out if isinstance(item, ProtocolError))

    def encode(self, message: Any) -> bytes:
        """Return the bytes of one whole frame carrying ``message``.

        Raises:
            EncodeError: the message cannot be encoded, or its bytes would contain
                the delimiter and the codec has no escape for it.
        """
        return self.framer.frame(self.codec.encode(message, self.framer.forbidden))
