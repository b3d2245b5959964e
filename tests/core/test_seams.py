"""Where the core meets threads, push segments and chains of our operators.

Each test pins one seam with the public API: a second thread calling ``request``, a plain
reactivex operator stopping a synchronous Flowable (and ending its steps when items come
from a push source or another thread), chains of our operators over a synchronous push
source, the blocking iterator across threads, and rule 2.13. Anything that
could hang runs in a worker thread joined with a timeout, so a hang fails the test.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler import NewThreadScheduler
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.testing import RecordingFlowable, TestSubscriber

TIMEOUT = 20.0


def finishes(work: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """Run ``work`` in a daemon thread; its result, or a failure if it does not finish."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as error:  # handed to the test's thread
            failure.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"did not finish within {timeout} s"
    if failure:
        raise failure[0]
    return result[0]


def same(item: int) -> int:
    return item


def counted(limit: int | None = None) -> tuple[list[int], Iterator[int]]:
    """A generator that records every item read from it."""
    read: list[int] = []

    def generate() -> Iterator[int]:
        for item in itertools.count() if limit is None else range(limit):
            read.append(item)
            yield item

    return read, generate()


# -- 1. request from several threads ------------------------------------------------------


@pytest.mark.parametrize("mode", ["shape", "drop", "error"])
def test_token_bucket_keeps_order_and_every_item_when_two_threads_request(mode: str) -> None:
    for _ in range(20):  # the fault this pins showed in about one trial in five
        subscriber: TestSubscriber[int] = TestSubscriber()
        operator: Callable[[Observable[int]], bp.Flowable[int]] = bp.token_bucket(
            10_000,
            1.0,
            mode=mode,  # type: ignore[arg-type]
        )
        bp.from_iterable(range(3000)).pipe(operator).subscribe(subscriber)

        def ask(subscriber: TestSubscriber[int] = subscriber) -> None:
            for _ in range(1500):
                subscriber.request(1)

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive()
        subscriber.assert_no_violations()
        assert subscriber.errors == []
        assert subscriber.values == list(range(3000))
        assert subscriber.completed


# -- 2. a plain reactivex operator stops a synchronous Flowable ---------------------------

STOPPERS: dict[str, Callable[[Observable[int]], Observable[Any]]] = {
    "first": lambda source: source.pipe(ops.first()),
    "pairwise, take(3)": lambda source: source.pipe(ops.pairwise(), ops.take(3)),
    "start_with, take(3)": lambda source: source.pipe(ops.start_with(-1), ops.take(3)),
    "element_at(2)": lambda source: source.pipe(ops.element_at(2)),
    "take(3) applied directly": lambda source: ops.take(3)(source),
    "Observable.pipe(first)": lambda source: Observable.pipe(source, ops.first()),
}


@pytest.mark.parametrize("name", list(STOPPERS))
def test_a_plain_operator_stops_a_synchronous_flowable_where_reactivex_would(name: str) -> None:
    def run(make: Callable[[Iterator[int]], Observable[int]]) -> tuple[list[Any], int]:
        read, generated = counted()
        seen: list[Any] = []
        STOPPERS[name](make(generated)).subscribe(seen.append)
        return seen, len(read)

    expected = run(reactivex.from_iterable)
    assert expected[1] in (1, 2, 3, 4)  # reactivex reads 1, 4, 2 or 3
    assert finishes(lambda: run(bp.from_iterable)) == expected


def test_a_push_segment_that_overflowed_stops_reading() -> None:
    read, generated = counted()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
    segment = bp.from_iterable(generated).pipe(ops.flat_map(reactivex.just))
    finishes(lambda: segment.subscribe(subscriber))
    # 1 delivered, PUSH_BUFFER held, one more overflows: upstream is cut right there.
    assert len(read) == 1 + bp.PUSH_BUFFER + 1
    assert subscriber.values == [0]
    subscriber.request(bp.PUSH_BUFFER)
    assert subscriber.values == list(range(1 + bp.PUSH_BUFFER))
    [error] = subscriber.errors
    assert isinstance(error, bp.BufferOverflowError)


