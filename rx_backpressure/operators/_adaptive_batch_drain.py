"""The drain behind adaptive_batch: it cuts held items into lists and times the consumer."""

from __future__ import annotations

import os
import sys
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import reactivex
from reactivex import abc

from ..core import BufferOverflowError, Drain, Metrics, Subscriber, Subscription
from ._bounded_buffer import _BoundedBuffer

_T = TypeVar("_T")


def _micros(seconds: float) -> int:
    # The schedulers' clocks are exact to the microsecond; comparing in whole microseconds
    # keeps float noise from moving a deadline or a size step.
    return round(seconds * 1_000_000)


class BatchSizeWarning(UserWarning):
    """``adaptive_batch(max_size=M)`` subscribed directly after a ``bounded_buffer(N)`` with
    ``N < M``: a batch can need more items than the buffer holds, so the producer cannot
    gather the next batch while the consumer works on one. Give the buffer a capacity of at
    least ``max_size``, or lower ``max_size`` to the capacity."""


# Frames in these folders are the library's and reactivex's own: the warning names the first
# frame outside them, the caller's subscribe (or a marble test's start).
_OWN = tuple(
    str(folder) + os.sep for folder in (Path(__file__).parents[1], Path(reactivex.__file__).parent)
)


def _caller_level() -> int:
    """``stacklevel`` for a warning raised in the caller of this function, pointing past
    every frame of this library and of reactivex."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_OWN):
        level, frame = level + 1, frame.f_back
    return level


class AdaptiveBatchDrain(Drain[_T, list[_T]]):
    """Held items go out as lists of ``size``; each list's processing time adapts ``size``."""

    _emits_runs = False  # each batch is timed from on_next to its return: never collected
    _log_as = "rx_backpressure.adaptive_batch"

    def __init__(
        self,
        downstream: Subscriber[list[_T]],
        *,
        size: int,
        bounds: tuple[int, int],
        target_time: float,
        max_wait: float | None,
        rule: Callable[[int, float, float], int],
        scheduler: abc.SchedulerBase | None,
        metrics: Metrics | None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            downstream, capacity=bounds[1], scheduler=scheduler, metrics=metrics, name=name
        )
        self._size = size
        self._bounds = bounds
        self._target = target_time
        self._max_wait = max_wait
        self._rule = rule
        self._arrivals: deque[float] | None = None if max_wait is None else deque()
        self._outstanding = 0  # items requested upstream and not yet received
        self._sent_at: float | None = None  # emission time of a batch awaiting a request
        self._armed: float | None = None  # deadline of the pending max_wait timer
        self._emitted_items = 0  # items in the batches emitted (``_emitted`` counts batches)
        if metrics is not None:
            metrics.set("batch_size", size)

    # -- upstream -------------------------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        # Subscribed by a bounded_buffer directly upstream, the subscription is its Drain.
        if isinstance(subscription, _BoundedBuffer) and self._bounds[1] > subscription._capacity:
            capacity = subscription._capacity
            warnings.warn(
                f"adaptive_batch(max_size={self._bounds[1]}) directly after "
                f"bounded_buffer({capacity}): a batch can need more items than the buffer "
                "holds, so the producer cannot gather the next batch while the consumer works "
                f"on one; give bounded_buffer a capacity of at least {self._bounds[1]}, or set "
                f"max_size to at most {capacity}",
                BatchSizeWarning,
                stacklevel=_caller_level(),
            )
        super().on_subscribe(subscription)

    def on_next(self, value: _T) -> None:
        arrivals = self._arrivals
        arrived = self._now() if arrivals is not None else 0.0
        with self._lock:
            if self._done or self._cancelled:
                return
            queue = self._queue
            held = len(queue)
            self._received += 1  # held, or refused: the stream fails
            metrics = self._metrics
            if held < self._capacity:
                queue.append(value)
                if arrivals is not None:
                    arrivals.append(arrived)
                if self._outstanding:
                    self._outstanding -= 1
                held += 1
                if metrics is not None:  # under the lock: the depth is never a stale reading
                    metrics.increment("received")
                    metrics.set("depth", held)
            else:
                held = -1
                if metrics is not None:
                    metrics.increment("received")
        if held < 0:
            self._stop_upstream(
                BufferOverflowError(f"no room for an item: {self._capacity} already held")
            )
            return
        if held >= self._size or (held == 1 and arrivals is not None):
            self.drain()

    def _refill(self) -> None:
        """Request from a Flowable upstream what the next batch still lacks (one batch ahead)."""
        if not self._upstream_flow:
            return
        with self._lock:
            if self._done or self._cancelled:
                return
            need = self._size - len(self._queue) - self._outstanding
            if need > 0:
                self._outstanding += need
        if need > 0:
            self._request_upstream(need)

    # -- downstream -----------------------------------------------------------------------

    def _on_request(self, n: int) -> None:
        # On the loop's owner, never during on_next: a batch waiting for this request was
        # emitted at ``_sent_at`` (one timed at on_next's return left it None).
        sent, self._sent_at = self._sent_at, None
        if sent is not None:
            self._adapt(self._now() - sent)
        self._refill()

    def _emit(self, on_next: Callable[[list[_T]], None], limit: int) -> int:
        emitted = 0
        while emitted < limit:
            batch = self._take()
            if batch is None:
                break
            sent = self._now()
            self._emitted_items += len(batch)  # handed on, even if on_next raises
            try:
                on_next(batch)
            finally:
                left = self._requested - emitted - 1  # demand beyond this batch
                if left <= 0:
                    self._sent_at = sent  # timed when the next request comes
            emitted += 1
            if self._cancelled:
                return emitted
            if left > 0:
                self._adapt(self._now() - sent)
                self._refill()
        if emitted < limit:
            self._arm()
        return emitted

    def _take(self) -> list[_T] | None:
        """The next batch if one is due: full, the stream ended, or its oldest item waited."""
        queue, arrivals = self._queue, self._arrivals
        with self._lock:
            held = len(queue)
            if not held:
                return None
            count = self._size
            if held <= count:
                if held < count and not self._done and not self._waited_out():
                    return None
                batch = list(queue)
                queue.clear()
                if arrivals is not None:
                    arrivals.clear()
                return batch
            popleft = queue.popleft
            batch = [popleft() for _ in range(count)]
            if arrivals is not None:
                for _ in range(count):
                    arrivals.popleft()
            return batch

    def _adapt(self, took: float) -> None:
        took = _micros(took) / 1_000_000
        new = self._rule(self._size, took, self._target)
        if isinstance(new, bool) or not isinstance(new, int):
            raise TypeError(f"the size rule must return an int, got {new!r}")
        low, high = self._bounds
        self._size = size = min(high, max(low, new))
        if self._metrics is not None:
            self._metrics.set("batch_size", size)

    # -- max_wait -------------------------------------------------------------------------

    def _waited_out(self) -> bool:
        arrivals, max_wait = self._arrivals, self._max_wait
        if arrivals is None or max_wait is None:
            return False
        return _micros(self._now() - arrivals[0]) >= _micros(max_wait)

    def _arm(self) -> None:
        """Start the max_wait timer for the oldest held item, unless it is already set."""
        arrivals, max_wait = self._arrivals, self._max_wait
        if not arrivals or max_wait is None or self._done:
            return
        deadline = arrivals[0] + max_wait
        if deadline != self._armed:
            self._armed = deadline
            self._drain_after(max(_micros(deadline - self._now()), 1) / 1_000_000)

    def _on_timer(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        self._armed = None  # a timer that fired early is set again by the next pass
        super()._on_timer(scheduler, state)

    def _release(self) -> None:
        if self._arrivals is not None:
            self._arrivals.clear()

    def _stage_state(self) -> dict[str, object]:
        return {"batch_size": self._size, "emitted_items": self._emitted_items}
