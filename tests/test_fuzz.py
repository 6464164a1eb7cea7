"""Property tests (hypothesis) of the sans-I/O core.

* Any chunking of a stream gives the same items as the whole stream.
* Arbitrary bytes, cut anywhere, into every framing x codec never raise: each item
  is a message of the codec's type or a documented ProtocolError subclass, and
  after the garbage a known good frame still decodes.
* Arbitrary JSON values round-trip through every framing, with stdlib and orjson.

Example counts are modest so that the file runs in seconds; the atheris harness
(scripts/fuzz_framers.py) is the place for long runs.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenclient.codec import Codec, JsonCodec, make_codec
from greenclient.errors import (
    DecodeError,
    EncodeError,
    FrameTooLarge,
    JSONStreamError,
    PartialFrame,
    ProtocolError,
)
from greenclient.framing import DelimiterFramer, LengthPrefixFramer
from greenclient.protocol import MessageProtocol

from .helpers import receive
from .test_codec import HAVE_ORJSON, count_frame_by_frame
from .test_framing import normalise, run

FUZZ = settings(
    # GREENCLIENT_FUZZ_EXAMPLES=20000 for a long local run.
    max_examples=int(os.environ.get("GREENCLIENT_FUZZ_EXAMPLES", "150")),
    deadline=None,  # no timing in tests
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DOCUMENTED_ERRORS = (FrameTooLarge, DecodeError, PartialFrame, JSONStreamError)
JSON_TYPES = (dict, list, str, int, float, bool, type(None))
FRAMINGS = ["delimiter", "json", "length"]
#: orjson takes part when installed (test_codec checks that CI has it).
CODECS = ["json", "text", "bytes"] + (["orjson"] if HAVE_ORJSON else [])
JSON_CODECS = ["json"] + (["orjson"] if HAVE_ORJSON else [])
#: Delimiters the JSON codec can always keep out of a payload (escaped in strings,
#: absent from compact JSON elsewhere), including ones that appear in escapes (b).
SAFE_DELIMITERS = ["~", "~~", "\r\n", "\n", "§", "😀", "|", "b", "ZZ", "~§~"]


def new_codec(name: str) -> Codec:
    return JsonCodec.orjson() if name == "orjson" else make_codec(name)  # type: ignore[arg-type]


def new_protocol(
    framing: str, codec: str, delimiter: str = "~", max_frame_size: int = 1 << 20
) -> MessageProtocol:
    return MessageProtocol(
        framing=framing,  # type: ignore[arg-type]
        codec=new_codec(codec),
        delimiter=delimiter,
        max_frame_size=max_frame_size,
    )


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at ``points`` (any integers; clamped, sorted, deduplicated)."""
    marks = sorted({min(max(p, 0), len(data)) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(marks)] or [data]


def message_type(codec: str) -> tuple[type, ...]:
    return {"text": (str,), "bytes": (bytes,)}.get(codec, JSON_TYPES)


#: Bytes that matter to some framer or decoder, mixed with random bytes, so that
#: examples reach deep states (inside strings, escapes, headers, oversized frames).
TOKENS = st.sampled_from(
    [
        b"~", b"~~", b"\r\n", b"\r", b"\n", b" ", b"{", b"}", b"[", b"]", b'"', b"\\",
        b":", b",", b"1", b"-", b"e", b"t", b"true", b"null", b"NaN", b"\x00", b"\xff",
        b"\xc3", b"\xa9", b"\xc2\xa7", b"\xf0\x9f\x98", b'{"a":1}', b'"s~"', b"[" * 40,
        b"\x00\x00\x00\x05", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"9" * 30,
    ]
)  # fmt: skip
GARBAGE = st.lists(TOKENS | st.binary(max_size=12), max_size=30).map(b"".join)
CUTS = st.lists(st.integers(0, 2000), max_size=12)
LIMITS = st.sampled_from([1, 2, 3, 8, 32, 1 << 20])

# A good frame after the garbage, per codec: its bytes and the message it decodes to.
GOOD_JSON = b'{"ok":1}'
GOOD: dict[str, Any] = {"json": {"ok": 1}, "orjson": {"ok": 1}, "text": "ok", "bytes": b"ok"}


def good_payload(framing: str, codec: str) -> tuple[bytes, Any]:
    if framing == "json":
        # JSON stream framing delivers JSON texts; text/bytes codecs see them raw.
        value = {"text": GOOD_JSON.decode(), "bytes": GOOD_JSON}.get(codec, {"ok": 1})
        return GOOD_JSON, value
    if codec in ("text", "bytes"):
        return b"ok", GOOD[codec]
    return GOOD_JSON, GOOD[codec]


# --------------------------------------------------------------------------- any input


@FUZZ
@given(
    framing=st.sampled_from(FRAMINGS),
    codec=st.sampled_from(CODECS),
    delimiter=st.sampled_from(["~", "\r\n", "~~", "§"]),
    limit=LIMITS,
    garbage=GARBAGE,
    points=CUTS,
)
def test_any_bytes_any_chunking_are_framed_or_rejected_with_documented_errors(
    *, framing: str, codec: str, delimiter: str, limit: int, garbage: bytes, points: list[int]
) -> None:
    pieces = cut(garbage, points)
    chunked = receive(new_protocol(framing, codec, delimiter, limit), pieces)
    whole = receive(new_protocol(framing, codec, delimiter, limit), [garbage])
    bytewise = receive(
        new_protocol(framing, codec, delimiter, limit),
        [garbage[i : i + 1] for i in range(len(garbage))],
    )
    kinds = message_type(codec) + DOCUMENTED_ERRORS
    for item in chunked:
        assert isinstance(item, kinds), item
        if isinstance(item, ProtocolError):
            assert isinstance(item, DOCUMENTED_ERRORS)
    # The same stream gives the same items however it is cut.
    assert normalise(chunked) == normalise(whole)
    assert normalise(bytewise) == normalise(whole)


@FUZZ
@given(
    framing=st.sampled_from(FRAMINGS),
    codec=st.sampled_from(CODECS),
    delimiter=st.sampled_from(["~", "\r\n", "~~", "§"]),
    limit=st.sampled_from([16, 1 << 20]),
    garbage=GARBAGE,
    points=CUTS,
)
def test_after_garbage_a_good_frame_still_decodes(
    *, framing: str, codec: str, delimiter: str, limit: int, garbage: bytes, points: list[int]
) -> None:
    payload, message = good_payload(framing, codec)
    proto = new_protocol(framing, codec, delimiter, limit)
    receive(proto, cut(garbage, points), eof=False)
    if framing == "delimiter" and delimiter != "~~":
        # Without a reset: the next delimiter ends whatever the garbage started.
        # (Not with "~~": garbage ending in "~" makes "~" + "~~" a delimiter
        # followed by "~", which the receiver rightly reads as the next frame's start.)
        d = delimiter.encode()
        out = receive(proto, cut(d + payload + d, points), eof=False)
        assert 1 <= len(out) <= 2, out
        assert out[-1] == message
    # After a reset (end of stream, as on a reconnect), the first frame decodes.
    receive(proto, [], eof=True)
    assert receive(proto, [proto.framer.frame(payload)], eof=True) == [message]


# --------------------------------------------------------------------------- reference model


@FUZZ
@given(
    delimiter=st.sampled_from([b"~", b"\r\n", b"~~", b"aba", "§".encode()]),
    limit=st.sampled_from([1, 3, 8, 1 << 20]),
    parts=st.lists(st.sampled_from([b"~", b"a", b"b", b"\r", b"\n", b"x" * 5, b"\xc2", b"\xa7"])),
    points=CUTS,
)
def test_delimiter_framer_matches_bytes_split(
    delimiter: bytes, limit: int, parts: list[bytes], points: list[int]
) -> None:
    stream = b"".join(parts)
    *frames, rest = stream.split(delimiter)
    expected: list[object] = [
        FrameTooLarge(len(f), limit) if len(f) > limit else f for f in frames if f
    ]
    if rest and len(rest) <= limit + len(delimiter) - 1:
        expected.append(PartialFrame(rest))
    elif rest:
        expected.append(FrameTooLarge(len(rest), limit))
    got = run(DelimiterFramer(delimiter, limit), cut(stream, points))
    assert normalise(got) == normalise(expected)


@FUZZ
@given(
    frames=st.lists(st.binary(max_size=40), max_size=8),
    limit=st.sampled_from([1, 10, 1 << 20]),
    tail=st.binary(max_size=6),
    points=CUTS,
)
def test_length_framer_matches_model(
    frames: list[bytes], limit: int, tail: bytes, points: list[int]
) -> None:
    stream = b"".join(len(f).to_bytes(4, "big") + f for f in frames) + tail
    expected: list[object] = [
        FrameTooLarge(len(f), limit) if len(f) > limit else f for f in frames if f
    ]
    if tail:
        announced = int.from_bytes(tail[:4], "big") if len(tail) >= 4 else 0
        if len(tail) >= 4 and announced > limit:
            expected.append(FrameTooLarge(announced, limit))
        elif len(tail) >= 4 and announced == 0:
            if tail[4:]:
                expected.append(PartialFrame(tail[4:]))  # a new header began
        else:
            expected.append(PartialFrame(tail))
    assert normalise(run(LengthPrefixFramer(limit), cut(stream, points))) == normalise(expected)


# --------------------------------------------------------------------------- round trips


def json_values(max_int: int | None) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=None if max_int is None else -max_int - 1, max_value=max_int)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=8), children, max_size=5)
        ),
        max_leaves=25,
    )


