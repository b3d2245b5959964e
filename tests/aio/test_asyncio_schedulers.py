"""The timed operators run their timers on the event loop with an AsyncIOScheduler."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from _aio_kit import run, within
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler
from reactivex.subject import Subject

import rx_backpressure as bp

Operator = Callable[[Observable[Any]], Observable[Any]]


def _timed(
    make: Callable[[AsyncIOScheduler], Operator], items: int
) -> tuple[list[Any], float, set[int]]:
    """Items through the operator, consumed with async for; the time taken; delivering threads."""

    async def main() -> tuple[list[Any], float, set[int]]:
        loop = asyncio.get_running_loop()
        threads: set[int] = set()
        flow = bp.from_iterable(range(items)).pipe(
            make(AsyncIOScheduler(loop)),
            ops.do_action(lambda _: threads.add(threading.get_ident())),
        )
        began = loop.time()
        seen = [x async for x in flow]
        return seen, loop.time() - began, threads

    return run(main)


def test_rate_limit_spaces_items_on_the_loop() -> None:
    seen, took, threads = _timed(lambda s: bp.rate_limit(200, scheduler=s), 11)
    assert seen == list(range(11))
    assert took >= 10 / 200 * 0.9
    assert threads == {threading.get_ident()}


def test_token_bucket_passes_a_burst_then_refills_on_the_loop() -> None:
    seen, took, threads = _timed(lambda s: bp.token_bucket(5, 200, scheduler=s), 20)
    assert seen == list(range(20))
    assert took >= 15 / 200 * 0.9
    assert threads == {threading.get_ident()}


def test_bounded_buffer_delivers_on_the_loop() -> None:
    seen, _, threads = _timed(lambda s: bp.bounded_buffer(8, scheduler=s), 100)
    assert seen == list(range(100))
    assert threads == {threading.get_ident()}


def test_adaptive_batch_flushes_a_partial_batch_after_max_wait_on_the_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        subject: Subject[int] = Subject()
        flow = subject.pipe(
            bp.adaptive_batch(
                initial_size=10, min_size=1, max_wait=0.02, scheduler=AsyncIOScheduler(loop)
            )
        )
        for i, at in enumerate((0.001, 0.002, 0.003)):
            loop.call_later(at, subject.on_next, i)
        loop.call_later(0.3, subject.on_completed)
        began = loop.time()
        batches: list[tuple[list[int], float]] = []
        async for batch in flow:
            batches.append((batch, loop.time() - began))
        assert [batch for batch, _ in batches] == [[0, 1, 2]]
        assert 0.02 <= batches[0][1] < 0.25  # flushed by the timer, not by the end

    run(main)


def test_a_producer_thread_into_bounded_buffer_delivering_on_the_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        subject: Subject[int] = Subject()

        def produce() -> None:
            for i in range(500):
                subject.on_next(i)  # waits for room: 16 at most are held
            subject.on_completed()

        # From a producer thread, the thread-safe scheduler: AsyncIOScheduler is not.
        flow = subject.pipe(bp.bounded_buffer(16, scheduler=AsyncIOThreadSafeScheduler(loop)))
        producer = threading.Thread(target=produce)
        loop.call_soon(producer.start)  # once async for has subscribed
        seen = [x async for x in flow]
        await within(asyncio.to_thread(producer.join, 5))
        assert seen == list(range(500))

    run(main)


def test_without_a_scheduler_timer_threads_hand_items_to_the_loop() -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        delivered_on: set[int] = set()
        flow = bp.from_iterable(range(6)).pipe(
            bp.rate_limit(200), ops.do_action(lambda _: delivered_on.add(threading.get_ident()))
        )
        assert [x async for x in flow] == list(range(6))
        assert delivered_on - {loop_thread}  # timers on threads, consumed on the loop

    run(main)
