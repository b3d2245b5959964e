"""rate_limit: evenly spaced, lossless, the same as token_bucket(1, per_second)."""

from __future__ import annotations

import threading
from itertools import pairwise
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import abc, typing
from reactivex.notification import OnCompleted, OnNext
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

import rx_backpressure as bp
from rx_backpressure import rate_limit, token_bucket
from rx_backpressure.core import Metrics
from rx_backpressure.testing import DemandEvent, TimedObservable, marbles, verify_flowable

on_next = ReactiveTest.on_next


def at(time: float, value: object) -> Recorded[Any]:
    """An on_next record at a virtual time that need not be a whole number."""
    return Recorded(cast(int, time), OnNext(value))


def test_a_pull_source_is_read_one_item_at_a_time_every_half_second() -> None:
    # 2 per second: the first item passes at once, each next one half a second later; the
    # source is asked for one item, read ahead to wait for its token.
    with marbles() as m:
        source = m.pull(range(5))
        result = m.start(source.pipe(rate_limit(2.0)))
        assert m.requests_of(source) == [DemandEvent(t, 1) for t in (200, 200, 200.5, 201, 201.5)]
    assert result == [
        on_next(200, 0),
        at(200.5, 1),
        on_next(201, 2),
        at(201.5, 3),
        on_next(202, 4),
        ReactiveTest.on_completed(202),
    ]


def test_after_a_pause_one_item_passes_at_once_and_the_next_waits_a_whole_period() -> None:
    # 1 per second, capacity 1: the pause refills one token only, never a burst.
    with marbles() as m:
        result = m.start(m.hot("a-------(b,c,d)").pipe(rate_limit(1.0)))
    assert result == [
        on_next(200, "a"),
        on_next(208, "b"),
        on_next(209, "c"),
        on_next(210, "d"),
    ]


def test_demand_still_bounds_what_passes() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-|")
        result = m.start(source.pipe(rate_limit(1.0)), demand="1-----2")
        assert result == m.exp("a-----b(c,|)")
        assert m.requests_of(source) == m.exp_requests("1-----(1,1)")


def test_it_is_token_bucket_with_capacity_one() -> None:
    diagram = "ab-(c,d,e)---f-g(h,i)"
    with marbles(timespan=0.25) as m:
        limited = m.start(m.hot(diagram).pipe(rate_limit(3.0)))
    with marbles(timespan=0.25) as m:
        bucket = m.start(m.hot(diagram).pipe(token_bucket(1, 3.0)))
    assert limited == bucket


def test_metrics_are_kept() -> None:
    metrics = Metrics()
    with marbles() as m:
        m.start(m.pull(range(4)).pipe(rate_limit(1.0, metrics=metrics)))
    assert metrics.get("received") == 4
    assert metrics.get("emitted") == 4
    assert metrics.get("requested") == 4  # one at a time
    assert metrics.get("depth") == 0


@settings(max_examples=100, deadline=None)
@given(
    arrivals=st.lists(st.integers(0, 3000), min_size=1, max_size=30).map(sorted),
    per_second=st.sampled_from([0.5, 1.0, 4.0, 10.0, 25.0]),
)
def test_consecutive_items_are_at_least_one_period_apart_and_none_is_lost(
    arrivals: list[int], per_second: float
) -> None:
    with marbles() as m:
        messages = [(200.001 + ms / 1000, OnNext(i)) for i, ms in enumerate(arrivals)]
        source = TimedObservable(
            m.scheduler, [*messages, (messages[-1][0], OnCompleted())], hot=True
        )
        source.schedule_hot()
        result = m.start(source.pipe(rate_limit(per_second)), disposed=100_000)
    times = [r.time for r in result if isinstance(r.value, OnNext)]
    assert [r.value.value for r in result if isinstance(r.value, OnNext)] == list(
        range(len(arrivals))
    )
    assert all(b - a >= 1 / per_second - 1e-6 for a, b in pairwise(times))
    assert isinstance(result[-1].value, OnCompleted)


def test_demand_rules_hold() -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(rate_limit(3.0)))


