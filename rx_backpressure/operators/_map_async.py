"""map_async: call an async function for each item, at most ``concurrency`` calls at a time.

::

    map_async(fetch, concurrency=2)     a call takes 2 ticks; the one for b takes 4
    source:    abcd|                    (pull)
    request:   4-----
    upstream:  2-1-1-                   asked at 0, 2 and 4: only for free slots
    calls:     a and b at 0, c at 2 (a's slot), d at 4 (b's and c's: demand allows one)
    output:    --A-(B,C)-(D,|)          ordered: C, done at 4 like B, waited behind it

Each result takes a slot from the moment its item is called until it is emitted, so at most
``concurrency`` calls are in flight and, with ``ordered=True`` (the default), at most
``concurrency`` results are held waiting for an earlier one; ``ordered=False`` emits results
as calls end. Calls are made only for results the subscriber has asked for: a Flowable
upstream is asked for ``min(concurrency, demand)`` items minus those already taken.

A call that raises, returns something that is not awaitable, or runs past ``timeout``
seconds (``TimeoutError``, measured on the loop) fails the stream at once, ahead of held
results, and the calls still running are cancelled; so does a cancel. A plain (push)
upstream may have ``PUSH_BUFFER`` items waiting for a slot; one more fails the stream with
``BufferOverflowError`` after the results before it.

Defaults: ``concurrency=8``, ``ordered=True``, ``timeout=None`` (no limit), ``loop=None``:
calls run on the loop running where the subscription is made, else on ``loop``, else on
an ``AsyncIOScheduler``'s loop given as ``scheduler``; with none, ``on_error`` says what
to pass. ``fn`` is called on that loop's thread, whichever thread asked for items.
``name=None``: the stage's name in ``inspect`` is its call, e.g. ``map_async(fetch,
concurrency=8)``; it holds the items waiting for a slot and the slots taken (calls in
flight, results waiting for an earlier one), and its state shows ``in_flight``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar

from reactivex import Observable, abc

from .._aio import find_loop, no_loop_error, on_loop, run_on
from ..core import (
    PUSH_BUFFER,
    Drain,
    Flowable,
    Subscriber,
    call_name,
    check_callable,
    check_instance,
    check_int,
    check_seconds,
    lift,
    stage_name,
)

_T = TypeVar("_T")
_R = TypeVar("_R")


def map_async(
    fn: Callable[[_T], Awaitable[_R]],
    *,
    concurrency: int = 8,
    ordered: bool = True,
    timeout: float | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_R]]:
    """Emit ``await fn(item)`` for each item, with at most ``concurrency`` calls in flight.

    Raises ``TypeError`` at once for a non-callable ``fn``, a ``concurrency`` that is not
    an int, an ``ordered`` that is not a bool, a ``timeout`` that is not a number of
    seconds or a ``loop`` that is not an event loop; ``ValueError`` for ``concurrency < 1``
    or ``timeout <= 0``; ``TypeError`` for a ``name`` that is not a non-empty str.
    """
    check_callable("fn", fn)
    check_int("concurrency", concurrency)
    check_instance("ordered", ordered, bool, "a bool")
    check_seconds("timeout", timeout, allow_none=True)
    check_instance(
        "loop", loop, asyncio.AbstractEventLoop, "an asyncio event loop", allow_none=True
    )

    def default_name() -> str:
        options: dict[str, object] = {"concurrency": concurrency}
        if not ordered:
            options["ordered"] = ordered
        if timeout is not None:
            options["timeout"] = timeout
        return call_name("map_async", fn, **options)

    label = stage_name(name, default_name)

    def make(subscriber: Subscriber[_R]) -> _MapAsync[_T, _R]:
        return _MapAsync(subscriber, fn, concurrency, ordered, timeout, loop, label)

    return lift(make)


class _Slot(Generic[_R]):
    """One call, from its start until its result is emitted."""

    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: _R | None = None


class _MapAsync(Drain[_T, _R]):
    _log_as = "rx_backpressure.map_async"

    # Calls start and end on the loop's thread; results are emitted by the drain loop's
    # owner, whichever thread that is. _used, _asked and _taken belong to the owner;
    # _running (the tasks, for cancelling) to the loop's thread.

    def __init__(
        self,
        downstream: Subscriber[_R],
        fn: Callable[[_T], Awaitable[_R]],
        concurrency: int,
        ordered: bool,
        timeout: float | None,
        loop: asyncio.AbstractEventLoop | None,
        name: str | None = None,
    ) -> None:
        super().__init__(downstream, capacity=PUSH_BUFFER, name=name)
        self._fn = fn
        self._concurrency = concurrency
        self._ordered = ordered
        self._timeout = timeout
        self._loop = loop
        self._order: deque[_Slot[_R]] = deque()  # ordered: every slot, in input order
        self._ready: deque[_Slot[_R]] = deque()  # unordered: slots whose call has ended
        self._running: set[asyncio.Future[_R]] = set()
        self._used = 0  # slots taken: calls in flight and results not yet emitted
        self._asked = 0  # items asked of a Flowable upstream, in all
        self._taken = 0  # items taken off the queue to be called, in all
        self._posted = False  # a pass is on its way to the loop

    def start(self, source: Observable[_T] | None, scheduler: abc.SchedulerBase | None) -> None:
        self._loop = find_loop(self._loop, scheduler)
        if isinstance(source, Flowable) and source.push_source is None:
            self._capacity = self._concurrency  # never asked for more than that
        super().start(source, scheduler)
        if self._loop is None:
            self._violate(no_loop_error("map_async"))

    def _emit(self, on_next: Callable[[_R], None], limit: int) -> int:
        emitted = 0
        while emitted < limit:
            slot = self._result()
            if slot is None:
                break
            self._used -= 1
            try:
                on_next(slot.value)  # type: ignore[arg-type]  # set when done
            except Exception:
                self._refused = emitted + 1
                raise
            emitted += 1
            if self._cancelled:
                return emitted
        free = min(self._concurrency, limit - emitted) - self._used
        if free > 0 and self._queue and self._loop is not None:
            if on_loop(self._loop):
                for _ in range(min(free, len(self._queue))):
                    self._call(self._queue.popleft())
            elif not self._posted:
                self._posted = True
                run_on(self._loop, self._posted_pass)
        if self._upstream_flow:
            want = min(self._concurrency, limit - emitted) - self._used
            want -= self._asked - self._taken  # asked for and not yet called
            if want > 0:
                self._asked += want
                self._request_upstream(want)
        return emitted

    def _result(self) -> _Slot[_R] | None:
        if self._ordered:
            order = self._order
            if order and order[0].done:
                return order.popleft()
            return None
        try:
            return self._ready.popleft()
        except IndexError:
            return None

    def _posted_pass(self) -> None:
        self._posted = False
        self.drain()

    def _call(self, item: _T) -> None:
        """Start ``fn(item)`` in a slot (on the loop's thread)."""
        assert self._loop is not None
        self._taken += 1
        awaitable = self._fn(item)  # raising: the drain loop fails the stream
        if not inspect.isawaitable(awaitable):
            raise TypeError(f"map_async: fn must return an awaitable, got {awaitable!r}")
        if self._timeout is not None:
            awaitable = _within(awaitable, self._timeout)
        task = asyncio.ensure_future(awaitable, loop=self._loop)
        slot: _Slot[_R] = _Slot()
        self._used += 1
        if self._ordered:
            self._order.append(slot)
        self._running.add(task)
        task.add_done_callback(partial(self._settled, slot))

    def _settled(self, slot: _Slot[_R], task: asyncio.Future[_R]) -> None:
        self._running.discard(task)
        if self._cancelled:
            return
        if task.cancelled():
            self._violate(RuntimeError("map_async: a call was cancelled by someone else"))
            return
        error = task.exception()
        if error is not None:
            self._violate(error if isinstance(error, Exception) else RuntimeError(repr(error)))
            return
        slot.value = task.result()
        slot.done = True
        if not self._ordered:
            self._ready.append(slot)
        self.drain()

    def _holding(self) -> bool:
        return bool(self._queue) or self._used > 0

    def _held_count(self) -> int:
        # The slots of calls cancelled at the end are never given back: nothing is held.
        return 0 if self._finished else len(self._queue) + self._used

    def _stage_state(self) -> dict[str, object]:
        return {"in_flight": len(self._running)}

    def _release(self) -> None:
        if self._loop is not None and self._running:
            run_on(self._loop, self._cancel_calls)

    def _cancel_calls(self) -> None:
        for task in list(self._running):
            task.cancel()


async def _within(awaitable: Awaitable[_R], timeout: float) -> _R:
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError as err:
        raise TimeoutError(f"map_async: a call took longer than timeout={timeout}s") from err
