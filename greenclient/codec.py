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

The JSON and text codecs decode the frames of one read with one call when
they are all valid (``decode_run`` for frames still joined by their delimiter,
``decode_counted`` for a list), and frame by frame otherwise: the results and
the errors are the same either way, only cheaper for valid traffic.

Contract of every codec:

* ``decode_frames(items)`` never raises for bad input: a frame that cannot be
  decoded becomes a :class:`~greenclient.errors.DecodeError` in its place, and
  the frames after it are decoded as usual.
* ``encode(message, forbidden)`` returns bytes that never contain ``forbidden``
  (the delimiter), or raises :class:`~greenclient.errors.EncodeError`.
* Optionally, ``decode_counted(items)`` returns what ``decode_frames`` returns
  and how many of its items are ``ProtocolError`` instances, so that
  :class:`~greenclient.protocol.MessageProtocol` keeps its ``rejected`` count
  without looking at every item. The built-in codecs have it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final, Literal, Protocol, TypeAlias

from . import _checks
from .errors import DecodeError, EncodeError
from .framing import FrameItem

__all__ = [
    "ORJSON_MIN_VERSION",
    "BytesCodec",
    "Codec",
    "CodecName",
    "JsonCodec",
    "TextCodec",
    "frames_every_message",
    "make_codec",
]

CodecName: TypeAlias = Literal["json", "text", "bytes"]

#: Characters that compact JSON can contain outside strings (structure, numbers,
#: literals, whitespace). A delimiter starting with any other character can only
#: occur inside a string, where it may be escaped.
_JSON_OUTSIDE_STRINGS: Final = frozenset('{}[],:"\\ \t\r\n0123456789+-.eEtrufalsnNIiy')
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")
_JSON_WHITESPACE: Final = " \t\r\n"
#: The oldest orjson that JsonCodec.orjson() accepts: before it, orjson.loads
#: overflowed the C stack on deeply nested input instead of raising.
ORJSON_MIN_VERSION: Final = (3, 9, 15)
#: The character each two-character JSON escape stands for.
_SHORT_ESCAPES: Final = {
    b'"': 0x22,
    b"\\": 0x5C,
    b"/": 0x2F,
    b"b": 0x08,
    b"f": 0x0C,
    b"n": 0x0A,
    b"r": 0x0D,
    b"t": 0x09,
}


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


@lru_cache(maxsize=16)
def _char_escaper(char: str) -> Callable[[bytes], bytes]:
    """Return a function that removes ``char`` from JSON bytes by escaping it.

    ``char`` is one that compact JSON has only inside strings. Escape sequences
    already there are kept whole, never cut in two: one that contains ``char``
    (``\\b`` or ``\\u001b`` when ``char`` is ``b``) is rewritten as ``\\uXXXX``
    in the hex case that avoids it (``\\u0008``, ``\\u001B``).
    """
    raw = char.encode("utf-8")
    escaped = _json_escape(char).encode("ascii")
    hex_format = b"\\u%04X" if char in "abcdef" else b"\\u%04x"
    pattern = re.compile(rb"\\(?:u[0-9a-fA-F]{4}|.)|" + re.escape(raw), re.DOTALL)

    def replace(match: re.Match[bytes]) -> bytes:
        text = match.group()
        if text == raw:
            return escaped
        if raw not in text:
            return text
        code = int(text[2:], 16) if len(text) == 6 else _SHORT_ESCAPES.get(text[1:])
        return text if code is None else hex_format % code

    return lambda data: pattern.sub(replace, data)


def _escape_forbidden(data: bytes, forbidden: bytes) -> bytes:
    """Rewrite compact JSON ``data`` so that it no longer contains ``forbidden``."""
    try:
        first = forbidden.decode("utf-8")[0]
    except UnicodeDecodeError:
        first = ""
    if first and first not in _JSON_OUTSIDE_STRINGS:
        data = _char_escaper(first)(data)
    elif not forbidden.isascii():
        # A delimiter with non-ASCII bytes cannot occur in ASCII-only JSON.
        text = _NON_ASCII.sub(lambda m: _json_escape(m.group()), data.decode("utf-8"))
        data = text.encode("ascii")
    if forbidden in data:
        raise EncodeError(
            f"the JSON text contains the delimiter {forbidden!r} and no escape can hide it "
            "(JSON uses its first character for syntax or escapes); choose a delimiter "
            "that frames every message, such as ~"
        )
    return data


