"""One connection: how fast messages from one server connection reach the application.

A ``blast`` server writes N ASCII chat messages of about 90 bytes (``seq`` 0..N-1)
over loopback; each variant reads them all in its own process and checks that
it got every one, in order. The runs are round-robin: in each run every
variant goes once, and each ratio is computed within a run. The two sides of
each goal's ratio run one right after the other (:data:`RUN_ORDER`), and every
other run goes in the reverse order, so that neither side always goes first and
a change in the machine's load between them weighs as little as it can.

The variants (their labels say what each is; none is a limit):

* greenclient (``for message in client``), with the standard library's json and
  with ``JsonCodec.orjson()``, on eventlet's default hub and on its asyncio hub;
* *one decoder call per read*: a blocking loop in the main thread that does
  ``recv(65536)``, splits off the complete frames and decodes them all with one
  ``json.loads("[" + ",".join(frames) + "]")`` (and the same with orjson). It
  does what greenclient's fast path does, with nothing else: no error
  isolation, limits, queue or green threads. It shows what the decoder allows;
* *per-frame loop*: the best per-frame blocking loop (recv 64 KiB, decode the
  complete frames' bytes once, split on ``~``, ``json.loads`` per frame);
* *asyncio*: ``asyncio.open_connection`` and ``StreamReader.readuntil(b"~")``,
  ``json.loads`` per frame: what a new program would use instead of eventlet;
* *textbook loop*: the loop greenclient replaces (shown in the README's
  Performance section): a ``threading.Thread`` doing
  ``buffer += sock.recv(1024).decode()`` and ``find``, and putting each message
  on a ``queue.Queue`` that the application (the main thread) reads, as
  greenclient's consumer reads ``client.queue``. The stream is ASCII so that
  its ``decode()`` of a cut multi-byte character never raises.

The plain variants run in processes that never import eventlet.

Each ratio is given twice: in messages per second of wall clock, and in
messages per CPU second of the client process (every thread of it). While a
variant is bound by its own CPU the two agree on an idle machine; on a shared
machine the wall clock also counts the time other processes had the CPU (and a
variant faster than the server process waits for it), so the goals are checked
on the CPU figure, which counts the client's own work only.
"""

from __future__ import annotations

import gc
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from bench import common, stats
from bench.api import Context, Job, Metric, Section, Summary, Table

NAME = "one_connection"
RECV_SIZE = 65536

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"messages": 5_000, "runs": 2},
    "quick": {"messages": 50_000, "runs": 3},
    "full": {"messages": 300_000, "runs": 7},
}
GOAL_MESSAGES = 300_000

ASYNCIO_HUB: dict[str, str | None] = {"EVENTLET_HUB": "asyncio"}
#: The default hub whatever the benchmark's own environment says.
DEFAULT_HUB: dict[str, str | None] = {"EVENTLET_HUB": None}

#: key -> (label, job, job arguments, environment); the order of the table.
VARIANTS: dict[str, tuple[str, str, dict[str, Any], dict[str, str | None]]] = {
    "greenclient": ("greenclient, json", "greenclient", {"codec": "json"}, DEFAULT_HUB),
    "greenclient_orjson": (
        "greenclient, orjson",
        "greenclient",
        {"codec": "orjson"},
        DEFAULT_HUB,
    ),
    "greenclient_asyncio": (
        "greenclient, json, asyncio hub",
        "greenclient",
        {"codec": "json"},
        ASYNCIO_HUB,
    ),
    "greenclient_orjson_asyncio": (
        "greenclient, orjson, asyncio hub",
        "greenclient",
        {"codec": "orjson"},
        ASYNCIO_HUB,
    ),
    "one_call": ("one json.loads per read (bare loop)", "one_call", {"codec": "json"}, {}),
    "one_call_orjson": (
        "one orjson.loads per read (bare loop)",
        "one_call",
        {"codec": "orjson"},
        {},
    ),
    "per_frame": ("per-frame loop, json.loads per frame", "per_frame", {}, {}),
    "textbook": ("textbook loop (Thread, recv(1024), find, Queue)", "textbook", {}, {}),
    "asyncio": ("asyncio readuntil, json.loads per frame", "asyncio", {}, {}),
}

