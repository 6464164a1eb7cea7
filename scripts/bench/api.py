"""What a section of the benchmark is, and what the orchestrator gives it.

A *section* is one module of :mod:`bench.sections`, registered in
``bench/sections/__init__.py``. It declares a :class:`Section`:

* ``sizes``: for each mode (``smoke``, ``quick``, ``full``), the sizes it uses
  (messages, runs, connections...); the orchestrator passes the mode's entry;
* ``run(ctx)``: the orchestrator side. It starts servers and workers through
  ``ctx`` (every process has a timeout) and returns the raw results, which go
  to ``results.json`` as they are;
* ``summarize(raw, sizes)``: turns the raw results into a :class:`Summary`: the
  tables printed in the report, and the *metrics* the goals of
  :mod:`bench.goals` are checked against;
* ``jobs``: the functions a worker process runs (``python -m bench.worker
  SECTION JOB JSON``). A job takes its keyword arguments and returns a JSON
  dict. A job marked ``green`` starts with :func:`bench.common.import_greenclient`
  (which monkey-patches its process); the others must never import eventlet,
  and the orchestrator checks that they did not.

Every end-to-end job returns ``sent``, ``received``, ``lost``,
``out_of_order`` and ``in_order`` (:func:`bench.common.report_seq`); the
orchestrator turns any loss into a failure of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Context", "Job", "Metric", "Section", "Summary", "Table"]


@dataclass(frozen=True)
class Job:
    """A function a worker process runs; ``green`` jobs run monkey-patched."""

    function: Callable[..., dict[str, Any]]
    green: bool


@dataclass(frozen=True)
class Table:
    """One table of the report: a title, column headers, rows of text, notes below."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Metric:
    """A figure a goal can be checked against, summarized over the runs.

    ``median``, ``low`` and ``high`` are over the runs (for a ratio, computed
    run by run); ``at_goal_size`` is False when the mode measured it at smaller
    sizes than the goal names; ``where`` says what was measured.
    """

    median: float | None
    low: float | None
    high: float | None
    runs: int
    where: str
    at_goal_size: bool = True
    note: str = ""


@dataclass(frozen=True)
class Summary:
    """What :attr:`Section.summarize` returns."""

    tables: list[Table]
    metrics: dict[str, Metric]
    #: Anything the plots or results.json should keep beyond the tables.
    extra: dict[str, Any] = field(default_factory=dict)


class Context(Protocol):
    """What the orchestrator gives :attr:`Section.run`."""

    #: The mode's name: ``smoke``, ``quick`` or ``full``.
    mode: str
    #: Scratch directory, removed after the run.
    scratch: Path

    def timeout(self, seconds: float) -> float:
        """A timeout for a process expected to take about ``seconds`` in full mode."""

    def worker(
        self,
        section: str,
        job: str,
        args: Mapping[str, Any],
        timeout: float,
        env: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """Run one job in its own process; return its result (``{"error": ...}`` on failure).

        ``env`` sets (or, with None, removes) variables of the worker's environment.

        A failure, a timeout or a lost message is recorded as a failure of the
        run; the run goes on.
        """

    def server(self, args: list[str], lifetime: float) -> AbstractContextManager[int]:
        """Start ``python -m bench.servers ARGS``; the context yields its port."""

    def command(self, argv: list[str], timeout: float) -> str:
        """Run ``python ARGV`` with the benchmark's environment; return its stdout.

        Raises:
            RuntimeError: it failed or overran ``timeout``.
        """

    def step(self, label: str) -> None:
        """Advance the progress display by one job."""

    def fail(self, message: str) -> None:
        """Record a failure of the run (the run goes on)."""


@dataclass(frozen=True)
class Section:
    """One section of the benchmark; see the module's docstring."""

    name: str
    title: str
    sizes: Mapping[str, Mapping[str, Any]]
    run: Callable[[Context], dict[str, Any]]
    summarize: Callable[[dict[str, Any], Mapping[str, Any]], Summary]
    jobs: Mapping[str, Job] = field(default_factory=dict)
    #: How many progress steps ``run`` takes in a mode (for the progress bar).
    steps: Callable[[Mapping[str, Any]], int] = lambda sizes: 1
    #: Draws the section's PNG plots into a directory; returns their paths.
    plot: Callable[[Summary, Path], list[Path]] | None = None