def test_cancelling_in_on_subscribe_ahead_of_a_push_operator_reads_nothing() -> None:
    read, generated = counted()

    class CancelAtOnce(TestSubscriber[int]):
        def on_subscribe(self, subscription: bp.Subscription) -> None:
            super().on_subscribe(subscription)
            subscription.cancel()

    subscriber = CancelAtOnce()
    finishes(
        lambda: bp.from_iterable(generated).pipe(ops.flat_map(reactivex.just)).subscribe(subscriber)
    )
    assert read == []
    assert subscriber.values == []


STEP_READERS: dict[str, Callable[[], Callable[[Observable[int]], Observable[Any]]]] = {
    "merge(empty)": lambda: ops.merge(reactivex.empty()),
    "concat_map(just)": lambda: ops.concat_map(reactivex.just),
    "flat_map(just)": lambda: ops.flat_map(reactivex.just),
    "buffer_with_count(2)": lambda: ops.buffer_with_count(2),
}
"""Operators that read a Flowable in trampoline steps (not maps or filters, not one for one)."""


def flat(values: list[Any]) -> list[Any]:
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


@pytest.mark.parametrize("name", list(STEP_READERS))
def test_steps_end_when_a_buffer_above_is_fed_by_a_push_source_on_its_own_step(
    name: str,
) -> None:
    # reactivex.from_iterable pushes in a trampoline step of its own, so the first step's
    # request(1) finds the buffer empty and item 0 comes later, not as its answer. A second
    # step would queue behind the pushing step, which waits for room in the buffer: the
    # reader asks for everything instead.
    source = RecordingFlowable(
        bp.bounded_buffer(9)(reactivex.from_iterable(range(500))), TestScheduler()
    )
    seen: list[Any] = []
    ends: list[str] = []
    segment = source.pipe(STEP_READERS[name]())
    finishes(
        lambda: segment.subscribe(
            seen.append, lambda e: ends.append(repr(e)), lambda: ends.append("done")
        )
    )
    assert (flat(seen), ends) == (list(range(500)), ["done"])
    assert [event.n for event in source.requests][:2] == [1, bp.UNBOUNDED]


@pytest.mark.parametrize("name", list(STEP_READERS))
def test_steps_end_when_items_come_from_a_producer_thread(name: str) -> None:
    subject: Subject[int] = Subject()
    source = RecordingFlowable(bp.bounded_buffer(9)(subject), TestScheduler())
    seen: list[Any] = []
    ends: list[str] = []
    source.pipe(STEP_READERS[name]()).subscribe(
        seen.append, lambda e: ends.append(repr(e)), lambda: ends.append("done")
    )
    assert [event.n for event in source.requests] == [1]  # the first step, unanswered

    def produce() -> None:
        for item in range(2000):
            subject.on_next(item)
        subject.on_completed()

    finishes(produce)
    assert (flat(seen), ends) == (list(range(2000)), ["done"])
    assert [event.n for event in source.requests][:2] == [1, bp.UNBOUNDED]


# -- 3. chains of our operators over a synchronous push source -----------------------------

LOSSLESS: dict[str, Callable[[], Callable[[Observable[int]], bp.Flowable[int]]]] = {
    "bounded_buffer": lambda: bp.bounded_buffer(1000),
    "token_bucket": lambda: bp.token_bucket(10_000, 1e9),
    "rate_limit": lambda: bp.rate_limit(1e9),
    "circuit_break": lambda: bp.circuit_break(same),
}


