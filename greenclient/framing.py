"""Framers: split a TCP byte stream into frames, and build frames to send. No I/O.

A framer is fed the bytes of a stream in whatever pieces they arrive and returns
the frames completed so far. It never sees a socket, so the same stream split at
any points yields the same frames (the tests check every split point).

Three framings, named by ``make_framer``:

``"delimiter"`` (:class:`DelimiterFramer`)
    Each frame is followed by a delimiter (default ``b"~"``). Empty frames are
    skipped.
``"json"`` (:class:`JSONStreamFramer`)
    Consecutive JSON values with nothing between them but optional whitespace,
    ``{"a":1}{"b":2}``: what a server that writes ``ByteString(json)`` with no
    delimiter produces.
``"length"`` (:class:`LengthPrefixFramer`)
    A 4-byte big-endian length, then that many bytes: the layout of Akka's
    ``Framing.simpleFramingProtocol``.

Invariants shared by every framer:

* ``feed(data)`` returns a list whose items are complete frames (``bytes``) or
  :class:`~greenclient.errors.ProtocolError` instances, in stream order.
* Memory is bounded by ``max_frame_size`` plus the size of one ``feed``: a frame
  that grows past the limit is reported once (:class:`FrameTooLarge`) and its
  remaining bytes are dropped as they arrive, up to the next frame boundary.
  Each framer's read-only ``buffered`` property tells how many bytes it holds
  between calls: at most ``max_frame_size`` plus the few bytes of a delimiter
  or length header.
* The same stream gives the same items however it is split into pieces.
* Work is linear in the bytes fed: bytes already searched are never searched
  again, however many pieces a large frame arrives in.
"""

from __future__ import annotations

import re
from typing import Final, Literal, Protocol, TypeAlias, cast

from . import _checks
from .errors import EncodeError, FrameTooLarge, JSONStreamError, PartialFrame, ProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "DelimiterFramer",
    "FrameItem",
    "Framer",
    "FramingName",
    "JSONStreamFramer",
    "LengthPrefixFramer",
    "make_framer",
]

DEFAULT_MAX_FRAME_SIZE: Final = 1 << 20

FrameItem: TypeAlias = bytes | ProtocolError
FramingName: TypeAlias = Literal["delimiter", "json", "length"]


class Framer(Protocol):
    """What the client needs from a framer."""

    #: Bytes that must never occur inside a frame's payload (None: anything goes).
    forbidden: bytes | None

    def feed(self, data: bytes) -> list[FrameItem]:
        """Take the next bytes of the stream; return the frames they complete.

        Returns:
            Complete frames as ``bytes`` and rejected ones as ``ProtocolError``
            instances, in stream order. Bytes of an unfinished frame are kept
            for the next call.
        """
        ...

    def feed_eof(self) -> list[FrameItem]:
        """The stream has ended: report an unfinished frame as :class:`PartialFrame`.

        Returns an empty list when the stream ended on a frame boundary. The
        framer is reset and may be fed a new stream afterwards.
        """
        ...

    def frame(self, payload: bytes) -> bytes:
        """Return the bytes to write for one frame holding ``payload``.

        Raises:
            EncodeError: the payload cannot be framed so that the receiver finds
                it whole; nothing should be written.
        """
        ...


def _check_max(max_frame_size: int) -> int:
    return _checks.whole("max_frame_size", max_frame_size)


