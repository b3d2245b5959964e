"""circuit_break with an async action: awaited on the loop, call_timeout, a clear error with
no loop to run it."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import pytest
import reactivex
from _aio_kit import collect, run, within
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.testing import TestSubscriber


def test_an_async_action_is_awaited_and_its_results_come_in_order() -> None:
    async def main() -> None:
        async def fetch(x: int) -> str:
            await asyncio.sleep(0.001 * (5 - x % 5))
            return f"r{x}"

        flow = bp.from_iterable(range(10)).pipe(bp.circuit_break(fetch))
        assert [x async for x in flow] == [f"r{x}" for x in range(10)]

    run(main)


def test_failures_of_an_async_action_open_the_breaker_and_stop_the_calls() -> None:
    async def main() -> None:
        calls: list[int] = []

        async def failing(x: int) -> int:
            calls.append(x)
            await asyncio.sleep(0)
            raise ConnectionError("down")

        flow = bp.from_iterable(range(10)).pipe(
            bp.circuit_break(failing, failure_threshold=3, on_failure="error")
        )
        with pytest.raises(bp.CircuitOpenError) as raised:
            await collect(flow, [])
        assert calls == [0, 0, 0]
        assert isinstance(raised.value.__cause__, ConnectionError)

    run(main)


def test_an_action_returning_an_awaitable_is_awaited_too() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        def fetch(x: int) -> asyncio.Future[int]:
            future = loop.create_future()
            loop.call_later(0.001, future.set_result, x + 1)
            return future

        flow = bp.from_iterable(range(5)).pipe(bp.circuit_break(fetch))
        assert [x async for x in flow] == [1, 2, 3, 4, 5]

    run(main)


def test_an_async_call_past_call_timeout_is_cancelled_and_counts_as_a_failure() -> None:
    async def main() -> None:
        cancelled: list[int] = []

        async def slow(x: int) -> int:
            try:
                await asyncio.sleep(5 if x == 1 else 0)
            except asyncio.CancelledError:
                cancelled.append(x)
                raise
            return x

        skipped: list[tuple[int, Exception]] = []
        flow = bp.from_iterable(range(4)).pipe(
            bp.circuit_break(
                slow,
                call_timeout=0.05,
                on_failure="skip",
                on_skip=lambda item, error: skipped.append((item, error)),
                scheduler=AsyncIOScheduler(asyncio.get_running_loop()),
            )
        )
        assert [x async for x in flow] == [0, 2, 3]
        assert cancelled == [1]
        assert [item for item, _ in skipped] == [1]
        assert isinstance(skipped[0][1], TimeoutError)
        assert "call_timeout=0.05" in str(skipped[0][1])

    run(main)


def test_call_timeout_for_an_observable_action_runs_on_virtual_time() -> None:
    scheduler = TestScheduler()

    def call(x: int) -> reactivex.Observable[int]:
        return reactivex.timer(5.0 if x == 1 else 1.0, scheduler=scheduler).pipe(
            ops.map(lambda _: x)
        )

    subscriber: TestSubscriber[int] = TestSubscriber(scheduler=scheduler)
    bp.from_iterable(range(3)).pipe(
        bp.circuit_break(call, call_timeout=2.0, failure_threshold=1, on_failure="error")
    ).subscribe(subscriber, scheduler=scheduler)
    scheduler.advance_by(10.0)
    assert subscriber.values == [0]
    assert isinstance(subscriber.errors[0], bp.CircuitOpenError)
    assert isinstance(subscriber.errors[0].__cause__, TimeoutError)
    assert [m.time for m in subscriber.messages] == [1.0, 3.0]  # timed out 2s after the call


def test_a_synchronous_call_longer_than_call_timeout_is_a_failure() -> None:
    def slow(x: int) -> int:
        if x == 0:
            time.sleep(0.05)
        return x

    subscriber: TestSubscriber[int] = TestSubscriber()
    bp.from_iterable(range(3)).pipe(
        bp.circuit_break(slow, call_timeout=0.01, on_failure="skip", on_skip=lambda *_: None)
    ).subscribe(subscriber)
    assert subscriber.values == [1, 2]


def test_an_async_action_with_no_loop_fails_at_subscribe_saying_what_to_pass() -> None:
    async def fetch(x: int) -> int:
        return x

    subscriber: TestSubscriber[int] = TestSubscriber()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no "coroutine was never awaited"
        bp.from_iterable(range(3)).pipe(bp.circuit_break(fetch)).subscribe(subscriber)
    assert subscriber.values == []
    assert len(subscriber.errors) == 1
    message = str(subscriber.errors[0])
    assert "circuit_break with an async action needs an asyncio event loop" in message
    assert "AsyncIOScheduler" in message


def test_an_awaitable_result_with_no_loop_fails_the_call_without_a_warning() -> None:
    async def fetch(x: int) -> int:
        return x

    def wrapped(x: int) -> Any:
        return fetch(x)  # not an async def itself: seen only when it returns

    subscriber: TestSubscriber[int] = TestSubscriber()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bp.from_iterable(range(3)).pipe(
            bp.circuit_break(wrapped, failure_threshold=1, on_failure="error")
        ).subscribe(subscriber)
    assert isinstance(subscriber.errors[0], bp.CircuitOpenError)
    assert "needs an asyncio event loop" in str(subscriber.errors[0].__cause__)


def test_an_async_action_called_from_another_thread_runs_on_the_schedulers_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def fetch(x: int) -> int:
            assert asyncio.get_running_loop() is loop
            await asyncio.sleep(0)
            return x * 2

        flow = bp.from_iterable(range(20)).pipe(
            bp.circuit_break(fetch, scheduler=AsyncIOThreadSafeScheduler(loop))
        )
        values = await within(asyncio.to_thread(lambda: list(bp.to_iterable(flow))))
        assert values == [x * 2 for x in range(20)]

    run(main)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, "call_timeout must be > 0, got 0"),
        ("1", TypeError, "call_timeout must be None or a number of seconds, got '1'"),
    ],
)
def test_call_timeout_is_checked_at_construction(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        bp.circuit_break(lambda x: x, call_timeout=value)  # type: ignore[call-overload]
    assert str(raised.value) == message
