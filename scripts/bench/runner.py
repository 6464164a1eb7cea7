"""The orchestrator: runs the chosen sections, checks the goals, writes the report.

It never imports eventlet or greenclient. Every worker (``python -m
bench.worker``), server (``python -m bench.servers``) and pyperf run is a
process of its own with a timeout, killed if it overruns; every server is
stopped before the run ends. A failed worker is recorded and the run goes on;
the exit status is 1 if anything failed or lost a message, whatever the goals
say (a missed goal is reported, not an error).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from bench import common, goals, report
from bench.api import Metric, Summary
from bench.sections import SECTIONS

__all__ = ["MODES", "Options", "run"]

BENCH_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = BENCH_DIR.parent
ROOT = SCRIPTS_DIR.parent  # the checkout: greenclient/ is here

MODES = ("smoke", "quick", "full")
#: Timeouts are written for the full mode; smaller modes scale them down.
TIMEOUT_SCALE = {"smoke": 0.5, "quick": 0.5, "full": 1.0}
README_START = ".. benchmark-summary-start"
README_END = ".. benchmark-summary-end"


@dataclass(frozen=True)
class Options:
    """What the command line chose."""

    mode: str
    sections: list[str]
    out: Path
    plots: bool = True
    progress: bool = True
    verbose: bool = False
    readme: Path | None = None


class WorkerError(RuntimeError):
    """A process failed, overran its timeout, or printed no result."""


class Run:
    """The :class:`bench.api.Context` of one run: processes, progress, failures."""

    def __init__(self, options: Options, scratch: Path, total_steps: int):
        self.mode = options.mode
        self.scratch = scratch
        self.options = options
        self.failures: list[str] = []
        self.lost = 0
        self.reordered = 0
        self.log: list[dict[str, Any]] = []
        self.steps_done = 0
        self.total_steps = total_steps
        self._servers: list[subprocess.Popen[bytes]] = []
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(SCRIPTS_DIR), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        env.setdefault("PYTHONHASHSEED", "0")
        self.env = env

    # Context ---------------------------------------------------------------------

    def timeout(self, seconds: float) -> float:
        return max(30.0, seconds * TIMEOUT_SCALE[self.mode])

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def step(self, label: str) -> None:
        self.steps_done += 1
        if self.options.progress:
            sys.stderr.write(f"[{self.steps_done}/{self.total_steps}] {label}\n")
            sys.stderr.flush()

    def command(self, argv: list[str], timeout: float) -> str:
        done = self._run([sys.executable, *argv], timeout, {})
        return done.stdout.decode("utf-8", "replace")

    def worker(
        self,
        section: str,
        job: str,
        args: Mapping[str, Any],
        timeout: float,
        env: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        label = f"{section} {job} {json.dumps(dict(args), sort_keys=True)}"
        arguments = json.dumps({**args, "deadline": int(timeout) + 10})
        command = [sys.executable, "-m", "bench.worker", section, job, arguments]
        try:
            done = self._run(command, timeout, env or {})
            lines = [
                line
                for line in done.stdout.decode("utf-8", "replace").splitlines()
                if line.startswith(common.RESULT_PREFIX)
            ]
            if not lines:
                raise WorkerError(f"no result from {label}")
        except WorkerError as exc:
            self.fail(str(exc))
            return {"error": str(exc)}
        result: dict[str, Any] = json.loads(lines[-1][len(common.RESULT_PREFIX) :])
        if env:
            result["env"] = dict(env)
        if not SECTIONS[section].jobs[job].green and result.get("eventlet_loaded"):
            self.fail(f"{label}: a plain worker imported eventlet")
        if "in_order" in result and not result["in_order"]:
            self.lost += max(0, result.get("lost", 0))
            self.reordered += result.get("out_of_order", 0)
            self.fail(
                f"{label}: received {result.get('received')} of {result.get('sent')}, "
                f"{result.get('out_of_order')} out of order"
            )
        return result

    @contextlib.contextmanager
    def server(self, args: list[str], lifetime: float) -> Iterator[int]:
        errors: IO[bytes] = open(self.scratch / f"server-{len(self.log)}.err", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.servers", *args, "--lifetime", str(int(lifetime))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=self.env,
        )
        self._servers.append(process)
        try:
            yield self._port(process)
        finally:
            self._stop(process)
            errors.close()

    # processes -------------------------------------------------------------------

    def _run(
        self, command: list[str], timeout: float, env: Mapping[str, str | None]
    ) -> subprocess.CompletedProcess[bytes]:
        started = time.perf_counter()
        environ = dict(self.env)
        for name, value in env.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                timeout=timeout,
                env=environ,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # subprocess.run has killed and reaped it
            raise WorkerError(f"timed out after {timeout:.0f} s: {' '.join(command[1:5])}") from exc
        stderr = done.stderr.decode("utf-8", "replace")
        self.log.append(
            {
                "command": command[1:],
                "seconds": time.perf_counter() - started,
                "returncode": done.returncode,
            }
        )
        if self.options.verbose and stderr.strip():
            sys.stderr.write(stderr[-5000:])
        if done.returncode != 0:
            tail = " | ".join(stderr.strip().splitlines()[-4:])
            raise WorkerError(f"exit status {done.returncode} of {' '.join(command[1:5])}: {tail}")
        return done

    def _port(self, process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=60):
                raise WorkerError("a server did not start listening within 60 s")
        words = process.stdout.readline().decode("ascii", "replace").split()
        if len(words) != 2 or words[0] != "LISTENING":
            raise WorkerError(f"a server said {words!r} instead of LISTENING")
        return int(words[1])

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
        if process in self._servers:
            self._servers.remove(process)

    def close(self) -> None:
        for process in list(self._servers):
            self._stop(process)


# -- the machine -------------------------------------------------------------------


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def greenclient_version() -> str | None:
    """greenclient's version, read from the checkout without importing it."""
    init = (ROOT / "greenclient" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'__version__ = "([^"]+)"', init)
    return found.group(1) if found else _version("greenclient")


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
    load = None
    with contextlib.suppress(OSError):
        load = os.getloadavg()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": load,
        "eventlet_hub": os.environ.get("EVENTLET_HUB") or "default",
        "versions": {
            "greenclient": greenclient_version(),
            "eventlet": _version("eventlet"),
            "greenlet": _version("greenlet"),
            "orjson": _version("orjson"),
            "pyperf": _version("pyperf"),
        },
    }


