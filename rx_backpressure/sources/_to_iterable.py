"""to_iterable: a blocking iterator over a Flowable, with bounded prefetch."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Generic, TypeVar

from reactivex import Observable, abc

from ..core import (
    BufferOverflowError,
    StageSnapshot,
    Subscription,
    call_name,
    check_instance,
    check_int,
    consumer_stage,
    consuming,
    stage_name,
)

_T = TypeVar("_T")


def to_iterable(
    flowable: Observable[_T], *, prefetch: int = 64, name: str | None = None
) -> BlockingIterator[_T]:
    """Iterate over ``flowable``, blocking for each item, never more than ``prefetch`` ahead.

    The subscription is made on the first ``next()``. It requests ``prefetch`` items, then
    requests more in batches of ``prefetch - prefetch // 4`` as the consumer takes them, so
    at most ``prefetch`` items are ever requested but not yet consumed. With a synchronous
    source everything happens on the consumer's thread; with an asynchronous one the
    consumer waits for items from the other thread.

    The iterator is a context manager: ``close()``, leaving the ``with`` block, or garbage
    collection cancels the subscription (a cancelled ``from_iterable`` closes its generator).
    An ``on_error`` is raised from ``next()`` after the items that came before it.

    ``inspect(iterator)`` shows the whole pipeline, the iterator last (a ``"subscriber"``
    stage named ``name``, default ``to_iterable(prefetch=64)``, holding the items it
    prefetched).

    Raises ``TypeError`` for a ``flowable`` that is not an Observable, a ``prefetch`` that
    is not an int (bool and float included) or a ``name`` that is not a non-empty str,
    ``ValueError`` for ``prefetch < 1``.
    """
    check_instance("flowable", flowable, Observable, "an Observable")
    check_int("prefetch", prefetch)
    label = stage_name(name, lambda: call_name("to_iterable", prefetch=prefetch))
    return BlockingIterator(flowable, prefetch, name=label)


class _Channel(abc.ObserverBase[_T], Generic[_T]):
    """The subscriber side: holds delivered items until the consumer takes them.

    The iterator owns the channel, never the reverse, so dropping the iterator frees it at
    once and its finalizer cancels the subscription.
    """

    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch
        # For inspect: counted under ``ready``'s lock, a run at a time where runs come.
        self.received = 0  # items delivered
        self.lost = 0  # delivered, never taken (beyond the prefetch, or closed): "dropped"
        self.requested = 0  # demand signalled
        self.link: Subscription | None = None  # the subscription, kept after the end
        self.items: deque[_T] = deque()  # delivered, under ``ready``'s lock
        self.taken: deque[_T] = deque()  # moved out by a consumer in one go, taken without it
        self.waiting = 0  # consumers waiting on ``ready``: only they need a notify
        self.ready = threading.Condition(threading.Lock())
        self.subscription: Subscription | None = None
        self.finished = False
        self.error: Exception | None = None
        self.closed = False

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = self.link = subscription
        if self.closed:
            subscription.cancel()
        else:
            self.requested = self.prefetch
            subscription.request(self.prefetch)

    def on_next(self, value: _T) -> None:
        with self.ready:
            self.received += 1
            if len(self.items) + len(self.taken) >= self.prefetch:
                self.lost += 1
                self._too_many()
            else:
                self.items.append(value)
            if self.waiting:
                self.ready.notify()

    def _takes_batches(self) -> bool:
        return True

    def _arrive_batch(self, values: list[_T]) -> None:
        """A run of items from a stage of ours (the chain hand-off): one lock round trip and
        at most one wake-up for all of them."""
        with self.ready:
            self.received += len(values)
            room = self.prefetch - len(self.items) - len(self.taken)
            if len(values) > room:
                self.items.extend(values[: max(room, 0)])
                self.lost += len(values) - max(room, 0)
                self._too_many()
            else:
                self.items.extend(values)
            if self.waiting:
                self.ready.notify(len(values))  # a waiting consumer for each item, at most

    def _too_many(self) -> None:
        self.error = BufferOverflowError(
            f"the source sent more than the {self.prefetch} items requested (rule 1.1)"
        )
        self.finished = True

    def on_error(self, error: Exception) -> None:
        with self.ready:
            self.error = error
            self.finished = True
            self.ready.notify_all()  # every consumer waiting on any thread sees the end

    def on_completed(self) -> None:
        with self.ready:
            self.finished = True
            self.ready.notify_all()

    def cancel(self) -> None:
        with self.ready:
            self.closed = True
            subscription, self.subscription = self.subscription, None
        if subscription is not None:
            subscription.cancel()
        with self.ready:
            self.lost += len(self.items) + len(self.taken)
            self.items.clear()
            self.taken.clear()
            self.finished = True
            self.ready.notify_all()  # every next() blocked on any thread ends: StopIteration


class BlockingIterator(Iterator[_T], Generic[_T]):
    """The iterator returned by :func:`to_iterable`."""

    def __init__(self, flowable: Observable[_T], prefetch: int, *, name: str | None = None) -> None:
        self._flowable: Observable[_T] | None = flowable
        self._batch = prefetch - (prefetch >> 2)
        self._counter = itertools.count(1)  # items taken; next() on it is atomic
        self._channel: _Channel[_T] = _Channel(prefetch)
        self._name = stage_name(name, lambda: call_name("to_iterable", prefetch=prefetch))

    def __iter__(self) -> BlockingIterator[_T]:
        return self

    def __next__(self) -> _T:
        channel = self._channel
        if channel.closed:
            raise StopIteration
        try:
            # Items are moved out of the channel a batch at a time (below), so most next()
            # calls take no lock at all.
            item = channel.taken.popleft()
        except IndexError:
            item = self._wait(channel)
        if next(self._counter) % self._batch == 0:
            subscription = channel.subscription
            if subscription is not None:
                with channel.ready:
                    channel.requested += self._batch
                with consuming("to_iterable"):
                    subscription.request(self._batch)
        return item

    def _wait(self, channel: _Channel[_T]) -> _T:
        """Subscribe on the first call; wait for items and move all of them out at once."""
        with channel.ready:
            flowable, self._flowable = self._flowable, None
        if flowable is not None:
            with consuming("to_iterable"):
                flowable.subscribe(channel)
        with channel.ready:
            while not (channel.items or channel.taken or channel.finished):
                channel.waiting += 1
                channel.ready.wait()
                channel.waiting -= 1
            if channel.items:
                channel.taken.extend(channel.items)
                channel.items.clear()
            if channel.taken:
                return channel.taken.popleft()
            error, channel.error = channel.error, None
            channel.closed = True
        if error is not None:
            raise error
        raise StopIteration

    # -- what inspect() sees --------------------------------------------------------------

    @property
    def name(self) -> str:
        """The consumer's name in ``inspect``."""
        return self._name

    def _inspect_stage(self) -> StageSnapshot:
        channel = self._channel
        return consumer_stage(self._name, channel, channel.ready)

    def _inspect_links(self) -> list[object]:
        link = self._channel.link
        return [] if link is None else [link]

    def close(self) -> None:
        """Cancel the subscription; ``next()`` calls waiting on any thread, and later ones,
        raise StopIteration."""
        self._flowable = None
        self._channel.cancel()

    def __enter__(self) -> BlockingIterator[_T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self._channel.cancel()