def frames_every_message(delimiter: bytes) -> bool:
    """True when ``delimiter`` is one the JSON codec can frame every JSON message with.

    A sufficient rule, checked without encoding anything: the delimiter holds a
    byte that is not ASCII (the codec then writes ASCII only) or a control
    character (compact JSON has none: a string's are escaped), or its first
    character is one that compact JSON has only inside strings, where the codec
    escapes it. Any other delimiter (``}``, ``ee``, a backslash) frames most
    messages, and ``encode`` refuses the others with ``EncodeError``. A few
    exotic ones refused here could never occur all the same (three double
    quotes in a row).
    """
    if not delimiter:
        return False
    if not delimiter.isascii() or any(byte < 0x20 for byte in delimiter):
        return True
    return chr(delimiter[0]) not in _JSON_OUTSIDE_STRINGS


def _has_non_finite(message: Any) -> bool:
    """True when ``message`` holds a NaN or infinite float in its dicts, lists and tuples."""
    stack = [message]
    while stack:
        value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return False


#: The element put between two frames decoded together: a JSON string holding
#: one NUL character, which JSON can only write as the escape ``\u0000``.
_SEPARATOR: Final = b',"\\u0000",'
_MARKER_VALUE: Final = "\x00"


def _forges_marker(frames: bytes) -> bool:
    """True when ``frames`` might write the marker's value: they hold ``\\u0000``.

    Most streams hold no backslash at all, which one ``memchr`` tells.
    """
    return b"\\" in frames and b"\\u0000" in frames


#: One-byte delimiters that are their own batch marker: ASCII punctuation that
#: JSON writes inside a string only as itself or as ``\u00XX`` (no short
#: escape), and that outside a string is no JSON token, starts none and
#: continues none (not a bracket, brace, comma, colon, sign, dot, digit,
#: letter or whitespace).
_SELF_MARKING: Final = frozenset(b"!#$%&'()*;<=>?@^_`|~")


@functools.cache
def _delimiter_marker(delimiter: bytes) -> tuple[bytes, str, tuple[bytes, ...]] | None:
    """The cheaper marker for a run split on ``delimiter``, if it has one.

    Frames cut from a run hold no delimiter, so a one-byte delimiter ``d`` of
    :data:`_SELF_MARKING` (``~`` by default) is a marker no frame can write as itself: the
    string ``"d"`` can come from a frame only as the escape ``\\u00XX`` of ``d``,
    in either case. It parses without escape handling, which makes the batch
    a few per cent cheaper than with ``"\\u0000"``.

    Returns:
        (separator, the marker's value, the escapes that forge it), or None.
    """
    if len(delimiter) != 1 or delimiter[0] not in _SELF_MARKING:
        return None
    code = delimiter[0]
    escapes = {f"\\u00{code:02x}".encode(), f"\\u00{code:02X}".encode()}
    return b',"' + delimiter + b'",', delimiter.decode("ascii"), tuple(sorted(escapes))


def _run_marker(run: bytes, delimiter: bytes) -> tuple[bytes, str] | None:
    """The separator and marker value to decode ``run`` in one call; None if none fits.

    The delimiter's own marker when the run cannot forge it, else the NUL
    marker when the run cannot forge that one.
    """
    own = _delimiter_marker(delimiter)
    # Most streams hold no backslash at all (one memchr): then nothing is forged.
    if own is not None and not (b"\\" in run and any(escape in run for escape in own[2])):
        return own[0], own[1]
    if not _forges_marker(run):
        return _SEPARATOR, _MARKER_VALUE
    return None


