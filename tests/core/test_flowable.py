"""Flowable is a reactivex Observable that honours request-n demand."""

from __future__ import annotations

import weakref
from typing import Any

import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.testing import TestSubscriber


def test_a_flowable_is_an_observable() -> None:
    flowable = bp.from_iterable([1, 2, 3])
    assert isinstance(flowable, Observable)
    assert reactivex.merge(flowable, reactivex.of(9)).pipe(ops.to_list()).run() == [1, 2, 3, 9]


def test_a_subscriber_gets_on_subscribe_first_and_items_only_on_request() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    bp.from_iterable([1, 2, 3]).subscribe(subscriber)
    assert subscriber.subscribed == 1
    assert subscriber.values == []
    subscriber.request(2)
    assert subscriber.values == [1, 2]
    subscriber.request(1)
    assert subscriber.values == [1, 2, 3]
    assert subscriber.completed


def test_callbacks_mean_unbounded_demand() -> None:
    seen: list[int] = []
    done: list[bool] = []
    bp.from_iterable(range(5)).subscribe(seen.append, on_completed=lambda: done.append(True))
    assert seen == [0, 1, 2, 3, 4]
    assert done == [True]


def test_a_plain_observer_means_unbounded_demand() -> None:
    seen: list[int] = []

    class Observer(reactivex.abc.ObserverBase[int]):
        def on_next(self, value: int) -> None:
            seen.append(value)

        def on_error(self, error: Exception) -> None:
            raise error

        def on_completed(self) -> None:
            seen.append(-1)

    bp.from_iterable(range(3)).subscribe(Observer())
    assert seen == [0, 1, 2, -1]


def test_subscribe_returns_the_subscription_which_is_a_disposable() -> None:
    seen: list[int] = []
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
    handle = bp.from_iterable(range(10)).subscribe(subscriber)
    assert isinstance(handle, bp.Subscription)
    assert handle is subscriber.subscription
    handle.dispose()
    subscriber.request(5)
    assert subscriber.values == [0]
    disposable = bp.from_iterable(range(3)).subscribe(seen.append)
    assert isinstance(disposable, reactivex.abc.DisposableBase)


def test_a_subscription_can_be_held_weakly_and_given_attributes() -> None:
    handle = bp.from_iterable(range(3)).pipe(bp.bounded_buffer(2)).subscribe(lambda _: None)
    assert weakref.ref(handle)() is handle
    handle.note = "free-form"  # type: ignore[attr-defined]  # as on any Python object
    assert handle.note == "free-form"  # type: ignore[attr-defined]


def test_an_error_with_no_handler_is_raised_as_reactivex_does() -> None:
    def broken() -> Any:
        yield 1
        raise KeyError("boom")

    seen: list[int] = []
    with pytest.raises(KeyError, match="boom"):
        bp.from_iterable(broken()).subscribe(seen.append)
    assert seen == [1]


def test_an_exception_in_on_next_reaches_on_error_and_stops_the_source() -> None:
    errors: list[Exception] = []
    read: list[int] = []

    def numbers() -> Any:
        for i in range(10):
            read.append(i)
            yield i

    def explode(value: int) -> None:
        if value == 2:
            raise RuntimeError("consumer failed")

    bp.from_iterable(numbers()).subscribe(explode, errors.append)
    assert [str(e) for e in errors] == ["consumer failed"]
    assert read == [0, 1, 2]


def test_the_scheduler_given_to_subscribe_reaches_reactivex_operators() -> None:
    scheduler = TestScheduler()
    seen: list[tuple[float, int]] = []
    delayed = ops.delay(5.0)(bp.from_iterable([1, 2]))
    delayed.subscribe(lambda v: seen.append((scheduler.clock, v)), scheduler=scheduler)
    assert seen == []
    scheduler.start()
    assert seen == [(5.0, 1), (5.0, 2)]
