"""circuit_break: call a failing service less, and stop pulling upstream while it fails.

Each item goes to ``action(item)``, one call at a time, in input order, and only when the
subscriber has demand for a result; the result is emitted. A call fails when ``action``
raises, when the Observable it returns errs or completes empty (its first item is the
result), when the awaitable it returns (an ``async def`` action) raises, or when it takes
longer than ``call_timeout`` (``TimeoutError``). A :class:`CircuitBreaker` counts the
failures: while it is open no call is made and **no demand goes upstream**, so a pull
source is not read. With ``failure_threshold=3, reset_timeout=3, prefetch=8``, twelve items
``a`` to ``l`` and an action that fails its first 5 calls::

    request:   *                  the subscriber's demand
    upstream:  8--------8         demand signalled upstream: none while open
    calls:     a, a, a at 0 (open); a at 3 and at 6 (half-open trials fail, open again);
               a at 9 (the trial succeeds: closed), then b to l at 9
    output:    ---------(A,B,C,D,E,F,G,H,I,J,K,L,|)

``on_failure``: ``"retry"`` (default) calls the failed item again as soon as a call is
allowed (every item reaches ``action`` until it succeeds; results in input order);
``"skip"`` hands the item and its error to ``on_skip`` (counted in ``dropped``) and goes on;
``"error"`` retries while the breaker is closed and fails with ``CircuitOpenError`` (its
cause the last failure) once it opens.

Defaults: ``failure_threshold=5``, ``reset_timeout=60.0`` s, ``half_open_max_calls=1``,
``backoff=1.0``, ``max_reset_timeout=None``; each subscription gets its own breaker, unless
``breaker=`` shares one (whose settings then apply: giving them here too is a ValueError).
Held items: a Flowable upstream is read ``prefetch=128`` items ahead and asked again once
three quarters of them are gone; a plain upstream waits in a queue of ``max_pending=1024``,
and one more fails the stream with ``BufferOverflowError`` after the held items. The clock is
``scheduler`` (default: the subscriber's), which also subscribes ``action``'s Observables.
``call_timeout=None``: no limit. An awaitable is awaited on the event loop running where the
subscription is made, else on the loop of an ``AsyncIOScheduler`` given as ``scheduler``; an
``async def`` action with neither fails at subscribe, saying what to pass.
``metrics`` counts ``calls`` and ``failures`` besides the usual names.

``name`` (default: its call, e.g. ``circuit_break(send)``) names the stage in ``inspect``,
whose state shows ``circuit``, ``open_for`` (seconds, while open), ``in_flight`` and
``failures`` (in all). The ``rx_backpressure.circuit_break`` logger says when the circuit
opens (WARNING), half-opens and closes (INFO), and summarises skipped items.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal, TypeVar, cast, overload

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable, SingleAssignmentDisposable

from .._aio import find_loop, is_async_callable, no_loop_error, on_loop, run_on
from ..core import (
    HELD,
    CircuitOpenError,
    Drain,
    Flowable,
    Metrics,
    Subscriber,
    call_name,
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_metrics,
    check_scheduler,
    check_seconds,
    lift,
    stage_name,
)
from ._circuit_breaker import CircuitBreaker, check_settings

_T = TypeVar("_T")
_R = TypeVar("_R")

OnFailure = Literal["retry", "skip", "error"]
_ON_FAILURES: tuple[OnFailure, ...] = ("retry", "skip", "error")
PREFETCH = 128
"""The default read-ahead over a Flowable upstream: RxJava's default buffer size."""


class _DefaultInt(int):
    """A default that ``is`` tells apart from the same value given explicitly."""


class _DefaultFloat(float):
    """A default that ``is`` tells apart from the same value given explicitly."""


DEFAULT_FAILURE_THRESHOLD = _DefaultInt(5)
DEFAULT_RESET_TIMEOUT = _DefaultFloat(60.0)
DEFAULT_HALF_OPEN_MAX_CALLS = _DefaultInt(1)
DEFAULT_BACKOFF = _DefaultFloat(1.0)