#: Bytes that may begin a JSON text (whitespace included) for the known parsers.
_VALUE_START: Final = frozenset(b'{["-0123456789tfnNI \t\r\n')
_WHITESPACE_BYTES: Final = frozenset(b" \t\r\n")
#: The only one-byte JSON texts: a digit (or whitespace, a blank frame).
_ONE_BYTE_VALUES: Final = frozenset(b"0123456789 \t\r\n")


@lru_cache(maxsize=512)
def _cheap_reject_reason(first: int, alone: bool) -> tuple[str, ValueError]:
    """The message of a frame rejected without parsing, and a cause shared by all such frames."""
    char = chr(first) if first < 0x80 else f"\\x{first:02x}"
    if alone:
        message = f"invalid JSON: {char!r} alone is not a JSON value"
    else:
        message = f"invalid JSON: a JSON value cannot start with {char!r}"
    return message, ValueError(message)


def _cheap_reject(frame: bytes, append: Callable[[Any], None]) -> bool:
    """Reject ``frame`` without parsing it when its first byte or its length allows.

    Called for frames shorter than two bytes or whose first byte starts no JSON
    value. Appends a ``DecodeError`` and returns True when the frame is surely
    invalid; returns False (appending nothing) when the parser must decide.
    The error's ``__cause__`` is a ``ValueError`` shared by the frames rejected
    for the same reason (no parser ran, and a flood must stay cheap).
    """
    if not frame:
        return False  # empty: blank, skipped by the parser's path
    first = frame[0]
    alone = len(frame) == 1
    if alone and first in _ONE_BYTE_VALUES:
        return False
    if not frame.isascii():
        return False  # invalid UTF-8 is reported as such: let the full path tell
    message, cause = _cheap_reject_reason(first, alone)
    error = DecodeError(message, frame)
    error.__cause__ = cause
    append(error)
    return True


def _without_traceback(exc: BaseException) -> BaseException:
    """Return ``exc`` without its traceback, to be a rejected frame's ``__cause__``.

    The traceback would hold the decoding loop's frame, and through it the list
    that holds the error: a reference cycle per rejected frame, left for the
    cyclic garbage collector (long pauses under a flood of invalid frames).
    The cause keeps its type and message (and the exceptions chained to it
    theirs, their tracebacks dropped too); where the parser raised is of no use.
    """
    seen: set[int] = set()
    chain: list[BaseException | None] = [exc]
    while chain:
        link = chain.pop()
        if link is not None and id(link) not in seen:
            seen.add(id(link))
            link.__traceback__ = None
            chain += (link.__cause__, link.__context__)
    return exc


def _stdlib_batch_loads(data: bytes) -> Any:
    """Parse one JSON text with the standard library's decoder (NaN refused)."""
    text = data.decode("utf-8")
    value, end = _default_decoder().scan_once(text, 0)  # type: ignore[attr-defined]
    if end != len(text):
        raise ValueError("extra data after the JSON value")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@functools.cache
def _default_decoder() -> json.JSONDecoder:
    """The standard library decoder, shared: it keeps no state between calls."""
    return json.JSONDecoder(parse_constant=_reject_constant)


