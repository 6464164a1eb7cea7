"""Summaries over runs, shared by the sections: medians, spreads, ratios run by run.

Conventions: a figure is summarized over the runs as median, min and max; a
ratio between two variants is computed within each run (the two measured side
by side) and then summarized, never as a ratio of medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from bench.api import Metric

__all__ = ["column", "metric", "paired", "ratio_text", "spread_text", "summarize"]


def summarize(values: Iterable[float | None]) -> dict[str, Any]:
    """Median, min, max and count of the values that are not None."""
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "runs": 0, "values": []}
    return {
        "median": statistics.median(clean),
        "min": min(clean),
        "max": max(clean),
        "runs": len(clean),
        "values": clean,
    }


def paired(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> dict[str, Any]:
    """Summarize ``numerator / denominator`` computed run by run."""
    return summarize(
        n / d for n, d in zip(numerators, denominators, strict=False) if n is not None and d
    )


def column(runs: Sequence[dict[str, Any]], variant: str, key: str) -> list[float | None]:
    """``run[variant][key]`` for every run (None where missing or failed)."""
    out: list[float | None] = []
    for run in runs:
        result = run.get(variant) or {}
        value = result.get(key) if "error" not in result else None
        out.append(value)
    return out


def metric(
    summary: dict[str, Any],
    where: str,
    *,
    at_goal_size: bool = True,
    note: str = "",
) -> Metric:
    """A :class:`~bench.api.Metric` from a :func:`summarize` result."""
    return Metric(
        median=summary["median"],
        low=summary["min"],
        high=summary["max"],
        runs=summary["runs"],
        where=where,
        at_goal_size=at_goal_size,
        note=note,
    )


def spread_text(summary: dict[str, Any], scale: float = 1.0, digits: int = 1) -> str:
    """``median [min-max]`` with thousands separators, or ``-``."""
    if summary.get("median") is None:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    median = fmt.format(summary["median"] * scale)
    if summary["runs"] < 2:
        return median
    low, high = fmt.format(summary["min"] * scale), fmt.format(summary["max"] * scale)
    return f"{median} [{low}-{high}]"


def ratio_text(summary: dict[str, Any]) -> str:
    """A ratio as ``1.23x [1.20-1.25]``, or ``-``."""
    if summary.get("median") is None:
        return "-"
    if summary["runs"] < 2:
        return f"{summary['median']:.2f}x"
    return f"{summary['median']:.2f}x [{summary['min']:.2f}-{summary['max']:.2f}]"
