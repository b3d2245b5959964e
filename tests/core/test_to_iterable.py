"""to_iterable: a blocking iterator with bounded prefetch, closed by close, with, or GC."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from reactivex.scheduler import NewThreadScheduler
from reactivex.subject import Subject

import rx_backpressure as bp
from rx_backpressure.core import Drain, Subscriber, Subscription
from rx_backpressure.sources._to_iterable import _Channel


class Counting:
    def __init__(self, count: int) -> None:
        self.count = count
        self.read = 0
        self.closed = False

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.count):
                self.read += 1
                yield i
        finally:
            self.closed = True


def test_iterates_everything_on_one_thread() -> None:
    assert list(bp.to_iterable(bp.from_iterable(range(1000)), prefetch=7)) == list(range(1000))


def test_never_more_than_prefetch_requested_ahead_of_the_consumer() -> None:
    source = Counting(10_000)
    iterator = bp.to_iterable(bp.from_iterable(iter(source)), prefetch=16)
    assert source.read == 0, "nothing is read before the first next()"
    for taken in range(1, 500):
        next(iterator)
        assert taken <= source.read <= taken + 16
    iterator.close()


def test_close_with_and_garbage_collection_cancel_the_subscription() -> None:
    closed = Counting(100)
    iterator = bp.to_iterable(bp.from_iterable(iter(closed)), prefetch=4)
    next(iterator)
    iterator.close()
    assert closed.closed
    with pytest.raises(StopIteration):
        next(iterator)

    in_with = Counting(100)
    with bp.to_iterable(bp.from_iterable(iter(in_with))) as inner:
        assert next(inner) == 0
    assert in_with.closed

    collected = Counting(100)
    dropped = bp.to_iterable(bp.from_iterable(iter(collected)))
    next(dropped)
    del dropped
    gc.collect()
    assert collected.closed


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    iterator = bp.to_iterable(bp.from_iterable(failing()))
    assert next(iterator) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)


def test_prefetch_must_be_a_positive_int() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match=r"prefetch must be >= 1, got"):
            bp.to_iterable(bp.from_iterable([1]), prefetch=bad)
    for wrong in (1.5, True):
        with pytest.raises(TypeError, match=r"prefetch must be an int, got"):
            bp.to_iterable(bp.from_iterable([1]), prefetch=wrong)  # type: ignore[arg-type]


class _ThreadedCounter(Drain[int, int]):
    """A source that produces on another thread, one scheduled drain per request."""

    def __init__(self, downstream: Subscriber[int], count: int, threads: set[int]) -> None:
        super().__init__(downstream, deliver_on=NewThreadScheduler())
        self._next = 0
        self._count = count
        self._threads = threads

    def _emit(self, on_next: Callable[[int], None], limit: int) -> int:
        self._threads.add(threading.get_ident())
        emitted = 0
        while emitted < limit and self._next < self._count:
            on_next(self._next)
            self._next += 1
            emitted += 1
        if self._next == self._count:
            self._done = True
        return emitted


def test_works_across_threads_with_an_asynchronous_source() -> None:
    threads: set[int] = set()

    def subscribe(subscriber: Subscriber[int], _: Any) -> Subscription:
        drain = _ThreadedCounter(subscriber, 5_000, threads)
        drain.start(None, None)
        return drain

    source: bp.Flowable[int] = bp.Flowable(subscribe)
    assert list(bp.to_iterable(source, prefetch=32)) == list(range(5_000))
    assert threads
    assert threading.get_ident() not in threads


@pytest.mark.needs("runs")
def test_a_stage_of_ours_hands_the_consumer_runs_not_single_items() -> None:
    runs: list[int] = []
    arrive = _Channel._arrive_batch

    def counted(self: _Channel[int], values: list[int]) -> None:
        runs.append(len(values))
        arrive(self, values)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Channel, "_arrive_batch", counted)
        got = list(bp.to_iterable(bp.from_iterable(range(200)).pipe(bp.bounded_buffer(16))))
    assert got == list(range(200))
    # The buffer is asked 16 at a time and each answer goes straight on (the consumer asked
    # for 64) as one run: never an item at a time.
    assert runs == [16] * 12 + [8]


def test_a_run_beyond_what_was_requested_is_refused_after_what_fits() -> None:
    channel: _Channel[int] = _Channel(prefetch=2)
    channel._arrive_batch([1, 2, 3])
    assert list(channel.items) == [1, 2]
    assert isinstance(channel.error, bp.BufferOverflowError)
    assert channel.finished


def test_every_consumer_thread_waiting_at_the_end_sees_the_end() -> None:
    subject: Subject[int] = Subject()
    iterator = bp.to_iterable(subject.pipe(bp.bounded_buffer(4)))
    ended: list[str] = []

    def consume() -> None:
        for _ in iterator:
            pass
        ended.append(threading.current_thread().name)

    subject.on_next(0)  # nothing subscribed yet: the first next() subscribes
    consumers = [threading.Thread(target=consume, name=f"c{i}") for i in range(3)]
    for thread in consumers:
        thread.start()
    deadline = time.monotonic() + 10
    while iterator._channel.waiting < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert iterator._channel.waiting == 3
    subject.on_completed()
    for thread in consumers:
        thread.join(10)
        assert not thread.is_alive()
    assert sorted(ended) == ["c0", "c1", "c2"]
