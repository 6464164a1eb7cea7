"""connect() is typed as precisely as GreenClient(...): mypy rejects a misspelt option."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .helpers import run_mypy

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
    result = run_mypy(path, "--ignore-missing-imports")
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 1, result.stdout + result.stderr
    # connect() is overloaded (typed codecs): mypy may report a bad call once per overload.
    lines = sorted({error.split("snippet.py:")[1].split(":")[0] for error in errors})
    assert lines == ["5", "6"], result.stdout
    assert "snippet.py:5:" in errors[0]
    assert '"max_size"' in errors[0]
