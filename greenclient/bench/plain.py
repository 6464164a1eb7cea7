"""The benchmark's variants without eventlet: OS threads, asyncio, Twisted, plain loops.

Started by file path (``python3 .../bench/plain.py JOB ...``), so that
``greenclient/__init__.py`` and its ``eventlet.monkey_patch()`` never run here:
these threads, sockets and event loops are the operating system's own. Each
job prints one ``RESULT {json}`` line (see :func:`common.emit`).

Jobs:

``framing``   section 1: the framers of :mod:`framing_cases`, in memory
``client``    section 2: one connection to a ``blast`` server: ``raw`` (a
              blocking loop in an OS thread, batch framing, ``json.loads``),
              ``thread-queue`` (an OS thread feeding ``queue.Queue``),
              ``asyncio`` (``open_connection`` + ``readuntil``)
``many``      section 3: N connections to a ``fanout`` server, one
              ``threading.Thread`` each
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenclient.bench import common, framing_cases
elif __package__:
    from . import common, framing_cases
else:  # started by file path: this directory is sys.path[0]
    import common
    import framing_cases

RECV_SIZE = 65536


# -- section 1 ---------------------------------------------------------------------


def job_framing(args: argparse.Namespace) -> dict[str, Any]:
    variants = framing_cases.PLAIN_VARIANTS
    streams = framing_cases.run_streams(
        variants, args.messages, args.seed, repeats=args.repeats, budget=args.budget
    )
    large = framing_cases.run_large(variants, args.sizes, args.target_bytes, args.cap)
    described = {name: text for name, (_, text) in variants.items()}
    return {"streams": streams, "large": large, "variants": described}


# -- section 2 ---------------------------------------------------------------------


def _frames(sock: socket.socket) -> Any:
    """Yield lists of complete frames' text, decoded in batches: the best plain framing.

    Everything up to the last delimiter of a recv is decoded at once (the
    delimiter is ASCII, so the cut never splits a character) and split as str.
    """
    recv = sock.recv
    pending = b""
    while True:
        data = recv(RECV_SIZE)
        if not data:
            if pending:
                raise ValueError(f"stream ended inside a frame ({len(pending)} bytes)")
            return
        end = data.rfind(b"~")
        if end < 0:
            pending += data
            continue
        block = pending + data[:end] if pending else data[:end]
        pending = data[end + 1 :]
        yield block.decode().split("~")


def _measure(work: Callable[[], tuple[int, int]], sent: int) -> dict[str, Any]:
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


def client_raw(port: int) -> tuple[int, int]:
    """A blocking recv loop in its own OS thread, batch framing and ``json.loads``."""
    outcome: list[tuple[int, int]] = []

    def work() -> None:
        loads = json.loads
        received = out_of_order = expected = 0
        with socket.create_connection((common.HOST, port)) as sock:
            for texts in _frames(sock):
                for text in texts:
                    seq = loads(text)["seq"]
                    if seq != expected:
                        out_of_order += 1
                        expected = seq
                    expected += 1
                    received += 1
        outcome.append((received, out_of_order))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join()
    if not outcome:
        raise RuntimeError("the reader thread failed")
    return outcome[0]


def client_thread_queue(port: int) -> tuple[int, int]:
    """An OS thread reads, frames and decodes; the main thread takes from ``queue.Queue``.

    The queue is bounded like greenclient's (4096 messages).
    """
    messages: queue.Queue[Any] = queue.Queue(4096)
    end = object()
    failure: list[BaseException] = []

    def reader() -> None:
        loads = json.loads
        put = messages.put
        try:
            with socket.create_connection((common.HOST, port)) as sock:
                for texts in _frames(sock):
                    for text in texts:
                        put(loads(text))
        except BaseException as exc:
            failure.append(exc)
        finally:
            put(end)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    get = messages.get
    received = out_of_order = expected = 0
    while True:
        message = get(timeout=60)
        if message is end:
            break
        seq = message["seq"]
        if seq != expected:
            out_of_order += 1
            expected = seq
        expected += 1
        received += 1
    thread.join(10)
    if failure:
        raise RuntimeError(f"the reader thread failed: {failure[0]!r}")
    return received, out_of_order


def client_asyncio(port: int) -> tuple[int, int]:
    """asyncio ``open_connection`` and ``readuntil(b"~")``, then ``json.loads``."""

    async def work() -> tuple[int, int]:
        reader, writer = await asyncio.open_connection(
            common.HOST, port, limit=framing_cases.FRAME_LIMIT
        )
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
                seq = loads(frame[:-1].decode())["seq"]
                if seq != expected:
                    out_of_order += 1
                    expected = seq
                expected += 1
                received += 1
        finally:
            writer.close()
            await writer.wait_closed()
        return received, out_of_order

    return asyncio.run(work())


CLIENTS: dict[str, Callable[[int], tuple[int, int]]] = {
    "raw": client_raw,
    "thread-queue": client_thread_queue,
    "asyncio": client_asyncio,
}


def job_client(args: argparse.Namespace) -> dict[str, Any]:
    client = CLIENTS[args.variant]
    result = _measure(lambda: client(args.port), args.messages)
    result["variant"] = args.variant
    return result


# -- section 3 ---------------------------------------------------------------------


def job_many(args: argparse.Namespace) -> dict[str, Any]:
    """N connections, each read by its own ``threading.Thread`` with the same framing."""
    count, messages = args.n, args.messages
    common.raise_nofile(count + 256)
    control = common.Control(args.port, args.timeout)
    lock = threading.Lock()
    all_done = threading.Event()
    done = [0]
    tallies: list[tuple[int, int]] = []

    def reader(sock: socket.socket) -> None:
        loads = json.loads
        received = out_of_order = expected = 0
        try:
            for texts in _frames(sock):
                for text in texts:
                    seq = loads(text)["seq"]
                    if seq != expected:
                        out_of_order += 1
                        expected = seq
                    expected += 1
                    received += 1
                    if received == messages:
                        with lock:
                            done[0] += 1
                            if done[0] == count:
                                all_done.set()
        except (OSError, ValueError):
            pass  # the server resets every connection at the end
        finally:
            sock.close()
            with lock:
                tallies.append((received, out_of_order))

    gc.collect()
    rss_before = common.current_rss()
    threads: list[threading.Thread] = []
    start = time.perf_counter()
    for _ in range(count):
        sock = socket.create_connection((common.HOST, args.port), timeout=args.timeout)
        sock.settimeout(None)
        thread = threading.Thread(target=reader, args=(sock,), daemon=True)
        thread.start()
        threads.append(thread)
    connect_seconds = time.perf_counter() - start
    time.sleep(0.3)  # every reader parked in recv
    gc.collect()
    rss_connected = common.current_rss()
    control.ask(f"wait {count}", "ready")
    cpu = common.cpu_seconds()
    start = time.perf_counter()
    server_seconds = float(control.ask(f"go {messages}", "sent").split()[1])
    finished = all_done.wait(args.timeout)
    fan_out_seconds = time.perf_counter() - start
    fan_out_cpu = common.cpu_seconds() - cpu
    control.ask("close", "closed")
    control.close()
    deadline = time.monotonic() + 30
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    received = sum(t[0] for t in tallies)
    out_of_order = sum(t[1] for t in tallies)
    result = common.report_seq(count * messages, received, out_of_order)
    result.update(
        n=count,
        connect_seconds=connect_seconds,
        fan_out_seconds=fan_out_seconds if finished else None,
        server_send_seconds=server_seconds,
        fan_out_cpu_seconds=fan_out_cpu,
        finished=finished,
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
    parser.add_argument("job", choices=["framing", "client", "many"])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--target-bytes", type=int, default=1 << 20)
    parser.add_argument("--cap", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--variant", choices=sorted(CLIENTS), default="raw")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args(argv)
    common.install_deadline(args.deadline)
    jobs = {"framing": job_framing, "client": job_client, "many": job_many}
    common.emit(jobs[args.job](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