@pytest.mark.parametrize(
    ("per_second", "error"),
    [(0, ValueError), (-5, ValueError), (float("inf"), ValueError), ("10", TypeError)],
)
def test_a_bad_rate_is_refused_naming_per_second(per_second: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="per_second"):
        rate_limit(per_second)


class LateTimers(TestScheduler):
    """Virtual time whose timers each fire ``late`` seconds after they were due."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    def schedule_relative(
        self, duetime: typing.RelativeTime, action: typing.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        return super().schedule_relative(self.to_seconds(duetime) + self.late, action, state)


def test_late_timers_do_not_lower_the_rate_and_never_bunch_items() -> None:
    # 500/s is one item every 2 ms; every timer fires 0.3 ms late. Due times are absolute:
    # item k (k >= 1) is due at 2k ms and goes out 0.3 ms later; the lateness is not lost.
    scheduler = LateTimers(late=0.0003)
    times: list[float] = []
    bp.from_iterable(range(1000)).pipe(bp.rate_limit(500)).subscribe(
        lambda _: times.append(scheduler.clock), scheduler=scheduler
    )
    scheduler.advance_to(1.0)
    assert len(times) == 500  # each item a timer's lateness apart would give 434
    assert times[:3] == pytest.approx([0.0, 0.0023, 0.0043])
    assert times[-1] == pytest.approx(0.9983)
    assert min(b - a for a, b in pairwise(times)) >= 0.002 - 1e-9


def test_a_timer_later_than_half_an_interval_restarts_the_schedule() -> None:
    # 1.5 ms late at 2 ms spacing: making all of it up would put items 0.5 ms apart.
    scheduler = LateTimers(late=0.0015)
    times: list[float] = []
    bp.from_iterable(range(100)).pipe(bp.rate_limit(500)).subscribe(
        lambda _: times.append(scheduler.clock), scheduler=scheduler
    )
    scheduler.advance_to(0.1)
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 0.001 - 1e-9  # never closer than half the spacing


# -- reading ahead at high rates ---------------------------------------------------------


def test_at_high_rates_the_items_due_within_a_millisecond_are_read_ahead() -> None:
    # 10,000/s: one token now, and 10 more refill within READ_AHEAD (1 ms), so the source
    # is asked for 11 at once; once those are gone (the last at 1 ms, its token spent) for
    # the 10 that refill within the next ms. Each item still goes out 0.1 ms after the one
    # before (virtual time: the clock does not move by itself).
    assert bp.operators._token_bucket_drain.READ_AHEAD == 0.001
    scheduler = TestScheduler()
    source = bp.testing.RecordingFlowable(bp.from_iterable(range(30)), scheduler)
    times: list[float] = []
    source.pipe(rate_limit(10_000)).subscribe(
        lambda _: times.append(scheduler.clock), scheduler=scheduler
    )
    scheduler.advance_to(1.0)
    assert [(event.time, event.n) for event in source.requests] == [
        (0.0, 11),
        (pytest.approx(0.001), 10),
        (pytest.approx(0.002), 10),
    ]
    assert times == pytest.approx([k * 0.0001 for k in range(30)])


def test_below_a_thousand_a_second_nothing_more_is_read_ahead() -> None:
    # 500/s: one token now, one more within 1 ms is half a token: one item at a time.
    scheduler = TestScheduler()
    source = bp.testing.RecordingFlowable(bp.from_iterable(range(4)), scheduler)
    source.pipe(rate_limit(500)).subscribe(lambda _: None, scheduler=scheduler)
    scheduler.advance_to(1.0)
    assert [event.n for event in source.requests] == [1, 1, 1, 1]


def test_on_real_time_items_read_ahead_go_out_as_their_tokens_refill() -> None:
    # 1e9/s on the real clock, delivered to a consumer thread: every item arrives, in
    # order; a batch read ahead goes out as the clock, read again, pays for each item.
    done = threading.Event()
    got: list[int] = []
    flow = bp.from_iterable(range(20_000)).pipe(rate_limit(1e9))
    worker = threading.Thread(
        target=lambda: flow.subscribe(got.append, on_completed=done.set), daemon=True
    )
    worker.start()
    assert done.wait(timeout=30)
    worker.join(timeout=30)
    assert got == list(range(20_000))
