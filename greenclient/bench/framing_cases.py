"""Section 1, framing in memory: the framers compared, and the harness that times them.

No eventlet, no greenclient: the plain process imports this module by file
path, and the green process (which adds greenclient's framer) imports it as
``greenclient.bench.framing_cases``. asyncio and Twisted are imported only by
the variants that use them.

A *variant* is ``run(chunks, decode, drain)``: it feeds every chunk of a stream,
in order, and after each chunk calls ``drain(frames)`` with the frames (or
decoded messages) completed so far; ``drain`` checks and empties that list, the
way a consumer takes messages as they come. Variants keep their own state
between chunks only, so one call is one stream.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import asyncio

    from greenclient.bench import common
elif __package__:
    from . import common
else:  # started by file path: this directory is sys.path[0]
    import common

__all__ = [
    "LARGE_CHUNK",
    "PLAIN_VARIANTS",
    "Drain",
    "Variant",
    "bytes_split",
    "lecture_loop",
    "run_large",
    "run_streams",
]

Drain = Callable[[list[Any]], None]
Variant = Callable[[list[bytes], bool, Drain], None]

LARGE_CHUNK: Final = 1024
#: Room for the largest frame of the benchmark in every framer that has a limit.
FRAME_LIMIT: Final = 64 << 20


def lecture_loop(chunks: list[bytes], decode: bool, drain: Drain) -> None:
    """The lecture's loop: decode each chunk, append to a str, then find/slice.

    It raises ``UnicodeDecodeError`` when a chunk ends inside a multi-byte
    character; the harness reports where instead of hiding it.
    """
    buffer = ""
    out: list[Any] = []
    append = out.append
    loads = json.loads
    for chunk in chunks:
        buffer += chunk.decode()
        while True:
            end = buffer.find("~")
            if end < 0:
                break
            frame = buffer[:end]
            buffer = buffer[end + 1 :]
            if decode:
                append(loads(frame))
            else:
                append(frame)
        drain(out)


def bytes_split(chunks: list[bytes], decode: bool, drain: Drain) -> None:
    """``bytes.split`` on each chunk, the unfinished frame kept as a list of pieces.

    The least work a delimiter framer in Python can do (no limits, no checks):
    the practical limit.
    """
    pending: list[bytes] = []
    loads = json.loads
    for chunk in chunks:
        parts = chunk.split(b"~")
        if len(parts) == 1:
            pending.append(chunk)
            drain([])
            continue
        if pending:
            pending.append(parts[0])
            parts[0] = b"".join(pending)
            pending = []
        last = parts.pop()
        if last:
            pending = [last]
        if decode:
            drain([loads(part.decode()) for part in parts])
        else:
            drain(parts)


_LOOP: asyncio.AbstractEventLoop | None = None


def asyncio_readuntil(chunks: list[bytes], decode: bool, drain: Drain) -> None:
    """asyncio ``StreamReader.readuntil`` in a consumer task, fed with ``feed_data``.

    One event loop is kept for the whole process so that its creation is not
    timed.
    """
    import asyncio  # noqa: PLC0415  (only this variant needs it)

    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    loop = _LOOP

    async def consume(reader: asyncio.StreamReader, out: list[Any]) -> None:
        readuntil = reader.readuntil
        loads = json.loads
        try:
            if decode:
                while True:
                    out.append(loads((await readuntil(b"~"))[:-1].decode()))
            else:
                while True:
                    out.append((await readuntil(b"~"))[:-1])
        except asyncio.IncompleteReadError:
            return

    async def produce() -> None:
        reader = asyncio.StreamReader(limit=FRAME_LIMIT)
        out: list[Any] = []
        task = loop.create_task(consume(reader, out))
        feed = reader.feed_data
        for chunk in chunks:
            feed(chunk)
            # The consumer was woken by feed_data and runs before we resume.
            await asyncio.sleep(0)
            drain(out)
        reader.feed_eof()
        await task
        drain(out)

    loop.run_until_complete(produce())


def twisted_line_only(chunks: list[bytes], decode: bool, drain: Drain) -> None:
    """Twisted's ``LineOnlyReceiver`` with ``delimiter = b"~"`` on an in-memory transport."""
    # Only this variant needs Twisted (from the bench extra).
    from twisted.internet.testing import StringTransport  # noqa: PLC0415
    from twisted.protocols.basic import LineOnlyReceiver  # noqa: PLC0415

    out: list[Any] = []
    append = out.append
    loads = json.loads

    class Frames(LineOnlyReceiver):
        delimiter = b"~"
        MAX_LENGTH = FRAME_LIMIT

        def lineReceived(self, line: bytes) -> None:  # Twisted names it so
            append(line)

    class Messages(Frames):
        def lineReceived(self, line: bytes) -> None:
            append(loads(line.decode()))

    receiver = Messages() if decode else Frames()
    receiver.makeConnection(StringTransport())  # type: ignore[no-untyped-call]
    data_received: Callable[[bytes], None] = receiver.dataReceived
    for chunk in chunks:
        data_received(chunk)
        drain(out)


#: name -> (variant, what it is); run in the plain process.
PLAIN_VARIANTS: Final[dict[str, tuple[Variant, str]]] = {
    "lecture loop": (lecture_loop, "buffer += chunk.decode(); find/slice"),
    "bytes.split": (bytes_split, "bytes.split per chunk (practical limit)"),
    "asyncio": (asyncio_readuntil, "StreamReader.readuntil fed with feed_data"),
    "twisted": (twisted_line_only, "LineOnlyReceiver, delimiter b'~'"),
}


