"""The one demand/drain primitive that every source and operator is built on.

A :class:`Drain` is at once the :class:`Subscription` handed downstream and the subscriber
it places upstream. It owns, in one place:

- demand accounting: additive, saturating at ``UNBOUNDED``, validated (rules 3.8, 3.9, 3.17);
- a bounded queue of held items (``capacity``) that producers ``_offer`` into;
- one serialized delivery loop: whoever calls :meth:`drain` first on any thread becomes the
  owner and emits; a call made meanwhile (a ``request`` from inside ``on_next``, an item
  from another thread) only marks the loop as missed, so the owner passes again. Signals
  never overlap (rule 1.3) and ``request`` from ``on_next`` never deepens the stack (3.3);
- terminal signals that wait behind held items (nothing accepted is lost);
- the link upstream, whether a Flowable (demand is signalled with ``_request_upstream``)
  or a plain Observable (push: the operator's overflow policy applies in ``on_next``);
- the operator's scheduler, for timers and for delivery on another thread;
- inline windows: an upstream that answers a request on the spot has its items handed on
  as they arrive, with demand settled once per answer rather than locked per item.

Operators subclass it and override a few hooks: ``_arrive`` (what to do with an item that
arrives outside a window), ``_emit`` (what to deliver for the demand there is),
``_on_request``, ``_on_emitted``, ``_window_limit``, ``_window_spent``, ``_holding`` and
``_release``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable
from reactivex.scheduler import TimeoutScheduler, VirtualTimeScheduler
from reactivex.scheduler.scheduler import Scheduler

from ._demand import UNBOUNDED, add_demand, invalid_request
from ._errors import BufferOverflowError
from ._flowable import Flowable, SubscribeFlow
from ._metrics import Metrics
from ._subscription import Subscriber, Subscription

_In = TypeVar("_In")
_Out = TypeVar("_Out")

_get_ident = threading.get_ident

_WALL_CLOCK_NOW = Scheduler.now
"""reactivex's own ``now``: ``datetime.now(UTC)``, the system's real-time clock."""
_wall_clock = time.time  # that clock in seconds since the epoch, without the datetime

_CANCELLED: abc.DisposableBase = Disposable()
"""Stands in for the upstream link once it has been cut."""


def clock_reader(scheduler: abc.SchedulerBase) -> Callable[[], float]:
    """A function that reads ``scheduler``'s clock in seconds, as :func:`seconds` does,
    with the kind of clock worked out once rather than at every reading.

    A scheduler that keeps reactivex's own ``now`` (the wall clock in UTC, as every
    real-time scheduler in reactivex does) is read from the same system clock without
    building a datetime: the same seconds, in a tenth of the time. A scheduler with a
    ``now`` of its own (virtual time, a test clock) is always asked.
    """
    if isinstance(scheduler, VirtualTimeScheduler):
        to_seconds = scheduler.to_seconds
        return lambda: to_seconds(scheduler.clock)
    if type(scheduler).now is _WALL_CLOCK_NOW:
        return _wall_clock
    if scheduler.now.tzinfo is not None:
        return lambda: scheduler.now.timestamp()
    return lambda: scheduler.to_seconds(scheduler.now)


def seconds(scheduler: abc.SchedulerBase) -> float:
    """The scheduler's clock in seconds: the only clock operator code reads."""
    if isinstance(scheduler, VirtualTimeScheduler):
        # Its own clock, without a round trip through datetime.
        return scheduler.to_seconds(scheduler.clock)
    if type(scheduler).now is _WALL_CLOCK_NOW:
        return _wall_clock()
    now = scheduler.now
    if now.tzinfo is not None:
        return now.timestamp()  # the same seconds as to_seconds(now), in half the time
    return scheduler.to_seconds(now)


