"""Request/reply: round trips per second over one connection, and their latency.

greenclient's reference server (``greenclient.server.ReferenceServer``, in a
process of its own, on green threads) answers every request by broadcasting
``{"type": "reply", "_correlation_id": ..., "echo": request}``. One client
process opens one connection and starts 1, 10 or 100 green threads; each makes
``client.request({"type": "ping", "n": i})`` in a loop until the client has made
the run's number of requests. Every round trip is timed (``perf_counter``
around ``request()``); the table gives round trips per second and the latency's
median and 99th percentile. A reply that did not come, or came with the wrong
echo, is a lost message (a failure of the run).

The runs are round-robin (each run measures every concurrency, in a rotated
order). No goal: the figures depend on the server as much as on the client;
they say what one connection sustains and what waiting costs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

from bench import common, stats
from bench.api import Context, Job, Metric, Section, Summary, Table

NAME = "requests"
CONCURRENCY = (1, 10, 100)

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"requests": 2_000, "runs": 1},
    "quick": {"requests": 20_000, "runs": 3},
    "full": {"requests": 100_000, "runs": 5},
}


def serve() -> None:
    """Run the reference server until standard input closes; print ``LISTENING <port>``."""
    common.import_greenclient()
    import eventlet

    from greenclient.server import ReferenceServer

    server = ReferenceServer("127.0.0.1", 0).start()
    print(f"LISTENING {server.port}", flush=True)
    with contextlib.suppress(OSError):
        while os.read(0, 1024):  # green after monkey_patch(): the server keeps serving
            pass
    server.stop()
    eventlet.sleep(0)


@contextlib.contextmanager
def reference_server(timeout: float) -> Iterator[int]:
    """Start :func:`serve` in a process of its own; yield its port; stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bench.sections.requests import serve; serve()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"the reference server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def job_requests(requests: int, threads: int, warmup: int = 200) -> dict[str, Any]:
    """``threads`` green threads make ``requests`` requests in all over one connection."""
    greenclient = common.import_greenclient()
    import eventlet

    with reference_server(30) as port, greenclient.connect(common.HOST, port) as client:
        for n in range(warmup):
            client.request({"type": "ping", "n": n}, timeout=30)
        latencies: list[float] = []
        wrong = 0
        remaining = [requests]
        clock = time.perf_counter

        def worker() -> None:
            nonlocal wrong
            request = client.request
            while remaining[0] > 0:
                remaining[0] -= 1
                n = remaining[0]
                began = clock()
                reply = request({"type": "ping", "n": n}, timeout=30)
                latencies.append(clock() - began)
                if reply["echo"]["n"] != n:
                    wrong += 1

        cpu = common.cpu_seconds()
        start = clock()
        pool = [eventlet.spawn(worker) for _ in range(threads)]
        for thread in pool:
            thread.wait()
        seconds = clock() - start
        cpu = common.cpu_seconds() - cpu
        late = client.stats.late_replies
    latencies.sort()
    received = len(latencies) - wrong
    result = common.report_seq(requests, received, 0)
    result.update(
        seconds=seconds,
        rate=len(latencies) / seconds if seconds else 0.0,
        p50=latencies[len(latencies) // 2] if latencies else None,
        p99=latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] if latencies else None,
        late_replies=late,
        threads=threads,
        cpu_us_per_request=cpu / max(1, len(latencies)) * 1e6,
    )
    return result


JOBS = {"requests": Job(job_requests, green=True)}


def run(ctx: Context) -> dict[str, Any]:
    sizes = SIZES[ctx.mode]
    runs: list[dict[str, Any]] = []
    # Generous: on a shared machine one run at 10 green threads once took 20 s.
    timeout = ctx.timeout(60 + sizes["requests"] / 200)
    for index in range(sizes["runs"]):
        order = CONCURRENCY[index % 3 :] + CONCURRENCY[: index % 3]
        run_results: dict[str, Any] = {}
        for threads in order:
            run_results[str(threads)] = ctx.worker(
                NAME, "requests", {"requests": sizes["requests"], "threads": threads}, timeout
            )
            ctx.step(f"requests: {threads} green threads, run {index + 1}/{sizes['runs']}")
        runs.append(run_results)
    return {"requests": sizes["requests"], "runs": runs}


def summarize(raw: dict[str, Any], sizes: Mapping[str, Any]) -> Summary:
    rows = []
    metrics: dict[str, Metric] = {}
    for threads in CONCURRENCY:
        results = [r[str(threads)] for r in raw["runs"] if "error" not in r.get(str(threads), {})]
        rate = stats.summarize(r.get("rate") for r in results)
        p50 = stats.summarize(r.get("p50") for r in results)
        p99 = stats.summarize(r.get("p99") for r in results)
        cpu = stats.summarize(r.get("cpu_us_per_request") for r in results)
        rows.append(
            [
                str(threads),
                stats.spread_text(rate, digits=0),
                stats.spread_text(p50, 1e3, digits=3),
                stats.spread_text(p99, 1e3, digits=3),
                stats.spread_text(cpu, digits=1),
            ]
        )
        where = f"{raw['requests']:,} requests, {threads} green threads, one connection"
        metrics[f"requests_rate_{threads}"] = stats.metric(rate, where + " (round trips/s)")
        metrics[f"requests_p99_{threads}"] = stats.metric(p99, where + " (p99 latency, s)")
    table = Table(
        title=(
            f"Request/reply over one connection, {raw['requests']:,} requests per run, "
            "against greenclient's reference server"
        ),
        headers=["green threads", "round trips/s", "p50 ms", "p99 ms", "client CPU us/request"],
        rows=rows,
        notes=[
            "each request's reply is matched by its correlation id; none lost",
            "client CPU: the client process's CPU time per round trip (the server's not included)",
        ],
    )
    return Summary(tables=[table], metrics=metrics)


SECTION = Section(
    name=NAME,
    title="request/reply",
    sizes=SIZES,
    run=run,
    summarize=summarize,
    jobs=JOBS,
    steps=lambda sizes: len(CONCURRENCY) * sizes["runs"],
)
