"""create: a Flowable fed by a callback API (a socket, a file watcher, another library's
listener) through a thread-safe :class:`Emitter`.

Items given to ``emitter.next`` within demand go downstream; the ones beyond it meet the
``overflow`` policy, on the producer's thread::

    create(producer, overflow="buffer", capacity=2)   held up to capacity, then fails
    producer:  -a-b-c-d-----
    demand:    1-------1-1-
    output:    -a------b-(c,#)       BufferOverflowError after the held b and c

    create(producer, overflow="drop")                  beyond demand: dropped
    producer:  -a-b-c-d-----
    demand:    1-----1-----
    output:    -a-----d----          dropped: b, c

    create(producer, overflow="latest")                beyond demand: the newest one kept
    producer:  -a-b-c-d-----
    demand:    1-----1-----
    output:    -a----c-----          dropped: b; d waits for demand

    create(producer, overflow="error")                 beyond demand: fails
    producer:  -a-b-----
    demand:    1--------
    output:    -a-#                  BufferOverflowError

``capacity`` bounds what is held in every mode (items within demand that wait while another
thread delivers count too); items sent from inside an ``on_request`` callback go straight
downstream while there is demand. Every dropped item goes to ``on_drop``, is counted in
the stage's ``dropped`` (``inspect``) and ``metrics``, and is summarised on the
``rx_backpressure.create`` logger: received = emitted + dropped + held, until a failure.

Defaults: ``overflow="buffer"``, ``capacity=128``, ``on_drop=None``, ``metrics=None``,
``name=None`` (its call, e.g. ``create(listen, overflow='drop')``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Literal, TypeVar

from reactivex import abc
from reactivex.disposable import Disposable

from ..core import (
    UNBOUNDED,
    BufferOverflowError,
    Drain,
    Flowable,
    Metrics,
    StageSnapshot,
    Subscriber,
    Subscription,
    call_name,
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_metrics,
    stage_name,
)

_T = TypeVar("_T")

CreateOverflow = Literal["buffer", "drop", "latest", "error"]
_OVERFLOWS: tuple[CreateOverflow, ...] = ("buffer", "drop", "latest", "error")


def create(
    producer: Callable[[Emitter[_T]], Callable[[], None] | None],
    *,
    overflow: CreateOverflow = "buffer",
    capacity: int = 128,
    on_drop: Callable[[_T], None] | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Flowable[_T]:
    """A Flowable whose items come from ``producer(emitter)``, called once per subscription.

    ``producer`` runs on the subscribing thread, after ``on_subscribe``; it may start a
    thread or register listeners and return at once, and may return a cleanup callable,
    run once when the subscription ends (cancel, completion or failure). ``emitter`` is
    thread-safe: ``next``, ``error`` and ``complete`` may come from any thread.

    Items beyond demand meet ``overflow``: ``"buffer"`` holds up to ``capacity`` items, then
    fails with ``BufferOverflowError`` after them; ``"drop"`` drops the arriving item;
    ``"latest"`` keeps the newest item beyond demand, dropping the one it replaces;
    ``"error"`` fails with ``BufferOverflowError``. A producer that follows
    ``emitter.requested`` or ``emitter.on_request`` never meets the policy.

    An exception raised by ``producer``, ``on_drop`` or an ``on_request`` callback fails the
    stream (``on_error``; the producer is stopped as on a cancel). The cleanup runs before
    the producer's own ``complete()`` takes effect, and one that raises then fails the
    stream instead. Once the stream has its end (a cancel, or a failure with its own error),
    an exception from the cleanup or an ``on_cancel`` callback has no one to go to and is
    passed to ``sys.unraisablehook``, as Python does for one raised in ``__del__``.

    ``name`` is the stage's name in ``inspect`` (default: its call). Raises
    ``TypeError``/``ValueError`` at once for a bad parameter.
    """
    check_callable("producer", producer)
    check_choice("overflow", overflow, _OVERFLOWS)
    check_int("capacity", capacity)
    check_callable("on_drop", on_drop, allow_none=True)
    check_metrics(metrics)

    def default_name() -> str:
        options: dict[str, object] = {} if overflow == "buffer" else {"overflow": overflow}
        if capacity != 128:
            options["capacity"] = capacity
        return call_name("create", producer, **options)

    label = stage_name(name, default_name)

    def subscribe(subscriber: Subscriber[_T], scheduler: abc.SchedulerBase | None) -> Subscription:
        drain = _CreateDrain(subscriber, overflow, capacity, on_drop, metrics, label)
        drain.start(None, scheduler)
        drain.run_producer(producer)
        return drain

    return Flowable(subscribe)


class Emitter(Generic[_T]):
    """What a :func:`create` producer signals through; every method is thread-safe.

    After the end (cancel, ``complete``, ``error``, or a failure) ``next``, ``error`` and
    ``complete`` do nothing, and ``is_cancelled`` is true.
    """

    __slots__ = ("_drain",)

    def __init__(self, drain: _CreateDrain[_T]) -> None:
        self._drain = drain

    def next(self, value: _T) -> None:
        """Send ``value``: downstream within demand, else to the ``overflow`` policy."""
        self._drain.push(value)

    def error(self, error: Exception) -> None:
        """Fail the stream after the items held (``TypeError`` for a non-exception)."""
        check_instance("error", error, Exception, "an Exception")
        self._drain.end(error)

    def complete(self) -> None:
        """Complete the stream after the items held."""
        self._drain.end(None)

    @property
    def requested(self) -> int:
        """Demand not yet met by items given to ``next`` (``UNBOUNDED`` stays so)."""
        return self._drain.outstanding()

    def on_request(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(n)`` whenever downstream asks for ``n`` more items.

        Calls are never concurrent and come on the thread that runs the delivery loop
        (often the one that called ``request``). Items the callback sends with ``next``
        go straight downstream while there is demand, as a pull source's would, so it may
        send all ``n`` whatever ``capacity`` is. A callback added while demand is
        outstanding is first called with that demand.
        """
        check_callable("callback", callback)
        self._drain.add_listener(callback)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once if the stream stops before the producer ended it:
        downstream cancelled, or the stream failed here. At once if it already has."""
        check_callable("callback", callback)
        self._drain.add_cancel_callback(callback)

    @property
    def is_cancelled(self) -> bool:
        """Whether the stream has ended or is ending: further signals are ignored."""
        return self._drain.stopped


class _CreateDrain(Drain[_T, _T]):
    _log_as = "rx_backpressure.create"

    def __init__(
        self,
        downstream: Subscriber[_T],
        overflow: CreateOverflow,
        capacity: int,
        on_drop: Callable[[_T], None] | None,
        metrics: Metrics | None,
        name: str | None = None,
    ) -> None:
        super().__init__(downstream, capacity=capacity, metrics=metrics, name=name)
        self._mode = overflow
        self._on_drop = on_drop
        self._popped = 0  # items the owner's current _emit took, not yet off _requested
        self._hearing = False  # the owner is in the on_request callbacks
        self._listeners: list[Callable[[int], None]] = []
        self._new_listeners: list[Callable[[int], None]] = []
        self._on_cancel: list[Callable[[], None]] = []
        self._cleanup: Callable[[], None] | None = None
        self._producer_ended = False  # complete()/error() came from the producer
        self._stopped_producer = False
        # The "upstream" is the producer: cutting it (cancel, a failure) stops it.
        self._set_upstream(Disposable(self._stop_producer))

    @property
    def stopped(self) -> bool:
        return self._done or self._cancelled or self._violation is not None

    def run_producer(self, producer: Callable[[Emitter[_T]], Callable[[], None] | None]) -> None:
        if self.stopped:  # cancelled from inside on_subscribe: nothing to produce for
            return
        try:
            cleanup = producer(Emitter(self))
        except Exception as err:
            self.end(err)
            return
        if cleanup is None:
            return
        if not callable(cleanup):
            error = TypeError(f"producer must return a callable or None, got {cleanup!r}")
            self._fail(error)
            return
        with self._lock:
            late = self._stopped_producer
            if not late:
                self._cleanup = cleanup
        if late:  # the stream ended while the producer ran: it already has its signal
            self._report(self._call(cleanup))

    # -- producer side (any thread) -------------------------------------------------------

    def outstanding(self) -> int:
        """Demand not yet met by items accepted; read under the lock."""
        with self._lock:
            return self._room_in_demand()

    def _room_in_demand(self) -> int:
        left = self._demand_left()
        return left if left == UNBOUNDED else max(left - len(self._queue), 0)

    def _demand_left(self) -> int:
        """Demand not yet met by items delivered (under the lock). The owner's own call, from
        inside a delivery, also counts what the current pass has taken so far."""
        requested = self._requested
        if requested == UNBOUNDED:
            return UNBOUNDED
        return requested - self._popped if self._in_delivery else requested

    def push(self, value: _T) -> None:
        if self._hearing and self._in_delivery and self._deliver_heard(value):
            return
        lock = self._lock
        queue = self._queue
        dropped: tuple[_T] | None = None
        failed = False
        with lock:
            if self._done or self._cancelled or self._violation is not None:
                return
            metrics = self._metrics
            if metrics is not None:
                metrics.increment("received")
            mode = self._mode
            limit = self._capacity
            if mode != "buffer":  # held items may not outrun demand (latest: by one)
                limit = min(limit, self._demand_left() + (mode == "latest"))
            held = True
            if len(queue) < limit:
                queue.append(value)
            elif mode == "drop":
                dropped, held = (value,), False
                self._dropped += 1
            elif mode == "latest":  # limit >= 1 here, so something is held to replace
                dropped = (queue.pop(),)
                queue.append(value)
                self._dropped += 1
            else:
                failed, held = True, False
                self._received += 1  # refused: counted in, as metrics counts it
            if metrics is not None:
                metrics.set("depth", len(queue))
            claimed = held and self._claim_or_mark()
        if failed:
            full = len(queue) >= self._capacity
            what = f"{self._capacity} already held" if full else "beyond demand"
            self._fail(BufferOverflowError(f"create(overflow={mode!r}): no room, {what}"))
            return
        if dropped is not None:
            self._count_drop(counted=True)
            if self._on_drop is not None:
                try:
                    self._on_drop(dropped[0])
                except Exception as err:  # the user's callback failed: the stream fails
                    self._fail(err)  # with the loop claimed here, this only marks it
        if claimed:
            self._start()

    def _deliver_heard(self, value: _T) -> bool:
        """An item sent from inside an ``on_request`` callback, on the loop's owner: straight
        downstream if nothing is held and there is demand, as a pull source answers, so a
        callback may send all it was told of whatever ``capacity``. False: not taken."""
        downstream = self._downstream
        with self._lock:
            requested = self._requested
            if (
                not requested
                or self._queue
                or downstream is None
                or self._done
                or self._cancelled
                or self._violation is not None
            ):
                return False
            if requested != UNBOUNDED:
                self._requested = requested - 1
            self._emitted += 1  # the loop's owner: _pass counts only what _emit hands on
            metrics = self._metrics
            if metrics is not None:
                metrics.increment("received")
                metrics.increment("emitted")
        try:
            downstream.on_next(value)
        except Exception as err:  # downstream refused it: the stream fails, as in the loop
            self._violate(err)
        return True

    def end(self, error: Exception | None) -> None:
        """The producer's complete()/error(): the cleanup first, then the terminal signal
        behind the held items. A failing cleanup turns completion into that failure."""
        with self._lock:
            if self._done or self._cancelled:
                return
            self._producer_ended = True
        problem = self._stop_producer_now()
        if problem is not None:
            if error is None:
                error = problem
            else:
                self._report(problem)
        self._upstream_terminated(error)

    def _fail(self, error: Exception) -> None:
        """The stream fails here: stop the producer; held items go first, then ``error``."""
        self._stop_upstream(error)

    # -- stopping the producer ------------------------------------------------------------

    def _stop_producer(self) -> None:
        """The upstream link is cut (cancel, or the stream failed here)."""
        with self._lock:
            ending = self._producer_ended
        callbacks = [] if ending else self._take_cancel_callbacks()
        problems = [self._call(callback) for callback in callbacks]
        problems.append(self._stop_producer_now())
        for problem in problems:
            # After a failure here the stream already carries its error; after a cancel
            # nobody listens.
            self._report(problem)

    def _stop_producer_now(self) -> Exception | None:
        with self._lock:
            if self._stopped_producer:
                return None
            self._stopped_producer = True
            cleanup, self._cleanup = self._cleanup, None
        return None if cleanup is None else self._call(cleanup)

    def _take_cancel_callbacks(self) -> list[Callable[[], None]]:
        with self._lock:
            callbacks, self._on_cancel = self._on_cancel, []
        return callbacks

    def add_cancel_callback(self, callback: Callable[[], None]) -> None:
        with self._lock:
            late = self._stopped_producer and not self._producer_ended
            if not late:
                self._on_cancel.append(callback)
        if late:
            self._report(self._call(callback))

    @staticmethod
    def _call(callback: Callable[[], None]) -> Exception | None:
        try:
            callback()
        except Exception as err:
            return err
        return None

    def _report(self, problem: Exception | None) -> None:
        """An error from a cleanup or ``on_cancel`` callback, which run once the stream has
        its end (a cancel, or a terminal signal of its own): ``sys.unraisablehook``."""
        if problem is None:
            return
        sys.unraisablehook(_Unraisable(problem, "Exception in a create() callback", self))

    # -- demand listeners (the loop's owner) ----------------------------------------------

    def add_listener(self, callback: Callable[[int], None]) -> None:
        with self._lock:
            if self._done or self._cancelled:
                return
            self._new_listeners.append(callback)
        self.drain()

    def _welcome_listeners(self) -> list[Callable[[int], None]]:
        """Make new listeners current, telling them of the outstanding demand; the
        listeners there were before."""
        before = self._listeners
        if self._new_listeners:
            with self._lock:
                new, self._new_listeners = self._new_listeners, []
                # Demand requested but not yet heard (_fresh) reaches them with the others.
                outstanding = self._room_in_demand()
                if outstanding != UNBOUNDED:
                    outstanding = max(outstanding - self._fresh, 0)
            self._listeners = [*before, *new]
            if outstanding:
                for callback in new:
                    callback(outstanding)
        return before

    def _on_request(self, n: int) -> None:
        # _pass reads the demand after this hook: items delivered here are off it already.
        self._hearing = True
        try:
            for callback in self._welcome_listeners():
                callback(n)
        finally:
            self._hearing = False

    def _emit(self, on_next: Callable[[_T], None], limit: int) -> int:
        if self._violation is not None:  # downstream refused an item sent in _on_request
            return 0
        self._welcome_listeners()
        queue = self._queue
        lock = self._lock
        emitted = 0
        while emitted < limit:
            with lock:  # producers append while the owner takes
                if not queue:
                    break
                item = queue.popleft()
                self._popped += 1
            try:
                on_next(item)
            except Exception:
                self._refused = emitted + 1  # handed on, the refused one included
                raise
            emitted += 1
            if self._cancelled:
                break
        return emitted

    def _on_emitted(self, count: int) -> None:
        with self._lock:
            self._popped = 0  # _requested has been reduced by them now

    def _stage_state(self) -> dict[str, object]:
        return {"overflow": self._mode}

    def _inspect_links(self) -> list[object]:
        return []  # its "upstream" is the producer's stop, not a stage

    def _inspect_stage(self) -> StageSnapshot:
        # A source's received is what it handed on, holds and dropped; here also what the
        # overflow policy refused (counted in ``_received`` by push, and nowhere else).
        stage = super()._inspect_stage()
        if not self._received or stage.received is None:
            return stage
        return dataclasses.replace(stage, received=stage.received + self._received)


class _Unraisable:
    """The argument ``sys.unraisablehook`` takes (its type cannot be built from Python)."""

    __slots__ = ("err_msg", "exc_traceback", "exc_type", "exc_value", "object")

    def __init__(self, error: Exception, message: str, source: object) -> None:
        self.exc_type: type[BaseException] = type(error)
        self.exc_value: BaseException | None = error
        self.exc_traceback: TracebackType | None = error.__traceback__
        self.err_msg: str | None = message
        self.object: object = source