@overload
def circuit_break(
    action: Callable[[_T], Awaitable[_R]],
    *,
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
    half_open_max_calls: int = DEFAULT_HALF_OPEN_MAX_CALLS,
    backoff: float = DEFAULT_BACKOFF,
    max_reset_timeout: float | None = None,
    on_failure: OnFailure = "retry",
    max_pending: int = 1024,
    prefetch: int = PREFETCH,
    on_skip: Callable[[_T, Exception], None] | None = None,
    breaker: CircuitBreaker | None = None,
    call_timeout: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_R]]: ...


@overload
def circuit_break(
    action: Callable[[_T], Observable[_R]],
    *,
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
    half_open_max_calls: int = DEFAULT_HALF_OPEN_MAX_CALLS,
    backoff: float = DEFAULT_BACKOFF,
    max_reset_timeout: float | None = None,
    on_failure: OnFailure = "retry",
    max_pending: int = 1024,
    prefetch: int = PREFETCH,
    on_skip: Callable[[_T, Exception], None] | None = None,
    breaker: CircuitBreaker | None = None,
    call_timeout: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_R]]: ...


@overload
def circuit_break(
    action: Callable[[_T], _R],
    *,
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
    half_open_max_calls: int = DEFAULT_HALF_OPEN_MAX_CALLS,
    backoff: float = DEFAULT_BACKOFF,
    max_reset_timeout: float | None = None,
    on_failure: OnFailure = "retry",
    max_pending: int = 1024,
    prefetch: int = PREFETCH,
    on_skip: Callable[[_T, Exception], None] | None = None,
    breaker: CircuitBreaker | None = None,
    call_timeout: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_R]]: ...


def circuit_break(
    action: Callable[[_T], Any],
    *,
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
    half_open_max_calls: int = DEFAULT_HALF_OPEN_MAX_CALLS,
    backoff: float = DEFAULT_BACKOFF,
    max_reset_timeout: float | None = None,
    on_failure: OnFailure = "retry",
    max_pending: int = 1024,
    prefetch: int = PREFETCH,
    on_skip: Callable[[_T, Exception], None] | None = None,
    breaker: CircuitBreaker | None = None,
    call_timeout: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_R]]:
    """Call ``action`` for each item behind a circuit breaker, and emit its results.

    Calls are made one at a time, in input order, and only for results the subscriber has
    asked for. While the breaker is open no call is made and no demand goes upstream.

    Args:
        action: Called with each item; returns the result, an Observable whose first
            item is the result, or an awaitable (``async def``) that gives it. Raising,
            or an Observable that errs or completes empty, is a failed call.
        failure_threshold: Consecutive failures that open the breaker (>= 1).
        reset_timeout: Seconds of scheduler time the breaker stays open (> 0).
        half_open_max_calls: Consecutive trial successes that close it again (>= 1).
        backoff: Factor applied to the open period after a failed trial (>= 1).
        max_reset_timeout: Cap on the grown open period (None: no cap).
        on_failure: ``"retry"`` the failed item when calls are allowed again, ``"skip"`` it
            (to ``on_skip``, counted as ``dropped``), or ``"error"``: fail with
            ``CircuitOpenError`` once the breaker opens.
        max_pending: Items a plain (push) upstream may have waiting; one more fails the
            stream with ``BufferOverflowError``.
        prefetch: Items a Flowable upstream is read ahead of the calls (>= 1), asked
            again once three quarters of them are gone. Larger costs less per item;
            smaller holds fewer items read before the breaker could open.
        on_skip: Called with each skipped item and its error (``"skip"`` only).
        breaker: A :class:`CircuitBreaker` shared with other streams, instead of one per
            subscription; its settings apply, so the five above must not be given.
        call_timeout: Seconds of scheduler time a call may take (> 0); a longer one is a
            failed call with ``TimeoutError``: an awaited call is cancelled, a synchronous
            one is judged when it returns (its result dropped). None: no limit.
        scheduler: The clock, and the scheduler ``action``'s Observables are subscribed
            with (default: the subscriber's).
        metrics: Counters to keep current, ``calls`` and ``failures`` included.
        name: The stage's name in ``inspect`` and in log lines (default: its call, e.g.
            ``circuit_break(send)``).

    Raises:
        ValueError: At construction, for a setting out of range or an unknown
            ``on_failure``, for ``on_skip`` without ``"skip"``, and for breaker settings
            given along with ``breaker``.
        TypeError: At construction, for a parameter of the wrong type (a bool or a float
            count, a non-callable ``action`` or ``on_skip``, a ``breaker``, ``scheduler``
            or ``metrics`` that is not one, a ``name`` that is not a non-empty str).
    """
    check_callable("action", action)
    check_settings(
        failure_threshold, reset_timeout, half_open_max_calls, backoff, max_reset_timeout
    )
    check_choice("on_failure", on_failure, _ON_FAILURES)
    check_int("max_pending", max_pending)
    check_int("prefetch", prefetch)
    check_callable("on_skip", on_skip, allow_none=True)
    check_instance("breaker", breaker, CircuitBreaker, "a CircuitBreaker", allow_none=True)
    check_seconds("call_timeout", call_timeout, allow_none=True)
    check_scheduler(scheduler)
    check_metrics(metrics)
    if on_skip is not None and on_failure != "skip":
        raise ValueError(f"on_skip is only called with on_failure='skip', got {on_failure!r}")
    if breaker is not None:
        given = [
            name
            for name, value, default in (
                ("failure_threshold", failure_threshold, DEFAULT_FAILURE_THRESHOLD),
                ("reset_timeout", reset_timeout, DEFAULT_RESET_TIMEOUT),
                ("half_open_max_calls", half_open_max_calls, DEFAULT_HALF_OPEN_MAX_CALLS),
                ("backoff", backoff, DEFAULT_BACKOFF),
                ("max_reset_timeout", max_reset_timeout, None),
            )
            if value is not default
        ]
        if given:
            raise ValueError(f"breaker= brings its own settings; do not also pass {given}")
    label = stage_name(
        name,
        lambda: call_name(
            "circuit_break",
            action,
            **({} if on_failure == "retry" else {"on_failure": on_failure}),
        ),
    )

    def new_breaker() -> CircuitBreaker:
        return CircuitBreaker(
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            half_open_max_calls=half_open_max_calls,
            backoff=backoff,
            max_reset_timeout=max_reset_timeout,
            scheduler=scheduler,
        )

    def make(subscriber: Subscriber[_R]) -> _CircuitDrain[_T, _R]:
        return _CircuitDrain(
            subscriber,
            action,
            breaker if breaker is not None else new_breaker(),
            own=breaker is None,
            on_failure=on_failure,
            on_skip=on_skip,
            capacity=max_pending,
            prefetch=prefetch,
            call_timeout=call_timeout,
            scheduler=scheduler,
            metrics=metrics,
            name=label,
        )

    return lift(make)


