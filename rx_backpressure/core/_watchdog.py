"""Stall detection: which stage stops the flow, once nothing has moved for a while.

The watchdog reads the pipeline (:func:`~rx_backpressure.inspect`) every ``check_every``
seconds of its scheduler's time. Flow has *moved* between two readings when any stage
received or emitted an item. Flow has *stopped* when it has not moved for ``stall_after``
seconds while something waits: items held somewhere, or demand not met. It then finds
where flow stops, walking from the subscriber towards the source:

1. The subscriber's stage has no demand (or a consumer of ours holds items it does not
   take): the subscriber is the one not requesting.
2. A stage that holds items and has demand, yet emits nothing, stops the flow there (an
   open circuit, an empty token bucket).
3. A stage with demand that is waiting for items it asked upstream for passes the
   question upstream; the first one that asked for nothing, or the source, is where flow
   stops.

It reports once per stall, and once more when flow moves again, through ``on_stall`` and
the ``rx_backpressure.watchdog`` logger (WARNING for a stall, INFO when it clears).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivex import abc
from reactivex.disposable import Disposable, SerialDisposable
from reactivex.scheduler import TimeoutScheduler

from ._clock import clock_reader
from ._demand import UNBOUNDED
from ._stage import Pipeline, StageSnapshot, inspect
from ._validate import check_callable, check_scheduler, check_seconds

_log = logging.getLogger("rx_backpressure.watchdog")

SUBSCRIBER = "subscriber"
"""``Stall.stage`` when the subscriber is the one not requesting."""


@dataclass(frozen=True)
class Stall:
    """A stall the watchdog found, or its end (``cleared``).

    - ``stage``: the name of the stage where flow stops, or ``"subscriber"``
    - ``message``: one line that says why, e.g. ``circuit_break(send): open for 30 s,
      12 items waiting, 0 requested upstream``
    - ``since``: scheduler time (seconds) of the last reading in which flow moved
    - ``at``: scheduler time of this report
    - ``cleared``: False when the stall is found, True when flow moves again
    - ``pipeline``: the reading the report was made from
    """

    stage: str
    message: str
    since: float
    at: float
    cleared: bool
    pipeline: Pipeline

    @property
    def subscriber(self) -> bool:
        """Whether the subscriber, not a stage, is where flow stops."""
        return self.stage == SUBSCRIBER

    def __str__(self) -> str:
        return self.message


def watchdog(
    subscription: object,
    *,
    stall_after: float,
    scheduler: abc.SchedulerBase | None = None,
    on_stall: Callable[[Stall], None] | None = None,
    check_every: float | None = None,
) -> abc.DisposableBase:
    """Watch ``subscription``'s pipeline and report where flow stops (see the module notes).

    ``stall_after``: seconds without movement, while something waits, that make a stall.
    ``scheduler``: the clock it reads and runs on (default: real time). ``on_stall`` gets
    each :class:`Stall` (a stall, then its clearing); an exception it raises is logged on
    the ``rx_backpressure.watchdog`` logger and the watch goes on. ``check_every``: seconds
    between readings (default ``stall_after / 4``); a stall is reported between
    ``stall_after`` and ``stall_after + check_every`` after flow last moved. The watch ends
    when the subscriber's stage ends, or when the returned disposable is disposed.
    """
    stall_after = check_seconds("stall_after", stall_after)
    every = check_seconds("check_every", check_every, allow_none=True)
    check_scheduler(scheduler)
    check_callable("on_stall", on_stall, allow_none=True)
    first = inspect(subscription)  # TypeError now for something that is no subscription
    clock = scheduler if scheduler is not None else TimeoutScheduler.singleton()
    watch = _Watch(subscription, stall_after, clock, on_stall, first)
    watch.schedule(every if every is not None else stall_after / 4)
    return Disposable(watch.stop)


class _Watch:
    def __init__(
        self,
        subscription: object,
        stall_after: float,
        clock: abc.SchedulerBase,
        on_stall: Callable[[Stall], None] | None,
        first: Pipeline,
    ) -> None:
        self._subscription = subscription
        self._stall_after = stall_after
        self._clock = clock
        self._now = clock_reader(clock)
        self._on_stall = on_stall
        self._moves = _moves(first)
        self._moved_at = self._now()
        self._stall: Stall | None = None
        self._timer = SerialDisposable()
        self._every = 0.0
        self._stopped = False

    def schedule(self, every: float) -> None:
        self._every = every
        self._timer.disposable = self._clock.schedule_relative(every, self._tick)

    def stop(self) -> None:
        self._stopped = True
        self._timer.dispose()

    def _tick(self, _: abc.SchedulerBase, __: Any = None) -> None:
        if self._stopped:
            return
        pipeline = inspect(self._subscription)
        now = self._now()
        moves = _moves(pipeline)
        if moves != self._moves:
            self._moves = moves
            stall, self._stall = self._stall, None
            if stall is not None:
                self._report(
                    Stall(
                        stall.stage,
                        f"{stall.stage}: flowing again after {now - stall.since:g} s",
                        stall.since,
                        now,
                        True,
                        pipeline,
                    )
                )
            self._moved_at = now
        elif self._stall is None and now - self._moved_at >= self._stall_after:
            found = where_flow_stops(pipeline, now - self._moved_at)
            if found is not None:
                stage, message = found
                self._stall = Stall(stage, message, self._moved_at, now, False, pipeline)
                self._report(self._stall)
        if pipeline.stages[-1].ended:
            self.stop()
            return
        self.schedule(self._every)

    def _report(self, stall: Stall) -> None:
        if stall.cleared:
            _log.info("%s", stall.message)
        else:
            _log.warning("stall: %s", stall.message)
        if self._on_stall is not None:
            try:
                self._on_stall(stall)
            except Exception:  # the user's callback: logged, and the watch goes on
                _log.exception("on_stall raised for %r", stall.message)


def _moves(pipeline: Pipeline) -> tuple[tuple[int | None, int | None], ...]:
    return tuple((stage.received, stage.emitted) for stage in pipeline)


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    return "unbounded" if value >= UNBOUNDED else str(value)


def where_flow_stops(pipeline: Pipeline, idle: float) -> tuple[str, str] | None:
    """The stage where flow stops and the line that says why; None if nothing waits."""
    stages = pipeline.stages
    if stages[-1].ended:
        return None
    last = stages[-1]
    index = len(stages) - 1
    if last.kind == "subscriber":
        # A consumer of ours (to_iterable, async for): it holds what it was sent.
        if last.held:
            return SUBSCRIBER, (
                f"the subscriber ({last.name}) has not taken the {last.held} items it holds"
                f" for {idle:g} s"
            )
        if not last.pending:
            return SUBSCRIBER, f"the subscriber ({last.name}) requested nothing for {idle:g} s"
        index -= 1
    elif not last.demand:
        waiting = [stage for stage in stages if stage.held]
        where = "; ".join(f"{stage.held} items waiting in {stage.name}" for stage in waiting)
        return SUBSCRIBER, (
            f"the subscriber requested nothing for {idle:g} s" + (f"; {where}" if where else "")
        )
    while index >= 0:
        stage = stages[index]
        if stage.held and stage.demand:
            return stage.name, _holding(stage, idle)
        if index == 0 or not stage.pending:
            return stage.name, _starved(stage, idle, source=index == 0)
        index -= 1
    return None


def _holding(stage: StageSnapshot, idle: float) -> str:
    parts = []
    circuit = stage.state.get("circuit")
    if circuit is not None and circuit != "closed":
        open_for = stage.state.get("open_for")
        since = f" for {open_for:g} s" if isinstance(open_for, (int, float)) else ""
        parts.append(f"{circuit}{since}")
    parts.append(f"{stage.held} items waiting")
    parts.append(f"{_count(stage.pending or 0)} requested upstream")
    if circuit is None and stage.state:
        parts.append(stage.describe_state())
    return f"{stage.name}: {', '.join(parts)}; nothing emitted for {idle:g} s"


def _starved(stage: StageSnapshot, idle: float, *, source: bool) -> str:
    if stage.kind == "push":
        return f"{stage.name}: nothing pushed for {idle:g} s"
    if source or stage.pending is None:
        return f"{stage.name}: {_count(stage.demand)} requested, nothing received for {idle:g} s"
    extra = f", {stage.describe_state()}" if stage.state else ""
    return (
        f"{stage.name}: {_count(stage.demand)} requested, 0 requested upstream{extra};"
        f" nothing moved for {idle:g} s"
    )
