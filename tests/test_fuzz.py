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
from .test_codec import HAVE_ORJSON
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
