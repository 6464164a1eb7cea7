"""The registry of sections: the one place that lists them, in the order they run.

To add a section: write a module here that declares ``SECTION`` (see
:mod:`bench.api`), add it to ``SECTIONS`` below, and add its goals, if any, to
``GOALS`` in :mod:`bench.goals`. ``--sections`` and the report pick it up.
Nothing in a section module may import eventlet or greenclient at module level
(its green jobs do, when they run).
"""

from __future__ import annotations

from bench.api import Section
from bench.sections import (
    fairness,
    framing,
    many,
    memory,
    one_connection,
    requests,
    typed,
)

__all__ = ["SECTIONS"]

SECTIONS: dict[str, Section] = {
    section.name: section
    for section in (
        framing.SECTION,
        one_connection.SECTION,
        many.SECTION,
        fairness.SECTION,
        memory.SECTION,
        requests.SECTION,
        typed.SECTION,
    )
}
