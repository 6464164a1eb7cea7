"""Argument checks shared by the constructors: one wording, one place.

Each function returns its argument unchanged when it is acceptable and raises
``TypeError`` (wrong type) or ``ValueError`` (right type, value out of range)
naming the argument otherwise, so that a wrong argument fails where it is
given instead of later, in a green thread, as something else.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def whole(name: str, value: int, minimum: int = 1) -> int:
    """An ``int`` (not a ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def optional_whole(name: str, value: int | None, minimum: int = 1) -> int | None:
    """None, or what :func:`whole` accepts."""
    return None if value is None else whole(name, value, minimum)


def seconds(name: str, value: float, *, zero: bool = False) -> float:
    """A finite number of seconds: above 0, or at least 0 when ``zero`` is true."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = "at least 0" if zero else "above 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, not {value!r}")
    return value


def factor(name: str, value: float) -> float:
    """A finite number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"{name} must be a finite number of at least 1, not {value!r}")
    return value


def optional_seconds(name: str, value: float | None, *, zero: bool = False) -> float | None:
    """None (no limit), or what :func:`seconds` accepts."""
    return None if value is None else seconds(name, value, zero=zero)


def instance(name: str, value: Any, kind: type[T] | tuple[type, ...], what: str) -> Any:
    """An instance of ``kind`` (``what`` names it in the error)."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, not {type(value).__name__}")
    return value


def optional_callable(name: str, value: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """None, or something that can be called."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, not {type(value).__name__}")
    return value


def field_name(name: str, value: str) -> str:
    """A non-empty ``str``: the name of a field of JSON objects."""
    instance(name, value, str, "a str")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value
