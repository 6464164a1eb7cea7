"""MsgspecCodec: one decoding pass into tagged Structs, validation errors as DecodeError. No I/O."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenclient.errors import DecodeError, EncodeError, FrameTooLarge
from greenclient.protocol import MessageProtocol
from greenclient.typed import MsgspecCodec

from .helpers import garbage_left_by


class Chat(msgspec.Struct, tag="chat", tag_field="type"):
    user: str
    text: str


class Move(msgspec.Struct, tag="move", tag_field="type"):
    player: str
    x: int
    y: int


class Reply(msgspec.Struct, tag="reply", tag_field="type"):
    correlation_id: str = msgspec.field(name="_correlation_id")
    echo: dict[str, Any] = msgspec.field(default_factory=dict)


class Score(msgspec.Struct, tag="score", tag_field="type"):
    points: float


Message = Chat | Move | Reply | Score


def codec() -> MsgspecCodec[Message]:
    return MsgspecCodec[Message](Message)


def test_tagged_union_picks_the_class() -> None:
    out = codec().decode_frames(
        [
            b'{"type":"chat","user":"ana","text":"ol\xc3\xa1 ~"}',
            b'{"type":"move","player":"bob","x":3,"y":-1}',
            b'{"type":"reply","_correlation_id":"p.1","echo":{"a":1}}',
        ]
    )
    assert out == [
        Chat("ana", "olá ~"),
        Move("bob", 3, -1),
        Reply(correlation_id="p.1", echo={"a": 1}),
    ]


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (b'{"type":"move","player":"bob","x":"3","y":1}', "Expected `int`, got `str` - at `$.x`"),
        (b'{"type":"dance"}', "Invalid value 'dance' - at `$.type`"),
        (b'{"player":"bob"}', "missing required field `type`"),
        (b'{"type":"chat","user":"ana"}', "missing required field `text`"),
        (b"[1,2]", "Expected `object`, got `array`"),
    ],
)
def test_validation_failure_is_a_decode_error_with_msgspec_words(frame: bytes, words: str) -> None:
    [error] = codec().decode_frames([frame])
    assert isinstance(error, DecodeError)
    assert str(error).startswith("message does not validate: ")
    assert words in str(error)
    assert error.frame == frame
    assert isinstance(error.__cause__, msgspec.ValidationError)


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (b'{"type":"chat",', "invalid JSON"),
        (b"NaN", "invalid JSON"),
        (b'{"type":"chat","user":"\xff","text":"x"}', "not valid UTF-8"),
        (b'{"type":"reply","_correlation_id":"x","echo":{"a":' + b"[" * 100_000, "too deeply"),
        (
            b'{"type":"reply","_correlation_id":"x","echo":{"a":'
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            "nested too deeply",
        ),
    ],
)
def test_bad_frames_are_decode_errors(frame: bytes, words: str) -> None:
    [error] = codec().decode_frames([frame])
    assert isinstance(error, DecodeError)
    assert words in str(error)
    assert error.frame == frame


def test_a_bad_frame_does_not_stop_the_next_and_errors_pass_through() -> None:
    too_large = FrameTooLarge(10, 5)
    out = codec().decode_frames(
        [b'{"type":"move"}', too_large, b"  ", b'{"type":"score","points":1.5}']
    )
    assert isinstance(out[0], DecodeError)
    assert out[1] is too_large
    assert out[2:] == [Score(1.5)]  # the whitespace-only frame is skipped, as with JSON


def test_through_the_protocol_split_at_every_position() -> None:
    stream = b'{"type":"chat","user":"\xe6\x9d\x8e","text":"a~b"}~{"type":"move"}~'
    stream = stream.replace(b"a~b", b"a\\u007eb")
    for cut in range(len(stream) + 1):
        protocol = MessageProtocol(codec=codec())
        out = protocol.receive_data(stream[:cut]) + protocol.receive_data(stream[cut:])
        assert out[0] == Chat("李", "a~b")
        assert isinstance(out[1], DecodeError)
        assert len(out) == 2


def test_encode_structs_and_dicts_with_the_delimiter_escaped() -> None:
    protocol = MessageProtocol(codec=codec())
    frame = protocol.encode(Chat("ana", "a ~ b"))
    assert frame == b'{"type":"chat","user":"ana","text":"a \\u007e b"}~'
    assert protocol.receive_data(frame) == [Chat("ana", "a ~ b")]
    assert protocol.encode({"type": "move", "x": 1}) == b'{"type":"move","x":1}~'


def test_encode_refuses_what_json_cannot_carry() -> None:
    c = codec()
    with pytest.raises(EncodeError, match="NaN"):
        c.encode(Score(float("nan")))
    with pytest.raises(EncodeError, match="NaN"):
        c.encode({"a": [float("inf")]})
    with pytest.raises(EncodeError):
        c.encode(object())
    assert c.encode({"a": None}) == b'{"a":null}'


def test_decode_one_frame() -> None:
    assert codec().decode(b'{"type":"score","points":2}') == Score(2.0)
    with pytest.raises(DecodeError):
        codec().decode(b'{"type":"score"}')
    with pytest.raises(DecodeError, match="blank"):
        codec().decode(b" ")


def test_read_field_by_wire_name() -> None:
    c = codec()
    reply = Reply(correlation_id="p.7")
    assert c.read_field(reply, "_correlation_id") == "p.7"
    assert c.read_field(reply, "correlation_id") is None  # the Python name is not the wire's
    assert c.read_field(reply, "type") == "reply"
    assert c.read_field(Chat("a", "b"), "_correlation_id") is None
    assert c.read_field({"_correlation_id": "x"}, "_correlation_id") == "x"
    assert c.read_field("text", "type") is None


def test_with_field_sets_or_adds_the_wire_field() -> None:
    c = codec()
    assert c.with_field(Reply(correlation_id="a"), "_correlation_id", "b") == Reply(
        correlation_id="b"
    )
    added = c.with_field(Chat("ana", "hi"), "_correlation_id", "p.1")
    assert added == {"type": "chat", "user": "ana", "text": "hi", "_correlation_id": "p.1"}
    assert c.with_field({"a": 1}, "_correlation_id", "p.2") == {"a": 1, "_correlation_id": "p.2"}
    with pytest.raises(EncodeError):
        c.with_field([1, 2], "_correlation_id", "p.3")


def test_plain_struct_type_and_non_strict_mode() -> None:
    loose = MsgspecCodec[Move](Move, strict=False)
    assert loose.decode(b'{"type":"move","player":"p","x":"3","y":1}') == Move("p", 3, 1)
    with pytest.raises(TypeError):
        MsgspecCodec(object())


# -- the decode-bound path: one call for the frames of a read ---------------------

FRAMES = [
    b'{"type":"chat","user":"ana","text":"ol\xc3\xa1"}',
    b'{"type":"move","player":"bob","x":3,"y":-1}',
    b' {"type":"score","points":2.5} ',
    b'{"type":"reply","_correlation_id":"p.1","echo":{"a":[1,{"b":null}]}}',
    b'{"type":"move","player":"bob","x":"3","y":1}',  # does not validate
    b'{"type":"dance"}',  # no such tag
    b'{"type":"chat",',  # invalid JSON
    b'"a string"',
    b"12",
    b"[1,2]",
    b"   ",
    b'{"type":"chat","user":"\\u0000","text":"x"}',  # the batch marker's text
    b'{"type":"chat","user":"a","text":"b"},{"type":"chat","user":"c","text":"d"}',
    b'{"type":"chat","user":"a","text":"b"}]',
    b'[{"type":"chat","user":"a","text":"b"}',
    b'"\\u0000"',
    b"\xff\xfe",
    b"NaN",
    b'{"type":"score","points":1e999}',
    b'{"type":"reply","_correlation_id":"x","echo":{"a":' + b"[" * 3000 + b"]" * 3000 + b"}}",
]


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal results: the same messages, and errors of the same kind and text in the same places."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, Exception) or isinstance(y, Exception):
            if type(x) is not type(y) or str(x) != str(y) or x.frame != y.frame:
                return False
        elif x != y:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAMES), max_size=12), st.sampled_from([b"~", b"\r\n", b"~~"]))
def test_decode_run_gives_what_frame_by_frame_gives(frames: list[bytes], delimiter: bytes) -> None:
    frames = [f for f in frames if delimiter not in f]
    c = codec()
    run = delimiter.join(frames)
    got, errors = c.decode_run(run, delimiter)
    want, want_errors = c.decode_counted([f for f in frames if f])
    assert same(got, want), (frames, got, want)
    assert errors == want_errors == sum(isinstance(x, DecodeError) for x in want)
    assert same(c.decode_frames([f for f in frames if f]), want)


def test_decode_run_takes_the_one_call_path_for_valid_frames() -> None:
    c = codec()
    calls = 0
    decode_many = c._decode_many
    assert decode_many is not None

    def counting(data: bytes) -> list[Any]:
        nonlocal calls
        calls += 1
        return decode_many(data)

    c._decode_many = counting
    run = b"~".join(FRAMES[:4] * 50)
    got, errors = c.decode_run(run, b"~")
    assert calls == 1
    assert errors == 0
    assert len(got) == 200
    assert got[:2] == [Chat("ana", "olá"), Move("bob", 3, -1)]


def test_through_the_protocol_in_any_chunking() -> None:
    stream = b"~".join(FRAMES[:8]) + b"~"
    whole = MessageProtocol(codec=codec()).receive_data(stream)
    for size in (1, 7, 64, len(stream)):
        protocol = MessageProtocol(codec=codec())
        out: list[Any] = []
        for i in range(0, len(stream), size):
            out += protocol.receive_data(stream[i : i + size])
        assert same(out, whole)
    assert sum(isinstance(x, DecodeError) for x in whole) == 4


def test_rejected_frames_leave_no_reference_cycles() -> None:
    proto = MessageProtocol(codec=codec())
    frames = [b'{"type":"chat","user":1,"text":"x"}', b"{bad}", b'"\xff"', b'{"type":"nope"}']
    rejected: list[int] = []

    def reject_each() -> None:
        for frame in frames:
            out = proto.receive_data(frame + b"~")
            rejected.append(sum(isinstance(item, DecodeError) for item in out))

    assert garbage_left_by(reject_each) == 0
    assert rejected == [1] * len(frames)


@dataclasses.dataclass
class Sample:
    value: float


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_encode_refuses_nan_inside_a_dataclass(bad: float) -> None:
    c = codec()
    for message in (Sample(bad), {"sample": Sample(bad)}, [Sample(1.0), Sample(bad)]):
        with pytest.raises(EncodeError, match="NaN"):
            c.encode(message)
    assert c.encode({"sample": Sample(0.5)}) == b'{"sample":{"value":0.5}}'


def test_encode_refuses_nan_inside_an_attrs_class() -> None:
    attrs = pytest.importorskip("attrs")

    @attrs.define
    class Point:
        x: float

    c = codec()
    with pytest.raises(EncodeError, match="NaN"):
        c.encode({"p": Point(float("nan"))})  # type: ignore[call-arg]
    assert c.encode(Point(2.0)) == b'{"x":2.0}'  # type: ignore[call-arg]
