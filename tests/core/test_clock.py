"""The one clock operators read: exact on virtual time, monotonic on real time, and never
running backwards, whatever the scheduler's ``now`` does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from reactivex import abc
from reactivex.scheduler import EventLoopScheduler, TimeoutScheduler
from reactivex.scheduler.scheduler import Scheduler
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.core import clock_reader, seconds
from rx_backpressure.testing import TestSubscriber


class SteppingScheduler(TestScheduler):
    """Virtual time whose ``now`` can be stepped back, as a wall clock set by NTP is.

    Timers still run on the virtual clock (``schedule_relative``): only readings jump.
    """

    def __init__(self) -> None:
        super().__init__()
        self.step = timedelta(0)

    @property
    def now(self) -> datetime:
        # reactivex reads ``now`` under its own lock: ``clock`` would take it again.
        return self.to_datetime(self._clock) - self.step


@pytest.mark.parametrize("make", [TimeoutScheduler.singleton, EventLoopScheduler])
def test_reactivex_real_time_schedulers_are_timed_with_the_monotonic_clock(make: object) -> None:
    scheduler = make()  # type: ignore[operator]
    assert clock_reader(scheduler) is time.monotonic
    before = time.monotonic()
    assert before <= seconds(scheduler) <= time.monotonic()


def test_virtual_time_is_read_exactly() -> None:
    virtual = TestScheduler()
    virtual.advance_to(12.5)
    assert clock_reader(virtual)() == 12.5
    assert seconds(virtual) == 12.5


def test_a_scheduler_with_its_own_now_is_asked() -> None:
    class Frozen(Scheduler):
        @property
        def now(self) -> datetime:
            return datetime(2001, 2, 3, tzinfo=UTC)

        def schedule(self, action: Any, state: Any = None) -> abc.DisposableBase:
            raise NotImplementedError

        def schedule_relative(
            self, duetime: Any, action: Any, state: Any = None
        ) -> abc.DisposableBase:
            raise NotImplementedError

        def schedule_absolute(
            self, duetime: Any, action: Any, state: Any = None
        ) -> abc.DisposableBase:
            raise NotImplementedError

    frozen = Frozen()
    expected = datetime(2001, 2, 3, tzinfo=UTC).timestamp()
    assert clock_reader(frozen)() == expected
    assert seconds(frozen) == expected


def test_a_clock_that_steps_back_counts_the_step_as_no_time() -> None:
    scheduler = SteppingScheduler()
    read = clock_reader(scheduler)
    scheduler.advance_to(10.0)
    assert read() == 10.0
    scheduler.step = timedelta(seconds=5)  # now reads 5.0
    assert read() == 10.0
    scheduler.advance_to(11.0)  # now reads 6.0: one more second has passed
    assert read() == 11.0
    assert seconds(scheduler) == 11.0  # every reader of this scheduler agrees


def test_token_bucket_keeps_its_rate_when_the_clock_steps_back() -> None:
    scheduler = SteppingScheduler()
    times: list[float] = []
    bp.from_iterable(range(40)).pipe(bp.token_bucket(5, 100)).subscribe(
        lambda _: times.append(round(scheduler.clock, 6)), scheduler=scheduler
    )
    assert times == [0.0] * 5  # the burst
    scheduler.advance_to(0.1)
    assert len(times) == 15  # then one every 10 ms
    scheduler.step = timedelta(seconds=5)
    scheduler.advance_to(0.2)
    # The time between the last reading before the step (0.1) and the first after it
    # (0.11) counts as none: one interval is lost, then the rate goes on. Without the
    # clamp the bucket would refill from 5 s in the future: nothing for 5 s.
    assert times[15:] == [round(0.12 + 0.01 * k, 6) for k in range(9)]


def test_circuit_break_opens_for_its_reset_timeout_when_the_clock_steps_back() -> None:
    scheduler = SteppingScheduler()
    failing = True

    def action(item: int) -> int:
        if failing:
            raise RuntimeError("down")
        return item

    subject: Subject[int] = Subject()
    breaker = bp.CircuitBreaker(failure_threshold=1, reset_timeout=1.0, scheduler=scheduler)
    subscriber: TestSubscriber[int] = TestSubscriber()
    subject.pipe(bp.circuit_break(action, breaker=breaker)).subscribe(
        subscriber, scheduler=scheduler
    )
    subject.on_next(1)  # fails at 0.0: open until 1.0
    assert breaker.state == "open"
    scheduler.advance_to(0.5)
    scheduler.step = timedelta(seconds=5)
    failing = False
    scheduler.advance_to(0.999)
    assert breaker.state == "open"
    scheduler.advance_to(1.0)
    # The trial goes at 1.0, not 5 s later: the step back counted as no time.
    assert subscriber.values == [1]
    assert breaker.state == "closed"  # type: ignore[comparison-overlap]  # it changed


def test_adaptive_batch_never_measures_a_negative_time() -> None:
    scheduler = SteppingScheduler()
    took: list[float] = []

    def rule(size: int, elapsed: float, target: float) -> int:
        took.append(elapsed)
        return size

    subscriber: TestSubscriber[list[int]] = TestSubscriber(initial_request=1)
    bp.from_iterable(range(10)).pipe(
        bp.adaptive_batch(initial_size=2, min_size=1, max_size=4, rule=rule)
    ).subscribe(subscriber, scheduler=scheduler)
    scheduler.advance_to(1.0)
    scheduler.step = timedelta(seconds=5)  # the batch went out at 0.0; now reads -4.0
    subscriber.request(1)
    assert took == [0.0]
    assert subscriber.values == [[0, 1], [2, 3]]
