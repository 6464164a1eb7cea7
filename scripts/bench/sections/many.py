"""Many connections: green threads against OS threads, N connections in one process.

For each N, a ``fanout`` server process and one client process: either N
``GreenClient`` connections (a listener green thread each) or N plain sockets
read by one ``threading.Thread`` each (a process that never imports eventlet).
Measured: time to connect them all, RSS per connection once every reader is
parked in ``recv``, and a fan-out: the server writes 100 messages to every
connection, one write per message and client, and the clock stops when every
client has all of them.

OS threads are skipped at a size where their fan-out is predicted (linearly
from the previous size) to take more than ``thread_cap`` seconds per run.
"""

from __future__ import annotations

import gc
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import common, stats
from bench.api import Context, Job, Metric, Section, Summary, Table

NAME = "many_connections"

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"sizes": [20, 50], "runs": 1, "messages": 100, "thread_cap": 20.0},
    "quick": {"sizes": [200, 1_000], "runs": 2, "messages": 100, "thread_cap": 20.0},
    "full": {"sizes": [1_000, 5_000, 10_000], "runs": 3, "messages": 100, "thread_cap": 45.0},
}
RSS_GOAL_N = 10_000
FAN_OUT_GOAL_N = 5_000
SIDES = ("green", "threads")


def _finish(
    count: int, messages: int, tallies: list[tuple[int, int]], extra: dict[str, Any]
) -> dict[str, Any]:
    received = sum(t[0] for t in tallies)
    out_of_order = sum(t[1] for t in tallies)
    result = common.report_seq(count * messages, received, out_of_order)
    result.update(n=count, readers_reported=len(tallies), peak_rss=common.peak_rss(), **extra)
    return result


def _fan_out(
    control: common.Control, n: int, messages: int, wait: Callable[[float], Any], timeout: float
) -> dict[str, float | None]:
    """Have the server send ``messages`` to each of the ``n`` connections; time until ``wait``.

    ``wait(timeout)`` returns a true value once every reader is done. The fan-out time
    is ``None`` when it timed out. The server is told to close every connection after.
    """
    control.ask(f"wait {n}", "ready")
    cpu = common.cpu_seconds()
    start = time.perf_counter()
    server_seconds = float(control.ask(f"go {messages}", "sent").split()[1])
    finished = wait(timeout)
    fan_out_seconds = time.perf_counter() - start
    fan_out_cpu = common.cpu_seconds() - cpu
    control.ask("close", "closed")
    control.close()
    return {
        "fan_out_seconds": fan_out_seconds if finished else None,
        "server_send_seconds": server_seconds,
        "fan_out_cpu_seconds": fan_out_cpu,
    }


def job_green(port: int, n: int, messages: int, timeout: float) -> dict[str, Any]:
    """N ``GreenClient`` connections (a listener green thread each) in this one process."""
    greenclient = common.import_greenclient()
    import eventlet  # loaded already by import_greenclient()
    import eventlet.event
    import eventlet.greenpool

    common.raise_nofile(n + 256)
    control = common.Control(port, timeout)
    gc.collect()
    rss_before = common.current_rss()
    start = time.perf_counter()
    clients = [greenclient.connect(common.HOST, port) for _ in range(n)]
    connect_seconds = time.perf_counter() - start
    eventlet.sleep(0.3)  # every listener parked in recv
    gc.collect()
    rss_connected = common.current_rss()

    all_done = eventlet.event.Event()
    tallies: list[tuple[int, int]] = []

    def consume(client: Any) -> None:
        received = out_of_order = expected = 0
        try:
            while received < messages:
                seq = client.get(timeout=timeout)["seq"]
                if seq != expected:
                    out_of_order += 1
                    expected = seq
                expected += 1
                received += 1
        except Exception:
            pass  # reported through the tally
        finally:
            tallies.append((received, out_of_order))
            if len(tallies) == n:
                all_done.send(True)

    pool = eventlet.greenpool.GreenPool(n + 1)
    for client in clients:
        pool.spawn_n(consume, client)
    fan_out = _fan_out(control, n, messages, all_done.wait, timeout)
    for client in clients:
        client.close()
    pool.waitall()
    return _finish(
        n,
        messages,
        tallies,
        {
            "connect_seconds": connect_seconds,
            **fan_out,
            "rss_per_connection": (rss_connected - rss_before) / n,
        },
    )


