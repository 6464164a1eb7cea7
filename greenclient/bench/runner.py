"""The orchestrator of greenclient-bench: plans the runs, starts every process, reports.

Run by file path, in an interpreter that never imports eventlet or greenclient
(``greenclient.bench.main`` starts it that way). It starts, one at a time:
the servers (:mod:`servers`), the plain variants (:mod:`plain`, by file path)
and the green variants (``python3 -m greenclient.bench.green``); every one has
a timeout and is killed if it overruns, and every server is stopped before the
run ends. Each section is repeated; the summary gives medians, the spread
(min to max) and ratios computed run by run, then the goals, met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenclient.bench import common, report
elif __package__:
    from . import common, report
else:  # started by file path: this directory is sys.path[0]
    import common
    import report

BENCH_DIR = Path(__file__).resolve().parent
PACKAGE_ROOT = BENCH_DIR.parent.parent  # the directory that holds greenclient/

KIB = 1024
MIB = 1024 * 1024

SECTIONS = {
    1: "framing in memory",
    2: "one connection",
    3: "many connections",
    4: "fairness",
    5: "slow consumer",
}


@dataclass(frozen=True)
class Mode:
    """The sizes of one mode of the benchmark."""

    name: str
    runs: int
    framing_messages: int
    large_sizes: tuple[int, ...]
    large_target_bytes: int
    large_cap_seconds: float
    framing_repeats: int
    framing_budget: float
    flood_messages: int
    many_sizes: tuple[int, ...]
    many_runs: int
    fan_out_messages: int
    fairness_runs: int
    slow_runs: int
    thread_cap_seconds: float
    timeout_scale: float = 1.0
    notes: tuple[str, ...] = field(default=())


MODES = {
    "smoke": Mode(
        name="smoke",
        runs=2,
        framing_messages=5_000,
        large_sizes=(16 * KIB, 64 * KIB, 256 * KIB),
        large_target_bytes=1 * MIB,
        large_cap_seconds=0.5,
        framing_repeats=2,
        framing_budget=0.5,
        flood_messages=5_000,
        many_sizes=(20, 50),
        many_runs=2,
        fan_out_messages=100,
        fairness_runs=2,
        slow_runs=2,
        thread_cap_seconds=20.0,
        timeout_scale=0.5,
        notes=("smoke: tiny sizes to check that everything runs; the figures mean little",),
    ),
    "quick": Mode(
        name="quick",
        runs=3,
        framing_messages=20_000,
        large_sizes=(256 * KIB, 1 * MIB, 4 * MIB),
        large_target_bytes=2 * MIB,
        large_cap_seconds=0.5,
        framing_repeats=3,
        framing_budget=0.5,
        flood_messages=50_000,
        many_sizes=(200, 1_000),
        many_runs=2,
        fan_out_messages=100,
        fairness_runs=2,
        slow_runs=2,
        thread_cap_seconds=20.0,
        timeout_scale=0.5,
        notes=("quick: smaller sizes than the goals name; the goals' sizes need the full mode",),
    ),
    "full": Mode(
        name="full",
        runs=5,
        framing_messages=200_000,
        large_sizes=(256 * KIB, 1 * MIB, 4 * MIB),
        large_target_bytes=16 * MIB,
        large_cap_seconds=10.0,
        framing_repeats=5,
        framing_budget=2.0,
        flood_messages=500_000,
        many_sizes=(1_000, 5_000, 10_000),
        many_runs=3,
        fan_out_messages=100,
        fairness_runs=3,
        slow_runs=3,
        thread_cap_seconds=45.0,
    ),
}

# -- processes ---------------------------------------------------------------------


class WorkerError(Exception):
    """A worker failed, overran its timeout, or printed no result."""


class Processes:
    """Starts workers and servers; each has a timeout; nothing outlives :meth:`close`."""

    def __init__(self, scratch: Path, verbose: bool):
        self.scratch = scratch
        self.verbose = verbose
        self.servers: list[subprocess.Popen[bytes]] = []
        self.log: list[dict[str, Any]] = []
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        env.setdefault("PYTHONHASHSEED", "0")
        self.env = env

    def plain(self, args: list[str], timeout: float) -> dict[str, Any]:
        """Run ``plain.py`` by file path (no eventlet) and return its result."""
        return self._run([sys.executable, str(BENCH_DIR / "plain.py"), *args], timeout)

    def green(self, args: list[str], timeout: float) -> dict[str, Any]:
        """Run ``greenclient.bench.green`` (patched by ``import greenclient``)."""
        return self._run([sys.executable, "-m", "greenclient.bench.green", *args], timeout)

    def _run(self, command: list[str], timeout: float) -> dict[str, Any]:
        # The worker's own alarm (--deadline) is a second bound, should we die first.
        command = [*command, "--deadline", str(int(timeout) + 10)]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=timeout, env=self.env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            # subprocess.run has killed and reaped the worker.
            raise WorkerError(f"timed out after {timeout:.0f} s: {' '.join(command[1:4])}") from exc
        seconds = time.perf_counter() - started
        stdout = done.stdout.decode("utf-8", "replace")
        stderr = done.stderr.decode("utf-8", "replace")
        self.log.append({"command": command[1:], "seconds": seconds, "returncode": done.returncode})
        if self.verbose and stderr.strip():
            sys.stderr.write(stderr)
        lines = [line for line in stdout.splitlines() if line.startswith(common.RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            tail = "\n".join(stderr.strip().splitlines()[-8:])
            raise WorkerError(f"exit status {done.returncode} of {' '.join(command[1:4])}:\n{tail}")
        result: dict[str, Any] = json.loads(lines[-1][len(common.RESULT_PREFIX) :])
        return result

    @contextlib.contextmanager
    def server(self, args: list[str], lifetime: float) -> Iterator[int]:
        """Start ``servers.py`` with ``args``; yield its port; stop it on exit."""
        errors: IO[bytes] = open(self.scratch / f"server-{len(self.log)}.err", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                str(BENCH_DIR / "servers.py"),
                *args,
                "--lifetime",
                str(int(lifetime)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=self.env,
        )
        self.servers.append(process)
        try:
            yield self._port(process)
        finally:
            self._stop(process)
            errors.close()

    def _port(self, process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=60):
                raise WorkerError("the server did not start listening within 60 s")
        line = process.stdout.readline().decode("ascii", "replace").split()
        if len(line) != 2 or line[0] != "LISTENING":
            raise WorkerError(f"the server said {line!r} instead of LISTENING")
        return int(line[1])

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        # Closing its stdin ends the server; kill it if it does not go.
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        if process in self.servers:
            self.servers.remove(process)

    def close(self) -> None:
        for process in list(self.servers):
            self._stop(process)


# -- progress ----------------------------------------------------------------------


class Progress:
    """A tqdm progress bar on stderr, or plain lines when tqdm is missing or disabled."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.done = 0
        self.bar: Any = None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm  # noqa: PLC0415  (optional: the bench extra)
            except ImportError:
                self.bar = None
            else:
                self.bar = tqdm(total=total, unit="job", file=sys.stderr, dynamic_ncols=True)

    def step(self, label: str, count: int = 1) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(count)
        elif self.enabled:
            sys.stderr.write(f"[{self.done}/{self.total}] {label}\n")

    def add(self, count: int) -> None:
        self.total += count
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- the sections ------------------------------------------------------------------


