"""The framers, without sockets: every stream is fed whole, byte by byte and split
at every position (and at every pair of positions when it is short), in the manner
of h11's ``tests/test_io.py``; each way of cutting it must give the same frames.

Linear cost (no rescanning of a large frame for every piece) is not asserted here:
it cannot be observed without timing, which tests must not do. The benchmark
measures it; these tests check the structure (one whole frame out of 4096 pieces,
bounded buffers).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from greenclient.errors import (
    DecodeError,
    EncodeError,
    FrameTooLarge,
    JSONStreamError,
    PartialFrame,
    ProtocolError,
)
from greenclient.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    DelimiterFramer,
    Framer,
    JSONStreamFramer,
    LengthPrefixFramer,
    make_framer,
)

# --------------------------------------------------------------------------- helpers


def chunkings(data: bytes, *, pairs_up_to: int = 48) -> Iterator[list[bytes]]:
    """Yield ``data`` cut every way the tests use: whole, byte by byte, at every
    position, and at every pair of positions when ``data`` is short."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    if len(data) <= pairs_up_to:
        for i in range(1, len(data)):
            for j in range(i + 1, len(data)):
                yield [data[:i], data[i:j], data[j:]]


def run(framer: Framer, pieces: list[bytes], *, eof: bool = True) -> list[object]:
    """Feed ``pieces`` to ``framer`` (then the end of stream) and return every item."""
    out: list[object] = []
    for piece in pieces:
        out += framer.feed(piece)
    if eof:
        out += framer.feed_eof()
    return out


def normalise(items: list[object]) -> list[object]:
    """Items in a comparable form. ``FrameTooLarge.size`` is "at least" and may
    depend on where the limit was noticed, so only the limit is compared."""
    out: list[object] = []
    for item in items:
        if isinstance(item, FrameTooLarge):
            out.append(("FrameTooLarge", item.limit))
        elif isinstance(item, JSONStreamError):
            out.append(("JSONStreamError", item.skipped, item.sample))
        elif isinstance(item, PartialFrame):
            out.append(("PartialFrame", item.frame))
        elif isinstance(item, DecodeError):
            out.append(("DecodeError", item.frame))
        elif isinstance(item, ProtocolError):
            out.append((type(item).__name__, str(item)))
        else:
            out.append(item)
    return out


def check_every_split(
    new_framer: Callable[[], Framer], stream: bytes, expected: list[object], pairs_up_to: int = 48
) -> int:
    """Assert that every cutting of ``stream`` gives ``expected``; return how many were tried."""
    want = normalise(expected)
    count = 0
    for pieces in chunkings(stream, pairs_up_to=pairs_up_to):
        got = normalise(run(new_framer(), pieces))
        assert got == want, f"pieces={pieces!r}"
        count += 1
    return count


FTL = FrameTooLarge(0, 0)  # placeholder for normalise(): only the type and limit are compared


def too_large(limit: int) -> FrameTooLarge:
    return FrameTooLarge(limit + 1, limit)


def test_chunkings_cover_whole_bytewise_every_position_and_pairs() -> None:
    cuts = list(chunkings(b"abcd"))
    assert [b"abcd"] in cuts
    assert [b"a", b"b", b"c", b"d"] in cuts
    assert [b"ab", b"cd"] in cuts
    assert [b"abc", b"d"] in cuts
    assert [b"a", b"bc", b"d"] in cuts
    assert all(b"".join(c) == b"abcd" for c in cuts)
    # whole + bytewise + 3 single splits + 3 pairs
    assert len(cuts) == 1 + 1 + 3 + 3


# --------------------------------------------------------------------------- delimiter


DELIMITERS = [b"~", b"\r\n", b"~~", "§".encode(), b"\n", b"END"]


@pytest.mark.parametrize("delimiter", DELIMITERS, ids=repr)
def test_delimiter_every_split(delimiter: bytes) -> None:
    frames = [b'{"a":1}', '{"t":"é€😀"}'.encode(), b"x", b"[1,2,3]"]
    stream = b"".join(f + delimiter for f in frames)
    tried = check_every_split(lambda: DelimiterFramer(delimiter), stream, list(frames))
    assert tried > len(stream)


@pytest.mark.parametrize("delimiter", DELIMITERS, ids=repr)
def test_delimiter_long_stream_every_single_split(delimiter: bytes) -> None:
    frames = [bytes([65 + i % 26]) * (i % 7 + 1) for i in range(40)]
    stream = b"".join(f + delimiter for f in frames)
    check_every_split(lambda: DelimiterFramer(delimiter), stream, list(frames), pairs_up_to=0)


