"""Typed messages: a codec that decodes frames into msgspec Structs in one pass. No I/O.

Install the extra: ``pip install greenclient[typed]`` (it brings msgspec).
Declare one Struct per message type, tagged by the type field, and give the
codec their union::

    import msgspec
    from greenclient.typed import MsgspecCodec

    class Chat(msgspec.Struct, tag="chat", tag_field="type"):
        user: str
        text: str

    class Move(msgspec.Struct, tag="move", tag_field="type"):
        player: str
        x: int
        y: int

    Message = Chat | Move
    client = greenclient.GreenClient(host, port, codec=MsgspecCodec[Message](Message))

msgspec reads each frame once: it parses the JSON, picks the class from the
``type`` field (a tagged union) and checks every field's type as it goes. A
frame that is not JSON, or whose type field names no class, or whose fields do
not validate, becomes a :class:`~greenclient.errors.DecodeError` in the
frame's place, reported like any bad frame (``on_error``, ``stats``), with
msgspec's message in it (``Expected `int`, got `str` - at `$.x```) and the
msgspec exception as its ``__cause__``. The next frame decodes as usual.

Sending takes the Structs (and anything else msgspec encodes: dicts, lists...),
written as compact JSON with the delimiter escaped as the JSON codec does.

For request/reply, declare the reply with its correlation field renamed to the
wire name, e.g. ``correlation_id: str = msgspec.field(name="_correlation_id")``:
the codec reads and sets fields by their name on the wire.

A dataclass or an attrs class works too (``MsgspecCodec(Message)`` with one
such class; msgspec tags only Structs): handlers registered with ``on("...")``
and request/reply read its fields by name, e.g. a ``type`` field and a
``_correlation_id`` field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Final, Generic, Literal, TypeVar

import msgspec

from .codec import _SEPARATOR, JsonCodec, _forges_marker, _without_traceback
from .errors import DecodeError, EncodeError
from .framing import FrameItem

__all__ = ["MsgspecCodec"]

M = TypeVar("M")

_JSON_WHITESPACE: Final = b" \t\r\n"
#: What the JSON codec's batch separator decodes to (see ``JsonCodec.decode_run``).
_MARKER: Final = "\x00"
_MISSING: Final = object()


def _has_non_finite(value: Any) -> bool:
    """True when a NaN or infinity hides in ``value`` (msgspec would write it as null).

    Looks into what msgspec encodes as JSON containers: dicts, lists, tuples,
    sets, Structs, dataclasses and attrs classes.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, msgspec.Struct):
            stack.extend(getattr(item, name) for name in item.__struct_fields__)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, field.name) for field in dataclasses.fields(item))
        elif hasattr(type(item), "__attrs_attrs__"):  # an attrs class, which msgspec encodes too
            stack.extend(getattr(item, a.name) for a in type(item).__attrs_attrs__)
    return False


