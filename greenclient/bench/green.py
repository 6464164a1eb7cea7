"""The benchmark's greenclient variants, in a monkey-patched process.

Run as ``python3 -m greenclient.bench.green JOB ...``: importing greenclient
patches the process first, as in any greenclient application. Each job prints
one ``RESULT {json}`` line.

Jobs:

``framing``   section 1: ``DelimiterFramer`` (and ``MessageProtocol`` when
              decoding), next to ``bytes.split`` timed in this same process
``client``    section 2: one ``GreenClient`` reading a ``blast`` server
              (``default`` settings or the ``orjson`` codec)
``fairness``  section 4: the same, while a green thread that wants to run every
              10 ms records how late it runs
``slow``      section 5: the same with a slow consumer; peak RSS
``many``      section 3: N ``GreenClient`` connections to a ``fanout`` server
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

import eventlet
import eventlet.event
import eventlet.greenpool

import greenclient
from greenclient.bench import common, framing_cases
from greenclient.framing import DelimiterFramer
from greenclient.protocol import MessageProtocol

# -- section 1 ---------------------------------------------------------------------


def greenclient_framer(chunks: list[bytes], decode: bool, drain: framing_cases.Drain) -> None:
    """greenclient's framer fed chunk by chunk; with ``decode``, the whole protocol."""
    if decode:
        receive = MessageProtocol(max_frame_size=framing_cases.FRAME_LIMIT).receive_data
        for chunk in chunks:
            drain(receive(chunk))
    else:
        feed = DelimiterFramer(b"~", framing_cases.FRAME_LIMIT).feed
        for chunk in chunks:
            drain(feed(chunk))


GREEN_VARIANTS: dict[str, tuple[framing_cases.Variant, str]] = {
    "greenclient": (
        greenclient_framer,
        "DelimiterFramer.feed; MessageProtocol.receive_data when decoding",
    ),
    "bytes.split (same process)": (
        framing_cases.bytes_split,
        "bytes.split per chunk, timed next to greenclient",
    ),
}


def job_framing(args: argparse.Namespace) -> dict[str, Any]:
    streams = framing_cases.run_streams(
        GREEN_VARIANTS, args.messages, args.seed, repeats=args.repeats, budget=args.budget
    )
    large = framing_cases.run_large(GREEN_VARIANTS, args.sizes, args.target_bytes, args.cap)
    described = {name: text for name, (_, text) in GREEN_VARIANTS.items()}
    return {"streams": streams, "large": large, "variants": described}


# -- sections 2, 4, 5 --------------------------------------------------------------


def _client_options(variant: str) -> dict[str, Any]:
    if variant == "orjson":
        return {"codec": greenclient.JsonCodec.orjson()}
    return {}


def _consume(
    client: greenclient.GreenClient,
    pause_every: int = 0,
    pause: float = 0.0,
    queue_sizes: list[int] | None = None,
) -> tuple[int, int]:
    """Take every message with ``for message in client`` and check the sequence.

    With ``pause_every``, sleep ``pause`` seconds after every that many
    messages (a slow consumer), noting the queue's length in ``queue_sizes``.
    """
    received = out_of_order = expected = 0
    if pause_every:
        sizes = queue_sizes if queue_sizes is not None else []
        for message in client:
            seq = message["seq"]
            if seq != expected:
                out_of_order += 1
                expected = seq
            expected += 1
            received += 1
            if received % pause_every == 0:
                sizes.append(client.queue.qsize())
                eventlet.sleep(pause)
        return received, out_of_order
    for message in client:
        seq = message["seq"]
        if seq != expected:
            out_of_order += 1
            expected = seq
        expected += 1
        received += 1
    return received, out_of_order


def _measured(
    args: argparse.Namespace, **consume: Any
) -> tuple[dict[str, Any], greenclient.GreenClient]:
    gc.collect()
    rss_before = common.current_rss()
    cpu = common.cpu_seconds()
    start = time.perf_counter()
    client = greenclient.connect(common.HOST, args.port, **_client_options(args.variant))
    try:
        received, out_of_order = _consume(client, **consume)
    finally:
        client.close()
    seconds = time.perf_counter() - start
    cpu = common.cpu_seconds() - cpu
    result = common.report_seq(args.messages, received, out_of_order)
    result.update(
        variant=args.variant,
        seconds=seconds,
        rate=received / seconds if seconds else 0.0,
        cpu_seconds=cpu,
        cpu_us_per_message=cpu / max(1, received) * 1e6,
        rss_before=rss_before,
        peak_rss=common.peak_rss(),
        errors=dict(client.stats.errors_by_kind),
    )
    return result, client


def job_client(args: argparse.Namespace) -> dict[str, Any]:
    return _measured(args)[0]