@pytest.mark.parametrize("delimiter", [b"~", b"~~", b"\r\n", "§".encode()], ids=repr)
def test_delimiter_empty_frames_are_skipped(delimiter: bytes) -> None:
    d = delimiter
    stream = d + d + b"a" + d + d + d + b"b" + d + d
    check_every_split(lambda: DelimiterFramer(d), stream, [b"a", b"b"])


def test_delimiter_split_is_leftmost_like_bytes_split() -> None:
    # "~~~" holds "~~" at 0 and at 1: the first one ends the frame, as bytes.split does.
    stream = b"a~~~b~~"
    assert stream.split(b"~~")[:-1] == [b"a", b"~b"]
    check_every_split(lambda: DelimiterFramer(b"~~"), stream, [b"a", b"~b"])


def test_delimiter_partial_frame_at_eof_every_split() -> None:
    check_every_split(
        lambda: DelimiterFramer(b"\r\n"), b"one\r\ntwo\r", [b"one", PartialFrame(b"two\r")]
    )


def test_delimiter_feed_eof_resets_for_a_new_stream() -> None:
    framer = DelimiterFramer(b"~")
    assert framer.feed(b"abc") == []
    assert framer.buffered == 3
    (partial,) = framer.feed_eof()
    assert isinstance(partial, PartialFrame)
    assert partial.frame == b"abc"
    assert framer.buffered == 0
    assert framer.feed_eof() == []
    assert framer.feed(b"new~") == [b"new"]


def test_delimiter_empty_feed_is_a_no_op() -> None:
    framer = DelimiterFramer(b"~~")
    assert framer.feed(b"a~") == []
    assert framer.feed(b"") == []
    assert framer.feed(b"~") == [b"a"]


def test_delimiter_rejects_empty_delimiter_and_bad_limit() -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        DelimiterFramer(b"")
    with pytest.raises(ValueError, match="max_frame_size"):
        DelimiterFramer(b"~", 0)


@pytest.mark.parametrize("delimiter", [b"~", b"\r\n", b"~~", "§".encode()], ids=repr)
def test_delimiter_too_large_frame_is_dropped_and_framing_resyncs(delimiter: bytes) -> None:
    d = delimiter
    limit = 10
    stream = b"0123456789" + d + b"x" * 11 + d + b"ok" + d + b"y" * 30 + d + b"last" + d
    expected: list[object] = [b"0123456789", too_large(limit), b"ok", too_large(limit), b"last"]
    check_every_split(lambda: DelimiterFramer(d, limit), stream, expected, pairs_up_to=0)
    # Every pair of cut points too, on a shorter stream.
    short = b"abc" + d + b"abcd" + d + b"ok" + d
    check_every_split(lambda: DelimiterFramer(d, 3), short, [b"abc", too_large(3), b"ok"])


def test_delimiter_frame_of_exactly_the_limit_is_accepted_with_multibyte_delimiter() -> None:
    # A frame of max_frame_size bytes whose delimiter arrives split: "abc\r" then "\n".
    # The "\r" may be the start of the delimiter, so it must not count as frame bytes.
    framer = DelimiterFramer(b"\r\n", 3)
    assert framer.feed(b"abc\r") == []
    assert framer.feed(b"\n") == [b"abc"]


def test_delimiter_frame_too_large_reports_size_and_limit() -> None:
    framer = DelimiterFramer(b"~", 4)
    (error,) = framer.feed(b"abcdefgh")
    assert isinstance(error, FrameTooLarge)
    assert error.limit == 4
    assert error.size >= 5
    assert "max_frame_size=4" in str(error)
    # Still dropping until the delimiter; nothing is left over at EOF.
    assert framer.feed(b"ijk") == []
    assert framer.feed_eof() == []


