"""A lean virtual clock for the demo's simulations.

reactivex's VirtualTimeScheduler turns every due time into a datetime and back; the demo
schedules a few hundred thousand actions per run, so its clock keeps float seconds and a
plain heap instead. It is still a VirtualTimeScheduler: the operators treat it as virtual
time, exactly as they treat a TestScheduler.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, cast

from reactivex import abc, typing
from reactivex.scheduler import VirtualTimeScheduler


class _Timer(abc.DisposableBase):
    __slots__ = ("action", "cancelled", "state")

    def __init__(self, action: abc.ScheduledAction[Any], state: Any) -> None:
        self.action = action
        self.state = state
        self.cancelled = False

    def dispose(self) -> None:
        self.cancelled = True


class VirtualClock(VirtualTimeScheduler):
    """Virtual time in seconds from zero, exact to the microsecond; see :meth:`advance_to`.

    Due times are rounded to the nearest microsecond, as reactivex's own virtual time
    rounds them (through a ``datetime``): an action can run up to half a microsecond
    before the time it was set for, so code that waits on this clock waits in whole
    microseconds, rounded up. The time is kept where ``VirtualTimeScheduler`` keeps it,
    so its ``now`` is reactivex's own and a clock reader knows it for virtual time.
    """

    def __init__(self) -> None:
        super().__init__(0.0)
        self._heap: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self.executed = 0
        """Actions run so far: the events of the simulation."""

    @property
    def clock(self) -> float:
        # One thread runs the simulation: no lock, unlike the base class.
        return cast(float, self._clock)

    def schedule(self, action: abc.ScheduledAction[Any], state: Any = None) -> abc.DisposableBase:
        return self.schedule_absolute(self.clock, action, state)

    def schedule_relative(
        self, duetime: typing.RelativeTime, action: abc.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        return self.schedule_absolute(self.clock + self.to_seconds(duetime), action, state)

    def schedule_absolute(
        self, duetime: typing.AbsoluteTime, action: abc.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        due = duetime if isinstance(duetime, float | int) else self.to_seconds(duetime)
        timer = _Timer(action, state)
        # Microseconds, as reactivex's own virtual time: steps of 0.01 s add up exactly.
        heapq.heappush(self._heap, (round(due, 6), next(self._order), timer))
        return timer

    def advance_to(self, time: typing.AbsoluteTime) -> None:
        end = time if isinstance(time, float | int) else self.to_seconds(time)
        heap = self._heap
        while heap and heap[0][0] <= end:
            due, _, timer = heapq.heappop(heap)
            if due > self.clock:
                self._clock = due
            if not timer.cancelled:
                self.executed += 1
                timer.action(self, timer.state)
        self._clock = max(self.clock, float(end))

    def work(self, duration: float) -> None:
        """Be busy for ``duration`` seconds, as a blocking call on a thread of its own is.

        The rest of the simulation does not wait: whatever falls due meanwhile runs (a
        producer keeps producing), and then the caller carries on, ``duration`` later. So a
        consumer that calls this from ``on_next`` is a consumer that blocks, and what
        arrives while it does queues up in front of it, as it would in front of a thread.
        Called from an action that :meth:`advance_to` runs; it must not be nested in
        itself (one blocking consumer per simulation).
        """
        self.advance_to(round(self.clock + duration, 6))
