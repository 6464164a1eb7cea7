"""Turn the workers' raw results into the summary, the goals, the table and the plots.

Imported by the orchestrator only (no eventlet, no greenclient). Conventions:

* every figure is summarized over the runs as median, min, max and relative
  spread ``(max - min) / median``;
* a ratio is computed within each run (the two variants measured side by side)
  and then summarized, never as a ratio of medians;
* "x times faster" ratios are ``other's time / greenclient's time`` (or
  ``greenclient's rate / other's rate``): above 1 means greenclient is faster;
* goals about a worst case (fairness) or a peak (memory) take the worst run;
  the others take the median of the per-run ratios.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

KB = 1000
MB = 1000 * 1000
MIB = 1024 * 1024

ONE_CONNECTION_VARIANTS = (
    ("raw", "plain"),
    ("default", "green"),
    ("orjson", "green"),
    ("thread-queue", "plain"),
    ("asyncio", "plain"),
)
ONE_CONNECTION_LABELS = {
    "raw": "raw loop, OS thread (limit)",
    "default": "greenclient",
    "orjson": "greenclient + orjson",
    "thread-queue": "OS thread + queue.Queue",
    "asyncio": "asyncio readuntil",
}


def summarize(values: list[float]) -> dict[str, Any]:
    """Median, min, max and relative spread ((max - min) / median) of some runs."""
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "spread": None, "runs": 0}
    median = statistics.median(clean)
    spread = (max(clean) - min(clean)) / median if median else None
    return {
        "median": median,
        "min": min(clean),
        "max": max(clean),
        "spread": spread,
        "runs": len(clean),
    }


def paired_ratio(
    numerators: list[float | None], denominators: list[float | None]
) -> dict[str, Any]:
    """Summarize ``numerator / denominator`` computed run by run (pairs from one run)."""
    ratios = [n / d for n, d in zip(numerators, denominators, strict=False) if n is not None and d]
    result = summarize(ratios)
    result["per_run"] = ratios
    return result


#: The goals, as the issue states them (never loosened).
GOAL_TEXT = {
    "framing_vs_split": "framing, no decode, 64 KiB chunks: greenclient >= 0.9x bytes.split",
    "framing_vs_lecture": "framing, no decode, 64 KiB chunks: greenclient >= 5x the lecture loop",
    "large_linear": "4 MiB frame in 1 KiB chunks: cost per byte within 2x of a 256 KiB frame's",
    "one_vs_raw": "one connection, stdlib json: greenclient >= 0.85x the raw blocking loop",
    "one_vs_asyncio": "one connection, stdlib json: greenclient >= 1.25x asyncio",
    "one_vs_thread_queue": (
        "one connection, stdlib json: greenclient >= 1.5x OS thread + queue.Queue"
    ),
    "orjson_vs_raw": "one connection: greenclient + orjson >= 2x the raw loop with stdlib json",
    "zero_lost": "zero messages lost (every variant, every section)",
    "rss_per_connection": "10,000 connections: <= 12 KB RSS per connection",
    "fan_out": "fan-out to 5,000 clients: greenclient >= 10x faster than OS threads",
    "fairness": "fairness: worst delay of the 10 ms green thread <= 20 ms during the flood",
    "slow_consumer": (
        "peak RSS of the default client, slow consumer, 500,000-message flood <= 64 MB"
    ),
}


def _median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


# -- building the summary ----------------------------------------------------------


def _framing(raw: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    runs = raw.get("runs", [])
    # (kind, chunk, decode) -> variant -> [seconds per run]
    table: dict[tuple[str, int, bool], dict[str, list[float | None]]] = {}
    raised: dict[tuple[str, int, bool, str], dict[str, Any]] = {}
    sizes: dict[tuple[str, int, bool], tuple[int, int]] = {}
    failed: dict[tuple[str, int, bool, str], bool] = {}
    for index, run in enumerate(runs):
        for side in ("plain", "green"):
            for record in run.get(side, {}).get("streams", []):
                key = (record["kind"], record["chunk"], record["decode"])
                per_variant = table.setdefault(key, {})
                times = per_variant.setdefault(record["variant"], [None] * len(runs))
                sizes[key] = (record["messages"], record["bytes"])
                if "raised" in record:
                    raised.setdefault((key[0], key[1], key[2], record["variant"]), record)
                elif record.get("ok"):
                    times[index] = record["seconds"]
                else:
                    failed[(key[0], key[1], key[2], record["variant"])] = True
    rows = []
    for key in sorted(table, key=lambda k: (k[0], k[1], k[2])):
        messages, size = sizes[key]
        variants: dict[str, Any] = {}
        for name, times in table[key].items():
            seconds = summarize([t for t in times if t is not None])
            median = seconds["median"]
            variants[name] = {
                "seconds": seconds,
                "mb_per_s": size / median / MB if median else None,
                "ns_per_message": median / messages * 1e9 if median else None,
                "raised": raised.get((*key, name)),
                "wrong_frames": failed.get((*key, name), False),
            }
        gc_times = table[key].get("greenclient", [])
        ratios = {
            f"greenclient_vs_{other}": paired_ratio(table[key].get(other, []), gc_times)
            for other in (
                "bytes.split (same process)",
                "bytes.split",
                "lecture loop",
                "asyncio",
                "twisted",
            )
            if other in table[key]
        }
        rows.append(
            {
                "kind": key[0],
                "chunk": key[1],
                "decode": key[2],
                "messages": messages,
                "bytes": size,
                "variants": variants,
                "ratios": ratios,
            }
        )
    # Large frame: variant -> size -> [ns per byte per run]
    large: dict[str, dict[int, list[float | None]]] = {}
    skipped: dict[str, dict[int, str]] = {}
    for index, run in enumerate(runs):
        for side in ("plain", "green"):
            for record in run.get(side, {}).get("large", []):
                per_size = large.setdefault(record["variant"], {})
                values = per_size.setdefault(record["size"], [None] * len(runs))
                if "skipped" in record:
                    skipped.setdefault(record["variant"], {})[record["size"]] = record["skipped"]
                elif record.get("ok"):
                    values[index] = record["ns_per_byte"]
    large_summary: dict[str, Any] = {}
    for name, per_size in large.items():
        ordered = sorted(per_size)
        entry: dict[str, Any] = {
            "ns_per_byte": {
                str(size): summarize([v for v in per_size[size] if v is not None])
                for size in ordered
            },
            "skipped": {str(k): v for k, v in skipped.get(name, {}).items()},
        }
        measured = [s for s in ordered if any(v is not None for v in per_size[s])]
        if len(measured) >= 2:
            small, big = measured[0], measured[-1]
            growth = paired_ratio(per_size[big], per_size[small])
            entry["growth"] = {"from": small, "to": big, **growth}
            # Cost per byte flat: linear; growing like the size: quadratic.
            ratio = growth["median"] or 0.0
            if ratio <= 2:
                entry["shape"] = "linear"
            elif ratio >= (big / small) / 2:
                entry["shape"] = "quadratic"
            else:
                entry["shape"] = "superlinear"
        if skipped.get(name):
            entry["shape"] = "quadratic (capped)"
        large_summary[name] = entry
    return rows, large_summary


def _one_connection(raw: dict[str, Any]) -> dict[str, Any]:
    runs = raw.get("runs", [])
    variants: dict[str, Any] = {}
    names = [name for name, _ in ONE_CONNECTION_VARIANTS]

    def column(name: str, key: str) -> list[float | None]:
        return [run.get(name, {}).get(key) for run in runs]

    for name in names:
        if not any(name in run for run in runs):
            continue
        variants[name] = {
            "label": ONE_CONNECTION_LABELS[name],
            "rate": summarize([v for v in column(name, "rate") if v is not None]),
            "cpu_us_per_message": summarize(
                [v for v in column(name, "cpu_us_per_message") if v is not None]
            ),
            "peak_rss": summarize([v for v in column(name, "peak_rss") if v is not None]),
            "lost": sum(v or 0 for v in column(name, "lost")),
            "in_order": all(run.get(name, {}).get("in_order") for run in runs),
        }
    ratios = {
        "greenclient_vs_raw": paired_ratio(column("default", "rate"), column("raw", "rate")),
        "greenclient_vs_asyncio": paired_ratio(
            column("default", "rate"), column("asyncio", "rate")
        ),
        "greenclient_vs_thread_queue": paired_ratio(
            column("default", "rate"), column("thread-queue", "rate")
        ),
        "orjson_vs_raw": paired_ratio(column("orjson", "rate"), column("raw", "rate")),
        "orjson_vs_greenclient": paired_ratio(column("orjson", "rate"), column("default", "rate")),
    }
    return {"messages": raw.get("messages"), "variants": variants, "ratios": ratios}


def _many(raw: dict[str, Any]) -> dict[str, Any]:
    sizes = []
    for entry in raw.get("sizes", []):
        runs = entry["runs"]
        summary: dict[str, Any] = {"n": entry["n"], "threads_skipped": entry.get("threads_skipped")}
        for side in ("green", "threads"):
            results = [run[side] for run in runs if side in run and "error" not in run[side]]
            if not results:
                continue
            summary[side] = {
                key: summarize([r[key] for r in results if r.get(key) is not None])
                for key in (
                    "connect_seconds",
                    "rss_per_connection",
                    "fan_out_seconds",
                    "server_send_seconds",
                    "fan_out_cpu_seconds",
                    "peak_rss",
                )
            }
            summary[side]["lost"] = sum(r.get("lost", 0) for r in results)
            summary[side]["in_order"] = all(r.get("in_order") for r in results)

        def column(side: str, key: str, runs: list[dict[str, Any]] = runs) -> list[float | None]:
            return [run.get(side, {}).get(key) for run in runs]

        summary["ratios"] = {
            "fan_out_threads_vs_green": paired_ratio(
                column("threads", "fan_out_seconds"), column("green", "fan_out_seconds")
            ),
            "rss_threads_vs_green": paired_ratio(
                column("threads", "rss_per_connection"), column("green", "rss_per_connection")
            ),
            "fan_out_cpu_threads_vs_green": paired_ratio(
                column("threads", "fan_out_cpu_seconds"), column("green", "fan_out_cpu_seconds")
            ),
            "connect_threads_vs_green": paired_ratio(
                column("threads", "connect_seconds"), column("green", "connect_seconds")
            ),
        }
        sizes.append(summary)
    return {"messages": raw.get("messages"), "sizes": sizes}


def _fairness(raw: dict[str, Any]) -> dict[str, Any]:
    runs = [r for r in raw.get("runs", []) if "error" not in r]
    summary: dict[str, Any] = {"messages": raw.get("messages"), "runs": len(runs)}
    for key in (
        "worst_delay",
        "p99_delay",
        "median_delay",
        "worst_gap",
        "idle_worst_delay",
        "rate",
    ):
        summary[key] = summarize([r[key] for r in runs if r.get(key) is not None])
    summary["beats"] = summarize([r["beats"] for r in runs])
    summary["worst_of_all_runs"] = max(
        (r["worst_delay"] for r in runs if r.get("worst_delay") is not None), default=None
    )
    if runs:
        # The run with the median worst delay, for the plot.
        ordered = sorted(runs, key=lambda r: r.get("worst_delay") or 0.0)
        summary["example_delays"] = ordered[len(ordered) // 2].get("delays", [])
    return summary


def _slow(raw: dict[str, Any]) -> dict[str, Any]:
    runs = [r for r in raw.get("runs", []) if "error" not in r]
    return {
        "messages": raw.get("messages"),
        "peak_rss": summarize([r["peak_rss"] for r in runs]),
        "rss_before": summarize([r["rss_before"] for r in runs]),
        "seconds": summarize([r["seconds"] for r in runs]),
        "longest_queue": max((r.get("longest_queue", 0) for r in runs), default=None),
        "maxsize": runs[0].get("maxsize") if runs else None,
        "pause": runs[0].get("pause") if runs else None,
        "pause_every": runs[0].get("pause_every") if runs else None,
        "worst_peak_rss": max((r["peak_rss"] for r in runs), default=None),
        "lost": sum(r.get("lost", 0) for r in runs),
        "in_order": all(r.get("in_order") for r in runs),
    }


def _goal(
    gid: str,
    target: str,
    measured: float | None,
    met: bool | None,
    where: str,
    *,
    spread: tuple[float | None, float | None] = (None, None),
    at_goal_size: bool = True,
    note: str = "",
) -> dict[str, Any]:
    return {
        "id": gid,
        "goal": GOAL_TEXT[gid],
        "target": target,
        "measured": measured,
        "min": spread[0],
        "max": spread[1],
        "met": met,
        "where": where,
        "at_goal_size": at_goal_size,
        "note": note,
    }


def _spread(summary: dict[str, Any]) -> tuple[float | None, float | None]:
    return summary.get("min"), summary.get("max")


def goals(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate every goal that the sections run could measure."""
    out: list[dict[str, Any]] = []
    full = doc["mode"]["name"] == "full"
    framing = doc.get("framing")
    if framing is not None:
        rows = {(r["kind"], r["chunk"], r["decode"]): r for r in framing}
        weakest: tuple[float, str, dict[str, Any]] | None = None
        parts = []
        for kind in ("ascii", "utf8"):
            row = rows.get((kind, 65536, False))
            ratio = row["ratios"].get("greenclient_vs_bytes.split (same process)") if row else None
            if ratio and ratio["median"] is not None:
                parts.append(f"{kind} {ratio['median']:.3f}x")
                if weakest is None or ratio["median"] < weakest[0]:
                    weakest = (ratio["median"], kind, ratio)
        if weakest is not None:
            out.append(
                _goal(
                    "framing_vs_split",
                    ">= 0.9x",
                    weakest[0],
                    weakest[0] >= 0.9,
                    f"{doc['mode']['framing_messages']:,} messages, the worse of the two streams "
                    f"({', '.join(parts)}); bytes.split timed in the same process",
                    spread=_spread(weakest[2]),
                    at_goal_size=full,
                )
            )
        row = rows.get(("ascii", 65536, False))
        ratio = row["ratios"].get("greenclient_vs_lecture loop") if row else None
        utf8 = rows.get(("utf8", 65536, False))
        raised = utf8["variants"].get("lecture loop", {}).get("raised") if utf8 else None
        if ratio and ratio["median"] is not None:
            note = ""
            if raised:
                note = (
                    f"ASCII stream only: on the non-ASCII stream the lecture loop raises "
                    f"UnicodeDecodeError at byte {raised['offset']:,} (chunk {raised['at_chunk']})"
                )
            out.append(
                _goal(
                    "framing_vs_lecture",
                    ">= 5x",
                    ratio["median"],
                    ratio["median"] >= 5,
                    f"{doc['mode']['framing_messages']:,} ASCII messages",
                    spread=_spread(ratio),
                    at_goal_size=full,
                    note=note,
                )
            )
    large = doc.get("large_frame", {}).get("greenclient")
    if large and "growth" in large:
        growth = large["growth"]
        at_size = growth["from"] == 256 * 1024 and growth["to"] == 4 * MIB
        out.append(
            _goal(
                "large_linear",
                "<= 2x",
                growth["median"],
                growth["median"] is not None and growth["median"] <= 2,
                f"greenclient, cost per byte at {growth['to'] // 1024:,} KiB / at "
                f"{growth['from'] // 1024:,} KiB",
                spread=_spread(growth),
                at_goal_size=at_size,
            )
        )
    one = doc.get("one_connection")
    if one is not None:
        where = f"{one['messages']:,} messages"
        for gid, key, target in (
            ("one_vs_raw", "greenclient_vs_raw", 0.85),
            ("one_vs_asyncio", "greenclient_vs_asyncio", 1.25),
            ("one_vs_thread_queue", "greenclient_vs_thread_queue", 1.5),
            ("orjson_vs_raw", "orjson_vs_raw", 2.0),
        ):
            ratio = one["ratios"][key]
            if ratio["median"] is None:
                continue
            out.append(
                _goal(
                    gid,
                    f">= {target:g}x",
                    ratio["median"],
                    ratio["median"] >= target,
                    where + ", messages per second, ratio per run",
                    spread=_spread(ratio),
                    at_goal_size=one["messages"] >= 500_000,
                )
            )
    lost = 0
    checked = 0
    for section in ("one_connection",):
        for variant in (doc.get(section) or {}).get("variants", {}).values():
            lost += variant["lost"]
            checked += 1
    many = doc.get("many_connections")
    for size in (many or {}).get("sizes", []):
        for side in ("green", "threads"):
            if side in size:
                lost += size[side]["lost"]
                checked += 1
    for section in ("fairness", "slow_consumer"):
        for run in doc["raw"].get(section, {}).get("runs", []):
            lost += run.get("lost", 0)
            checked += 1
    if checked:
        out.append(
            _goal(
                "zero_lost",
                "0 lost, all in order",
                float(lost),
                lost == 0 and doc["all_received_in_order"],
                "every end-to-end variant checks seq 0, 1, 2, ...",
            )
        )
    if many is not None and many["sizes"]:
        green_sizes = [s for s in many["sizes"] if "green" in s]
        if green_sizes:
            biggest = green_sizes[-1]
            rss = biggest["green"]["rss_per_connection"]
            if rss["median"] is not None:
                out.append(
                    _goal(
                        "rss_per_connection",
                        "<= 12 KB",
                        rss["median"],
                        rss["median"] <= 12 * KB,
                        f"{biggest['n']:,} GreenClient connections in one process (bytes)",
                        spread=_spread(rss),
                        at_goal_size=biggest["n"] >= 10_000,
                    )
                )
        both = [s for s in many["sizes"] if "green" in s and "threads" in s]
        chosen = next((s for s in both if s["n"] == 5_000), both[-1] if both else None)
        if chosen is not None:
            ratio = chosen["ratios"]["fan_out_threads_vs_green"]
            server = chosen["green"]["server_send_seconds"]["median"]
            fan_out = chosen["green"]["fan_out_seconds"]["median"]
            note = ""
            if server and fan_out:
                note = (
                    f"the server's own {doc['mode']['fan_out_messages']} x {chosen['n']:,} "
                    f"loopback writes took {server:.2f} s of greenclient's {fan_out:.2f} s"
                )
                cpu = chosen["ratios"]["fan_out_cpu_threads_vs_green"]
                if cpu["median"] is not None:
                    note += (
                        f"; client CPU during the fan-out, OS threads / greenclient: {_ratio(cpu)}"
                    )
            if ratio["median"] is not None:
                out.append(
                    _goal(
                        "fan_out",
                        ">= 10x",
                        ratio["median"],
                        ratio["median"] >= 10,
                        f"{chosen['n']:,} clients, {doc['mode']['fan_out_messages']} messages each",
                        spread=_spread(ratio),
                        at_goal_size=chosen["n"] == 5_000,
                        note=note,
                    )
                )
    fairness = doc.get("fairness")
    if fairness is not None and fairness.get("worst_of_all_runs") is not None:
        worst = fairness["worst_of_all_runs"]
        out.append(
            _goal(
                "fairness",
                "<= 20 ms",
                worst,
                worst <= 0.020,
                f"worst of {fairness['runs']} runs, {fairness['messages']:,} messages; delay = "
                "time past the 10 ms due time (seconds)",
                spread=_spread(fairness["worst_delay"]),
                at_goal_size=(fairness["messages"] or 0) >= 500_000,
            )
        )
    slow = doc.get("slow_consumer")
    if slow is not None and slow.get("worst_peak_rss") is not None:
        worst = slow["worst_peak_rss"]
        out.append(
            _goal(
                "slow_consumer",
                "<= 64 MB",
                float(worst),
                worst <= 64 * MB,
                f"worst of {slow['peak_rss']['runs']} runs, whole process (bytes)",
                spread=_spread(slow["peak_rss"]),
                at_goal_size=(slow["messages"] or 0) >= 500_000,
            )
        )
    return out


