"""greenclient-bench runs, stays in its processes, and reports every message in order.

The benchmark runs as a subprocess (its smallest, hidden ``--smoke`` mode) with a
timeout. These tests check the shape and the correctness of what it reports,
never its speed: speed claims belong to the benchmark's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "benchmark.py"
BENCH_DIR = ROOT / "greenclient" / "bench"

# The smoke run takes about 15 s on 2 cores; this only bounds a run gone wrong.
SMOKE_TIMEOUT = 300


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One smoke run of the whole benchmark, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--no-progress", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    return done, out


def _document(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    done, out = smoke
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return document


def _assert_all_in_order(result: dict[str, Any], sent: int) -> None:
    assert "error" not in result, result.get("error")
    assert result["sent"] == sent
    assert result["received"] == sent
    assert result["lost"] == 0
    assert result["out_of_order"] == 0
    assert result["in_order"] is True


def test_help_names_the_modes() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "--quick" in done.stdout
    assert "--out" in done.stdout


def test_bad_sections_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "runner.py"), "--sections", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--sections" in done.stderr


def test_unpatched_side_never_imports_eventlet() -> None:
    """The orchestrator, servers and OS-thread variants load without eventlet or greenclient."""
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(BENCH_DIR)!r})\n"
        "import common, framing_cases, plain, report, runner, servers\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('eventlet', 'greenclient'))\n"
        "print('IMPORTED', bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stdout


def test_smoke_results_are_well_formed(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    document = _document(smoke)
    assert document["benchmark"] == "greenclient-bench"
    assert document["mode"]["name"] == "smoke"
    assert document["sections"] == [1, 2, 3, 4, 5]
    assert document["failures"] == []
    assert document["all_received_in_order"] is True
    machine = document["machine"]
    assert machine["cores"] >= 1
    assert machine["python"].startswith("CPython") or machine["python"]
    assert machine["eventlet"]
    goals = {goal["id"]: goal for goal in document["goals"]}
    # Every goal that the smoke sizes can measure is evaluated, met or not.
    for gid in (
        "framing_vs_split",
        "framing_vs_lecture",
        "large_linear",
        "one_vs_raw",
        "one_vs_asyncio",
        "one_vs_thread_queue",
        "orjson_vs_raw",
        "zero_lost",
        "rss_per_connection",
        "fan_out",
        "slow_consumer",
    ):
        assert gid in goals, gid
        assert goals[gid]["met"] in (True, False)
        assert isinstance(goals[gid]["measured"], float | int)
    assert goals["zero_lost"]["met"] is True


def test_smoke_every_variant_received_everything_in_order(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    document = _document(smoke)
    raw = document["raw"]
    runs = document["mode"]["runs"]

    one = raw["one_connection"]
    assert len(one["runs"]) == runs
    for run in one["runs"]:
        assert set(run) == {"raw", "default", "orjson", "thread-queue", "asyncio"}
        for result in run.values():
            _assert_all_in_order(result, one["messages"])

    for section in ("fairness", "slow_consumer"):
        assert raw[section]["runs"], section
        for result in raw[section]["runs"]:
            _assert_all_in_order(result, raw[section]["messages"])

    many = raw["many_connections"]
    assert [size["n"] for size in many["sizes"]] == list(document["mode"]["many_sizes"])
    for size in many["sizes"]:
        for run in size["runs"]:
            assert "green" in run
            assert "threads" in run or size["threads_skipped"]
            for result in run.values():
                _assert_all_in_order(result, size["n"] * many["messages"])
                assert result["readers_reported"] == size["n"]


def test_smoke_framing_reports_frames_and_where_the_lecture_loop_raises(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    document = _document(smoke)
    messages = document["mode"]["framing_messages"]
    seen: set[tuple[str, str]] = set()
    for run in document["raw"]["framing"]["runs"]:
        for side in ("plain", "green"):
            records = run[side]["streams"]
            assert len(records) == 8 * len(run[side]["variants"])
            for record in records:
                seen.add((record["variant"], record["kind"]))
                if record["variant"] == "lecture loop" and record["kind"] == "utf8":
                    # A chunk ends inside a multi-byte character: the loop raises.
                    assert record["raised"].startswith("UnicodeDecodeError")
                    assert 0 <= record["offset"] < record["bytes"]
                    continue
                assert "raised" not in record, record
                assert record["ok"] is True
                assert record["frames"] == messages
            for record in run[side]["large"]:
                assert record.get("ok") is True or "skipped" in record
    assert {v for v, _ in seen} == {
        "lecture loop",
        "bytes.split",
        "asyncio",
        "twisted",
        "greenclient",
        "bytes.split (same process)",
    }


def test_smoke_prints_the_table_and_draws_the_plots(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = smoke
    _document(smoke)
    table = (out / "benchmark.txt").read_text(encoding="utf-8")
    assert table in done.stdout
    for heading in (
        "1. Framing",
        "2. One connection",
        "3. Many connections",
        "4. Fairness",
        "5. Slow consumer",
        "Goals",
    ):
        assert heading in table
    for name in ("framing", "large_frame", "one_connection", "many_connections"):
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