class _Checker:
    """The drain: counts frames, checks the last of each batch, empties the list."""

    def __init__(self, expected: list[bytes], decode: bool):
        self.expected = expected
        self.decode = decode
        self.count = 0
        self.calls = 0
        self.bad = 0

    def drain(self, out: list[Any]) -> None:
        self.calls += 1
        if not out:
            return
        self.count += len(out)
        last = out[-1]
        if self.decode:
            if last["seq"] != self.count - 1:
                self.bad += 1
        elif self.count > len(self.expected):
            self.bad += 1
        else:
            want = self.expected[self.count - 1]
            if last != want and last != want.decode("utf-8", "replace"):
                self.bad += 1
        out.clear()


def _time_one(
    variant: Variant, chunks: list[bytes], decode: bool, expected: list[bytes], chunk_size: int
) -> dict[str, Any]:
    checker = _Checker(expected, decode)
    gc.collect()
    start = time.perf_counter()
    try:
        variant(chunks, decode, checker.drain)
    except UnicodeDecodeError as exc:
        # The chunk being fed is the one after the last drained.
        index = checker.calls
        return {
            "raised": f"UnicodeDecodeError: {exc.reason}",
            "at_chunk": index,
            "offset": index * chunk_size + exc.start,
            "frames_before": checker.count,
        }
    seconds = time.perf_counter() - start
    ok = checker.count == len(expected) and checker.bad == 0
    return {"seconds": seconds, "frames": checker.count, "ok": ok, "bad_batches": checker.bad}


def run_streams(
    variants: dict[str, tuple[Variant, str]],
    messages: int,
    order_seed: int,
    *,
    repeats: int = 5,
    budget: float = 2.0,
    kinds: Iterable[common.Kind] = ("ascii", "utf8"),
    chunk_sizes: Iterable[int] = (1024, 65536),
) -> list[dict[str, Any]]:
    """Time every variant on every (kind, chunk size, decode) stream.

    Within each configuration the variants take turns, in an order rotated by
    ``order_seed`` so that no variant always goes first; the rounds repeat up
    to ``repeats`` times while the configuration has used less than ``budget``
    seconds (one stream takes milliseconds without decoding, so single timings
    would be noise). A record holds the median of its variant's rounds.
    """
    names = list(variants)
    shift = order_seed % len(names)
    names = names[shift:] + names[:shift]
    records: list[dict[str, Any]] = []
    for kind in kinds:
        expected = [common.encode_message(seq, kind) for seq in range(messages)]
        data = b"~".join(expected) + b"~"
        for chunk_size in chunk_sizes:
            chunks = common.chunked(data, chunk_size)
            warm = chunks[: max(1, 16384 // chunk_size)]
            for decode in (False, True):
                rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
                for name in names:
                    # Warm up (imports, caches) on a short prefix, untimed.
                    _time_one(variants[name][0], warm, decode, expected, chunk_size)
                started = time.perf_counter()
                for _ in range(repeats):
                    for name in names:
                        if rounds[name] and "raised" in rounds[name][-1]:
                            continue  # it raises the same way every time
                        record = _time_one(variants[name][0], chunks, decode, expected, chunk_size)
                        rounds[name].append(record)
                    if time.perf_counter() - started > budget:
                        break
                for name in names:
                    timed = rounds[name]
                    seconds = [r["seconds"] for r in timed if "seconds" in r]
                    record = dict(timed[-1])
                    if seconds:
                        record["seconds"] = statistics.median(seconds)
                        record["rounds"] = seconds
                        record["ok"] = all(r.get("ok") for r in timed)
                    record.update(
                        variant=name,
                        kind=kind,
                        chunk=chunk_size,
                        decode=decode,
                        messages=messages,
                        bytes=len(data),
                    )
                    records.append(record)
    return records


def run_large(
    variants: dict[str, tuple[Variant, str]],
    sizes: list[int],
    target_bytes: int,
    cap_seconds: float,
) -> list[dict[str, Any]]:
    """Time one large frame arriving in 1 KiB chunks, per variant and size.

    Each measurement repeats the frame (a fresh framer each time) until about
    ``target_bytes`` went through or a second passed. A variant whose cost grows
    quadratically is skipped at a size where one pass is predicted to exceed
    ``cap_seconds`` (from the previous size, assuming quadratic growth); the
    record says so.
    """
    records: list[dict[str, Any]] = []
    for name, (variant, _) in variants.items():
        previous: tuple[int, float] | None = None
        for size in sorted(sizes):
            frame = common.large_frame(size)
            expected = [frame[:-1]]
            chunks = common.chunked(frame, LARGE_CHUNK)
            base = {"variant": name, "size": size, "chunk": LARGE_CHUNK}
            if previous is not None:
                predicted = previous[1] * (size / previous[0]) ** 2
                if predicted > cap_seconds:
                    records.append(
                        {
                            **base,
                            "skipped": f"one pass predicted at {predicted:.1f} s assuming "
                            f"quadratic growth (cap {cap_seconds:g} s)",
                        }
                    )
                    continue
            _time_one(variant, chunks[:8], False, expected, LARGE_CHUNK)
            reps = max(1, target_bytes // size)
            total = 0.0
            done = 0
            ok = True
            for _ in range(reps):
                record = _time_one(variant, chunks, False, expected, LARGE_CHUNK)
                ok = ok and bool(record.get("ok"))
                total += record.get("seconds", 0.0)
                done += 1
                if total > 1.0:
                    break
            per_pass = total / done
            previous = (size, per_pass)
            records.append(
                {
                    **base,
                    "seconds": per_pass,
                    "passes": done,
                    "ok": ok,
                    "ns_per_byte": per_pass / size * 1e9,
                }
            )
    return records
