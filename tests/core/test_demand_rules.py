"""The demand contract of every subscription: additive, saturating, validated, never raising."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import rx_backpressure as bp
from rx_backpressure.testing import TestSubscriber


def _subscribed(count: int = 100, initial: int = 0) -> TestSubscriber[int]:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=initial)
    bp.from_iterable(range(count)).subscribe(subscriber)
    return subscriber


def test_demand_is_additive() -> None:
    subscriber = _subscribed()
    subscriber.request(2)
    subscriber.request(3)
    assert subscriber.values == [0, 1, 2, 3, 4]


def test_demand_saturates_at_unbounded_without_error() -> None:
    subscriber = _subscribed(count=5)
    subscriber.request(bp.UNBOUNDED)
    subscriber.request(bp.UNBOUNDED)
    subscriber.request(1)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert subscriber.completed
    assert subscriber.errors == []
    assert bp.UNBOUNDED == 2**63 - 1


@pytest.mark.parametrize("n", [0, -1, -(2**70)])
def test_a_non_positive_request_signals_value_error_naming_n_and_stops(n: int) -> None:
    subscriber = _subscribed()
    subscriber.request(1)
    assert subscriber.subscription is not None
    subscriber.subscription.request(n)
    subscriber.request(10)
    assert subscriber.values == [0]
    [error] = subscriber.errors
    assert isinstance(error, ValueError)
    assert f"n={n}" in str(error)


@pytest.mark.parametrize("n", [True, 1.0, "3", None])
def test_a_non_int_request_signals_type_error(n: Any) -> None:
    subscriber = _subscribed()
    assert subscriber.subscription is not None
    subscriber.subscription.request(n)
    [error] = subscriber.errors
    assert isinstance(error, TypeError)
    assert repr(n) in str(error)
    assert subscriber.values == []


def test_request_and_cancel_never_raise_and_cancel_is_idempotent() -> None:
    subscriber = _subscribed()
    subscription = subscriber.subscription
    assert subscription is not None
    subscription.cancel()
    subscription.cancel()
    subscription.dispose()
    subscription.request(-5)
    subscription.request(3)
    assert subscriber.messages == []


def test_request_after_cancel_does_nothing() -> None:
    subscriber = _subscribed()
    subscriber.request(1)
    subscriber.cancel()
    subscriber.request(10)
    assert subscriber.values == [0]
    assert not subscriber.completed


def test_nothing_after_a_terminal_signal() -> None:
    subscriber = _subscribed(count=2)
    subscriber.request(5)
    subscriber.request(5)
    subscriber.cancel()
    assert len(subscriber.messages) == 3
    subscriber.assert_no_violations()


def _depth() -> int:
    frame = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def test_request_one_inside_on_next_over_a_million_items_keeps_the_stack_flat() -> None:
    depths: dict[int, int] = {}
    count = 1_000_000

    class StopAndWait:
        subscription: bp.Subscription

        def on_subscribe(self, subscription: bp.Subscription) -> None:
            self.subscription = subscription
            subscription.request(1)

        def on_next(self, value: int) -> None:
            if value in (1, count // 2, count - 1):
                depths[value] = _depth()
            self.subscription.request(1)

        def on_error(self, error: Exception) -> None:
            raise error

        def on_completed(self) -> None:
            depths[-1] = 0

    bp.from_iterable(range(count)).subscribe(StopAndWait())
    assert -1 in depths
    assert depths[1] == depths[count // 2] == depths[count - 1]


def test_signals_stay_serialized_when_other_threads_request() -> None:
    count = 20_000
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    bp.from_iterable(range(count)).subscribe(subscriber)
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        for _ in range(count // 4):
            subscriber.request(1)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    subscriber.request(1)
    subscriber.assert_no_violations()
    assert subscriber.values == list(range(count))
    assert subscriber.completed


def test_cancel_drops_the_reference_to_the_subscriber() -> None:
    import gc
    import weakref

    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
    subscription = bp.from_iterable(range(10)).subscribe(subscriber)
    ref = weakref.ref(subscriber)
    subscription.dispose()
    subscriber.subscription = None
    del subscriber
    gc.collect()
    assert ref() is None


def test_completion_and_errors_arrive_without_any_request() -> None:
    empty: TestSubscriber[int] = TestSubscriber(initial_request=0)
    bp.from_iterable([]).subscribe(empty)
    assert empty.completed

    def fails() -> Iterator[int]:
        raise LookupError("at once")
        yield 0  # pragma: no cover - makes this a generator

    failing: TestSubscriber[int] = TestSubscriber(initial_request=1)
    bp.from_iterable(fails()).subscribe(failing)
    assert [type(e) for e in failing.errors] == [LookupError]