STDLIB_VALUES = json_values(None)
ORJSON_VALUES = json_values(2**63 - 1)  # orjson's documented 64-bit integer range


@FUZZ
@given(
    codec=st.sampled_from(JSON_CODECS),
    framing=st.sampled_from(FRAMINGS),
    delimiter=st.sampled_from(SAFE_DELIMITERS),
    data=st.data(),
    points=CUTS,
)
def test_json_values_round_trip_through_every_framing(
    codec: str, framing: str, delimiter: str, data: st.DataObject, points: list[int]
) -> None:
    values = data.draw(st.lists(STDLIB_VALUES if codec == "json" else ORJSON_VALUES, max_size=4))
    sender = new_protocol(framing, codec, delimiter)
    stream = b"".join(sender.encode(v) for v in values)
    if framing == "delimiter":
        assert stream.count(delimiter.encode()) == len(values)
    out = receive(new_protocol(framing, codec, delimiter), cut(stream, points))
    assert out == values


@FUZZ
@given(
    codec=st.sampled_from(["text", "bytes"]),
    framing=st.sampled_from(["delimiter", "length"]),
    delimiter=st.sampled_from(["~", "~~", "\r\n", "§", "aba"]),
    data=st.data(),
    points=CUTS,
)
def test_text_and_bytes_round_trip_or_refuse(
    codec: str, framing: str, delimiter: str, data: st.DataObject, points: list[int]
) -> None:
    strategy: st.SearchStrategy[Any] = st.text() if codec == "text" else st.binary()
    alphabet_hint = st.sampled_from(["~", "a", "b", "§", "\r", "\n"])
    values = data.draw(
        st.lists(st.one_of(strategy, st.lists(alphabet_hint, max_size=6).map("".join)), max_size=5)
    )
    if codec == "bytes":
        values = [v.encode() if isinstance(v, str) else v for v in values]
    sender = new_protocol(framing, codec, delimiter)
    d = delimiter.encode()
    sent: list[Any] = []
    stream = b""
    for value in values:
        raw = value.encode() if isinstance(value, str) else value
        # What cannot be framed is refused, and only that: an empty payload (receivers
        # skip empty frames), text with NUL (the text decoder rejects it), or bytes
        # that would hold the delimiter before the frame's end.
        refused = (
            not raw
            or (codec == "text" and b"\x00" in raw)
            or (framing == "delimiter" and (raw + d).find(d) != len(raw))
        )
        if refused:
            with pytest.raises(EncodeError):
                sender.encode(value)
            continue
        stream += sender.encode(value)
        sent.append(value)
    assert receive(new_protocol(framing, codec, delimiter), cut(stream, points)) == sent


