"""from_async_iterable: reads an async iterator only as far as demand reaches, on the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _aio_kit import run, verify_on_loop, within
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

import rx_backpressure as bp
from rx_backpressure.testing import TestSubscriber


async def _counted(n: int, reads: list[object], *, pause: bool = True) -> AsyncIterator[int]:
    try:
        for i in range(n):
            reads.append(i)
            if pause:
                await asyncio.sleep(0)
            yield i
    finally:
        reads.append("closed")


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_each_request_reads_exactly_that_many_items() -> None:
    async def main() -> None:
        reads: list[object] = []
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
        bp.from_async_iterable(_counted(100, reads)).subscribe(subscriber)
        await asyncio.sleep(0.01)
        assert reads == []
        for n, total in ((2, 2), (3, 5), (1, 6)):
            subscriber.request(n)
            await within(_until(lambda total=total: len(subscriber.values) == total))
            await asyncio.sleep(0.01)  # and nothing more is read meanwhile
            assert reads == list(range(total))
        assert subscriber.values == [0, 1, 2, 3, 4, 5]

    run(main)


def test_the_end_is_seen_with_the_next_request_after_the_last_item() -> None:
    async def main() -> None:
        reads: list[object] = []
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
        bp.from_async_iterable(_counted(2, reads)).subscribe(subscriber)
        await within(_until(lambda: len(subscriber.values) == 2))
        assert not subscriber.completed
        subscriber.request(1)
        await within(_until(lambda: subscriber.completed))
        assert subscriber.values == [0, 1]

    run(main)


def test_cancel_stops_a_read_in_progress_and_closes_the_generator() -> None:
    async def main() -> None:
        reads: list[object] = []
        started = asyncio.Event()

        async def slow() -> AsyncIterator[int]:
            try:
                yield 0
                started.set()
                await asyncio.sleep(60)
                yield 1
            finally:
                reads.append("closed")

        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
        bp.from_async_iterable(slow()).subscribe(subscriber)
        await within(started.wait())
        subscriber.cancel()
        await within(_until(lambda: reads == ["closed"]))
        assert subscriber.values == [0]
        assert not subscriber.errors

    run(main)


def test_leaving_async_for_early_closes_the_generator_and_reads_nothing_more() -> None:
    async def main() -> None:
        reads: list[object] = []
        async for x in bp.to_async_iterable(
            bp.from_async_iterable(_counted(100, reads)), prefetch=4
        ):
            if x == 1:
                break
        await within(_until(lambda: "closed" in reads))
        assert reads[-1] == "closed"
        assert reads[:-1] == list(range(len(reads) - 1))
        assert len(reads) - 1 <= 4  # asked for 4: never read beyond, a read under way cancelled

        more: list[object] = []

        async def body() -> None:
            async for x in bp.from_async_iterable(_counted(100, more)):
                if x == 2:
                    raise KeyError(x)

        with pytest.raises(KeyError):
            await body()
        await within(_until(lambda: "closed" in more))

    run(main)


def test_an_exception_from_the_iterator_reaches_on_error_after_the_items() -> None:
    async def main() -> None:
        async def failing() -> AsyncIterator[int]:
            yield 1
            raise ValueError("broken source")

        subscriber: TestSubscriber[int] = TestSubscriber()
        bp.from_async_iterable(failing()).subscribe(subscriber)
        await within(_until(lambda: subscriber.errors))
        assert subscriber.values == [1]
        assert str(subscriber.errors[0]) == "broken source"

    run(main)


def test_requests_from_another_thread_are_read_on_the_loop() -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        read_on: list[int] = []

        async def source() -> AsyncIterator[int]:
            for i in range(50):
                read_on.append(threading.get_ident())
                await asyncio.sleep(0)
                yield i

        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
        flowable = bp.from_async_iterable(source(), loop=asyncio.get_running_loop())

        def consumer() -> None:
            flowable.subscribe(subscriber)
            for _ in range(50):
                subscriber.request(1)

        worker = threading.Thread(target=consumer)
        worker.start()
        await within(asyncio.to_thread(worker.join, 5))
        assert not worker.is_alive()
        await within(_until(lambda: len(subscriber.values) == 50))
        assert subscriber.values == list(range(50))
        assert set(read_on) == {loop_thread}
        assert not subscriber.violations

    run(main)


def test_an_iterator_that_never_suspends_is_read_in_one_pass() -> None:
    async def main() -> None:
        reads: list[object] = []
        items = [x async for x in bp.from_async_iterable(_counted(1000, reads, pause=False))]
        assert items == list(range(1000))

    run(main)


def test_subscribing_with_no_loop_fails_saying_what_to_pass() -> None:
    async def empty() -> AsyncIterator[int]:
        yield 1

    source = empty()
    subscriber: TestSubscriber[int] = TestSubscriber()
    bp.from_async_iterable(source).subscribe(subscriber)
    assert len(subscriber.errors) == 1
    message = str(subscriber.errors[0])
    assert "needs an asyncio event loop" in message
    assert "loop=" in message
    assert "AsyncIOScheduler" in message


def test_the_loop_of_an_asyncio_scheduler_is_used_when_none_runs_here() -> None:
    async def main() -> None:
        reads: list[object] = []
        flowable = bp.from_async_iterable(_counted(5, reads))
        scheduler = AsyncIOThreadSafeScheduler(asyncio.get_running_loop())
        subscriber: TestSubscriber[int] = TestSubscriber()
        await within(asyncio.to_thread(flowable.subscribe, subscriber, scheduler=scheduler))
        await within(_until(lambda: subscriber.completed))
        assert subscriber.values == [0, 1, 2, 3, 4]

    run(main)


class _Greedy(bp.Subscription):
    """Sends everything at the first request, whatever was asked for."""

    def __init__(self, subscriber: bp.Subscriber[int], n: int) -> None:
        self._subscriber: bp.Subscriber[int] | None = subscriber
        self._n = n

    def request(self, n: int) -> None:
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            for i in range(self._n):
                subscriber.on_next(i)
            subscriber.on_completed()

    def cancel(self) -> None:
        self._subscriber = None


def _greedy(n: int) -> bp.Flowable[int]:
    def subscribe(subscriber: bp.Subscriber[int], _: object) -> bp.Subscription:
        subscription = _Greedy(subscriber, n)
        subscriber.on_subscribe(subscription)
        return subscription

    return bp.Flowable(subscribe)


def test_the_rule_suite_on_the_loop_still_catches_a_broken_source() -> None:
    async def main() -> None:
        await verify_on_loop(lambda n, loop: _greedy(n))

    with pytest.raises(AssertionError, match="spec101"):
        run(main)


def test_passes_the_demand_rule_suite() -> None:
    async def numbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> None:
        await verify_on_loop(lambda n, loop: bp.from_async_iterable(numbers(n), loop=loop))

    run(main)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"source": [1, 2]}, TypeError, "source must be an async iterable, got [1, 2]"),
        ({"loop": "loop"}, TypeError, "loop must be None or an asyncio event loop, got 'loop'"),
    ],
)
def test_parameters_are_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    async def nothing() -> AsyncIterator[int]:
        yield 1

    arguments: dict[str, Any] = {"source": nothing(), **kwargs}
    source = arguments.pop("source")
    with pytest.raises(error) as raised:
        bp.from_async_iterable(source, **arguments)
    assert str(raised.value) == message
