"""The benchmark's goals: one table, from which the checks, the report and the README are made.

A goal names a metric of a section (see :class:`bench.api.Metric`), which of
its figures counts (``median`` over the runs, or ``high``: the worst run, for
peaks and worst cases), a comparison and a threshold. Thresholds are the
issues' goals; they are never loosened to make a run pass.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bench.api import Metric

__all__ = ["GOALS", "Goal", "check"]


@dataclass(frozen=True)
class Goal:
    """One goal: ``section.metric`` (its ``statistic``) ``comparison`` ``threshold``."""

    name: str
    section: str
    metric: str
    comparison: Literal[">=", "<="]
    threshold: float
    statistic: Literal["median", "high"]
    #: How the figure is shown: ``x`` (a ratio), ``ms``, ``MB``, ``KB`` or ``lost``.
    unit: str
    text: str


GOALS: tuple[Goal, ...] = (
    Goal(
        "framing_vs_split",
        "framing",
        "greenclient/split 64 KiB",
        ">=",
        0.95,
        "median",
        "x",
        "framing alone, no decode, 64 KiB chunks: greenclient >= 0.95x bytes.split",
    ),
    Goal(
        "framing_vs_textbook",
        "framing",
        "greenclient/textbook 64 KiB",
        ">=",
        5.0,
        "median",
        "x",
        "framing alone, no decode, 64 KiB chunks: greenclient >= 5x the textbook loop",
    ),
    Goal(
        "large_linear",
        "framing",
        "large growth",
        "<=",
        2.0,
        "median",
        "x",
        "one 4 MiB frame in 1 KiB chunks: cost per byte within 2x of a 256 KiB frame's",
    ),
    Goal(
        "json_vs_one_call",
        "one_connection",
        "greenclient/one_call",
        ">=",
        0.8,
        "median",
        "x",
        "one connection: greenclient, json >= 0.8x one json.loads per read",
    ),
    Goal(
        "orjson_vs_one_call",
        "one_connection",
        "greenclient_orjson/one_call_orjson",
        ">=",
        0.7,
        "median",
        "x",
        "one connection: greenclient, orjson >= 0.7x one orjson.loads per read",
    ),
    Goal(
        "json_vs_textbook",
        "one_connection",
        "greenclient/textbook",
        ">=",
        4.0,
        "median",
        "x",
        "one connection: greenclient, json >= 4x the textbook loop",
    ),
    Goal(
        "json_vs_per_frame",
        "one_connection",
        "greenclient/per_frame",
        ">=",
        1.5,
        "median",
        "x",
        "one connection: greenclient, json >= 1.5x the best per-frame loop",
    ),
    Goal(
        "rss_per_connection",
        "many_connections",
        "rss_per_connection",
        "<=",
        12_000,
        "high",
        "KB",
        "10,000 connections in one process: <= 12 KB RSS per connection",
    ),
    Goal(
        "fan_out",
        "many_connections",
        "fan_out_threads/green",
        ">=",
        10.0,
        "median",
        "x",
        "fan-out of 100 messages to 5,000 clients: greenclient >= 10x faster than OS threads",
    ),
    Goal(
        "fairness_valid",
        "fairness",
        "worst_delay_valid",
        "<=",
        0.020,
        "high",
        "ms",
        "flood of messages: the 10 ms green thread never more than 20 ms late",
    ),
    Goal(
        "fairness_invalid",
        "fairness",
        "worst_delay_invalid",
        "<=",
        0.020,
        "high",
        "ms",
        "flood of invalid frames (x~): the 10 ms green thread never more than 20 ms late",
    ),
    Goal(
        "slow_consumer",
        "memory",
        "peak_rss_slow",
        "<=",
        64e6,
        "high",
        "MB",
        "slow consumer of 300,000 messages: peak RSS of the default client <= 64 MB",
    ),
    Goal(
        "large_frames",
        "memory",
        "peak_rss_large",
        "<=",
        256e6,
        "high",
        "MB",
        "~1 MiB frames, consumer paused: peak RSS of the default client <= 256 MB",
    ),
    Goal(
        "zero_lost",
        "*",
        "lost",
        "<=",
        0,
        "high",
        "lost",
        "zero messages lost or reordered, every variant of every section",
    ),
)

_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}
_SCALE = {
    "x": (1.0, "{:.3f}x"),
    "ms": (1e3, "{:.2f} ms"),
    "MB": (1e-6, "{:.1f} MB"),
    "KB": (1e-3, "{:.1f} KB"),
    "lost": (1.0, "{:.0f}"),
}


def show(goal: Goal, value: float | None) -> str:
    """``value`` in the goal's unit (``0.912x``, ``14.20 ms``...)."""
    if value is None:
        return "-"
    scale, fmt = _SCALE[goal.unit]
    return fmt.format(value * scale)


def threshold(goal: Goal) -> str:
    """The goal's threshold in its unit, as short as it goes (``0.95x``, ``20 ms``)."""
    scale, _ = _SCALE[goal.unit]
    value = f"{goal.threshold * scale:g}"
    return (
        f"{value}x"
        if goal.unit == "x"
        else value
        if goal.unit == "lost"
        else f"{value} {goal.unit}"
    )


def check(metrics: dict[str, dict[str, Metric]]) -> list[dict[str, Any]]:
    """Evaluate every goal whose section ran; ``metrics`` is section -> name -> Metric.

    Returns one record per goal: its name, text, the figure measured, whether
    it is met (None when the section ran but could not measure it), the spread
    over the runs, and whether the mode measured it at the goal's size.
    """
    out: list[dict[str, Any]] = []
    for goal in GOALS:
        section = metrics.get(goal.section)
        if section is None:
            continue
        found = section.get(goal.metric)
        value = None if found is None else getattr(found, goal.statistic)
        met = None if value is None else _COMPARE[goal.comparison](value, goal.threshold)
        out.append(
            {
                "name": goal.name,
                "text": goal.text,
                "target": f"{goal.comparison} {threshold(goal)}",
                "measured": value,
                "shown": show(goal, value),
                "low": None if found is None else found.low,
                "high": None if found is None else found.high,
                "spread": ""
                if found is None
                else f"{show(goal, found.low)} to {show(goal, found.high)}",
                "statistic": goal.statistic,
                "met": met,
                "where": "" if found is None else found.where,
                "note": "" if found is None else found.note,
                "at_goal_size": True if found is None else found.at_goal_size,
            }
        )
    return out
