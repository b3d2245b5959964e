"""marbles(): marble-diagram tests on one TestScheduler, with demand in the diagrams."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.notification import Notification, OnCompleted, OnError, OnNext
from reactivex.testing import TestScheduler
from reactivex.testing.recorded import Recorded
from reactivex.testing.subscription import Subscription as SubscriptionRecord

from ..core import UNBOUNDED, Flowable, Subscription, add_demand, check_instance, check_seconds
from ._diagram import Event, origin_frame, parse
from ._guard import real_time_guard
from ._sources import (
    DemandEvent,
    RecordingFlowable,
    TimedObservable,
    demand_before_cancels_from,
    mark,
    pull_source,
    span,
)
from ._subscriber import RuleViolation, TestSubscriber, tick

CREATED = 100
SUBSCRIBED = 200
DISPOSED = 1000


class Demand:
    """A parsed demand diagram: requests (a number, ``*`` for unbounded) and ``!`` cancel."""

    def __init__(self, events: list[tuple[float, int | None]]) -> None:
        check_instance("events", events, list, "a list of (time, n or None)")
        self.events = events

    def __repr__(self) -> str:
        return f"Demand({self.events!r})"


class MarbleContext:
    """The functions of one ``with marbles() as m:`` block, all bound to ``m.scheduler``.

    Times: sources are created at 100, subscribed at 200 and disposed at 1000, as in
    reactivex; frame ``k`` of a diagram is ``200 + k * timespan``.
    """

    def __init__(self, timespan: float) -> None:
        check_seconds("timespan", timespan)
        self.timespan = timespan
        self.scheduler = TestScheduler()
        self.subscriber: TestSubscriber[Any] | None = None
        self.subscribers: list[TestSubscriber[Any]] = []
        self._hot: list[TimedObservable[Any]] = []
        self._disposal: int | None = None  # mark() taken as start() began its final cancel

    # -- time -----------------------------------------------------------------------------

    def time(self, frame: float, origin: float = SUBSCRIBED) -> float:
        """The virtual time of ``frame`` counted from ``origin``."""
        return tick(origin + frame * self.timespan)

    def _timed(
        self,
        events: list[Event],
        error: Exception | None,
        origin: float,
    ) -> list[tuple[float, Notification[Any]]]:
        zero = origin_frame(events)
        timed: list[tuple[float, Notification[Any]]] = []
        for event in events:
            time = self.time(event.frame - zero, origin)
            if event.kind == "N":
                timed.append((time, OnNext(event.value)))
            elif event.kind == "E":
                timed.append((time, OnError(error or Exception("error"))))
            elif event.kind == "C":
                timed.append((time, OnCompleted()))
        return timed

    # -- sources --------------------------------------------------------------------------

    def hot(
        self,
        diagram: str,
        lookup: Mapping[Any, Any] | None = None,
        error: Exception | None = None,
    ) -> TimedObservable[Any]:
        """A hot (push) source. Frame zero, or ``^``, is the subscription time; an event in
        that frame arrives after the subscription (and its initial demand), not before."""
        source: TimedObservable[Any] = TimedObservable(
            self.scheduler,
            self._timed(parse(diagram, lookup), error, SUBSCRIBED),
            hot=True,
        )
        self._hot.append(source)
        return source

    def cold(
        self,
        diagram: str,
        lookup: Mapping[Any, Any] | None = None,
        error: Exception | None = None,
    ) -> TimedObservable[Any]:
        """A cold (push) source: frame zero is each subscription's own time."""
        return TimedObservable(
            self.scheduler, self._timed(parse(diagram, lookup), error, 0), hot=False
        )

    def pull(
        self,
        values: str | Iterable[Any],
        lookup: Mapping[Any, Any] | None = None,
        error: Exception | None = None,
    ) -> RecordingFlowable[Any]:
        """A demand-driven source that emits only when requested, recording each request.

        ``values`` is an iterable (the source completes after its last item) or a diagram
        whose time does not matter: ``"a-b-c-|"`` completes right after ``c``, ``"abc#"``
        errs, and a diagram with neither never terminates once its values are gone.
        """
        if not isinstance(values, str):
            return pull_source(values, OnCompleted(), self.scheduler)
        events = parse(values, lookup)
        terminal: Notification[Any] | None = None
        for event in events:
            if event.kind == "C":
                terminal = OnCompleted()
            elif event.kind == "E":
                terminal = OnError(error or Exception("error"))
        items = [event.value for event in events if event.kind == "N"]
        return pull_source(items, terminal, self.scheduler)

    def spy(self, flowable: Flowable[Any]) -> RecordingFlowable[Any]:
        """Wrap any Flowable so that the demand it receives is recorded."""
        return RecordingFlowable(flowable, self.scheduler)

    # -- expectations ---------------------------------------------------------------------

    def exp(
        self,
        diagram: str,
        lookup: Mapping[Any, Any] | None = None,
        error: Exception | None = None,
    ) -> list[Recorded[Any]]:
        """The records a subscriber started at 200 should see, exact for any timespan."""
        return [
            Recorded(time, notification)  # type: ignore[arg-type]
            for time, notification in self._timed(parse(diagram, lookup), error, SUBSCRIBED)
        ]

    def demand(self, diagram: str, lookup: Mapping[Any, Any] | None = None) -> Demand:
        """Parse a downstream demand diagram: ``"2---1--*--!"``."""
        events: list[tuple[float, int | None]] = []
        for event in parse(diagram, lookup):
            if event.kind == "!":
                events.append((self.time(event.frame), None))
            elif event.kind == "N":
                events.append((self.time(event.frame), _amount(event.value, diagram)))
            else:
                raise ValueError(f"a demand diagram has numbers, '*' and '!', got {diagram!r}")
        return Demand(events)

    def exp_requests(
        self, diagram: str, lookup: Mapping[Any, Any] | None = None
    ) -> list[DemandEvent]:
        """The demand a source should have received: ``"(4)---3--3"``, ``"1--!"``."""
        return [DemandEvent(time, n) for time, n in self.demand(diagram, lookup).events]

    def requests_of(
        self, source: RecordingFlowable[Any], *, include_disposal: bool = False
    ) -> list[DemandEvent]:
        """The demand ``source`` (from ``pull`` or ``spy``) received, in order.

        The cancel that reaches ``source`` because ``start`` disposes of its subscriber (at
        ``disposed``, 1000 by default) is the harness's doing, not the pipeline's: it is left
        out unless ``include_disposal=True``. A cancel in the demand diagram, or one an
        operator sends (``take``, an error), is always there.
        """
        if not isinstance(source, RecordingFlowable):
            raise TypeError("requests_of() takes a source made by pull() or spy()")
        check_instance("include_disposal", include_disposal, bool, "a bool")
        return demand_before_cancels_from(source, None if include_disposal else self._disposal)

    def subscriptions_of(
        self, source: RecordingFlowable[Any] | TimedObservable[Any]
    ) -> list[SubscriptionRecord]:
        """When ``source`` was subscribed and unsubscribed."""
        return source.subscriptions

    def exp_subscriptions(self, *diagrams: str) -> list[SubscriptionRecord]:
        """Expected subscription spans, one diagram each: ``"^---!"`` (``!`` optional)."""
        records: list[SubscriptionRecord] = []
        for diagram in diagrams:
            events = parse(diagram)
            start = next((e.frame for e in events if e.kind == "^"), None)
            if start is None:
                raise ValueError(f"a subscription diagram needs '^', got {diagram!r}")
            end = next((e.frame for e in events if e.kind == "!"), None)
            if end is None:
                records.append(span(self.time(start)))
            else:
                records.append(span(self.time(start), self.time(end)))
        return records

    # -- running --------------------------------------------------------------------------

    def start(
        self,
        create: Observable[Any] | Callable[[], Observable[Any]],
        demand: str | Demand | None = None,
        *,
        lookup: Mapping[Any, Any] | None = None,
        disposed: float = DISPOSED,
    ) -> list[Recorded[Any]]:
        """Create at 100, subscribe a TestSubscriber at 200 driven by ``demand`` (unbounded
        if None; ``lookup`` maps its amounts), cancel at ``disposed``, run the scheduler,
        and return the records.

        The subscriber is ``m.subscriber`` afterwards; its rule violations fail the block.
        ``start`` runs once per block, before the clock has passed 200: a second call, or
        one after ``run()``, raises ``RuntimeError``.
        """
        __tracebackhide__ = True
        self._check_startable()
        plan = self.demand(demand, lookup) if isinstance(demand, str) else demand
        events = plan.events if plan is not None else [(SUBSCRIBED, UNBOUNDED)]
        initial = 0
        for time, n in events:
            if time == SUBSCRIBED and n is not None:
                initial = add_demand(initial, n)
        subscriber: TestSubscriber[Any] = TestSubscriber(initial, scheduler=self.scheduler)
        self.subscriber = subscriber
        self.subscribers.append(subscriber)
        holder: list[Observable[Any]] = []
        scheduler = self.scheduler

        def do_create(_: abc.SchedulerBase, __: Any = None) -> None:
            holder.append(create if isinstance(create, Observable) else create())

        def do_subscribe(_: abc.SchedulerBase, __: Any = None) -> None:
            subscribe(holder[0], subscriber, scheduler)

        def do_demand(n: int | None, _: abc.SchedulerBase, __: Any = None) -> None:
            if subscriber.subscription is None or subscriber.terminated.is_set():
                return
            if n is None:
                subscriber.cancel()
            else:
                subscriber.request(n)

        scheduler.schedule_absolute(CREATED, do_create)
        scheduler.schedule_absolute(SUBSCRIBED, do_subscribe)

        def do_dispose(_: abc.SchedulerBase, __: Any = None) -> None:
            self._disposal = mark()
            do_demand(None, scheduler)

        for time, n in events:
            if time != SUBSCRIBED or n is None:
                scheduler.schedule_absolute(time, functools.partial(do_demand, n))
        scheduler.schedule_absolute(disposed, do_dispose)
        for source in self._hot:
            source.schedule_hot()
        scheduler.start()
        subscriber.assert_no_violations()
        return subscriber.messages

    def _check_startable(self) -> None:
        now = tick(self.scheduler.clock)
        if self.subscribers:
            raise RuntimeError(
                f"start() was already called in this marbles() block: its clock is at {now}, so "
                f"a second start() would create and subscribe at {now} instead of {CREATED} and "
                f"{SUBSCRIBED}. Use a new `with marbles() as m:` block for each start()"
            )
        if now > SUBSCRIBED:
            raise RuntimeError(
                f"start() after the clock passed {SUBSCRIBED}: this marbles() block's clock is at "
                f"{now}, so it would subscribe at {now}, not at {SUBSCRIBED} where every diagram's "
                "frame zero is. Call start() before run() or before advancing the scheduler past "
                f"{SUBSCRIBED}, or use a new `with marbles() as m:` block"
            )

    def run(self) -> None:
        """Run the scheduler until idle, with the hot sources' events on it."""
        for source in self._hot:
            source.schedule_hot()
        self.scheduler.start()


