"""CircuitBreaker: the closed / open / half-open state machine, on its own and shareable.

::

                 failure_threshold consecutive failures
      closed ------------------------------------------------> open
        ^                                                     |  ^
        | half_open_max_calls consecutive successes           |  | a failure: the timeout
        |                                     reset_timeout   |  | grows by backoff, up to
        |                                     of clock time   v  | max_reset_timeout
        +---------------------------------------------- half_open

Defaults: ``failure_threshold=5``, ``reset_timeout=60.0`` seconds, ``half_open_max_calls=1``,
``backoff=1.0`` (no growth), ``max_reset_timeout=None`` (no cap), ``scheduler=None`` (the
clock of the first stream that uses the breaker). Closing resets the timeout.

Callers take a permit before each call (:meth:`acquire`; None while open, or while a
half-open trial is out) and report its outcome (:meth:`success`, :meth:`failure`) or give it
back unused (:meth:`release`). A permit is only good in the state period it was taken in:
the outcome of a call that outlived a transition is ignored.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable
from reactivex.scheduler import TimeoutScheduler

from ..core import check_int, check_number, check_scheduler, check_seconds, seconds

CircuitState: TypeAlias = Literal["closed", "open", "half_open"]
"""What a :class:`CircuitBreaker` lets through: everything, nothing, or trial calls."""

_Stamp: TypeAlias = tuple[datetime, CircuitState]
_Entry: TypeAlias = tuple[abc.ObserverBase[_Stamp] | None, _Stamp | None]
_EARLY = 5e-7  # virtual time is microsecond-exact: half a microsecond early is on time


def check_settings(
    failure_threshold: object,
    reset_timeout: object,
    half_open_max_calls: object,
    backoff: object,
    max_reset_timeout: object,
) -> None:
    """Refuse a breaker setting of the wrong type or out of range, naming it and its value."""
    check_int("failure_threshold", failure_threshold)
    reset = check_seconds("reset_timeout", reset_timeout)
    check_int("half_open_max_calls", half_open_max_calls)
    check_number("backoff", backoff, minimum=1)
    cap = check_seconds("max_reset_timeout", max_reset_timeout, allow_none=True)
    if cap is not None and cap < reset:
        raise ValueError(
            f"max_reset_timeout must be >= reset_timeout ({reset_timeout!r}), "
            f"got {max_reset_timeout!r}"
        )


class CircuitBreaker:
    """The closed / open / half-open state machine, shareable by several streams.

    Hand one to ``circuit_break(action, breaker=...)`` in each stream that calls the same
    service: their failures count together, and while it is open none of them calls or
    pulls. It can also guard calls of your own with :meth:`acquire` and :meth:`success`,
    :meth:`failure` or :meth:`release`.

    Args:
        failure_threshold: Consecutive failures that open the breaker (>= 1).
        reset_timeout: Seconds of clock time it stays open before half-opening (> 0).
        half_open_max_calls: Consecutive trial successes that close it (>= 1).
        backoff: Factor applied to the open period after a failed trial (>= 1).
        max_reset_timeout: Cap on that period (None: no cap; else >= reset_timeout).
        scheduler: The clock; default: that of the first stream that uses the breaker.

    Raises:
        ValueError: For a setting out of range, naming it and its value.
        TypeError: For a setting of the wrong type (a bool or a float count, a bool or a
            non-number time or factor, a ``scheduler`` that is not one), naming it and its
            value.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 60.0,
        half_open_max_calls: int = 1,
        backoff: float = 1.0,
        max_reset_timeout: float | None = None,
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        check_settings(
            failure_threshold, reset_timeout, half_open_max_calls, backoff, max_reset_timeout
        )
        check_scheduler(scheduler)
        self.failure_threshold: Final = failure_threshold
        self.reset_timeout: Final = reset_timeout
        self.half_open_max_calls: Final = half_open_max_calls
        self.backoff: Final = backoff
        self.max_reset_timeout: Final = max_reset_timeout
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._state: CircuitState = "closed"
        self._epoch = 0  # one per state period; a permit is the epoch it was taken in
        self._count = 0  # consecutive failures (closed) or successes (half-open)
        # The epoch while closed with no failure counted, else -1: one lock-free read tells
        # a stream that calls may go ahead with nothing to count (see circuit_break).
        self.calm = 0
        self._trial = False
        self._timeout = reset_timeout
        self._open_until = 0.0
        self._opened_at = 0.0  # clock seconds when it last opened from closed
        self._last_failure: Exception | None = None
        self._timer = SerialDisposable()
        self._wakers: list[Callable[[], None]] = []
        self._observers: list[abc.ObserverBase[_Stamp]] = []
        self._outbox: deque[_Entry] = deque()
        self._publishing = False

    # -- reading --------------------------------------------------------------------------

    @property
    def clock(self) -> abc.SchedulerBase:
        """Its own scheduler, else the first stream's (see :meth:`attach`), else real time.

        Reading it binds nothing: a stream that attaches later still brings its clock. Only
        an open period started with no clock known (calls of your own, no stream) binds the
        breaker to real time, which that period is measured on.
        """
        scheduler = self._scheduler
        return scheduler if scheduler is not None else TimeoutScheduler.singleton()

    @property
    def state(self) -> CircuitState:
        """The state now, against the clock (an elapsed open period reads ``half_open``)."""
        state = self._state
        if state != "open":  # only an open state changes by itself: no lock needed
            return state
        with self._lock:
            self._refresh()
            state = self._state
        self._publish()
        return state

    def peek(self) -> tuple[CircuitState, float]:
        """The state now, read without changing anything (for ``inspect``), and while it is
        open the seconds since it opened (failed trials in between keep it open; else 0.0).
        An elapsed open period reads ``half_open``, as :attr:`state` says, but the breaker
        is left to move on by itself."""
        state, opened, until = self._state, self._opened_at, self._open_until
        if state != "open":
            return state, 0.0
        now = seconds(self.clock)
        if now >= until - _EARLY:
            return "half_open", 0.0
        return state, max(now - opened, 0.0)

    @property
    def last_failure(self) -> Exception | None:
        """The most recent failure counted, the cause of a ``CircuitOpenError``."""
        return self._last_failure

    @property
    def states(self) -> Observable[tuple[datetime, CircuitState]]:
        """``(clock.now, state)`` for the state at subscription, then one per transition.

        Subscribing binds no clock: until one is known (see :attr:`clock`), the first stamp
        is read from the ``scheduler`` given to ``subscribe``, else from real time.
        """

        def subscribe(
            observer: abc.ObserverBase[_Stamp], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            with self._lock:
                self._refresh()
                # Before a clock is known, stamp with the subscriber's scheduler without
                # binding the breaker to it: the first stream still brings the clock.
                clock = self._scheduler
                if clock is None:
                    clock = scheduler if scheduler is not None else TimeoutScheduler.singleton()
                self._outbox.append((observer, (clock.now, self._state)))
            self._publish()
            return Disposable(lambda: self._forget(self._observers, observer))

        return Observable(subscribe)

    # -- permits --------------------------------------------------------------------------

    def acquire(self) -> int | None:
        """A permit for one call now, or None if no call may be made."""
        epoch = self._epoch  # read before the state: a transition between makes it stale
        if self._state == "closed":  # the hot path: a closed breaker needs no lock
            return epoch
        return self._acquire_locked()

    def _acquire_locked(self) -> int | None:
        with self._lock:
            self._refresh()
            permit = None
            if self._state == "closed":
                permit = self._epoch
            elif self._state == "half_open" and not self._trial:
                self._trial = True
                permit = self._epoch
        self._publish()
        return permit

    def success(self, permit: int) -> None:
        """The call made with ``permit`` succeeded."""
        if self._state == "closed" and self._count == 0 and permit == self._epoch:
            return  # the hot path: nothing to count
        with self._lock:
            if permit != self._epoch or self._state == "open":
                pass  # a call that outlived its state period
            elif self._state == "closed":
                self._count = 0
                self.calm = self._epoch
            elif self._count + 1 >= self.half_open_max_calls:
                self._timeout = self.reset_timeout
                self._enter("closed")
            else:
                self._count += 1
                self._trial = False
                self._outbox.append((None, None))  # the trial slot is free again
        self._publish()

    def failure(self, permit: int, error: Exception) -> None:
        """The call made with ``permit`` failed with ``error``."""
        timeout = None
        with self._lock:
            if permit == self._epoch and self._state != "open":
                self._last_failure = error
                self._count += 1
                if self._state == "half_open":
                    cap = self.max_reset_timeout
                    grown = self._timeout * self.backoff
                    self._timeout = grown if cap is None else min(grown, cap)
                if self._state == "half_open" or self._count >= self.failure_threshold:
                    timeout = self._timeout
                    if self._scheduler is None:  # the period ends on the clock it began on
                        self._scheduler = TimeoutScheduler.singleton()
                    self._open_until = seconds(self._scheduler) + timeout
                    self._enter("open")
                elif self.calm >= 0:  # the first failure counted while closed
                    self.calm = -1
                    self._outbox.append((None, None))  # streams calling inline look again
        if timeout is not None:
            self._arm(timeout, self._epoch)
        self._publish()

    def release(self, permit: int) -> None:
        """Give back an unused permit (its call was abandoned)."""
        with self._lock:
            if permit == self._epoch and self._trial:
                self._trial = False
                self._outbox.append((None, None))
        self._publish()

    # -- streams --------------------------------------------------------------------------

    def attach(self, clock: abc.SchedulerBase, wake: Callable[[], None]) -> None:
        """A stream starts using the breaker: ``wake`` is called after each change."""
        with self._lock:
            if self._scheduler is None:
                self._scheduler = clock
            self._wakers.append(wake)

    def detach(self, wake: Callable[[], None]) -> None:
        """A stream is done with the breaker."""
        self._forget(self._wakers, wake)

    def dispose(self) -> None:
        """Cancel the pending half-open timer (a breaker no one will use again)."""
        self._timer.dispose()

    # -- inside ---------------------------------------------------------------------------

    def _forget(self, members: list[Any], member: object) -> None:
        with self._lock:
            if member in members:
                members.remove(member)

    def _enter(self, state: CircuitState) -> None:
        """Move to ``state`` (under the lock); the change is published afterwards."""
        if state == "open" and self._state == "closed":
            self._opened_at = seconds(self.clock)
        self._state = state
        self._epoch += 1
        self._count = 0
        self.calm = self._epoch if state == "closed" else -1
        self._trial = False
        self._outbox.append((None, (self.clock.now, state)))

    def _refresh(self) -> None:
        if self._state == "open" and seconds(self.clock) >= self._open_until - _EARLY:
            self._enter("half_open")

    def _arm(self, delay: float, epoch: int) -> None:
        # Outside the lock: a same-thread scheduler may run the timer in place.
        def on_timer(_: abc.SchedulerBase, __: Any = None) -> None:
            self._on_timer(epoch)

        self._timer.disposable = self.clock.schedule_relative(delay, on_timer)

    def _on_timer(self, epoch: int) -> None:
        """The open period that began at ``epoch`` has run its time on the scheduler.

        The timer, not a clock reading, says so: a wall clock stepped back meanwhile would
        otherwise keep the breaker open for longer than ``reset_timeout``.
        """
        with self._lock:
            if self._epoch == epoch and self._state == "open":
                self._open_until = min(self._open_until, seconds(self.clock))
                self._refresh()
        self._publish()

    def _publish(self) -> None:
        """Deliver queued changes in order, on one thread at a time, outside the lock."""
        with self._lock:
            if self._publishing or not self._outbox:
                return
            self._publishing = True
        try:
            while True:
                with self._lock:
                    if not self._outbox:
                        self._publishing = False
                        return
                    observer, stamp = self._outbox.popleft()
                    if observer is not None:
                        self._observers.append(observer)
                    targets = [observer] if observer is not None else list(self._observers)
                    wakers = list(self._wakers) if observer is None else []
                if stamp is not None:
                    for target in targets:
                        target.on_next(stamp)
                for wake in wakers:
                    wake()
        except BaseException:
            with self._lock:
                self._publishing = False
            raise