_log = logging.getLogger("rx_backpressure.circuit_break")


class _CircuitDrain(Drain[_T, _R]):
    # Every call is made by the loop, on the held head item: a read-ahead that upstream
    # answers at once is held first, then called item by item while the breaker allows.

    _log_as = _log.name

    __slots__ = (
        "_action",
        "_breaker",
        "_call",
        "_call_timeout",
        "_failures",
        "_loop",
        "_on_failure",
        "_on_skip",
        "_owed",
        "_own",
        "_read_ahead",
        "_refill",
        "_seen",
        "_started",
    )

    def __init__(
        self,
        downstream: Subscriber[_R],
        action: Callable[[_T], Any],
        breaker: CircuitBreaker,
        *,
        own: bool,
        on_failure: OnFailure,
        on_skip: Callable[[_T, Exception], None] | None,
        capacity: int,
        prefetch: int,
        call_timeout: float | None,
        scheduler: abc.SchedulerBase | None,
        metrics: Metrics | None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            downstream, capacity=capacity, scheduler=scheduler, metrics=metrics, name=name
        )
        self._action = action
        self._call_timeout = call_timeout
        self._loop: asyncio.AbstractEventLoop | None = None  # for awaitable results
        self._breaker = breaker
        self._own = own
        self._on_failure = on_failure
        self._on_skip = on_skip
        self._read_ahead = prefetch
        self._refill = max(prefetch * 3 // 4, 1)  # ask again once this many are gone
        self._call: _Call[_R] | None = None  # the head item's call, while its outcome is due
        self._owed = 0  # items taken off the queue and not yet asked again from upstream
        self._started = False
        self._failures = 0  # failed calls, in all (the loop's owner)
        self._seen = (breaker._epoch, breaker._state)  # the breaker's last state logged

    def start(self, source: Observable[_T] | None, scheduler: abc.SchedulerBase | None) -> None:
        self._use_scheduler(scheduler)
        self._loop = find_loop(None, self._scheduler, scheduler)
        if self._loop is None and is_async_callable(self._action):
            # Fail now, not at the first item, and never leave a coroutine unawaited.
            super().start(None, scheduler)
            self._violate(no_loop_error("circuit_break with an async action", takes_loop=False))
            return
        if isinstance(source, Flowable) and source.push_source is None:
            self._capacity = self._read_ahead
            if self._breaker.state == "open":
                self._owed = self._read_ahead  # asked for once calls are allowed again
            else:
                # Asked on subscribe, as every stage does: a synchronous source above may
                # run before start returns, and must find the demand there.
                self._prefetch = self._read_ahead
        elif self._direct_paths and self._metrics is None and self._call_timeout is None:
            # Pushed items take the core's direct path for a called item (_call_outcome).
            self._call_gate = self._breaker
            self._call_action = self._action
            self.on_next = self._accept_called  # type: ignore[method-assign]
        self._seen = (self._breaker._epoch, self._breaker._state)
        self._breaker.attach(self.clock, self._wake)
        super().start(source, scheduler)
        self._started = True
        self._wake()  # a change during start, or a shared breaker open from the outset

    def _call_outcome(self, token: int, outcome: object, raised: bool) -> object:
        """The core's direct path for a called item (``Drain._accept_called``, taken when
        calls are neither timed nor counted in ``metrics``) made the call under the
        breaker's ``calm`` token: judge what did not end as a plain success with nothing to
        count. A failure is counted as the loop counts it (retried, skipped or fatal), an
        Observable or awaitable started, and both left to the loop (``HELD``); a plain
        result goes on, its success counted if the breaker moved on during the call."""
        if raised:
            self._failed(token, cast(Exception, outcome))
            return HELD
        if type(outcome) is not self._call_plain and self._awaits(outcome, token):
            return HELD  # the loop waits for its outcome
        breaker = self._breaker
        if breaker.calm != token:
            breaker.success(token)
        return outcome

    def _emit(self, on_next: Callable[[_R], None], limit: int) -> int:
        queue, breaker, action = self._queue, self._breaker, self._action
        if self._owed:  # asked here, in the loop, items arrive and are held before any call
            self._replenish()
        emitted = consumed = 0
        value: Any
        metrics, timeout = self._metrics, self._call_timeout
        if timeout is None and metrics is None and self._call is None and len(queue) > 8:
            # (A few items, as a hot push source or a small prefetch brings them, are not
            # worth the set-up: measured slower at prefetch=8, faster from 32.)
            emitted, consumed = self._emit_closed(on_next, limit)
            if self._cancelled:
                limit = emitted  # cancelled from on_next: nothing more goes out
        while emitted < limit and queue:
            call = self._call
            if call is None:
                # The breaker's own hot paths (acquire and success), inline: a closed
                # breaker needs no lock, and this saves two calls per item.
                epoch = breaker._epoch  # read before the state, as acquire does
                permit = epoch if breaker._state == "closed" else breaker.acquire()
                if permit is None:
                    if self._on_failure == "error" and breaker.state == "open":
                        raise self._open_error()
                    break
                if metrics is not None:
                    metrics.increment("calls")
                began = 0.0 if timeout is None else self._now()
                try:
                    value = action(queue[0])
                except Exception as err:
                    failed, value = True, err
                else:
                    failed = False
                    if type(value) is not self._call_plain and self._awaits(value, permit):
                        continue  # its outcome may be there already
                    if timeout is not None and self._now() - began > timeout:
                        failed, value = True, _timed_out(timeout)
            elif call.outcome is None:
                break
            else:
                self._call = None
                permit, (failed, value) = call.permit, call.outcome
            if failed:
                consumed += self._failed(permit, value)
                continue
            if breaker._count or permit != breaker._epoch or breaker._state != "closed":
                breaker.success(permit)
            queue.popleft()
            consumed += 1
            try:
                on_next(value)
            except Exception:
                self._refused = emitted + 1  # handed on, the refused one included
                raise
            emitted += 1
            if self._cancelled:
                break
        if consumed and self._upstream_flow:
            with self._lock:
                self._owed += consumed
                if self._metrics is not None:  # under the lock: never a stale reading
                    self._metrics.set("depth", len(queue))
            if not emitted:
                self._replenish()  # else from _on_emitted
        return emitted

    def _emit_closed(self, on_next: Callable[[_R], None], limit: int) -> tuple[int, int]:
        """``_emit``'s loop while the breaker stays closed with nothing to count, calls are
        synchronous and neither timed nor counted in ``metrics``: the fewest steps per item.
        It stops at anything else (a failure, an Observable or an awaitable to wait for, a
        breaker no longer calm), which the general loop then takes from there; returns the
        items emitted and consumed (emitted, or skipped), as that loop counts them."""
        queue, breaker, action, plain = self._queue, self._breaker, self._action, self._call_plain
        popleft = queue.popleft
        emitted = skipped = 0
        # The head stays in the queue during its call, so the queue never holds more than
        # its capacity while a producer on another thread adds to it. The breaker's ``calm``
        # is its epoch while it is closed with nothing counted, else -1: one read gives the
        # permit of the next call and tells whether the last success needs counting.
        permit = breaker.calm
        if permit < 0:
            return 0, 0
        # Items that arrive during the pass wait for the next one; so does anything but a
        # plain success (a failure, an Observable or an awaitable), which ends the pass here.
        # A run's append (the chain hand-off) cannot cancel, so only a subscriber's on_next
        # is followed by a look at the cancel flag.
        into_run = type(getattr(on_next, "__self__", None)) is list
        for emitted in range(1, min(limit, len(queue)) + 1):  # the count once this one is out
            try:
                value = action(queue[0])
            except Exception as err:
                emitted -= 1
                skipped = self._failed(permit, err)
                break
            if type(value) is not plain:
                if self._awaits(value, permit):
                    emitted -= 1
                    break  # its outcome is the general loop's to wait for
                plain = self._call_plain
            if breaker.calm != permit:  # the state moved on during the call: count the success
                breaker.success(permit)
                permit = breaker.calm
            popleft()
            try:
                on_next(value)
            except Exception:
                self._refused = emitted  # handed on, the refused one included
                raise
            if permit < 0 or (not into_run and self._cancelled):
                break
        return emitted, emitted + skipped

    def _on_emitted(self, count: int) -> None:
        self._replenish()

    def _awaits(self, value: object, permit: int) -> bool:
        """Whether ``value`` is an Observable or an awaitable, now started, whose outcome is
        awaited (for at most ``call_timeout``)."""
        if isinstance(value, Observable):
            call = self._call = _Call(permit, self.drain)
            try:
                call.link.disposable = value.subscribe(call, scheduler=self._scheduler)
            except Exception as err:
                call.on_error(err)
        elif inspect.isawaitable(value):
            call = self._call = _Call(permit, self.drain)
            self._start_awaitable(value, call)
        else:
            self._call_plain = type(value)  # the next result of this type skips the checks
            return False
        timeout = self._call_timeout
        if timeout is not None and call.outcome is None:
            call.timeout = timeout
            call.timer.disposable = self.clock.schedule_relative(timeout, call.time_out)
        return True

    def _start_awaitable(self, value: Awaitable[Any], call: _Call[Any]) -> None:
        """Await ``value`` on the loop; its outcome settles ``call``, disposing it cancels."""
        loop = self._loop
        if loop is None:
            if inspect.iscoroutine(value):
                value.close()  # never awaited, and no warning saying so
            what = "circuit_break, for the awaitable its action returned,"
            call.on_error(no_loop_error(what, takes_loop=False))
            return
        if on_loop(loop):
            task = asyncio.ensure_future(value, loop=loop)
            call.link.disposable = Disposable(partial(run_on, loop, task.cancel))
            task.add_done_callback(call.settle_future)
        else:  # the loop's owner runs on another thread: hand the call over
            future = asyncio.run_coroutine_threadsafe(_await(value), loop)

            def cancel() -> None:
                future.cancel()

            call.link.disposable = Disposable(cancel)
            future.add_done_callback(call.settle_future)

    def _failed(self, permit: int, error: Exception) -> int:
        """Count a failed call of the head item; return 1 if the item was let go (skip)."""
        self._breaker.failure(permit, error)
        self._failures += 1
        metrics = self._metrics
        if metrics is not None:
            metrics.increment("failures")
        if self._on_failure == "error" and self._breaker.state == "open":
            raise self._open_error() from error
        if self._on_failure != "skip":
            return 0  # the item stays at the head: called again when calls are allowed
        item = self._queue.popleft()
        self._count_drop()
        if self._on_skip is not None:
            self._on_skip(item, error)
        return 1

    def _replenish(self) -> None:
        """Ask upstream again for the items taken (in batches), unless the breaker is open."""
        if self._owed < self._refill or not self._upstream_flow or self._done:
            return
        breaker = self._breaker
        if breaker._state == "open" and breaker.state == "open":  # (read by the clock)
            return
        with self._lock:
            owed, self._owed = self._owed, 0
        self._request_upstream(owed)

    def _wake(self) -> None:
        """The breaker changed: resume calls and demand, or fail fast."""
        self._log_change()
        if not self._started:
            return
        if self._on_failure == "error" and self._breaker.state == "open":
            self._violate(self._open_error())
            return
        self.drain()
        if not self._requested:  # no call can follow, so items may arrive outside the loop
            self._replenish()

    def _log_change(self) -> None:
        """Log the breaker's move to a new state (called one at a time, by its publisher)."""
        breaker = self._breaker
        epoch, state = breaker._epoch, breaker._state
        if epoch == self._seen[0]:
            return
        before = self._seen[1]
        self._seen = (epoch, state)
        if state == "open":
            if before == "half_open":
                _log.warning(
                    "%s: circuit opened again, a trial call failed; retry in %g s",
                    self._name,
                    breaker._timeout,
                )
            else:
                _log.warning(
                    "%s: circuit opened after %d failures; retry in %g s",
                    self._name,
                    breaker.failure_threshold,
                    breaker._timeout,
                )
        elif state == "half_open":
            _log.info("%s: circuit half-open, trying calls again", self._name)
        else:
            _log.info("%s: circuit closed again, calls go ahead", self._name)

    def _stage_state(self) -> dict[str, object]:
        circuit, lasted = self._breaker.peek()
        call = self._call
        return {
            "circuit": circuit,
            "open_for": lasted if circuit == "open" else 0.0,
            "in_flight": 0 if call is None or call.outcome is not None else 1,
            "failures": self._failures,
        }

    def _open_error(self) -> CircuitOpenError:
        error = CircuitOpenError(
            f"the circuit breaker is open (failure_threshold={self._breaker.failure_threshold})"
        )
        error.__cause__ = self._breaker.last_failure
        return error

    def _release(self) -> None:
        self._breaker.detach(self._wake)
        call, self._call = self._call, None
        if call is not None:
            call.link.dispose()
            call.timer.dispose()
            self._breaker.release(call.permit)
        if self._own:
            self._breaker.dispose()


class _Call(abc.ObserverBase[_R]):
    """Waits for the first signal of the Observable an action returned."""

    def __init__(self, permit: int, wake: Callable[[], None]) -> None:
        self.permit = permit
        self.outcome: tuple[bool, object] | None = None
        self.link = SingleAssignmentDisposable()
        self.timer = SerialDisposable()
        self.timeout = 0.0
        self._wake = wake

    def on_next(self, value: _R) -> None:
        self._settle(False, value)

    def on_error(self, error: Exception) -> None:
        self._settle(True, error)

    def on_completed(self) -> None:
        self._settle(True, LookupError("the Observable returned by action completed empty"))

    def time_out(self, _: abc.SchedulerBase, __: Any = None) -> None:
        self._settle(True, _timed_out(self.timeout))

    def settle_future(self, future: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
        if future.cancelled():
            self._settle(True, RuntimeError("the call was cancelled"))
        elif (error := future.exception()) is not None:
            self._settle(True, error if isinstance(error, Exception) else RuntimeError(error))
        else:
            self._settle(False, future.result())

    def _settle(self, failed: bool, value: object) -> None:
        if self.outcome is None:
            self.outcome = (failed, value)
            self.link.dispose()
            self.timer.dispose()
            self._wake()


async def _await(value: Awaitable[_R]) -> _R:
    return await value


def _timed_out(timeout: float) -> TimeoutError:
    return TimeoutError(f"the call took longer than call_timeout={timeout}s")
