"""greenclient-bench: OS threads against green threads, framing and end to end.

``main(argv)`` is the console command ``greenclient-bench`` (and
``scripts/benchmark.py``). Importing this package has already run
``greenclient/__init__.py``, which monkey-patches the process; the benchmark's
orchestrator and every OS-thread, asyncio and Twisted variant must run without
that patching, so ``main`` starts the orchestrator (``runner.py``) by file path
in a fresh interpreter and waits for it. The green variants run in processes of
their own (``python3 -m greenclient.bench.green``) started by the orchestrator.
"""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["RUNNER", "main"]

#: The orchestrator's file; run it with ``python3 RUNNER [options]``.
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")

# The full mode stays under about 15 minutes; this only stops a run gone wrong.
_OVERALL_TIMEOUT = 3 * 3600


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark in an unpatched interpreter; return its exit status.

    Args:
        argv: the command-line arguments (``sys.argv[1:]`` when None); see
            ``greenclient-bench --help``.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return subprocess.run(
            [sys.executable, RUNNER, *args], timeout=_OVERALL_TIMEOUT, check=False
        ).returncode
    except KeyboardInterrupt:
        return 130
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"greenclient-bench: stopped after {_OVERALL_TIMEOUT} s\n")
        return 1
