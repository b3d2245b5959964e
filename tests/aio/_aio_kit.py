"""Helpers for tests on a real event loop: every wait has a time limit, and the demand rule
suite runs against sources whose items arrive on the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from reactivex import Observable, abc

from rx_backpressure import Flowable, Subscriber, Subscription
from rx_backpressure.testing import verify_flowable

_T = TypeVar("_T")

LIMIT = 10.0
"""Seconds any one test may wait for the loop: a hang fails instead of stalling the run."""


def run(main: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``main()`` on a fresh event loop, failing it after :data:`LIMIT` seconds."""

    async def limited() -> _T:
        return await asyncio.wait_for(main(), LIMIT)

    return asyncio.run(limited())


async def within(awaitable: Awaitable[_T]) -> _T:
    """Await with the time limit."""
    return await asyncio.wait_for(awaitable, LIMIT)


async def collect(items: AsyncIterable[_T], into: list[_T]) -> None:
    """Append every item to ``into`` (what came before an error stays there)."""
    async for item in items:
        into.append(item)


async def verify_on_loop(
    factory: Callable[[int, asyncio.AbstractEventLoop], Observable[Any]], **options: Any
) -> None:
    """``verify_flowable`` from a worker thread, with this loop running the source.

    The suite asks, then looks at once; each request and cancel made from the worker thread
    therefore waits until the loop has nothing left to do for the source (no task of its
    own running) before it returns. Signals still come on the loop's thread, and requests
    made inside ``on_next`` go straight through, as they would without this wrapper.
    """
    loop = asyncio.get_running_loop()
    busy = asyncio.all_tasks()  # the test's own tasks, waiting for the suite

    def settled(n: int) -> Observable[Any]:
        return _settling(factory(n, loop), loop, busy)

    job = asyncio.ensure_future(asyncio.to_thread(verify_flowable, settled, **options))
    busy.add(job)
    await within(job)


async def _quiet(busy: set[asyncio.Task[Any]]) -> None:
    me = asyncio.current_task()
    idle = 0
    while idle < 5:
        await asyncio.sleep(0)
        others = [t for t in asyncio.all_tasks() if t is not me and t not in busy]
        idle = 0 if others else idle + 1


def _settling(
    inner: Observable[Any], loop: asyncio.AbstractEventLoop, busy: set[asyncio.Task[Any]]
) -> Flowable[Any]:
    def settle() -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the worker thread: wait for the loop to finish its part
            asyncio.run_coroutine_threadsafe(_quiet(busy), loop).result(LIMIT)

    def subscribe(subscriber: Subscriber[Any], scheduler: abc.SchedulerBase | None) -> Subscription:
        proxy = _Proxy(subscriber, settle)
        inner.subscribe(proxy, scheduler=scheduler)
        settle()
        return proxy

    return Flowable(subscribe)


class _Proxy(Subscription, abc.ObserverBase[Any]):
    def __init__(self, downstream: Subscriber[Any], settle: Callable[[], None]) -> None:
        self._downstream: Subscriber[Any] | None = downstream
        self._upstream: Subscription | None = None
        self._settle = settle

    def on_subscribe(self, subscription: Subscription) -> None:
        self._upstream = subscription
        assert self._downstream is not None
        self._downstream.on_subscribe(self)

    def on_next(self, value: Any) -> None:
        if self._downstream is not None:
            self._downstream.on_next(value)

    def on_error(self, error: Exception) -> None:
        if self._downstream is not None:
            self._downstream.on_error(error)

    def on_completed(self) -> None:
        if self._downstream is not None:
            self._downstream.on_completed()

    def request(self, n: int) -> None:
        assert self._upstream is not None
        self._upstream.request(n)
        self._settle()

    def cancel(self) -> None:
        self._downstream = None
        if self._upstream is not None:
            self._upstream.cancel()
        self._settle()