def job_threads(port: int, n: int, messages: int, timeout: float) -> dict[str, Any]:
    """N plain sockets, each read by its own ``threading.Thread`` (no eventlet here)."""
    common.raise_nofile(n + 256)
    control = common.Control(port, timeout)
    lock = threading.Lock()
    all_done = threading.Event()
    tallies: list[tuple[int, int]] = []
    done = [0]

    def reader(sock: socket.socket) -> None:
        loads = json.loads
        received = out_of_order = expected = 0
        pending = b""
        try:
            while received < messages:
                data = sock.recv(65536)
                if not data:
                    break
                end = data.rfind(b"~")
                if end < 0:
                    pending += data
                    continue
                block = pending + data[:end] if pending else data[:end]
                pending = data[end + 1 :]
                for text in block.decode().split("~"):
                    seq = loads(text)["seq"]
                    if seq != expected:
                        out_of_order += 1
                        expected = seq
                    expected += 1
                    received += 1
            with lock:
                done[0] += 1
                if done[0] == n:
                    all_done.set()
        except (OSError, ValueError):
            pass  # the server resets every connection at the end
        finally:
            with lock:
                tallies.append((received, out_of_order))

    gc.collect()
    rss_before = common.current_rss()
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []
    start = time.perf_counter()
    for _ in range(n):
        sock = socket.create_connection((common.HOST, port), timeout=timeout)
        sock.settimeout(None)
        sockets.append(sock)
        thread = threading.Thread(target=reader, args=(sock,), daemon=True)
        thread.start()
        threads.append(thread)
    connect_seconds = time.perf_counter() - start
    time.sleep(0.3)  # every reader parked in recv
    gc.collect()
    rss_connected = common.current_rss()
    fan_out = _fan_out(control, n, messages, all_done.wait, timeout)
    deadline = time.monotonic() + 30
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for sock in sockets:
        sock.close()
    return _finish(
        n,
        messages,
        tallies,
        {
            "connect_seconds": connect_seconds,
            **fan_out,
            "rss_per_connection": (rss_connected - rss_before) / n,
        },
    )


JOBS = {"green": Job(job_green, green=True), "threads": Job(job_threads, green=False)}


def run(ctx: Context) -> dict[str, Any]:
    sizes = SIZES[ctx.mode]
    out: list[dict[str, Any]] = []
    thread_fan_out: tuple[int, float] | None = None
    for n in sizes["sizes"]:
        entry: dict[str, Any] = {"n": n, "runs": [], "threads_skipped": None}
        skip = None
        if thread_fan_out is not None:
            predicted = thread_fan_out[1] * n / thread_fan_out[0]
            if predicted > sizes["thread_cap"]:
                skip = (
                    f"skipped: fan-out predicted at {predicted:.0f} s or more per run "
                    f"(linear from {thread_fan_out[0]:,} threads: {thread_fan_out[1]:.1f} s)"
                )
                entry["threads_skipped"] = skip
        # OS threads' fan-out took 42 s at 5,000 on an idle machine, up to 142 s on a
        # busy one.
        timeout = ctx.timeout(60 + n * 0.02 + (n * 0.08 if skip is None else 0))
        thread_times: list[float] = []
        for index in range(sizes["runs"]):
            order = SIDES if index % 2 == 0 else SIDES[::-1]
            results: dict[str, Any] = {}
            for side in order:
                if side == "threads" and skip is not None:
                    ctx.step(f"{n:,} connections: threads skipped")
                    continue
                with ctx.server(["fanout"], lifetime=timeout + 30) as port:
                    # The worker gives up waiting a little before it would be
                    # killed, so that an unfinished fan-out is reported as such.
                    args = {
                        "port": port,
                        "n": n,
                        "messages": sizes["messages"],
                        "timeout": int(timeout * 0.8),
                    }
                    results[side] = ctx.worker(NAME, side, args, timeout)
                ctx.step(f"{n:,} connections: {side} {index + 1}/{sizes['runs']}")
            if results.get("threads", {}).get("fan_out_seconds") is not None:
                thread_times.append(results["threads"]["fan_out_seconds"])
            entry["runs"].append(results)
        if thread_times:
            thread_fan_out = (n, statistics.median(thread_times))
        out.append(entry)
    return {"messages": sizes["messages"], "sizes": out}


