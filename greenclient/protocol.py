"""The message protocol: framer plus codec, bytes in and messages out. No I/O.

:class:`MessageProtocol` is what a connection speaks, with the socket left out,
in the manner of h11's ``Connection``: the I/O layer hands it the bytes it
received and writes the bytes it returns. Any I/O layer can drive it; greenclient's
own is :mod:`greenclient.client`.

Data flows one way in each direction::

    receive_data(bytes) -> framer -> codec -> [message | ProtocolError, ...]
    encode(message)     -> codec -> framer -> bytes of one whole frame
"""

from __future__ import annotations

from typing import Any

from .codec import Codec, CodecName, JsonCodec, make_codec
from .errors import PartialFrame
from .framing import DEFAULT_MAX_FRAME_SIZE, Framer, FramingName, make_framer

__all__ = ["MessageProtocol", "delimiter_bytes"]


def delimiter_bytes(delimiter: str | bytes) -> bytes:
    """Return ``delimiter`` as bytes (UTF-8 for ``str``); it must not be empty."""
    data = delimiter.encode("utf-8") if isinstance(delimiter, str) else bytes(delimiter)
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

    def receive_data(self, data: bytes) -> list[Any]:
        """Take received bytes; return what they complete.

        Returns:
            Decoded messages and :class:`~greenclient.errors.ProtocolError`
            instances (rejected frames), in stream order. The caller delivers the
            messages and reports the errors; both are final.
        """
        return self.codec.decode_frames(self.framer.feed(data))

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
        return self.codec.decode_frames(items)

    def encode(self, message: Any) -> bytes:
        """Return the bytes of one whole frame carrying ``message``.

        Raises:
            EncodeError: the message cannot be encoded, or its bytes would contain
                the delimiter and the codec has no escape for it.
        """
        return self.framer.frame(self.codec.encode(message, self.framer.forbidden))