@pytest.mark.parametrize("delimiter", [b"~", b"\r\n", b"~~~"], ids=repr)
def test_delimiter_100_mb_without_delimiter_keeps_memory_bounded(delimiter: bytes) -> None:
    limit = DEFAULT_MAX_FRAME_SIZE
    piece = b"x" * 65536
    framer = DelimiterFramer(delimiter, limit)
    errors: list[object] = []
    high = 0
    for _ in range(100 * 1024 * 1024 // len(piece)):
        errors += framer.feed(piece)
        high = max(high, framer.buffered)
        assert framer.buffered <= limit + len(piece)
    # Bounded far more tightly than the requirement: the dropped bytes are not kept.
    assert high <= limit + len(delimiter) - 1
    assert framer.buffered <= len(delimiter) - 1
    assert len(errors) == 1
    assert isinstance(errors[0], FrameTooLarge)
    # The next delimiter ends the oversized frame; the next good frame arrives.
    assert framer.feed(delimiter + b'{"ok":1}' + delimiter) == [b'{"ok":1}']
    assert framer.buffered == 0


@pytest.mark.parametrize("delimiter", [b"~", b"\r\n"], ids=repr)
def test_delimiter_4_mib_frame_in_1_kib_pieces_is_one_frame(delimiter: bytes) -> None:
    frame = (bytes(range(32, 126)) * (4 * 1024 * 1024 // 94 + 1))[: 4 * 1024 * 1024]
    assert delimiter not in frame
    stream = frame + delimiter + b"next" + delimiter
    framer = DelimiterFramer(delimiter, 8 * 1024 * 1024)
    out: list[object] = []
    for i in range(0, len(stream), 1024):
        out += framer.feed(stream[i : i + 1024])
    assert len(out) == 2
    assert out[0] == frame
    assert out[1] == b"next"


def test_delimiter_frame_appends_the_delimiter() -> None:
    assert DelimiterFramer(b"~").frame(b'{"a":1}') == b'{"a":1}~'
    assert DelimiterFramer("§".encode()).frame(b"x") == "x§".encode()


@pytest.mark.parametrize(
    ("delimiter", "payload"),
    [(b"~~", b"x~"), (b"}}", b'{"a":1}'), (b"aba", b"xab"), (b"aXa", b"zaX"), (b"\r\n\r", b"\r\n")],
)
def test_delimiter_frame_refuses_payload_that_runs_into_the_delimiter(
    delimiter: bytes, payload: bytes
) -> None:
    # Without the check the receiver would find the delimiter inside payload+delimiter
    # before its real position, cutting the frame short.
    stream = payload + delimiter
    assert stream.find(delimiter) < len(payload)
    with pytest.raises(EncodeError, match="run into the delimiter"):
        DelimiterFramer(delimiter).frame(payload)


@pytest.mark.parametrize("delimiter", [b"~~", b"}}", b"aba", b"\r\n"], ids=repr)
def test_delimiter_frame_accepts_payloads_the_receiver_reads_back(delimiter: bytes) -> None:
    for payload in [b"x", b"xb", b"~x", b"a", b'{"a":2}x', b"\n"]:
        if delimiter in payload:
            continue
        framer = DelimiterFramer(delimiter)
        try:
            data = framer.frame(payload)
        except EncodeError:
            assert (payload + delimiter).find(delimiter) != len(payload)
            continue
        assert framer.feed(data + data) == [payload, payload]


def test_make_framer_names_and_objects() -> None:
    assert isinstance(make_framer("delimiter", delimiter=b"|"), DelimiterFramer)
    assert isinstance(make_framer("json"), JSONStreamFramer)
    assert isinstance(make_framer("length", max_frame_size=5), LengthPrefixFramer)
    own = DelimiterFramer(b"!")
    assert make_framer(own) is own
    with pytest.raises(ValueError, match="unknown framing"):
        make_framer("lines")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- length prefix


def lp(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def test_length_every_split() -> None:
    frames = [b'{"a":1}', "é€😀".encode(), b"~~", b"x"]
    stream = b"".join(lp(f) for f in frames)
    check_every_split(LengthPrefixFramer, stream, list(frames))


def test_length_zero_length_frames_are_skipped() -> None:
    stream = lp(b"") + lp(b"a") + lp(b"") + lp(b"") + lp(b"b")
    check_every_split(LengthPrefixFramer, stream, [b"a", b"b"])


def test_length_partial_frame_at_eof_holds_header_and_bytes() -> None:
    stream = lp(b"one") + lp(b"twelve")[:7]
    check_every_split(LengthPrefixFramer, stream, [b"one", PartialFrame(lp(b"twelve")[:7])])
    check_every_split(LengthPrefixFramer, lp(b"one") + b"\x00\x00", [b"one", PartialFrame(b"\0\0")])


def test_length_announced_length_over_limit_is_skipped_exactly() -> None:
    limit = 8
    stream = lp(b"12345678") + lp(b"123456789") + lp(b"ok") + lp(b"x" * 40) + lp(b"end")
    expected: list[object] = [b"12345678", too_large(limit), b"ok", too_large(limit), b"end"]
    check_every_split(lambda: LengthPrefixFramer(limit), stream, expected, pairs_up_to=0)
    short = lp(b"abcd") + lp(b"ok")
    check_every_split(lambda: LengthPrefixFramer(3), short, [too_large(3), b"ok"])


def test_length_frame_too_large_size_is_the_announced_length() -> None:
    framer = LengthPrefixFramer(10)
    (error,) = framer.feed((1_000_000).to_bytes(4, "big") + b"abc")
    assert isinstance(error, FrameTooLarge)
    assert (error.size, error.limit) == (1_000_000, 10)
    assert framer.buffered == 0


def test_length_100_mb_announced_frame_keeps_memory_bounded_and_resumes_exactly() -> None:
    limit = DEFAULT_MAX_FRAME_SIZE
    total = 100 * 1024 * 1024
    piece = b"\x00" * 65536
    framer = LengthPrefixFramer(limit)
    out = framer.feed(total.to_bytes(4, "big"))
    assert len(out) == 1
    assert isinstance(out[0], FrameTooLarge)
    for _ in range(total // len(piece)):
        assert framer.feed(piece) == []
        assert framer.buffered <= limit + len(piece)
    assert framer.buffered == 0
    # The very next byte is the next frame's header.
    assert framer.feed(lp(b'{"ok":1}')) == [b'{"ok":1}']


def test_length_frame_within_limit_is_buffered_then_delivered() -> None:
    limit = 1000
    framer = LengthPrefixFramer(limit)
    payload = b"y" * limit
    data = lp(payload)
    for i in range(0, len(data) - 1, 100):
        assert framer.feed(data[i : min(i + 100, len(data) - 1)]) == []
        assert framer.buffered < limit + 4
    assert framer.feed(data[-1:]) == [payload]


def test_length_4_mib_frame_in_1_kib_pieces_is_one_frame() -> None:
    frame = bytes(range(256)) * (4 * 1024 * 1024 // 256)
    stream = lp(frame) + lp(b"next")
    framer = LengthPrefixFramer(8 * 1024 * 1024)
    out: list[object] = []
    for i in range(0, len(stream), 1024):
        out += framer.feed(stream[i : i + 1024])
    assert out == [frame, b"next"]


def test_length_frame_prefixes_big_endian_length() -> None:
    framer = LengthPrefixFramer()
    assert framer.frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert framer.feed(framer.frame(b"x" * 300)) == [b"x" * 300]


# --------------------------------------------------------------------------- JSON stream


def test_json_consecutive_objects_every_split() -> None:
    check_every_split(JSONStreamFramer, b'{"a":1}{"b":2}', [b'{"a":1}', b'{"b":2}'])


def test_json_whitespace_and_newlines_between_values() -> None:
    stream = b' \n{"a":1}\r\n\t {"b":[2]}\n\n[3] \n'
    check_every_split(JSONStreamFramer, stream, [b'{"a":1}', b'{"b":[2]}', b"[3]"])


def test_json_brackets_and_quotes_inside_strings() -> None:
    a = rb'{"s":"}{][","q":"\"}"}'
    b = rb'["\"", "]", {"k":"{"}]'
    check_every_split(JSONStreamFramer, a + b, [a, b], pairs_up_to=0)
    check_every_split(JSONStreamFramer, rb'{"q":"\"}"}[1]', [rb'{"q":"\"}"}', b"[1]"])


def test_json_escaped_backslashes_at_every_piece_boundary() -> None:
    # "\\" ends a string's escape; "\\\"" is a backslash then an escaped quote.
    a = rb'{"a":"\\"}'
    b = rb'{"b":"\\\"}\\"}'
    c = rb'"x\\\\"'
    check_every_split(JSONStreamFramer, a + b + c, [a, b, c])


def test_json_top_level_scalars_strings_and_arrays() -> None:
    stream = b'[1,2] "s" 12 true false null -3.5e2 "t"{"o":{}}7'
    expected: list[object] = [
        b"[1,2]",
        b'"s"',
        b"12",
        b"true",
        b"false",
        b"null",
        b"-3.5e2",
        b'"t"',
        b'{"o":{}}',
        b"7",
    ]
    # The final 7 is complete only at the end of the stream.
    check_every_split(JSONStreamFramer, stream, expected, pairs_up_to=0)
    framer = JSONStreamFramer()
    assert framer.feed(b"7") == []
    assert framer.feed_eof() == [b"7"]


def test_json_scalar_ends_at_whitespace_or_next_value() -> None:
    check_every_split(
        JSONStreamFramer, b'1"a"2[3]4{}5 ', [b"1", b'"a"', b"2", b"[3]", b"4", b"{}", b"5"]
    )


def test_json_garbage_is_skipped_to_next_brace_with_one_error() -> None:
    stream = b'{"a":1} xyz} {"b":2}'
    expected: list[object] = [b'{"a":1}', JSONStreamError(5, b"xyz} "), b'{"b":2}']
    check_every_split(JSONStreamFramer, stream, expected)


def test_json_garbage_then_scalar_start_is_still_garbage_at_every_split() -> None:
    # A skip that ends one piece goes on in the next: "1" here is part of the garbage,
    # exactly as when "}1" arrives in one piece.
    stream = b'}1 "s"{"a":1}'
    check_every_split(JSONStreamFramer, stream, [JSONStreamError(6, b'}1 "s"'), b'{"a":1}'])


def test_json_garbage_at_eof_is_reported() -> None:
    check_every_split(JSONStreamFramer, b"[1]:,:", [b"[1]", JSONStreamError(3, b":,:")])


def test_json_garbage_sample_is_capped_at_1_kib() -> None:
    framer = JSONStreamFramer()
    out = run(framer, [b"}" * 5000, b"[1]"])
    assert len(out) == 2
    error = out[0]
    assert isinstance(error, JSONStreamError)
    assert error.skipped == 5000
    assert error.sample == b"}" * 1024
    assert out[1] == b"[1]"


def test_json_balanced_value_with_bad_content_is_one_frame() -> None:
    # The framer does not parse: the codec rejects the frame (see test_protocol).
    check_every_split(JSONStreamFramer, b'{"a":}{]{"b":2}', [b'{"a":}', b"{]", b'{"b":2}'])


def test_json_partial_value_at_eof() -> None:
    check_every_split(JSONStreamFramer, b'{"a":1}{"b":[', [b'{"a":1}', PartialFrame(b'{"b":[')])
    check_every_split(JSONStreamFramer, b'"abc\\', [PartialFrame(b'"abc\\')])


def test_json_feed_eof_resets_mid_string() -> None:
    framer = JSONStreamFramer()
    assert framer.feed(b'{"a":"\\') == []
    (partial,) = framer.feed_eof()
    assert isinstance(partial, PartialFrame)
    # No escape or depth left over from the previous stream.
    assert framer.feed(b'"x"{"b":1}') == [b'"x"', b'{"b":1}']


@pytest.mark.parametrize(
    "value",
    [b"[" + b"1," * 20 + b"1]", b'"' + b"a" * 40 + b'"', b"1" * 40, b'{"s":"' + b"}" * 40 + b'"}'],
    ids=["array", "string", "number", "object"],
)
def test_json_oversized_value_is_skipped_and_next_value_arrives(value: bytes) -> None:
    limit = 16
    stream = b'{"a":1}' + value + b' {"b":2}'
    expected: list[object] = [b'{"a":1}', too_large(limit), b'{"b":2}']
    # Fed whole, the value is complete in one piece: it must be refused all the same.
    check_every_split(lambda: JSONStreamFramer(limit), stream, expected, pairs_up_to=0)


@pytest.mark.parametrize("limit", [2, 8, 64])
def test_json_escape_at_piece_end_then_eof_is_refused_like_the_whole_stream(limit: int) -> None:
    # A string of limit+1 bytes whose last byte follows a backslash that ended a piece.
    value = b'"' + b"a" * (limit - 2) + b"\\x"
    assert len(value) == limit + 1
    check_every_split(lambda: JSONStreamFramer(limit), value, [too_large(limit)])
    closed = value + b'" 7'
    check_every_split(lambda: JSONStreamFramer(limit), closed, [too_large(limit), b"7"])


def test_json_100_mb_value_keeps_memory_bounded() -> None:
    limit = DEFAULT_MAX_FRAME_SIZE
    piece = b"a" * 65536
    framer = JSONStreamFramer(limit)
    out = framer.feed(b'["')
    for _ in range(100 * 1024 * 1024 // len(piece)):
        out += framer.feed(piece)
        assert framer.buffered <= limit + len(piece)
        assert framer.buffered <= limit  # tighter than required: dropped bytes are not kept
    assert framer.buffered == 0
    assert len(out) == 1
    assert isinstance(out[0], FrameTooLarge)
    assert framer.feed(b'"]{"ok":1}') == [b'{"ok":1}']


def test_json_100_mb_of_garbage_keeps_memory_bounded() -> None:
    piece = b"}" * 65536
    framer = JSONStreamFramer()
    out: list[object] = []
    for _ in range(100 * 1024 * 1024 // len(piece)):
        out += framer.feed(piece)
        assert framer.buffered == 0
    out += framer.feed(b'{"ok":1}')
    assert len(out) == 2
    assert isinstance(out[0], JSONStreamError)
    assert out[0].skipped == 100 * 1024 * 1024
    assert out[1] == b'{"ok":1}'


def test_json_4_mib_value_in_1_kib_pieces_is_one_frame() -> None:
    inner = (b'{"k":"v\\"}"},' * (4 * 1024 * 1024 // 13))[:-1]
    frame = b"[" + inner + b"]"
    stream = frame + b"\n[2]"
    framer = JSONStreamFramer(8 * 1024 * 1024)
    out: list[object] = []
    for i in range(0, len(stream), 1024):
        out += framer.feed(stream[i : i + 1024])
    assert out == [frame, b"[2]"]


def test_json_frame_ends_bare_scalars_with_a_newline() -> None:
    framer = JSONStreamFramer()
    assert framer.frame(b'{"a":1}') == b'{"a":1}'
    assert framer.frame(b"[1]") == b"[1]"
    assert framer.frame(b'"s"') == b'"s"'
    assert framer.frame(b"1") == b"1\n"
    assert framer.frame(b"true") == b"true\n"
    # Without the newline, 1 then 2 would arrive as 12.
    stream = framer.frame(b"1") + framer.frame(b"2") + framer.frame(b"null")
    assert JSONStreamFramer().feed(stream) == [b"1", b"2", b"null"]


class _Huge(bytes):
    """A payload that claims a length, so that 4 GiB need not be allocated."""

    def __new__(cls, length: int) -> _Huge:
        obj = super().__new__(cls, b"x")
        obj.length = length  # type: ignore[attr-defined]
        return obj

    def __len__(self) -> int:
        return self.length  # type: ignore[attr-defined,no-any-return]


def test_length_frame_of_4_gib_or_more_is_an_encode_error() -> None:
    framer = LengthPrefixFramer()
    for size in (1 << 32, (1 << 32) + 1, 1 << 40):
        with pytest.raises(EncodeError, match="4 GiB"):
            framer.frame(_Huge(size))
    # The largest length 4 bytes can hold is still framed (its header is all ones).
    assert framer.frame(_Huge(0xFFFFFFFF))[:4] == b"\xff\xff\xff\xff"


@pytest.mark.parametrize(
    ("name", "new_framer", "frame"),
    [
        ("delimiter", lambda: DelimiterFramer(b"~"), b"a" * 65536 + b"~"),
        ("crlf", lambda: DelimiterFramer(b"\r\n"), b"a" * 65536 + b"\r\n"),
        ("json", JSONStreamFramer, b'"' + b"a" * 65534 + b'"'),
        ("length", LengthPrefixFramer, (65536).to_bytes(4, "big") + b"a" * 65536),
    ],
)
def test_frame_arriving_one_byte_per_read_costs_about_its_size(
    name: str, new_framer: Callable[[], Framer], frame: bytes
) -> None:
    # Every piece is a 1-byte bytes object (CPython shares those), so what tracemalloc
    # sees is the framer's own memory for the unfinished frame: one bytearray, at
    # most about twice the frame's size plus a constant, never one object per read.
    pieces = [frame[i : i + 1] for i in range(len(frame) - 1)]
    framer = new_framer()
    tracemalloc.start()
    try:
        for piece in pieces:
            assert framer.feed(piece) == []
        held, peak = tracemalloc.get_traced_memory()
        (done,) = framer.feed(frame[-1:])
    finally:
        tracemalloc.stop()
    assert isinstance(done, bytes)
    assert len(done) >= 65534
    size = len(frame)
    assert held <= 2 * size + 4096, (name, held)
    assert peak <= 2 * size + 4096, (name, peak)
