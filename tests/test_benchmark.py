"""The benchmark lives beside the library: its command line, its processes, its results.

These tests check the benchmark's shape and correctness, never its speed:
speed claims belong to the benchmark's own output. The smoke run needs the
bench extra (``pip install -e '.[bench]'``) and is skipped without it; CI
installs the extra and runs this module again after its quick benchmark run.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
SCRIPT = SCRIPTS / "benchmark.py"

# The smoke run takes about a minute on 2 busy cores; this only bounds a run gone wrong.
SMOKE_TIMEOUT = 600
BENCH_EXTRA = ("pyperf", "orjson", "matplotlib", "msgspec")


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _bench_import(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports from scripts/ (where bench/ is)."""
    return _run(["-c", f"import sys; sys.path.insert(0, {str(SCRIPTS)!r})\n{code}"])


def _clean(done: subprocess.CompletedProcess[str]) -> None:
    """No traceback and no eventlet deprecation warning in what a command printed."""
    for text in (done.stdout, done.stderr):
        assert "Traceback" not in text
        assert "Eventlet is deprecated" not in text
        assert "DeprecationWarning" not in text


# -- packaging ---------------------------------------------------------------------


def test_the_package_holds_the_library_only(tmp_path: Path) -> None:
    """What setuptools puts in the wheel: greenclient's modules, no benchmark, no bench script."""
    done = subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "egg_info",
            "--egg-base",
            str(tmp_path),
            "build_py",
            "--build-lib",
            str(tmp_path / "lib"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(
        str(p.relative_to(tmp_path / "lib")) for p in (tmp_path / "lib").rglob("*") if p.is_file()
    )
    assert "greenclient/__init__.py" in files
    assert all(f.startswith("greenclient/") for f in files), files
    assert not [f for f in files if "bench" in f], files
    entry_points = next(tmp_path.glob("*.egg-info")).joinpath("entry_points.txt").read_text()
    assert "greenclient-demo" in entry_points
    assert "bench" not in entry_points


# -- the command line (issue 12's rules) ------------------------------------------


def test_help_and_version() -> None:
    done = _run([str(SCRIPT), "--help"])
    assert done.returncode == 0
    assert "--quick" in done.stdout
    assert "--sections" in done.stdout
    _clean(done)
    version = _run([str(SCRIPT), "--version"])
    assert version.returncode == 0
    init = (ROOT / "greenclient" / "__init__.py").read_text()
    assert version.stdout.startswith("benchmark.py (greenclient ")
    assert version.stdout.split()[-1].rstrip(")") in init
    _clean(version)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--sections", "nope"], "--sections: unknown nope"),
        (["--sections", ","], "--sections: unknown empty list"),
        (["--quick", "--full"], "not allowed with argument"),
        (["--readme", "no-such-file.rst"], "--readme: no file"),
    ],
)
def test_a_bad_option_is_one_line_and_status_2(args: list[str], says: str) -> None:
    done = _run([str(SCRIPT), *args])
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("benchmark.py: error: ")
    assert says in done.stderr
    _clean(done)