class DelimiterFramer:
    """Frames separated by a delimiter of one or more bytes.

    Args:
        delimiter: the bytes that end each frame, ``b"~"`` by default.
        max_frame_size: the largest frame accepted, delimiter not counted.

    Empty frames (two delimiters in a row) are skipped. The payload of a frame
    may not contain the delimiter (:attr:`forbidden`): the codec escapes it or
    refuses the message before :meth:`frame` is called.

    A frame is split at the first occurrence of the delimiter after the previous
    one, as ``bytes.split`` does; with a multi-byte delimiter, a frame is
    reported too large only once its own bytes (not a possible start of the
    delimiter) pass ``max_frame_size``.

    The bytes of an unfinished frame are kept in one ``bytearray``: a frame that
    arrives in many small pieces costs about its own size while it is assembled
    (plus the array's spare capacity, at most about an eighth more), never one
    object per piece.
    """

    def __init__(self, delimiter: bytes = b"~", max_frame_size: int = DEFAULT_MAX_FRAME_SIZE):
        _checks.instance("delimiter", delimiter, (bytes, bytearray, memoryview), "bytes")
        if not delimiter:
            raise ValueError("the delimiter must be at least one byte")
        self.delimiter: Final = bytes(delimiter)
        self.forbidden: bytes | None = self.delimiter
        self.max_frame_size: Final = _check_max(max_frame_size)
        self._keep = len(self.delimiter) - 1
        # Bytes of the unfinished frame (while dropping an oversized frame: only
        # the last len(delimiter)-1 bytes, which may start a delimiter).
        self._buf = bytearray()
        # True while dropping the rest of a frame that crossed max_frame_size.
        self._discarding = False
        # A delimiter such as b"~~" or b"aba" can overlap itself ("~~~"): then the
        # last occurrence found from the right is not where bytes.split cuts, and
        # feed_run() leaves the work to feed().
        d = self.delimiter
        self._overlapping = any(d[:k] == d[-k:] for k in range(1, len(d)))

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished frame are held (read-only).

        At most ``max_frame_size + len(delimiter) - 1`` between calls to
        :meth:`feed`; while a too-large frame is being dropped, at most
        ``len(delimiter) - 1``.
        """
        return len(self._buf)

    def feed(self, data: bytes) -> list[FrameItem]:
        if not data:
            return []
        delimiter = self.delimiter
        keep = self._keep
        buf = self._buf
        if keep and buf:
            # A multi-byte delimiter may straddle the previous piece and this one:
            # move the last len(delimiter)-1 pending bytes in front of ``data``.
            data = self._pop_tail() + data
        if self._discarding:
            end = data.find(delimiter)
            if end < 0:
                if keep:
                    buf += data[-keep:]
                return []
            self._discarding = False
            data = data[end + len(delimiter) :]
            if not data:
                return []

        chunks = data.split(delimiter)
        limit = self.max_frame_size
        if len(chunks) == 1:
            # No delimiter yet: the whole piece belongs to the unfinished frame.
            buf += data
            # The last keep bytes may be the start of the delimiter, not frame bytes.
            if len(buf) > limit + keep:
                return [self._start_discarding()]
            return []

        tail = chunks.pop()
        if buf:
            buf += chunks[0]
            chunks[0] = bytes(buf)
            buf.clear()
        out: list[FrameItem]
        # Only the first frame can be longer than this piece of data.
        if len(data) > limit or len(chunks[0]) > limit:
            out = [FrameTooLarge(len(c), limit) if len(c) > limit else c for c in chunks if c]
        elif not all(chunks):  # cheaper than `b"" in chunks`
            out = [c for c in chunks if c]
        else:
            out = cast("list[FrameItem]", chunks)
        if tail:
            buf += tail
            if len(buf) > limit + keep:
                out.append(self._start_discarding())
        return out

    def feed_run(self, data: bytes) -> bytes | list[FrameItem]:
        """Take the next bytes like :meth:`feed`; return the frames unsplit when it can.

        Returns:
            Either what :meth:`feed` returns, or, when ``data`` completes
            frames and none of them can be too large, the bytes of those frames
            still joined by the delimiter, as they arrived (empty frames
            included): ``run.split(delimiter)``, without its empty items, is
            what :meth:`feed` would have returned. A decoder that reads many
            frames at once (:meth:`greenclient.codec.JsonCodec.decode_run`)
            thus never needs one ``bytes`` object per frame.
        """
        if self._discarding or self._overlapping:
            return self.feed(data)
        delimiter = self.delimiter
        last = data.rfind(delimiter)
        buf = self._buf
        keep = self._keep
        if last < 0 or (keep and buf and delimiter in bytes(buf[-keep:]) + data[:keep]):
            # No frame ends here, or one ends at a delimiter that straddles the
            # previous piece and this one: the general case.
            return self.feed(data)
        if buf:
            run = b"".join((buf, memoryview(data)[:last]))
            buf.clear()
        else:
            run = data[:last]
        rest = len(data) - last - len(delimiter)
        if rest:
            buf += memoryview(data)[last + len(delimiter) :]
        limit = self.max_frame_size
        if len(run) > limit or rest > limit + keep:
            out: list[FrameItem] = [
                FrameTooLarge(len(c), limit) if len(c) > limit else c
                for c in run.split(delimiter)
                if c
            ]
            if len(buf) > limit + keep:
                out.append(self._start_discarding())
            return out
        return run

    def _pop_tail(self) -> bytes:
        """Remove and return the last ``len(delimiter) - 1`` pending bytes (or fewer)."""
        buf = self._buf
        tail = bytes(buf[-self._keep :])
        del buf[-self._keep :]
        return tail

    def _start_discarding(self) -> FrameTooLarge:
        buf = self._buf
        error = FrameTooLarge(len(buf), self.max_frame_size)
        tail = bytes(buf[len(buf) - self._keep :]) if self._keep else b""
        buf.clear()
        buf += tail
        self._discarding = True
        return error

    def feed_eof(self) -> list[FrameItem]:
        partial = b"" if self._discarding else bytes(self._buf)
        self._buf.clear()
        self._discarding = False
        return [PartialFrame(partial)] if partial else []

    def frame(self, payload: bytes) -> bytes:
        """Return ``payload`` followed by the delimiter.

        Raises:
            EncodeError: the payload ends with bytes that, followed by the
                delimiter, form an earlier occurrence of it (possible only with
                a delimiter such as ``b"~~"`` whose start repeats its end), so
                the receiver would cut the frame short.
        """
        delimiter = self.delimiter
        data = payload + delimiter
        keep = len(delimiter) - 1
        if keep and data.find(delimiter, max(0, len(payload) - keep)) != len(payload):
            raise EncodeError(
                f"the payload ends with bytes that run into the delimiter {delimiter!r}; "
                "it cannot be framed"
            )
        return data


class LengthPrefixFramer:
    """Frames preceded by their length as a 4-byte big-endian unsigned integer.

    A frame announcing more than ``max_frame_size`` bytes is reported at once and
    its bytes are skipped as they arrive; framing resumes exactly after it.
    Zero-length frames are skipped.
    """

    HEADER: Final = 4

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size: Final = _check_max(max_frame_size)
        self.forbidden: bytes | None = None
        self._buf = bytearray()
        self._skip = 0  # bytes still to drop from an oversized frame

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished frame (header included) are held (read-only).

        Less than ``max_frame_size + 4`` between calls to :meth:`feed`; the bytes
        of an oversized frame are never held.
        """
        return len(self._buf)

    def feed(self, data: bytes) -> list[FrameItem]:
        out: list[FrameItem] = []
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return out
            data = data[self._skip :]
            self._skip = 0
        buf = self._buf
        buf += data
        header = self.HEADER
        limit = self.max_frame_size
        pos = 0
        size = len(buf)
        while size - pos >= header:
            length = int.from_bytes(buf[pos : pos + header], "big")
            if length > limit:
                out.append(FrameTooLarge(length, limit))
                available = size - pos - header
                if available < length:
                    self._skip = length - available
                    pos = size
                    break
                pos += header + length
                continue
            end = pos + header + length
            if end > size:
                break
            if length:
                out.append(bytes(buf[pos + header : end]))
            pos = end
        if pos:
            del buf[:pos]
        return out

    def feed_eof(self) -> list[FrameItem]:
        partial = bytes(self._buf)
        self._buf.clear()
        self._skip = 0
        return [PartialFrame(partial)] if partial else []

    def frame(self, payload: bytes) -> bytes:
        """Return ``payload`` after its length as 4 big-endian bytes.

        Raises:
            EncodeError: the payload has 4 GiB or more, which 4 bytes cannot
                announce; nothing should be written.
        """
        if len(payload) > 0xFFFFFFFF:
            raise EncodeError(
                f"a length-prefixed frame holds less than 4 GiB, not {len(payload)} bytes"
            )
        return len(payload).to_bytes(self.HEADER, "big") + payload


