"""create: a callback API as a Flowable; items beyond demand meet the overflow policy.

The marble tests bridge a hot source into the emitter on virtual time, so every drop and
failure is pinned to its frame; the drop lists are worked out next to each diagram.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ask_from_threads, run_threads
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp
from rx_backpressure import BufferOverflowError, CreateOverflow, Emitter, Metrics, create
from rx_backpressure.testing import TestSubscriber, marbles, verify_flowable

MODES: tuple[CreateOverflow, ...] = ("buffer", "drop", "latest", "error")


def bridge(source: Observable[Any]) -> Callable[[Emitter[Any]], Callable[[], None]]:
    """A producer that forwards a push source (a listener API) and unsubscribes on cleanup."""

    def producer(emitter: Emitter[Any]) -> Callable[[], None]:
        handle = source.subscribe(emitter.next, emitter.error, emitter.complete)
        return handle.dispose

    return producer


def counting(n: int, overflow: CreateOverflow = "buffer") -> bp.Flowable[int]:
    """A producer that sends exactly what is asked for, then completes after item ``n``."""

    def producer(emitter: Emitter[int]) -> None:
        sent = 0

        def on_request(k: int) -> None:
            nonlocal sent
            while k and sent < n:
                sent += 1
                k -= 1
                emitter.next(sent)
            if sent == n:
                emitter.complete()

        emitter.on_request(on_request)

    return create(producer, overflow=overflow)


# -- the rule suite ---------------------------------------------------------------------


@pytest.mark.parametrize("overflow", MODES)
def test_a_producer_that_follows_demand_passes_the_rule_suite_in_every_mode(
    overflow: CreateOverflow,
) -> None:
    verify_flowable(lambda n: counting(n, overflow))


def test_a_producer_that_sends_everything_at_once_passes_the_rule_suite_with_room() -> None:
    def factory(n: int) -> bp.Flowable[int]:
        def producer(emitter: Emitter[int]) -> None:
            for i in range(n):
                emitter.next(i)
            emitter.complete()

        return create(producer, capacity=max(n, 1))

    verify_flowable(factory)


# -- the overflow policies, on virtual time ---------------------------------------------


def test_buffer_holds_up_to_capacity_then_fails_after_the_items_held() -> None:
    # a meets demand; b and c are held; d finds two held: the stream fails behind b and c.
    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        error = BufferOverflowError("create(overflow='buffer'): no room, 2 already held")
        flow = create(bridge(source), capacity=2)
        result = m.start(flow, "1-------1-1--")
        assert result == m.exp("-a------b-(c,#)", error=error)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^------!")


def test_drop_drops_what_arrives_beyond_demand_and_counts_it() -> None:
    dropped: list[str] = []
    metrics = Metrics()
    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        flow = create(bridge(source), overflow="drop", on_drop=dropped.append, metrics=metrics)
        result = m.start(flow, "1-----1-----")
        assert result == m.exp("-a-----d----")
    assert dropped == ["b", "c"]
    assert metrics.snapshot() == {
        "received": 4,
        "emitted": 2,
        "dropped": 2,
        "depth": 0,
        "peak_depth": 1,
    }


def test_latest_keeps_the_newest_item_beyond_demand() -> None:
    # b waits beyond demand; c replaces it (b dropped); demand takes c; d waits for more.
    dropped: list[str] = []
    metrics = Metrics()
    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        flow = create(bridge(source), overflow="latest", on_drop=dropped.append, metrics=metrics)
        result = m.start(flow, "1-----1-----")
        assert result == m.exp("-a----c-----")
    assert dropped == ["b"]
    assert metrics.get("received") == 4
    assert metrics.get("emitted") == 2
    assert metrics.get("depth") == 1  # d, held when the subscriber cancelled at 1000


def test_latest_delivers_the_item_it_kept_when_demand_comes() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c---|")
        result = m.start(create(bridge(source), overflow="latest"), "------2---")
        assert result == m.exp("------c--|")


def test_error_fails_at_the_first_item_beyond_demand() -> None:
    with marbles() as m:
        source = m.hot("-a-b-----")
        error = BufferOverflowError("create(overflow='error'): no room, beyond demand")
        result = m.start(create(bridge(source), overflow="error"), "1--------")
        assert result == m.exp("-a-#", error=error)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^--!")


def test_capacity_bounds_what_drop_holds_even_within_demand() -> None:
    # Unbounded demand, but nothing leaves while the subscriber holds the loop: 3 fit.
    dropped: list[int] = []
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    emitters: list[Emitter[int]] = []
    flow = create(emitters.append, overflow="drop", capacity=3, on_drop=dropped.append)
    flow.subscribe(subscriber)
    (emitter,) = emitters

    class Busy:
        # Items sent from inside on_next are held for later: the loop is busy here.
        def __init__(self) -> None:
            self.values: list[int] = []

        def on_subscribe(self, subscription: bp.Subscription) -> None:
            subscription.request(bp.UNBOUNDED)

        def on_next(self, value: int) -> None:
            self.values.append(value)
            if value == 0:
                for i in range(1, 6):
                    emitter_two.next(i)

        def on_error(self, error: Exception) -> None:
            raise error

        def on_completed(self) -> None:
            pass

    busy = Busy()
    more: list[Emitter[int]] = []
    create(more.append, overflow="drop", capacity=3, on_drop=dropped.append).subscribe(busy)
    (emitter_two,) = more
    emitter_two.next(0)
    assert busy.values == [0, 1, 2, 3]
    assert dropped == [4, 5]
    emitter.next(9)  # the first subscriber asked for nothing: dropped
    assert dropped == [4, 5, 9]


def test_drops_are_passed_on_in_order_and_received_adds_up() -> None:
    dropped: list[int] = []
    metrics = Metrics()
    emitters: list[Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber(2)
    create(emitters.append, overflow="drop", on_drop=dropped.append, metrics=metrics).subscribe(
        subscriber
    )
    for i in range(10):
        emitters[0].next(i)
    subscriber.request(3)
    for i in range(10, 20):
        emitters[0].next(i)
    assert subscriber.values == [0, 1, 10, 11, 12]
    assert dropped == [*range(2, 10), *range(13, 20)]
    assert metrics.get("received") == 20 == len(subscriber.values) + metrics.get("dropped")


# -- demand, as the producer sees it ----------------------------------------------------


def test_requested_is_the_demand_not_yet_met_by_items_sent() -> None:
    emitters: list[Emitter[str]] = []
    subscriber: TestSubscriber[str] = TestSubscriber(0)
    create(emitters.append).subscribe(subscriber)
    (emitter,) = emitters
    assert emitter.requested == 0
    subscriber.request(3)
    assert emitter.requested == 3
    emitter.next("a")
    assert emitter.requested == 2
    subscriber.request(bp.UNBOUNDED)
    assert emitter.requested == bp.UNBOUNDED


def test_requested_counts_items_held_as_sent() -> None:
    emitters: list[Emitter[str]] = []
    subscriber: TestSubscriber[str] = TestSubscriber(0)
    create(emitters.append).subscribe(subscriber)
    emitters[0].next("a")  # held: no demand
    subscriber.request(2)  # a goes out
    assert subscriber.values == ["a"]
    assert emitters[0].requested == 1


def test_on_request_hears_each_request_and_may_send_at_once() -> None:
    heard: list[int] = []
    subscriber: TestSubscriber[int] = TestSubscriber(2)

    def producer(emitter: Emitter[int]) -> None:
        def on_request(n: int) -> None:
            heard.append(n)
            for _ in range(n):
                emitter.next(len(heard))

        emitter.on_request(on_request)

    create(producer, overflow="error").subscribe(subscriber)
    subscriber.request(1)
    subscriber.request(3)
    assert heard == [2, 1, 3]
    assert subscriber.values == [1, 1, 2, 3, 3, 3]
    assert subscriber.errors == []


def test_a_callback_may_send_all_it_was_told_whatever_the_capacity() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    counting(1_000, "error").subscribe(subscriber)
    subscriber.request(1_000)
    assert subscriber.values == list(range(1, 1_001))
    assert subscriber.completed


def test_items_beyond_capacity_name_the_capacity() -> None:
    emitters: list[Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    create(emitters.append, capacity=2).subscribe(subscriber)
    for i in range(3):
        emitters[0].next(i)
    subscriber.request(5)
    assert subscriber.values == [0, 1]
    assert [str(e) for e in subscriber.errors] == [
        "create(overflow='buffer'): no room, 2 already held"
    ]


def test_an_item_refused_by_the_subscriber_fails_the_stream_and_stops_the_producer() -> None:
    boom = RuntimeError("on_next")
    log = Log()

    class Refuses(TestSubscriber[int]):
        def on_next(self, value: int) -> None:
            super().on_next(value)
            raise boom

    subscriber = Refuses(0)

    def producer(emitter: Emitter[int]) -> Callable[[], None]:
        def on_request(n: int) -> None:
            for i in range(n):
                emitter.next(i)  # the first is refused; the rest are ignored

        emitter.on_request(on_request)
        return log.producer(emitter)

    create(producer).subscribe(subscriber)
    subscriber.request(3)
    assert subscriber.values == [0]
    assert subscriber.errors == [boom]
    assert log.events == ["on_cancel", "cleanup"]


def test_a_listener_added_later_is_first_told_the_outstanding_demand() -> None:
    emitters: list[Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber(5)
    create(emitters.append).subscribe(subscriber)
    (emitter,) = emitters
    emitter.next(1)
    heard: list[int] = []
    emitter.on_request(heard.append)
    assert heard == [4]
    subscriber.request(2)
    assert heard == [4, 2]


def test_demand_asked_in_on_subscribe_reaches_a_listener_the_producer_adds() -> None:
    heard: list[int] = []
    subscriber: TestSubscriber[int] = TestSubscriber(7)
    create(lambda emitter: emitter.on_request(heard.append)).subscribe(subscriber)
    assert heard == [7]


# -- the end: cleanup, on_cancel, is_cancelled ------------------------------------------


class Log:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.emitter: Emitter[int] | None = None

    def producer(self, emitter: Emitter[int]) -> Callable[[], None]:
        self.emitter = emitter
        emitter.on_cancel(lambda: self.events.append("on_cancel"))
        return lambda: self.events.append("cleanup")


def test_cancel_runs_on_cancel_then_the_cleanup_once() -> None:
    log = Log()
    subscriber: TestSubscriber[int] = TestSubscriber()
    create(log.producer).subscribe(subscriber)
    assert log.emitter is not None
    assert not log.emitter.is_cancelled
    subscriber.cancel()
    subscriber.cancel()
    assert log.events == ["on_cancel", "cleanup"]
    assert log.emitter.is_cancelled
    log.emitter.next(1)  # ignored after the end
    assert subscriber.values == []


def test_completion_runs_the_cleanup_but_not_on_cancel() -> None:
    log = Log()
    subscriber: TestSubscriber[int] = TestSubscriber()
    create(log.producer).subscribe(subscriber)
    assert log.emitter is not None
    log.emitter.next(1)
    log.emitter.complete()
    subscriber.cancel()
    assert log.events == ["cleanup"]
    assert subscriber.values == [1]
    assert subscriber.completed
    assert log.emitter.is_cancelled


def test_a_failure_here_stops_the_producer_like_a_cancel() -> None:
    log = Log()
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    create(log.producer, overflow="error").subscribe(subscriber)
    assert log.emitter is not None
    log.emitter.next(1)
    assert log.events == ["on_cancel", "cleanup"]
    assert isinstance(subscriber.errors[0], BufferOverflowError)


def test_a_cleanup_returned_after_a_synchronous_end_runs_at_once() -> None:
    ran: list[str] = []

    def producer(emitter: Emitter[int]) -> Callable[[], None]:
        emitter.next(1)
        emitter.complete()
        return lambda: ran.append("cleanup")

    subscriber: TestSubscriber[int] = TestSubscriber()
    create(producer).subscribe(subscriber)
    assert ran == ["cleanup"]
    assert subscriber.values == [1]
    assert subscriber.completed


def test_on_cancel_added_after_a_cancel_runs_at_once() -> None:
    emitters: list[Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber()
    create(emitters.append).subscribe(subscriber)
    subscriber.cancel()
    ran: list[str] = []
    emitters[0].on_cancel(lambda: ran.append("late"))
    assert ran == ["late"]


def test_the_producer_is_not_run_when_on_subscribe_cancels() -> None:
    ran: list[str] = []

    class CancelAtOnce(TestSubscriber[int]):
        def on_subscribe(self, subscription: bp.Subscription) -> None:
            super().on_subscribe(subscription)
            subscription.cancel()

    create(lambda emitter: ran.append("producer")).subscribe(CancelAtOnce(0))
    assert ran == []


def test_error_after_the_items_held() -> None:
    emitters: list[Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    create(emitters.append).subscribe(subscriber)
    boom = RuntimeError("boom")
    emitters[0].next(1)
    emitters[0].error(boom)
    assert subscriber.errors == []
    subscriber.request(1)
    assert subscriber.values == [1]
    assert subscriber.errors == [boom]


def test_error_refuses_what_is_not_an_exception() -> None:
    emitters: list[Emitter[int]] = []
    create(emitters.append).subscribe(TestSubscriber[int]())
    with pytest.raises(TypeError, match="error must be an Exception, got 'oops'"):
        emitters[0].error("oops")  # type: ignore[arg-type]


def test_callbacks_must_be_callable() -> None:
    emitters: list[Emitter[int]] = []
    create(emitters.append).subscribe(TestSubscriber[int]())
    with pytest.raises(TypeError, match="callback must be callable, got 3"):
        emitters[0].on_request(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callback must be callable, got 3"):
        emitters[0].on_cancel(3)  # type: ignore[arg-type]


# -- errors in user code reach on_error -------------------------------------------------


def test_a_producer_that_raises_fails_the_stream_after_what_it_sent() -> None:
    boom = RuntimeError("producer")

    def producer(emitter: Emitter[int]) -> None:
        emitter.next(1)
        raise boom

    subscriber: TestSubscriber[int] = TestSubscriber()
    create(producer).subscribe(subscriber)
    assert subscriber.values == [1]
    assert subscriber.errors == [boom]


def test_a_producer_that_returns_something_not_callable_fails_the_stream() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber()
    create(lambda emitter: 42).subscribe(subscriber)  # type: ignore[arg-type,return-value]
    assert isinstance(subscriber.errors[0], TypeError)
    assert "producer must return a callable or None, got 42" in str(subscriber.errors[0])


def test_on_drop_that_raises_fails_the_stream_after_the_items_held() -> None:
    boom = RuntimeError("on_drop")

    def on_drop(item: int) -> None:
        raise boom

    emitters: list[Emitter[int]] = []
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    create(emitters.append, overflow="latest", on_drop=on_drop).subscribe(subscriber)
    emitters[0].next(1)  # held: the latest
    emitters[0].next(2)  # replaces 1, and on_drop(1) raises
    subscriber.request(5)
    assert subscriber.values == [2]
    assert subscriber.errors == [boom]


def test_an_on_request_callback_that_raises_fails_the_stream() -> None:
    boom = RuntimeError("on_request")

    def on_request(n: int) -> None:
        raise boom

    subscriber: TestSubscriber[int] = TestSubscriber(0)
    create(lambda emitter: emitter.on_request(on_request)).subscribe(subscriber)
    subscriber.request(1)
    assert subscriber.errors == [boom]


def test_a_failing_cleanup_after_completion_fails_the_stream() -> None:
    boom = RuntimeError("cleanup")

    def cleanup() -> None:
        raise boom

    emitters: list[Emitter[int]] = []

    def producer(emitter: Emitter[int]) -> Callable[[], None]:
        emitters.append(emitter)
        return cleanup

    subscriber: TestSubscriber[int] = TestSubscriber()
    create(producer).subscribe(subscriber)
    emitters[0].complete()
    assert subscriber.errors == [boom]


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    seen: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda args: seen.append(args.exc_value))
    return seen


def test_a_failing_cleanup_after_a_cancel_goes_to_the_unraisable_hook(
    unraisable: list[BaseException | None],
) -> None:
    boom = RuntimeError("cleanup")
    oops = RuntimeError("on_cancel")

    def cleanup() -> None:
        raise boom

    def on_cancel() -> None:
        raise oops

    def producer(emitter: Emitter[int]) -> Callable[[], None]:
        emitter.on_cancel(on_cancel)
        return cleanup

    subscriber: TestSubscriber[int] = TestSubscriber()
    create(producer).subscribe(subscriber)
    subscriber.cancel()
    assert unraisable == [oops, boom]
    assert subscriber.errors == []


# -- threads ------------------------------------------------------------------------------


def test_several_producer_threads_lose_nothing_uncounted_and_keep_their_order() -> None:
    dropped: list[tuple[int, int]] = []
    metrics = Metrics()
    emitters: list[Emitter[tuple[int, int]]] = []
    subscriber: TestSubscriber[tuple[int, int]] = TestSubscriber(1, replenish=1)
    flow = create(
        emitters.append, overflow="drop", capacity=50, on_drop=dropped.append, metrics=metrics
    )
    flow.subscribe(subscriber)
    (emitter,) = emitters

    def produce(k: int) -> None:
        for i in range(5_000):
            emitter.next((k, i))

    run_threads([threading.Thread(target=produce, args=(k,)) for k in range(4)], "a producer")
    emitter.complete()
    subscriber.assert_no_violations()
    assert subscriber.errors == []
    delivered = subscriber.values
    held = int(metrics.get("depth"))
    assert len(delivered) + len(dropped) + held == 20_000 == metrics.get("received")
    assert len(set(delivered) | set(dropped)) == len(delivered) + len(dropped)
    for k in range(4):
        mine = [i for p, i in delivered if p == k]
        assert mine == sorted(mine)
    assert metrics.get("peak_depth") <= 50


def test_producer_threads_with_buffer_room_deliver_everything_to_a_reader_on_another_thread() -> (
    None
):
    emitters: list[Emitter[tuple[int, int]]] = []
    subscriber: TestSubscriber[tuple[int, int]] = TestSubscriber(0)
    create(emitters.append, capacity=8_000).subscribe(subscriber)
    (emitter,) = emitters
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set() and len(subscriber.values) < 8_000:
            subscriber.request(7)

    def produce(k: int) -> None:
        for i in range(2_000):
            emitter.next((k, i))

    reader = threading.Thread(target=read)
    reader.start()
    run_threads([threading.Thread(target=produce, args=(k,)) for k in range(4)], "a producer")
    emitter.complete()
    reader.join(30)
    stop.set()
    assert not reader.is_alive()
    assert subscriber.await_terminal(30)
    subscriber.assert_no_violations()
    assert subscriber.errors == []
    assert sorted(subscriber.values) == sorted((k, i) for k in range(4) for i in range(2_000))
    for k in range(4):
        mine = [i for p, i in subscriber.values if p == k]
        assert mine == list(range(2_000))


def test_requests_from_another_thread_drive_a_producer_that_follows_demand() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    counting(1_000, "error").subscribe(subscriber)

    ask_from_threads(subscriber, threads=3, times=1_000)
    assert subscriber.await_terminal(30)
    subscriber.assert_no_violations()
    assert subscriber.errors == []
    assert subscriber.values == list(range(1, 1_001))


def test_a_producer_thread_stops_when_the_subscriber_cancels() -> None:
    stopped = threading.Event()
    subscriber: TestSubscriber[int] = TestSubscriber(5)

    def producer(emitter: Emitter[int]) -> Callable[[], None]:
        def run() -> None:
            i = 0
            while not emitter.is_cancelled:
                if emitter.requested:
                    emitter.next(i)
                    i += 1
                else:
                    stopped.wait(0.001)
            stopped.set()

        thread = threading.Thread(target=run)
        thread.start()
        return lambda: None

    create(producer, overflow="error").subscribe(subscriber)
    for _ in range(1000):
        if len(subscriber.values) == 5:
            break
        stopped.wait(0.01)
    subscriber.cancel()
    assert stopped.wait(10)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert subscriber.errors == []


# -- in a pipeline ----------------------------------------------------------------------


def test_a_chain_asks_the_producer_only_for_what_it_can_take() -> None:
    heard: list[int] = []

    def producer(emitter: Emitter[int]) -> None:
        sent = 0

        def on_request(n: int) -> None:
            nonlocal sent
            heard.append(n)
            for _ in range(min(n, 10 - sent)):
                emitter.next(sent)
                sent += 1
            if sent == 10:
                emitter.complete()

        emitter.on_request(on_request)

    def double(x: int) -> int:
        return x * 2

    def fourfold(x: int) -> bool:
        return x % 4 == 0

    flow = create(producer, overflow="error").pipe(
        ops.map(double), bp.bounded_buffer(4), ops.filter(fourfold)
    )
    assert list(bp.to_iterable(flow, prefetch=2)) == [0, 4, 8, 12, 16]
    assert sum(heard) <= 10 + 4
