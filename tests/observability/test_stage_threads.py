"""The counters add up exactly when several threads push and another one requests.

Each test ends quiescent (every thread joined, every wait limited to ``WAIT`` seconds)
and then checks, on the operator's stage: received = emitted + held + dropped, received
is everything pushed, and the stage's figures equal the metrics' where metrics is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from reactivex import Observable
from reactivex.subject import Subject

import rx_backpressure as bp
from rx_backpressure import StageSnapshot, inspect
from rx_backpressure.testing import TestSubscriber

WAIT = 30.0
"""Seconds any thread or condition may take before the test fails instead of hanging."""

PRODUCERS = 4
EACH = 2_000


def run_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), f"{thread.name} hung"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def push_from_threads(
    push: Callable[[int], None], producers: int = PRODUCERS
) -> list[threading.Thread]:
    def produce(first: int) -> None:
        for value in range(first, first + EACH):
            push(value)

    return [
        threading.Thread(target=produce, args=(i * EACH,), name=f"producer {i}")
        for i in range(producers)
    ]


def request_slowly(subscriber: TestSubscriber[Any], total: int, step: int = 8) -> threading.Thread:
    def ask() -> None:
        for _ in range(total // step):
            subscriber.request(step)
            time.sleep(0.0002)

    return threading.Thread(target=ask, name="requester")


def adds_up(stage: StageSnapshot, metrics: bp.Metrics | None) -> None:
    assert stage.received is not None
    assert stage.emitted is not None
    assert stage.held is not None
    assert stage.dropped is not None
    assert stage.received == stage.emitted + stage.held + stage.dropped
    if metrics is not None:
        assert metrics.get("received") == stage.received
        assert metrics.get("emitted") == stage.emitted
        assert metrics.get("dropped") == stage.dropped


WITH_AND_WITHOUT_METRICS = pytest.mark.parametrize(
    "with_metrics", [False, True], ids=["without metrics", "with metrics"]
)


@WITH_AND_WITHOUT_METRICS
def test_bounded_buffer_with_blocked_producers_counts_every_item(with_metrics: bool) -> None:
    metrics = bp.Metrics() if with_metrics else None
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    subscription = subject.pipe(bp.bounded_buffer(16, metrics=metrics)).subscribe(subscriber)
    total = PRODUCERS * EACH
    run_all([*push_from_threads(subject.on_next), request_slowly(subscriber, total)])
    wait_until(lambda: subscriber.received == total, f"{total} items")
    stage = inspect(subscription)[-1]
    assert (stage.received, stage.emitted, stage.held, stage.dropped) == (total, total, 0, 0)
    adds_up(stage, metrics)
    assert sorted(subscriber.values) == list(range(total))
    subscriber.assert_no_violations()


@pytest.mark.parametrize("strategy", ["tail", "head"])
@WITH_AND_WITHOUT_METRICS
def test_shed_fed_by_several_threads_counts_every_drop(strategy: Any, with_metrics: bool) -> None:
    metrics = bp.Metrics() if with_metrics else None
    dropped: list[int] = []  # list.append is atomic
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    operator = bp.shed(8, strategy=strategy, on_drop=dropped.append, metrics=metrics)
    subscription = subject.pipe(operator).subscribe(subscriber)
    total = PRODUCERS * EACH
    run_all([*push_from_threads(subject.on_next), request_slowly(subscriber, total // 4)])
    stage = inspect(subscription)[-1]
    assert stage.received == total
    assert stage.emitted == subscriber.received
    assert stage.dropped == len(dropped)
    adds_up(stage, metrics)
    # Every item was delivered, dropped or is held, once.
    delivered = set(subscriber.values)
    assert len(delivered) == len(subscriber.values)
    assert stage.held is not None
    assert len(delivered | set(dropped)) == total - stage.held
    subscriber.assert_no_violations()


@WITH_AND_WITHOUT_METRICS
def test_create_fed_by_several_threads_counts_every_drop(with_metrics: bool) -> None:
    metrics = bp.Metrics() if with_metrics else None
    dropped: list[int] = []
    emitters: list[bp.Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    flow = bp.create(
        emitters.append, overflow="drop", capacity=8, on_drop=dropped.append, metrics=metrics
    )
    subscription = flow.subscribe(subscriber)
    total = PRODUCERS * EACH
    asked = total // 4
    emitter = emitters[0]
    run_all([*push_from_threads(emitter.next), request_slowly(subscriber, asked)])
    stage = inspect(subscription)[0]
    assert stage.received == total
    assert stage.dropped == len(dropped)
    assert stage.emitted == subscriber.received <= asked
    adds_up(stage, metrics)


@WITH_AND_WITHOUT_METRICS
def test_token_bucket_dropping_on_one_thread_while_another_requests(with_metrics: bool) -> None:
    metrics = bp.Metrics() if with_metrics else None
    dropped: list[int] = []
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    operator = bp.token_bucket(
        20, 2_000.0, mode="drop", max_pending=4, on_drop=dropped.append, metrics=metrics
    )
    subscription = subject.pipe(operator).subscribe(subscriber)
    total = EACH
    asked = total // 2
    run_all([*push_from_threads(subject.on_next, producers=1), request_slowly(subscriber, asked)])
    stage = inspect(subscription)[-1]
    assert stage.received == total
    assert stage.dropped == len(dropped) > 0
    assert stage.emitted == subscriber.received
    adds_up(stage, metrics)


@WITH_AND_WITHOUT_METRICS
def test_circuit_break_skipping_on_one_thread_while_another_requests(with_metrics: bool) -> None:
    metrics = bp.Metrics() if with_metrics else None
    skipped: list[int] = []

    def send(item: int) -> int:
        if item % 3 == 0:
            raise ConnectionError(item)
        return item

    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    operator = bp.circuit_break(
        send,
        failure_threshold=10,
        on_failure="skip",
        on_skip=lambda item, _: skipped.append(item),
        metrics=metrics,
    )
    subscription = subject.pipe(operator).subscribe(subscriber)
    total = 900  # within max_pending, so a slow requester never makes it overflow

    def produce() -> None:
        for value in range(total):
            subject.on_next(value)

    producer = threading.Thread(target=produce, name="producer")
    run_all([producer, request_slowly(subscriber, total - total // 3)])
    wait_until(lambda: subscriber.received == total - total // 3, "every item not skipped")
    stage = inspect(subscription)[-1]
    assert (stage.received, stage.emitted, stage.held, stage.dropped) == (total, 600, 0, 300)
    assert stage.state["failures"] == len(skipped) == 300
    adds_up(stage, metrics)


def test_adaptive_batch_fed_by_several_threads_counts_items_in_and_out() -> None:
    metrics = bp.Metrics()
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[list[int]] = TestSubscriber(0)
    total = PRODUCERS * EACH
    operator: Callable[[Observable[int]], bp.Flowable[list[int]]] = bp.adaptive_batch(
        initial_size=50, min_size=10, max_size=total, metrics=metrics
    )
    subscription = subject.pipe(operator).subscribe(subscriber)
    run_all([*push_from_threads(subject.on_next), request_slowly(subscriber, 40, step=1)])
    stage = inspect(subscription)[-1]
    items = stage.state["emitted_items"]
    assert stage.received == total == metrics.get("received")
    assert items == sum(len(batch) for batch in subscriber.values)
    assert stage.emitted == subscriber.received == metrics.get("emitted")
    assert isinstance(items, int)
    assert stage.held is not None
    assert stage.received == items + stage.held
