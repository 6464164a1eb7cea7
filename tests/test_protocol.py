"""MessageProtocol (framer + codec), without sockets: bad input is reported with the
documented error class and the next good message still decodes; every split of a
stream gives the same messages; encoding round-trips through every framing."""

from __future__ import annotations

from typing import Any

import pytest

from greenclient.codec import BytesCodec, TextCodec
from greenclient.errors import (
    DecodeError,
    EncodeError,
    FrameTooLarge,
    JSONStreamError,
    PartialFrame,
    ProtocolError,
)
from greenclient.framing import DelimiterFramer, JSONStreamFramer
from greenclient.protocol import MessageProtocol, delimiter_bytes

from .helpers import garbage_left_by, receive
from .test_codec import JSON_CODEC_NAMES, json_codec
from .test_framing import chunkings


def cuts(data: bytes) -> list[list[bytes]]:
    """A few cuttings for long streams: whole, 1-byte, 7-byte and 4 KiB pieces."""
    out = [[data]]
    for size in (1, 7, 4096):
        if len(data) // size <= 300_000:
            out.append([data[i : i + size] for i in range(0, len(data), size)])
    return out


# --------------------------------------------------------------------------- bad input

#: Frames each rejected with DecodeError by the JSON codec, whatever the framing.
BAD_FRAMES: dict[str, bytes] = {
    "invalid json": b'{"a":,}',
    "invalid utf-8": b'{"a":"\xff\xfe\xfd"}',
    "nul byte": b'{"a":"x\x00y"}',
    "nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "objects nested 100000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "huge integer": b'{"n":' + b"7" * 5000 + b"}",
    "NaN": b'{"n":NaN}',
}


@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
@pytest.mark.parametrize("framing", ["delimiter", "length", "json"])
@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_frame_is_a_decode_error_and_the_next_message_arrives(
    codec: str, framing: str, name: str
) -> None:
    bad = BAD_FRAMES[name]
    proto = MessageProtocol(framing=framing, codec=json_codec(codec))  # type: ignore[arg-type]
    raw_frame = proto.framer.frame(bad)
    stream = proto.encode({"before": 1}) + raw_frame + proto.encode({"after": "é"})
    for pieces in cuts(stream):
        out = receive(MessageProtocol(framing=framing, codec=json_codec(codec)), pieces)  # type: ignore[arg-type]
        assert len(out) == 3, (name, framing, [type(o) for o in out])
        assert out[0] == {"before": 1}
        assert type(out[1]) is DecodeError
        assert out[1].frame == bad
        assert out[2] == {"after": "é"}


