"""Framing and decoding in memory, timed by pyperf.

No socket: a stream of N ASCII chat messages (``~``-delimited) is cut into
chunks and fed to each case; a case returns how many frames (or messages) it
produced, which is checked once before timing. pyperf runs every case in
worker processes of its own (:mod:`bench.sections.framing_cases`), calibrates
the loops, and keeps the values and the machine's metadata; the orchestrator
runs the whole pyperf suite once per round and computes each ratio within a
round.

Every pyperf worker imports greenclient (so every case, ``bytes.split``
included, runs in the same kind of monkey-patched process); pyperf's own
parent process does not.

Cases:

* ``split``: ``bytes.split`` per chunk, the unfinished frame kept aside: the
  least a delimiter framer written in Python can do (no limits, no checks);
* ``split, no empty``: the same, and empty frames dropped (``all()`` over the
  frames, and a filter when it finds one): the least a framer can do that keeps
  greenclient's contract (no empty frame is handed out);
* ``greenclient``: ``DelimiterFramer.feed`` (limits, partial frames, errors);
* ``textbook``: the textbook loop's ``buffer += chunk.decode()`` and ``find``
  (README, Performance);
* ``protocol json`` / ``protocol orjson``: ``MessageProtocol.receive_data``,
  framing and decoding, with the standard library's json and with orjson;
* ``one call json`` / ``one call orjson``: split, then one decoder call per
  chunk on ``"[" + ",".join(frames) + "]"``;
* ``per frame json``: split, then ``json.loads`` per frame;
* ``large 256 KiB`` / ``large 4 MiB``: one frame in 1 KiB chunks through
  ``DelimiterFramer`` (its cost per byte must not grow with the frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import common, stats
from bench.api import Context, Metric, Section, Summary, Table

NAME = "framing"
KIB = 1024
MIB = 1024 * 1024

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {
        "messages": 2_000,
        "rounds": 1,
        "pyperf": ["--processes", "1", "--values", "1", "--warmups", "1", "--min-time", "0.01"],
    },
    "quick": {
        "messages": 20_000,
        "rounds": 1,
        "pyperf": ["--processes", "2", "--values", "3", "--warmups", "1", "--min-time", "0.05"],
    },
    "full": {
        "messages": 100_000,
        "rounds": 5,
        "pyperf": ["--processes", "3", "--values", "3", "--warmups", "1", "--min-time", "0.1"],
    },
}
GOAL_MESSAGES = 100_000

#: case name -> (chunk size, what it is); the order pyperf runs them in.
CASES: dict[str, tuple[int, str]] = {
    "split 64 KiB": (64 * KIB, "bytes.split per chunk, no decode"),
    "greenclient 64 KiB": (64 * KIB, "DelimiterFramer.feed, no decode"),
    "split, no empty 64 KiB": (64 * KIB, "bytes.split per chunk, empty frames dropped"),
    "textbook 64 KiB": (64 * KIB, "buffer += chunk.decode(); find, no decode"),
    "split 1 KiB": (KIB, "bytes.split per chunk, no decode"),
    "greenclient 1 KiB": (KIB, "DelimiterFramer.feed, no decode"),
    "protocol json 64 KiB": (64 * KIB, "MessageProtocol.receive_data, json"),
    "one call json 64 KiB": (64 * KIB, 'split, one json.loads("[...]") per chunk'),
    "per frame json 64 KiB": (64 * KIB, "split, json.loads per frame"),
    "protocol orjson 64 KiB": (64 * KIB, "MessageProtocol.receive_data, JsonCodec.orjson()"),
    "one call orjson 64 KiB": (64 * KIB, 'split, one orjson.loads("[...]") per chunk'),
    "large 256 KiB": (KIB, "one 256 KiB frame in 1 KiB chunks, DelimiterFramer"),
    "large 4 MiB": (KIB, "one 4 MiB frame in 1 KiB chunks, DelimiterFramer"),
}

#: (name, faster side, slower side): reported as slower's time / faster's time.
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("greenclient/split 64 KiB", "greenclient 64 KiB", "split 64 KiB"),
    ("greenclient/split, no empty 64 KiB", "greenclient 64 KiB", "split, no empty 64 KiB"),
    ("greenclient/textbook 64 KiB", "greenclient 64 KiB", "textbook 64 KiB"),
    ("greenclient/split 1 KiB", "greenclient 1 KiB", "split 1 KiB"),
    ("protocol json/one call json", "protocol json 64 KiB", "one call json 64 KiB"),
    ("protocol json/per frame json", "protocol json 64 KiB", "per frame json 64 KiB"),
    ("protocol orjson/one call orjson", "protocol orjson 64 KiB", "one call orjson 64 KiB"),
)

FRAME_LIMIT = 64 * MIB


# -- orchestrator side ---------------------------------------------------------------


def run(ctx: Context) -> dict[str, Any]:
    import pyperf  # the bench extra; only here, not in every process

    sizes = SIZES[ctx.mode]
    rounds: list[dict[str, Any]] = []
    metadata: dict[str, Any] = {}
    for index in range(sizes["rounds"]):
        output = ctx.scratch / f"framing-{index}.json"
        try:
            ctx.command(
                [
                    "-m",
                    "bench.sections.framing_cases",
                    "--quiet",
                    "--inherit-environ",
                    "PYTHONPATH",
                    "--output",
                    str(output),
                    "--messages",
                    str(sizes["messages"]),
                    *sizes["pyperf"],
                ],
                ctx.timeout(600),
            )
        except RuntimeError as exc:
            ctx.fail(f"framing round {index + 1}: {exc}")
            rounds.append({"error": str(exc)})
            ctx.step(f"framing round {index + 1}")
            continue
        suite = pyperf.BenchmarkSuite.load(str(output))
        one: dict[str, Any] = {}
        for bench in suite.get_benchmarks():
            one[bench.get_name()] = {
                "median": bench.median(),
                "stdev": bench.stdev() if bench.get_nvalue() > 1 else 0.0,
                "values": bench.get_nvalue(),
                "loops": bench.get_loops() if hasattr(bench, "get_loops") else None,
            }
        metadata = suite.get_metadata()
        rounds.append(one)
        ctx.step(f"framing round {index + 1}")
    return {"messages": sizes["messages"], "rounds": rounds, "pyperf_metadata": metadata}


def summarize(raw: dict[str, Any], sizes: Mapping[str, Any]) -> Summary:
    rounds = [r for r in raw.get("rounds", []) if "error" not in r]
    messages = raw.get("messages", 0)
    stream_bytes = len(common.stream(1000, "ascii")) * messages / 1000
    rows = []
    for name, (_, what) in CASES.items():
        seconds = stats.summarize(r.get(name, {}).get("median") for r in rounds)
        if name.startswith("large"):
            size = 256 * KIB if "256" in name else 4 * MIB
            rate = "-"
            per_item = (
                stats.spread_text(
                    stats.summarize(
                        (v / size * 1e9) if v else None for v in seconds.get("values", [])
                    ),
                    digits=2,
                )
                + " ns/byte"
            )
        else:
            rate = stats.spread_text(
                stats.summarize(stream_bytes / v / 1e6 for v in seconds.get("values", []) if v),
                digits=0,
            )
            per_item = (
                stats.spread_text(
                    stats.summarize(v / messages * 1e9 for v in seconds.get("values", []) if v),
                    digits=0,
                )
                + " ns/message"
            )
        rows.append([name, what, rate, per_item])
    metrics: dict[str, Metric] = {}
    at_size = messages >= GOAL_MESSAGES
    ratio_rows = []
    for label, fast, slow in RATIOS:
        ratio = stats.paired(
            [r.get(slow, {}).get("median") for r in rounds],
            [r.get(fast, {}).get("median") for r in rounds],
        )
        metrics[label] = stats.metric(
            ratio,
            f"{messages:,} ASCII messages, pyperf medians, ratio per round",
            at_goal_size=at_size,
        )
        ratio_rows.append([label, stats.ratio_text(ratio)])
    growth = stats.paired(
        [_per_byte(r, "large 4 MiB", 4 * MIB) for r in rounds],
        [_per_byte(r, "large 256 KiB", 256 * KIB) for r in rounds],
    )
    metrics["large growth"] = stats.metric(
        growth, "DelimiterFramer, cost per byte of a 4 MiB frame / of a 256 KiB frame"
    )
    ratio_rows.append(["cost per byte, 4 MiB frame / 256 KiB frame", stats.ratio_text(growth)])
    tables = [
        Table(
            title=f"Framing and decoding in memory (pyperf), {messages:,} ASCII messages "
            f"({len(rounds)} rounds)",
            headers=["case", "what", "MB/s", "time"],
            rows=rows,
        ),
        Table(
            title="Framing in memory: time of the other / time of greenclient (above 1: "
            "greenclient faster)",
            headers=["ratio", "median [min-max]"],
            rows=ratio_rows,
        ),
    ]
    return Summary(tables=tables, metrics=metrics)


def _per_byte(one_round: dict[str, Any], name: str, size: int) -> float | None:
    median = one_round.get(name, {}).get("median")
    return median / size if median else None


SECTION = Section(
    name=NAME,
    title="framing in memory",
    sizes=SIZES,
    run=run,
    summarize=summarize,
    steps=lambda sizes: sizes["rounds"],
)