#: The order of a run (every other run: reversed). Each goal's two sides are
#: neighbours: greenclient and one_call, one_call_orjson and greenclient_orjson,
#: per_frame and greenclient.
RUN_ORDER: tuple[str, ...] = (
    "textbook",
    "per_frame",
    "greenclient",
    "one_call",
    "one_call_orjson",
    "greenclient_orjson",
    "greenclient_orjson_asyncio",
    "greenclient_asyncio",
    "asyncio",
)

#: Ratios reported (numerator, denominator); goals name some of them.
RATIOS: tuple[tuple[str, str], ...] = (
    ("greenclient", "one_call"),
    ("greenclient_orjson", "one_call_orjson"),
    ("greenclient", "textbook"),
    ("greenclient", "per_frame"),
    ("greenclient_orjson", "greenclient"),
    ("one_call", "per_frame"),
    ("greenclient_asyncio", "one_call"),
    ("greenclient_orjson_asyncio", "one_call_orjson"),
    ("greenclient_asyncio", "greenclient"),
    ("greenclient", "asyncio"),
)


# -- worker side -------------------------------------------------------------------


def _measured(work: Callable[[], tuple[int, int]], sent: int) -> dict[str, Any]:
    """Run ``work`` (returns received, out_of_order); add time, CPU and memory."""
    gc.collect()
    rss_before = common.current_rss()
    cpu = common.cpu_seconds()
    start = time.perf_counter()
    received, out_of_order = work()
    seconds = time.perf_counter() - start
    cpu = common.cpu_seconds() - cpu
    result = common.report_seq(sent, received, out_of_order)
    result.update(
        seconds=seconds,
        rate=received / seconds if seconds else 0.0,
        cpu_seconds=cpu,
        cpu_us_per_message=cpu / max(1, received) * 1e6,
        rss_before=rss_before,
        peak_rss=common.peak_rss(),
    )
    return result


def job_greenclient(port: int, messages: int, codec: str) -> dict[str, Any]:
    """greenclient with default options (or the orjson codec): ``for message in client``."""
    greenclient = common.import_greenclient()
    options: dict[str, Any] = {}
    if codec == "orjson":
        options["codec"] = greenclient.JsonCodec.orjson()

    def work() -> tuple[int, int]:
        received = out_of_order = expected = 0
        with greenclient.connect(common.HOST, port, **options) as client:
            for message in client:
                seq = message["seq"]
                if seq != expected:
                    out_of_order += 1
                    expected = seq
                expected += 1
                received += 1
        return received, out_of_order

    result = _measured(work, messages)
    import eventlet.hubs

    result["hub"] = type(eventlet.hubs.get_hub()).__module__
    return result


def _loads(codec: str) -> Callable[[bytes], Any]:
    if codec == "orjson":
        import orjson  # the bench extra

        loads: Callable[[bytes], Any] = orjson.loads
        return loads
    return json.loads


def job_one_call(port: int, messages: int, codec: str) -> dict[str, Any]:
    """recv 64 KiB, split off the complete frames, decode them with one call per read."""
    loads = _loads(codec)

    def work() -> tuple[int, int]:
        received = out_of_order = expected = 0
        pending = b""
        with socket.create_connection((common.HOST, port)) as sock:
            recv = sock.recv
            while True:
                data = recv(RECV_SIZE)
                if not data:
                    break
                if pending:
                    data = pending + data
                frames = data.split(b"~")
                pending = frames.pop()
                if not frames:
                    continue
                for message in loads(b"[" + b",".join(frames) + b"]"):
                    seq = message["seq"]
                    if seq != expected:
                        out_of_order += 1
                        expected = seq
                    expected += 1
                    received += 1
        if pending:
            raise ValueError(f"stream ended inside a frame ({len(pending)} bytes)")
        return received, out_of_order

    return _measured(work, messages)


