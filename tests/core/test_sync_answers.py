"""Synchronous answers: an upstream that answers a request at once, on the calling thread.

When an operator of ours subscribes or requests, many upstreams answer before the call
returns. These tests pin what that must never change: nothing is held that need not be,
demand is never exceeded, a failing subscriber ends the stream (and what it was handed is
counted), and cancelling from inside the answer stops it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import reactivex

import rx_backpressure as bp
from rx_backpressure import bounded_buffer, shed, token_bucket
from rx_backpressure.core import Metrics
from rx_backpressure.testing import TestSubscriber


@pytest.mark.needs("direct")
def test_a_synchronous_push_answer_goes_through_without_being_held() -> None:
    metrics = Metrics()
    seen: list[int] = []
    reactivex.from_iterable(range(100)).pipe(bounded_buffer(4, metrics=metrics)).subscribe(
        seen.append
    )
    assert seen == list(range(100))
    # Nothing was ever held, so no depth was ever recorded.
    assert metrics.snapshot() == {"received": 100, "emitted": 100}


def test_a_subscriber_that_asks_one_at_a_time_gets_exactly_that() -> None:
    class OneMore(TestSubscriber[int]):
        def on_next(self, value: int) -> None:
            super().on_next(value)
            if value % 2:
                self.request(1)  # every other item asks for one more, inside on_next

    subscriber = OneMore(initial_request=3)
    reactivex.from_iterable(range(20)).pipe(shed(100)).subscribe(subscriber)
    subscriber.assert_no_violations()
    # 3 at first; the odd items 1 and 3 ask for one more each: 5 delivered, then nothing.
    assert subscriber.values == [0, 1, 2, 3, 4]


@pytest.mark.needs("direct")
def test_a_subscriber_that_raises_inside_a_synchronous_answer_ends_the_stream() -> None:
    closed: list[bool] = []

    def produced() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.append(True)

    seen: list[int] = []
    errors: list[Exception] = []

    def on_next(value: int) -> None:
        seen.append(value)
        if value == 2:
            raise KeyError("subscriber broke")

    metrics = Metrics()
    bp.from_iterable(produced()).pipe(bounded_buffer(8, metrics=metrics)).subscribe(
        on_next, errors.append, lambda: errors.append(AssertionError("completed"))
    )
    assert seen == [0, 1, 2]
    assert [type(error) for error in errors] == [KeyError]
    assert closed == [True]  # upstream was cancelled: the generator is closed
    # What went out before the failure is counted, the refused item included.
    assert metrics.snapshot() == {"requested": 8, "received": 3, "emitted": 3}


@pytest.mark.needs("runs")
def test_calls_are_counted_when_the_subscriber_raises() -> None:
    metrics = Metrics()
    errors: list[Exception] = []

    def on_next(value: int) -> None:
        if value == 2:
            raise KeyError("subscriber broke")

    operator = bp.circuit_break(lambda x: x, metrics=metrics)
    bp.from_iterable(range(10)).pipe(operator).subscribe(on_next, errors.append)
    assert [type(error) for error in errors] == [KeyError]
    # The source answers the request with one run of all ten (the chain hand-off), held at
    # once; the third call's result is refused, and the seven not yet called are still held
    # when the stream ends.
    assert metrics.snapshot() == {
        "requested": 128,
        "calls": 3,
        "received": 10,
        "emitted": 3,
        "depth": 7,
        "peak_depth": 10,
    }


def test_cancel_from_inside_a_synchronous_answer_stops_it() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber()
    original = subscriber.on_next

    def cancel_at_three(value: int) -> None:
        original(value)
        if value == 3:
            subscriber.cancel()

    subscriber.on_next = cancel_at_three  # type: ignore[method-assign]
    reactivex.from_iterable(range(50)).pipe(token_bucket(100, 1.0)).subscribe(subscriber)
    assert subscriber.values == [0, 1, 2, 3]
    assert not subscriber.completed


def test_a_pull_source_is_read_only_as_far_as_demand_reaches() -> None:
    read: list[int] = []

    def produced() -> Iterator[int]:
        for item in range(100):
            read.append(item)
            yield item

    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5)
    bp.from_iterable(produced()).pipe(token_bucket(100, 1.0)).subscribe(subscriber)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert read == [0, 1, 2, 3, 4]  # one at a time, each handed on before the next is read