class Bench:
    """Runs the sections of one mode and collects every figure."""

    def __init__(self, mode: Mode, sections: list[int], processes: Processes, progress: Progress):
        self.mode = mode
        self.sections = sections
        self.procs = processes
        self.progress = progress
        self.failures: list[str] = []
        self.results: dict[str, Any] = {}

    def timeout(self, seconds: float) -> float:
        return max(30.0, seconds * self.mode.timeout_scale)

    def attempt(self, label: str, job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run one job; a failure is recorded, reported and does not stop the run."""
        try:
            result = job()
        except (WorkerError, OSError, ValueError) as exc:
            self.failures.append(f"{label}: {exc}")
            result = {"error": str(exc)}
        self.progress.step(label)
        return result

    @staticmethod
    def planned_jobs(mode: Mode, sections: list[int]) -> int:
        jobs = 0
        if 1 in sections:
            jobs += 2 * mode.runs
        if 2 in sections:
            jobs += len(report.ONE_CONNECTION_VARIANTS) * mode.runs
        if 3 in sections:
            jobs += 2 * len(mode.many_sizes) * mode.many_runs
        if 4 in sections:
            jobs += mode.fairness_runs
        if 5 in sections:
            jobs += mode.slow_runs
        return jobs

    def run(self) -> None:
        if 1 in self.sections:
            self.framing()
        if any(s in self.sections for s in (2, 4, 5)):
            self.flood()
        if 3 in self.sections:
            self.many()

    # section 1 -------------------------------------------------------------------

    def framing(self) -> None:
        mode = self.mode
        common_args = [
            "framing",
            "--messages",
            str(mode.framing_messages),
            "--sizes",
            *map(str, mode.large_sizes),
            "--target-bytes",
            str(mode.large_target_bytes),
            "--cap",
            str(mode.large_cap_seconds),
            "--repeats",
            str(mode.framing_repeats),
            "--budget",
            str(mode.framing_budget),
        ]
        timeout = self.timeout(600 if mode.name == "full" else 120)
        runs = []
        for run in range(mode.runs):
            args = [*common_args, "--seed", str(run)]
            pair: dict[str, Any] = {}
            order = ("plain", "green") if run % 2 == 0 else ("green", "plain")
            for side in order:
                spawn = self.procs.plain if side == "plain" else self.procs.green
                pair[side] = self.attempt(
                    f"framing {side} {run + 1}/{mode.runs}",
                    lambda spawn=spawn, args=args: spawn(args, timeout),  # type: ignore[misc]
                )
            runs.append(pair)
        self.results["framing"] = {"runs": runs}

    # sections 2, 4, 5 ------------------------------------------------------------

    def flood(self) -> None:
        mode = self.mode
        count = str(mode.flood_messages)
        budget = 60 + mode.flood_messages / 10_000 * (
            len(report.ONE_CONNECTION_VARIANTS) * mode.runs
            + 3 * (mode.fairness_runs + mode.slow_runs)
        )
        timeout = self.timeout(max(60.0, mode.flood_messages / 10_000))
        with self.procs.server(["blast", "--messages", count], lifetime=budget) as port:
            base = ["--port", str(port), "--messages", count, "--timeout", str(int(timeout))]
            if 2 in self.sections:
                runs = []
                for run in range(mode.runs):
                    shift = run % len(report.ONE_CONNECTION_VARIANTS)
                    order = (
                        report.ONE_CONNECTION_VARIANTS[shift:]
                        + report.ONE_CONNECTION_VARIANTS[:shift]
                    )
                    results: dict[str, Any] = {}
                    for variant, side in order:
                        spawn = self.procs.plain if side == "plain" else self.procs.green
                        args = ["client", "--variant", variant, *base]
                        results[variant] = self.attempt(
                            f"one connection {variant} {run + 1}/{mode.runs}",
                            lambda spawn=spawn, args=args: spawn(args, timeout),  # type: ignore[misc]
                        )
                        self._check_messages(f"one connection {variant}", results[variant])
                    runs.append(results)
                self.results["one_connection"] = {"messages": mode.flood_messages, "runs": runs}
            if 4 in self.sections:
                runs = []
                for run in range(mode.fairness_runs):
                    result = self.attempt(
                        f"fairness {run + 1}/{mode.fairness_runs}",
                        lambda: self.procs.green(["fairness", *base], timeout),
                    )
                    self._check_messages("fairness", result)
                    runs.append(result)
                self.results["fairness"] = {"messages": mode.flood_messages, "runs": runs}
            if 5 in self.sections:
                runs = []
                slow_timeout = self.timeout(max(60.0, mode.flood_messages / 5_000))
                for run in range(mode.slow_runs):
                    result = self.attempt(
                        f"slow consumer {run + 1}/{mode.slow_runs}",
                        lambda: self.procs.green(["slow", *base], slow_timeout),
                    )
                    self._check_messages("slow consumer", result)
                    runs.append(result)
                self.results["slow_consumer"] = {"messages": mode.flood_messages, "runs": runs}

    def _check_messages(self, label: str, result: dict[str, Any]) -> None:
        if "error" in result:
            return  # already a failure
        if not result.get("in_order"):
            self.failures.append(
                f"{label}: received {result.get('received')} of {result.get('sent')}, "
                f"{result.get('out_of_order')} out of order"
            )

    # section 3 -------------------------------------------------------------------

    def many(self) -> None:
        mode = self.mode
        sizes: list[dict[str, Any]] = []
        thread_fan_out: tuple[int, float] | None = None
        for n in mode.many_sizes:
            entry: dict[str, Any] = {"n": n, "runs": [], "threads_skipped": None}
            skip_threads = None
            if thread_fan_out is not None:
                predicted = thread_fan_out[1] * n / thread_fan_out[0]
                if predicted > mode.thread_cap_seconds:
                    skip_threads = (
                        f"skipped: fan-out predicted at {predicted:.0f} s or more per run "
                        f"(linear from {thread_fan_out[0]:,} threads: "
                        f"{thread_fan_out[1]:.1f} s); {mode.many_runs} runs would take minutes"
                    )
                    entry["threads_skipped"] = skip_threads
                    self.progress.add(-mode.many_runs)
            timeout = self.timeout(60 + n * 0.02 + (n * 0.012 if skip_threads is None else 0))
            thread_times: list[float] = []
            for run in range(mode.many_runs):
                order = ("green", "threads") if run % 2 == 0 else ("threads", "green")
                results: dict[str, Any] = {}
                for side in order:
                    if side == "threads" and skip_threads is not None:
                        continue
                    results[side] = self.attempt(
                        f"{n:,} connections {side} {run + 1}/{mode.many_runs}",
                        lambda side=side, n=n, timeout=timeout: self._many_one(side, n, timeout),  # type: ignore[misc]
                    )
                    self._check_messages(f"{n} connections {side}", results[side])
                threads = results.get("threads", {})
                if threads.get("fan_out_seconds") is not None:
                    thread_times.append(threads["fan_out_seconds"])
                entry["runs"].append(results)
            if thread_times:
                thread_fan_out = (n, statistics.median(thread_times))
            sizes.append(entry)
        self.results["many_connections"] = {"messages": mode.fan_out_messages, "sizes": sizes}

    def _many_one(self, side: str, n: int, timeout: float) -> dict[str, Any]:
        with self.procs.server(["fanout"], lifetime=timeout + 30) as port:
            args = [
                "many",
                "--n",
                str(n),
                "--port",
                str(port),
                "--messages",
                str(self.mode.fan_out_messages),
                # The worker gives up waiting a little before it would be killed,
                # so that an unfinished fan-out is reported as such.
                "--timeout",
                str(int(timeout * 0.8)),
            ]
            if side == "green":
                return self.procs.green(args, timeout)
            return self.procs.plain(args, timeout)


# -- the machine -------------------------------------------------------------------


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    init = (PACKAGE_ROOT / "greenclient" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'__version__ = "([^"]+)"', init)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "greenclient": found.group(1) if found else None,
        "eventlet": _version("eventlet"),
        "greenlet": _version("greenlet"),
        "orjson": _version("orjson"),
        "twisted": _version("twisted"),
        "nofile_hard_limit": _nofile_hard(),
    }


def _nofile_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


# -- entry -------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="greenclient-bench",
        description=(
            "Benchmark greenclient against OS threads, asyncio, Twisted and plain loops: "
            "framing in memory, one connection, many connections, fairness, memory. "
            "Prints a table, writes results.json, benchmark.txt and PNG plots."
        ),
        epilog=(
            "Every variant runs in its own process against a server process on 127.0.0.1; "
            "OS-thread, asyncio and Twisted variants run in processes that never import "
            "eventlet. The default (full) mode takes about 8 minutes on 2 cores; "
            "--quick takes under a minute."
        ),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, under a minute (CI)")
    size.add_argument("--full", action="store_true", help="the sizes the goals name (default)")
    size.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", default="bench-results", help="directory for results.json, benchmark.txt, *.png"
    )
    parser.add_argument(
        "--sections",
        default="1,2,3,4,5",
        help="comma-separated sections to run: "
        + ", ".join(f"{k} {v}" for k, v in SECTIONS.items())
        + " (default: all)",
    )
    parser.add_argument("--runs", type=int, help="repetitions of each section (default per mode)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    mode = MODES[name]
    if args.runs is not None:
        if args.runs < 1:
            raise SystemExit("--runs must be at least 1")
        mode = Mode(
            **{
                **asdict(mode),
                "runs": args.runs,
                "many_runs": args.runs,
                "fairness_runs": args.runs,
                "slow_runs": args.runs,
            }
        )
    try:
        sections = sorted({int(s) for s in args.sections.split(",") if s.strip()})
    except ValueError:
        raise SystemExit(f"--sections: numbers from {min(SECTIONS)} to {max(SECTIONS)}") from None
    if not sections or not set(sections) <= set(SECTIONS):
        raise SystemExit(f"--sections: numbers from {min(SECTIONS)} to {max(SECTIONS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.time()
    info = machine()
    progress = Progress(Bench.planned_jobs(mode, sections), enabled=not args.no_progress)
    scratch = Path(tempfile.mkdtemp(prefix="greenclient-bench-"))
    processes = Processes(scratch, args.verbose)
    bench = Bench(mode, sections, processes, progress)
    try:
        bench.run()
    except KeyboardInterrupt:
        bench.failures.append("interrupted")
    finally:
        processes.close()
        progress.close()
        shutil.rmtree(scratch, ignore_errors=True)
    duration = time.time() - started

    document = report.build(
        mode=asdict(mode),
        sections=sections,
        machine=info,
        raw=bench.results,
        failures=bench.failures,
        duration=duration,
        started=started,
    )
    document["processes"] = processes.log
    text = report.render(document)
    sys.stdout.write(text)
    (out / "benchmark.txt").write_text(text, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if not args.no_plots:
        try:
            written = report.plots(document, out)
        except ImportError as exc:
            sys.stderr.write(f"no plots: {exc} (pip install greenclient[bench])\n")
        else:
            document["plots"] = [str(p) for p in written]
            (out / "results.json").write_text(
                json.dumps(document, indent=1) + "\n", encoding="utf-8"
            )
    sys.stdout.write(f"\nresults: {out / 'results.json'}, {out / 'benchmark.txt'}\n")
    return 0 if not bench.failures else 1


if __name__ == "__main__":
    sys.exit(main())
