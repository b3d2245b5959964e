"""to_async_iterable: ``async for`` over a Flowable, with bounded prefetch, never blocking.

::

    to_async_iterable(flowable, prefetch=4)
    request:   4-------3------3--        asked again once 3 of 4 are consumed
    consumed:  --a-b-c---d-e-f---g

The iterator subscribes on the first ``__anext__`` (so inside the consumer's loop), asks for
``prefetch`` items, and asks for ``prefetch - prefetch // 4`` more each time that many
have been consumed: at most ``prefetch`` items are requested and not yet consumed. Items
may arrive on any thread; they wait in an inbox of at most ``prefetch`` items, and a
waiting consumer is woken once per batch (``call_soon_threadsafe`` from another thread),
not once per item. Nothing here ever blocks the loop.

A plain Observable is first made a push segment (see ``docs/concepts/pipe.md``): it may
push at most ``PUSH_BUFFER`` items beyond the demand, then the stream fails with
``BufferOverflowError`` after the items before it. Put ``shed`` or ``bounded_buffer`` in
front to choose another policy.

Leaving early cancels upstream: ``break`` or an exception in the loop body (the iterator
is dropped), ``aclose()`` or leaving ``async with``, and cancellation of a task waiting in
``__anext__``. ``on_error`` is raised from ``__anext__`` after the items before it.

``inspect(iterator)`` shows the whole pipeline, the iterator last: a ``"subscriber"`` stage
named ``name`` (default ``to_async_iterable(prefetch=64)``) that holds its inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from types import TracebackType
from typing import Generic, TypeVar

from reactivex import Observable

from ..core import (
    BufferOverflowError,
    Flowable,
    PushSegment,
    StageSnapshot,
    Subscription,
    call_name,
    check_instance,
    check_int,
    consumer_stage,
    stage_name,
)

_T = TypeVar("_T")


def to_async_iterable(
    source: Observable[_T], *, prefetch: int = 64, name: str | None = None
) -> AsyncFlowIterator[_T]:
    """Iterate over ``source`` with ``async for``, never more than ``prefetch`` items ahead.

    ``Flowable.__aiter__`` is this with the default ``prefetch=64``.

    Raises ``TypeError`` for a ``source`` that is not an Observable, a ``prefetch`` that is
    not an int or a ``name`` that is not a non-empty str, ``ValueError`` for ``prefetch < 1``.
    """
    check_instance("source", source, Observable, "an Observable")
    check_int("prefetch", prefetch)
    label = stage_name(name, lambda: call_name("to_async_iterable", prefetch=prefetch))
    if not isinstance(source, Flowable):
        source = PushSegment(source, "the Observable given to to_async_iterable")
    return AsyncFlowIterator(source, prefetch, name=label)


class _Inbox(Generic[_T]):
    """The subscriber side: holds delivered items until the consumer takes them.

    The iterator owns the inbox, never the reverse, so dropping the iterator (``break``)
    frees it at once and its finalizer cancels the subscription.
    """

    __slots__ = (
        "error",
        "finished",
        "items",
        "link",
        "lock",
        "loop",
        "loop_thread",
        "lost",
        "prefetch",
        "received",
        "requested",
        "subscription",
        "taken",
        "waiter",
    )

    def __init__(self, prefetch: int, loop: asyncio.AbstractEventLoop) -> None:
        self.prefetch = prefetch
        # For inspect: ``received`` and ``lost`` under the lock, ``requested`` on the loop.
        self.received = 0  # items delivered
        self.lost = 0  # delivered, never taken (beyond the prefetch, or closed): "dropped"
        self.requested = 0  # demand signalled
        self.link: Subscription | None = None  # the subscription, kept after the end
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.lock = threading.Lock()
        self.items: deque[_T] = deque()  # delivered, under the lock
        self.taken: deque[_T] = deque()  # moved out by the consumer, read without the lock
        self.waiter: asyncio.Future[None] | None = None  # the consumer, waiting for items
        self.subscription: Subscription | None = None
        self.finished = False
        self.error: Exception | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = self.link = subscription
        self.requested = self.prefetch
        subscription.request(self.prefetch)

    def on_next(self, value: _T) -> None:
        with self.lock:
            if self.finished:
                return
            self.received += 1
            if len(self.items) + len(self.taken) >= self.prefetch:
                self.lost += 1
                self.error = BufferOverflowError(
                    f"the source sent more than the {self.prefetch} items requested (rule 1.1)"
                )
                self.finished = True
            else:
                self.items.append(value)
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            self._wake(waiter)

    def on_error(self, error: Exception) -> None:
        self._end(error)

    def on_completed(self) -> None:
        self._end(None)

    def _end(self, error: Exception | None) -> None:
        with self.lock:
            if self.finished:
                return
            self.error = error
            self.finished = True
            self.subscription = None  # over: nothing to cancel any more
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            self._wake(waiter)

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        # One wake-up per wait: the consumer then moves every item that came meanwhile.
        if threading.get_ident() == self.loop_thread:
            _resolve(waiter)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: no one is left to wake
            self.loop.call_soon_threadsafe(_resolve, waiter)

    def cancel(self) -> None:
        with self.lock:
            self.finished = True
            self.error = None
            subscription, self.subscription = self.subscription, None
            waiter, self.waiter = self.waiter, None
            self.lost += len(self.items) + len(self.taken)
            self.items.clear()
            self.taken.clear()
        if subscription is not None:
            subscription.cancel()
        if waiter is not None:
            self._wake(waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AsyncFlowIterator(Generic[_T]):
    """The async iterator returned by :func:`to_async_iterable` and ``Flowable.__aiter__``.

    Also an async context manager: leaving ``async with`` closes it.
    """

    def __init__(self, source: Flowable[_T], prefetch: int, *, name: str | None = None) -> None:
        self._source: Flowable[_T] | None = source
        self._prefetch = prefetch
        self._batch = prefetch - (prefetch >> 2)
        self._count = 0  # items taken since the last request
        self._inbox: _Inbox[_T] | None = None
        self._closed = False
        self._name = stage_name(name, lambda: call_name("to_async_iterable", prefetch=prefetch))

    def __aiter__(self) -> AsyncFlowIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        inbox = self._inbox
        if inbox is None:
            inbox = self._subscribe()
        try:
            item = inbox.taken.popleft()  # the items moved out: no lock needed
        except IndexError:
            item = await self._wait(inbox)
        count = self._count + 1
        if count == self._batch:
            count = 0
            subscription = inbox.subscription
            if subscription is not None:
                inbox.requested += self._batch
                subscription.request(self._batch)
        self._count = count
        return item

    def _subscribe(self) -> _Inbox[_T]:
        inbox: _Inbox[_T] = _Inbox(self._prefetch, asyncio.get_running_loop())
        self._inbox = inbox
        source, self._source = self._source, None
        if self._closed or source is None:
            inbox.finished = True
        else:
            source.subscribe(inbox)
        return inbox

    async def _wait(self, inbox: _Inbox[_T]) -> _T:
        """Wait for items and move all of them out at once; raise at the end."""
        while True:
            with inbox.lock:
                if inbox.items:
                    inbox.items, inbox.taken = inbox.taken, inbox.items
                    return inbox.taken.popleft()
                if inbox.finished:
                    error, inbox.error = inbox.error, None
                    break
                waiter = inbox.waiter = inbox.loop.create_future()
            try:
                await waiter
            except asyncio.CancelledError:
                inbox.cancel()  # the consuming task was cancelled: so is the stream
                raise
        self._closed = True
        if error is not None:
            raise error
        raise StopAsyncIteration

    # -- what inspect() sees --------------------------------------------------------------

    @property
    def name(self) -> str:
        """The consumer's name in ``inspect``."""
        return self._name

    def _inspect_stage(self) -> StageSnapshot:
        inbox = self._inbox
        if inbox is None:  # not subscribed yet
            return StageSnapshot(
                name=self._name,
                kind="subscriber",
                capacity=self._prefetch,
                held=0,
                pending=0,
                received=0,
                emitted=0,
                dropped=0,
                ended=self._closed,
            )
        return consumer_stage(self._name, inbox, inbox.lock)

    def _inspect_links(self) -> list[object]:
        link = None if self._inbox is None else self._inbox.link
        return [] if link is None else [link]

    async def aclose(self) -> None:
        """Cancel the subscription; later ``__anext__`` calls raise ``StopAsyncIteration``."""
        self.close()

    def close(self) -> None:
        """:meth:`aclose` without awaiting, from any thread."""
        self._closed = True
        self._source = None
        if self._inbox is not None:
            self._inbox.cancel()

    async def __aenter__(self) -> AsyncFlowIterator[_T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        inbox = self._inbox
        if inbox is not None:
            inbox.cancel()