# -- the run -----------------------------------------------------------------------


def _summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "tables": [asdict(table) for table in summary.tables],
        "metrics": {name: asdict(m) for name, m in summary.metrics.items()},
        "extra": summary.extra,
    }


def validate(doc: dict[str, Any]) -> list[str]:
    """What makes a document ill-formed: a section without figures, a goal not measured."""
    problems = []
    for name in doc["sections"]:
        summary = doc["summaries"].get(name)
        if summary is None or not summary["tables"]:
            problems.append(f"section {name} produced no table")
    for goal in doc["goals"]:
        if goal["met"] is None:
            problems.append(f"goal {goal['name']} was not measured")
    if not any(g["name"] == "zero_lost" for g in doc["goals"]):
        problems.append("the zero-lost goal was not checked")
    return problems


def update_readme(path: Path, summary: str) -> None:
    """Replace the text between the README's two summary markers with ``summary``."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {README_START} ... {README_END} markers")
    head = text[: start + len(README_START)]
    path.write_text(head + "\n\n" + summary + "\n" + text[end:], encoding="utf-8")


def run(options: Options) -> int:
    """Run the benchmark as ``options`` say; return the exit status (0: nothing failed)."""
    options.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    sections = [SECTIONS[name] for name in options.sections]
    total = sum(section.steps(section.sizes[options.mode]) for section in sections)
    scratch = Path(tempfile.mkdtemp(prefix="greenclient-bench-"))
    current = Run(options, scratch, total)
    raw: dict[str, Any] = {}
    summaries: dict[str, Summary] = {}
    try:
        for section in sections:
            try:
                raw[section.name] = section.run(current)
            except (WorkerError, OSError, ValueError, RuntimeError) as exc:
                current.fail(f"section {section.name}: {exc}")
                continue
            summaries[section.name] = section.summarize(
                raw[section.name], section.sizes[options.mode]
            )
    except KeyboardInterrupt:
        current.fail("interrupted")
    finally:
        current.close()
    metrics: dict[str, dict[str, Metric]] = {n: s.metrics for n, s in summaries.items()}
    lost = float(current.lost + current.reordered)
    metrics["*"] = {
        "lost": Metric(
            median=lost,
            low=lost,
            high=lost,
            runs=1,
            where="every end-to-end variant checks seq 0, 1, 2, ...: lost plus out of order",
        )
    }
    doc: dict[str, Any] = {
        "benchmark": "greenclient",
        "mode": options.mode,
        "sections": options.sections,
        "sizes": {s.name: dict(s.sizes[options.mode]) for s in sections},
        "machine": machine(),
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration": time.time() - started,
        "noisy": "the machine is shared with other work: absolute figures vary between runs",
        "summaries": {name: _summary_json(s) for name, s in summaries.items()},
        "goals": goals.check(metrics),
        "lost": current.lost,
        "out_of_order": current.reordered,
        "raw": raw,
        "processes": current.log,
    }
    doc["failures"] = current.failures + [f"ill-formed: {p}" for p in validate(doc)]
    text = report.render(doc)
    sys.stdout.write(text)
    (options.out / "benchmark.txt").write_text(text, encoding="utf-8")
    summary = report.readme_summary(doc, "scripts/results/benchmark.txt")
    (options.out / "summary.rst").write_text(summary, encoding="utf-8")
    if options.readme is not None:
        update_readme(options.readme, summary)
    if options.plots:
        written: list[str] = []
        try:
            for section in sections:
                if section.plot is not None and section.name in summaries:
                    written += [str(p) for p in section.plot(summaries[section.name], options.out)]
        except ImportError as exc:
            sys.stderr.write(f"no plots: {exc}\n")
        doc["plots"] = written
    (options.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.write(f"\nresults: {options.out}/ (results.json, benchmark.txt, summary.rst)\n")
    if doc["failures"]:
        sys.stderr.write(f"{len(doc['failures'])} failure(s); see the end of the report\n")
        return 1
    return 0
