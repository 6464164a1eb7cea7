"""One worker process: ``python -m bench.worker SECTION JOB JSON-ARGS``.

Runs one job of one section (see :mod:`bench.api`) and prints its result as
the one ``RESULT {json}`` line the orchestrator reads. The result also says
whether eventlet was loaded, so that the orchestrator can check that a plain
job never was. The process ends itself after ``deadline`` seconds (an argument
of every job) even if the orchestrator died.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench import common
from bench.sections import SECTIONS


def main(argv: list[str] | None = None) -> int:
    """Run the job named by ``argv`` (``SECTION JOB JSON``); return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write("usage: python -m bench.worker SECTION JOB JSON-ARGS\n")
        return 2
    section_name, job_name, encoded = args
    section = SECTIONS[section_name]
    job = section.jobs[job_name]
    kwargs: dict[str, Any] = json.loads(encoded)
    common.install_deadline(float(kwargs.pop("deadline", 600.0)))
    started = time.perf_counter()
    result = job.function(**kwargs)
    result["worker_seconds"] = time.perf_counter() - started
    result["eventlet_loaded"] = "eventlet" in sys.modules
    common.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
