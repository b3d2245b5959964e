"""to_async_iterable and Flowable.__aiter__: async for with bounded prefetch, exits that cancel."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import reactivex
from _aio_kit import collect, run, within
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.testing import RecordingFlowable


def _recording(n: int) -> RecordingFlowable[int]:
    return RecordingFlowable(bp.from_iterable(range(n)), TestScheduler())


def _generator(n: int, reads: list[object]) -> Iterator[int]:
    try:
        for i in range(n):
            reads.append(i)
            yield i
    finally:
        reads.append("closed")


def test_async_for_asks_for_prefetch_then_again_once_three_quarters_are_consumed() -> None:
    async def main() -> None:
        source = _recording(20)
        seen = [x async for x in bp.to_async_iterable(source, prefetch=8)]
        assert seen == list(range(20))
        assert [event.n for event in source.requests] == [8, 6, 6]  # 20 items: done

    run(main)


def test_flowable_async_for_prefetches_64() -> None:
    async def main() -> None:
        source = _recording(100)
        assert [x async for x in source] == list(range(100))
        assert [event.n for event in source.requests] == [64, 48]

    run(main)


def test_break_cancels_upstream_and_closes_the_generator() -> None:
    async def main() -> None:
        reads: list[object] = []
        async for x in bp.to_async_iterable(bp.from_iterable(_generator(1000, reads)), prefetch=4):
            if x == 5:
                break
        # 6 consumed and 4 requested beyond them (asked 4, then 3 and 3): never more
        assert reads == [*range(10), "closed"]

    run(main)


def test_an_exception_in_the_loop_body_cancels_upstream() -> None:
    async def main() -> None:
        reads: list[object] = []

        async def body() -> None:
            async for x in bp.from_iterable(_generator(1000, reads)):
                if x == 2:
                    raise KeyError(x)

        with pytest.raises(KeyError):
            await body()
        assert reads[-1] == "closed"

    run(main)


def test_aclose_and_async_with_cancel_upstream() -> None:
    async def main() -> None:
        reads: list[object] = []
        iterator = bp.to_async_iterable(bp.from_iterable(_generator(1000, reads)), prefetch=2)
        assert await anext(iterator) == 0
        await iterator.aclose()
        assert reads[-1] == "closed"
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)
        more: list[object] = []
        async with bp.to_async_iterable(bp.from_iterable(_generator(1000, more))) as items:
            assert await anext(items) == 0
        assert more[-1] == "closed"

    run(main)


def test_cancelling_the_consuming_task_cancels_upstream() -> None:
    async def main() -> None:
        cancelled = asyncio.Event()
        subject: Subject[int] = Subject()
        waiting = asyncio.Event()

        async def consume() -> None:
            async for _ in bp.to_async_iterable(subject.pipe(_on_dispose(cancelled.set))):
                pass

        task = asyncio.ensure_future(consume())
        loop = asyncio.get_running_loop()
        loop.call_soon(waiting.set)
        await within(waiting.wait())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await within(task)
        assert cancelled.is_set()

    run(main)


def _on_dispose(action: Any) -> Any:
    """An operator that calls ``action`` when its subscription is disposed."""

    def operator(source: reactivex.Observable[int]) -> reactivex.Observable[int]:
        def subscribe(observer: Any, scheduler: Any = None) -> reactivex.abc.DisposableBase:
            link = source.subscribe(observer, scheduler=scheduler)

            def dispose() -> None:
                action()
                link.dispose()

            return reactivex.disposable.Disposable(dispose)

        return reactivex.Observable(subscribe)

    return operator


def test_an_error_is_raised_from_anext_after_the_items_before_it() -> None:
    async def main() -> None:
        source = reactivex.concat(reactivex.of(1, 2), reactivex.throw(ValueError("upstream")))
        seen: list[int] = []
        with pytest.raises(ValueError, match="upstream"):
            await collect(bp.to_async_iterable(source), seen)
        assert seen == [1, 2]

    run(main)


def test_items_from_a_producer_thread_arrive_in_order_through_a_blocking_buffer() -> None:
    async def main() -> None:
        subject: Subject[int] = Subject()

        def produce() -> None:
            for i in range(2000):
                subject.on_next(i)  # waits for room in the buffer: real backpressure
            subject.on_completed()

        producer = threading.Thread(target=produce)
        asyncio.get_running_loop().call_soon(producer.start)  # once async for has subscribed
        seen = [x async for x in bp.to_async_iterable(subject.pipe(bp.bounded_buffer(256)))]
        await within(asyncio.to_thread(producer.join, 5))
        assert seen == list(range(2000))

    run(main)


def test_a_burst_from_a_producer_thread_wakes_the_consumer_once() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        original = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal wake_ups
            wake_ups += 1
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
        subject: Subject[int] = Subject()
        iterator = bp.to_async_iterable(subject)
        first = asyncio.ensure_future(anext(iterator))
        await asyncio.sleep(0.01)  # subscribed, and waiting for an item

        def burst() -> None:
            for i in range(50):
                subject.on_next(i)

        producer = threading.Thread(target=burst)
        producer.start()
        producer.join(5)  # blocks the loop on purpose: all 50 arrive while the consumer waits
        assert not producer.is_alive()
        assert await within(first) == 0
        assert [await anext(iterator) for _ in range(49)] == list(range(1, 50))
        assert wake_ups == 1  # one wake-up for the batch of 50

    run(main)


def test_a_plain_observable_may_push_a_bounded_amount_beyond_demand() -> None:
    async def main() -> None:
        assert [x async for x in bp.to_async_iterable(reactivex.of(*range(100)))] == list(
            range(100)
        )
        seen: list[int] = []
        with pytest.raises(bp.BufferOverflowError, match="to_async_iterable"):
            await collect(bp.to_async_iterable(reactivex.from_iterable(range(10_000))), seen)
        assert seen == list(range(len(seen)))
        assert len(seen) == 8 + bp.PUSH_BUFFER + 56  # asked for, held, then the rest of 64

    run(main)


def test_waiting_for_items_never_blocks_the_loop() -> None:
    async def main() -> None:
        subject: Subject[int] = Subject()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.ensure_future(ticker())
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, subject.on_next, 1)
        loop.call_later(0.06, subject.on_completed)
        assert [x async for x in bp.to_async_iterable(subject)] == [1]
        ticking.cancel()
        assert ticks > 2

    run(main)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"source": [1]}, TypeError, "source must be an Observable, got [1]"),
        ({"prefetch": 0}, ValueError, "prefetch must be >= 1, got 0"),
        ({"prefetch": 2.0}, TypeError, "prefetch must be an int, got 2.0"),
    ],
)
def test_parameters_are_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"source": bp.from_iterable([1]), **kwargs}
    source = arguments.pop("source")
    with pytest.raises(error) as raised:
        bp.to_async_iterable(source, **arguments)
    assert str(raised.value) == message


def test_two_producer_threads_and_an_early_exit_never_hang_or_reorder() -> None:
    async def one_round(seed: int) -> None:
        rng = random.Random(seed)
        subject: Subject[tuple[int, int]] = Subject()
        stop_after = rng.randrange(1, 400)
        done = threading.Event()

        def produce(who: int) -> None:
            for i in range(200):
                if done.is_set():
                    break
                subject.on_next((who, i))

        threads = [threading.Thread(target=produce, args=(who,)) for who in (0, 1)]
        loop = asyncio.get_running_loop()
        for thread in threads:
            loop.call_soon(thread.start)
        seen: list[tuple[int, int]] = []
        flow = subject.pipe(bp.bounded_buffer(8))
        async for item in bp.to_async_iterable(flow, prefetch=rng.choice([1, 4, 64])):
            seen.append(item)
            if len(seen) == stop_after:
                break
        done.set()
        for thread in threads:
            await within(asyncio.to_thread(thread.join, 5))
            assert not thread.is_alive()
        for who in (0, 1):
            mine = [i for w, i in seen if w == who]
            assert mine == list(range(len(mine)))

    async def main() -> None:
        for seed in range(20):
            await one_round(seed)

    run(main)


def test_close_from_another_thread_ends_a_waiting_anext() -> None:
    async def main() -> None:
        iterator = bp.to_async_iterable(Subject[int]())
        waiting = asyncio.ensure_future(anext(iterator))
        await asyncio.sleep(0.01)
        await within(asyncio.to_thread(iterator.close))
        with pytest.raises(StopAsyncIteration):
            await within(waiting)

    run(main)
