"""TestSubscriber records what arrives and fails loudly on a broken rule."""

from __future__ import annotations

import threading

import pytest
from reactivex.testing import ReactiveTest, TestScheduler

import rx_backpressure as bp
from rx_backpressure.testing import RuleViolation, TestSubscriber


class _Manual(bp.Subscription):
    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        pass


def test_records_values_errors_and_completion_with_virtual_times() -> None:
    scheduler = TestScheduler()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2, scheduler=scheduler)
    bp.from_iterable([7, 8]).subscribe(subscriber)
    assert subscriber.values == [7, 8]
    assert subscriber.completed
    assert subscriber.errors == []
    assert subscriber.messages == [
        ReactiveTest.on_next(0, 7),
        ReactiveTest.on_next(0, 8),
        ReactiveTest.on_completed(0),
    ]
    assert subscriber.requested == 2
    assert subscriber.received == 2


def test_an_item_beyond_demand_fails_loudly() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
    subscriber.on_subscribe(_Manual())
    subscriber.on_next(1)
    with pytest.raises(RuleViolation, match=r"rule 1\.1: item 2 delivered with only 1 requested"):
        subscriber.on_next(2)
    with pytest.raises(RuleViolation, match=r"rule 1\.1"):
        subscriber.assert_no_violations()


def test_signals_before_on_subscribe_or_after_the_end_fail() -> None:
    early: TestSubscriber[int] = TestSubscriber()
    with pytest.raises(RuleViolation, match=r"rule 1\.9: on_next before on_subscribe"):
        early.on_next(1)
    late: TestSubscriber[int] = TestSubscriber()
    late.on_subscribe(_Manual())
    late.on_completed()
    with pytest.raises(RuleViolation, match=r"rule 1\.7: on_error after a terminal signal"):
        late.on_error(ValueError("x"))
    twice: TestSubscriber[int] = TestSubscriber()
    twice.on_subscribe(_Manual())
    with pytest.raises(RuleViolation, match=r"rule 2\.5"):
        twice.on_subscribe(_Manual())


def test_overlapping_signals_from_two_threads_fail() -> None:
    inside = threading.Event()
    release = threading.Event()

    class Blocking(_Manual):
        armed = False

        def request(self, n: int) -> None:
            # Called by the subscriber from inside its first on_next (replenish=1).
            if self.armed:
                inside.set()
                release.wait(5)

    subscription = Blocking()
    subscriber: TestSubscriber[int] = TestSubscriber(replenish=1)
    subscriber.on_subscribe(subscription)
    subscription.armed = True
    first = threading.Thread(target=subscriber.on_next, args=(1,))
    first.start()
    assert inside.wait(5)
    try:
        with pytest.raises(RuleViolation, match=r"rule 1\.3: on_next overlapped a signal"):
            subscriber.on_next(2)
    finally:
        release.set()
        first.join()
    assert subscriber.values == [1]


def test_await_terminal_waits_for_the_end() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber()
    assert not subscriber.await_terminal(0.01)
    bp.from_iterable([1]).subscribe(subscriber)
    assert subscriber.await_terminal(1)


def test_request_before_on_subscribe_is_refused() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber()
    with pytest.raises(RuleViolation, match="before on_subscribe"):
        subscriber.request(1)
