"""token_bucket: bursts up to capacity, refill_rate tokens per second, in three modes.

Every expected time below is worked out from the bucket model (starts full, refills
continuously, never above capacity), written down next to the assertion.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import abc
from reactivex.notification import OnCompleted, OnError, OnNext
from reactivex.scheduler.scheduler import Scheduler
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

import rx_backpressure as bp
from rx_backpressure import token_bucket
from rx_backpressure.core import BufferOverflowError, Metrics, RateLimitExceeded
from rx_backpressure.operators._token_bucket_drain import Bucket
from rx_backpressure.testing import DemandEvent, TimedObservable, marbles, verify_flowable

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed


def requests(*events: tuple[float, int]) -> list[DemandEvent]:
    return [DemandEvent(round(t, 6), n) for t, n in events]


def at(when: float, value: object) -> Recorded[Any]:
    """An on_next record at a virtual time that need not be a whole number."""
    return Recorded(cast(int, when), OnNext(value))


def third(x: int) -> float:
    return x % 3


# -- shape mode: the pinned examples ----------------------------------------------------


def test_five_items_together_at_210_leave_at_210_210_211_212_213() -> None:
    # capacity 2, 1 token/s, full at 210: a and b spend both tokens at 210; each next
    # item waits for one whole token: c at 211, d at 212, e at 213.
    with marbles() as m:
        source = m.hot("----------(a,b,c,d,e)")
        result = m.start(source.pipe(token_bucket(2, 1.0)))
    assert result == [
        on_next(210, "a"),
        on_next(210, "b"),
        on_next(211, "c"),
        on_next(212, "d"),
        on_next(213, "e"),
    ]


def test_costs_1_2_1_together_at_0_leave_at_0_1_2() -> None:
    # capacity 2, 1 token/s, items at t=0 (virtual 200): cost 1 leaves 1 token; cost 2
    # waits one second for the second token (201); the last cost 1 waits one more (202).
    with marbles() as m:
        source = m.hot("(a,b,c)", {"a": 1, "b": 2, "c": 1})
        result = m.start(source.pipe(token_bucket(2, 1.0, cost=lambda x: x)))
    assert result == [on_next(200, 1), on_next(201, 2), on_next(202, 1)]


def test_pull_source_is_asked_for_the_burst_then_one_item_ahead() -> None:
    # capacity 2, one token per 5 s: a and b pay from the full bucket at 200; upstream is
    # then asked for one item at a time, read ahead to wait for its token (205, 210, 215).
    with marbles() as m:
        source = m.pull("a-b-c-d-e-|")
        result = m.start(source.pipe(token_bucket(2, 0.2)))
        assert result == m.exp("(a,b)c----d----(e,|)")
        assert m.requests_of(source) == m.exp_requests("(2,1)1----1")


def test_a_generator_is_read_at_most_one_item_ahead_of_the_output() -> None:
    with marbles() as m:
        read_at: list[float] = []

        def numbers() -> Iterator[int]:
            for i in range(5):
                read_at.append(m.scheduler.clock)
                yield i

        result = m.start(lambda: bp.from_iterable(numbers()).pipe(token_bucket(2, 0.2)))
    # 0 and 1 are the burst; 2 is read at 200 to wait for the token of 205; 3 is read
    # when 2 leaves, 4 when 3 leaves; the generator ends when 4 leaves (215).
    assert read_at == [200, 200, 200, 205, 210]
    assert result == [
        on_next(200, 0),
        on_next(200, 1),
        on_next(205, 2),
        on_next(210, 3),
        on_next(215, 4),
        on_completed(215),
    ]


def test_downstream_demand_bounds_what_is_read_and_tokens_refill_meanwhile() -> None:
    # capacity 2, 1 token/s. 200: demand 1, a passes (1 token left). 206: demand 1, the
    # bucket is full again (capped at 2), b passes. 212: demand 3, full again: c and d
    # pass at once, e is read ahead and waits for its token until 213.
    with marbles() as m:
        source = m.pull("a-b-c-d-e-|")
        result = m.start(source.pipe(token_bucket(2, 1.0)), demand="1-----1-----3")
        assert result == [
            on_next(200, "a"),
            on_next(206, "b"),
            on_next(212, "c"),
            on_next(212, "d"),
            on_next(213, "e"),
            on_completed(213),
        ]
        assert m.requests_of(source) == requests((200, 1), (206, 1), (212, 2), (212, 1))


def test_tokens_never_refill_above_capacity_while_demand_is_missing() -> None:
    # capacity 2, 1 token/s; a spends one token at 200. Seven seconds without demand
    # refill the bucket to 2, not 8: at 207 b and c pass, then d at 208 and e at 209.
    with marbles() as m:
        source = m.hot("(a,b,c,d,e)")
        result = m.start(source.pipe(token_bucket(2, 1.0)), demand="1------*")
    assert result == [
        on_next(200, "a"),
        on_next(207, "b"),
        on_next(207, "c"),
        on_next(208, "d"),
        on_next(209, "e"),
    ]


def test_a_heavy_item_waits_for_the_tokens_it_needs_with_refill_during_the_wait() -> None:
    # capacity 4, 2 tokens/s. a (cost 3) leaves 1 token at 200; b (cost 4) needs 3 more:
    # 1.5 s, so 201.5; c (cost 1) needs half a second: 202.
    with marbles() as m:
        source = m.hot("(a,b,c)", {"a": 3, "b": 4, "c": 1})
        result = m.start(source.pipe(token_bucket(4, 2.0, cost=lambda x: x)))
    assert result == [on_next(200, 3), at(201.5, 4), on_next(202, 1)]


def test_a_wait_that_is_not_a_whole_microsecond_is_rounded_up() -> None:
    # capacity 1, 3 tokens/s: a token takes 1/3 s; the timer is set for 333334 us.
    with marbles() as m:
        source = m.hot("(a,b)")
        result = m.start(source.pipe(token_bucket(1, 3.0)))
    assert result == [on_next(200, "a"), at(200.333334, "b")]


# -- shape mode: terminal signals and cancel --------------------------------------------


def test_completion_waits_for_the_items_still_waiting_for_tokens() -> None:
    with marbles() as m:
        source = m.hot("(a,b,c,|)")
        result = m.start(source.pipe(token_bucket(2, 1.0)))
    assert result == [on_next(200, "a"), on_next(200, "b"), on_next(201, "c"), on_completed(201)]


def test_an_upstream_error_is_delivered_after_the_waiting_items() -> None:
    failure = RuntimeError("boom")
    with marbles() as m:
        source = m.hot("(a,b,c,#)", error=failure)
        result = m.start(source.pipe(token_bucket(1, 1.0)))
    assert result == [
        on_next(200, "a"),
        on_next(201, "b"),
        on_next(202, "c"),
        Recorded(202, OnError(failure)),
    ]


class _TimerScheduler(TestScheduler):
    """A TestScheduler that keeps the handle of every relative timer set on it."""

    def __init__(self) -> None:
        super().__init__()
        self.timers: list[abc.DisposableBase] = []

    def schedule_relative(
        self, duetime: Any, action: abc.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        handle = super().schedule_relative(duetime, action, state)
        self.timers.append(handle)
        return handle


def test_cancel_while_an_item_waits_disposes_the_timer_and_nothing_follows() -> None:
    # capacity 1, one token per 2 s: a at 200, b at 202, c would leave at 204; the
    # subscriber cancels at 203.
    with marbles() as m:
        m.scheduler = timers = _TimerScheduler()
        source = m.hot("(a,b,c)")
        result = m.start(source.pipe(token_bucket(1, 0.5)), demand="*--!")
        assert m.subscriptions_of(source) == m.exp_subscriptions("^--!")
    assert result == [on_next(200, "a"), on_next(202, "b")]
    assert timers.timers
    assert getattr(timers.timers[-1], "is_disposed", False)


def test_too_many_waiting_items_from_a_push_source_overflow_after_the_accepted_ones() -> None:
    # max_pending 2: a passes at once, b and c wait, d finds no room at 200.
    with marbles() as m:
        source = m.hot("(a,b,c,d)")
        m.start(source.pipe(token_bucket(1, 1.0, max_pending=2)))
        assert m.subscriptions_of(source) == m.exp_subscriptions("(^,!)")
    subscriber = m.subscriber
    assert subscriber is not None
    assert subscriber.messages[:3] == [on_next(200, "a"), on_next(201, "b"), on_next(202, "c")]
    assert subscriber.messages[3].time == 202
    assert isinstance(subscriber.errors[0], BufferOverflowError)
    assert "max_pending=2" in str(subscriber.errors[0])


# -- cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["shape", "drop", "error"])
@pytest.mark.parametrize(
    ("price", "error", "words"),
    [
        (5, ValueError, ["cost 5", "capacity 2"]),
        (-1, ValueError, ["cost", ">= 0", "-1"]),
        (float("nan"), ValueError, ["cost", "nan"]),
        ("1", TypeError, ["cost", "'1'", "str"]),
        (True, TypeError, ["cost", "True", "bool"]),
    ],
)
def test_a_bad_cost_fails_the_stream_on_arrival(
    mode: Any, price: object, error: type[Exception], words: list[str]
) -> None:
    with marbles() as m:
        source = m.hot("a-b")
        prices: dict[str, Any] = {"a": 1, "b": price}

        def cost(x: str) -> float:
            return prices[x]  # type: ignore[no-any-return]

        m.start(source.pipe(token_bucket(2, 1.0, mode=mode, cost=cost)))
        assert m.subscriptions_of(source) == m.exp_subscriptions("^-!")
    subscriber = m.subscriber
    assert subscriber is not None
    assert subscriber.messages[0] == on_next(200, "a")
    assert subscriber.messages[1].time == 202
    assert [type(e) for e in subscriber.errors] == [error]
    for word in words:
        assert word in str(subscriber.errors[0])


def test_an_exception_raised_by_cost_reaches_on_error() -> None:
    failure = KeyError("no price")

    def cost(_: str) -> float:
        raise failure

    with marbles() as m:
        result = m.start(m.hot("-a").pipe(token_bucket(2, 1.0, cost=cost)))
    assert result == [Recorded(201, OnError(failure))]


def test_items_accepted_before_a_bad_cost_are_delivered_first() -> None:
    # capacity 2, 1 token/s: a (1) passes at 200, b (2) waits until 201; c costs 5 > 2 and
    # cuts upstream at 200, but b was accepted, so the error follows it at 201.
    with marbles() as m:
        source = m.hot("(a,b,c)", {"a": 1, "b": 2, "c": 5})
        m.start(source.pipe(token_bucket(2, 1.0, cost=lambda x: x)))
        assert m.subscriptions_of(source) == m.exp_subscriptions("(^,!)")
    subscriber = m.subscriber
    assert subscriber is not None
    assert subscriber.messages[:2] == [on_next(200, 1), on_next(201, 2)]
    assert subscriber.messages[2].time == 201
    assert "cost 5" in str(subscriber.errors[0])


def test_a_zero_cost_item_passes_an_empty_bucket() -> None:
    with marbles() as m:
        source = m.hot("(a,b,c)", {"a": 1, "b": 0, "c": 1})
        result = m.start(source.pipe(token_bucket(1, 1.0, cost=lambda x: x)))
    assert result == [on_next(200, 1), on_next(200, 0), on_next(201, 1)]


def test_a_custom_cost_reads_a_pull_source_one_item_at_a_time() -> None:
    # The price of an item is known only once it is read: capacity 2, 1 token/s, costs
    # 1, 2, 1 leave at 200, 201, 202, and each is asked for when the one before has left.
    with marbles() as m:
        source = m.pull("a-b-c-|", {"a": 1, "b": 2, "c": 1})
        result = m.start(source.pipe(token_bucket(2, 1.0, cost=lambda x: x)))
        assert result == [on_next(200, 1), on_next(201, 2), on_next(202, 1), on_completed(202)]
        assert m.requests_of(source) == requests((200, 1), (200, 1), (201, 1))


# -- drop mode --------------------------------------------------------------------------


def test_drop_mode_drops_what_finds_too_few_tokens_and_never_delays() -> None:
    # One frame is half a second. capacity 2, 0.5 token/s. a@200: 2 -> 1. b@201: 1.5 ->
    # 0.5. c@202: 1 -> 0. d@203: 0.5, dropped. e@204: 1 -> 0. f@205: 0.5, dropped.
    # g@209: 2.5 capped at 2 -> 1.
    dropped: list[str] = []
    metrics = Metrics()
    with marbles(timespan=0.5) as m:
        source = m.hot("a-b-c-d-e-f-------g")
        result = m.start(
            source.pipe(token_bucket(2, 0.5, mode="drop", on_drop=dropped.append, metrics=metrics))
        )
        assert result == m.exp("a-b-c---e---------g")
    assert dropped == ["d", "f"]
    assert metrics.get("received") == 7
    assert metrics.get("dropped") == 2
    assert metrics.get("emitted") == 5
    assert metrics.get("depth") == 0


def test_drop_mode_items_that_paid_wait_for_demand() -> None:
    # One frame is half a second. capacity 2, 1 token/s. a@200 -> 1 token, delivered.
    # b@201: 2 -> 1 and c@202: 2 -> 1 paid their tokens but have no demand: they wait
    # for the demand of 205.
    with marbles(timespan=0.5) as m:
        result = m.start(
            m.hot("a-b-c").pipe(token_bucket(2, 1.0, mode="drop")), demand="1---------2"
        )
        assert result == m.exp("a---------(b,c)")


def test_drop_mode_sheds_paid_items_beyond_max_pending_without_charging_them() -> None:
    # One frame is half a second; capacity 3, 0.5 token/s, max_pending 1, d costs 2.
    # a@200: 3 -> 2, delivered. b@201: 2.5 -> 1.5, waits for demand. c@201.5 finds no
    # room and is dropped without paying (1.75 stay). Demand lets b out at 202.
    # d@203: 1.5 + 0.75 = 2.25 -> passes; had c paid, only 1.25 would be there.
    dropped: list[str] = []
    with marbles(timespan=0.5) as m:
        source = m.hot("a-b(c)d")
        result = m.start(
            source.pipe(
                token_bucket(
                    3,
                    0.5,
                    mode="drop",
                    max_pending=1,
                    on_drop=dropped.append,
                    cost=lambda x: 2 if x == "d" else 1,
                )
            ),
            demand="1---*",
        )
    assert dropped == ["c"]
    assert result == [on_next(200, "a"), on_next(202, "b"), on_next(203, "d")]


def test_drop_mode_requests_downstream_demand_plus_one_per_dropped_item() -> None:
    # capacity 2, 1 token/s. 200: demand 2, a and b pass (bucket empty). 206: demand 3,
    # bucket full: c and d pass, e, f and g find it empty: each is dropped and asked again.
    dropped: list[str] = []
    with marbles() as m:
        source = m.pull("a-b-c-d-e-f-g-|")
        result = m.start(
            source.pipe(token_bucket(2, 1.0, mode="drop", on_drop=dropped.append)),
            demand="2-----3",
        )
        assert result == m.exp("(a,b)-(c,d,|)")
        assert m.requests_of(source) == requests((200, 2), (206, 3), (206, 1), (206, 1), (206, 1))
    assert dropped == ["e", "f", "g"]


def test_an_on_drop_that_raises_fails_the_stream() -> None:
    failure = RuntimeError("on_drop failed")

    def on_drop(_: str) -> None:
        raise failure

    with marbles() as m:
        source = m.hot("(a,b)")
        result = m.start(source.pipe(token_bucket(1, 1.0, mode="drop", on_drop=on_drop)))
    assert result == [on_next(200, "a"), Recorded(200, OnError(failure))]


# -- error mode -------------------------------------------------------------------------


def test_error_mode_fails_when_an_item_finds_too_few_tokens() -> None:
    with marbles() as m:
        source = m.hot("(a,b,c)")
        m.start(source.pipe(token_bucket(2, 1.0, mode="error")))
        assert m.subscriptions_of(source) == m.exp_subscriptions("(^,!)")
    subscriber = m.subscriber
    assert subscriber is not None
    assert subscriber.messages[:2] == [on_next(200, "a"), on_next(200, "b")]
    error = subscriber.errors[0]
    assert isinstance(error, RateLimitExceeded)
    assert isinstance(error, bp.BackpressureError)
    assert "capacity 2" in str(error)


def test_error_mode_delivers_the_items_waiting_for_demand_before_the_error() -> None:
    # One frame is half a second; capacity 2, 0.1 token/s. a@200 -> 1, delivered.
    # b@201: 1.1 -> 0.1, waits for demand. c@203: 0.3 tokens: the stream fails, after b,
    # which the demand of 205 lets out.
    with marbles(timespan=0.5) as m:
        source = m.hot("a-b---c")
        result = m.start(source.pipe(token_bucket(2, 0.1, mode="error")), demand="1---------1")
    assert result[:2] == [on_next(200, "a"), on_next(205, "b")]
    assert result[2].time == 205
    assert isinstance(result[2].value, OnError)


def test_error_mode_requests_as_downstream_demand_allows() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-|")
        m.start(source.pipe(token_bucket(5, 1.0, mode="error")), demand="1--2")
        assert m.requests_of(source) == m.exp_requests("1--2")
        assert m.subscriber is not None
        assert m.subscriber.messages == m.exp("a--(b,c,|)")


# -- composition ------------------------------------------------------------------------


def shaped(arrivals: list[float], capacity: float, rate: float) -> list[float]:
    """The bucket model: when each unit-cost item leaves a shaping bucket, in order."""
    tokens, stamp, last, out = capacity, arrivals[0], arrivals[0], []
    for arrival in arrivals:
        t = max(arrival, last)
        level = min(capacity, tokens + (t - stamp) * rate)
        if level < 1:
            t += (1 - level) / rate
            level = 1
        tokens, stamp, last = level - 1, t, t
        out.append(t)
    return out


def test_two_buckets_in_series_compose_through_demand_with_no_queue_between() -> None:
    # 5/s (burst 5) then 1000/h (burst 1000). The first bucket paces the first 1058 items
    # (k at 200 + (k - 4) / 5); then the hourly bucket runs dry: item 1058 leaves at 412.4
    # and the rest every 3.6 s.
    n = 1065
    first, second = Metrics(), Metrics()
    with marbles() as m:
        source = m.pull(range(n))
        between = m.spy(source.pipe(token_bucket(5, 5.0, metrics=first)))
        result = m.start(between.pipe(token_bucket(1000, 1000 / 3600, metrics=second)))
        times = [r.time for r in result if isinstance(r.value, OnNext)]
        # The hourly bucket asks for all its tokens, then, each time its requests are
        # used up, for what has refilled: 55.3 tokens at 399, 3.3 at 410, 0.5 at 410.6
        # (one item, read ahead), then one at each of its own emissions.
        assert m.requests_of(between)[:5] == requests(
            (200, 1000), (399, 55), (410, 3), (410.6, 1), (412.4, 1)
        )
        assert m.requests_of(source)[:4] == requests((200, 5), (200, 1), (200.2, 1), (200.4, 1))
    assert times == [round(t, 6) for t in shaped(shaped([200.0] * n, 5, 5.0), 1000, 1000 / 3600)]
    assert times[1057:1060] == [410.6, 412.4, 416]
    assert isinstance(result[-1].value, OnCompleted)
    assert first.get("peak_depth") <= 1
    assert second.get("peak_depth") <= 1


# -- rules, options, real time ----------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: token_bucket(2, 1.0),
        lambda: token_bucket(100, 1.0, mode="drop"),
        lambda: token_bucket(100, 1.0, mode="error"),
        lambda: token_bucket(3, 2.0, cost=third),
    ],
    ids=["shape", "drop", "error", "cost"],
)
def test_demand_rules_hold(make: Callable[[], Any]) -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(make()))


def test_the_operator_scheduler_is_the_clock_when_given() -> None:
    clock = TestScheduler()
    seen: list[tuple[float, int]] = []
    bp.from_iterable(range(3)).pipe(token_bucket(1, 1.0, scheduler=clock)).subscribe(
        lambda x: seen.append((clock.clock, x))
    )
    clock.start()
    assert seen == [(0, 0), (1, 1), (2, 2)]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"capacity": 0}, ValueError, ["capacity", "0"]),
        ({"capacity": -2}, ValueError, ["capacity", "-2"]),
        ({"capacity": float("inf")}, ValueError, ["capacity", "inf"]),
        ({"capacity": "2"}, TypeError, ["capacity", "'2'"]),
        ({"refill_rate": 0}, ValueError, ["refill_rate", "0"]),
        ({"refill_rate": float("nan")}, ValueError, ["refill_rate", "nan"]),
        ({"refill_rate": True}, TypeError, ["refill_rate", "True"]),
        ({"max_pending": 0}, ValueError, ["max_pending", "0"]),
        ({"max_pending": 2.5}, TypeError, ["max_pending", "2.5"]),
        ({"mode": "fast"}, ValueError, ["mode", "'fast'", "'shape'", "'drop'", "'error'"]),
        ({"cost": 3}, TypeError, ["cost", "3"]),
        ({"on_drop": print}, ValueError, ["on_drop", "'shape'"]),
    ],
)
def test_bad_options_fail_at_construction_naming_the_parameter(
    kwargs: dict[str, Any], error: type[Exception], words: list[str]
) -> None:
    options: dict[str, Any] = {"capacity": 2, "refill_rate": 1.0, **kwargs}
    with pytest.raises(error) as raised:
        token_bucket(**options)
    for word in words:
        assert word in str(raised.value)


def test_real_time_100_items_at_10_burst_50_per_second_take_about_1_8_s() -> None:
    # The bucket pays the first 10 at once; the other 90 need 90 / 50 = 1.8 s.
    stamps: list[float] = []
    done = threading.Event()
    start = time.monotonic()
    bp.from_iterable(range(100)).pipe(token_bucket(10, 50)).subscribe(
        lambda _: stamps.append(time.monotonic() - start), on_completed=done.set
    )
    assert done.wait(5)
    assert len(stamps) == 100
    assert stamps[9] < 0.1
    assert 1.62 <= stamps[-1] <= 1.98


# -- properties -------------------------------------------------------------------------


def within_envelope(emitted: list[tuple[float, float]], capacity: float, rate: float) -> bool:
    """For every window [t0, t1] of the output: cost <= capacity + rate * (t1 - t0)."""
    for i, (t0, _) in enumerate(emitted):
        total = 0.0
        for t1, cost in emitted[i:]:
            total += cost
            if total > capacity + rate * (t1 - t0) + 1e-6:
                return False
    return True


schedules = st.lists(
    st.tuples(st.integers(0, 4000), st.integers(0, 8)), min_size=1, max_size=25
).map(sorted)


@settings(max_examples=150, deadline=None)
@given(
    arrivals=schedules,
    capacity=st.integers(2, 16).map(lambda x: x / 2),
    rate=st.sampled_from([0.25, 0.5, 1.0, 3.0, 7.5, 40.0]),
    mode=st.sampled_from(["shape", "drop"]),
)
def test_output_stays_in_the_bucket_envelope_and_shape_loses_nothing(
    arrivals: list[tuple[int, int]], capacity: float, rate: float, mode: Any
) -> None:
    # Arrival times in milliseconds after 200.001; costs in quarters of a token, capped at
    # capacity so every item can pass.
    prices = [min(quarters / 4, capacity) for _, quarters in arrivals]
    with marbles() as m:
        messages = [(200.001 + ms / 1000, OnNext(index)) for index, (ms, _) in enumerate(arrivals)]
        end = messages[-1][0]
        source = TimedObservable(m.scheduler, [*messages, (end, OnCompleted())], hot=True)
        source.schedule_hot()
        result = m.start(
            source.pipe(token_bucket(capacity, rate, mode=mode, cost=prices.__getitem__)),
            disposed=100_000,
        )
    values = [r.value.value for r in result if isinstance(r.value, OnNext)]
    emitted: list[tuple[float, float]] = [
        (r.time, prices[r.value.value]) for r in result if isinstance(r.value, OnNext)
    ]
    assert values == sorted(values)
    assert within_envelope(emitted, capacity, rate)
    assert isinstance(result[-1].value, OnCompleted)
    if mode == "shape":
        assert values == list(range(len(arrivals)))


@settings(max_examples=100, deadline=None)
@given(
    quarters=st.lists(st.integers(0, 8), min_size=1, max_size=25),
    capacity=st.integers(2, 16).map(lambda x: x / 2),
    rate=st.sampled_from([0.25, 1.0, 3.0, 40.0]),
    priced=st.booleans(),
    demand=st.sampled_from(["*", "3", "1-2---5-*", "2-------------------*"]),
)
def test_over_a_pull_source_shape_stays_in_the_envelope_and_loses_nothing(
    quarters: list[int], capacity: float, rate: float, priced: bool, demand: str
) -> None:
    # With priced=False every item costs 1 and upstream is asked for what the tokens pay
    # for; with a cost function it is asked for one item at a time.
    prices = [min(q / 4, capacity) if priced else 1.0 for q in quarters]
    cost = prices.__getitem__ if priced else None
    with marbles() as m:
        source = m.pull(range(len(prices)))
        result = m.start(source.pipe(token_bucket(capacity, rate, cost=cost)), demand=demand)
        demanded = m.subscriber.requested if m.subscriber is not None else 0
    emitted: list[tuple[float, float]] = [
        (r.time, prices[r.value.value]) for r in result if isinstance(r.value, OnNext)
    ]
    assert within_envelope(emitted, capacity, rate)
    expected = min(len(prices), demanded)
    assert [r.value.value for r in result if isinstance(r.value, OnNext)] == list(range(expected))


class Ticking(Scheduler):
    """A clock that moves ``step`` seconds at every reading, and runs a timer at once after
    moving to its due time: time passes inside a synchronous answer, as it does in real
    time, but the same way at every run."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.seconds = 1_000_000.0
        self.step = step

    @property
    def now(self) -> datetime:
        self.seconds += self.step
        return datetime.fromtimestamp(self.seconds, UTC)

    def schedule(self, action: Any, state: Any = None) -> abc.DisposableBase:
        return self.invoke_action(action, state)

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
        self.seconds += self.to_seconds(duetime)
        return self.invoke_action(action, state)

    def schedule_absolute(self, duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
        self.seconds = max(self.seconds, self.to_seconds(duetime))
        return self.invoke_action(action, state)


@pytest.mark.parametrize("mode", ["shape", "drop"])
@pytest.mark.parametrize("step", [0.001, 0.03, 0.4])
@pytest.mark.parametrize("pull", [True, False], ids=["pull", "push"])
def test_time_that_passes_inside_a_synchronous_answer_never_breaks_the_envelope(
    mode: Any, step: float, pull: bool
) -> None:
    # A synchronous answer goes through without a clock reading per item, and the bucket
    # is charged for it afterwards. With a clock that moves at every reading (the
    # subscriber reads it too, at each emission) the output must still fit the envelope.
    clock = Ticking(step)
    capacity, rate = 4.0, 10.0
    emitted: list[tuple[float, float]] = []

    def produced() -> Iterator[int]:
        for item in range(60):
            clock.now  # producing an item takes time too  # noqa: B018
            yield item

    upstream = bp.from_iterable(produced()) if pull else reactivex.from_iterable(produced())
    upstream.pipe(token_bucket(capacity, rate, mode=mode, scheduler=clock)).subscribe(
        lambda _: emitted.append((clock.now.timestamp(), 1.0))
    )
    assert within_envelope(emitted, capacity, rate)
    if mode == "shape":
        assert len(emitted) == 60
    elif step < capacity / rate / 4:  # too little refill between readings: some are shed
        assert 4 <= len(emitted) < 60


# -- the bucket's arithmetic ------------------------------------------------------------


def test_a_charge_at_an_earlier_reading_finds_no_more_tokens() -> None:
    # Two threads' readings, or a timer's due time, can reach the bucket out of order.
    # capacity 2, 1 token/s, full: a token at 10 leaves 1 at 10 (0 at 9); one at 9 must
    # wait a second; the other token is there at 10, and then none until 11.
    bucket = Bucket(2.0, 1.0)
    assert bucket.acquire(10.0, 1.0) == 0.0
    assert bucket.acquire(9.0, 1.0) == 1.0
    assert (bucket.level(9.0), bucket.level(10.0)) == (0.0, 1.0)
    assert bucket.acquire(10.0, 1.0) == 0.0
    assert bucket.acquire(10.0, 1.0) == 1.0
    assert (bucket.level(10.5), bucket.level(11.0), bucket.level(20.0)) == (0.5, 1.0, 2.0)
    assert (bucket.take_up_to(10.5, 3), bucket.take_up_to(20.0, 3)) == (0, 2)


@pytest.mark.parametrize(("capacity", "rate"), [(1.0, 10.0), (3.0, 2.0), (2.5, 7.0), (0.5, 1.0)])
def test_a_taker_pays_exactly_when_acquire_would(capacity: float, rate: float) -> None:
    # The taker is acquire(reading, 1.0) in one call: two buckets, the same readings (some
    # repeated, some stepped back), the same answers; a capacity below one token never
    # pays.
    readings = [0.0, 0.0, 0.05, 0.1, 0.1, 0.09, 0.4, 0.4, 0.4, 0.41, 3.0, 2.0, 3.0, 3.1]
    clock = iter(readings)
    by_taker, by_acquire = Bucket(capacity, rate), Bucket(capacity, rate)
    take = by_taker.taker(lambda: next(clock))
    taken = [take() for _ in readings]
    assert taken == [by_acquire.acquire(now, 1.0) == 0.0 for now in readings]
    assert any(taken) is (capacity >= 1.0)


@pytest.mark.parametrize(("rate", "wait"), [(10.0, 0.1), (3.0, 0.333334), (1000.0, 0.001)])
def test_a_long_shaped_run_waits_the_same_for_every_item(rate: float, wait: float) -> None:
    # 100,000 items, each sent as soon as its token is there, on a clock moved by exactly
    # the waits the bucket gives: the rounding of float sums must not creep into them.
    bucket = Bucket(1.0, rate)
    now, waits = 0.0, set()
    for _ in range(100_000):
        pause = bucket.acquire(now, 1.0)
        if pause:
            waits.add(pause)
            now += pause
            assert bucket.acquire(now, 1.0) == 0.0
    assert waits == {wait}