# Inside a container only brackets and quotes matter; inside a string only the
# closing quote and backslashes (which hide the next byte).
_CONTAINER_EVENT: Final = re.compile(rb'[{}\[\]"]')
_STRING_EVENT: Final = re.compile(rb'["\\]')
_VALUE_START: Final = re.compile(rb"[^ \t\r\n]")
_SCALAR_END: Final = re.compile(rb'[ \t\r\n{}\[\],"]')
_RESYNC: Final = re.compile(rb"[{\[]")
_SCALAR_FIRST: Final = frozenset(b"-0123456789tfnNI")
_SELF_ENDING: Final = frozenset((b"}", b"]", b'"'))
_OPENERS: Final = frozenset(b"{[")

# Scanner states.
_TOP, _CONTAINER, _STRING, _SCALAR = range(4)


class JSONStreamFramer:
    """Consecutive JSON values with no delimiter: ``{"a":1} {"b":2}[3]``.

    The framer finds where each value ends by tracking brackets and strings; it
    does not parse the value (the codec does). Whitespace between values is
    ignored. Objects, arrays and strings may follow each other directly; a bare
    number or literal (``1``, ``true``) ends at the next whitespace or value.

    Resynchronisation, documented for users:

    * A value whose brackets balance but whose content is not valid JSON is one
      frame: the codec rejects it (``DecodeError``) and framing resumes right
      after its closing bracket.
    * Bytes that cannot start a JSON value (``}``, ``,``, ``:``, control bytes
      and the like) are skipped up to the next ``{`` or ``[`` and reported once
      as :class:`JSONStreamError`.
    * A value longer than ``max_frame_size`` is reported as
      :class:`FrameTooLarge`; the framer keeps tracking its brackets without
      storing its bytes and resumes after it ends.

    :meth:`frame` follows a bare number or literal with a newline: without it,
    ``1`` then ``2`` would arrive as ``12``, and the receiver could not tell
    that a lone ``1`` had ended.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size: Final = _check_max(max_frame_size)
        self.forbidden: bytes | None = None
        self._buf = bytearray()
        self._state = _TOP
        self._depth = 0
        self._start = 0  # offset in _buf of the value being scanned
        self._pos = 0  # offset in _buf where scanning resumes
        self._escape = False  # a backslash ended the previous piece, inside a string
        self._discarding = False
        self._skipped = 0  # bytes dropped while resynchronising, not yet reported
        self._skipped_sample = b""

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished value are held (read-only).

        At most ``max_frame_size`` between calls to :meth:`feed`; the bytes of
        an oversized value or of skipped garbage are never held.
        """
        return len(self._buf)

    def feed(self, data: bytes) -> list[FrameItem]:
        out: list[FrameItem] = []
        buf = self._buf
        buf += data
        size = len(buf)
        pos = self._pos
        state = self._state
        depth = self._depth
        start = self._start
        while pos < size:
            if state == _TOP:
                if self._skipped:
                    # Still resynchronising after garbage that ended a previous
                    # piece: only { or [ ends the skip, as if the garbage and this
                    # piece had arrived together.
                    r = _RESYNC.search(buf, pos)
                    end = size if r is None else r.start()
                    self._note_skipped(buf[pos:end])
                    pos = start = end
                    if r is not None:
                        self._flush_skipped(out)
                    continue
                m = _VALUE_START.search(buf, pos)
                if m is None:
                    pos = size
                    break
                pos = m.start()
                first = buf[pos]
                start = pos
                if first in _OPENERS:  # { [
                    self._flush_skipped(out)
                    state, depth, pos = _CONTAINER, 1, pos + 1
                elif first == 0x22:  # "
                    self._flush_skipped(out)
                    state, depth, pos = _STRING, 0, pos + 1
                elif first in _SCALAR_FIRST:
                    self._flush_skipped(out)
                    state, pos = _SCALAR, pos + 1
                else:
                    r = _RESYNC.search(buf, pos)
                    end = size if r is None else r.start()
                    self._note_skipped(buf[pos:end])
                    pos = start = end
                    if r is not None:
                        self._flush_skipped(out)
                continue
            if state == _STRING:
                if self._escape:
                    # The previous piece ended with a backslash: this byte is escaped.
                    # (No `continue`: the size check below must see this byte too, so
                    # that a value is refused at the same byte however it was cut.)
                    self._escape = False
                    pos += 1
                else:
                    m = _STRING_EVENT.search(buf, pos)
                    if m is None:
                        pos = size
                    elif buf[m.start()] == 0x5C:  # backslash: the next byte is escaped
                        pos = m.start() + 2
                        if pos > size:
                            pos = size
                            self._escape = True
                    else:
                        pos = m.end()
                        if depth == 0:
                            self._emit(out, buf, start, pos)
                            state = _TOP
                            start = pos
                        else:
                            state = _CONTAINER
            elif state == _CONTAINER:
                m = _CONTAINER_EVENT.search(buf, pos)
                if m is None:
                    pos = size
                else:
                    pos = m.end()
                    c = buf[m.start()]
                    if c == 0x22:
                        state = _STRING
                    elif c in _OPENERS:
                        depth += 1
                    else:
                        depth -= 1
                        if depth == 0:
                            self._emit(out, buf, start, pos)
                            state = _TOP
                            start = pos
            else:  # _SCALAR
                m = _SCALAR_END.search(buf, pos)
                if m is None:
                    pos = size
                else:
                    pos = m.start()
                    self._emit(out, buf, start, pos)
                    state = _TOP
                    start = pos
            if state != _TOP and not self._discarding and pos - start > self.max_frame_size:
                out.append(FrameTooLarge(pos - start, self.max_frame_size))
                self._discarding = True
        if state == _TOP or self._discarding:
            start = pos  # nothing before pos is needed any more
        if start:
            del buf[:start]
            pos -= start
            start = 0
        self._pos, self._state, self._depth, self._start = pos, state, depth, start
        return out

    def _emit(self, out: list[FrameItem], buf: bytearray, start: int, end: int) -> None:
        if self._discarding:
            self._discarding = False
        elif end - start > self.max_frame_size:
            # The whole value arrived in one piece, before the in-flight check saw it.
            out.append(FrameTooLarge(end - start, self.max_frame_size))
        else:
            out.append(bytes(buf[start:end]))

    def _note_skipped(self, chunk: bytearray) -> None:
        if len(self._skipped_sample) < 1024:
            self._skipped_sample += bytes(chunk[: 1024 - len(self._skipped_sample)])
        self._skipped += len(chunk)

    def _flush_skipped(self, out: list[FrameItem]) -> None:
        if self._skipped:
            out.append(JSONStreamError(self._skipped, self._skipped_sample))
            self._skipped = 0
            self._skipped_sample = b""

    def feed_eof(self) -> list[FrameItem]:
        out: list[FrameItem] = []
        self._flush_skipped(out)
        if self._state == _SCALAR and not self._discarding:
            # A bare number or literal at the very end is complete once the stream ends.
            self._emit(out, self._buf, self._start, len(self._buf))
        elif self._state != _TOP and not self._discarding:
            out.append(PartialFrame(bytes(self._buf[self._start :])))
        self._buf.clear()
        self._state, self._depth, self._start, self._pos = _TOP, 0, 0, 0
        self._escape = self._discarding = False
        return out

    def frame(self, payload: bytes) -> bytes:
        """Return ``payload``, followed by a newline unless it ends with ``}``, ``]`` or ``"``."""
        if payload[-1:] in _SELF_ENDING:
            return payload
        return payload + b"\n"


def make_framer(
    framing: FramingName | Framer,
    *,
    delimiter: bytes = b"~",
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> Framer:
    """Return a new framer for ``framing``: a name, or a framer object used as is.

    Raises:
        TypeError: ``framing`` is neither a name nor an object with the
            :class:`Framer` methods.
        ValueError: an unknown name.
    """
    if not isinstance(framing, str):
        return _checks.implements(  # type: ignore[no-any-return]
            "framing",
            framing,
            ("feed", "feed_eof", "frame"),
            "'delimiter', 'json', 'length' or a framer",
            ("forbidden",),
        )
    if framing == "delimiter":
        return DelimiterFramer(delimiter, max_frame_size)
    if framing == "json":
        return JSONStreamFramer(max_frame_size)
    if framing == "length":
        return LengthPrefixFramer(max_frame_size)
    raise ValueError(f"unknown framing {framing!r}: use 'delimiter', 'json' or 'length'")
