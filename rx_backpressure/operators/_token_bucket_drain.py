"""The bucket arithmetic and the drain behind token_bucket and rate_limit."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from numbers import Real
from typing import Literal, TypeVar

from reactivex import Observable, abc

from ..core import (
    BufferOverflowError,
    Drain,
    Flowable,
    Metrics,
    RateLimitExceeded,
    Subscriber,
    Subscription,
)

_T = TypeVar("_T")

Mode = Literal["shape", "drop", "error"]


class Bucket:
    """``capacity`` tokens, refilled at ``rate`` per second, never above ``capacity``.

    It starts full. Its whole state is one float, ``_empty_at``: the clock reading at
    which the bucket was, or would have been, empty, had it refilled from there without a
    cap. The level at ``now`` is then ``(now - _empty_at) * rate``, capped at ``capacity``
    (a bucket empty more than ``capacity / rate`` seconds back is full), and a charge of
    ``cost`` moves ``_empty_at`` on by ``cost / rate`` seconds, from no earlier than
    ``capacity / rate`` before ``now``. So:

    - a reader on another thread sees one moment's state, never a level of one moment
      with the time of another (the float is read and written whole);
    - ``_empty_at`` never moves back, so a charge at a reading earlier than the last one
      (two threads' readings, or a timer's due time) only finds fewer tokens, never more;
    - one token an item costs two float operations and a comparison (:meth:`taker`).
    """

    __slots__ = ("_empty_at", "_per_token", "_slack", "_window", "capacity", "rate")

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._per_token = 1.0 / rate  # seconds of refill per token
        self._window = capacity / rate  # seconds from empty to full
        self._empty_at = -math.inf  # full: empty at no time at all
        # Float rounding piles up over many spends; a cost this close to being there counts
        # as there: two nanoseconds of refill, plus noise at the scale of the capacity.
        self._slack = 2e-9 + self._window * 1e-13

    def _base(self, now: float) -> float:
        """``_empty_at``, or ``now - capacity / rate`` if that is later (a full bucket)."""
        floor = now - self._window
        empty_at = self._empty_at
        return floor if empty_at < floor else empty_at

    def level(self, now: float) -> float:
        """The tokens in the bucket at ``now`` (seconds on the operator's clock)."""
        return min(self.capacity, (now - self._base(now)) * self.rate)

    def acquire(self, now: float, cost: float) -> float:
        """Take ``cost`` tokens and return 0.0, or take none and return the wait for them.

        The wait is in whole microseconds, at least one (virtual time has no finer grain):
        rounded up, unless it is a nanosecond or less from a whole one, which is then float
        noise. A timer set for it finds the tokens there, exactly, in virtual time.
        """
        empty_at = self._base(now) + cost * self._per_token
        if empty_at - now <= self._slack:
            self._empty_at = empty_at
            return 0.0
        return self._wait(empty_at - now)

    def taker(self, read: Callable[[], float]) -> Callable[[], bool]:
        """A function that takes one token at a reading of ``read`` (the operator's clock)
        if it is there: ``acquire(read(), 1.0)`` in one call, for items that go one by one.
        What it needs is held in it, not looked up on each item: it is asked once per item
        on a push source's direct path."""
        window, per_token = self._window, self._per_token
        need = per_token - self._slack  # the token is there if _empty_at <= now - need
        if window < need:  # a capacity below one token: never there

            def never() -> bool:
                return False

            return never

        def take() -> bool:
            now = read()
            floor = now - window
            empty_at = self._empty_at
            if empty_at <= floor:  # full
                self._empty_at = floor + per_token
            elif empty_at <= now - need:
                self._empty_at = empty_at + per_token
            else:
                return False
            return True

        return take

    def take_up_to(self, now: float, count: int) -> int:
        """Take as many of ``count`` tokens as are there at ``now``, for items of cost 1;
        how many."""
        base = self._base(now)
        there = math.floor((now - base + self._slack) * self.rate)
        if there > count:
            there = count
        if there > 0:
            self._empty_at = base + there * self._per_token
            return there
        return 0

    def wait_for(self, now: float, cost: float) -> float:
        """The wait until ``cost`` tokens are there (0.0 if they are), taking nothing."""
        short = self._base(now) + cost * self._per_token - now
        return 0.0 if short <= self._slack else self._wait(short)

    @staticmethod
    def _wait(short: float) -> float:
        """``short`` seconds as a timer's wait: whole microseconds (see :meth:`acquire`)."""
        micros = short * 1e6
        whole = round(micros)
        if abs(micros - whole) > 1e-3:
            whole = math.ceil(micros)
        return max(whole, 1) / 1e6

    def affords_within(self, now: float, horizon: float) -> int:
        """How many items of cost 1 the tokens there now and those that refill within
        ``horizon`` seconds pay for, one after the other."""
        return math.floor((now - self._base(now) + horizon + self._slack) * self.rate)

    def check(self, cost: object, item: object) -> float:
        """``cost`` as a float, or the error saying why it is no price for ``item``."""
        if isinstance(cost, bool) or not isinstance(cost, Real):
            raise TypeError(
                f"cost must return a number, got {cost!r} of type {type(cost).__name__} "
                f"for item {item!r}"
            )
        price = float(cost)
        if not price >= 0:
            raise ValueError(f"cost must return a number >= 0, got {cost!r} for item {item!r}")
        if price > self.capacity:
            raise ValueError(
                f"cost {cost!r} of item {item!r} exceeds capacity {self.capacity:g}: "
                "it could never pass"
            )
        return price


READ_AHEAD = 0.001
"""Shape mode reads a pull source ahead by the items whose tokens refill within this many
seconds (about a real-time timer's own granularity): at high rates items then come in
batches, not one request per item; below 1,000 items/s no more than the tokens there now."""


class BucketDrain(Drain[_T, _T]):
    """Shape mode delays the head item until its tokens are there; drop and error modes
    charge each item on arrival and hold only the ones waiting for demand.

    Items are counted in on the producer's thread: those the queue takes by the core,
    those refused or dropped on arrival here (``_count_arrival``), without the lock, as
    the core's own owner path does, since upstream's signals never overlap (rule 1.3).
    """

    _direct = True  # an item that finds demand and its tokens goes straight through
    _batches = True  # runs from a stage of ours above: see _arrive_batch
    _log_as = "rx_backpressure.token_bucket"

    def __init__(
        self,
        downstream: Subscriber[_T],
        *,
        bucket: Bucket,
        cost: Callable[[_T], float] | None,
        mode: Mode,
        max_pending: int,
        on_drop: Callable[[_T], None] | None,
        scheduler: abc.SchedulerBase | None,
        metrics: Metrics | None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            downstream, capacity=max_pending, scheduler=scheduler, metrics=metrics, name=name
        )
        self._bucket = bucket
        self._cost = cost
        self._mode = mode
        self._shape = mode == "shape"
        self._on_drop = on_drop
        # The cost of each held item, in step with the queue: priced once, on arrival.
        self._costs: deque[float] = deque()
        self._unit = cost is None  # every item costs one token: no prices to keep, batches
        if self._unit:  # one call less a pass
            self._emit = self._emit_unit  # type: ignore[method-assign]
        # Items requested from a Flowable upstream and not yet delivered or dropped: counted
        # until they leave, so an item on its way (arrived, not yet held) is never asked for
        # twice. It changes with each request under the lock (_pull).
        self._unsettled = 0
        self._wake_at: float | None = None  # when the head's tokens are due (a timer is set)
        # Seconds the head item waited for its tokens: (before this wait, its start, its
        # end), swapped whole by the loop's owner so that inspect reads one moment.
        self._throttle = (0.0, 0.0, 0.0)

    # -- upstream -------------------------------------------------------------------------

    def start(self, source: Observable[_T] | None, scheduler: abc.SchedulerBase | None) -> None:
        self._use_scheduler(scheduler)
        if self._shape and self._unit:
            # Nothing to price: the core asks for the token as the loop's owner (_admit),
            # and holds an item that finds none. The bucket reads the scheduler's clock.
            self._admit = self._bucket.taker(self._clock_reader())
            self.on_next = self._accept  # type: ignore[method-assign]
        if not (isinstance(source, Flowable) and source.push_source is None):
            self._hooks_emitted = False  # _on_emitted settles a Flowable's demand only
            # With nothing to count or hook, an item that finds its token goes on inline.
            self._plain_pass = self._metrics is None
        super().start(source, scheduler)

    def on_subscribe(self, subscription: Subscription) -> None:
        super().on_subscribe(subscription)
        self._pull()

    def _arrive(self, value: _T) -> None:
        if self._done or self._cancelled:
            return
        try:
            cost = 1.0 if self._cost is None else self._bucket.check(self._cost(value), value)
        except Exception as err:  # the cost function failed, or priced the item wrongly
            self._count_arrival()
            self._stop_upstream(err)
            return
        if not self._shape:
            if len(self._queue) >= self._capacity and self._mode == "drop":
                self._drop(value)  # no room to wait for demand: shed it before it pays
                return
            if self._bucket.acquire(self._now(), cost):
                if self._mode == "drop":
                    self._drop(value)
                else:
                    self._count_arrival()
                    self._stop_upstream(RateLimitExceeded(self._refusal(cost)))
                return
        if self._unit:  # one lock round trip, as any stage (see Drain._accept)
            self._accept(value)
            return
        if self._shape:
            bucket = self._bucket

            def paid() -> bool:
                return not bucket.acquire(self._now(), cost)

            if self._deliver_now(value, paid):
                return
        elif self._deliver_now(value):
            return
        self._costs.append(cost)
        if self._offer(value) is not None:
            self._costs.pop()
            self._stop_upstream(
                BufferOverflowError(
                    f"max_pending={self._capacity} items already wait; no room for one more"
                )
            )
            return
        self.drain()

    def _arrive_batch(self, values: list[_T]) -> None:
        """A run from a stage of ours above. Shape mode, one token an item: held at once,
        then paid for and sent on together by ``_emit_unit``, as the same items arriving one
        by one on this thread would be. Otherwise each item is priced on arrival."""
        if self._unit and self._shape:
            self._accept_batch(values)  # held: a stage gated by _admit
            return
        arrive = self._arrive
        for value in values:
            arrive(value)

    def _overflow(self, value: _T) -> None:
        self._count_arrival()
        self._stop_upstream(
            BufferOverflowError(
                f"max_pending={self._capacity} items already wait; no room for one more"
            )
        )

    def _drop(self, value: _T) -> None:
        self._count_arrival()
        self._dropped += 1  # on the producer's thread, whose signals never overlap (1.3)
        self._count_drop(counted=True)
        if self._on_drop is not None:
            try:
                self._on_drop(value)
            except Exception as err:  # a failing on_drop fails the stream
                self._stop_upstream(err)
                return
        if self._upstream_flow:
            with self._lock:
                self._unsettled -= 1
            self._pull()

    # -- downstream -----------------------------------------------------------------------

    def _emit(self, on_next: Callable[[_T], None], limit: int) -> int:
        """Items priced by ``cost`` (at one token each, ``_emit_unit`` takes its place)."""
        queue, costs, bucket = self._queue, self._costs, self._bucket
        emitted = 0
        # One clock reading per pass: the pass happens at that instant, and a reading taken
        # earlier than the moment of emission can only under-count the tokens, never over.
        now = self._now() if self._shape and queue else 0.0
        if self._throttle[2] > self._throttle[1]:
            self._settle_throttle(now if now else self._now())
        due, self._wake_at = self._wake_at, None
        while emitted < limit and queue:
            if self._shape:
                at, due = self._charged_at(now, due, costs[0]), None
                wait = bucket.acquire(at, costs[0])
                if wait and at != now:
                    wait = bucket.acquire(now, costs[0])
                if wait:
                    self._wake(now, wait)
                    break
            costs.popleft()
            on_next(queue.popleft())
            emitted += 1
            if self._cancelled:
                break
        return emitted

    def _emit_unit(self, on_next: Callable[[_T], None], limit: int) -> int:
        """``_emit`` when every item costs one token: as many at once as the tokens pay for."""
        queue = self._queue
        if not self._shape:  # paid on arrival
            return super()._emit(on_next, limit)
        if not queue:  # a pass for a request, before the items come: nothing to pay for
            return 0
        bucket = self._bucket
        now = self._now()
        if self._throttle[2] > self._throttle[1]:
            self._settle_throttle(now)
        due = self._wake_at
        at = now if due is None else self._charged_at(now, due, 1.0)
        self._wake_at = None
        emitted = 0
        popleft = queue.popleft
        run = getattr(on_next, "__self__", None)
        into_run = type(run) is list  # a run's append (see Drain._emit): filled at once
        while emitted < limit and queue:
            count = bucket.take_up_to(at, min(limit - emitted, len(queue)))
            if not count:
                if at != now:
                    at = now
                    continue
                if emitted:
                    return self._emit_racing(on_next, limit, emitted, now)
                self._wake(now, bucket.wait_for(now, 1.0))
                break
            at = now
            if into_run:
                run.extend([popleft() for _ in range(count)])  # type: ignore[union-attr]
                emitted += count
                continue
            for _ in range(count):
                on_next(popleft())
                emitted += 1
                if self._cancelled:
                    return emitted
        return emitted

    def _emit_racing(
        self, on_next: Callable[[_T], None], limit: int, emitted: int, now: float
    ) -> int:
        """The rest of ``_emit_unit``'s pass once the tokens there at ``now`` are spent:
        items read ahead (``READ_AHEAD``) may be due within the time it took to send the
        ones before them, so each reads the clock again and goes if its token is there;
        the first that must wait sets the timer."""
        queue, bucket = self._queue, self._bucket
        read = self._now  # the clock's reader itself, once read (see Drain._clock_reader)
        popleft = queue.popleft
        while emitted < limit and queue:
            later = read()
            if later > now:
                now = later
                wait = bucket.acquire(now, 1.0)
                if not wait:  # paid: the head goes now
                    on_next(popleft())
                    emitted += 1
                    if self._cancelled:
                        break
                    continue
            else:
                wait = bucket.wait_for(now, 1.0)
            self._wake(now, wait)
            break
        return emitted

    def _charged_at(self, now: float, due: float | None, cost: float) -> float:
        """When the head is charged: at ``due``, if a timer set for it woke the loop, so a
        late timer's lateness stays in the bucket and the long-run rate holds (absolute due
        times); but at most half the head's refill back, so no two items go out closer than
        half their spacing (a very late timer restarts the schedule instead); else now.
        A charge at ``due`` after later ones finds no more tokens than one at ``now``: the
        bucket's state never moves back (see :class:`Bucket`)."""
        if due is None or due > now:
            return now
        return max(due, now - 0.5 * cost / self._bucket.rate)

    def _wake(self, now: float, wait: float) -> None:
        """Run the loop again when the head's tokens are there (one timer at a time)."""
        due = now + wait
        self._throttled_until(now, due)
        if self._wake_at is None or now >= self._wake_at or due != self._wake_at:
            self._wake_at = due
            self._drain_after(wait)

    def _on_request(self, n: int) -> None:
        self._pull()

    def _on_emitted(self, count: int) -> None:
        if not self._upstream_flow:
            return
        if self._shape:
            # In shape mode the count only changes on the loop's owner (here and in _pull,
            # called from the loop's hooks): no lock. Asked again once nothing is in flight.
            self._unsettled = unsettled = self._unsettled - count
            if not unsettled:
                self._pull()
            return
        with self._lock:  # drop mode settles dropped items on the producer's thread too
            self._unsettled -= count
        self._pull()

    def _release(self) -> None:
        self._costs.clear()
        total, since, until = self._throttle
        if until > since:
            now = self._now()
            if now < until:  # the wait ends with the stream
                self._throttle = (total, since, max(since, now))
            self._settle_throttle(now)

    # -- what inspect() sees --------------------------------------------------------------

    def _throttled_until(self, now: float, due: float) -> None:
        """The head item waits for its tokens from ``now`` until ``due`` (the owner)."""
        self._settle_throttle(now)
        total, since, until = self._throttle
        if now >= until:  # a new wait
            self._throttle = (total, now, due)
        elif due > until:
            self._throttle = (total, since, due)

    def _settle_throttle(self, now: float) -> None:
        """A wait that is over by ``now`` goes into the total, and into ``metrics``
        ``throttled_seconds`` (which counts waits once they are over; the owner)."""
        total, since, until = self._throttle
        if now >= until > since:
            self._throttle = (total + until - since, until, until)
            if self._metrics is not None:
                self._metrics.increment("throttled_seconds", until - since)

    def throttled_seconds(self, now: float) -> float:
        """Seconds items have waited for their tokens, up to ``now``, in all."""
        total, since, until = self._throttle
        return total + max(0.0, min(now, until) - since)

    def _stage_state(self) -> dict[str, object]:
        now = self._now()
        return {
            "tokens": max(self._bucket.level(now), 0.0),
            "throttled_seconds": self.throttled_seconds(now),
        }

    # -- demand upstream ------------------------------------------------------------------

    def _pull(self) -> None:
        """Request from a Flowable upstream what the bucket and downstream demand allow.

        Shape mode asks, once nothing is in flight or held, for as many items as the
        tokens pay for now and within ``READ_AHEAD`` (at least one, read ahead to wait for
        its tokens): with a custom cost the price is unknown, so one. Drop and error modes
        keep what is asked and not yet delivered or dropped equal to downstream demand, so
        each dropped item is asked for again. Never more than ``max_pending`` is asked
        ahead: a synchronous upstream answers while the loop waits, and all of the answer
        is held first. The count and the request move together under the lock.
        """
        if not self._upstream_flow:
            return
        with self._lock:
            if self._done or self._cancelled:
                return
            requested, unsettled = self._requested, self._unsettled
            if self._shape:
                if unsettled or not requested:
                    return
                budget = (
                    1
                    if self._cost is not None
                    else max(1, self._bucket.affords_within(self._now(), READ_AHEAD))
                )
                want = min(requested, budget, self._capacity)
            else:
                want = min(requested, self._capacity) - unsettled
            if want <= 0:
                return
            self._unsettled = unsettled + want
        self._request_upstream(want)

    # -- messages and metrics -------------------------------------------------------------

    def _count_arrival(self) -> None:
        """An item refused or dropped on arrival (the producer's thread: see the class)."""
        self._received += 1
        if self._metrics is not None:
            self._metrics.increment("received")

    def _refusal(self, cost: float) -> str:
        bucket = self._bucket
        return (
            f"an item costing {cost:g} found {max(bucket.level(self._now()), 0.0):g} tokens "
            f"(capacity {bucket.capacity:g}, refill_rate {bucket.rate:g}/s)"
        )