def job_fairness(args: argparse.Namespace) -> dict[str, Any]:
    """A green thread asks to run every 10 ms while the client reads the flood.

    Its delay is the time past its due time. Beats are classed by when they
    started: before ``connect()`` (the hub idle), during it, or while the
    client reads the flood; the goal concerns the last.
    """
    period = args.period
    beats: list[tuple[float, float]] = []  # (started, delay)
    running = [True]
    clock = time.perf_counter

    def heartbeat() -> None:
        while running[0] and len(beats) < 1_000_000:
            before = clock()
            eventlet.sleep(period)
            beats.append((before, clock() - before - period))

    gc.collect()
    rss_before = common.current_rss()
    beat = eventlet.spawn(heartbeat)
    eventlet.sleep(period * 5)  # idle beats: the hub's own timer accuracy
    cpu = common.cpu_seconds()
    start = clock()
    client = greenclient.connect(common.HOST, args.port, **_client_options(args.variant))
    connected = clock()
    try:
        received, out_of_order = _consume(client)
    finally:
        client.close()
        finished = clock()
        running[0] = False
        beat.wait()
    cpu = common.cpu_seconds() - cpu
    idle = [d for t, d in beats if t < start]
    during_connect = [d for t, d in beats if start <= t < connected]
    flood = [d for t, d in beats if connected <= t < finished]
    ordered = sorted(flood)
    seconds = finished - start
    result = common.report_seq(args.messages, received, out_of_order)
    result.update(
        variant=args.variant,
        seconds=seconds,
        rate=received / seconds if seconds else 0.0,
        cpu_seconds=cpu,
        cpu_us_per_message=cpu / max(1, received) * 1e6,
        rss_before=rss_before,
        peak_rss=common.peak_rss(),
        period=period,
        beats=len(flood),
        worst_delay=ordered[-1] if ordered else None,
        worst_gap=(ordered[-1] + period) if ordered else None,
        p99_delay=ordered[int(len(ordered) * 0.99)] if ordered else None,
        median_delay=ordered[len(ordered) // 2] if ordered else None,
        idle_worst_delay=max(idle, default=None),
        connect_worst_delay=max(during_connect, default=None),
        connect_seconds=connected - start,
        delays=[round(d, 6) for d in flood[:20000]],
    )
    return result


def job_slow(args: argparse.Namespace) -> dict[str, Any]:
    """The default client with a consumer that sleeps ``pause`` every ``pause_every`` messages."""
    sizes: list[int] = []
    result, client = _measured(
        args, pause_every=args.pause_every, pause=args.pause, queue_sizes=sizes
    )
    result.update(
        pause_every=args.pause_every,
        pause=args.pause,
        maxsize=client.queue.maxsize,
        longest_queue=max(sizes, default=0),
    )
    return result


# -- section 3 ---------------------------------------------------------------------


def job_many(args: argparse.Namespace) -> dict[str, Any]:
    """N ``GreenClient`` connections (a listener green thread each) in this one process."""
    count, messages = args.n, args.messages
    common.raise_nofile(count + 256)
    control = common.Control(args.port, args.timeout)
    gc.collect()
    rss_before = common.current_rss()
    clients: list[greenclient.GreenClient] = []
    start = time.perf_counter()
    for _ in range(count):
        clients.append(greenclient.connect(common.HOST, args.port))
    connect_seconds = time.perf_counter() - start
    eventlet.sleep(0.3)  # every listener parked in recv
    gc.collect()
    rss_connected = common.current_rss()

    all_done = eventlet.event.Event()
    done = [0]
    tallies: list[tuple[int, int]] = []

    def consume(client: greenclient.GreenClient) -> None:
        received = out_of_order = expected = 0
        try:
            while received < messages:
                seq = client.get(timeout=args.timeout)["seq"]
                if seq != expected:
                    out_of_order += 1
                    expected = seq
                expected += 1
                received += 1
        except Exception:
            pass  # reported through the tally
        finally:
            tallies.append((received, out_of_order))
            done[0] += 1
            if done[0] == count:
                all_done.send(True)

    pool = eventlet.greenpool.GreenPool(count + 1)
    for client in clients:
        pool.spawn_n(consume, client)
    control.ask(f"wait {count}", "ready")
    cpu = common.cpu_seconds()
    start = time.perf_counter()
    server_seconds = float(control.ask(f"go {messages}", "sent").split()[1])
    finished = all_done.wait(args.timeout)
    fan_out_seconds = time.perf_counter() - start
    fan_out_cpu = common.cpu_seconds() - cpu
    control.ask("close", "closed")
    control.close()
    for client in clients:
        client.close()
    pool.waitall()
    received = sum(t[0] for t in tallies)
    out_of_order = sum(t[1] for t in tallies)
    result = common.report_seq(count * messages, received, out_of_order)
    result.update(
        n=count,
        connect_seconds=connect_seconds,
        fan_out_seconds=fan_out_seconds if finished else None,
        server_send_seconds=server_seconds,
        fan_out_cpu_seconds=fan_out_cpu,
        finished=bool(finished),
        rss_before=rss_before,
        rss_connected=rss_connected,
        rss_per_connection=(rss_connected - rss_before) / count,
        peak_rss=common.peak_rss(),
        readers_reported=len(tallies),
    )
    return result


# -- entry -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", choices=["framing", "client", "fairness", "slow", "many"])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--target-bytes", type=int, default=1 << 20)
    parser.add_argument("--cap", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--variant", choices=["default", "orjson"], default="default")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--period", type=float, default=0.010)
    parser.add_argument("--pause-every", type=int, default=100)
    parser.add_argument("--pause", type=float, default=0.001)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args(argv)
    common.install_deadline(args.deadline)
    jobs = {
        "framing": job_framing,
        "client": job_client,
        "fairness": job_fairness,
        "slow": job_slow,
        "many": job_many,
    }
    common.emit(jobs[args.job](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
