"""The one clock that operator code reads: seconds from a scheduler, never going backwards.

Contract: operators never read a clock of their own; they call :func:`clock_reader` once
per subscription (``Drain._now`` does) or :func:`seconds`. Readings are seconds as floats:

- a virtual-time scheduler (``VirtualTimeScheduler``, ``TestScheduler``) is read from its
  own clock, so virtual-time tests are exact;
- a real-time scheduler that keeps reactivex's ``now`` (the system clock in UTC) is timed
  with ``time.monotonic``: a wall clock that is stepped (NTP, a laptop waking) cannot
  stall a timer or make an interval negative;
- any other scheduler (a ``now`` of its own) is asked, and the reading is made monotone:
  time that runs backwards counts as no time, and the clock goes on from there.

So an elapsed time computed from two readings is never negative. Timers are still set
with ``schedule_relative``, so a clock step does not move them either.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from reactivex import abc
from reactivex.scheduler import VirtualTimeScheduler
from reactivex.scheduler.scheduler import Scheduler

_WALL_CLOCK_NOW = Scheduler.now
_VIRTUAL_NOW = VirtualTimeScheduler.now

_readers: weakref.WeakKeyDictionary[abc.SchedulerBase, Callable[[], float]] = (
    weakref.WeakKeyDictionary()
)
_readers_lock = threading.Lock()


class _Monotone:
    """Reads a scheduler with a ``now`` of its own; a step back counts as no time."""

    __slots__ = ("_last", "_lock", "_scheduler", "_total")

    def __init__(self, scheduler: abc.SchedulerBase) -> None:
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._last: float | None = None
        self._total = 0.0

    def __call__(self) -> float:
        now = self._scheduler.now
        raw = now.timestamp() if now.tzinfo is not None else self._scheduler.to_seconds(now)
        with self._lock:
            last = self._last
            if last is None:
                self._total = raw
            elif raw > last:
                self._total += raw - last
            self._last = raw
            return self._total


def clock_reader(scheduler: abc.SchedulerBase) -> Callable[[], float]:
    """A function that reads ``scheduler``'s clock in seconds (see the module notes).

    The kind of clock is worked out once, here, rather than at every reading. Readers of a
    scheduler with a clock of its own are shared, so every stage sees the same time.
    """
    kind = type(scheduler)
    if isinstance(scheduler, VirtualTimeScheduler) and kind.now is _VIRTUAL_NOW:
        to_seconds = scheduler.to_seconds
        return lambda: to_seconds(scheduler.clock)
    if getattr(kind, "now", None) is _WALL_CLOCK_NOW:
        return time.monotonic
    with _readers_lock:
        try:
            reader = _readers.get(scheduler)
        except TypeError:  # a scheduler that cannot be weakly referenced: not shared
            return _Monotone(scheduler)
        if reader is None:
            reader = _readers[scheduler] = _Monotone(scheduler)
        return reader


def seconds(scheduler: abc.SchedulerBase) -> float:
    """``scheduler``'s clock in seconds now, as :func:`clock_reader` reads it."""
    return clock_reader(scheduler)()
