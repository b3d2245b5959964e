"""map_async: awaits fn per item, never more than concurrency at once, in order or as done."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest
from _aio_kit import collect, run, verify_on_loop, within
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.testing import RecordingFlowable, TestSubscriber


class _Calls:
    """An async function that records how many of its calls are in flight."""

    def __init__(self, durations: dict[int, float] | None = None) -> None:
        self.durations = durations or {}
        self.in_flight = 0
        self.peak = 0
        self.started: list[int] = []
        self.cancelled: list[int] = []

    async def __call__(self, x: int) -> int:
        self.started.append(x)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.durations.get(x, 0.001))
        except asyncio.CancelledError:
            self.cancelled.append(x)
            raise
        finally:
            self.in_flight -= 1
        return x * 10


def test_never_more_than_concurrency_calls_in_flight() -> None:
    async def main() -> None:
        calls = _Calls({x: random.uniform(0, 0.005) for x in range(200)})
        results = [
            x async for x in bp.from_iterable(range(200)).pipe(bp.map_async(calls, concurrency=4))
        ]
        assert results == [x * 10 for x in range(200)]
        assert calls.peak == 4

    run(main)


def test_ordered_results_keep_input_order_with_random_call_durations() -> None:
    async def main() -> None:
        rng = random.Random(7)
        calls = _Calls({x: rng.uniform(0, 0.01) for x in range(100)})
        flow = bp.from_iterable(range(100)).pipe(bp.map_async(calls, concurrency=8))
        assert [x async for x in flow] == [x * 10 for x in range(100)]

    run(main)


def test_unordered_results_come_as_calls_end() -> None:
    async def main() -> None:
        calls = _Calls({0: 0.05, 1: 0.001, 2: 0.02})
        flow = bp.from_iterable(range(3)).pipe(bp.map_async(calls, ordered=False))
        assert [x async for x in flow] == [10, 20, 0]

    run(main)


def test_upstream_is_asked_only_for_free_slots_and_only_against_demand() -> None:
    async def main() -> None:
        source = RecordingFlowable(bp.from_iterable(range(10)), TestScheduler())
        calls = _Calls()
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
        source.pipe(bp.map_async(calls, concurrency=3)).subscribe(subscriber)
        await within(_until(lambda: len(subscriber.values) == 2))
        await asyncio.sleep(0.01)
        assert calls.started == [0, 1]  # demand for 2: two calls, though 3 could run
        subscriber.request(8)
        await within(_until(lambda: subscriber.completed))
        assert subscriber.values == [x * 10 for x in range(10)]
        assert calls.peak <= 3
        asked = [event.n for event in source.requests]
        assert asked[0] == 2
        assert sum(n for n in asked if n is not None) == 10

    run(main)


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_an_exception_fails_the_stream_at_once_and_cancels_the_calls_still_running() -> None:
    async def main() -> None:
        calls = _Calls({0: 5.0, 1: 5.0})

        async def call(x: int) -> int:
            if x == 2:
                await asyncio.sleep(0.01)
                raise ValueError("call 2 failed")
            return await calls(x)

        subscriber: TestSubscriber[int] = TestSubscriber()
        bp.from_iterable(range(5)).pipe(bp.map_async(call, concurrency=3)).subscribe(subscriber)
        await within(_until(lambda: subscriber.errors))
        assert str(subscriber.errors[0]) == "call 2 failed"
        assert subscriber.values == []
        await within(_until(lambda: sorted(calls.cancelled) == [0, 1]))

    run(main)


def test_a_call_past_timeout_fails_the_stream_with_timeout_error() -> None:
    async def main() -> None:
        calls = _Calls({3: 5.0})
        flow = bp.from_iterable(range(10)).pipe(bp.map_async(calls, concurrency=2, timeout=0.05))
        seen: list[int] = []
        with pytest.raises(TimeoutError, match=r"timeout=0.05s"):
            await collect(flow, seen)
        assert seen == [0, 10, 20]
        assert calls.cancelled == [3]

    run(main)


def test_a_function_that_raises_or_returns_no_awaitable_fails_the_stream() -> None:
    async def main() -> None:
        def sync(x: int) -> Any:
            return x

        with pytest.raises(TypeError, match="fn must return an awaitable, got 0"):
            async for _ in bp.from_iterable(range(3)).pipe(bp.map_async(sync)):
                pass

        def raising(x: int) -> Any:
            raise KeyError(x)

        with pytest.raises(KeyError):
            async for _ in bp.from_iterable(range(3)).pipe(bp.map_async(raising)):
                pass

    run(main)


def test_cancel_cancels_the_calls_in_flight() -> None:
    async def main() -> None:
        calls = _Calls({0: 0.001, 1: 5.0, 2: 5.0, 3: 5.0})
        async for _ in bp.from_iterable(range(4)).pipe(bp.map_async(calls, ordered=False)):
            break  # the first result: 1, 2 and 3 are still running
        await within(_until(lambda: len(calls.cancelled) == 3))
        assert sorted(calls.cancelled) == [1, 2, 3]

    run(main)


def test_items_requested_from_another_thread_are_called_on_the_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        called_on: list[int] = []

        async def call(x: int) -> int:
            called_on.append(threading.get_ident())
            await asyncio.sleep(0)
            return x

        flow = bp.from_iterable(range(30)).pipe(bp.map_async(call, loop=loop))
        values = await within(asyncio.to_thread(lambda: list(bp.to_iterable(flow, prefetch=4))))
        assert values == list(range(30))
        assert set(called_on) == {loop_thread}

    run(main)


def test_a_plain_upstream_waits_for_slots_in_a_bounded_queue() -> None:
    import reactivex

    async def main() -> None:
        calls = _Calls()
        flow = reactivex.of(*range(50)).pipe(bp.map_async(calls, concurrency=2))
        assert [x async for x in flow] == [x * 10 for x in range(50)]
        assert calls.peak <= 2
        too_many = reactivex.from_iterable(range(1000)).pipe(bp.map_async(calls))
        with pytest.raises(bp.BufferOverflowError):
            async for _ in too_many:
                pass

    run(main)


def test_subscribing_with_no_loop_fails_saying_what_to_pass() -> None:
    async def call(x: int) -> int:
        return x

    subscriber: TestSubscriber[int] = TestSubscriber()
    bp.from_iterable(range(3)).pipe(bp.map_async(call)).subscribe(subscriber)
    assert len(subscriber.errors) == 1
    assert "map_async needs an asyncio event loop" in str(subscriber.errors[0])


@pytest.mark.parametrize("ordered", [True, False])
def test_passes_the_demand_rule_suite(ordered: bool) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def main() -> None:
        await verify_on_loop(
            lambda n, loop: bp.from_iterable(range(n)).pipe(
                bp.map_async(double, concurrency=3, ordered=ordered, loop=loop)
            )
        )

    run(main)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fn": 1}, TypeError, "fn must be callable, got 1"),
        ({"concurrency": 0}, ValueError, "concurrency must be >= 1, got 0"),
        ({"concurrency": True}, TypeError, "concurrency must be an int, got True"),
        ({"ordered": 1}, TypeError, "ordered must be a bool, got 1"),
        ({"timeout": 0}, ValueError, "timeout must be > 0, got 0"),
        ({"timeout": "1"}, TypeError, "timeout must be None or a number of seconds, got '1'"),
        ({"loop": 1}, TypeError, "loop must be None or an asyncio event loop, got 1"),
    ],
)
def test_parameters_are_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    async def call(x: int) -> int:
        return x

    arguments: dict[str, Any] = {"fn": call, **kwargs}
    fn = arguments.pop("fn")
    with pytest.raises(error) as raised:
        bp.map_async(fn, **arguments)
    assert str(raised.value) == message


def test_items_from_a_producer_thread_are_called_in_order_within_the_limit() -> None:
    from reactivex.subject import Subject

    async def main() -> None:
        loop = asyncio.get_running_loop()
        subject: Subject[int] = Subject()
        calls = _Calls({x: random.uniform(0, 0.002) for x in range(300)})

        def produce() -> None:
            for i in range(300):
                subject.on_next(i)  # waits while the buffer is full
            subject.on_completed()

        producer = threading.Thread(target=produce)
        loop.call_soon(producer.start)  # once async for has subscribed
        flow = subject.pipe(bp.bounded_buffer(16), bp.map_async(calls, concurrency=5))
        assert [x async for x in flow] == [x * 10 for x in range(300)]
        await within(asyncio.to_thread(producer.join, 5))
        assert calls.peak <= 5

    run(main)