def build(
    *,
    mode: dict[str, Any],
    sections: list[int],
    machine: dict[str, Any],
    raw: dict[str, Any],
    failures: list[str],
    duration: float,
    started: float,
) -> dict[str, Any]:
    """The whole results document (written as results.json)."""
    doc: dict[str, Any] = {
        "benchmark": "greenclient-bench",
        "format": 1,
        "mode": mode,
        "sections": sections,
        "machine": machine,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_seconds": duration,
        "failures": failures,
        "all_received_in_order": not failures,
    }
    if "framing" in raw:
        doc["framing"], doc["large_frame"] = _framing(raw["framing"])
    if "one_connection" in raw:
        doc["one_connection"] = _one_connection(raw["one_connection"])
    if "many_connections" in raw:
        doc["many_connections"] = _many(raw["many_connections"])
    if "fairness" in raw:
        doc["fairness"] = _fairness(raw["fairness"])
    if "slow_consumer" in raw:
        doc["slow_consumer"] = _slow(raw["slow_consumer"])
    doc["raw"] = raw
    doc["goals"] = goals(doc)
    return doc


# -- the text table ----------------------------------------------------------------


def _range(summary: dict[str, Any] | None, scale: float = 1.0, digits: int = 1) -> str:
    """``median [min-max]`` of a summary, scaled."""
    if not summary or summary.get("median") is None:
        return "-"
    med, low, high = (summary[k] * scale for k in ("median", "min", "max"))
    if summary.get("runs", 0) <= 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} [{low:,.{digits}f}-{high:,.{digits}f}]"


