"""Checks for public parameters, made at construction time, not at the first item.

Each check names the parameter and shows the value, in one form:
``"<name> must be <what>, got <value!r>"``. A value of the wrong type is a ``TypeError``
(``"failure_threshold must be an int, got 1.5"``), one out of range a ``ValueError``
(``"capacity must be >= 1, got 0"``). Ints are ints: bool and float are refused. Numbers
are real and finite, and never bool.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Literal, TypeVar, overload

from reactivex import abc

from ._metrics import Metrics

_S = TypeVar("_S", bound=str)


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    minimum: float | None = None,
    what: str = "a number",
) -> float:
    """``value`` as a finite float, ``> above`` and ``>= minimum`` where given."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if above is not None and not number > above:
        raise ValueError(f"{name} must be > {above!r}, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum!r}, got {value!r}")
    return number


@overload
def check_seconds(name: str, value: object, *, allow_none: Literal[False] = False) -> float: ...


@overload
def check_seconds(name: str, value: object, *, allow_none: bool) -> float | None: ...


def check_seconds(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """``value`` as a finite number of seconds > 0 (or None, if allowed)."""
    if value is None and allow_none:
        return None
    what = "None or a number of seconds" if allow_none else "a number of seconds"
    return check_number(name, value, above=0, what=what)


def check_callable(name: str, value: object, *, allow_none: bool = False) -> None:
    """``value`` is callable (or None, if allowed)."""
    if not callable(value) and not (value is None and allow_none):
        what = "callable or None" if allow_none else "callable"
        raise TypeError(f"{name} must be {what}, got {value!r}")


def check_choice(name: str, value: object, choices: tuple[_S, ...]) -> _S:
    """``value`` as one of the strings ``choices`` (a ``Literal``'s values)."""
    for choice in choices:
        if value == choice and isinstance(value, str):
            return choice
    quoted = [repr(choice) for choice in choices]
    allowed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    error = ValueError if isinstance(value, str) else TypeError
    raise error(f"{name} must be {allowed}, got {value!r}")


def check_instance(
    name: str,
    value: object,
    kind: type | tuple[type, ...],
    what: str,
    *,
    allow_none: bool = False,
) -> None:
    """``value`` is an instance of ``kind``, described as ``what`` (or None, if allowed)."""
    if not isinstance(value, kind) and not (value is None and allow_none):
        raise TypeError(f"{name} must be {'None or ' if allow_none else ''}{what}, got {value!r}")


def check_scheduler(value: object, name: str = "scheduler") -> None:
    """``value`` is None or a reactivex scheduler."""
    check_instance(name, value, abc.SchedulerBase, "a reactivex.abc.SchedulerBase", allow_none=True)


def check_metrics(value: object) -> None:
    """``value`` is None or a :class:`Metrics`."""
    check_instance("metrics", value, Metrics, "an rx_backpressure.Metrics", allow_none=True)
