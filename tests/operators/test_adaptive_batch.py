"""adaptive_batch: lists sized by the consumer's measured processing time."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import BatchSizeWarning, adaptive_batch, bounded_buffer, default_size_rule
from rx_backpressure.core import BufferOverflowError, Metrics, Subscription, seconds
from rx_backpressure.testing import (
    DemandEvent,
    MarbleContext,
    TestSubscriber,
    marbles,
    verify_flowable,
)

A_TO_H = {c: c for c in "abcdefgh"}


class Consumer:
    """A subscriber that needs ``cost(self)`` seconds per item of each batch.

    ``mode`` says how it signals that it is done with a batch:
    ``"after"``: it requests the next batch ``cost * len(batch)`` seconds after receiving one;
    ``"inside"``: it requests the next batch first thing in on_next, then works (the clock
    advances inside on_next);
    ``"ahead"``: it asked for ``ahead`` batches up front, works inside on_next, and then
    requests one more, so it always holds demand while it works.
    """

    def __init__(
        self,
        scheduler: TestScheduler,
        cost: Callable[[Consumer], float],
        *,
        mode: str = "after",
        ahead: int = 3,
    ) -> None:
        self.scheduler = scheduler
        self.cost = cost
        self.mode = mode
        self.ahead = ahead
        self.subscription: Subscription | None = None
        self.sizes: list[int] = []
        self.took: list[float] = []
        self.items: list[Any] = []
        self.completed = False
        self.errors: list[Exception] = []

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        subscription.request(self.ahead if self.mode == "ahead" else 1)

    def on_next(self, batch: list[Any]) -> None:
        assert self.subscription is not None
        work = round(self.cost(self) * len(batch), 6)
        self.sizes.append(len(batch))
        self.took.append(work)
        self.items.extend(batch)
        subscription = self.subscription
        if self.mode == "after":
            self.scheduler.schedule_relative(work, lambda *_: subscription.request(1))
        elif self.mode == "inside":
            subscription.request(1)
            self.scheduler.sleep(work)
        else:
            self.scheduler.sleep(work)
            subscription.request(1)

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def on_completed(self) -> None:
        self.completed = True


def subscriber_of(m: MarbleContext) -> TestSubscriber[Any]:
    assert m.subscriber is not None
    return m.subscriber


def first_error(m: MarbleContext) -> Exception:
    return subscriber_of(m).errors[0]


def per_item(cost: float) -> Callable[[Consumer], float]:
    return lambda _: cost


UP_FROM_10 = [10, 12, 14, 16, 19, 22, 26, 31, 37, 44, 52]
DOWN_FROM_1000 = [1000, 800, 640, 512, 409, 327, 261, 208, 166, 132]


def run_consumer(
    initial_size: int, cost: Callable[[Consumer], float], mode: str = "after", n: int = 20_000
) -> tuple[Consumer, list[DemandEvent]]:
    with marbles() as m:
        source = m.pull(range(n))
        consumer = Consumer(m.scheduler, cost, mode=mode)
        source.pipe(adaptive_batch(initial_size=initial_size)).subscribe(
            consumer, scheduler=m.scheduler
        )
        m.run()
        return consumer, m.requests_of(source)


# -- the size rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "expected"), [(10, UP_FROM_10), (1000, DOWN_FROM_1000)], ids=["up", "down"]
)
def test_sizes_converge_to_the_target_time_exactly(initial: int, expected: list[int]) -> None:
    consumer, requests = run_consumer(initial, per_item(0.01))
    settled = expected[-1]
    steady = consumer.sizes[len(expected) : -1]
    assert consumer.sizes[: len(expected)] == expected
    assert steady
    assert set(steady) == {settled}
    assert 0 < consumer.sizes[-1] <= settled  # the remainder, flushed on completion
    assert consumer.items == list(range(20_000))
    assert consumer.completed
    assert not consumer.errors
    # Each batch's items are requested when that batch is asked for, at the adapted size.
    times = [0.0]
    for size in expected[:-1]:
        times.append(round(times[-1] + 0.01 * size, 6))
    assert requests[: len(expected)] == [
        DemandEvent(t, size) for t, size in zip(times, expected, strict=True)
    ]


def test_a_slower_consumer_brings_the_size_back_into_the_band() -> None:
    def cost(consumer: Consumer) -> float:
        return 0.01 if len(consumer.items) < 5_000 else 0.05

    consumer, _ = run_consumer(10, cost)
    slow_from = next(i for i, took in enumerate(consumer.took) if took > 1.5)
    assert consumer.sizes[slow_from : slow_from + 5] == [52, 41, 32, 25, 25]
    assert set(consumer.sizes[slow_from + 3 : -1]) == {25}
    assert all(0.5 <= took <= 1.5 for took in consumer.took[slow_from + 3 : -1])
    assert consumer.items == list(range(20_000))
    assert consumer.completed


@pytest.mark.parametrize("mode", ["inside", "ahead"])
def test_time_is_measured_until_on_next_returns_when_demand_is_already_there(mode: str) -> None:
    consumer, _ = run_consumer(1000, per_item(0.01), mode=mode)
    assert consumer.sizes[: len(DOWN_FROM_1000)] == DOWN_FROM_1000
    assert consumer.items == list(range(20_000))


def test_a_plain_observer_is_timed_around_on_next() -> None:
    sizes: list[int] = []
    with marbles() as m:

        def work(batch: list[int]) -> None:
            sizes.append(len(batch))
            m.scheduler.sleep(round(0.01 * len(batch), 6))

        bp.from_iterable(range(5_000)).pipe(adaptive_batch(initial_size=10)).subscribe(
            work, scheduler=m.scheduler
        )
    assert sizes[: len(UP_FROM_10) + 2] == [*UP_FROM_10, 52, 52]
    assert sum(sizes) == 5_000


def test_default_rule_steps() -> None:
    assert default_size_rule(100, 1.51, 1.0) == 80
    assert default_size_rule(100, 1.5, 1.0) == 100
    assert default_size_rule(100, 0.5, 1.0) == 100
    assert default_size_rule(100, 0.49, 1.0) == 120
    assert default_size_rule(3, 0.0, 1.0) == 4  # grows by at least one


def test_a_custom_rule_is_clamped_to_the_bounds() -> None:
    seen: list[tuple[int, float, float]] = []

    def double(size: int, took: float, target: float) -> int:
        seen.append((size, took, target))
        return size * 2

    with marbles() as m:
        source = m.pull(range(100))
        consumer = Consumer(m.scheduler, per_item(0.1))
        op = adaptive_batch(initial_size=3, min_size=2, max_size=20, target_time=2.0, rule=double)
        source.pipe(op).subscribe(consumer, scheduler=m.scheduler)
        m.run()
    assert consumer.sizes[:5] == [3, 6, 12, 20, 20]
    assert seen[:3] == [(3, 0.3, 2.0), (6, 0.6, 2.0), (12, 1.2, 2.0)]


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (lambda size, took, target: 1 // 0, ZeroDivisionError),
        (lambda size, took, target: 2.5, TypeError),
    ],
    ids=["raises", "not-an-int"],
)
def test_a_failing_rule_reaches_on_error(
    rule: Callable[[int, float, float], Any], error: type[Exception]
) -> None:
    with marbles() as m:
        source = m.pull(range(10))
        results = m.start(
            source.pipe(adaptive_batch(initial_size=2, min_size=1, rule=rule)), demand="1-1"
        )
        assert results == m.exp("x-#", {"x": [0, 1]}, error=first_error(m))
        assert isinstance(first_error(m), error)
        assert m.requests_of(source) == m.exp_requests("2-!")


def test_a_failing_rule_reaches_on_error_when_timed_around_on_next() -> None:
    def broken(size: int, took: float, target: float) -> int:
        raise ZeroDivisionError("rule failed")

    with marbles() as m:
        source = m.pull(range(10))
        op = adaptive_batch(initial_size=2, min_size=1, rule=broken)
        results = m.start(source.pipe(op), demand="*")
        assert results == m.exp("(x,#)", {"x": [0, 1]}, error=first_error(m))
        assert isinstance(first_error(m), ZeroDivisionError)
        assert m.requests_of(source) == m.exp_requests("(2,!)")


# -- demand and the upstream -------------------------------------------------------------


def test_upstream_is_asked_for_one_batch_at_a_time() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-d-e-f-g-h-|", A_TO_H)
        op = adaptive_batch(initial_size=2, min_size=1, max_size=4, target_time=4.0)
        results = m.start(source.pipe(op), demand="2------1--1")
        lists = {"x": ["a", "b"], "y": ["c", "d", "e"], "z": ["f", "g"], "w": ["h"]}
        # x is taken at once (grow to 3), z after 7 s (> 6: shrink to 2), w after 3 s (same).
        assert results == m.exp("(x,y)--z--(w,|)", lists)
        assert m.requests_of(source) == m.exp_requests("(2,3)--2--2")


def test_the_source_is_never_read_more_than_one_batch_ahead() -> None:
    with marbles() as m:
        source = m.pull(range(1_000))
        results = m.start(source.pipe(adaptive_batch(initial_size=3, min_size=1)), demand="1")
        assert results == m.exp("x", {"x": [0, 1, 2]})
        assert m.requests_of(source) == m.exp_requests("3")  # and nothing more, until 1000


def test_a_push_upstream_holds_max_size_then_fails_after_delivering() -> None:
    with marbles() as m:
        source = m.hot("a-b-c-d-e")
        op = adaptive_batch(initial_size=2, min_size=1, max_size=3)
        results = m.start(source.pipe(op), demand="--------1-1")
        error = first_error(m)
        assert results == m.exp("--------x-(y,#)", {"x": ["a", "b"], "y": ["c"]}, error=error)
        assert isinstance(error, BufferOverflowError)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^-----!")


def test_a_push_upstream_batches_what_it_holds() -> None:
    with marbles() as m:
        source = m.hot("a-b-c-d-e-|")
        op = adaptive_batch(initial_size=2, min_size=2, max_size=5)
        results = m.start(source.pipe(op), demand="------2")
        # a to d are held; [a, b] took no time, so the size grows to 3 and waits for e.
        assert results == m.exp("------x-y-|", {"x": ["a", "b"], "y": ["c", "d", "e"]})


# -- max_wait, completion, errors, cancel ------------------------------------------------


def test_max_wait_flushes_by_size_or_time_whichever_first() -> None:
    with marbles() as m:
        source = m.hot("a-b-c-d-e-f---g------|")
        op = adaptive_batch(initial_size=3, min_size=3, max_size=3, max_wait=5)
        results = m.start(source.pipe(op))
        lists = {"x": ["a", "b", "c"], "y": ["d", "e", "f"], "z": ["g"]}
        assert results == m.exp("----x-----y--------z-|", lists)


def test_max_wait_never_flushes_without_demand() -> None:
    with marbles() as m:
        source = m.hot("a-b---c")
        op = adaptive_batch(initial_size=5, min_size=1, max_wait=3)
        results = m.start(source.pipe(op), demand="1---------1")
        assert results == m.exp("---x------y", {"x": ["a", "b"], "y": ["c"]})


def test_max_wait_over_a_pull_source_counts_what_is_still_owed() -> None:
    with marbles() as m:
        source = m.pull("a-b")
        op = adaptive_batch(initial_size=5, min_size=5, max_size=5, max_wait=3)
        results = m.start(source.pipe(op), demand="1----1")
        assert results == m.exp("---x", {"x": ["a", "b"]})
        # Three of the first five are still owed: the second batch needs two more.
        assert m.requests_of(source) == m.exp_requests("5----2")


@pytest.mark.parametrize(
    ("source", "demand", "expected"),
    [
        ("a-b-|", "*", "----(x,|)"),
        ("a-b-|", "------1", "------(x,|)"),
        ("a-b-#", "*", "----(x,#)"),
        ("a-b-#", "------1", "------(x,#)"),
        ("----|", "*", "----|"),
    ],
    ids=["completion", "completion-waits-for-demand", "error", "error-waits-for-demand", "empty"],
)
def test_the_end_flushes_the_partial_batch_and_never_emits_an_empty_one(
    source: str, demand: str, expected: str
) -> None:
    with marbles() as m:
        error = ValueError("upstream failed")
        hot = m.hot(source, error=error)
        results = m.start(hot.pipe(adaptive_batch(initial_size=5, min_size=1)), demand=demand)
        assert results == m.exp(expected, {"x": ["a", "b"]}, error=error)


def test_cancel_disposes_the_timer() -> None:
    with marbles() as m:
        timers: list[abc.DisposableBase] = []
        schedule_relative = m.scheduler.schedule_relative

        def recording(duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
            timer = schedule_relative(duetime, action, state)
            timers.append(timer)
            return timer

        m.scheduler.schedule_relative = recording  # type: ignore[method-assign]
        source = m.hot("a------")
        op = adaptive_batch(initial_size=5, min_size=1, max_wait=5)
        results = m.start(source.pipe(op), demand="1--!")
        assert results == []
        assert len(timers) == 1
        assert getattr(timers[0], "is_disposed", False)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^--!")


def test_metrics_show_the_batch_size() -> None:
    metrics = Metrics()
    with marbles() as m:
        source = m.pull(range(30))
        op = adaptive_batch(initial_size=10, min_size=1, max_size=50, metrics=metrics)
        m.start(source.pipe(op), demand="1-1")
    # The first batch took 2 s, more than 1.5x the target: the second has 8 items.
    assert subscriber_of(m).values == [list(range(10)), list(range(10, 18))]
    assert metrics.snapshot() == {
        "batch_size": 8,
        "received": 18,
        "depth": 0,
        "peak_depth": 10,
        "emitted": 2,
        "requested": 18,
    }


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"min_size": 0}, ValueError, "min_size must be >= 1, got 0"),
        ({"max_size": -1}, ValueError, "max_size must be >= 1, got -1"),
        ({"initial_size": 0}, ValueError, "initial_size must be >= 1, got 0"),
        ({"min_size": 50, "max_size": 20, "initial_size": 30}, ValueError, "50 > 20"),
        ({"initial_size": 5}, ValueError, "initial_size must be within"),
        ({"initial_size": 2000}, ValueError, "got 2000"),
        ({"target_time": 0}, ValueError, "target_time must be"),
        ({"target_time": float("inf")}, ValueError, "target_time"),
        ({"max_wait": 0.0}, ValueError, "max_wait must be"),
        ({"max_wait": -1}, ValueError, "got -1"),
        ({"initial_size": 10.5}, TypeError, "initial_size must be an int"),
        ({"min_size": True}, TypeError, "min_size must be an int"),
        ({"target_time": "1"}, TypeError, "target_time"),
        ({"rule": 3}, TypeError, "rule must be callable"),
    ],
)
def test_bad_options_fail_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        adaptive_batch(**options)


# -- the demand rules and properties -----------------------------------------------------


@pytest.mark.parametrize("size", [1, 3])
@pytest.mark.parametrize("max_wait", [None, 2.0])
def test_the_demand_rules_hold(size: int, max_wait: float | None) -> None:
    op: Callable[[Any], bp.Flowable[list[int]]] = adaptive_batch(
        initial_size=size, min_size=size, max_size=size, max_wait=max_wait
    )
    verify_flowable(lambda n: bp.from_iterable(range(n * size)).pipe(op))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    bounds=st.tuples(st.integers(1, 40), st.integers(0, 60), st.integers(0, 100)),
    costs=st.lists(st.floats(0.0, 0.2), min_size=1, max_size=20),
    mode=st.sampled_from(["after", "inside", "ahead"]),
    target=st.floats(0.1, 5.0),
)
def test_sizes_stay_in_bounds_and_nothing_is_lost(
    n: int,
    bounds: tuple[int, int, int],
    costs: list[float],
    mode: str,
    target: float,
) -> None:
    low, span, start = bounds
    high = low + span
    initial = low + start % (span + 1)

    def cost(consumer: Consumer) -> float:
        return costs[len(consumer.sizes) % len(costs)]

    with marbles() as m:
        source = m.pull(range(n))
        consumer = Consumer(m.scheduler, cost, mode=mode)
        op = adaptive_batch(initial_size=initial, min_size=low, max_size=high, target_time=target)
        source.pipe(op).subscribe(consumer, scheduler=m.scheduler)
        m.run()
    assert consumer.items == list(range(n))
    assert all(low <= size <= high for size in consumer.sizes[:-1])
    assert all(0 < size <= high for size in consumer.sizes)
    assert consumer.completed
    assert not consumer.errors


def test_the_clock_is_the_subscribers_scheduler() -> None:
    scheduler = TestScheduler()
    sizes: list[int] = []

    def work(batch: list[int]) -> None:
        sizes.append(len(batch))
        scheduler.sleep(2.0)  # always too slow: shrink to the minimum

    source = bp.from_iterable(range(100))
    source.pipe(adaptive_batch(initial_size=20, min_size=10)).subscribe(work, scheduler=scheduler)
    assert sizes[:4] == [20, 16, 12, 10]
    assert seconds(scheduler) == pytest.approx(2.0 * len(sizes))


# -- sizing against a bounded_buffer upstream ------------------------------------------------


def test_a_batch_that_can_outgrow_the_buffer_directly_upstream_warns_at_subscribe() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # building the pipeline says nothing yet
        op = adaptive_batch(initial_size=2, min_size=1, max_size=5)
        pipeline = bp.from_iterable(range(10)).pipe(bounded_buffer(4), op)
    batches: list[list[int]] = []
    with pytest.warns(BatchSizeWarning) as caught:
        pipeline.subscribe(batches.append, scheduler=TestScheduler())
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "adaptive_batch(max_size=5) directly after bounded_buffer(4): a batch can need more "
        "items than the buffer holds, so the producer cannot gather the next batch while the "
        "consumer works on one; give bounded_buffer a capacity of at least 5, or set max_size "
        "to at most 4"
    )
    assert caught[0].filename == __file__, "it points at the subscribe call"
    assert issubclass(BatchSizeWarning, UserWarning)
    assert [x for batch in batches for x in batch] == list(range(10)), "a warning, no more"


def test_the_warning_in_a_marble_test_points_at_its_start() -> None:
    with marbles() as m:
        source = m.pull(range(10))
        pipeline = source.pipe(bounded_buffer(8), adaptive_batch())
        with pytest.warns(BatchSizeWarning, match=r"\(max_size=1000\) directly") as caught:
            m.start(pipeline, demand="1")
    assert caught[0].filename == __file__


PIPELINES_THAT_FIT: dict[str, Callable[[Observable[int]], Observable[list[int]]]] = {
    "max_size == capacity": lambda s: s.pipe(
        bounded_buffer(5), adaptive_batch(max_size=5, initial_size=2, min_size=1)
    ),
    "max_size < capacity": lambda s: s.pipe(
        bounded_buffer(6), adaptive_batch(max_size=5, initial_size=2, min_size=1)
    ),
    "no buffer": lambda s: s.pipe(adaptive_batch(max_size=5, initial_size=2, min_size=1)),
    "the buffer downstream": lambda s: s.pipe(
        adaptive_batch(max_size=5, initial_size=2, min_size=1), bounded_buffer(1)
    ),
    "an operator between": lambda s: s.pipe(
        bounded_buffer(4),
        ops.map(lambda x: x),
        adaptive_batch(max_size=5, initial_size=2, min_size=1),
    ),
}


@pytest.mark.parametrize("name", list(PIPELINES_THAT_FIT))
def test_no_warning_unless_the_batch_can_outgrow_the_buffer_directly_upstream(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches: list[list[int]] = []
        flow = PIPELINES_THAT_FIT[name](bp.from_iterable(range(10)))
        flow.subscribe(batches.append, scheduler=TestScheduler())
    assert [x for batch in batches for x in batch] == list(range(10))
