"""The report: the text table, the README summary and the PNG plots.

Everything here works from the document the orchestrator builds (see
:func:`bench.runner.run`): the machine, each section's tables, the goals.
matplotlib (the bench extra) is needed for the plots only.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

__all__ = ["bar_plot", "readme_summary", "render", "series_plot", "xy_plot"]


def _table(headers: list[str], rows: list[list[str]], indent: str = "   ") -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: list[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells)]
        return (indent + "  ".join(padded)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def machine_line(machine: dict[str, Any]) -> str:
    """The machine in one line."""
    memory = machine.get("memory_bytes")
    parts = [
        f"{machine.get('cpu')}",
        f"{machine.get('cores')} cores",
        f"{memory / (1 << 30):.1f} GiB RAM" if memory else None,
        machine.get("system"),
        machine.get("python"),
    ]
    versions = machine.get("versions", {})
    parts += [f"{name} {version}" for name, version in versions.items() if version]
    if machine.get("eventlet_hub", "default") != "default":
        parts.append(f"EVENTLET_HUB={machine['eventlet_hub']}")
    return ", ".join(p for p in parts if p)


def _goal_lines(goals: list[dict[str, Any]]) -> list[str]:
    lines = []
    for goal in goals:
        status = {True: "MET   ", False: "MISSED", None: "n/a   "}[goal["met"]]
        spread = ""
        if goal["low"] is not None and goal["high"] is not None and goal["low"] != goal["high"]:
            spread = f" (runs from {goal['spread']})"
        which = "worst run" if goal["statistic"] == "high" else "median"
        lines.append(f"   {status} {goal['text']}")
        lines.append(
            f"          measured {goal['shown']} ({which}){spread}, target {goal['target']}"
        )
        if goal["where"]:
            lines.append(f"          {goal['where']}")
        if not goal["at_goal_size"]:
            lines.append("          (measured below the size the goal names: run the full mode)")
        if goal["note"]:
            lines.append(f"          {goal['note']}")
    return lines


def render(doc: dict[str, Any]) -> str:
    """The full report as text: the machine, every section's tables, the goals."""
    lines = [
        f"greenclient benchmark ({doc['mode']} mode, {doc['duration']:.0f} s, "
        f"started {doc['started_utc']})",
        f"machine: {machine_line(doc['machine'])}",
        "figures: median [min-max] over the runs; each ratio is computed within a run "
        "(variants measured side by side), then summarized",
    ]
    if doc.get("noisy"):
        lines.append(f"note: {doc['noisy']}")
    lines.append("")
    number = 0
    for name in doc["sections"]:
        summary = doc["summaries"].get(name)
        if summary is None:
            continue
        for table in summary["tables"]:
            number += 1
            lines.append(f"{number}. {table['title']}")
            lines += _table(table["headers"], table["rows"])
            lines += [f"   {note}" for note in table["notes"]]
            lines.append("")
    lines.append("Goals")
    lines += _goal_lines(doc["goals"])
    if doc["failures"]:
        lines.append("")
        lines.append("Failures")
        lines += [f"   {failure}" for failure in doc["failures"]]
    return "\n".join(lines) + "\n"


def readme_summary(doc: dict[str, Any], table_path: str) -> str:
    """The README's short benchmark summary (reStructuredText), made from the goals."""
    goals = doc["goals"]
    met = [g for g in goals if g["met"]]
    missed = [g for g in goals if g["met"] is False]
    paragraph = (
        f"{doc['mode'].capitalize()} run of {doc['started_utc'][:10]} "
        f"({doc['duration'] / 60:.0f} minutes) on {machine_line(doc['machine'])}. "
        "The machine is shared and was busy: absolute figures move from run to run, the "
        "ratios much less (each is computed between variants measured side by side). "
        f"{len(met)} of {len(goals)} goals met"
        + (", all at the sizes they name." if all(g["at_goal_size"] for g in goals) else ".")
    )
    lines = [textwrap.fill(paragraph, 88)]
    if missed:
        lines += ["", "Missed:", ""]
        for goal in missed:
            item = f"* {goal['text']}: {goal['shown']} (target {goal['target']})"
            lines.append(textwrap.fill(item, 88, subsequent_indent="  "))
    if doc["failures"]:
        failures = "; ".join(doc["failures"])
        lines += ["", textwrap.fill(f"Failures in this run: {failures}.", 88)]
    lines += ["", f"Every goal and figure: ``{table_path}``."]
    return "\n".join(lines) + "\n"


# -- plots -------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(
    plt: Any, fig: Any, ax: Any, path: Path, *, title: str, xlabel: str, ylabel: str | None = None
) -> Path:
    """Label the axes, title the plot, write it to ``path`` as PNG and free the figure."""
    ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def bar_plot(
    path: Path, title: str, unit: str, bars: list[tuple[str, float, float, float]]
) -> Path:
    """Horizontal bars (label, median, min, max), with the spread as error bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(bars) + 1.5))
    labels = [b[0] for b in bars]
    medians = [b[1] for b in bars]
    errors = [[b[1] - b[2] for b in bars], [b[3] - b[1] for b in bars]]
    ax.barh(labels, medians, xerr=errors, color="#4c72b0", capsize=3)
    ax.invert_yaxis()
    return _save(plt, fig, ax, path, title=title, xlabel=unit)


def series_plot(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    series: dict[str, list[float]],
    *,
    limit: float | None = None,
) -> Path:
    """One line per series over its index, with an optional goal line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for label, values in series.items():
        ax.plot(range(len(values)), values, label=label, linewidth=1)
    if limit is not None:
        ax.axhline(limit, color="#c44e52", linestyle=":", label=f"goal: {limit:g}")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0)
    ax.legend()
    return _save(plt, fig, ax, path, title=title, xlabel=xlabel, ylabel=ylabel)


def xy_plot(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    series: dict[str, list[tuple[float, float]]],
) -> Path:
    """One line with markers per series of (x, y) points, log-log."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in series.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend()
    return _save(plt, fig, ax, path, title=title, xlabel=xlabel, ylabel=ylabel)
