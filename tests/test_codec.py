"""The codecs, without sockets: decoding bad frames into documented errors, and
encoding messages into payloads that never hold the delimiter."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable
from typing import Any

import pytest

from greenclient.codec import (
    ORJSON_MIN_VERSION,
    BytesCodec,
    Codec,
    JsonCodec,
    TextCodec,
    _run_marker,
    frames_every_message,
    make_codec,
)
from greenclient.errors import DecodeError, EncodeError, FrameTooLarge, PartialFrame
from greenclient.framing import FrameItem


def _orjson_usable() -> bool:
    try:
        JsonCodec.orjson()
    except ImportError:
        return False
    return True


#: orjson is optional (greenclient[speed]); older than ORJSON_MIN_VERSION it is refused.
HAVE_ORJSON = _orjson_usable()
needs_orjson = pytest.mark.skipif(
    not HAVE_ORJSON,
    reason="orjson>={} is not installed (pip install greenclient[speed])".format(
        ".".join(map(str, ORJSON_MIN_VERSION))
    ),
)
#: Codec names for parametrize: the default JSON codec and, when installed, orjson.
JSON_CODEC_NAMES: list[Any] = ["stdlib", pytest.param("orjson", marks=needs_orjson)]


def json_codec(name: str) -> JsonCodec:
    return JsonCodec.orjson() if name == "orjson" else JsonCodec()


@pytest.fixture(params=JSON_CODEC_NAMES)
def codec(request: pytest.FixtureRequest) -> JsonCodec:
    """Each JSON codec in turn: the default (stdlib) one and orjson."""
    return json_codec(request.param)


def test_orjson_is_installed_where_required() -> None:
    # CI sets GREENCLIENT_REQUIRE_TOOLS=1: there, a missing orjson must not turn the
    # orjson half of these tests into silent skips.
    if os.environ.get("GREENCLIENT_REQUIRE_TOOLS") != "1":
        pytest.skip("only checked when GREENCLIENT_REQUIRE_TOOLS=1")
    assert HAVE_ORJSON, "install orjson>=3.9.15 (pip install greenclient[speed])"


def decode_one(codec: Codec, frame: bytes) -> Any:
    (result,) = codec.decode_frames([frame])
    return result


# --------------------------------------------------------------------------- JSON decoding

VALID_FRAMES = [
    b'{"a":1}',
    b'{"action":"move","x":1,"y":-2.5,"ok":true,"none":null}',
    b"[1,2,[3,[4]]]",
    '{"t":"é€😀~§"}'.encode(),
    b'"just a string"',
    b"42",
    b"-0.0",
    b"1e300",
    b"false",
    b'{"esc":"\\u007e\\n\\t\\"\\\\\\/\\ud83d\\ude00"}',
    b' {"spaced": 1} ',
    b"\n[1]\r\n",
    b'{"dup":1,"dup":2}',
    b"9223372036854775807",
    b"-9223372036854775808",
]


@pytest.mark.parametrize("frame", VALID_FRAMES, ids=repr)
def test_json_decodes_valid_frames_like_json_loads(codec: JsonCodec, frame: bytes) -> None:
    assert decode_one(codec, frame) == json.loads(frame)
    assert codec.decode(frame) == json.loads(frame)


@needs_orjson
@pytest.mark.parametrize("frame", VALID_FRAMES, ids=repr)
def test_orjson_gives_the_same_results_as_stdlib_on_valid_input(frame: bytes) -> None:
    std = JsonCodec().decode_frames([frame])
    fast = JsonCodec.orjson().decode_frames([frame])
    assert fast == std
    assert [type(v) for v in fast] == [type(v) for v in std]


@needs_orjson
def test_orjson_documented_differences_on_valid_json() -> None:
    # Beyond 64 bits orjson gives a float; past float range it refuses. Documented.
    big = b"18446744073709551616"
    assert JsonCodec().decode(big) == 18446744073709551616
    assert JsonCodec.orjson().decode(big) == pytest.approx(1.8446744073709552e19)
    assert JsonCodec().decode(b"1e999") == math.inf
    with pytest.raises(DecodeError):
        JsonCodec.orjson().decode(b"1e999")
    # Encoding: orjson wants str keys and 64-bit integers.
    assert JsonCodec().encode({1: 2}) == b'{"1":2}'
    assert JsonCodec().encode(2**64) == b"18446744073709551616"
    for message in ({1: 2}, 2**64):
        with pytest.raises(EncodeError):
            JsonCodec.orjson().encode(message)


BAD_FRAMES = {
    "invalid json": b'{"a":}',
    "trailing garbage": b'{"a":1}x',
    "two values": b"[1][2]",
    "invalid utf-8": b'{"a":"\xff\xfe"}',
    "truncated utf-8": b'{"a":"\xc3"}',
    "overlong utf-8": b'{"a":"\xc0\xaf"}',
    "utf-8 surrogate": b'{"a":"\xed\xa0\x80"}',
    "nul outside": b'{"a":1}\x00',
    "nul inside string": b'{"a":"x\x00y"}',
    "nul alone": b"\x00",
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep unbalanced": b"[" * 100_000,
    "huge integer": b"1" * 5000,
    "huge integer in object": b'{"n":' + b"9" * 10_000 + b"}",
    "NaN": b"NaN",
    "Infinity": b"[Infinity]",
    "-Infinity": b'{"x":-Infinity}',
    "single quotes": b"{'a':1}",
    "bare word": b"hello",
    "bom": b'\xef\xbb\xbf{"a":1}',
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_json_bad_frames_become_decode_errors(codec: JsonCodec, name: str) -> None:
    frame = BAD_FRAMES[name]
    good = b'{"next":true}'
    out = codec.decode_frames([frame, good])
    assert len(out) == 2
    error = out[0]
    assert type(error) is DecodeError
    assert error.frame == frame
    assert error.__cause__ is not None
    assert out[1] == {"next": True}
    with pytest.raises(DecodeError) as info:
        codec.decode(frame)
    assert info.value.frame == frame


def test_json_deep_nesting_recursion_error_is_the_cause() -> None:
    frame = b"[" * 100_000 + b"]" * 100_000
    error = decode_one(JsonCodec(), frame)
    assert isinstance(error, DecodeError)
    assert isinstance(error.__cause__, RecursionError)
    assert "nested too deeply" in str(error)


def test_json_invalid_utf8_names_the_encoding() -> None:
    error = decode_one(JsonCodec(), b'"\xff"')
    assert isinstance(error, DecodeError)
    assert isinstance(error.__cause__, UnicodeDecodeError)
    assert "UTF-8" in str(error)


@pytest.mark.parametrize("frame", [b"", b" ", b"\n", b"\r\n", b" \t\r\n "])
def test_json_whitespace_only_frames_are_skipped(codec: JsonCodec, frame: bytes) -> None:
    assert codec.decode_frames([frame, b"[1]", frame]) == [[1]]
    with pytest.raises(DecodeError, match="blank"):
        codec.decode(frame)


def test_json_passes_protocol_errors_through_in_order(codec: JsonCodec) -> None:
    too_large = FrameTooLarge(9, 8)
    partial = PartialFrame(b'{"a"')
    items: list[FrameItem] = [b"1", too_large, b"bad", b"2", partial]
    out = codec.decode_frames(items)
    assert out[0] == 1
    assert out[1] is too_large
    assert isinstance(out[2], DecodeError)
    assert out[2].frame == b"bad"
    assert out[3] == 2
    assert out[4] is partial


def test_json_custom_loads_and_dumps_plug_in() -> None:
    seen: list[Any] = []

    def loads(text: Any) -> Any:
        seen.append(text)
        return json.loads(text)

    codec = JsonCodec(loads=loads, dumps=lambda m: json.dumps(m, separators=(",", ":")))
    assert codec.decode_frames([b"[1]", b"{", '"é"'.encode()])[::2] == [[1], "é"]
    assert seen[0] == "[1]"  # str, not bytes, unless loads_bytes=True
    assert codec.encode({"a": "é"}) == b'{"a":"\\u00e9"}'
    raw = JsonCodec(loads=lambda b: (type(b).__name__, json.loads(b)), loads_bytes=True)
    assert raw.decode(b"[2]") == ("bytes", [2])


@needs_orjson
def test_orjson_codec_refuses_versions_that_crash_on_deep_nesting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # orjson before 3.9.15 overflowed the C stack (SIGSEGV) on b'{"a":' * 100_000.
    import orjson

    monkeypatch.setattr(orjson, "__version__", "3.9.14")
    with pytest.raises(ImportError, match=r"orjson>=3\.9\.15"):
        JsonCodec.orjson()
    monkeypatch.setattr(orjson, "__version__", "3.9.15")
    assert JsonCodec.orjson().decode(b"[1]") == [1]


# --------------------------------------------------------------------------- JSON encoding


def test_json_tilde_in_a_string_is_escaped_and_decodes_back(codec: JsonCodec) -> None:
    message = {"text": "a~b~~c", "list": ["~"], "~key": 1}
    data = codec.encode(message, b"~")
    assert b"~" not in data
    assert b"\\u007e" in data
    assert json.loads(data) == message
    assert codec.decode(data) == message


def test_json_encode_without_forbidden_leaves_tilde(codec: JsonCodec) -> None:
    data = codec.encode({"t": "a~b"}, None)
    assert data == b'{"t":"a~b"}'


def test_json_encode_is_compact_utf8(codec: JsonCodec) -> None:
    assert codec.encode({"a": [1, 2], "t": "é"}, b"~") == '{"a":[1,2],"t":"é"}'.encode()


#: Delimiters that can only occur inside JSON strings, where they can be escaped:
#: encoding must always succeed. "b", "c", "d" and "/" also occur inside escape
#: sequences (\b, \u001b, \/), which must not be cut in two.
ESCAPABLE = [
    "~",
    "~~",
    "§",
    "😀",
    "|",
    "#!",
    "b",
    "c",
    "d",
    "B",
    "D",
    "/",
    "x",
    b"\x00",
    b"\xff",
    b"\xa7",
    b"~\xff",
    "\r\n",
    "\n",
    "\t",
]
TRICKY_MESSAGES: list[Any] = [
    {"s": "~ ~~ ~~~ | #! § 😀 é"},
    {"ctl": "\x00\x01\x08\x0b\x0c\x1b\x1c\x1d\x1f\x7f", "bs": "\\b \\u001b \\/"},
    ["b", "c", "d", "B", "D", "/", "x", "bcd/BCDx"],
    {"§": "§§", "~": "~", "😀": ["😀😀"]},
    "\r\n\t\n~§",
    {"nested": [{"deep": [["~", "b\b\x1b"]]}]},
    {"n": 1, "f": -2.5e-7, "t": True, "z": None},
]


def delimiter_param(d: str | bytes) -> bytes:
    return d.encode() if isinstance(d, str) else d


@pytest.mark.parametrize("delimiter", ESCAPABLE, ids=repr)
def test_json_escapable_delimiters_never_appear_and_messages_survive(
    codec: JsonCodec, delimiter: str | bytes
) -> None:
    forbidden = delimiter_param(delimiter)
    for message in TRICKY_MESSAGES:
        data = codec.encode(message, forbidden)
        assert forbidden not in data, (message, data)
        assert json.loads(data) == message
        assert codec.decode(data) == message


#: Delimiters whose first character JSON uses outside strings: send raises when the
#: delimiter would appear, and works when it does not.
SYNTAX = ["}", ",", "1", ":", "e", "]~", "a", '"', "\\", " ", "null"]


@pytest.mark.parametrize("delimiter", SYNTAX, ids=repr)
def test_json_syntax_delimiters_raise_when_they_would_appear(
    codec: JsonCodec, delimiter: str
) -> None:
    forbidden = delimiter.encode()
    plain = next(d for d in (codec.encode(m, None) for m in (7, "x", [True])) if forbidden not in d)
    assert codec.encode(json.loads(plain), forbidden) == plain
    for message in ([1, {"a": [2]}], {"k": "1,}: e]~ a null"}, [None, '"\\ ']):
        data = codec.encode(message, None)
        if forbidden in data:
            with pytest.raises(EncodeError, match="delimiter"):
                codec.encode(message, forbidden)
        else:
            assert codec.encode(message, forbidden) == data


def test_json_syntax_delimiter_inside_a_string_raises() -> None:
    with pytest.raises(EncodeError):
        JsonCodec().encode({"a": "x}y"}, b"}")
    with pytest.raises(EncodeError):
        JsonCodec().encode([1, 2], b",")


class NotJson:
    pass


def circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


def deep(n: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(n):
        value = [value]
    return value


UNENCODABLE: dict[str, Any] = {
    "object": {"a": NotJson()},
    "set": {1, 2},
    "bytes": b"raw",
    "nan": float("nan"),
    "inf": [float("inf")],
    "-inf": {"x": float("-inf")},
    "nan in tuple": ({"deep": [1, (2, float("nan"))]}, None),
    "lone surrogate": "\ud800",
    "surrogate key": {"\udfff": 1},
    "circular": circular(),
    "deep": deep(100_000),
}


@pytest.mark.parametrize("name", list(UNENCODABLE))
def test_json_unencodable_messages_raise_encode_error(codec: JsonCodec, name: str) -> None:
    with pytest.raises(EncodeError):
        codec.encode(UNENCODABLE[name], b"~")


# --------------------------------------------------------------------------- text


def test_text_decodes_utf8_and_rejects_bad_frames() -> None:
    codec = TextCodec()
    out = codec.decode_frames([b"hello", "é€😀".encode(), b"\xff", b"a\x00b", b" ", b"ok"])
    assert out[0] == "hello"
    assert out[1] == "é€😀"
    assert isinstance(out[2], DecodeError)
    assert out[2].frame == b"\xff"
    assert isinstance(out[2].__cause__, UnicodeDecodeError)
    assert isinstance(out[3], DecodeError)
    assert out[3].frame == b"a\x00b"
    assert "NUL" in str(out[3])
    assert out[4:] == [" ", "ok"]


def test_text_passes_protocol_errors_through() -> None:
    error = FrameTooLarge(3, 2)
    assert TextCodec().decode_frames([error, b"x"]) == [error, "x"]


def test_text_encode() -> None:
    codec = TextCodec()
    assert codec.encode("héllo", b"~") == "héllo".encode()
    assert codec.encode("a~b", None) == b"a~b"
    with pytest.raises(EncodeError, match="delimiter"):
        codec.encode("a~b", b"~")
    with pytest.raises(EncodeError, match="delimiter"):
        codec.encode("x§y", "§".encode())
    with pytest.raises(EncodeError, match="str"):
        codec.encode(b"bytes", b"~")
    with pytest.raises(EncodeError, match="str"):
        codec.encode({"a": 1}, b"~")
    with pytest.raises(EncodeError, match="UTF-8"):
        codec.encode("\ud800", b"~")
    # The text decoder rejects NUL, so the encoder refuses to send it.
    with pytest.raises(EncodeError, match="NUL"):
        codec.encode("a\x00b", b"~")
    # An empty frame is skipped by every receiver: sending it would lose the message.
    with pytest.raises(EncodeError, match="empty"):
        codec.encode("", b"~")


# --------------------------------------------------------------------------- bytes


def test_bytes_codec_passes_frames_through() -> None:
    codec = BytesCodec()
    error = PartialFrame(b"x")
    assert codec.decode_frames([b"\xff\x00", error, b"ok"]) == [b"\xff\x00", error, b"ok"]


def test_bytes_encode() -> None:
    codec = BytesCodec()
    assert codec.encode(b"\xff\x00", b"~") == b"\xff\x00"
    assert codec.encode(bytearray(b"ab"), b"~") == b"ab"
    assert codec.encode(memoryview(b"cd"), b"~") == b"cd"
    assert type(codec.encode(bytearray(b"ab"), b"~")) is bytes
    with pytest.raises(EncodeError, match="delimiter"):
        codec.encode(b"a\r\nb", b"\r\n")
    with pytest.raises(EncodeError, match="bytes"):
        codec.encode("text", b"~")
    with pytest.raises(EncodeError, match="empty"):
        codec.encode(b"", b"~")


# --------------------------------------------------------------------------- make_codec


def test_make_codec_names_and_objects() -> None:
    assert isinstance(make_codec("json"), JsonCodec)
    assert isinstance(make_codec("text"), TextCodec)
    assert isinstance(make_codec("bytes"), BytesCodec)
    own = JsonCodec(dumps=lambda m: "[]")
    assert make_codec(own) is own
    with pytest.raises(ValueError, match="unknown codec"):
        make_codec("yaml")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- one call per read


def count_frame_by_frame(codec: JsonCodec) -> list[int]:
    """Record the size of each frame-by-frame decoding ``codec`` does from now on."""
    calls: list[int] = []
    each = codec._decode_each

    def recording(items: list[FrameItem]) -> tuple[list[Any], int]:
        calls.append(len(items))
        return each(items)

    codec._decode_each = recording  # type: ignore[method-assign]
    return calls


#: Frame lists that no frame-by-frame decoder accepts, but that a careless batch
#: would: joined with "," they make an array with the right number of elements;
#: with a forged marker they even pass a check of where the markers are.
MERGING_FRAMES: dict[str, list[bytes]] = {
    "extra values balance a merge": [b"1,2,3", b"[3", b"4]"],
    "bare join count": [b"1,2", b"[3", b"4]", b"5"],
    "object merge": [b"1,2,3", b'{"a":[1', b"2]}"],
    "forged marker": [b'1,"\\u0000",2', b"[3", b"4]"],
    "forged markers twice": [b'1,"\\u0000",2,"\\u0000",3', b"[3", b"4]", b"[5", b"6]"],
    "string across frames": [b'"a', b'b",0', b"7"],
    "array closed early": [b"1]", b"[2"],
    "closed early with marker": [b'1],"\\u0000",[2', b"3]"],
    "forged tilde marker": [b'1,"\\u007e",2', b"[3", b"4]"],
    "forged tilde marker, upper case": [b'1,"\\u007E",2', b"[3", b"4]"],
    "closed early with tilde marker": [b'1],"\\u007e",[2', b"3]"],
    "both markers forged": [b'1,"\\u007e",2', b"[3", b"4]", b'5,"\\u0000",6', b"[7", b"8]"],
}


@pytest.mark.parametrize("name", list(MERGING_FRAMES))
@pytest.mark.parametrize("delimiter", [b"~", b"\r\n"], ids=repr)
def test_invalid_frames_never_merge_into_a_batch(
    codec: JsonCodec, name: str, delimiter: bytes
) -> None:
    frames = MERGING_FRAMES[name]
    good = [b'{"ok":1}', *frames, b"[0]"]
    want, errors = codec._decode_each(list(good))
    assert errors == sum(type(item) is DecodeError for item in want) >= 2
    assert (want[0], want[-1]) == ({"ok": 1}, [0])
    run = delimiter.join(good)
    for got in (codec.decode_counted(list(good)), codec.decode_run(run, delimiter)):
        assert got[1] == errors
        assert [type(i) for i in got[0]] == [type(i) for i in want]
        assert [getattr(i, "frame", i) for i in got[0]] == [getattr(i, "frame", i) for i in want]


@pytest.mark.parametrize("delimiter", [b"~", b"|", b";", b"!"], ids=repr)
@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["lower", "upper"])
def test_a_frame_cannot_forge_the_delimiter_marker(
    codec: JsonCodec, delimiter: bytes, case: Callable[[str], str]
) -> None:
    escape = case(f"{delimiter[0]:04x}")
    frames = [b"[0]", f'1,"\\u{escape}",2'.encode(), b"[3", b"4]", b"[5]"]
    want, errors = codec._decode_each(list(frames))
    assert errors == 3
    got, got_errors = codec.decode_run(delimiter.join(frames), delimiter)
    assert got_errors == errors
    assert [getattr(i, "frame", i) for i in got] == [getattr(i, "frame", i) for i in want]
    assert [type(i) for i in got] == [type(i) for i in want]


def test_a_run_is_joined_with_the_delimiters_own_marker_unless_it_could_forge_it() -> None:
    assert _run_marker(b'{"a":1}~[2]', b"~") == (b',"~",', "~")
    assert _run_marker(b'"\\u00e9"~[2]', b"~") == (b',"~",', "~")
    assert _run_marker(b'"\\u007e"~[2]', b"~") == (b',"\\u0000",', "\x00")
    assert _run_marker(b'"\\u007E"~"\\u0000"', b"~") is None
    assert _run_marker(b"[1]\r\n[2]", b"\r\n") == (b',"\\u0000",', "\x00")
    assert _run_marker(b"[1],[2]", b",") == (b',"\\u0000",', "\x00")  # "," is JSON


def test_valid_frames_are_decoded_with_one_parser_call(codec: JsonCodec) -> None:
    frames = [b'{"a":1}', b" [2] ", b'"\\u00e9\\u007e"', b"\n3", b'{"s":"\\"]}["}', b"null"]
    calls = count_frame_by_frame(codec)
    values = [{"a": 1}, [2], "é~", 3, {"s": '"]}['}, None]
    assert codec.decode_run(b"~".join(frames), b"~") == (values, 0)
    assert codec.decode_counted(list(frames)) == (values, 0)
    assert calls == []
    # Empty and blank frames are skipped: the batch refuses them, each frame alone does not.
    assert codec.decode_run(b"~[1]~~ ~[2]~", b"~") == ([[1], [2]], 0)
    assert calls == [3]


@pytest.mark.parametrize(
    "bad",
    [b"NaN", b"[Infinity]", b'"\xff"', b"\x00", b'"a\x00"', b"[" * 100_000, b"1" * 5000, b""],
    ids=repr,
)
def test_one_bad_frame_sends_the_batch_frame_by_frame(codec: JsonCodec, bad: bytes) -> None:
    frames = [b"[1]", bad, b"[2]"]
    got, errors = codec.decode_run(b"~".join(frames), b"~")
    assert got[0] == [1]
    assert got[-1] == [2]
    if bad:
        assert errors == 1
        assert type(got[1]) is DecodeError
        assert got[1].frame == bad


def test_nesting_at_the_decoder_limit_gets_the_result_it_gets_alone(codec: JsonCodec) -> None:
    # Inside the batch's array a frame is one level deeper: a frame at the limit
    # fails there and must then be decoded alone, where it succeeds.
    for depth in range(1000, 1030):
        frame = b"[" * depth + b"]" * depth
        want = codec._decode_each([frame, b"[1]"])
        got = codec.decode_run(frame + b"~[1]", b"~")
        assert [type(i) for i in got[0]] == [type(i) for i in want[0]], depth
        assert got[1] == want[1]


def test_text_codec_run_matches_frame_by_frame() -> None:
    codec = TextCodec()
    assert codec.decode_run("hello§é§§a b".encode(), "§".encode()) == (["hello", "é", "a b"], 0)
    for run, delimiter in [
        (b"a~b~~c", b"~"),
        (b"a~\xff~c", b"~"),
        (b"a~x\x00y~c", b"~"),
        ("é§ü§§x".encode(), "§".encode()),
        (b"~a\r\nb\r\n", b"\r\n"),
    ]:
        frames: list[FrameItem] = [f for f in run.split(delimiter) if f]
        want = codec.decode_counted(frames)
        got = codec.decode_run(run, delimiter)
        assert got[1] == want[1]
        assert [getattr(i, "frame", i) for i in got[0]] == [getattr(i, "frame", i) for i in want[0]]


#: Invalid frames as a hostile server might flood them; each is one frame.
FLOOD = [
    *(b"x", b"}", b"[", b"{", b'"', b"-", b"tru", b"[1,", b'{"a"', b"1x", b"NaN"),
    *(b"\x00", b"\xff", b" x", b"1 2"),
]


@pytest.mark.parametrize("frame", FLOOD, ids=repr)
def test_a_rejected_frame_is_parsed_at_most_once(codec: JsonCodec, frame: bytes) -> None:
    # The error is built from the first parse's exception (or without parsing, for
    # bytes that cannot be JSON): no second parse only to describe the failure.
    calls: list[bytes] = []
    loads = codec._loads

    def counting(data: Any) -> Any:
        calls.append(data)
        return loads(data)

    codec._loads = counting
    out, errors = codec._decode_each([frame] * 10)
    assert errors == 10
    assert all(type(e) is DecodeError and e.frame == frame for e in out)
    assert all(e.__cause__ is not None for e in out)
    # The standard library's path parses with scan_once, never with the full decoder.
    assert len(calls) <= (0 if codec._scan_once is not None else 10)


def _messages_with(delimiter: str) -> list[object]:
    """Messages that between them write every character JSON can write, and ``delimiter``."""
    every_ascii = "".join(map(chr, range(128)))
    return [
        {"a": [0, 1, -2.5, 1e100, 1.5e-7, True, False, None, {}, [], ""]},
        {"text": every_ascii, "more": "olá 😀 \u2028"},
        {every_ascii: delimiter, delimiter: [delimiter, "x" + delimiter + "y"]},
        [delimiter[0], delimiter[-1], "see you", "C:\\new", "-- 0x"],
    ]


@pytest.mark.parametrize("delimiter", ["~", "|", "§", "\n", "\r\n", "\x00", "é~", "xy", "\x1e"])
def test_a_delimiter_that_frames_every_message_does(delimiter: str) -> None:
    raw = delimiter.encode("utf-8")
    assert frames_every_message(raw)
    codec = JsonCodec()
    for message in _messages_with(delimiter):
        data = codec.encode(message, raw)
        assert raw not in data
        assert json.loads(data) == message


@pytest.mark.parametrize(
    "delimiter", ["}", ",", "1", "ee", "e", "\\n", "\\", " ~", " ", "0x", "-", "u", '"']
)
def test_a_delimiter_that_does_not_fails_on_some_message(delimiter: str) -> None:
    raw = delimiter.encode("utf-8")
    assert not frames_every_message(raw)
    codec = JsonCodec()
    failed = 0
    for message in _messages_with(delimiter):
        with contextlib.suppress(EncodeError):
            codec.encode(message, raw)
            continue
        failed += 1
    assert failed