@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
def test_deep_nesting_never_escapes_as_recursion_error(codec: str) -> None:
    proto = MessageProtocol(codec=json_codec(codec))
    for frame in (b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":[' * 60_000):
        out = proto.receive_data(frame + b"~[1]~")
        assert isinstance(out[0], DecodeError)
        assert out[1] == [1]


@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
def test_nul_bytes_between_frames_and_alone(codec: str) -> None:
    proto = MessageProtocol(codec=json_codec(codec))
    out = receive(proto, [b"\x00~[1]~\x00\x00\x00~[2]~"])
    assert [type(o) for o in out] == [DecodeError, list, DecodeError, list]
    assert out[2].frame == b"\x00\x00\x00"
    assert out[1::2] == [[1], [2]]


def test_json_stream_bad_input_documented_classes() -> None:
    proto = MessageProtocol(framing="json")
    stream = b'{"a":1}\x00\x00{"b":}{"c":"\xff"}' + b"9" * 5000 + b' [5] :: "s" {"d":4}'
    for pieces in cuts(stream):
        out = receive(MessageProtocol(framing="json"), pieces)
        assert [type(o).__name__ for o in out] == [
            "dict",
            "JSONStreamError",  # the two NULs: cannot start a value
            "DecodeError",  # balanced brackets, invalid content
            "DecodeError",  # invalid UTF-8 inside a string
            "DecodeError",  # 5000-digit integer
            "list",
            "JSONStreamError",  # ':: "s" ' skipped up to the next {
            "dict",
        ]
        assert out[1].skipped == 2
        assert out[6].skipped == len(b':: "s" ')
        assert (out[0], out[5], out[7]) == ({"a": 1}, [5], {"d": 4})
    assert proto.receive_data(b"") == []


@pytest.mark.parametrize("framing", ["delimiter", "json", "length"])
def test_frame_over_max_frame_size_then_next_message(framing: str) -> None:
    proto = MessageProtocol(framing=framing, max_frame_size=64)  # type: ignore[arg-type]
    big = proto.encode({"x": "y" * 100})
    small = proto.encode({"ok": True})
    for pieces in cuts(small + big + small):
        out = receive(MessageProtocol(framing=framing, max_frame_size=64), pieces)  # type: ignore[arg-type]
        assert [type(o) for o in out] == [dict, FrameTooLarge, dict]
        assert out[1].limit == 64


# --------------------------------------------------------------------------- end of stream


@pytest.mark.parametrize("framing", ["delimiter", "json", "length"])
def test_partial_frame_at_eof_is_reported_with_its_bytes(framing: str) -> None:
    proto = MessageProtocol(framing=framing)  # type: ignore[arg-type]
    whole = proto.encode({"a": 1})
    cut = proto.encode({"cut": "short"})[:-3]
    for pieces in chunkings(whole + cut, pairs_up_to=0):
        out = receive(MessageProtocol(framing=framing), pieces)  # type: ignore[arg-type]
        assert out[0] == {"a": 1}
        assert len(out) == 2
        assert type(out[1]) is PartialFrame
        assert out[1].frame == cut


def test_protocol_is_ready_for_a_new_stream_after_eof() -> None:
    proto = MessageProtocol(delimiter="\r\n")
    assert proto.receive_data(b'{"a":1}\r\n{"b"') == [{"a": 1}]
    (partial,) = proto.receive_eof()
    assert isinstance(partial, PartialFrame)
    assert proto.receive_eof() == []
    assert proto.receive_data(b'{"c":3}\r\n') == [{"c": 3}]


@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
@pytest.mark.parametrize("delimiter", ["~", "\r\n", "§"])
def test_json_whitespace_only_frames_skipped_also_at_eof(codec: str, delimiter: str) -> None:
    d = delimiter.encode()
    stream = b"\n" + d + b'{"a":1}' + d + b"\n" + d + b" \t\r\n" + d + b"[2]" + d + b"\n"
    for pieces in chunkings(stream, pairs_up_to=0):
        out = receive(MessageProtocol(codec=json_codec(codec), delimiter=delimiter), pieces)
        assert out == [{"a": 1}, [2]]


def test_trailing_whitespace_at_eof_is_a_partial_frame_for_text() -> None:
    # Only the JSON codec treats whitespace as "no frame"; a text frame may be " ".
    out = receive(MessageProtocol(codec="text"), [b"a~\n"])
    assert out[0] == "a"
    assert isinstance(out[1], PartialFrame)
    assert out[1].frame == b"\n"


def test_json_codec_partial_frame_with_content_is_still_reported() -> None:
    out = receive(MessageProtocol(), [b'[1]~\n {"a"'])
    assert out[0] == [1]
    assert isinstance(out[1], PartialFrame)
    assert out[1].frame == b'\n {"a"'


# --------------------------------------------------------------------------- splits


@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
@pytest.mark.parametrize("delimiter", ["~", "§", "~~", "\r\n"])
def test_multibyte_utf8_split_across_pieces_arrives_intact(codec: str, delimiter: str) -> None:
    messages: list[Any] = [{"t": "é€😀"}, "§~😀", ["\u0800\uffff\U0010ffff"]]
    sender = MessageProtocol(codec=json_codec(codec), delimiter=delimiter)
    stream = b"".join(sender.encode(m) for m in messages)
    assert len(stream) < 80
    tried = 0
    for pieces in chunkings(stream, pairs_up_to=40):
        out = receive(MessageProtocol(codec=json_codec(codec), delimiter=delimiter), pieces)
        assert out == messages, pieces
        tried += 1
    assert tried > len(stream)


def test_text_codec_split_every_position() -> None:
    sender = MessageProtocol(codec="text", delimiter="§")
    messages = ["héllo", "wörld 😀", "~"]
    stream = b"".join(sender.encode(m) for m in messages)
    for pieces in chunkings(stream, pairs_up_to=0):
        assert receive(MessageProtocol(codec="text", delimiter="§"), pieces) == messages


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("framing", ["delimiter", "json", "length"])
@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
def test_round_trip_every_framing(framing: str, codec: str) -> None:
    messages: list[Any] = [
        {"action": "move", "x": 1},
        {"s": '~ § 😀 "}{\\'},
        [1, 2.5, None, True, False],
        "string",
        7,
        -3,
        True,
        None,
        {},
        [],
    ]
    sender = MessageProtocol(framing=framing, codec=json_codec(codec))  # type: ignore[arg-type]
    stream = b"".join(sender.encode(m) for m in messages)
    for pieces in chunkings(stream, pairs_up_to=0):
        out = receive(MessageProtocol(framing=framing, codec=json_codec(codec)), pieces)  # type: ignore[arg-type]
        assert out == messages


def test_encode_escapes_tilde_in_strings() -> None:
    proto = MessageProtocol()
    data = proto.encode({"t": "a~b"})
    assert data == b'{"t":"a\\u007eb"}~'
    assert proto.receive_data(data) == [{"t": "a~b"}]


def test_encode_errors_propagate() -> None:
    with pytest.raises(EncodeError):
        MessageProtocol().encode({"x": object()})
    with pytest.raises(EncodeError):
        MessageProtocol(codec="text").encode("a~b")
    with pytest.raises(EncodeError, match="run into the delimiter"):
        MessageProtocol(codec="text", delimiter="~~").encode("ends with ~")
    with pytest.raises(EncodeError):
        MessageProtocol(delimiter="}").encode({"a": 1})
    with pytest.raises(EncodeError):
        MessageProtocol(codec="bytes").encode(b"")


def test_bytes_codec_over_length_framing_carries_anything() -> None:
    proto = MessageProtocol(framing="length", codec="bytes")
    payloads = [b"~", b"\x00\xff", b"\r\n" * 3]
    stream = b"".join(proto.encode(p) for p in payloads)
    for pieces in chunkings(stream):
        assert receive(MessageProtocol(framing="length", codec="bytes"), pieces) == payloads


def test_custom_framer_and_codec_objects() -> None:
    framer = DelimiterFramer(b"|", 10)
    codec = TextCodec()
    proto = MessageProtocol(framing=framer, codec=codec)
    assert proto.framer is framer
    assert proto.codec is codec
    assert proto.receive_data(b"a|bb|") == ["a", "bb"]
    assert isinstance(MessageProtocol(framing="json").framer, JSONStreamFramer)
    assert isinstance(MessageProtocol(codec="bytes").codec, BytesCodec)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        MessageProtocol(delimiter="")
    with pytest.raises(ValueError, match="unknown framing"):
        MessageProtocol(framing="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown codec"):
        MessageProtocol(codec="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_frame_size"):
        MessageProtocol(max_frame_size=0)


def test_delimiter_bytes() -> None:
    assert delimiter_bytes("~") == b"~"
    assert delimiter_bytes("§") == b"\xc2\xa7"
    assert delimiter_bytes(b"\r\n") == b"\r\n"
    assert delimiter_bytes(bytearray(b"x")) == b"x"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one byte"):
        delimiter_bytes(b"")


def test_every_reported_error_is_a_protocol_error() -> None:
    out = receive(
        MessageProtocol(framing="json", max_frame_size=8),
        [b'::{"a":[1,2,3,4,5]}{"b":}{"c"'],
    )
    assert [type(o) for o in out] == [JSONStreamError, FrameTooLarge, DecodeError, PartialFrame]
    assert all(isinstance(o, ProtocolError) for o in out)


# --------------------------------------------------------------------------- counters


def wire_size(framing: str, frame: bytes, delimiter: bytes = b"~") -> int:
    """The bytes one frame takes on the wire, delimiter or header included."""
    return len(frame) + {"delimiter": len(delimiter), "length": 4, "json": 0}[framing]


@pytest.mark.parametrize("codec", JSON_CODEC_NAMES)
@pytest.mark.parametrize("framing", ["delimiter", "json", "length"])
def test_counters_at_every_split(codec: str, framing: str) -> None:
    # Good and bad frames, no whitespace or empty frames between them: frame_bytes is
    # then exactly the wire size of the frames returned so far, and rejected the
    # number of errors returned so far, after every call, however the stream is cut.
    payloads = [b'{"a":1}', b"[1,]", b'"\xff"', b"[2]", b'{"b":NaN}', b'"s"']
    sender = MessageProtocol(framing=framing)  # type: ignore[arg-type]
    stream = b"".join(sender.framer.frame(p) for p in payloads)
    expected_rejected = 3
    for pieces in chunkings(stream, pairs_up_to=0):
        proto = MessageProtocol(framing=framing, codec=json_codec(codec))  # type: ignore[arg-type]
        returned = 0
        errors = 0
        for piece in pieces:
            before = proto.rejected
            out = proto.receive_data(piece)
            new_errors = [o for o in out if isinstance(o, ProtocolError)]
            errors += len(new_errors)
            assert proto.rejected == errors
            assert (proto.rejected == before) == (not new_errors)
            returned += len(out)
        if framing == "json":
            # The final '"s"' is complete at once; nothing is left over.
            assert proto.receive_eof() == []
        assert returned == len(payloads)
        assert proto.rejected == expected_rejected
        assert proto.frame_bytes == len(stream)


@pytest.mark.parametrize("delimiter", [b"~", b"\r\n", b"~~"], ids=repr)
def test_frame_bytes_is_the_wire_size_of_frames_handed_out_every_split(delimiter: bytes) -> None:
    frames = [b'{"a":1}', b"nope", b"[1,2]", b'"x"']
    stream = b"".join(f + delimiter for f in frames) + b'{"partial'
    for pieces in chunkings(stream, pairs_up_to=0):
        proto = MessageProtocol(delimiter=delimiter)
        seen = b""
        handed = 0
        for piece in pieces:
            out = proto.receive_data(piece)
            seen += piece
            handed += len(out)
            # Every frame whose delimiter has arrived has been handed out, and counted
            # with its delimiter; the bytes of the unfinished one are not counted yet.
            complete = seen.split(delimiter)[:-1]
            assert handed == len(complete)
            assert proto.frame_bytes == sum(wire_size("delimiter", f, delimiter) for f in complete)
        assert proto.rejected == 1
        (partial,) = proto.receive_eof()
        assert isinstance(partial, PartialFrame)
        assert proto.rejected == 2
        assert proto.frame_bytes == len(stream)


def test_counters_are_cumulative_across_streams_and_count_skipped_bytes() -> None:
    proto = MessageProtocol(max_frame_size=4)
    assert (proto.frame_bytes, proto.rejected) == (0, 0)
    assert proto.receive_data(b"~~[1]~  ~") == [[1]]
    assert (proto.frame_bytes, proto.rejected) == (9, 0)
    out = proto.receive_data(b"[1,2,3]")  # too large: reported, its bytes dropped
    assert [type(o) for o in out] == [FrameTooLarge]
    assert (proto.frame_bytes, proto.rejected) == (16, 1)
    assert proto.receive_data(b"4]~[5]") == []
    assert (proto.frame_bytes, proto.rejected) == (19, 1)
    (partial,) = proto.receive_eof()
    assert partial.frame == b"[5]"
    assert (proto.frame_bytes, proto.rejected) == (22, 2)
    # A new stream (a reconnection) adds to the counts.
    assert proto.receive_data(b"x~") != []
    assert (proto.frame_bytes, proto.rejected) == (24, 3)


@pytest.mark.parametrize("codec", ["text", "bytes"])
def test_counters_with_text_and_bytes_codecs(codec: str) -> None:
    proto = MessageProtocol(codec=codec, max_frame_size=3)  # type: ignore[arg-type]
    out = proto.receive_data(b"ab~\xff\x00~toolong~c")
    assert len(out) == 3
    assert proto.rejected == (2 if codec == "text" else 1)
    assert proto.frame_bytes == len(b"ab~\xff\x00~toolong~")
    assert proto.receive_data(b"~") in (["c"], [b"c"])
    assert proto.rejected == (2 if codec == "text" else 1)
    assert proto.frame_bytes == len(b"ab~\xff\x00~toolong~c~")


def test_counters_with_custom_framer_and_codec() -> None:
    class Lines:
        """A framer without ``buffered``: frame_bytes sums the frames it returns."""

        forbidden: bytes | None = b"\n"

        def __init__(self) -> None:
            self.pending = b""

        def feed(self, data: bytes) -> list[Any]:
            *frames, self.pending = (self.pending + data).split(b"\n")
            return [f if f != b"bad" else DecodeError("bad", f) for f in frames]

        def feed_eof(self) -> list[Any]:
            return []

        def frame(self, payload: bytes) -> bytes:
            return payload + b"\n"

    class Upper:
        """A codec without ``decode_counted``: rejected counts errors in its output."""

        def decode_frames(self, items: list[Any]) -> list[Any]:
            return [i.upper() if isinstance(i, bytes) else i for i in items]

        def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
            return bytes(message)

    proto = MessageProtocol(framing=Lines(), codec=Upper())
    out = proto.receive_data(b"ab\nbad\ncd\nef")
    assert out[0] == b"AB"
    assert isinstance(out[1], DecodeError)
    assert out[2] == b"CD"
    assert proto.rejected == 1
    assert proto.frame_bytes == 4  # "ab" and "cd": the custom framer's own frames


def test_receive_data_takes_any_bytes_like_object() -> None:
    proto = MessageProtocol()
    data = bytearray(b'{"a":1}~[2]~{"b"')
    assert proto.receive_data(data) == [{"a": 1}, [2]]
    assert proto.receive_data(memoryview(b':3}~"x"~')[:5]) == [{"b": 3}]
    assert proto.frame_bytes == len(b'{"a":1}~[2]~{"b":3}~')


@pytest.mark.parametrize("codec", [*JSON_CODEC_NAMES, "text"])
def test_rejected_frames_leave_no_reference_cycles(codec: str) -> None:
    # A rejected frame's error keeps the parser's exception as its cause; the
    # exception's traceback would tie the error to the decoding loop's frame: a
    # cycle per rejected frame, for the cyclic collector to find (long pauses
    # under a flood of invalid frames).
    if codec == "text":
        frames = [b"\xff\xfe", b"ok\xc3"]
        proto = MessageProtocol(codec="text")
    else:
        frames = list(BAD_FRAMES.values())
        proto = MessageProtocol(codec=json_codec(codec))
    rejected: list[int] = []

    def reject_each() -> None:
        for frame in frames:
            out = proto.receive_data(frame + b"~")
            rejected.append(sum(isinstance(item, DecodeError) for item in out))
        out = proto.receive_data(b"~".join(frames) + b"~")  # all in one read
        rejected.append(sum(isinstance(item, DecodeError) for item in out))

    assert garbage_left_by(reject_each) == 0
    assert rejected == [1] * len(frames) + [len(frames)]