def summarize(raw: dict[str, Any], sizes: Mapping[str, Any]) -> Summary:
    rows = []
    metrics: dict[str, Metric] = {}
    per_size: list[dict[str, Any]] = []
    for entry in raw.get("sizes", []):
        n, runs = entry["n"], entry["runs"]
        fan_ratio = stats.paired(
            stats.column(runs, "threads", "fan_out_seconds"),
            stats.column(runs, "green", "fan_out_seconds"),
        )
        figures: dict[str, Any] = {"n": n}
        for side in SIDES:
            label = "greenclient" if side == "green" else "OS threads"
            if side == "threads" and entry.get("threads_skipped"):
                rows.append([f"{n:,}", label, "skipped", "", "", "", ""])
                continue
            connect = stats.summarize(stats.column(runs, side, "connect_seconds"))
            rss = stats.summarize(stats.column(runs, side, "rss_per_connection"))
            fan = stats.summarize(stats.column(runs, side, "fan_out_seconds"))
            server = stats.summarize(stats.column(runs, side, "server_send_seconds"))
            figures[side] = {"connect": connect, "rss": rss, "fan_out": fan}
            rows.append(
                [
                    f"{n:,}",
                    label,
                    stats.spread_text(connect, digits=2),
                    stats.spread_text(rss, 1e-3),
                    stats.spread_text(fan, digits=2),
                    stats.spread_text(server, digits=2),
                    stats.ratio_text(fan_ratio) if side == "green" else "",
                ]
            )
            if side == "green" and n == max(e["n"] for e in raw["sizes"]):
                metrics["rss_per_connection"] = stats.metric(
                    rss,
                    f"{n:,} GreenClient connections in one process (bytes, worst run)",
                    at_goal_size=n >= RSS_GOAL_N,
                )
        if fan_ratio["runs"]:
            target = FAN_OUT_GOAL_N
            eligible = [
                e["n"] for e in raw["sizes"] if not e.get("threads_skipped") and e["n"] <= target
            ]
            if n == max(eligible, default=None):
                metrics["fan_out_threads/green"] = stats.metric(
                    fan_ratio,
                    f"{n:,} clients, {raw['messages']} messages each, ratio per run",
                    at_goal_size=n >= target,
                )
        per_size.append(figures)
    notes = [
        f"OS threads at {e['n']:,}: {e['threads_skipped']}"
        for e in raw.get("sizes", [])
        if e.get("threads_skipped")
    ]
    table = Table(
        title=f"Many connections: connect all, RSS per connection, fan-out of "
        f"{raw.get('messages', 0)} messages to all",
        headers=[
            "N",
            "variant",
            "connect s",
            "RSS/conn KB",
            "fan-out s",
            "server writes s",
            "threads/green fan-out",
        ],
        rows=rows,
        notes=notes,
    )
    return Summary(tables=[table], metrics=metrics, extra={"sizes": per_size})


def plot(summary: Summary, out: Path) -> list[Path]:
    from bench import report

    series: dict[str, list[tuple[float, float]]] = {}
    for figures in summary.extra["sizes"]:
        for side in SIDES:
            if side in figures and figures[side]["fan_out"]["median"] is not None:
                label = "greenclient" if side == "green" else "OS threads"
                series.setdefault(label, []).append(
                    (figures["n"], figures[side]["fan_out"]["median"])
                )
    return [
        report.xy_plot(
            out / "many_connections.png",
            "Fan-out of 100 messages to N clients",
            "connections",
            "seconds",
            series,
        )
    ]


SECTION = Section(
    name=NAME,
    title="many connections",
    sizes=SIZES,
    run=run,
    summarize=summarize,
    jobs=JOBS,
    steps=lambda sizes: len(sizes["sizes"]) * sizes["runs"] * len(SIDES),
    plot=plot,
)
