"""Codecs: turn frames into messages and messages into frame payloads. No I/O.

A codec decodes the frames a framer produced (``bytes``) into application
messages, and encodes a message into the payload of one frame. Three are
built in, named by ``make_codec``:

``"json"`` (:class:`JsonCodec`, the default)
    Frames are UTF-8 JSON texts. Encoding writes compact JSON as UTF-8; a
    delimiter that appears in the result (necessarily inside a string) is
    written as a ``\\uXXXX`` escape, so the frame is still the same JSON value.
    Another JSON implementation plugs in with ``JsonCodec(loads=..., dumps=...)``
    or ``JsonCodec.orjson()``.
``"text"`` (:class:`TextCodec`)
    Frames are UTF-8 text without NUL characters; messages are ``str``.
``"bytes"`` (:class:`BytesCodec`)
    Frames are delivered as they are; messages are ``bytes``.

Contract of every codec:

* ``decode_frames(items)`` never raises for bad input: a frame that cannot be
  decoded becomes a :class:`~greenclient.errors.DecodeError` in its place, and
  the frames after it are decoded as usual.
* ``encode(message, forbidden)`` returns bytes that never contain ``forbidden``
  (the delimiter), or raises :class:`~greenclient.errors.EncodeError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol, TypeAlias

from .errors import DecodeError, EncodeError
from .framing import FrameItem

__all__ = ["BytesCodec", "Codec", "CodecName", "JsonCodec", "TextCodec", "make_codec"]

CodecName: TypeAlias = Literal["json", "text", "bytes"]

#: Characters that compact JSON can contain outside strings (structure, numbers,
#: literals, whitespace). A delimiter starting with any other character can only
#: occur inside a string, where it may be escaped.
_JSON_OUTSIDE_STRINGS: Final = frozenset('{}[],:"\\ \t\r\n0123456789+-.eEtrufalsnNIiy')
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")
_JSON_WHITESPACE: Final = " \t\r\n"


class Codec(Protocol):
    """What the client needs from a codec."""

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        """Decode every ``bytes`` item; pass ``ProtocolError`` items through.

        Returns:
            The messages and ``ProtocolError`` instances, in order. A frame that
            cannot be decoded is replaced by a ``DecodeError``; a frame the codec
            skips (whitespace only, for JSON) is dropped.
        """
        ...

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        """Return the payload for ``message``; it never contains ``forbidden``.

        Raises:
            EncodeError: the message cannot be encoded safely; nothing was sent.
        """
        ...


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _escape_forbidden(data: bytes, forbidden: bytes) -> bytes:
    """Rewrite compact JSON ``data`` so that it no longer contains ``forbidden``."""
    try:
        first = forbidden.decode("utf-8")[0]
    except UnicodeDecodeError:
        first = ""
    if first and first not in _JSON_OUTSIDE_STRINGS:
        data = data.replace(first.encode("utf-8"), _json_escape(first).encode("ascii"))
    elif not forbidden.isascii():
        # A delimiter with non-ASCII bytes cannot occur in ASCII-only JSON.
        text = _NON_ASCII.sub(lambda m: _json_escape(m.group()), data.decode("utf-8"))
        data = text.encode("ascii")
    if forbidden in data:
        raise EncodeError(
            f"the JSON text contains the delimiter {forbidden!r} outside a string; "
            "choose a delimiter that JSON does not use for its syntax"
        )
    return data


class JsonCodec:
    """JSON messages, UTF-8 on the wire.

    Args:
        loads: parses one JSON text. It receives ``str`` (the frame decoded as
            UTF-8), or the raw ``bytes`` when ``loads_bytes`` is true. Default:
            the standard library's decoder.
        dumps: serialises a message to ``str`` or ``bytes`` of compact JSON.
            Default: ``json.dumps`` with ``ensure_ascii=False``,
            ``separators=(",", ":")`` and ``allow_nan=False`` (NaN and infinity
            are not JSON, so sending them raises ``EncodeError``).
        loads_bytes: pass frames to ``loads`` as bytes, for parsers that validate
            UTF-8 themselves (orjson).

    Decoding rejects, as ``DecodeError``: invalid UTF-8, invalid JSON (NUL bytes
    included), and JSON nested deeper than the parser allows (its
    ``RecursionError`` never escapes). Whitespace-only frames are skipped.
    """

    def __init__(
        self,
        loads: Callable[[Any], Any] | None = None,
        dumps: Callable[[Any], str | bytes] | None = None,
        *,
        loads_bytes: bool = False,
    ):
        self._scan_once: Callable[[str, int], tuple[Any, int]] | None = None
        if loads is None:
            decoder = json.JSONDecoder()
            self._loads: Callable[[Any], Any] = decoder.decode
            # scan_once parses one value without decode()'s whitespace handling:
            # about 1.4x faster on small messages. Anything unusual (leading or
            # trailing whitespace, an error) falls back to the full decoder.
            self._scan_once = getattr(decoder, "scan_once", None)
            loads_bytes = False
        else:
            self._loads = loads
        self._loads_bytes = loads_bytes
        if dumps is None:
            dumps = json.JSONEncoder(
                ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode
        self._dumps: Callable[[Any], str | bytes] = dumps

    @classmethod
    def orjson(cls) -> JsonCodec:
        """A codec using orjson (``pip install greenclient[speed]``): 3-4x faster."""
        import orjson

        return cls(orjson.loads, orjson.dumps, loads_bytes=True)

    def decode(self, frame: bytes) -> Any:
        """Decode one frame.

        Raises:
            DecodeError: the frame is not UTF-8 JSON; ``.frame`` holds its bytes.
        """
        result = self.decode_frames([frame])
        if not result:
            raise DecodeError("blank frame", frame)
        if isinstance(result[0], DecodeError):
            raise result[0]
        return result[0]

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        scan = self._scan_once
        if scan is None:
            loads = self._loads
            raw = self._loads_bytes
            for item in items:
                if type(item) is not bytes:
                    append(item)
                    continue
                try:
                    append(loads(item if raw else item.decode("utf-8")))
                except Exception:
                    self._decode_slow(item, append)
            return out
        for item in items:
            if type(item) is not bytes:
                append(item)
                continue
            try:
                text = item.decode("utf-8")
                obj, end = scan(text, 0)
                if end != len(text):
                    obj = self._loads(text)
                append(obj)
            except Exception:
                self._decode_slow(item, append)
        return out

    def _decode_slow(self, frame: bytes, append: Callable[[Any], None]) -> None:
        """Decode ``frame`` the careful way and append the message or the error."""
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = DecodeError(f"frame is not valid UTF-8: {exc}", frame)
            error.__cause__ = exc
            append(error)
            return
        if not text.strip(_JSON_WHITESPACE):
            return
        try:
            append(self._loads(frame if self._loads_bytes else text))
        except RecursionError as exc:
            error = DecodeError("JSON nested too deeply for the decoder", frame)
            error.__cause__ = exc
            append(error)
        except Exception as exc:
            error = DecodeError(f"invalid JSON: {exc}", frame)
            error.__cause__ = exc
            append(error)

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        try:
            data = self._dumps(message)
            if isinstance(data, str):
                data = data.encode("utf-8")
        except RecursionError as exc:
            raise EncodeError("message nested too deeply to encode as JSON") from exc
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"message cannot be encoded as JSON: {exc}") from exc
        if forbidden is not None and forbidden in data:
            data = _escape_forbidden(data, forbidden)
        return data


class TextCodec:
    """Text messages: frames are UTF-8 text without NUL characters.

    Decoding rejects invalid UTF-8 and NUL characters as ``DecodeError``. Encoding
    takes ``str`` only, and raises ``EncodeError`` when the text contains the
    delimiter (text has no escape for it).
    """

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if type(item) is not bytes:
                out.append(item)
                continue
            try:
                text = item.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = DecodeError(f"frame is not valid UTF-8: {exc}", item)
                error.__cause__ = exc
                out.append(error)
                continue
            if "\x00" in text:
                out.append(DecodeError("text frame contains a NUL character", item))
            else:
                out.append(text)
        return out

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        if not isinstance(message, str):
            raise EncodeError(f"the text codec sends str, not {type(message).__name__}")
        try:
            data = message.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"text is not encodable as UTF-8: {exc}") from exc
        if forbidden is not None and forbidden in data:
            raise EncodeError(f"text contains the delimiter {forbidden!r}; it cannot be framed")
        return data


class BytesCodec:
    """Raw messages: frames are delivered as ``bytes``; ``send`` takes bytes-like objects."""

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        return items

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise EncodeError(f"the bytes codec sends bytes, not {type(message).__name__}")
        data = bytes(message)
        if forbidden is not None and forbidden in data:
            raise EncodeError(f"payload contains the delimiter {forbidden!r}; it cannot be framed")
        return data


def make_codec(codec: CodecName | Codec) -> Codec:
    """Return a codec for ``codec``: a name, or a codec object used as is."""
    if not isinstance(codec, str):
        return codec
    if codec == "json":
        return JsonCodec()
    if codec == "text":
        return TextCodec()
    if codec == "bytes":
        return BytesCodec()
    raise ValueError(f"unknown codec {codec!r}: use 'json', 'text' or 'bytes'")