def _throughput(seconds: dict[str, Any], size: int) -> str:
    """MB/s as ``median [min-max]`` from a summary of seconds (the slowest run is the min)."""
    if seconds.get("median") is None:
        return "-"
    return _range(
        {
            "median": size / seconds["median"],
            "min": size / seconds["max"],
            "max": size / seconds["min"],
            "runs": seconds["runs"],
        },
        1 / MB,
        0,
    )


def _ratio(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("median") is None:
        return "-"
    return f"{summary['median']:.2f}x [{summary['min']:.2f}-{summary['max']:.2f}]"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB and n % MIB == 0 else f"{n // 1024} KiB"


def render(doc: dict[str, Any]) -> str:
    """The report printed at the end of a run (and saved as benchmark.txt)."""
    m = doc["machine"]
    mode = doc["mode"]
    lines = [
        f"greenclient-bench ({mode['name']} mode, {doc['duration_seconds']:.0f} s)",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['system']}, {m['python']}, "
        f"eventlet {m['eventlet']}, greenlet {m['greenlet']}, greenclient {m['greenclient']}, "
        f"orjson {m['orjson']}, Twisted {m['twisted']}",
        "figures: median [min-max] of the runs; ratios are computed within each run, then "
        "summarized; higher ratio = greenclient faster",
    ]
    lines += [f"note: {n}" for n in mode.get("notes", [])]
    framing = doc.get("framing")
    if framing:
        lines += [
            "",
            f"1. Framing in memory, {mode['framing_messages']:,} messages of ~100 bytes "
            f"(MB/s; {_runs(mode['runs'])})",
        ]
        order = ["lecture loop", "bytes.split", "greenclient", "asyncio", "twisted"]
        headers = ["stream", "chunk", "decode", *order, "gc/split", "gc/lecture"]
        rows = []
        raised_notes = []
        for row in framing:
            cells = [row["kind"], _size(row["chunk"]), "json.loads" if row["decode"] else "none"]
            for name in order:
                variant = row["variants"].get(name)
                if variant is None:
                    cells.append("-")
                elif variant["raised"]:
                    cells.append("RAISES")
                    r = variant["raised"]
                    raised_notes.append(
                        f"   lecture loop, {row['kind']} {_size(row['chunk'])} "
                        f"{'json.loads' if row['decode'] else 'no decode'}: {r['raised']} at byte "
                        f"{r['offset']:,} (chunk {r['at_chunk']}, "
                        f"after {r['frames_before']:,} frames)"
                    )
                elif variant["wrong_frames"]:
                    cells.append("WRONG")
                else:
                    cells.append(_throughput(variant["seconds"], row["bytes"]))
            cells.append(_ratio(row["ratios"].get("greenclient_vs_bytes.split (same process)")))
            cells.append(_ratio(row["ratios"].get("greenclient_vs_lecture loop")))
            rows.append(cells)
        lines += ["   " + line for line in _table(headers, rows)]
        lines.append("   gc/split: against bytes.split timed in greenclient's own process")
        lines += raised_notes
    large = doc.get("large_frame")
    if large:
        sizes = sorted(
            {int(s) for entry in large.values() for s in entry["ns_per_byte"]}
            | {int(s) for entry in large.values() for s in entry["skipped"]}
        )
        lines += [
            "",
            "   One large frame in 1 KiB chunks (ns per byte); a variant is capped at a size "
            f"where one pass is predicted (assuming quadratic growth) above "
            f"{doc['mode']['large_cap_seconds']:g} s",
        ]
        headers = ["variant", *(_size(s) for s in sizes), "growth", "shape"]
        rows = []
        for name in ("lecture loop", "bytes.split", "greenclient", "asyncio", "twisted"):
            entry = large.get(name)
            if entry is None:
                continue
            cells = [name]
            for s in sizes:
                if str(s) in entry["skipped"]:
                    cells.append("capped")
                else:
                    cells.append(_range(entry["ns_per_byte"].get(str(s)), digits=2))
            growth = entry.get("growth")
            cell = _ratio(growth)
            if growth and growth["to"] != sizes[-1]:
                cell += f" to {_size(growth['to'])}"
            cells.append(cell)
            cells.append(entry.get("shape", "-"))
            rows.append(cells)
        lines += ["   " + line for line in _table(headers, rows)]
        lines.append(
            "   growth: cost per byte of the largest frame measured / of the smallest "
            "(1x: linear; as large as the size ratio: quadratic)"
        )
        for name, entry in large.items():
            for size, why in entry["skipped"].items():
                lines.append(f"   {name} at {_size(int(size))}: {why}")
    one = doc.get("one_connection")
    if one:
        lines += [
            "",
            f"2. One connection, {one['messages']:,} messages from a server process "
            f"({_runs(mode['runs'])})",
        ]
        headers = ["variant", "messages/s", "CPU us/message", "peak RSS MB", "lost", "in order"]
        rows = [
            [
                v["label"],
                _range(v["rate"], digits=0),
                _range(v["cpu_us_per_message"], digits=2),
                _range(v["peak_rss"], 1 / MB, 1),
                str(v["lost"]),
                "yes" if v["in_order"] else "NO",
            ]
            for v in one["variants"].values()
        ]
        lines += ["   " + line for line in _table(headers, rows)]
        for key, label in (
            ("greenclient_vs_raw", "greenclient / raw loop"),
            ("greenclient_vs_asyncio", "greenclient / asyncio"),
            ("greenclient_vs_thread_queue", "greenclient / OS thread + queue.Queue"),
            ("orjson_vs_raw", "greenclient + orjson / raw loop"),
            ("orjson_vs_greenclient", "greenclient + orjson / greenclient"),
        ):
            lines.append(f"   {label}: {_ratio(one['ratios'][key])}")
    many = doc.get("many_connections")
    if many:
        lines += [
            "",
            f"3. Many connections: connect all, RSS per connection, fan-out of "
            f"{many['messages']} messages to all ({_runs(mode['many_runs'])})",
        ]
        headers = [
            "N",
            "variant",
            "connect s",
            "RSS/conn KB",
            "fan-out s",
            "server writes s",
            "client CPU s",
            "threads/green fan-out",
        ]
        rows = []
        for size in many["sizes"]:
            for side in ("green", "threads"):
                label = "greenclient" if side == "green" else "OS threads"
                if side not in size:
                    if side == "threads" and size.get("threads_skipped"):
                        rows.append([f"{size['n']:,}", label, "skipped", "", "", "", "", ""])
                    continue
                s = size[side]
                rows.append(
                    [
                        f"{size['n']:,}",
                        label,
                        _range(s["connect_seconds"], digits=2),
                        _range(s["rss_per_connection"], 1 / KB, 1),
                        _range(s["fan_out_seconds"], digits=2),
                        _range(s["server_send_seconds"], digits=2),
                        _range(s["fan_out_cpu_seconds"], digits=2),
                        _ratio(size["ratios"]["fan_out_threads_vs_green"])
                        if side == "green"
                        else "",
                    ]
                )
        lines += ["   " + line for line in _table(headers, rows)]
        for size in many["sizes"]:
            if size.get("threads_skipped"):
                lines.append(f"   OS threads at {size['n']:,}: {size['threads_skipped']}")
    fairness = doc.get("fairness")
    if fairness:
        lines += [
            "",
            f"4. Fairness: a green thread that wants to run every 10 ms while greenclient "
            f"reads {fairness['messages']:,} messages ({_runs(fairness['runs'])})",
        ]
        lines.append(
            f"   worst delay ms: {_range(fairness['worst_delay'], 1000, 2)}; "
            f"p99 {_range(fairness['p99_delay'], 1000, 2)}; "
            f"median {_range(fairness['median_delay'], 1000, 2)}; "
            f"worst gap between beats {_range(fairness['worst_gap'], 1000, 2)}"
        )
        lines.append(
            f"   beats per run: {_range(fairness['beats'], digits=0)}; worst delay "
            f"with the hub idle: {_range(fairness['idle_worst_delay'], 1000, 2)} ms"
        )
    slow = doc.get("slow_consumer")
    if slow:
        lines += [
            "",
            f"5. Slow consumer: the default client (queue of {slow['maxsize']}), "
            f"{slow['messages']:,} messages, the consumer sleeping {slow['pause'] * 1000:g} ms "
            f"every {slow['pause_every']} messages ({_runs(slow['peak_rss']['runs'])})",
        ]
        lines.append(
            f"   peak RSS MB: {_range(slow['peak_rss'], 1 / MB, 1)} (at start "
            f"{_range(slow['rss_before'], 1 / MB, 1)}); longest queue seen "
            f"{slow['longest_queue']}; seconds {_range(slow['seconds'], digits=1)}"
        )
    if doc["goals"]:
        lines += ["", "Goals"]
        for goal in doc["goals"]:
            status = {True: "MET   ", False: "MISSED", None: "n/a   "}[goal["met"]]
            measured = goal["measured"]
            if goal["id"] in ("rss_per_connection",):
                shown = f"{measured / KB:.1f} KB ({measured / 1024:.1f} KiB)"
            elif goal["id"] == "slow_consumer":
                shown = f"{measured / MB:.1f} MB ({measured / MIB:.1f} MiB)"
            elif goal["id"] == "fairness":
                shown = f"{measured * 1000:.2f} ms"
            elif goal["id"] == "zero_lost":
                shown = f"{measured:.0f} lost"
            else:
                # Three decimals: a ratio just below its target must not print as equal.
                shown = f"{measured:.3f}x"
                if goal["min"] is not None:
                    shown += f" [{goal['min']:.3f}-{goal['max']:.3f}]"
            lines.append(f"   {status} {goal['goal']}")
            lines.append(f"          measured {shown}, target {goal['target']}; {goal['where']}")
            if not goal["at_goal_size"]:
                lines.append(
                    "          (measured below the size the goal names: run the full mode)"
                )
            if goal["note"]:
                lines.append(f"          {goal['note']}")
    if doc["failures"]:
        lines += ["", "FAILURES"]
        lines += [f"   {f}" for f in doc["failures"]]
    return "\n".join(lines) + "\n"