class Drain(Subscription, abc.ObserverBase[_In], Generic[_In, _Out]):
    """Demand accounting, a bounded queue and one serialized delivery loop."""

    # Slots keep the hot attributes quick to read: with them all in an instance dict,
    # the dict outgrows CPython's shared-key layout and every access slows down.
    # Operators' own attributes still go to the instance dict.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_budget",
        "_cancelled",
        "_capacity",
        "_deliver_on",
        "_delivering_thread",
        "_direct_off",
        "_done",
        "_downstream",
        "_error",
        "_finished",
        "_hooks_emitted",
        "_hooks_request",
        "_in_hook",
        "_lock",
        "_metrics",
        "_missed",
        "_owner",
        "_pending_upstream",
        "_prefetch",
        "_queue",
        "_read_clock",
        "_requested",
        "_scheduler",
        "_spent",
        "_stalled",
        "_timer",
        "_upstream",
        "_upstream_flow",
        "_violation",
        "_window_emitted",
        "_window_in_loop",
        "_windows_off",
        "_wip",
    )

    _direct: bool | None = None
    _windows = False

    def __init__(
        self,
        downstream: Subscriber[_Out],
        *,
        capacity: int = UNBOUNDED,
        scheduler: abc.SchedulerBase | None = None,
        deliver_on: abc.SchedulerBase | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._downstream: Subscriber[_Out] | None = downstream
        self._queue: deque[_In] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._requested = 0
        self._wip = False
        self._missed = False
        self._done = False
        self._error: Exception | None = None
        self._violation: Exception | None = None
        self._cancelled = False
        self._finished = False
        self._upstream: abc.DisposableBase | None = None
        self._upstream_flow = False
        self._prefetch = 0
        self._pending_upstream = 0
        self._scheduler = scheduler
        self._deliver_on = deliver_on
        self._delivering_thread: int | None = None
        # An inline window (see ``_call_upstream``): the thread that owns the loop while it
        # calls upstream, the items it may hand on as they arrive, and those it has.
        self._owner: int | None = None
        self._budget = 0
        self._spent = 0
        self._window_emitted = 0
        self._window_in_loop = False
        self._stalled = False  # an operator held an item: the window stays to the call's end
        self._in_hook = False  # the loop is in ``_on_emitted``
        # The direct path (``_deliver_now``) is only for items that go out as they came in:
        # not when delivery belongs on a scheduler, nor for an operator with its own
        # ``_emit`` (batches, calls) unless it says so, nor once a violation is due.
        direct = self._direct if self._direct is not None else type(self)._emit is Drain._emit
        self._direct_off = deliver_on is not None or not direct
        self._hooks_emitted = type(self)._on_emitted is not Drain._on_emitted
        self._hooks_request = type(self)._on_request is not Drain._on_request
        self._windows_off = deliver_on is not None or not self._windows
        self._timer = SerialDisposable()
        self._read_clock: Callable[[], float] | None = None
        self._metrics = metrics

    # -- wiring ---------------------------------------------------------------------------

    def start(self, source: Observable[_In] | None, scheduler: abc.SchedulerBase | None) -> None:
        """Hand this subscription downstream, then subscribe upstream to ``source``.

        ``scheduler`` is the one given to ``subscribe``; it becomes the operator's clock
        unless the operator was given its own, and it is passed on upstream.
        """
        if self._scheduler is None:
            self._scheduler = scheduler
            self._read_clock = None
        downstream = self._downstream
        assert downstream is not None
        flow = isinstance(source, Flowable) and source.push_source is None
        if flow:
            # Known before on_subscribe, so demand requested from inside it goes upstream.
            self._upstream_flow = True
            self._pending_upstream = self._prefetch
        downstream.on_subscribe(self)
        if source is None:
            self.drain()
        elif flow:
            self._call_upstream(lambda: source.subscribe(self, scheduler=scheduler))
        else:
            pushed = source.push_source if isinstance(source, Flowable) else source
            assert pushed is not None
            self._call_upstream(
                lambda: self._set_upstream(pushed.subscribe(self, scheduler=scheduler))
            )

    @property
    def clock(self) -> abc.SchedulerBase:
        """The operator's scheduler: its own, else the subscriber's, else real time."""
        if self._scheduler is None:
            self._scheduler = TimeoutScheduler.singleton()
        return self._scheduler

    def _now(self) -> float:
        read = self._read_clock
        if read is None:
            read = self._read_clock = clock_reader(self.clock)
        return read()

    def _set_upstream(self, handle: abc.DisposableBase) -> None:
        with self._lock:
            current = self._upstream
            if current is None:
                self._upstream = handle
                pending, self._pending_upstream = self._pending_upstream, 0
        if current is not None:
            # Already cancelled, or a second upstream (rule 2.5): refuse it.
            handle.dispose()
        elif pending:
            self._send_upstream(cast(Subscription, handle), pending)

    def _request_upstream(self, n: int) -> None:
        """Signal ``n`` more demand to a Flowable upstream (nothing for a push upstream)."""
        if not self._upstream_flow or n <= 0:
            return
        upstream = self._upstream  # once set it only ever becomes _CANCELLED
        if upstream is None:
            with self._lock:
                upstream = self._upstream
                if upstream is None:
                    self._pending_upstream = add_demand(self._pending_upstream, n)
                    return
        if upstream is _CANCELLED:
            return
        subscription = cast(Subscription, upstream)
        if self._owner is not None or self._windows_off:  # as _call_upstream would: no window
            self._send_upstream(subscription, n)
        else:
            self._call_in_window(lambda: self._send_upstream(subscription, n))

    def _send_upstream(self, upstream: Subscription, n: int) -> None:
        upstream.request(n)
        if self._metrics is not None:
            self._metrics.increment("requested", n)

    def _call_upstream(self, call: Callable[[], object]) -> None:
        """Call upstream (subscribe, request), taking a synchronous answer the cheap way.

        Many upstreams answer at once, on the calling thread, item after item. An operator
        that sets ``_windows = True`` takes the loop for the call when the loop is idle,
        nothing is held and there is demand: an *inline window*. Items that arrive on this
        thread meanwhile go straight downstream against a budget counted without locks
        (see ``on_next``); demand, metrics and the operator's hooks are settled when the
        budget is spent and when the call returns. An item the budget cannot cover closes
        the window and takes the ordinary path.

        Downstream sees the same items, in the same order, against the same demand, at the
        same virtual time, with the loop's locks taken once per call instead of per item.
        """
        if self._windows_off:
            call()
        else:
            self._call_in_window(call)

    def _call_in_window(self, call: Callable[[], object]) -> None:
        if self._owner is not None:  # inside a window already (nested), or another thread's
            call()
            return
        me = _get_ident()
        # The loop's owner may open one from ``_on_emitted``, after the pass has emitted.
        in_loop = self._in_hook and self._delivering_thread == me
        if not in_loop:
            lock = self._lock
            lock.acquire()
            idle = not (self._wip or self._queue or self._windows_off or self._done)
            if idle and self._requested and not self._cancelled:
                self._wip = True
            else:
                idle = False
            lock.release()
            if not idle:
                call()
                return
        self._owner = self._delivering_thread = me
        self._window_in_loop = in_loop
        self._spent = self._window_emitted = 0
        self._stalled = False
        try:
            self._budget = self._window_budget()
        except Exception as err:  # an operator hook failed
            self._window_failed(err)
            return
        if not self._budget:  # nothing could go out inline: no window after all
            self._close_window()
            call()
            return
        try:
            call()
        except BaseException:
            if self._owner == me:
                self._close_window()
            raise
        try:
            while self._owner == me:
                self._settle_window()
                emitted, self._window_emitted = self._window_emitted, 0
                if not emitted or self._finished:
                    break
                self._on_emitted(emitted)  # a call upstream from here is a nested one
        except Exception as err:  # an operator hook failed
            self._window_failed(err)
            return
        if self._owner != me or self._finished:
            return  # the window closed during the call, and the loop went with it
        self._owner = None
        self._budget = 0
        self._stalled = False
        if in_loop:
            self._pass_again_if_held()
            return
        self._delivering_thread = None
        self._run()  # still the loop's owner: what was held or requested meanwhile, the end

    def _window_budget(self) -> int:
        """What an inline window may hand on now: demand, as far as the operator allows."""
        lock = self._lock
        lock.acquire()
        open_ = not (self._queue or self._done or self._cancelled or self._windows_off)
        requested = self._requested
        lock.release()
        if not (open_ and requested):
            return 0
        return min(requested, self._window_limit())

    def _settle_window(self) -> None:
        """Account for the items handed on inline since the last settlement."""
        spent = self._spent
        if not spent:
            return
        self._spent = 0
        budget = self._budget
        if budget != UNBOUNDED:
            self._budget = budget - spent if budget > spent else 0
            if self._cancelled or self._windows_off:  # read after the write: see cancel()
                self._budget = 0
        self._window_emitted += spent
        if self._requested != UNBOUNDED:
            with self._lock:
                if self._requested != UNBOUNDED:
                    self._requested -= spent
        metrics = self._metrics
        if metrics is not None:
            metrics.increment("received", spent)
            metrics.increment("emitted", spent)
        self._window_spent(spent)

    def _renew_window(self) -> bool:
        """The budget is spent: settle, and renew it (True) or close the window (False);
        a stalled window stays open (False), and what arrives is held until the call ends."""
        if self._stalled:
            return False
        try:
            self._settle_window()
            budget = self._window_budget()
        except Exception as err:  # an operator hook failed
            self._window_failed(err)
            return False
        if budget > 0:
            self._budget = budget
            return True
        self._close_window()
        return False

    def _close_window(self) -> None:
        """End the window: settle, let the operator react, and give the loop up (or run it
        for what came meanwhile), as ``_deliver_now`` does after its one item."""
        try:
            self._settle_window()
            self._owner = None
            self._budget = 0
            emitted, self._window_emitted = self._window_emitted, 0
            if emitted and self._hooks_emitted:
                self._on_emitted(emitted)
        except Exception as err:  # an operator hook failed
            self._window_failed(err)
            return
        finally:
            if not self._window_in_loop:
                self._delivering_thread = None
        if self._window_in_loop:
            self._pass_again_if_held()
            return
        lock = self._lock
        lock.acquire()
        if not self._missed:
            self._wip = False
            lock.release()
            return
        self._missed = False
        lock.release()
        self._run()

    def _pass_again_if_held(self) -> None:
        """A window opened from the loop's own pass ended: items it left held (a stalled
        answer) need the pass that opened it to go round once more."""
        if self._queue:
            with self._lock:
                self._missed = True

    def _window_failed(self, error: Exception) -> None:
        """Downstream's ``on_next`` or a hook failed inside a window: the stream fails."""
        spent, self._spent = self._spent, 0
        if spent and self._metrics is not None:  # handed on (the last one perhaps refused)
            self._metrics.increment("received", spent)
            self._metrics.increment("emitted", spent)
        self._owner = None
        if not self._window_in_loop:
            self._delivering_thread = None
        self._budget = 0
        self._cancel_upstream()
        self._finish(error)  # the loop stays owned: the subscription is over

    def _cancel_upstream(self) -> None:
        with self._lock:
            upstream, self._upstream = self._upstream, _CANCELLED
        if upstream is not None:
            upstream.dispose()

    # -- downstream: Subscription ---------------------------------------------------------

    def request(self, n: int) -> None:
        if type(n) is not int or n <= 0:
            error = invalid_request(n)
            if error is not None:
                self._violate(error)
                return
        lock = self._lock
        lock.acquire()
        if self._cancelled:
            lock.release()
            return
        total = self._requested + n
        self._requested = total if total < UNBOUNDED else UNBOUNDED
        if self._hooks_request:
            lock.release()
            try:
                self._on_request(n)
            except Exception as err:  # an operator hook failed: the stream fails, not request
                self._violate(err)
                return
            self.drain()
            return
        # No hook between: the demand and the claim on the loop (as in drain) in one go.
        if self._wip:
            self._missed = True
            lock.release()
            return
        self._wip = True
        lock.release()
        if self._deliver_on is None:
            self._run()
        else:
            self._deliver_on.schedule(self._scheduled_run)

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            self._budget = 0  # an inline window hands nothing more on
        self._downstream = None  # rule 3.13: drop the subscriber at once
        self._cancel_upstream()
        self.drain()

    # -- upstream: Subscriber -------------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        self._set_upstream(subscription)

    def on_next(self, value: _In) -> None:
        """Hand the item on at once inside an inline window (see ``_call_upstream``) while
        its budget lasts; otherwise it arrives the ordinary way (``_arrive``)."""
        if self._owner == _get_ident() and (self._spent < self._budget or self._renew_window()):
            self._spent += 1
            try:
                self._downstream.on_next(value)  # type: ignore[union-attr, arg-type]  # _In is _Out
            except Exception as err:  # downstream's on_next failed
                self._window_failed(err)
            return
        self._arrive(value)

    def _arrive(self, value: _In) -> None:
        """An item outside a window: deliver it at once if possible (``_deliver_now``), else
        hold it (``_hold``). Operators override this rather than ``on_next``."""
        if not self._deliver_now(value):
            self._hold(value)

    def _deliver_now(self, value: _In, admit: Callable[[], bool] | None = None) -> bool:
        """Hand ``value`` straight downstream if the loop is idle, nothing is held and there
        is demand (and ``admit()``, asked as the loop's owner, agrees); False (and nothing
        done) otherwise: then the caller holds the item and drains.

        The loop is taken for the one item, so signals stay serialized: the path of an item
        that arrives into a stream that keeps up, one at a time or in a batch.
        """
        lock = self._lock
        lock.acquire()
        if (
            self._wip
            or self._queue
            or not self._requested
            or self._done
            or self._cancelled
            or self._direct_off
        ):
            lock.release()
            return False
        self._wip = True
        if self._requested != UNBOUNDED:
            self._requested -= 1
        lock.release()
        self._delivering_thread = _get_ident()
        try:
            if admit is not None and not admit():
                with lock:
                    if self._requested != UNBOUNDED:
                        self._requested += 1
                    self._wip = self._missed = False  # the caller drains next
                return False
            self._downstream.on_next(value)  # type: ignore[union-attr, arg-type]  # _In is _Out
            if self._metrics is not None:
                self._metrics.increment("received")
                self._metrics.increment("emitted")
            if self._hooks_emitted:
                self._on_emitted(1)
        except Exception as err:  # downstream's on_next, or the operator's hook
            self._cancel_upstream()
            self._finish(err)
            return True
        finally:
            self._delivering_thread = None
        lock.acquire()
        if not self._missed:
            self._wip = False
            lock.release()
            return True
        self._missed = False
        lock.release()
        self._run()
        return True

    def _hold(self, value: _In) -> None:
        """The operator's policy for an item that must wait. Default: fail when full."""
        if self._offer(value) is not None:
            self._stop_upstream(
                BufferOverflowError(f"no room for an item: {self._capacity} already held")
            )
            return
        self.drain()

    def on_error(self, error: Exception) -> None:
        self._upstream_terminated(error)

    def on_completed(self) -> None:
        self._upstream_terminated(None)

    # -- producer side --------------------------------------------------------------------

    def _offer(self, item: _In, *, evict: bool = False) -> tuple[_In] | None:
        """Hold ``item`` if there is room. None means it was taken (or the stream is over).

        With no room, the item left out comes back in a 1-tuple: ``item`` itself, or with
        ``evict=True`` the oldest held item, which makes way for ``item``.
        """
        queue = self._queue
        with self._lock:
            if self._done or self._cancelled:
                return None  # after the end nothing is taken, and nothing is owed
            left_out: tuple[_In] | None = None
            if len(queue) < self._capacity:
                queue.append(item)
            elif evict:
                left_out = (queue.popleft(),)
                queue.append(item)
            else:
                left_out = (item,)
        metrics = self._metrics
        if metrics is not None:
            metrics.increment("received")
            metrics.set("depth", len(queue))
        return left_out

    def _upstream_terminated(self, error: Exception | None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._error = error
        self.drain()

    def _stop_upstream(self, error: Exception) -> None:
        """The operator fails: cut upstream; held items go first, then ``error``."""
        self._cancel_upstream()
        self._upstream_terminated(error)

    def _violate(self, error: Exception) -> None:
        """Fail now, ahead of held items (a broken request, a failed operator hook)."""
        with self._lock:
            if self._cancelled or self._violation is not None:
                return
            self._violation = error
            self._direct_off = self._windows_off = True
            self._budget = 0
        self._cancel_upstream()
        self.drain()

    # -- the delivery loop ----------------------------------------------------------------

    def drain(self) -> None:
        """Deliver what demand allows, now on this thread or on the delivery scheduler."""
        with self._lock:
            if self._wip:
                self._missed = True
                return
            self._wip = True
        if self._deliver_on is None:
            self._run()
        else:
            self._deliver_on.schedule(self._scheduled_run)

    def _scheduled_run(self, _: abc.SchedulerBase, __: Any = None) -> None:
        self._run()

    @property
    def _in_delivery(self) -> bool:
        """Whether the current thread is the one running the delivery loop."""
        return self._delivering_thread == threading.get_ident()

    def _run(self) -> None:
        lock = self._lock
        self._delivering_thread = threading.get_ident()
        try:
            while True:
                if self._pass():
                    return  # finished: the loop stays owned, later drains do nothing
                with lock:
                    if not self._missed:
                        self._wip = False
                        return
                    self._missed = False
        finally:
            self._delivering_thread = None

    def _pass(self) -> bool:
        """One pass of the loop; True once the subscription has ended."""
        if self._cancelled:
            self._end()
            return True
        if self._violation is not None:
            self._finish(self._violation)
            return True
        downstream = self._downstream
        # Read without the lock: demand that grows after this reading marks the loop as
        # missed (request, then drain), so the owner passes again and sees it.
        requested = self._requested
        if requested and downstream is not None:
            try:
                emitted = self._emit(downstream.on_next, requested)
                if emitted:
                    if requested != UNBOUNDED:
                        with self._lock:
                            self._requested -= emitted
                    metrics = self._metrics
                    if metrics is not None:
                        metrics.increment("emitted", emitted)
                        metrics.set("depth", len(self._queue))
                    self._in_hook = True
                    try:
                        self._on_emitted(emitted)
                    finally:
                        self._in_hook = False
            except Exception as err:  # downstream's on_next or the operator's own code
                self._cancel_upstream()
                self._finish(err)
                return True
            if self._cancelled:
                self._end()
                return True
        if self._done and not self._holding():
            self._finish(self._error)
            return True
        return False

    def _end(self) -> None:
        """Clean up after cancel, from the loop's owner (once)."""
        if self._finished:
            return
        self._finished = True
        self._downstream = None
        self._queue.clear()
        self._timer.dispose()
        self._release()

    def _finish(self, error: Exception | None) -> None:
        """Deliver the terminal signal; the subscription then counts as cancelled (1.6)."""
        downstream = self._downstream
        with self._lock:
            self._cancelled = True
        self._end()
        if downstream is not None:
            if error is None:
                downstream.on_completed()
            else:
                downstream.on_error(error)

    # -- timers ---------------------------------------------------------------------------

    def _drain_after(self, delay: float) -> None:
        """Run the loop again ``delay`` seconds from now on the clock (one timer at a time)."""
        if self._cancelled:
            return
        self._timer.disposable = self.clock.schedule_relative(max(delay, 0.0), self._on_timer)

    def _on_timer(self, _: abc.SchedulerBase, __: Any = None) -> None:
        self.drain()

    # -- hooks for operators --------------------------------------------------------------
    #
    # Set ``_windows = True`` (class attribute) to hand synchronous upstream answers on
    # inline (see ``_call_upstream``; ``_window_limit`` and ``_window_spent`` gate and
    # charge them; an operator whose items change on the way overrides ``on_next`` with
    # the same window test), and ``_direct = True`` to allow ``_deliver_now`` with an
    # operator's own ``_emit`` (it then gates items with ``admit``).
    # Set ``self._prefetch`` in ``__init__`` to the demand a Flowable upstream gets when it
    # subscribes; ``self._upstream_flow`` tells, once started, whether upstream is one.

    def _emit(self, on_next: Callable[[_Out], None], limit: int) -> int:
        """Deliver up to ``limit`` items; return how many. Default: the held items in order."""
        queue = self._queue
        popleft = queue.popleft
        emit: Callable[[_In], None] = on_next  # type: ignore[assignment]  # _In is _Out here
        emitted = 0
        # Counted per batch rather than per item: this loop is the hot path.
        while emitted < limit and queue:
            batch = min(limit - emitted, len(queue))
            for count in range(1, batch + 1):
                try:
                    item = popleft()
                except IndexError:  # taken meanwhile (shed's head policy evicts under lock)
                    return emitted + count - 1
                emit(item)
                if self._cancelled:
                    return emitted + count
            emitted += batch
        return emitted

    def _window_limit(self) -> int:
        """With ``_windows``: how many items a window opened or renewed now may hand on,
        beyond demand (read by the loop's owner). Default: no limit."""
        return UNBOUNDED

    def _window_spent(self, count: int) -> None:
        """With ``_windows``: ``count`` items went out inline since the last settlement."""

    def _holding(self) -> bool:
        """Whether items are still held; the terminal signal waits until none are."""
        return bool(self._queue)

    def _on_request(self, n: int) -> None:
        """Called after downstream demand grew by ``n``, before the loop runs."""

    def _on_emitted(self, count: int) -> None:
        """Called by the loop after it delivered ``count`` items."""

    def _release(self) -> None:
        """Called once when the subscription ends (cancel or terminal), from the loop."""


def lift(
    make: Callable[[Subscriber[_Out]], Drain[_In, _Out]],
) -> Callable[[Observable[_In]], Flowable[_Out]]:
    """Turn a Drain factory into a pipeable operator: one Drain per subscription."""

    def operator(source: Observable[_In]) -> Flowable[_Out]:
        def subscribe(
            subscriber: Subscriber[_Out], scheduler: abc.SchedulerBase | None
        ) -> Subscription:
            drain = make(subscriber)
            drain.start(source, scheduler)
            return drain

        flow: SubscribeFlow[_Out] = subscribe
        return Flowable(flow)

    return operator
