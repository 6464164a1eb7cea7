"""Coverage-guided fuzzing of greenclient's framers and codecs with atheris.

Not run in CI. To run it for a minute::

    pip install atheris
    python3 scripts/fuzz_framers.py -max_total_time=60

Any libFuzzer option works (``-runs=N``, ``-jobs=4``, a corpus directory). Each input
picks a framing, a codec, a delimiter, a ``max_frame_size`` and cut points, and the
rest of it is the received stream. The invariant, the same as tests/test_fuzz.py:

* nothing raises: every item is a message of the codec's type or a documented
  ``ProtocolError`` (FrameTooLarge, DecodeError, PartialFrame, JSONStreamError);
* the stream cut at the chosen points gives the same items as the whole stream;
* after the garbage a known good frame still decodes: after a reset (end of
  stream) for every framing, and after a delimiter for delimiter framing;
* every decoded message re-encodes (or is refused with EncodeError) and decodes
  back to itself;
* the protocol (which decodes all the frames of a read with one parser call when
  it can) gives exactly what decoding frame by frame gives, errors included.

A failure is reported by atheris with the input that caused it (``crash-*`` file).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

FRAMINGS = ("delimiter", "json", "length")
CODECS = ("json", "orjson", "text", "bytes")
DELIMITERS = ("~", "\r\n", "~~", "§", "\n", "b")
#: Delimiters with no border (no proper prefix equal to a suffix): after any garbage,
#: one of them followed by a frame ends whatever the garbage had begun.
RESYNC_DELIMITERS = ("~", "\r\n", "§", "\n", "b")
LIMITS = (1, 2, 3, 8, 32, 1 << 20)
GOOD_JSON = b'{"ok":1}'


def _normalise(items: list[Any], errors: Any) -> list[Any]:
    """Comparable items: FrameTooLarge.size is "at least" and depends on the cuts."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, errors.FrameTooLarge):
            out.append(("FrameTooLarge", item.limit))
        elif isinstance(item, errors.JSONStreamError):
            out.append(("JSONStreamError", item.skipped, item.sample))
        elif isinstance(item, (errors.PartialFrame, errors.DecodeError)):
            out.append((type(item).__name__, item.frame))
        else:
            out.append(item)
    return out


def _strict(items: list[Any]) -> list[Any]:
    """Items compared exactly: messages by repr (1, 1.0 and True differ), errors in full."""
    return [
        (type(i).__name__, getattr(i, "frame", None), str(i))
        if isinstance(i, Exception)
        else ("message", repr(i))
        for i in items
    ]


def _make_checker(greenclient: Any) -> Callable[[bytes], None]:
    """Return the function atheris calls with each input."""
    import atheris

    errors = greenclient.errors
    documented = (
        errors.FrameTooLarge,
        errors.DecodeError,
        errors.PartialFrame,
        errors.JSONStreamError,
    )
    json_types = (dict, list, str, int, float, bool, type(None))
    try:
        orjson_codec = greenclient.codec.JsonCodec.orjson()
        codecs: tuple[str, ...] = CODECS
    except ImportError:  # orjson is optional: fuzz the other codecs
        orjson_codec = None
        codecs = tuple(c for c in CODECS if c != "orjson")

    def new_protocol(framing: str, codec: str, delimiter: str, limit: int) -> Any:
        chosen = orjson_codec if codec == "orjson" else codec
        return greenclient.protocol.MessageProtocol(
            framing=framing, codec=chosen, delimiter=delimiter, max_frame_size=limit
        )

    def receive(protocol: Any, pieces: list[bytes]) -> list[Any]:
        out: list[Any] = []
        for piece in pieces:
            out += protocol.receive_data(piece)
        out += protocol.receive_eof()
        return out

    def check(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        framing = FRAMINGS[fdp.ConsumeIntInRange(0, len(FRAMINGS) - 1)]
        codec = codecs[fdp.ConsumeIntInRange(0, len(codecs) - 1)]
        delimiter = DELIMITERS[fdp.ConsumeIntInRange(0, len(DELIMITERS) - 1)]
        limit = LIMITS[fdp.ConsumeIntInRange(0, len(LIMITS) - 1)]
        points = [fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 8))]
        stream = fdp.ConsumeBytes(fdp.remaining_bytes())

        marks = sorted({min(p, len(stream)) for p in points} | {0, len(stream)})
        pieces = [stream[a:b] for a, b in itertools.pairwise(marks)]
        kinds = {"text": (str,), "bytes": (bytes,)}.get(codec, json_types)

        whole = receive(new_protocol(framing, codec, delimiter, limit), [stream])
        chunked = receive(new_protocol(framing, codec, delimiter, limit), pieces)
        for item in chunked:
            if isinstance(item, errors.ProtocolError):
                assert isinstance(item, documented), repr(item)
            else:
                assert isinstance(item, kinds), repr(item)
        assert _normalise(chunked, errors) == _normalise(whole, errors), (pieces, whole, chunked)

        # One parser call per read gives what frame-by-frame decoding gives.
        reference = new_protocol(framing, codec, delimiter, limit)
        each = getattr(reference.codec, "_decode_each", None) or reference.codec.decode_counted
        expected: list[Any] = []
        for piece in pieces:
            expected += each(reference.framer.feed(piece))[0]
        expected += reference.receive_eof()
        assert _strict(chunked) == _strict(expected), (pieces, chunked, expected)

        # A known good frame after the garbage.
        if framing == "json" or codec not in ("text", "bytes"):
            payload = GOOD_JSON
            message: Any = {"ok": 1}
            if framing == "json" and codec in ("text", "bytes"):
                message = GOOD_JSON.decode() if codec == "text" else GOOD_JSON
        else:
            payload = b"ok"
            message = "ok" if codec == "text" else b"ok"
        proto = new_protocol(framing, codec, delimiter, max(limit, 16))
        for piece in pieces:
            proto.receive_data(piece)
        if framing == "delimiter" and delimiter in RESYNC_DELIMITERS:
            d = delimiter.encode()
            out = proto.receive_data(d + payload + d)
            assert out, stream
            assert out[-1] == message, (stream, out)
        proto.receive_eof()
        assert proto.receive_data(proto.framer.frame(payload)) == [message]
        assert proto.receive_eof() == []

        # What was decoded re-encodes to itself, or is refused with EncodeError.
        for item in chunked:
            if isinstance(item, errors.ProtocolError):
                continue
            sender = new_protocol(framing, codec, delimiter, 1 << 20)
            try:
                frame = sender.encode(item)
            except errors.EncodeError:
                continue
            back = receive(new_protocol(framing, codec, delimiter, 1 << 20), [frame])
            assert back == [item], (item, frame, back)

    return check


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer; ``argv`` holds libFuzzer options such as ``-max_total_time=60``."""
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    with atheris.instrument_imports(include=["greenclient"]):
        import greenclient.codec
        import greenclient.errors
        import greenclient.framing
        import greenclient.protocol
    args = sys.argv[:1] + (sys.argv[1:] if argv is None else list(argv))
    atheris.Setup(args, _make_checker(greenclient))
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
