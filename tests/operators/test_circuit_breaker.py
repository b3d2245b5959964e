"""CircuitBreaker on its own: transitions and their times, permits, backoff, the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reactivex import abc
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import CircuitBreaker, CircuitState, circuit_break
from rx_backpressure.testing import TestSubscriber

Log = list[tuple[float, CircuitState]]


def watch(
    breaker: CircuitBreaker,
    scheduler: TestScheduler,
    subscribe_on: abc.SchedulerBase | None = None,
) -> Log:
    """Record ``breaker.states`` as (virtual seconds, state)."""
    log: Log = []
    breaker.states.subscribe(
        lambda stamp: log.append((scheduler.to_seconds(stamp[0]), stamp[1])),
        scheduler=subscribe_on,
    )
    return log


def state(breaker: CircuitBreaker) -> CircuitState:
    return breaker.state  # read afresh each time (no narrowing across calls)


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        permit = breaker.acquire()
        assert permit is not None
        breaker.failure(permit, RuntimeError("down"))


def succeed(breaker: CircuitBreaker) -> None:
    permit = breaker.acquire()
    assert permit is not None
    breaker.success(permit)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be >= 1, got 0"),
        ({"reset_timeout": 0}, "reset_timeout must be > 0, got 0"),
        ({"reset_timeout": -1.5}, "reset_timeout must be > 0, got -1.5"),
        ({"half_open_max_calls": 0}, "half_open_max_calls must be >= 1, got 0"),
        ({"backoff": 0.5}, "backoff must be >= 1, got 0.5"),
        (
            {"reset_timeout": 10, "max_reset_timeout": 5},
            "max_reset_timeout must be >= reset_timeout (10), got 5",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(
    settings: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CircuitBreaker(**settings)  # type: ignore[arg-type]


def test_threshold_consecutive_failures_open_it_and_the_timeout_half_opens_it() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, scheduler=scheduler)
    log = watch(breaker, scheduler)
    scheduler.advance_to(5)
    fail(breaker, 2)
    assert state(breaker) == "closed"
    fail(breaker)
    assert state(breaker) == "open"
    assert breaker.acquire() is None
    scheduler.advance_to(14.999999)
    assert state(breaker) == "open"
    scheduler.advance_to(15)
    assert state(breaker) == "half_open"
    assert log == [(0, "closed"), (5, "open"), (15, "half_open")]


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3, scheduler=TestScheduler())
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert state(breaker) == "closed"
    fail(breaker)
    assert state(breaker) == "open"


def test_the_state_is_current_against_the_clock_before_the_timer_runs() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, scheduler=scheduler)
    fail(breaker)
    scheduler.sleep(10)  # the clock moves on; the half-open timer has not run
    assert state(breaker) == "half_open"


def test_half_open_lets_one_trial_at_a_time_and_closes_after_enough_successes() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(
        failure_threshold=1, reset_timeout=10, half_open_max_calls=2, scheduler=scheduler
    )
    log = watch(breaker, scheduler)
    fail(breaker)
    scheduler.advance_to(10)
    trial = breaker.acquire()
    assert trial is not None
    assert breaker.acquire() is None  # the trial is still out
    breaker.success(trial)
    assert state(breaker) == "half_open"
    scheduler.advance_to(12)
    succeed(breaker)
    assert state(breaker) == "closed"
    assert log == [(0, "closed"), (0, "open"), (10, "half_open"), (12, "closed")]


def test_a_released_trial_permit_frees_the_slot() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1, scheduler=scheduler)
    fail(breaker)
    scheduler.advance_to(1)
    trial = breaker.acquire()
    assert trial is not None
    assert breaker.acquire() is None
    breaker.release(trial)
    assert breaker.acquire() is not None


def test_the_timeout_grows_by_backoff_up_to_the_cap_and_closing_resets_it() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(
        failure_threshold=1,
        reset_timeout=10,
        backoff=2,
        max_reset_timeout=50,
        scheduler=scheduler,
    )
    log = watch(breaker, scheduler)
    fail(breaker)  # open at 0 for 10
    for time in (10, 30, 70, 120, 170):  # trials fail: open for 20, 40, 50 (cap), 50
        scheduler.advance_to(time)
        fail(breaker)
    scheduler.advance_to(220)
    succeed(breaker)  # closed: the timeout is back to 10
    fail(breaker)
    scheduler.advance_to(230)
    assert log == [
        (0, "closed"),
        (0, "open"),
        (10, "half_open"),
        (10, "open"),
        (30, "half_open"),
        (30, "open"),
        (70, "half_open"),
        (70, "open"),
        (120, "half_open"),
        (120, "open"),
        (170, "half_open"),
        (170, "open"),
        (220, "half_open"),
        (220, "closed"),
        (220, "open"),
        (230, "half_open"),
    ]


def test_the_outcome_of_a_call_that_outlived_its_state_is_ignored() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, scheduler=scheduler)
    slow = breaker.acquire()
    assert slow is not None
    fail(breaker, 2)  # open
    scheduler.advance_to(10)
    breaker.failure(slow, RuntimeError("late"))  # taken while closed: not a trial failure
    assert state(breaker) == "half_open"
    breaker.success(slow)
    assert state(breaker) == "half_open"


def test_last_failure_is_the_most_recent_counted_failure() -> None:
    breaker = CircuitBreaker(failure_threshold=2, scheduler=TestScheduler())
    assert breaker.last_failure is None
    first, second = ValueError("first"), ValueError("second")
    for error in (first, second):
        permit = breaker.acquire()
        assert permit is not None
        breaker.failure(permit, error)
    assert breaker.last_failure is second


def test_the_clock_is_its_own_scheduler_else_the_first_stream_s() -> None:
    own, first, second = TestScheduler(), TestScheduler(), TestScheduler()
    assert CircuitBreaker(scheduler=own).clock is own
    breaker = CircuitBreaker()
    breaker.attach(first, lambda: None)
    breaker.attach(second, lambda: None)
    assert breaker.clock is first


def test_states_stamps_the_current_state_at_subscription_and_stops_after_dispose() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, scheduler=scheduler)
    fail(breaker)
    scheduler.advance_to(4)
    log: Log = []
    subscription = breaker.states.subscribe(
        lambda stamp: log.append((scheduler.to_seconds(stamp[0]), stamp[1]))
    )
    scheduler.advance_to(10)
    subscription.dispose()
    succeed(breaker)
    assert log == [(4, "open"), (10, "half_open")]


def test_streams_are_woken_on_each_change_until_detached() -> None:
    scheduler = TestScheduler()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, scheduler=scheduler)
    woken: list[float] = []

    def wake() -> None:
        woken.append(scheduler.clock)

    breaker.attach(scheduler, wake)
    fail(breaker)
    scheduler.advance_to(10)
    breaker.detach(wake)
    fail(breaker)
    assert woken == [0, 10]


def test_states_subscribed_before_any_stream_leaves_the_clock_to_the_first_stream() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10)
    scheduler = TestScheduler()
    before = datetime.now(UTC)
    stamps: list[tuple[datetime, CircuitState]] = []
    breaker.states.subscribe(stamps.append)  # no clock known yet: stamped with real time
    log = watch(breaker, scheduler, subscribe_on=scheduler)  # stamped on that scheduler
    after = datetime.now(UTC)
    calls: list[tuple[float, str]] = []

    def action(item: str) -> str:
        calls.append((scheduler.clock, item))
        if len(calls) <= 3:
            raise RuntimeError("down")
        return item.upper()

    subscriber: TestSubscriber[str] = TestSubscriber(scheduler=scheduler)
    operator = circuit_break(action, breaker=breaker)
    bp.from_iterable("ab").pipe(operator).subscribe(subscriber, scheduler=scheduler)
    scheduler.advance_to(30)
    try:
        # Open at 0 (two failures), a failed trial at 10, a good one at 20.
        assert calls == [(0, "a"), (0, "a"), (10, "a"), (20, "a"), (20, "b")]
        assert subscriber.values == ["A", "B"]
        assert subscriber.completed
        virtual = [
            (0, "open"),
            (10, "half_open"),
            (10, "open"),
            (20, "half_open"),
            (20, "closed"),
        ]
        assert log == [(0, "closed"), *virtual]
        assert before <= stamps[0][0] <= after
        assert stamps[0][1] == "closed"
        assert [(scheduler.to_seconds(t), s) for t, s in stamps[1:]] == virtual
        assert breaker.clock is scheduler
    finally:
        breaker.dispose()  # a wrongly bound breaker holds a real-time timer
