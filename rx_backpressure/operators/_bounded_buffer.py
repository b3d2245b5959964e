"""bounded_buffer: a lossless buffer of at most ``capacity`` items that slows the producer.

A Flowable upstream is asked for ``capacity`` items, then for more in batches once
``capacity - capacity // 4`` have left, so it never overflows and a generator is never read
more than ``capacity`` items ahead::

    bounded_buffer(4)
    source:    a-b-c-d-e-f-g-h-i-j-|       (pull)
    demand:    1--2------3----------*
    requests:  4--3------3
    output:    a--(b,c)--(d,e,f)----(g,h,i,j,|)

A plain (push) upstream that finds the buffer full meets the ``overflow`` policy::

    bounded_buffer(2, overflow="error")    (and "block" on virtual time: it cannot wait)
    source:    -a-b-c-d-----               (hot)
    demand:    1-------1-1--
    output:    -a------b-(c,#)             BufferOverflowError after the held b and c

    bounded_buffer(2) on real time: the producer of d waits until b leaves
    source:    -a-b-c-d-----
    demand:    1-------1----
    output:    -a------b----               c and d wait for demand

Defaults: ``overflow="block"`` (the producing thread waits, like ``queue.Queue.put``),
``timeout=None`` (wait as long as it takes), ``scheduler=None`` (deliver on the thread that
pushes or requests), ``metrics=None``, ``name=None`` (its call, e.g. ``bounded_buffer(1000)``).
A block that could never end fails at once instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Literal, TypeVar

from reactivex import Observable, abc
from reactivex.scheduler import EventLoopScheduler, TrampolineScheduler, VirtualTimeScheduler

from ..core import (
    BufferOverflowError,
    Drain,
    Flowable,
    Metrics,
    Subscriber,
    blocking_consumer,
    call_name,
    check_choice,
    check_int,
    check_metrics,
    check_scheduler,
    check_seconds,
    lift,
    stage_name,
)

_T = TypeVar("_T")

Overflow = Literal["block", "error"]
_OVERFLOWS: tuple[Overflow, ...] = ("block", "error")


def bounded_buffer(
    capacity: int,
    *,
    overflow: Overflow = "block",
    timeout: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_T]]:
    """Hold at most ``capacity`` items between a producer and a slower consumer.

    Order is kept and every item accepted is delivered: when the buffer fails (``"error"``,
    a block that timed out after ``timeout`` seconds, or one that could never end), the
    items it holds go first, as demand allows, then ``on_error(BufferOverflowError)``.
    With ``scheduler``, delivery happens there, many items per scheduled action (a bounded
    ``observe_on``); the scheduler is also the clock. Several threads may push at once.
    ``name`` is the stage's name in ``inspect`` (default: its call).
    """
    check_int("capacity", capacity)
    check_choice("overflow", overflow, _OVERFLOWS)
    check_seconds("timeout", timeout, allow_none=True)
    check_scheduler(scheduler)
    check_metrics(metrics)

    def default_name() -> str:
        options: dict[str, object] = {} if overflow == "block" else {"overflow": overflow}
        if timeout is not None:
            options["timeout"] = timeout
        return call_name("bounded_buffer", capacity, **options)

    label = stage_name(name, default_name)

    def make(downstream: Subscriber[_T]) -> Drain[_T, _T]:
        return _BoundedBuffer(downstream, capacity, overflow, timeout, scheduler, metrics, label)

    return lift(make)


class _BoundedBuffer(Drain[_T, _T]):
    _log_as = "rx_backpressure.bounded_buffer"

    def __init__(
        self,
        downstream: Subscriber[_T],
        capacity: int,
        overflow: Overflow,
        timeout: float | None,
        scheduler: abc.SchedulerBase | None,
        metrics: Metrics | None,
        name: str,
    ) -> None:
        super().__init__(
            downstream,
            capacity=capacity,
            scheduler=scheduler,
            deliver_on=scheduler,
            metrics=metrics,
            name=name,
        )
        self._prefetch = capacity
        self._limit = capacity - capacity // 4
        self._consumed = 0
        self._block = overflow == "block"
        self._timeout = timeout
        self._not_full = threading.Condition(self._lock)
        self._waiting = 0
        self._subscribed_on: abc.SchedulerBase | None = None

    def start(self, source: Observable[_T] | None, scheduler: abc.SchedulerBase | None) -> None:
        self._subscribed_on = scheduler
        if not (isinstance(source, Flowable) and source.push_source is None):
            # A push upstream: an item that goes straight through never took room, so no
            # producer waits for it and ``_on_emitted`` has nothing to do for it.
            self._plain_pass = self._metrics is None
        super().start(source, scheduler)

    def _overflow(self, value: _T) -> None:
        if self._metrics is not None:
            self._metrics.increment("received")
        error: BufferOverflowError | None
        if self._block and not self._upstream_flow:
            error = self._wait_for_room(value)  # counts the item in, under its lock
        else:
            self._count_in(1)  # refused: the stream fails
            if self._upstream_flow:  # only a Flowable that broke its demand gets here
                error = self._full("the Flowable upstream sent more than was requested")
            else:
                error = self._full("overflow='error'")
        if error is not None:
            self._stop_upstream(error)
            self._wake_producers()  # other blocked producers see the end and return
            return
        self.drain()

    def _wait_for_room(self, value: _T) -> BufferOverflowError | None:
        """Block until ``value`` fits (then hold it); the error if it cannot."""
        deadline = None if self._timeout is None else self._now() + self._timeout
        queue = self._queue
        with self._not_full:
            self._received += 1  # held, refused or too late: received all the same
            # Counted before looking for room: an emitter that pops without the lock and
            # then reads no waiter has made room that this check will see.
            self._waiting += 1
            try:
                while len(queue) >= self._capacity and not (self._done or self._cancelled):
                    reason = self._never_ends()
                    remaining = None if deadline is None else deadline - self._now()
                    if reason is None and remaining is not None and remaining <= 0:
                        reason = f"no room came within timeout={self._timeout}s"
                    if reason is not None:
                        return self._full(f"overflow='block' cannot wait: {reason}")
                    self._not_full.wait(remaining)
            finally:
                self._waiting -= 1
            if self._done or self._cancelled:
                return None  # the stream ended meanwhile: nothing is taken, nothing owed
            queue.append(value)
            if self._metrics is not None:  # under the lock: never a stale reading
                self._metrics.set("depth", len(queue))
        return None

    def _full(self, why: str) -> BufferOverflowError:
        return BufferOverflowError(f"bounded_buffer is full ({self._capacity} held) and {why}")

    def _never_ends(self) -> str | None:
        """Why no other thread could ever make room while this one waits, if so."""
        if self._delivering_here():
            return "on_next was called from inside a delivery, by the thread that makes room"
        consumer = blocking_consumer()
        if consumer is not None:
            return (
                f"the producer runs on the thread that consumes this stream through {consumer}"
                " (a synchronous push source, subscribed by next()), and only that thread could"
                " make room; subscribe the source on another thread"
                " (ops.subscribe_on(NewThreadScheduler())), read a pull source"
                " (rx_backpressure.from_iterable), or use overflow='error' or shed"
            )
        if _on_event_loop():
            return (
                "the producer runs on an asyncio event loop's thread, which must never block;"
                " produce from another thread, or use overflow='error' or shed"
            )
        for clock in (self._scheduler, self._subscribed_on):
            if isinstance(clock, VirtualTimeScheduler):
                return f"the subscription runs on virtual time ({type(clock).__name__})"
        loop = self._deliver_on
        # reactivex offers no public way to ask an event loop for its thread.
        if isinstance(loop, EventLoopScheduler) and (
            getattr(loop, "_thread", None) is threading.current_thread()
        ):
            return "the producer runs on the event loop thread that delivers this buffer"
        if isinstance(loop, TrampolineScheduler) and not loop.schedule_required():
            return "the producer runs inside the trampoline that delivers this buffer"
        return None

    def _on_emitted(self, count: int) -> None:
        if self._upstream_flow:
            consumed = self._consumed + count
            if consumed >= self._limit and not self._cancelled:
                self._consumed = 0
                self._request_upstream(consumed)  # held + outstanding stays <= capacity
            else:
                self._consumed = consumed
        elif self._waiting:
            with self._lock:
                self._not_full.notify(count)

    def _wake_producers(self) -> None:
        if self._waiting:
            with self._lock:
                self._not_full.notify_all()

    def _release(self) -> None:
        self._wake_producers()


def _on_event_loop() -> bool:
    """Whether an asyncio event loop runs on this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