def test_a_missing_extra_is_one_line_and_status_1(tmp_path: Path) -> None:
    """Without pyperf (the bench extra) the entry says what to install, and runs nothing."""
    code = (
        "import runpy, sys\n"
        "sys.modules['pyperf'] = None  # import pyperf now fails as if not installed\n"
        f"sys.argv = ['benchmark.py', '--quick', '--out', {str(tmp_path)!r}]\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    done = _run(["-c", code])
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "pyperf is missing" in done.stderr
    assert "pip install -e '.[bench]'" in done.stderr
    assert list(tmp_path.iterdir()) == []
    _clean(done)


# -- processes: the plain side is never patched ---------------------------------------


def test_the_orchestrator_and_the_plain_side_never_import_eventlet() -> None:
    done = _bench_import(
        "import bench.runner, bench.servers, bench.worker, bench.report, bench.goals\n"
        "from bench.sections import SECTIONS\n"
        "import bench.sections.framing_cases\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('eventlet', 'greenclient'))\n"
        "print('IMPORTED', bad, len(SECTIONS))\n"
    )
    assert done.returncode == 0, done.stderr
    assert "IMPORTED [] " in done.stdout


def test_every_job_says_whether_it_runs_patched() -> None:
    """The registry marks the green jobs; the orchestrator checks the others stay unpatched."""
    done = _bench_import(
        "from bench.sections import SECTIONS\n"
        "jobs = [(s.name, j, job.green) for s in SECTIONS.values() for j, job in s.jobs.items()]\n"
        "print(sorted(jobs))\n"
        "assert 'eventlet' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr
    for plain in ("textbook", "one_call", "per_frame", "asyncio"):
        assert f"('one_connection', '{plain}', False)" in done.stdout
    assert "('many_connections', 'threads', False)" in done.stdout
    assert "('one_connection', 'greenclient', True)" in done.stdout


# -- the goals --------------------------------------------------------------------


def test_every_goal_names_a_registered_section_and_is_checked_both_ways() -> None:
    done = _bench_import(
        "from bench.goals import GOALS, check\n"
        "from bench.api import Metric\n"
        "from bench.sections import SECTIONS\n"
        "names = [g.name for g in GOALS]\n"
        "assert len(names) == len(set(names)), names\n"
        "assert all(g.section in SECTIONS or g.section == '*' for g in GOALS)\n"
        "def metrics(value):\n"
        "    m = {}\n"
        "    for g in GOALS:\n"
        "        m.setdefault(g.section, {})[g.metric] = Metric(value, value, value, 1, '')\n"
        "    return m\n"
        "high = {g['name']: g['met'] for g in check(metrics(1e12))}\n"
        "low = {g['name']: g['met'] for g in check(metrics(-1e12))}\n"
        "assert set(high) == set(names)\n"
        "for g in GOALS:\n"
        "    assert high[g.name] is (g.comparison == '>='), g\n"
        "    assert low[g.name] is (g.comparison == '<='), g\n"
        "missing = check({g.section: {} for g in GOALS})\n"
        "assert all(g['met'] is None for g in missing)\n"
        "print('OK', len(names))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK ")


def test_each_one_connection_goal_compares_neighbours_in_a_run() -> None:
    """The two sides of a thin-margin ratio run one right after the other."""
    done = _bench_import(
        "from bench.goals import GOALS\n"
        "from bench.sections.one_connection import RUN_ORDER, VARIANTS\n"
        "assert sorted(RUN_ORDER) == sorted(VARIANTS), RUN_ORDER\n"
        "for g in GOALS:\n"
        "    if g.section == 'one_connection' and 'textbook' not in g.metric:\n"
        "        top, bottom = g.metric.split('/')\n"
        "        assert abs(RUN_ORDER.index(top) - RUN_ORDER.index(bottom)) == 1, g\n"
        "        print('NEIGHBOURS', g.metric)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("NEIGHBOURS") >= 3


# -- one smoke run of the whole benchmark ------------------------------------------


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One smoke run of every section, shared by the tests below (needs the bench extra)."""
    missing = [name for name in BENCH_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the bench extra is not installed ({', '.join(missing)} missing)")
    out = tmp_path_factory.mktemp("bench")
    done = _run([str(SCRIPT), "--smoke", "--no-progress", "--out", str(out)], SMOKE_TIMEOUT)
    return done, out


def _document(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    done, out = smoke
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return document


def _assert_all_in_order(result: dict[str, Any]) -> None:
    assert "error" not in result, result.get("error")
    assert result["received"] == result["sent"] > 0
    assert result["lost"] == 0
    assert result["out_of_order"] == 0
    assert result["in_order"] is True


def test_smoke_run_is_well_formed(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    document = _document(smoke)
    assert document["mode"] == "smoke"
    assert document["failures"] == []
    assert document["lost"] == 0
    assert document["out_of_order"] == 0
    assert document["machine"]["cores"] >= 1
    assert document["machine"]["versions"]["eventlet"]
    assert set(document["summaries"]) == set(document["sections"])
    goals = {goal["name"]: goal for goal in document["goals"]}
    for goal in goals.values():
        assert goal["met"] in (True, False), goal
        assert isinstance(goal["measured"], float | int), goal
    assert goals["zero_lost"]["met"] is True
    _clean(smoke[0])


def test_smoke_every_variant_received_everything_in_order(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    raw = _document(smoke)["raw"]
    one = raw["one_connection"]
    assert len(one["runs"]) == 2
    for run in one["runs"]:
        assert set(run) == {
            "greenclient",
            "greenclient_orjson",
            "greenclient_asyncio",
            "greenclient_orjson_asyncio",
            "one_call",
            "one_call_orjson",
            "per_frame",
            "textbook",
            "asyncio",
        }
        for key, result in run.items():
            _assert_all_in_order(result)
            assert result["sent"] == one["messages"]
            assert result["eventlet_loaded"] is key.startswith("greenclient")
        assert run["greenclient_asyncio"]["hub"] == "eventlet.hubs.asyncio"
        assert run["greenclient"]["hub"] != "eventlet.hubs.asyncio"
    for flood in ("valid", "invalid"):
        for result in raw["fairness"][flood]["runs"]:
            _assert_all_in_order(result)
            if flood == "invalid":
                assert result["messages_received"] == 1
                assert result["rejected"] == raw["fairness"][flood]["messages"]
    for kind in ("slow", "large"):
        for result in raw["memory"][kind]["runs"]:
            _assert_all_in_order(result)
    for size in raw["many_connections"]["sizes"]:
        for run in size["runs"]:
            assert set(run) == {"green", "threads"}
            for result in run.values():
                _assert_all_in_order(result)
                assert result["readers_reported"] == size["n"]
            assert run["threads"]["eventlet_loaded"] is False


def test_smoke_framing_is_timed_by_pyperf(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    raw = _document(smoke)["raw"]["framing"]
    assert raw["pyperf_metadata"]["python_version"]
    (one_round,) = raw["rounds"]
    assert "split 64 KiB" in one_round
    assert "greenclient 64 KiB" in one_round
    assert all(case["median"] > 0 for case in one_round.values())


def test_smoke_writes_the_table_summary_and_plots(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = smoke
    _document(smoke)
    table = (out / "benchmark.txt").read_text(encoding="utf-8")
    assert table in done.stdout
    for heading in ("Framing", "One connection", "Many connections", "Fairness", "Memory"):
        assert heading in table
    assert "Goals" in table
    summary = (out / "summary.rst").read_text(encoding="utf-8")
    assert "goals met" in summary
    for name in ("one_connection", "many_connections", "fairness"):
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name


def test_smoke_request_reply_and_typed_decoding(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    raw = _document(smoke)["raw"]
    for run in raw["requests"]["runs"]:
        assert set(run) == {"1", "10", "100"}
        for threads, result in run.items():
            _assert_all_in_order(result)
            assert result["threads"] == int(threads)
            assert result["sent"] == raw["requests"]["requests"]
            assert 0 < result["p50"] <= result["p99"]
            assert result["late_replies"] == 0
    for run in raw["typed"]["runs"]:
        assert set(run) == {"json", "orjson", "msgspec"}
        for result in run.values():
            _assert_all_in_order(result)
            assert result["sent"] == raw["typed"]["messages"]
            assert result["decode_errors"] == 0