def job_per_frame(port: int, messages: int) -> dict[str, Any]:
    """recv 64 KiB, decode the complete frames' bytes once, split, ``json.loads`` each."""

    def work() -> tuple[int, int]:
        loads = json.loads
        received = out_of_order = expected = 0
        pending = b""
        with socket.create_connection((common.HOST, port)) as sock:
            recv = sock.recv
            while True:
                data = recv(RECV_SIZE)
                if not data:
                    break
                end = data.rfind(b"~")
                if end < 0:
                    pending += data
                    continue
                # The delimiter is ASCII: cutting at it never splits a character.
                block = pending + data[:end] if pending else data[:end]
                pending = data[end + 1 :]
                for text in block.decode().split("~"):
                    seq = loads(text)["seq"]
                    if seq != expected:
                        out_of_order += 1
                        expected = seq
                    expected += 1
                    received += 1
        if pending:
            raise ValueError(f"stream ended inside a frame ({len(pending)} bytes)")
        return received, out_of_order

    return _measured(work, messages)


def job_textbook(port: int, messages: int) -> dict[str, Any]:
    """The textbook loop in a ``threading.Thread``; the main thread reads its queue."""
    import queue  # only this variant needs it

    inbox: queue.Queue[Any] = queue.Queue()
    done = object()  # put last, even when the reader fails

    def reader() -> None:
        try:
            sock = socket.create_connection((common.HOST, port))
            buffer = ""
            while True:
                data = sock.recv(1024)
                if not data:
                    break
                buffer += data.decode()
                end = buffer.find("~")
                while end >= 0:
                    inbox.put(json.loads(buffer[:end]))
                    buffer = buffer[end + 1 :]
                    end = buffer.find("~")
            sock.close()
        finally:
            inbox.put(done)

    def work() -> tuple[int, int]:
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        received = out_of_order = expected = 0
        get = inbox.get
        while True:
            message = get()
            if message is done:
                break
            seq = message["seq"]
            if seq != expected:
                out_of_order += 1
                expected = seq
            expected += 1
            received += 1
        thread.join()
        return received, out_of_order

    return _measured(work, messages)


def job_asyncio(port: int, messages: int) -> dict[str, Any]:
    """asyncio (no eventlet): ``open_connection``, ``readuntil(b"~")``, ``json.loads``."""
    import asyncio  # only this variant needs it

    async def read() -> tuple[int, int]:
        reader, writer = await asyncio.open_connection(common.HOST, port, limit=1 << 20)
        readuntil = reader.readuntil
        loads = json.loads
        received = out_of_order = expected = 0
        try:
            while True:
                try:
                    frame = await readuntil(b"~")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        raise ValueError("stream ended inside a frame") from exc
                    break
                seq = loads(frame[:-1])["seq"]
                if seq != expected:
                    out_of_order += 1
                    expected = seq
                expected += 1
                received += 1
        finally:
            writer.close()
            await writer.wait_closed()
        return received, out_of_order

    return _measured(lambda: asyncio.run(read()), messages)


JOBS = {
    "asyncio": Job(job_asyncio, green=False),
    "greenclient": Job(job_greenclient, green=True),
    "one_call": Job(job_one_call, green=False),
    "per_frame": Job(job_per_frame, green=False),
    "textbook": Job(job_textbook, green=False),
}


# -- orchestrator side -------------------------------------------------------------


def run(ctx: Context) -> dict[str, Any]:
    sizes = SIZES[ctx.mode]
    messages, runs = sizes["messages"], sizes["runs"]
    keys = list(RUN_ORDER)
    timeout = ctx.timeout(60 + messages / 5_000)
    lifetime = 120 + timeout * len(keys) * runs
    sample = common.stream(1000, "ascii")
    results: list[dict[str, Any]] = []
    with ctx.server(
        ["blast", "--messages", str(messages), "--kind", "ascii"], lifetime=lifetime
    ) as port:
        for index in range(runs):
            one_run: dict[str, Any] = {}
            for key in keys if index % 2 == 0 else keys[::-1]:
                _, job, args, env = VARIANTS[key]
                one_run[key] = ctx.worker(
                    NAME, job, {"port": port, "messages": messages, **args}, timeout, env=env
                )
                ctx.step(f"one connection: {key} {index + 1}/{runs}")
            results.append(one_run)
    return {
        "messages": messages,
        "message_bytes": len(sample) / 1000 - 1,
        "runs": results,
    }