@FUZZ
@given(
    values=st.lists(STDLIB_VALUES, max_size=5),
    delimiter=st.sampled_from(["}", ",", "1", "e", "]~", "}}", "a"]),
)
def test_syntax_delimiters_either_refuse_or_round_trip(values: list[Any], delimiter: str) -> None:
    sender = new_protocol("delimiter", "json", delimiter)
    for value in values:
        try:
            frame = sender.encode(value)
        except EncodeError:
            continue
        assert receive(new_protocol("delimiter", "json", delimiter), [frame]) == [value]


# --------------------------------------------------------------------------- batch = per frame
#
# The JSON and text codecs decode all the frames of one read with one call when
# they can (decode_run, decode_counted) and fall back to frame-by-frame decoding
# otherwise. The frame-by-frame path is the reference: for any stream and any
# chunking, the protocol must deliver exactly what it gives, errors in place.

#: Pieces that try to make invalid frames merge into a valid array when joined
#: ("1,2" with "[3" and "4]"), to forge the batch's markers ("\u0000" and
#: "\u007e"), to hide a delimiter inside a string, or to hit the decoders'
#: special cases.
JSON_TOKENS = st.sampled_from(
    [
        b"~", b"~", b"~~", b"\r\n", b"\n", b" ", b"\t", b"", b",", b"[", b"]", b"{", b"}",
        b":", b'"', b"\\", b"1", b"-", b"0", b"e5", b".5", b"1,2", b"[1", b"2]", b"]]", b"[[",
        b'{"a":', b'"k":1', b"}}", b'"s"', b'"\\u0000"', b"\\u0000", b',"\\u0000",', b'"\\"',
        b'"\\u007e"', b"\\u007E", b',"\\u007e",', b'"\\u007E"',
        b"NaN", b"Infinity", b"-Infinity", b"null", b"true", b"tru", b"\x00", b"\xff", b"\xc3",
        b"\xa9", "é".encode(), "§".encode(), b'{"a":1}', b'[1,{"b":[2,3]}]', b'"x~y"',
        b"9" * 30, b"[" * 20 + b"]" * 20, b'{"a":[{"b":', b"]}]}", b"\x00\x00\x00\x07",
    ]
)  # fmt: skip
JSON_SOUP = st.lists(JSON_TOKENS | st.binary(max_size=6), max_size=40).map(b"".join)


