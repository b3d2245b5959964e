"""The one demand/drain primitive that every source and operator is built on.

A :class:`Drain` is at once the :class:`Subscription` handed downstream and the subscriber
it places upstream. It owns, in one place: demand accounting (additive, saturating at
``UNBOUNDED``, validated: rules 3.8, 3.9, 3.17), a bounded queue of held items, the link
upstream, and one serialized delivery loop. Two of its mechanisms are written in modules of
their own, as functions bound here as methods: the loop (``_loop``) and the arrival of an
item from upstream, held or passed straight on (``_arrival``).

The loop (queue-drain with a work-in-progress claim)
----------------------------------------------------
Whoever takes the loop's claim (the one token in ``_idle``, taken under the lock) becomes
the loop's *owner* and runs passes until a pass ends with nothing missed; a claim attempted
meanwhile, from any thread, only marks the loop as missed, so the owner passes again. Hence:

- every signal downstream comes from the owner: they never overlap (rule 1.3);
- ``request`` from inside ``on_next`` only marks the loop, so the stack never deepens (3.3);
- every operator hook (``_emit``, ``_on_request``, ``_on_emitted``, ``_holding``,
  ``_release``) runs on the owner, one at a time: operator state touched only by hooks needs
  no lock of its own. ``_arrive``/``_overflow`` are the exceptions: they run on the thread that
  delivers an item from upstream (the producer), and share state with the loop only under
  the lock (``_offer``) or through the loop.

An arriving item (``_accept``, on the producer's thread) costs one lock round trip: it
goes straight downstream if the loop is idle, nothing is held and there is demand (the
*direct path*: the loop's claim taken for one item, and let go without the lock, see
``_take_back``; it keeps order because it is only taken with an empty queue and an idle loop);
else it is held and the loop claimed or marked; with no room, the operator's ``_overflow``
decides. An item that needs nothing but to be handed on, under unbounded demand, takes the
claim without the lock at all (``list.pop`` on ``_idle`` is one step of the interpreter).
The loop's owner holds its own synchronous answers (items that arrive on its thread while
it asks upstream) without the lock: upstream's signals never overlap (rule 1.3), and only
the owner takes items out. ``docs/concepts/core.md`` draws the whole of it.

Upstream
--------
A Flowable upstream (a pull source, an operator of ours) gets demand through
``_request_upstream``; the operator says when and how much. A plain Observable upstream
pushes; the operator's ``_overflow`` policy applies to what it has no room for. A push source
is subscribed on the current-thread trampoline, so its disposable is known before its
first item, and an operator that fails or is cancelled stops it as reactivex would.

Terminal signals wait behind held items (nothing accepted is lost); a broken request or a
failed hook (``_violate``) goes ahead of them.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable
from reactivex.scheduler import TimeoutScheduler
from reactivex.subject import Subject

from . import _arrival, _loop
from ._clock import clock_reader
from ._demand import UNBOUNDED, add_demand, invalid_request
from ._errors import BufferOverflowError
from ._flowable import Flowable, SubscribeFlow
from ._logs import DropLog
from ._metrics import Metrics
from ._stage import StageSnapshot, collecting
from ._subscription import Subscriber, Subscription
from ._trampoline import on_trampoline

_In = TypeVar("_In")
_Out = TypeVar("_Out")
_Item = TypeVar("_Item")

_get_ident = threading.get_ident


class RunTaker(Protocol[_Item]):
    """A subscriber of ours that takes runs of items (the chain hand-off): a Drain, or
    ``to_iterable``'s channel. ``_takes_batches()`` says whether it does; ``_arrive_batch``
    takes a run from the stage above's loop owner, within the demand it gave, as that
    many ``on_next`` calls would be."""

    def _takes_batches(self) -> bool: ...

    def _arrive_batch(self, values: list[_Item]) -> None: ...


_CANCELLED: abc.DisposableBase = Disposable()
"""Stands in for the upstream link once it has been cut."""


class PushedBy:
    """The stage that stands for a push Observable above a stage of ours: the reactivex
    operator that made a push segment, or a plain Observable such as a ``Subject``."""

    def __init__(self, name: str, links: list[object]) -> None:
        self._name = name
        self._links = links

    def _inspect_stage(self) -> StageSnapshot:
        return StageSnapshot(name=self._name, kind="push")

    def _inspect_links(self) -> list[object]:
        return list(self._links)


class CallGate(Protocol):
    """What says whether ``_accept_called`` may make a call directly: ``calm`` is a token
    (>= 0) while a call needs no permit and its plain success nothing recorded, else -1.
    It is read without a lock, so it is one attribute, written whole."""

    calm: int


class _NoCalls:
    calm = -1


_NO_CALLS: CallGate = _NoCalls()


def _no_call(value: object) -> object:
    raise NotImplementedError("no call is made behind _NO_CALLS")


class Drain(Subscription, abc.ObserverBase[_In], Generic[_In, _Out]):
    """Demand accounting, a bounded queue and one serialized delivery loop."""

    # Slots keep the hot attributes quick to read; operators' own go to the instance dict.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_admit",
        "_asks_free",
        "_batch_down",
        "_call_action",
        "_call_gate",
        "_call_plain",
        "_cancelled",
        "_capacity",
        "_deliver_on",
        "_delivering_thread",
        "_direct_off",
        "_done",
        "_downstream",
        "_drop_log",
        "_dropped",
        "_emitted",
        "_error",
        "_finished",
        "_free",
        "_free_calls",
        "_fresh",
        "_hooks_emitted",
        "_hooks_request",
        "_idle",
        "_kind",
        "_link_up",
        "_lock",
        "_metrics",
        "_missed",
        "_name",
        "_owner_asked",
        "_passed",
        "_pending_upstream",
        "_plain_pass",
        "_prefetch",
        "_push_from",
        "_push_links",
        "_queue",
        "_read_clock",
        "_received",
        "_refused",
        "_requested",
        "_scheduler",
        "_sent_up",
        "_start",
        "_timer",
        "_upstream",
        "_upstream_flow",
        "_violation",
    )

    _direct: bool | None = None
    """Whether ``_deliver_now`` may be used; default: only with the default ``_emit``."""

    _direct_paths = True
    """Whether this process's stages take direct paths at all (the core's, and an operator's
    own, such as circuit_break's); switched off only to check that every behaviour holds
    the same without them (the test suite's ``--without direct``)."""

    _unlocked_claims = True
    """Whether an item that needs nothing but to be handed on, under unbounded demand, may
    take the loop's claim without the lock (the unlocked direct path, see ``_accept``);
    switched off only to check that every behaviour holds the same without it (the test
    suite's ``--without unlocked``)."""

    _unlocked_asks = True
    """Whether a stage that reads demand only as ``_emit``'s limit (``_asks_in_pass``) takes
    a request made by its loop's owner during a pass without the lock (see ``request``);
    switched off only to check that every behaviour holds the same without it (the test
    suite's ``--without asks``)."""

    _asks_in_pass = False
    """True for a stage that reads demand only as ``_emit``'s limit and has no
    ``_on_request`` hook (the pull sources): a request from its loop's owner, made from
    inside a pass (downstream's ``on_next`` on this thread), is noted without the lock."""

    _keeps_on_next = True
    """A stage's ``on_next`` is set for good once ``on_subscribe`` has returned, so a bridge
    above may hand its outputs straight to it (see ``_bridge._Bridge.connect``)."""

    _emits_runs = True
    """Whether ``_emit`` may be given a run's ``append`` for a stage of ours below (see
    ``_emit_run``); False for an operator that must see each ``on_next`` return."""

    _evicts = False
    """Whether a producer may take held items from the front of the queue (``_offer`` with
    ``evict=True``, under the lock) while the loop takes them without it: then the loop
    takes items one at a time, never a count of them read beforehand."""

    _batches: bool | None = None
    """Whether a Drain upstream may hand this one runs of items (``_arrive_batch``) instead of
    one ``on_next`` each; default: when it replaces neither ``on_next`` nor ``_arrive``, so
    that every item it takes in goes through ``_accept`` either way."""

    def __init__(
        self,
        downstream: Subscriber[_Out],
        *,
        capacity: int = UNBOUNDED,
        scheduler: abc.SchedulerBase | None = None,
        deliver_on: abc.SchedulerBase | None = None,
        metrics: Metrics | None = None,
        name: str | None = None,
    ) -> None:
        self._downstream: Subscriber[_Out] | None = downstream
        self._name = name if name is not None else type(self).__name__.lstrip("_")
        self._kind = "operator"
        # The stage's counters (see inspect): kept whether or not ``metrics`` is given, by
        # the owner of the loop per pass, or under the lock where items arrive.
        self._received = 0
        self._emitted = 0
        self._passed = 0  # items that went straight through (the direct path, one at a time)
        self._dropped = 0
        self._sent_up = 0  # demand sent upstream, saturating at UNBOUNDED
        self._push_links: list[object] = []
        self._push_from: str | None = None
        self._drop_log: DropLog | None = None
        self._link_up: abc.DisposableBase | None = None  # kept after the end, for inspect
        self._queue: deque[_In] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._requested = 0
        self._fresh = 0  # demand added since the loop last called _on_request
        self._owner_asked = 0  # demand asked by the loop's owner during its pass, not yet added
        self._refused = 0  # items a failed pass handed on, counted when it fails
        self._idle = [True]  # the loop's claim: one token while no one holds it (see _loop)
        self._missed = False
        self._delivering_thread: int | None = None
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
        # Runs the loop once claimed: here, or on ``deliver_on`` (_loop._start_loop).
        self._start: Callable[[], None] = self._run if deliver_on is None else self._start_loop
        direct = self._direct if self._direct is not None else type(self)._emit is Drain._emit
        # Items delivered on a scheduler never go straight through on the producer's thread.
        self._direct_off = deliver_on is not None or not direct or not self._direct_paths
        self._hooks_request = type(self)._on_request is not Drain._on_request
        self._hooks_emitted = type(self)._on_emitted is not Drain._on_emitted
        # Whether an item on the direct path needs nothing but to be handed on.
        self._plain_pass = metrics is None and not self._hooks_emitted
        # Whether such an item may take the claim without the lock (set by ``start``), and
        # whether a called item may (``_accept_called``: nothing counted in ``metrics``).
        self._free = self._free_calls = False
        self._asks_free = self._asks_in_pass and self._unlocked_asks and not self._hooks_request
        # Asked, as the loop's owner, before an item takes the direct path (None: always
        # yes); an item it refuses is held like any other (token_bucket pays tokens here).
        # Runs never go straight through a gated stage: they are held, and its loop sends them.
        self._admit: Callable[[], bool] | None = None
        # A stage that calls something for each item and takes ``_accept_called`` sets
        # these: the call, what says whether it may be made directly, and the one result
        # type known to need no judgement (see ``_call_outcome``).
        self._call_action: Callable[[_In], object] = _no_call
        self._call_gate: CallGate = _NO_CALLS
        self._call_plain: type = type(None)
        self._timer = SerialDisposable()
        self._read_clock: Callable[[], float] | None = None
        self._metrics = metrics
        if metrics is not None and metrics.name is None:
            metrics.name = self._name
        # The chain hand-off: a subscriber of ours that takes runs of items.
        takes = getattr(downstream, "_takes_batches", None)
        self._batch_down: RunTaker[_Out] | None = (
            cast("RunTaker[_Out]", downstream) if takes is not None and takes() else None
        )

    def _takes_batches(self) -> bool:
        batches = self._batches
        if batches is None:
            kind = type(self)
            return kind.on_next is Drain.on_next and kind._arrive is Drain._arrive
        return batches

    # -- wiring ---------------------------------------------------------------------------

    def start(self, source: Observable[_In] | None, scheduler: abc.SchedulerBase | None) -> None:
        """Hand this subscription downstream, then subscribe upstream to ``source``.

        ``scheduler`` is the one given to ``subscribe``; it becomes the operator's clock
        unless the operator was given its own, and it is passed on upstream. If
        ``on_subscribe`` raises, the subscription is cancelled and the error raised
        (rule 2.13); if it cancels, upstream is never subscribed.
        """
        self._use_scheduler(scheduler)
        downstream = self._downstream
        assert downstream is not None
        # What the operator settled before this call decides the unlocked direct path.
        self._free = self._plain_pass and not self._direct_off and self._unlocked_claims
        self._free_calls = self._metrics is None and self._unlocked_claims
        flow = isinstance(source, Flowable) and source.push_source is None
        if source is None:
            self._kind = "source"  # before on_subscribe, which may end it
        if flow:
            # Known before on_subscribe, so demand requested from inside it goes upstream.
            self._upstream_flow = True
            self._pending_upstream = self._prefetch
        try:
            downstream.on_subscribe(self)
        except Exception:
            self.cancel()
            raise
        if self._cancelled:
            return
        if source is None:
            self.drain()
        elif flow:
            source.subscribe(self, scheduler=scheduler)
        else:
            pushed = source.push_source if isinstance(source, Flowable) else source
            assert pushed is not None
            origin = getattr(source, "origin", None)
            self._push_from = origin if isinstance(origin, str) else type(pushed).__name__
            on_trampoline(lambda: self._subscribe_push(pushed, scheduler))

    def _subscribe_push(self, pushed: Observable[_In], scheduler: abc.SchedulerBase | None) -> None:
        # Flowables that the push source's operators subscribe meanwhile are this stage's
        # upstream, as inspect() sees it.
        if type(pushed) is Subject:
            # reactivex's own Subject calls its observers one by one; this stage guards its
            # own end and detaches on cancel, so it needs no AutoDetachObserver between
            # (one call less per item).
            try:
                handle = pushed._subscribe_core(self, scheduler)
            except Exception as err:  # a disposed Subject: as its subscribe would report
                self.on_error(err)
                return
        else:
            with collecting(self._push_links):
                handle = pushed.subscribe(self, scheduler=scheduler)
        self._set_upstream(handle)

    @property
    def clock(self) -> abc.SchedulerBase:
        """The operator's scheduler: its own, else the subscriber's, else real time."""
        if self._scheduler is None:
            self._scheduler = TimeoutScheduler.singleton()
        return self._scheduler

    def _use_scheduler(self, scheduler: abc.SchedulerBase | None) -> None:
        """Make ``scheduler``, the one given to ``subscribe``, the operator's clock, unless it
        was given its own (``start`` does; an operator that needs its clock before it calls
        ``super().start`` calls this first)."""
        if self._scheduler is None:
            self._scheduler = scheduler
            self._read_clock = None
            self.__dict__.pop("_now", None)  # a reader of the clock it had before

    def _clock_reader(self) -> Callable[[], float]:
        """What ``_now`` calls: the operator's clock in seconds (see ``_clock``), one
        reader per subscription, for an operator that hands it to a helper of its own."""
        read = self._read_clock
        if read is None:
            read = self._read_clock = clock_reader(self.clock)
            # From here on ``_now`` is the reader itself: one call less a reading.
            self._now = read  # type: ignore[method-assign]
        return read

    def _now(self) -> float:
        """Seconds on the operator's clock (see ``_clock``): never less than before."""
        read = self._read_clock
        if read is None:
            read = self._clock_reader()
        return read()

    def _set_upstream(self, handle: abc.DisposableBase) -> None:
        with self._lock:
            current = self._upstream
            if current is None:
                self._upstream = self._link_up = handle
                pending, self._pending_upstream = self._pending_upstream, 0
        if current is not None:
            # Already cancelled, or a second upstream (rule 2.5): refuse it.
            handle.dispose()
        elif pending:
            self._request_upstream(pending)

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
        if upstream is not _CANCELLED:
            asked = self._sent_up + n
            self._sent_up = asked if asked < UNBOUNDED else UNBOUNDED
            upstream.request(n)  # type: ignore[attr-defined]  # a Flowable's Subscription
            if self._metrics is not None:
                self._metrics.increment("requested", n)

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
        if self._asks_free and self._delivering_thread == _get_ident():
            # The loop's owner, asking from inside a pass (downstream's on_next): only this
            # thread adds to ``_owner_asked`` and takes it into ``_requested`` (under the lock,
            # where it takes the mark, ``_loop._add_asked``), and the stage reads demand
            # only as ``_emit``'s limit, so the note and the mark need no lock.
            self._owner_asked += n
            self._missed = True
            return
        lock = self._lock
        lock.acquire()
        if self._cancelled:
            lock.release()
            return
        total = self._requested + n
        self._requested = total if total < UNBOUNDED else UNBOUNDED
        if self._hooks_request:
            self._fresh = add_demand(self._fresh, n)
        # The demand and the claim on the loop (_claim_or_mark, inline) under one lock.
        idle = self._idle
        if not idle:
            self._missed = True
            if not idle:  # a direct path may let go without the lock: look again
                lock.release()
                return
            self._missed = False
        try:
            idle.pop()
        except IndexError:  # taken meanwhile by the unlocked direct path
            claimed = self._claim_or_mark()
        else:
            claimed = True
        lock.release()
        if claimed:
            self._start()

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
        self._downstream = None  # rule 3.13: drop the subscriber at once
        self._cancel_upstream()
        self.drain()

    # -- upstream: Subscriber -------------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        self._set_upstream(subscription)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_arrive" in cls.__dict__ and "on_next" not in cls.__dict__:
            cls.on_next = Drain._through_arrive  # type: ignore[method-assign]

    # -- items from upstream, held or straight through (core/_arrival.py) ---------------

    _through_arrive = _arrival._through_arrive
    _arrive = _arrival._arrive
    _accept = _arrival._accept
    _arrive_batch = _arrival._accept_batch  # one call less per run (see its notes)
    _accept_batch = _arrival._accept_batch
    _hold = _arrival._hold
    _deliver_run = _arrival._deliver_run
    _deliver_now = _arrival._deliver_now
    _claim_direct = _arrival._claim_direct
    _deliver_claimed = _arrival._deliver_claimed
    _unclaim = _arrival._unclaim
    _accept_called = _arrival._accept_called
    _settle_called = _arrival._settle_called

    if TYPE_CHECKING:

        def on_next(self, value: _In) -> None: ...

    else:
        on_next = _arrival._accept  # one call less per item

    def _overflow(self, value: _In) -> None:
        """The operator's policy for an item that finds ``capacity`` items held (producer's
        thread, no lock held). Default: fail, after the held items."""
        self._count_in(1)
        if self._metrics is not None:
            self._metrics.increment("received")
        self._stop_upstream(
            BufferOverflowError(f"no room for an item: {self._capacity} already held")
        )

    def on_error(self, error: Exception) -> None:
        self._upstream_terminated(error)

    def on_completed(self) -> None:
        self._upstream_terminated(None)

    # -- producer side --------------------------------------------------------------------

    def _offer(self, item: _In, *, evict: bool = False, drop: bool = False) -> tuple[_In] | None:
        """Hold ``item`` if there is room. None means it was taken (or the stream is over).

        With no room, the item left out comes back in a 1-tuple: ``item`` itself, or with
        ``evict=True`` the oldest held item, which makes way for ``item``. ``drop=True``
        counts the item left out in ``_dropped`` under the same lock (then report it with
        ``_count_drop(counted=True)``).
        """
        queue = self._queue
        with self._lock:
            if self._done or self._cancelled:
                return None  # after the end nothing is taken, and nothing is owed
            left_out: tuple[_In] | None = None
            if len(queue) < self._capacity:
                queue.append(item)
            elif evict:
                # The loop may have taken every held item meanwhile (it takes them without
                # the lock): then there is room after all.
                with contextlib.suppress(IndexError):
                    left_out = (queue.popleft(),)
                queue.append(item)
            else:
                left_out = (item,)
            if drop and left_out is not None:
                self._dropped += 1
            self._received += 1
            metrics = self._metrics
            if metrics is not None:  # under the lock: the depth is never a stale reading
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
            self._direct_off = True
            self._free = self._free_calls = False
        self._cancel_upstream()
        self.drain()

    # -- the delivery loop (core/_loop.py) --------------------------------------------------

    _claim_or_mark = _loop._claim_or_mark
    _take_back = _loop._take_back
    _add_asked = _loop._add_asked
    drain = _loop.drain
    _start_loop = _loop._start_loop
    _scheduled_run = _loop._scheduled_run
    _run = _loop._run
    _ended = _loop._ended
    _pass = _loop._pass
    _emit_run = _loop._emit_run
    _end = _loop._end
    _finish = _loop._finish

    @property
    def _in_delivery(self) -> bool:
        """Whether the current thread is the loop's owner (as recorded by the loop and the
        locked direct path; see ``_delivering_here``)."""
        return self._delivering_thread == _get_ident()

    def _delivering_here(self) -> bool:
        """Whether the current thread is inside a delivery of this stage, the unlocked direct
        path included, which records no owner (it would cost a call per item): then this
        stage's ``on_next`` is on the thread's stack twice, the outer call delivering and
        the inner one the caller's. It reads the stack only while the claim is held with no
        owner recorded, and is meant for rare paths (a producer about to wait for room)."""
        if self._in_delivery:
            return True
        if self._idle or self._delivering_thread is not None:
            return False  # no delivery, or one whose owner is recorded: another thread
        codes = (_arrival._accept.__code__, _arrival._accept_called.__code__)
        frame: FrameType | None = sys._getframe(1)
        calls = 0
        while frame is not None:
            if frame.f_code in codes and frame.f_locals.get("self") is self:
                calls += 1
                if calls == 2:
                    return True
            frame = frame.f_back
        return False

    # -- what inspect() sees -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The stage's name: the one it was given, or its call (see ``inspect``)."""
        return self._name

    def _count_in(self, count: int) -> None:
        """Count ``count`` items received that went neither into the queue nor straight on
        (an operator's own arrival path: refused, dropped at once, or held its own way)."""
        with self._lock:
            self._received += count

    def _count_drop(self, count: int = 1, *, counted: bool = False) -> None:
        """Count ``count`` items dropped by the operator's policy: the stage's counter (unless
        the caller already added them to ``_dropped`` under a lock it held, or on the one
        thread that ever drops: ``counted``), its ``metrics``, and a summary on its logger at
        most once per interval (see ``_logs``). Called with no lock held."""
        if not counted:
            with self._lock:
                self._dropped += count
        if self._metrics is not None:
            self._metrics.increment("dropped", count)
        log = self._drop_log
        if log is None:
            with self._lock:
                log = self._drop_log
                if log is None:
                    log = self._drop_log = DropLog(
                        self._log_as, self._name, self._now, self._dropped_so_far
                    )
        log.dropped(count)

    def _dropped_so_far(self) -> int:
        return self._dropped

    _log_as = "rx_backpressure"
    """The logger an operator's summaries go to: ``rx_backpressure.<operator>``."""

    def _held_count(self) -> int:
        """Items the stage holds now (default: its queue)."""
        return len(self._queue)

    def _stage_capacity(self) -> int | None:
        """The most items the stage may hold or ask ahead for (None: no bound of its own)."""
        capacity = self._capacity
        if capacity < UNBOUNDED:
            return capacity
        return self._prefetch if 0 < self._prefetch < UNBOUNDED else None

    def _stage_state(self) -> dict[str, object]:
        """What else the stage knows, for ``inspect`` (default: nothing)."""
        return {}

    def _inspect_stage(self) -> StageSnapshot:
        held = self._held_count()
        passed = self._passed
        emitted = self._emitted + passed
        received = self._received + passed
        if self._kind == "source":
            received = emitted + held + self._dropped  # what it has read
        pending: int | None = None
        if self._upstream_flow:
            asked = self._sent_up
            pending = UNBOUNDED if asked >= UNBOUNDED else max(asked - received, 0)
        return StageSnapshot(
            name=self._name,
            kind="push" if self._is_push_stage else self._kind,
            capacity=self._stage_capacity(),
            held=held,
            demand=0 if self._finished else min(self._requested + self._owner_asked, UNBOUNDED),
            pending=0 if self._finished else pending,
            received=received,
            emitted=emitted,
            dropped=self._dropped,
            state=self._stage_state(),
            ended=self._finished,
        )

    _is_push_stage = False
    """True for the stage that stands for a push segment itself (``PushSegment``)."""

    def _inspect_links(self) -> list[object]:
        if self._push_from is None:
            upstream = self._link_up
            return [] if upstream is None else [upstream]
        if self._is_push_stage:
            return list(self._push_links)
        return [PushedBy(self._push_from, self._push_links)]

    # -- timers ---------------------------------------------------------------------------

    def _drain_after(self, delay: float) -> None:
        """Run the loop again ``delay`` seconds from now on the clock (one timer at a time)."""
        if self._cancelled:
            return
        self._timer.disposable = self.clock.schedule_relative(max(delay, 0.0), self._on_timer)

    def _on_timer(self, _: abc.SchedulerBase, __: Any = None) -> None:
        self.drain()

    # -- hooks for operators (all called on the loop's owner) -----------------------------
    #
    # Set ``self._prefetch`` in ``__init__`` to the demand a Flowable upstream gets when it
    # subscribes; ``self._upstream_flow`` tells, once started, whether upstream is one.
    # Set ``_direct = True`` (class attribute) to allow the direct path with an operator's
    # own ``_emit``; it then gates items with ``self._admit`` (``_accept``) or ``admit``
    # (``_deliver_now``). A gated stage takes runs only into its queue (``_accept_batch``).

    def _emit(self, on_next: Callable[[_Out], None], limit: int) -> int:
        """Deliver up to ``limit`` items; return how many. Default: the held items in order.

        ``on_next`` may be a run's ``append`` (see ``_emit_run``): an ``_emit`` that knows
        may fill the run with ``extend``, as ``on_next`` item by item would."""
        queue = self._queue
        run = getattr(on_next, "__self__", None)
        if type(run) is list and not self._evicts:
            # One item at a time all the same: a producer may append while the owner takes.
            popleft = queue.popleft
            count = min(limit, len(queue))
            run.extend([popleft() for _ in range(count)])
            return count
        popleft = queue.popleft
        emit: Callable[[_In], None] = on_next  # type: ignore[assignment]  # _In is _Out here
        emitted = 0
        while emitted < limit:
            try:
                item = popleft()
            except IndexError:  # nothing (more) held
                break
            try:
                emit(item)
            except Exception:
                self._refused = emitted + 1  # handed on, the refused one included
                raise
            emitted += 1
            if self._cancelled:
                break
        return emitted

    def _call_outcome(self, token: int, outcome: object, raised: bool) -> object:
        """The stage's judgement of a call ``_accept_called`` made directly, under ``token``,
        that did not end plainly: ``outcome`` is what ``_call_action`` raised (``raised``) or
        returned (of a type other than ``_call_plain``, or with ``_call_gate``'s token moved
        on meanwhile). Returns the output to hand on, or ``HELD`` to leave the item (still at
        the queue's head, unless the stage let it go) to the loop. Only for stages that use
        ``_accept_called``."""
        raise NotImplementedError(f"{type(self).__name__} has no direct path of this kind")

    def _holding(self) -> bool:
        """Whether items are still held; the terminal signal waits until none are."""
        return bool(self._queue)

    def _on_request(self, n: int) -> None:
        """Downstream demand grew by ``n`` (summed since the last call), before emitting."""

    def _on_emitted(self, count: int) -> None:
        """Called after ``count`` items were delivered."""

    def _release(self) -> None:
        """Called once when the subscription ends (cancel or terminal)."""


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