class MsgspecCodec(Generic[M]):
    """Frames are JSON texts decoded into instances of ``message_type`` by msgspec.

    Args:
        message_type: what every frame must decode to: a Struct class, a union
            of tagged Structs (the tag picks the class), or any type msgspec
            accepts. Write ``MsgspecCodec[A | B](A | B)`` so that type checkers
            know the messages' type: a client with this codec is a
            ``GreenClient[A | B]``, and ``get()`` returns ``A | B``.
        strict: msgspec's strict mode (the default): no coercion of ``"1"``
            into ``1``.

    Raises:
        TypeError: msgspec does not accept ``message_type``.
    """

    def __init__(self, message_type: Any, *, strict: bool = True):
        self.message_type = message_type
        self._decode: Callable[[bytes], M] = msgspec.json.Decoder(
            message_type, strict=strict
        ).decode
        # The frames of one read decoded in one call, as the JSON codec does: an
        # array of the frames with a marker string between each two.
        self._decode_many: Callable[[bytes], list[Any]] | None
        try:
            self._decode_many = msgspec.json.Decoder(
                list[message_type | Literal["\x00"]],
                strict=strict,
            ).decode
        except TypeError:  # a type msgspec cannot put in that union: frame by frame
            self._decode_many = None
        encoder = msgspec.json.Encoder()
        self._encode = encoder.encode

        def strict_encode(message: Any) -> bytes:
            data: bytes = self._encode(message)
            if b"null" in data and _has_non_finite(message):
                raise ValueError("NaN and infinity are not JSON")
            return data

        # The JSON codec's encode() maps errors to EncodeError and escapes the
        # delimiter inside strings; msgspec writes compact UTF-8 JSON like it.
        self._json = JsonCodec(dumps=strict_encode)
        self._readers: dict[type, dict[str, Callable[[Any], Any]]] = {}

    def decode_frames(self, items: list[FrameItem]) -> list[Any]:
        """Decode every frame into a message; a frame that fails becomes a DecodeError."""
        out: list[Any] = []
        append = out.append
        decode = self._decode
        for item in items:
            if type(item) is not bytes:
                append(item)
                continue
            try:
                append(decode(item))
            except Exception as exc:
                self._reject(item, exc, append)
        return out

    def decode_counted(self, items: list[FrameItem]) -> tuple[list[Any], int]:
        """Like :meth:`decode_frames`, and also say how many items are errors."""
        out: list[Any] = []
        append = out.append
        decode = self._decode
        errors = 0
        for item in items:
            if type(item) is not bytes:
                append(item)
                errors += 1
                continue
            try:
                append(decode(item))
            except Exception as exc:
                before = len(out)
                self._reject(item, exc, append)
                errors += len(out) - before
        return out, errors

    def decode_run(self, run: bytes, delimiter: bytes) -> tuple[list[Any], int]:
        """Decode the frames of ``run`` (frames joined by ``delimiter``) in one call if it can.

        The JSON codec's decode-bound path, with msgspec: the frames become
        one JSON array, each two separated by a marker that no frame can forge,
        and the result is taken only if the markers are exactly at the frame
        boundaries (then each frame was one value, decoded and validated as it
        would have been alone). Otherwise (a frame that is invalid, does not
        validate, is blank or empty) the frames are decoded one by one, each
        error in its place: the result is always that of :meth:`decode_counted`.

        Returns:
            The messages and errors, and how many of them are errors.
        """
        many = self._decode_many
        if many is not None and not _forges_marker(run):
            joined = run.replace(delimiter, _SEPARATOR)
            growth = len(_SEPARATOR) - len(delimiter)
            markers = (len(joined) - len(run)) // growth if growth else run.count(delimiter)
            try:
                values = many(b"".join((b"[", joined, b"]")))
            except Exception:  # let the frame-by-frame path find and report it
                values = None
            if (
                values is not None
                and len(values) == 2 * markers + 1
                and values[1::2] == [_MARKER] * markers
            ):
                return values[::2], 0
        return self.decode_counted([frame for frame in run.split(delimiter) if frame])

    def _reject(self, frame: bytes, exc: Exception, append: Callable[[Any], None]) -> None:
        if isinstance(exc, msgspec.ValidationError):
            error = DecodeError(f"message does not validate: {exc}", frame)
        elif isinstance(exc, UnicodeDecodeError):
            error = DecodeError(f"frame is not valid UTF-8: {exc}", frame)
        elif isinstance(exc, RecursionError):
            error = DecodeError("JSON nested too deeply for the decoder", frame)
        elif not frame.strip(_JSON_WHITESPACE):
            return  # a whitespace-only frame is no message, as with the JSON codec
        else:
            error = DecodeError(f"invalid JSON: {exc}", frame)
        error.__cause__ = _without_traceback(exc)
        append(error)

    def decode(self, frame: bytes) -> M:
        """Decode one frame.

        Raises:
            DecodeError: the frame is not JSON or does not validate.
        """
        result = self.decode_frames([frame])
        if not result:
            raise DecodeError("blank frame", frame)
        if isinstance(result[0], DecodeError):
            raise result[0]
        message: M = result[0]
        return message

    def encode(self, message: Any, forbidden: bytes | None = None) -> bytes:
        """Return compact JSON for ``message``; it never contains ``forbidden``.

        Raises:
            EncodeError: msgspec cannot encode it, it holds NaN or infinity, or
                the delimiter cannot be escaped.
        """
        return self._json.encode(message, forbidden)

    # -- fields by their name on the wire (for request/reply and handlers) ----------

    def _reader(self, cls: type, name: str) -> Callable[[Any], Any]:
        by_name = self._readers.get(cls)
        if by_name is None:
            by_name = self._readers[cls] = {}
        reader = by_name.get(name)
        if reader is None:
            reader = by_name[name] = _make_reader(cls, name)
        return reader

    def read_field(self, message: Any, name: str) -> Any:
        """Return the field of ``message`` called ``name`` on the wire, or None.

        For a Struct, the field encoded as ``name`` (renamed fields included),
        or its tag when ``name`` is its tag field; for a dataclass or an attrs
        instance, its field called ``name``; for a dict, ``message[name]``.
        """
        if type(message) is dict:
            return message.get(name)
        return self._reader(type(message), name)(message)

    def with_field(self, message: Any, name: str, value: Any) -> Any:
        """Return ``message`` with its field called ``name`` on the wire set to ``value``.

        A dict is copied with the key added; a Struct that has such a field is
        copied with it replaced; another Struct, a dataclass or an attrs
        instance becomes a dict of what msgspec encodes of it (a Struct's tag
        included) with the key added, which encodes the same way.

        Raises:
            EncodeError: the message does not encode as a JSON object.
        """
        if isinstance(message, dict):
            return {**message, name: value}
        if isinstance(message, msgspec.Struct):
            for info in msgspec.structs.fields(type(message)):
                if info.encode_name == name:
                    return msgspec.structs.replace(message, **{info.name: value})
        if not isinstance(message, (list, tuple, str, bytes, int, float)):
            try:
                builtins = msgspec.to_builtins(message)
            except (TypeError, ValueError):
                builtins = None
            if isinstance(builtins, dict):
                builtins[name] = value
                return builtins
        raise EncodeError(
            f"cannot add the field {name!r} to a {type(message).__name__}: send a dict, "
            "or a Struct, dataclass or attrs instance that encodes as a JSON object"
        )


def _make_reader(cls: type, name: str) -> Callable[[Any], Any]:
    """A function that reads the field ``name`` (its name on the wire) of a ``cls``."""
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
        config = cls.__struct_config__
        if config.tag_field == name:
            tag = config.tag
            return lambda message: tag
        for info in msgspec.structs.fields(cls):
            if info.encode_name == name:
                attribute = info.name
                return lambda message: getattr(message, attribute, None)
        return lambda message: None
    # A dataclass or an attrs class: msgspec reads and writes each field under its
    # own name (attrs' private fields, "_x", are read but not written).
    if dataclasses.is_dataclass(cls):
        names = {field.name for field in dataclasses.fields(cls)}
    else:
        names = {field.name for field in getattr(cls, "__attrs_attrs__", ())}
    if name in names:
        return lambda message: getattr(message, name, None)
    return lambda message: None
