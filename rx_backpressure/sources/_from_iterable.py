"""from_iterable: a pull source that reads an iterator only as far as demand reaches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

from reactivex import abc

from ..core import (
    RUN,
    Drain,
    Flowable,
    Subscriber,
    Subscription,
    call_name,
    check_instance,
    stage_name,
)

_T = TypeVar("_T")


def from_iterable(iterable: Iterable[_T], *, name: str | None = None) -> Flowable[_T]:
    """A Flowable that pulls from ``iterable`` only to satisfy outstanding demand.

    ``next()`` is called once per item requested, on the thread that called ``request``,
    so a generator shows exactly how far it was read. An exception raised by the iterator
    goes to ``on_error``; cancelling closes a generator. Python iterators cannot tell that
    they are exhausted without being asked for one more item, so after the last item of a
    generator ``on_completed`` comes with the next request; a sequence whose length is
    known (list, tuple, range) completes right after its last item.

    Each subscription iterates afresh (``iter(iterable)``); a one-shot iterator can be
    subscribed once.

        request:  2------1---1---
        source:   (a,b)--c---|

    ``name`` is the stage's name in ``inspect`` (default: its call, e.g.
    ``from_iterable(range(0, 10))``, or ``from_iterable(read_rows)`` for a generator).

    Raises ``TypeError`` at once for an ``iterable`` that is not one, or a ``name`` that is
    not a non-empty str.
    """
    check_instance("iterable", iterable, Iterable, "an iterable")
    label = stage_name(name, lambda: call_name("from_iterable", iterable))

    def subscribe(subscriber: Subscriber[_T], _: abc.SchedulerBase | None) -> Subscription:
        drain = _IterableDrain(subscriber, iterable, label)
        drain.start(None, None)
        return drain

    return Flowable(subscribe)


class _IterableDrain(Drain[_T, _T]):
    _asks_in_pass = True  # demand is read only as _emit's limit: see Drain.request

    def __init__(
        self, downstream: Subscriber[_T], iterable: Iterable[_T], name: str | None = None
    ) -> None:
        super().__init__(downstream, name=name)
        self._iterable = iterable
        self._iterator: Iterator[_T] | None = None
        self._sequence = iterable if isinstance(iterable, Sequence) else None
        self._position = 0
        if self._sequence is not None and len(self._sequence) == 0:
            self._done = True

    def _emit(self, on_next: Callable[[_T], None], limit: int) -> int:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._iterable)
        emitted = 0
        # An exception from the iterator or from on_next leaves through the drain loop,
        # which signals on_error and releases (closes) the iterator.
        run = getattr(on_next, "__self__", None) if limit > 1 else None
        if type(run) is list and limit <= RUN:  # a run's append (see Drain._emit_run)
            before = len(run)
            try:
                run.extend(islice(iterator, limit))
            finally:  # what the iterator gave before it failed is kept, and counted
                emitted = len(run) - before
        elif limit == 1:  # request(1) per item: no islice to build for one item
            return self._emit_asked(on_next, iterator)
        else:
            try:
                for item in islice(iterator, limit):
                    emitted += 1  # handed on, even if downstream refuses it by raising
                    on_next(item)
                    if self._cancelled:
                        return emitted
            except Exception:
                self._refused = emitted  # counted by the loop as it fails
                raise
        if emitted < limit:
            self._done = True
        elif self._sequence is not None:
            self._position += emitted
            if self._position >= len(self._sequence):
                self._done = True
        return emitted

    def _emit_asked(self, on_next: Callable[[_T], None], iterator: Iterator[_T]) -> int:
        """``_emit`` for a demand of one, and whatever downstream asks meanwhile on this
        thread (``_owner_asked``, see ``Drain.request``): a reader that requests one item from
        each ``on_next`` is served in this one call, not in one pass of the loop each.
        (Asks from before the call are the pass's to add: a run is never made longer.)"""
        emitted = 0
        before = self._owner_asked
        try:
            for item in iterator:
                emitted += 1  # handed on, even if downstream refuses it by raising
                on_next(item)
                if emitted > self._owner_asked - before or self._cancelled:
                    break
            else:
                self._done = True
        except Exception:
            self._refused = emitted  # counted by the loop as it fails
            raise
        sequence = self._sequence
        if sequence is not None:
            self._position += emitted
            if self._position >= len(sequence):
                self._done = True
        return emitted

    def _release(self) -> None:
        # Closing a generator runs its finally blocks; on an exhausted one it does nothing.
        # A one-shot iterator belongs to its subscription even before the first read.
        iterator = self._iterator
        if iterator is None and isinstance(self._iterable, Iterator):
            iterator = self._iterable
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
