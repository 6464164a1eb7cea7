"""connect() is typed as precisely as GreenClient(...): mypy rejects a misspelt option."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

SNIPPET = """
import greenclient

good = greenclient.connect("localhost", 8000, maxsize=10, reconnect=True)
misspelt = greenclient.connect("localhost", 8000, max_size=10)
wrong_type = greenclient.connect("localhost", 8000, maxsize="10")
"""


def test_mypy_rejects_a_misspelt_or_mistyped_option(tmp_path: Path) -> None:
    path = tmp_path / "snippet.py"
    path.write_text(textwrap.dedent(SNIPPET))
    # In a subprocess: mypy does not run inside a monkey-patched process on every hub.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            str(path),
            "--strict",
            "--ignore-missing-imports",
            "--no-incremental",
            "--config-file",
            "",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 1, result.stdout + result.stderr
    # connect() is overloaded (typed codecs): mypy may report a bad call once per overload.
    lines = sorted({error.split("snippet.py:")[1].split(":")[0] for error in errors})
    assert lines == ["5", "6"], result.stdout
    assert "snippet.py:5:" in errors[0]
    assert '"max_size"' in errors[0]
