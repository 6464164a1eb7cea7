"""The test suite's own safety net: a hung test stops the run instead of hanging CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_hung_test_stops_the_run_with_tracebacks(tmp_path: Path) -> None:
    hung = tmp_path / "test_hang.py"
    hung.write_text(
        "import greenclient  # patched, as in every test module\n"
        "import eventlet.patcher\n"
        "def test_hang():\n"
        "    eventlet.patcher.original('time').sleep(60)  # blocks the hub itself\n"
    )
    # The project's own pytest settings, with the limit shortened to one second.
    argv = [sys.executable, "-m", "pytest", "-c", str(ROOT / "setup.cfg"), "--rootdir", str(ROOT)]
    argv += ["-o", "faulthandler_timeout=1", "-p", "no:cacheprovider", str(hung)]
    proc = subprocess.run(argv, capture_output=True, timeout=50, cwd=ROOT, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert b"Timeout" in output
    assert b"test_hang" in output