# -- plots -------------------------------------------------------------------------


def plots(doc: dict[str, Any], out: Path) -> list[Path]:
    """Draw the PNG plots into ``out``; return their paths. Needs matplotlib."""
    # matplotlib comes with the bench extra; without it there are no plots.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    written: list[Path] = []
    m = doc["machine"]
    where = f"{m['cpu']}, {m['cores']} cores, {m['python']}, eventlet {m['eventlet']}"

    def save(fig: Any, name: str) -> None:
        fig.text(0.99, 0.005, where, ha="right", va="bottom", fontsize=7, color="gray")
        path = out / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    colors = {
        "lecture loop": "#b0b0b0",
        "bytes.split": "#4c72b0",
        "greenclient": "#2ca02c",
        "asyncio": "#dd8452",
        "twisted": "#8172b3",
    }
    framing = doc.get("framing")
    if framing:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=False)
        for ax, decode in zip(axes, (False, True), strict=True):
            rows = [r for r in framing if r["decode"] is decode]
            names = [n for n in colors if any(n in r["variants"] for r in rows)]
            width = 0.8 / max(1, len(names))
            for i, name in enumerate(names):
                xs, ys = [], []
                for j, row in enumerate(rows):
                    variant = row["variants"].get(name)
                    if variant is None:
                        continue
                    if variant["raised"]:
                        ax.text(
                            j + (i - len(names) / 2 + 0.5) * width,
                            0,
                            "raises",
                            rotation=90,
                            ha="center",
                            va="bottom",
                            fontsize=7,
                        )
                        continue
                    if variant["mb_per_s"]:
                        xs.append(j + (i - len(names) / 2 + 0.5) * width)
                        ys.append(variant["mb_per_s"])
                ax.bar(xs, ys, width, label=name, color=colors[name])
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels([f"{r['kind']}\n{_size(r['chunk'])} chunks" for r in rows])
            ax.set_ylabel("MB/s (higher is better)")
            ax.set_title("framing only" if not decode else "framing + json.loads")
        axes[0].legend(fontsize=8)
        fig.suptitle(
            f"Framing {doc['mode']['framing_messages']:,} messages in memory (median of runs)"
        )
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "framing.png")
    large = doc.get("large_frame")
    if large:
        fig, ax = plt.subplots(figsize=(7, 4.8))
        for name, entry in large.items():
            base = "greenclient" if name == "greenclient" else name
            if name.startswith("bytes.split (same"):
                continue
            points = [(int(s), v["median"]) for s, v in entry["ns_per_byte"].items() if v["median"]]
            if not points:
                continue
            xs = [p[0] for p in sorted(points)]
            ys = [p[1] for p in sorted(points)]
            ax.plot(
                xs,
                ys,
                marker="o",
                label=f"{name} ({entry.get('shape', '?')})",
                color=colors.get(base),
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("frame size, bytes (arriving in 1 KiB chunks)")
        ax.set_ylabel("ns per byte (flat = linear)")
        ax.set_title("One large frame: who is linear, who is quadratic")
        ax.legend(fontsize=8)
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "large_frame.png")
    one = doc.get("one_connection")
    if one and one["variants"]:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
        labels = [v["label"] for v in one["variants"].values()]
        rates = [(v["rate"]["median"] or 0) / 1000 for v in one["variants"].values()]
        low = [
            r - (v["rate"]["min"] or 0) / 1000
            for r, v in zip(rates, one["variants"].values(), strict=True)
        ]
        high = [
            (v["rate"]["max"] or 0) / 1000 - r
            for r, v in zip(rates, one["variants"].values(), strict=True)
        ]
        cpu = [v["cpu_us_per_message"]["median"] or 0 for v in one["variants"].values()]
        palette = ["#4c72b0", "#2ca02c", "#98df8a", "#c44e52", "#dd8452"]
        ax1.barh(labels, rates, xerr=[low, high], color=palette[: len(labels)])
        ax1.set_xlabel("thousand messages per second (higher is better)")
        ax1.invert_yaxis()
        ax2.barh(labels, cpu, color=palette[: len(labels)])
        ax2.set_xlabel("CPU microseconds per message (lower is better)")
        ax2.invert_yaxis()
        ax2.set_yticklabels([])
        fig.suptitle(f"One connection, {one['messages']:,} JSON messages (median, min-max)")
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "one_connection.png")
    many = doc.get("many_connections")
    if many and many["sizes"]:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
        for side, color, label in (
            ("green", "#2ca02c", "greenclient"),
            ("threads", "#c44e52", "OS threads"),
        ):
            ns = [s["n"] for s in many["sizes"] if side in s]
            if not ns:
                continue
            for ax, key, scale in zip(
                axes,
                ("connect_seconds", "rss_per_connection", "fan_out_seconds"),
                (1, 1 / KB, 1),
                strict=True,
            ):
                ys = [(s[side][key]["median"] or 0) * scale for s in many["sizes"] if side in s]
                ax.plot(ns, ys, marker="o", color=color, label=label)
        server = [
            (s["n"], s["green"]["server_send_seconds"]["median"])
            for s in many["sizes"]
            if "green" in s
        ]
        if server:
            axes[2].plot(
                [p[0] for p in server],
                [p[1] for p in server],
                linestyle="--",
                color="gray",
                label="server's own writes",
            )
        for ax, title in zip(
            axes,
            (
                "time to connect all (s)",
                "RSS per connection (KB)",
                f"fan-out of {many['messages']} messages (s)",
            ),
            strict=True,
        ):
            ax.set_title(title)
            ax.set_xlabel("connections")
            ax.legend(fontsize=8)
        axes[1].axhline(12, color="gray", linewidth=0.8, linestyle=":")
        axes[2].set_yscale("log")
        fig.suptitle("Many connections: green threads against OS threads (median of runs)")
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "many_connections.png")
    fairness = doc.get("fairness")
    if fairness and fairness.get("example_delays"):
        fig, ax = plt.subplots(figsize=(8, 4.2))
        delays = [d * 1000 for d in fairness["example_delays"]]
        ax.plot(range(len(delays)), delays, linewidth=0.8, color="#2ca02c")
        ax.axhline(20, color="#c44e52", linestyle=":", label="goal: 20 ms")
        ax.set_xlabel("beat (wants to run every 10 ms)")
        ax.set_ylabel("delay past due time (ms)")
        ax.set_title(
            f"Fairness while greenclient reads {fairness['messages']:,} messages (median run)"
        )
        ax.legend(fontsize=8)
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "fairness.png")
    return written
