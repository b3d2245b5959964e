"""from_async_iterable: a pull source that reads an async iterator only as far as demand reaches.

::

    request:  2---------1--------1----
    reads:    a-b-------c--------(end)      one __anext__ at a time, on the loop
    output:   a-b-------c--------|

Each ``request(n)`` lets the reader await ``__anext__`` up to ``n`` more times, one at a
time, in one task on the event loop: nothing is read beyond demand, and an iterator that
never suspends is read without a trip round the loop per item. Like ``from_iterable``,
the end of an async generator is only seen when one more item is asked for, so
``on_completed`` comes with the next request after its last item.

Which loop: the one running where ``subscribe`` is called, else ``loop``, else the loop of
an ``AsyncIOScheduler`` passed to ``subscribe``; with none, ``on_error`` says what to pass.
A request from any thread is handed to that loop. An exception from the iterator goes to
``on_error``; cancel cancels a read in progress and then closes the iterator (``aclose()``)
on the loop. There is no queue of its own beyond demand and no default to tune.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from functools import partial
from typing import TypeVar

from reactivex import abc

from .._aio import find_loop, no_loop_error, report, run_on
from ..core import (
    UNBOUNDED,
    Drain,
    Flowable,
    Subscriber,
    Subscription,
    call_name,
    check_instance,
    stage_name,
)

_T = TypeVar("_T")

_closing: set[asyncio.Task[None]] = set()
"""``aclose()`` calls under way: the loop keeps only weak references to tasks."""


def from_async_iterable(
    source: AsyncIterable[_T],
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    name: str | None = None,
) -> Flowable[_T]:
    """A Flowable that awaits ``source``'s ``__anext__`` only for items requested.

    Each subscription calls ``source.__aiter__()`` afresh; an async generator (a one-shot
    iterator) can be subscribed once. ``loop`` is used when the subscribing thread runs
    no loop (a consumer on another thread). ``name`` is the stage's name in ``inspect``
    (default: its call, e.g. ``from_async_iterable(ticks)`` for an async generator).

    Raises ``TypeError`` at once for a ``source`` that is not an async iterable, a ``loop``
    that is not an event loop, or a ``name`` that is not a non-empty str.
    """
    check_instance("source", source, AsyncIterable, "an async iterable")
    check_instance(
        "loop", loop, asyncio.AbstractEventLoop, "an asyncio event loop", allow_none=True
    )
    label = stage_name(name, lambda: call_name("from_async_iterable", source))

    def subscribe(subscriber: Subscriber[_T], scheduler: abc.SchedulerBase | None) -> Subscription:
        found = find_loop(loop, scheduler)
        drain = _AsyncPull(subscriber, source, found, label)
        drain.start(None, None)
        if found is None:
            drain._upstream_terminated(no_loop_error("from_async_iterable"))
        return drain

    return Flowable(subscribe)


class _AsyncPull(Drain[_T, _T]):
    # The reader task is the producer: it hands each item to the drain (_accept), which
    # delivers it straight through when it can and holds it otherwise. Everything named
    # _reader, _budget and _iterator is touched on the loop's thread only.

    def __init__(
        self,
        downstream: Subscriber[_T],
        source: AsyncIterable[_T],
        loop: asyncio.AbstractEventLoop | None,
        name: str | None = None,
    ) -> None:
        super().__init__(downstream, name=name)
        self._source = source
        self._loop = loop
        self._iterator: AsyncIterator[_T] | None = None
        self._budget = 0  # reads allowed and not yet started
        self._reader: asyncio.Task[None] | None = None

    def _on_request(self, n: int) -> None:
        if self._loop is not None:
            run_on(self._loop, partial(self._allow, n))

    def _allow(self, n: int) -> None:
        if self._cancelled or self._done:
            return
        budget = self._budget + n
        self._budget = budget if budget < UNBOUNDED else UNBOUNDED
        if self._reader is None:
            assert self._loop is not None
            self._reader = self._loop.create_task(self._read())

    async def _read(self) -> None:
        try:
            iterator = self._iterator
            if iterator is None:
                iterator = self._iterator = aiter(self._source)
            while self._budget and not self._cancelled:
                if self._budget != UNBOUNDED:
                    self._budget -= 1
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self._upstream_terminated(None)
                    return
                self._accept(item)
        except asyncio.CancelledError:
            if not self._cancelled:  # not by us: the loop is shutting down, say, so say it
                self._upstream_terminated(
                    RuntimeError("from_async_iterable: the task reading the source was cancelled")
                )
            raise
        except Exception as err:  # from __aiter__ or __anext__
            self._upstream_terminated(err)
        finally:
            self._reader = None
            if self._cancelled:
                self._close()

    def _release(self) -> None:
        if self._loop is not None:
            run_on(self._loop, self._shut)

    def _shut(self) -> None:
        reader = self._reader
        if reader is None:
            self._close()
        elif reader is not asyncio.current_task():
            reader.cancel()  # its finally closes the iterator, once the read has stopped
        # else: cancelled from inside on_next, by the reader itself, which ends and closes

    def _close(self) -> None:
        """``aclose()`` the iterator, which belongs to this subscription (a one-shot one
        even before the first read)."""
        iterator = self._iterator
        if iterator is None and isinstance(self._source, AsyncIterator):
            iterator = self._source
        self._iterator = None
        aclose = getattr(iterator, "aclose", None)
        loop = self._loop
        if aclose is None or loop is None or loop.is_closed():
            return
        task: asyncio.Task[None] = loop.create_task(aclose())
        _closing.add(task)
        task.add_done_callback(partial(_closed, loop))


def _closed(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    _closing.discard(task)
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        assert error is not None
        report(loop, "from_async_iterable: aclose() of a cancelled source failed", error)