def strict(items: list[Any]) -> list[Any]:
    """Items in a form where 1, 1.0, True and -0.0, 0.0 differ, errors by kind and bytes."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, ProtocolError):
            out.append((type(item).__name__, getattr(item, "frame", None), str(item)))
        else:
            out.append(("message", repr(item)))
    return out


def per_frame_reference(
    framing: str, codec: str, delimiter: str, limit: int, *, pieces: list[bytes]
) -> tuple[list[Any], int]:
    """What the frame-by-frame path gives: framer.feed, then each frame decoded alone."""
    proto = new_protocol(framing, codec, delimiter, limit)
    decoder = proto.codec
    each = getattr(decoder, "_decode_each", None) or decoder.decode_counted  # type: ignore[attr-defined]
    out: list[Any] = []
    errors = 0
    for piece in pieces:
        items, n = each(proto.framer.feed(piece))
        out += items
        errors += n
    tail = proto.receive_eof()  # the same end-of-stream handling as the protocol
    return out + tail, errors + proto.rejected


@FUZZ
@given(
    framing=st.sampled_from(FRAMINGS),
    codec=st.sampled_from([*JSON_CODECS, "text"]),
    delimiter=st.sampled_from(["~", "\r\n", "§", "~~"]),
    limit=st.sampled_from([8, 1 << 20]),
    stream=JSON_SOUP,
    points=CUTS,
)
def test_batch_and_per_frame_paths_give_the_same_items(
    *, framing: str, codec: str, delimiter: str, limit: int, stream: bytes, points: list[int]
) -> None:
    pieces = cut(stream, points)
    proto = new_protocol(framing, codec, delimiter, limit)
    got: list[Any] = []
    for piece in pieces:
        got += proto.receive_data(piece)
    got += proto.receive_eof()
    want, want_errors = per_frame_reference(framing, codec, delimiter, limit, pieces=pieces)
    assert strict(got) == strict(want)
    assert proto.rejected == want_errors == sum(isinstance(i, ProtocolError) for i in got)
    assert proto.frame_bytes == len(stream)


#: Whole frames, valid or not, meant to be combined: invalid ones that would
#: balance each other out in one array (a frame with extra top-level values
#: beside frames that open or close brackets, or strings, across frames), and
#: ones that hold the marker or look like it.
FRAGMENTS = st.sampled_from(
    [
        b"1", b"1,2", b"1,2,3", b"[1", b"2]", b"[[1", b"2]]", b"1]", b"[2", b'{"a":[1', b"2]}",
        b'{"a":1', b'"b":2}', b'"a', b'b"', b'b",1', b'"\\u0000"', b'1,"\\u0000",2',
        b'1,"\\u0000"', b'"\\u0000",2', b'"\\\\u0000"', b'{"a":1}', b" ", b"", b" [3] ", b"\n7",
        b"NaN", b"[Infinity]", b"\x00", b'"\xff"', b"[" * 3, b"]" * 3, b"]," , b",[",
    ]
)  # fmt: skip
FRAMES = st.lists(st.lists(FRAGMENTS, min_size=1, max_size=2).map(b"".join), max_size=10)


def test_fragments_include_a_merge_that_a_bare_join_would_accept() -> None:
    # The reason for the markers: "[" + ",".join(frames) + "]" is a valid array with
    # one element per frame although no frame is valid alone.
    frames = [b"1,2,3", b"[3", b"4]"]
    assert len(json.loads(b"[" + b",".join(frames) + b"]")) == len(frames) + 1
    frames = [b"1,2", b"[3", b"4]"]
    assert len(json.loads(b"[" + b",".join(frames) + b"]")) == len(frames)


@FUZZ
@given(
    codec=st.sampled_from([*JSON_CODECS, "text"]),
    delimiter=st.sampled_from([b"~", b"\r\n", "§".encode(), b",", b"]", b'"', b"\\"]),
    frames=st.one_of(FRAMES, st.lists(JSON_SOUP, max_size=12)),
)
def test_decode_run_and_decode_counted_match_frame_by_frame_decoding(
    codec: str, delimiter: bytes, frames: list[bytes]
) -> None:
    # Frames as a delimiter framer would cut them: without the delimiter.
    frames = [f for frame in frames for f in frame.split(delimiter) if f]
    decoder = new_codec(codec)
    each = getattr(decoder, "_decode_each", None) or decoder.decode_counted  # type: ignore[attr-defined]
    want, want_errors = each(list(frames))
    got, errors = decoder.decode_counted(list(frames))  # type: ignore[attr-defined]
    assert (strict(got), errors) == (strict(want), want_errors)
    run, run_errors = decoder.decode_run(delimiter.join(frames), delimiter)  # type: ignore[attr-defined]
    assert (strict(run), run_errors) == (strict(want), want_errors)


@FUZZ
@given(
    codec=st.sampled_from(JSON_CODECS),
    values=st.lists(STDLIB_VALUES, min_size=2, max_size=8),
    data=st.data(),
)
def test_valid_frames_take_the_batch_path_unless_they_hold_the_marker(
    codec: str, values: list[Any], data: st.DataObject
) -> None:
    if codec == "orjson":
        values = data.draw(st.lists(ORJSON_VALUES, min_size=2, max_size=8))
    decoder = JsonCodec.orjson() if codec == "orjson" else JsonCodec()
    frames = [decoder.encode(v, b"~") for v in values]
    fallback = count_frame_by_frame(decoder)
    got, errors = decoder.decode_run(b"~".join(frames), b"~")
    assert errors == 0
    assert strict(got) == strict(values)
    # The delimiter's own marker unless a frame writes "~", then the NUL marker.
    holds_marker = any(b"\\u0000" in f for f in frames) and any(
        b"\\u007e" in f or b"\\u007E" in f for f in frames
    )
    assert fallback == ([len(frames)] if holds_marker else [])


def simple_reference(codec: str, frame: bytes) -> list[Any]:
    """One frame decoded the obvious way: skip it when blank, else the parser decides."""
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        return [("DecodeError", frame)]
    if not text.strip(" \t\r\n"):
        return []
    try:
        if codec == "orjson":
            import orjson

            return [("message", repr(orjson.loads(frame)))]

        def no_constants(name: str) -> Any:
            raise ValueError(name)

        return [("message", repr(json.loads(text, parse_constant=no_constants)))]
    except (ValueError, RecursionError):
        return [("DecodeError", frame)]


@FUZZ
@given(
    codec=st.sampled_from(JSON_CODECS),
    frames=st.one_of(FRAMES, st.lists(JSON_SOUP, max_size=12)),
)
def test_frame_by_frame_decoding_matches_the_parser_alone(codec: str, frames: list[bytes]) -> None:
    # The shortcuts of the frame-by-frame path (rejecting without parsing, building
    # errors from the first exception) give what the parser alone gives.
    decoder = JsonCodec.orjson() if codec == "orjson" else JsonCodec()
    got, errors = decoder._decode_each(list(frames))
    want = [r for frame in frames for r in simple_reference(codec, frame)]
    simplified = [
        (type(i).__name__, i.frame) if isinstance(i, DecodeError) else ("message", repr(i))
        for i in got
    ]
    assert simplified == want
    assert errors == sum(r[0] == "DecodeError" for r in want)
