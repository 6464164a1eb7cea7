"""Memory: peak RSS of the default client when its consumer is slower than the server.

Two consumers of the default client (default options), each in its own process
against a server process:

* ``slow``: N chat messages; the consumer sleeps 1 ms every 100 messages, so the
  queue fills and TCP pushes back;
* ``large``: N frames of about 1 MiB each (a long string); the consumer takes
  the first, pauses for a few seconds while the server keeps sending, then
  takes the rest. What the client buffers meanwhile is what a bound in bytes
  must cap.

The figure is the peak resident set size of the whole client process
(``ru_maxrss``), Python and greenclient included.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from typing import Any

from bench import common, stats
from bench.api import Context, Job, Metric, Section, Summary, Table

NAME = "memory"
MIB = 1 << 20

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"slow": 5_000, "large": 16, "frame": MIB, "pause": 0.5, "runs": 1},
    "quick": {"slow": 50_000, "large": 64, "frame": MIB, "pause": 1.0, "runs": 2},
    "full": {"slow": 300_000, "large": 400, "frame": MIB, "pause": 3.0, "runs": 3},
}
GOAL_SLOW = 300_000
#: The large-frame figure means something only when the server sends more than
#: the goal allows: 400 MiB against 256 MB.
GOAL_LARGE_BYTES = 400 * MIB


def job_consumer(
    port: int,
    messages: int,
    pause_every: int = 0,
    pause: float = 0.0,
    pause_after_first: float = 0.0,
) -> dict[str, Any]:
    """The default client; the consumer pauses as told; peak RSS of the process."""
    greenclient = common.import_greenclient()
    import eventlet  # loaded already by import_greenclient()

    gc.collect()
    rss_before = common.current_rss()
    start = time.perf_counter()
    received = out_of_order = expected = 0
    longest = 0
    with greenclient.connect(common.HOST, port) as client:
        # The queue's length is reported when the client exposes it.
        queue = getattr(client, "queue", None)
        qsize = getattr(queue, "qsize", lambda: 0)
        for message in client:
            seq = message["seq"]
            if seq != expected:
                out_of_order += 1
                expected = seq
            expected += 1
            received += 1
            if pause_after_first and received == 1:
                eventlet.sleep(pause_after_first)
                longest = max(longest, qsize())
            elif pause_every and received % pause_every == 0:
                longest = max(longest, qsize())
                eventlet.sleep(pause)
    result = common.report_seq(messages, received, out_of_order)
    result.update(
        seconds=time.perf_counter() - start,
        rss_before=rss_before,
        peak_rss=common.peak_rss(),
        longest_queue=longest,
        maxsize=getattr(queue, "maxsize", None),
    )
    return result


JOBS = {"consumer": Job(job_consumer, green=True)}


def _consumer_runs(
    ctx: Context, args: dict[str, Any], timeout: float, runs: int, label: str
) -> list[dict[str, Any]]:
    """Run the consumer job ``runs`` times, one process each, stepping the progress."""
    results = []
    for index in range(runs):
        results.append(ctx.worker(NAME, "consumer", args, timeout))
        ctx.step(f"memory: {label} {index + 1}/{runs}")
    return results


def run(ctx: Context) -> dict[str, Any]:
    sizes = SIZES[ctx.mode]
    runs = sizes["runs"]
    out: dict[str, Any] = {}
    slow_timeout = ctx.timeout(60 + sizes["slow"] / 2_000)
    with ctx.server(
        ["blast", "--messages", str(sizes["slow"])], lifetime=60 + slow_timeout * runs
    ) as port:
        slow = {"port": port, "messages": sizes["slow"], "pause_every": 100, "pause": 0.001}
        results = _consumer_runs(ctx, slow, slow_timeout, runs, "slow consumer")
        out["slow"] = {"messages": sizes["slow"], "runs": results}
    large_timeout = ctx.timeout(60 + sizes["large"] * sizes["frame"] / (5 * MIB) + sizes["pause"])
    with ctx.server(
        ["large", "--messages", str(sizes["large"]), "--frame-size", str(sizes["frame"])],
        lifetime=60 + large_timeout * runs,
    ) as port:
        large = {"port": port, "messages": sizes["large"], "pause_after_first": sizes["pause"]}
        results = _consumer_runs(ctx, large, large_timeout, runs, "large frames")
        out["large"] = {
            "messages": sizes["large"],
            "frame": sizes["frame"],
            "pause": sizes["pause"],
            "runs": results,
        }
    return out


def summarize(raw: dict[str, Any], sizes: Mapping[str, Any]) -> Summary:
    rows = []
    metrics: dict[str, Metric] = {}
    for kind in ("slow", "large"):
        entry = raw.get(kind)
        if entry is None:
            continue
        runs = [r for r in entry["runs"] if "error" not in r]
        peak = stats.summarize(r.get("peak_rss") for r in runs)
        before = stats.summarize(r.get("rss_before") for r in runs)
        seconds = stats.summarize(r.get("seconds") for r in runs)
        longest = max((r.get("longest_queue", 0) for r in runs), default=0)
        maxsize = runs[0].get("maxsize") if runs else None
        if kind == "slow":
            what = f"{entry['messages']:,} messages, 1 ms pause every 100"
            at_size = entry["messages"] >= GOAL_SLOW
        else:
            total = entry["messages"] * entry["frame"]
            what = (
                f"{entry['messages']:,} frames of {entry['frame'] / MIB:g} MiB, "
                f"{entry['pause']:g} s pause after the first"
            )
            at_size = total >= GOAL_LARGE_BYTES
        rows.append(
            [
                what,
                stats.spread_text(peak, 1e-6),
                stats.spread_text(before, 1e-6),
                f"{longest:,} (maxsize {maxsize})",
                stats.spread_text(seconds, digits=2),
            ]
        )
        metrics[f"peak_rss_{kind}"] = stats.metric(
            peak,
            f"peak RSS of the whole process, worst of {len(runs)} runs, {what} (bytes)",
            at_goal_size=at_size,
        )
    table = Table(
        title="Memory: the default client (default options) with a slow consumer",
        headers=["traffic", "peak RSS MB", "RSS at start MB", "longest queue seen", "seconds"],
        rows=rows,
    )
    return Summary(tables=[table], metrics=metrics)


SECTION = Section(
    name=NAME,
    title="memory",
    sizes=SIZES,
    run=run,
    summarize=summarize,
    jobs=JOBS,
    steps=lambda sizes: 2 * sizes["runs"],
)