@functools.cache
def _default_encoder() -> json.JSONEncoder:
    """The standard library encoder, shared: it keeps no state between calls."""
    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class JsonCodec:
    """JSON messages, UTF-8 on the wire.

    Args:
        loads: parses one JSON text. It receives ``str`` (the frame decoded as
            UTF-8), or the raw ``bytes`` when ``loads_bytes`` is true. Default:
            the standard library's decoder.
        dumps: serialises a message to ``str`` or ``bytes`` of compact JSON.
            Its string escapes must be JSON's own (``\\n``, ``\\u001b``, ...).
            Default: ``json.dumps`` with ``ensure_ascii=False``,
            ``separators=(",", ":")`` and ``allow_nan=False`` (NaN and infinity
            are not JSON, so sending them raises ``EncodeError``).
        loads_bytes: pass frames to ``loads`` as bytes, for parsers that validate
            UTF-8 themselves (orjson).

    Decoding rejects, as ``DecodeError``: invalid UTF-8, invalid JSON (NUL bytes
    included, and ``NaN``/``Infinity``, which the standard library would accept
    but JSON and orjson do not), integers longer than Python's digit limit, and
    JSON nested deeper than the parser allows (its ``RecursionError`` never
    escapes). Whitespace-only frames are skipped.

    The orjson codec differs from the default on valid JSON in two documented
    orjson ways: integers beyond 64 bits decode as floats, and numbers too large
    for a float (``1e999``) are rejected instead of decoding as infinity.
    """

    def __init__(
        self,
        loads: Callable[[Any], Any] | None = None,
        dumps: Callable[[Any], str | bytes] | None = None,
        *,
        loads_bytes: bool = False,
    ):
        self._scan_once: Callable[[str, int], tuple[Any, int]] | None = None
        # Parses the UTF-8 bytes of one JSON text: set for the parsers whose
        # behaviour is known (the standard library's, orjson), so that many
        # frames can be decoded with one call (see _decode_joined).
        self._batch_loads: Callable[[bytes], Any] | None = None
        if loads is None:
            decoder = _default_decoder()
            self._loads: Callable[[Any], Any] = decoder.decode
            # scan_once parses one value without decode()'s whitespace handling:
            # about 1.4x faster on small messages. Anything unusual (leading or
            # trailing whitespace, an error) falls back to the full decoder.
            self._scan_once = getattr(decoder, "scan_once", None)
            self._batch_loads = _stdlib_batch_loads
            loads_bytes = False
        else:
            self._loads = loads
        self._loads_bytes = loads_bytes
        if dumps is None:
            dumps = _default_encoder().encode
        self._dumps: Callable[[Any], str | bytes] = dumps

    @classmethod
    def orjson(cls) -> JsonCodec:
        """A codec using orjson (``pip install greenclient[speed]``): 3-4x faster.

        Encoding refuses NaN and infinity (``EncodeError``) like the default
        codec, where orjson alone would write them as ``null``; the check looks
        into dicts, lists and tuples. Other orjson ways are kept: dict keys must
        be ``str`` (the default codec turns ``int`` keys into strings), integers
        must fit in 64 bits, and dataclasses, ``datetime`` and ``UUID`` values
        are encoded where the default codec raises ``EncodeError``.

        Raises:
            ImportError: orjson is not installed, or is older than
                :data:`ORJSON_MIN_VERSION`: older versions crash the whole
                process (a segmentation fault, not an exception) on a frame
                nested a few thousand levels deep, which any server could send.
        """
        import orjson  # noqa: PLC0415  (an optional dependency, needed only here)

        version = tuple(int(part) for part in re.findall(r"\d+", orjson.__version__)[:3])
        if version < ORJSON_MIN_VERSION:
            wanted = ".".join(map(str, ORJSON_MIN_VERSION))
            raise ImportError(
                f"orjson {orjson.__version__} crashes on deeply nested input; "
                f"greenclient needs orjson>={wanted}"
            )
        dumps = orjson.dumps

        def strict_dumps(message: Any) -> bytes:
            data: bytes = dumps(message)
            # orjson writes NaN and infinity as null; the default codec refuses them.
            if b"null" in data and _has_non_finite(message):
                raise ValueError("NaN and infinity are not JSON")
            return data

        codec = cls(orjson.loads, strict_dumps, loads_bytes=True)
        codec._batch_loads = orjson.loads
        return codec

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
        return self.decode_counted(items)[0]

    def decode_counted(self, items: list[FrameItem]) -> tuple[list[Any], int]:
        """Like :meth:`decode_frames`, and also say how many items are errors.

        When every item is a frame and every frame is valid, all of them are
        decoded with one parser call (see :meth:`decode_run`); otherwise frame
        by frame, with the same results.

        Returns:
            The list :meth:`decode_frames` returns, and how many of its items
            are ``ProtocolError`` instances (passed through or made here).
        """
        if len(items) > 1 and self._batch_loads is not None:
            try:
                # Fails with TypeError when an item is an error, not a frame.
                forged = _forges_marker(b"".join(items))  # type: ignore[arg-type]
            except TypeError:
                forged = True
            if not forged:
                values = self._decode_joined(
                    _SEPARATOR.join(items),  # type: ignore[arg-type]
                    len(items) - 1,
                )
                if values is not None:
                    return values, 0
        return self._decode_each(items)

    def decode_run(self, run: bytes, delimiter: bytes) -> tuple[list[Any], int]:
        """Decode the frames of ``run``: frames joined by ``delimiter``, as received.

        This is the decode-bound path: a read of 64 KiB holds hundreds of small
        frames, and one parser call for all of them costs much less than one
        call each. The frames are joined into one JSON array, each pair
        separated by a marker element that no frame can forge, and the result
        is accepted only if the markers are exactly where the frame boundaries
        are: then each frame was exactly one JSON value, decoded as it would
        have been alone. Otherwise (a frame is invalid, blank or empty, or one
        call cannot tell) the frames are decoded one by one, each error in its
        place: the result is always the same as ``decode_counted`` of the
        frames.

        Args:
            run: frames joined by ``delimiter``, which none of them contains
                (what :meth:`DelimiterFramer.feed_run
                <greenclient.framing.DelimiterFramer.feed_run>` returns). Empty
                frames are skipped.
            delimiter: the frame delimiter.

        Returns:
            The messages and errors, and how many of them are errors.
        """
        marker = _run_marker(run, delimiter) if self._batch_loads is not None else None
        if marker is not None:
            separator, value = marker
            joined = run.replace(delimiter, separator)
            # Each delimiter became one separator: the growth in length counts them.
            growth = len(separator) - len(delimiter)
            markers = (len(joined) - len(run)) // growth if growth else run.count(delimiter)
            values = self._decode_joined(joined, markers, value)
            if values is not None:
                return values, 0
        return self._decode_each([frame for frame in run.split(delimiter) if frame])

    def _decode_joined(
        self, joined: bytes, markers: int, marker: str = _MARKER_VALUE
    ) -> list[Any] | None:
        """Parse ``markers + 1`` frames joined by separators; None if not all valid.

        Why the checks suffice: each separator is ``,"m",`` where the string
        ``"m"`` decodes to ``marker``, and no frame can write a string holding
        that character (so an odd element made of ``marker`` characters only
        is a separator, and ``markers`` such characters in all put one at
        every odd index): ``m``
        is ``\\u0000`` (NUL, which JSON can only write as that escape) and no
        frame holds that text (:func:`_forges_marker`), or ``m`` is the
        one-byte delimiter, which no frame holds, and no frame holds its
        ``\\u00XX`` escape (:func:`_run_marker`). Each separator's string token
        cannot be part of a longer string (a string open before it is closed
        by its first quote, which leaves ``m`` outside any string: a backslash
        or a character that is no JSON token and starts none, so invalid). So when the
        result is one array (the whole text) of ``2 * markers + 1`` elements
        with ``marker`` at every odd index, every separator sits at the top
        level of that array, between top-level commas; each frame then lies
        between two top-level commas and, the count being exact, holds exactly
        one value with optional whitespace: valid alone, and decoded alone to
        the same value. Invalid UTF-8, NaN, nesting too deep or any other error
        makes the one call fail.
        """
        loads = self._batch_loads
        assert loads is not None
        try:
            values = loads(b"".join((b"[", joined, b"]")))
        except Exception:  # any failure: let the frame-by-frame path find it
            return None
        if type(values) is list and len(values) == 2 * markers + 1:
            between = values[1::2]
            if not between:
                return values
            if between[0] is marker:
                # The parser hands out the one cached string of a character (the
                # standard library's does): equality is mostly identity.
                if between.count(marker) == markers:
                    return values[::2]
            else:
                # A fresh string per separator (orjson): one join compares them
                # all at once. Every character is the marker, and no frame can
                # write it, so each of the ``markers`` strings is a separator.
                with contextlib.suppress(TypeError):  # an item is not a string
                    if "".join(between) == marker * markers:
                        return values[::2]
        return None

    def _decode_each(self, items: list[FrameItem]) -> tuple[list[Any], int]:
        """Decode frame by frame: the reference behaviour, also the fallback.

        A rejected frame costs one failed parse at most: the error is built
        from the parser's own exception, and frames that no JSON text can be
        (a first byte that starts no value, a single byte that is no value)
        are rejected without calling the parser at all when it is one of the
        known parsers. A flood of tiny invalid frames thus stays cheap.
        """
        out: list[Any] = []
        append = out.append
        errors = 0
        scan = self._scan_once
        screen = self._batch_loads is not None  # a known parser: its grammar is JSON's
        starts = _VALUE_START
        if scan is None:
            loads = self._loads
            as_bytes = self._loads_bytes
            for item in items:
                if type(item) is not bytes:
                    append(item)
                    errors += 1
                    continue
                if (
                    screen
                    and (len(item) < 2 or item[0] not in starts)
                    and _cheap_reject(item, append)
                ):
                    errors += 1
                    continue
                try:
                    append(loads(item if as_bytes else item.decode("utf-8")))
                except Exception as exc:
                    errors += self._reject(item, exc, append)
            return out, errors
        for item in items:
            if type(item) is not bytes:
                append(item)
                errors += 1
                continue
            if (len(item) < 2 or item[0] not in starts) and _cheap_reject(item, append):
                errors += 1
                continue
            try:
                text = item.decode("utf-8")
                obj, end = scan(text, 0)
            except Exception as exc:
                errors += self._rescan(item, exc, append)
                continue
            if end != len(text):
                errors += self._after_value(item, text, obj, end, append)
                continue
            append(obj)
        return out, errors

    def _rescan(self, frame: bytes, exc: Exception, append: Callable[[Any], None]) -> int:
        """The standard library's scan of ``frame`` at index 0 raised ``exc``: settle it.

        ``StopIteration`` means no value starts at index 0: the frame is blank,
        starts with whitespace (scan again where the value starts), or is
        invalid. Returns 1 when an error was appended, else 0.
        """
        if not isinstance(exc, StopIteration):
            return self._reject(frame, exc, append)
        text = frame.decode("utf-8")  # it decoded a moment ago
        start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
        if start == len(text):
            return 0  # blank: skipped
        if start:
            scan = self._scan_once
            assert scan is not None
            try:
                obj, end = scan(text, start)
            except StopIteration:
                pass
            except Exception as error:
                return self._reject(frame, error, append)
            else:
                return self._after_value(frame, text, obj, end, append)
        # What the full decoder would raise, without running it.
        return self._reject(frame, json.JSONDecodeError("Expecting value", text, start), append)

    def _after_value(
        self, frame: bytes, text: str, value: Any, end: int, append: Callable[[Any], None]
    ) -> int:
        """A value ends at ``end`` of ``text``: append it if only whitespace follows."""
        rest = len(text) - len(text[end:].lstrip(_JSON_WHITESPACE))
        if rest == len(text):
            append(value)
            return 0
        return self._reject(frame, json.JSONDecodeError("Extra data", text, rest), append)

    def _reject(self, frame: bytes, exc: Exception, append: Callable[[Any], None]) -> int:
        """The first parse of ``frame`` raised ``exc``: append what the frame gives.

        Returns 1 when an error was appended, 0 for a blank frame (skipped).
        """
        if not isinstance(exc, UnicodeDecodeError):
            try:
                text = frame.decode("utf-8")
            except UnicodeDecodeError as utf8_exc:
                exc = utf8_exc
            else:
                if not text.strip(_JSON_WHITESPACE):
                    return 0
        if isinstance(exc, UnicodeDecodeError):
            error = DecodeError(f"frame is not valid UTF-8: {exc}", frame)
        elif isinstance(exc, RecursionError):
            error = DecodeError("JSON nested too deeply for the decoder", frame)
        else:
            error = DecodeError(f"invalid JSON: {exc}", frame)
        error.__cause__ = _without_traceback(exc)
        append(error)
        return 1

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
    delimiter (text has no escape for it) or a NUL character (the decoder would
    reject it), or is empty (an empty frame is skipped by the receiver, so the
    message would vanish).
    """

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        return self.decode_counted(items)[0]

    def decode_counted(self, items: list[FrameItem]) -> tuple[list[Any], int]:
        """Like :meth:`decode_frames`, and also say how many items are errors."""
        out: list[Any] = []
        errors = 0
        for item in items:
            if type(item) is not bytes:
                out.append(item)
                errors += 1
                continue
            try:
                text = item.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = DecodeError(f"frame is not valid UTF-8: {exc}", item)
                error.__cause__ = _without_traceback(exc)
                out.append(error)
                errors += 1
                continue
            if "\x00" in text:
                out.append(DecodeError("text frame contains a NUL character", item))
                errors += 1
            else:
                out.append(text)
        return out, errors

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        if not isinstance(message, str):
            raise EncodeError(f"the text codec sends str, not {type(message).__name__}")
        try:
            data = message.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"text is not encodable as UTF-8: {exc}") from exc
        if not data:
            raise EncodeError("an empty text cannot be framed: receivers skip empty frames")
        if b"\x00" in data:
            raise EncodeError("text contains a NUL character, which text frames may not hold")
        if forbidden is not None and forbidden in data:
            raise EncodeError(f"text contains the delimiter {forbidden!r}; it cannot be framed")
        return data

    def decode_run(self, run: bytes, delimiter: bytes) -> tuple[list[Any], int]:
        """Decode the frames of ``run`` (frames joined by ``delimiter``), empty ones skipped.

        Valid UTF-8 without NUL is decoded with one call and split, which gives
        the same texts as decoding each frame (UTF-8 finds the delimiter's
        characters exactly where its bytes are); anything else is decoded frame
        by frame so that each error is in its place.

        Returns:
            The texts and errors, and how many of them are errors.
        """
        if b"\x00" not in run:
            try:
                texts = run.decode("utf-8").split(delimiter.decode("utf-8"))
            except UnicodeDecodeError:
                pass
            else:
                if not all(texts):
                    texts = [text for text in texts if text]
                return texts, 0
        return self.decode_counted([frame for frame in run.split(delimiter) if frame])


class BytesCodec:
    """Raw messages: frames are delivered as ``bytes``; ``send`` takes bytes-like objects.

    Encoding raises ``EncodeError`` for a payload that contains the delimiter or
    is empty (an empty frame is skipped by the receiver).
    """

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        return items

    def decode_run(self, run: bytes, delimiter: bytes) -> tuple[list[Any], int]:
        """Split ``run`` (frames joined by ``delimiter``) into its non-empty frames."""
        return [frame for frame in run.split(delimiter) if frame], 0

    def decode_counted(self, items: list[FrameItem]) -> tuple[list[Any], int]:
        """Like :meth:`decode_frames`, and also say how many items are errors."""
        try:
            sum(map(len, items))  # type: ignore[arg-type]  # errors have no len()
        except TypeError:
            return items, sum(1 for item in items if type(item) is not bytes)
        return items, 0

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise EncodeError(f"the bytes codec sends bytes, not {type(message).__name__}")
        data = bytes(message)
        if not data:
            raise EncodeError("an empty payload cannot be framed: receivers skip empty frames")
        if forbidden is not None and forbidden in data:
            raise EncodeError(f"payload contains the delimiter {forbidden!r}; it cannot be framed")
        return data


def make_codec(codec: CodecName | Codec) -> Codec:
    """Return a codec for ``codec``: a name, or a codec object used as is.

    Raises:
        TypeError: ``codec`` is neither a name nor an object with the
            :class:`Codec` methods.
        ValueError: an unknown name.
    """
    if not isinstance(codec, str):
        return _checks.implements(  # type: ignore[no-any-return]
            "codec", codec, ("decode_frames", "encode"), "'json', 'text', 'bytes' or a codec"
        )
    if codec == "json":
        return JsonCodec()
    if codec == "text":
        return TextCodec()
    if codec == "bytes":
        return BytesCodec()
    raise ValueError(f"unknown codec {codec!r}: use 'json', 'text' or 'bytes'")