class _PushSubscription(Subscription):
    """What a TestSubscriber holds on a plain Observable: demand is ignored there."""

    def __init__(self) -> None:
        self.disposable = SingleAssignmentDisposable()

    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        self.disposable.dispose()


def subscribe(
    source: Observable[Any], subscriber: TestSubscriber[Any], scheduler: abc.SchedulerBase
) -> None:
    """Subscribe ``subscriber`` to a Flowable, or to a plain Observable as an observer."""
    if isinstance(source, Flowable):
        source.subscribe(subscriber, scheduler=scheduler)
        return
    link = _PushSubscription()
    subscriber.on_subscribe(link)
    link.disposable.disposable = source.subscribe(subscriber, scheduler=scheduler)


def _amount(value: Any, diagram: str) -> int:
    if value == "*":
        return UNBOUNDED
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"demand amounts are ints or '*', got {value!r} in {diagram!r}")
    return value


@contextmanager
def marbles(timespan: float = 1.0) -> Iterator[MarbleContext]:
    """Marble-diagram testing with demand, on one ``reactivex.testing.TestScheduler``.

    ::

        with marbles() as m:
            source = m.pull("a-b-c-d-|")
            m.start(source.pipe(bp.shed(2)), demand="1---2")
            assert m.requests_of(source) == m.exp_requests("*")

    Work scheduled on a real-time scheduler inside the block fails the test, rather than
    silently recording nothing; so does any rule a started subscriber saw broken. A
    ``timespan`` that is not a finite number of seconds > 0 fails on entering the block.
    """
    context = MarbleContext(timespan)
    with real_time_guard() as offences:
        yield context
    problems = list(offences)
    for subscriber in context.subscribers:
        problems.extend(subscriber.violations)
    if problems:
        raise RuleViolation("; ".join(problems))