@pytest.mark.parametrize("second", list(LOSSLESS))
@pytest.mark.parametrize("first", list(LOSSLESS))
def test_two_of_our_operators_over_a_synchronous_push_source_deliver_everything(
    first: str, second: str
) -> None:
    seen: list[int] = []
    chain = reactivex.from_iterable(range(10_000)).pipe(LOSSLESS[first](), LOSSLESS[second]())
    finishes(lambda: chain.subscribe(seen.append))
    assert seen == list(range(10_000))


def test_four_operators_over_a_synchronous_push_source_deliver_everything() -> None:
    seen: list[int] = []
    done = threading.Event()
    buffered: bp.Flowable[int] = reactivex.from_iterable(range(10_000)).pipe(
        bp.bounded_buffer(1000)
    )
    chain: bp.Flowable[int] = buffered.pipe(
        bp.token_bucket(10_000, 1e9), bp.circuit_break(same), bp.bounded_buffer(1000)
    )
    finishes(lambda: chain.subscribe(seen.append, on_completed=done.set))
    assert done.is_set()
    assert seen == list(range(10_000))


# -- 4 and 5. the blocking iterator ---------------------------------------------------------


def test_a_synchronous_push_source_into_a_blocking_buffer_fails_at_once_saying_why() -> None:
    items = bp.to_iterable(reactivex.from_iterable(range(5000)).pipe(bp.bounded_buffer(100)))
    taken: list[int] = []

    def consume() -> None:
        taken.extend(items)

    with pytest.raises(bp.BufferOverflowError, match="only that thread could make room"):
        finishes(consume)
    # What was accepted before the buffer gave up is delivered first, in order.
    assert taken == list(range(len(taken)))
    assert len(taken) >= 100


def test_the_same_source_subscribed_on_another_thread_flows_through_the_blocking_buffer() -> None:
    source = reactivex.from_iterable(range(5000)).pipe(
        ops.subscribe_on(NewThreadScheduler()), bp.bounded_buffer(100)
    )
    assert finishes(lambda: list(bp.to_iterable(source))) == list(range(5000))


def test_close_from_another_thread_wakes_every_blocked_next() -> None:
    subject: Subject[int] = Subject()
    items = bp.to_iterable(subject.pipe(bp.bounded_buffer(10)))
    first = threading.Thread(target=lambda: next(items))
    first.start()  # subscribes, then waits for an item
    deadline = time.monotonic() + TIMEOUT
    while not subject.observers:
        assert time.monotonic() < deadline, "next() never subscribed"
        time.sleep(0.001)
    subject.on_next(1)
    first.join(TIMEOUT)
    assert not first.is_alive()
    outcomes: list[str] = []

    def waits() -> None:
        try:
            next(items)
        except StopIteration:
            outcomes.append("stopped")

    waiters = [threading.Thread(target=waits) for _ in range(2)]
    for waiter in waiters:
        waiter.start()
    closer = threading.Thread(target=items.close)
    closer.start()
    for thread in [closer, *waiters]:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a next() stayed blocked after close()"
    assert outcomes == ["stopped", "stopped"]


# -- 9. rule 2.13: a subscriber whose on_subscribe raises -----------------------------------


def test_an_on_subscribe_that_raises_cancels_and_closes_the_generator() -> None:
    read, generated = counted(100)

    class Broken:
        subscription: bp.Subscription

        def on_subscribe(self, subscription: bp.Subscription) -> None:
            self.subscription = subscription
            raise RuntimeError("broken subscriber")

        def on_next(self, value: int) -> None:
            raise AssertionError("nothing may be delivered")

        def on_error(self, error: Exception) -> None:
            raise AssertionError("nothing may be delivered")

        def on_completed(self) -> None:
            raise AssertionError("nothing may be delivered")

    broken = Broken()
    with pytest.raises(RuntimeError, match="broken subscriber"):
        bp.from_iterable(generated).subscribe(broken)
    broken.subscription.request(3)  # the subscription counts as cancelled: nothing comes
    assert read == []
    assert inspect.getgeneratorstate(generated) == "GEN_CLOSED"  # type: ignore[arg-type]
