"""Argument checks shared by the constructors: one wording, one place.

Each function returns its argument when it is acceptable (a whole number as an
``int``, a number of seconds as a ``float``: a NumPy or ``IntEnum`` value is
taken for what it is worth) and raises ``TypeError`` (wrong type) or
``ValueError`` (right type, value out of range) naming the argument otherwise,
so that a wrong argument fails where it is given instead of later, in a green
thread, as something else.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _kind(value: Any) -> str:
    """The name of ``value``'s type, with its module when not a builtin (``numpy.bool``)."""
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def whole(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """A whole number (an ``int`` or anything ``operator.index`` takes, not a ``bool``)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {_kind(value)}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {number}")
    return number


def optional_whole(name: str, value: Any, minimum: int = 1) -> int | None:
    """None, or what :func:`whole` accepts."""
    return None if value is None else whole(name, value, minimum)


def _real(name: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}, not {_kind(value)}")
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name} is too large: {value!r}") from None


def seconds(name: str, value: Any, *, zero: bool = False, infinite: bool = False) -> float:
    """A number of seconds: above 0 (or at least 0 with ``zero``), finite unless ``infinite``."""
    number = _real(name, value, "a number of seconds")
    if (
        math.isnan(number)
        or (math.isinf(number) and not infinite)
        or number < 0
        or (number == 0 and not zero)
    ):
        bound = "at least 0" if zero else "above 0"
        kind = "number" if infinite else "finite number"
        raise ValueError(f"{name} must be a {kind} of seconds {bound}, not {value!r}")
    return number


def factor(name: str, value: Any) -> float:
    """A finite number of at least 1."""
    number = _real(name, value, "a number")
    if not (math.isfinite(number) and number >= 1):
        raise ValueError(f"{name} must be a finite number of at least 1, not {value!r}")
    return number


def optional_seconds(
    name: str, value: Any, *, zero: bool = False, infinite: bool = False
) -> float | None:
    """None (no limit), or what :func:`seconds` accepts."""
    return None if value is None else seconds(name, value, zero=zero, infinite=infinite)


def flag(name: str, value: Any) -> bool:
    """``True`` or ``False`` (a string such as ``"no"`` is true in Python: refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {_kind(value)}")
    return value


def instance(name: str, value: Any, kind: type[T] | tuple[type, ...], what: str) -> Any:
    """An instance of ``kind`` (``what`` names it in the error)."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, not {_kind(value)}")
    return value


def optional_callable(name: str, value: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """None, or something that can be called."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, not {_kind(value)}")
    return value


def field_name(name: str, value: str) -> str:
    """A non-empty ``str``: the name of a field of JSON objects."""
    instance(name, value, str, "a str")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def implements(
    name: str, value: Any, methods: tuple[str, ...], what: str, attributes: tuple[str, ...] = ()
) -> Any:
    """An object (not a class) with each of ``methods`` callable and ``attributes`` present."""
    if isinstance(value, type):
        raise TypeError(f"{name} must be {what}: an instance, not the class {value.__name__}")
    missing = [method for method in methods if not callable(getattr(value, method, None))]
    missing += [attribute for attribute in attributes if not hasattr(value, attribute)]
    if missing:
        raise TypeError(
            f"{name} must be {what}, not {_kind(value)} (it has no {', '.join(missing)})"
        )
    return value