def _label(key: str) -> str:
    return VARIANTS[key][0]


def summarize(raw: dict[str, Any], sizes: Mapping[str, Any]) -> Summary:
    runs: list[dict[str, Any]] = raw.get("runs", [])
    messages = raw.get("messages", 0)
    rows = []
    variants: dict[str, Any] = {}
    for key in VARIANTS:
        rate = stats.summarize(stats.column(runs, key, "rate"))
        cpu = stats.summarize(stats.column(runs, key, "cpu_us_per_message"))
        rss = stats.summarize(stats.column(runs, key, "peak_rss"))
        lost = sum(v or 0 for v in stats.column(runs, key, "lost"))
        in_order = all(run.get(key, {}).get("in_order") for run in runs)
        variants[key] = {"label": _label(key), "rate": rate, "cpu": cpu, "peak_rss": rss}
        rows.append(
            [
                _label(key),
                stats.spread_text(rate, digits=0),
                stats.spread_text(cpu, digits=2),
                stats.spread_text(rss, scale=1e-6),
                str(lost),
                "yes" if in_order and runs else "NO",
            ]
        )
    at_size = messages >= GOAL_MESSAGES
    where = f"{messages:,} messages, messages per CPU second, ratio per run"
    metrics: dict[str, Metric] = {}
    ratio_rows = []
    for top, bottom in RATIOS:
        wall = stats.paired(stats.column(runs, top, "rate"), stats.column(runs, bottom, "rate"))
        # Messages per CPU second: CPU time per message, bottom's over top's.
        cpu = stats.paired(
            stats.column(runs, bottom, "cpu_us_per_message"),
            stats.column(runs, top, "cpu_us_per_message"),
        )
        note = "" if wall["median"] is None else f"wall clock: {stats.ratio_text(wall)}"
        metrics[f"{top}/{bottom}"] = stats.metric(cpu, where, at_goal_size=at_size, note=note)
        ratio_rows.append(
            [f"{_label(top)} / {_label(bottom)}", stats.ratio_text(cpu), stats.ratio_text(wall)]
        )
    size = raw.get("message_bytes") or 0
    tables = [
        Table(
            title=(
                f"One connection, {messages:,} messages of ~{size:.0f} bytes from a server "
                f"process ({len(runs)} runs, round-robin)"
            ),
            headers=["variant", "messages/s", "CPU us/message", "peak RSS MB", "lost", "in order"],
            rows=rows,
        ),
        Table(
            title="One connection: ratios, computed within each run (above 1: the first is faster)",
            headers=["ratio", "messages per CPU second", "messages per second (wall)"],
            rows=ratio_rows,
            notes=[
                "goals are checked on messages per CPU second: on a shared machine the wall "
                "clock also counts the time other processes had the CPU",
            ],
        ),
    ]
    return Summary(tables=tables, metrics=metrics, extra={"variants": variants})


def plot(summary: Summary, out: Any) -> list[Any]:
    from bench import report

    variants = summary.extra["variants"]
    bars = [
        (v["label"], v["rate"]["median"], v["rate"]["min"], v["rate"]["max"])
        for v in variants.values()
        if v["rate"]["median"] is not None
    ]
    return [report.bar_plot(out / "one_connection.png", "One connection", "messages/s", bars)]


SECTION = Section(
    name=NAME,
    title="one connection",
    sizes=SIZES,
    run=run,
    summarize=summarize,
    jobs=JOBS,
    steps=lambda sizes: sizes["runs"] * len(VARIANTS),
    plot=plot,
)
