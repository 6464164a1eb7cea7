"""The pyperf script of the framing section: ``python -m bench.sections.framing_cases``.

Started by :mod:`bench.sections.framing` (which reads its results); pyperf
starts it again for each worker process. Each case is built in the worker that
times it (the parent never imports greenclient) and checked once before timing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench import common
from bench.sections.framing import CASES, FRAME_LIMIT, KIB, MIB

# -- the cases (in pyperf's worker processes) ----------------------------------------


def _split_frames(chunks: list[bytes]) -> Callable[[], list[list[bytes]]]:
    def run() -> list[list[bytes]]:
        out = []
        pending = b""
        for chunk in chunks:
            frames = (pending + chunk if pending else chunk).split(b"~")
            pending = frames.pop()
            out.append(frames)
        return out

    return run


def _case(name: str, messages: int) -> tuple[Callable[[], int], int]:
    """Build case ``name``: a function that runs it once and returns its frame count."""
    greenclient = common.import_greenclient()
    chunk_size = CASES[name][0]
    if name.startswith("large"):
        size = 256 * KIB if "256" in name else 4 * MIB
        data = common.large_frame(size)
        expected = 1
    else:
        data = common.stream(messages, "ascii")
        expected = messages
    chunks = common.chunked(data, chunk_size)

    def split(drop_empty: bool) -> Callable[[], int]:
        """bytes.split per chunk, the unfinished frame kept aside (and empty frames dropped)."""

        def run() -> int:
            count = 0
            pending: list[bytes] = []
            for chunk in chunks:
                parts = chunk.split(b"~")
                if len(parts) == 1:
                    pending.append(chunk)
                    continue
                if pending:
                    pending.append(parts[0])
                    parts[0] = b"".join(pending)
                    pending = []
                last = parts.pop()
                if last:
                    pending = [last]
                if drop_empty and not all(parts):
                    parts = [part for part in parts if part]
                count += len(parts)
            return count

        return run

    def framer() -> int:
        feed = greenclient.DelimiterFramer(b"~", FRAME_LIMIT).feed
        count = 0
        for chunk in chunks:
            count += len(feed(chunk))
        return count

    def textbook() -> int:
        buffer = ""
        count = 0
        for chunk in chunks:
            buffer += chunk.decode()
            while True:
                end = buffer.find("~")
                if end < 0:
                    break
                buffer = buffer[end + 1 :]
                count += 1
        return count

    def protocol(codec: Any) -> Callable[[], int]:
        def run() -> int:
            receive = greenclient.MessageProtocol(codec=codec).receive_data
            count = 0
            for chunk in chunks:
                count += len(receive(chunk))
            return count

        return run

    def one_call(loads: Callable[[bytes], Any]) -> Callable[[], int]:
        frames_of = _split_frames(chunks)

        def run() -> int:
            count = 0
            for frames in frames_of():
                if frames:
                    count += len(loads(b"[" + b",".join(frames) + b"]"))
            return count

        return run

    def per_frame() -> int:
        loads = json.loads
        count = 0
        for frames in _split_frames(chunks)():
            for frame in frames:
                loads(frame)
                count += 1
        return count

    if name.startswith("split"):
        return split(drop_empty=name.startswith("split, no empty")), expected
    if name.startswith(("greenclient", "large")):
        return framer, expected
    if name.startswith("textbook"):
        return textbook, expected
    if name.startswith("per frame"):
        return per_frame, expected
    import orjson  # the bench extra

    if name.startswith("protocol"):
        codec = greenclient.JsonCodec.orjson() if "orjson" in name else "json"
        return protocol(codec), expected
    return one_call(orjson.loads if "orjson" in name else json.loads), expected


_BUILT: dict[str, Callable[[], int]] = {}


def _time_case(loops: int, name: str, messages: int) -> float:
    """pyperf's time function: run case ``name`` ``loops`` times; return the seconds."""
    run = _BUILT.get(name)
    if run is None:
        run, expected = _case(name, messages)
        got = run()
        if got != expected:
            raise RuntimeError(f"case {name!r} gave {got} frames instead of {expected}")
        _BUILT[name] = run
    start = time.perf_counter()
    for _ in range(loops):
        run()
    return time.perf_counter() - start


def pyperf_main() -> None:
    """Register every case with pyperf and let it run them (parent or worker)."""
    import pyperf  # the bench extra; only here, not in every process

    def add_args(cmd: list[str], args: Any) -> None:
        cmd.extend(["--messages", str(args.messages)])

    runner = pyperf.Runner(
        program_args=("-m", "bench.sections.framing_cases"),
        add_cmdline_args=add_args,
    )
    runner.argparser.add_argument("--messages", type=int, default=20_000)
    args = runner.parse_args()
    for name in CASES:
        runner.bench_time_func(name, _time_case, name, args.messages)


if __name__ == "__main__":
    pyperf_main()
