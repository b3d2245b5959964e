"""Demand across plain reactivex operators inside ``Flowable.pipe``.

A reactivex operator subscribes to its source with a plain observer, which asks a Flowable
for unbounded demand: a pull source above it would be read to the end. ``Flowable.pipe``
therefore looks at each operator it applies:

- An operator of ours (anything that returns a Flowable) is used as it is.
- A synchronous reactivex operator that emits at most one item per input (``map``,
  ``filter``, ``scan``, ``distinct``, ``take``, ... see :data:`EXACT`) is *bridged*: the
  Flowable upstream is asked for exactly what downstream asks for, plus one more for each
  input the operator swallowed (a filtered item), and nothing more. When the operator
  finishes early (``take``, ``take_while``), the bridge cancels the source itself at once.
  Consecutive exact operators share one bridge; a run of ``map`` and ``filter`` only is
  called by the bridge itself, one frame per item for the whole run (see ``_run_of``).
- Any other operator (``flat_map``, ``buffer_with_count``, ``delay``, ``observe_on``, ...)
  expands, contracts or shifts items in time, so no exact demand can be derived for it. It
  turns the segment above it into a *push segment*: upstream sees unbounded demand, as it
  would in plain reactivex. The result is still a Flowable. The next operator of ours
  treats it as a push source and applies its own bounded overflow policy; a subscriber
  that requests directly gets at most :data:`PUSH_BUFFER` items held beyond its demand,
  then ``BufferOverflowError``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable

from ._demand import UNBOUNDED, add_demand
from ._drain import Drain
from ._errors import BufferOverflowError
from ._flowable import Flowable, install_piping
from ._stage import StageSnapshot, call_name
from ._subscription import Subscriber, Subscription, is_subscriber
from ._trampoline import on_trampoline
from ._validate import check_callable, check_instance

_T = TypeVar("_T")

PUSH_BUFFER = 128
"""Items a push segment may hold beyond a direct subscriber's demand before it fails."""

EXACT = frozenset(
    {
        "map_",
        "map_indexed_",
        "filter_",
        "filter_indexed_",
        "scan_",
        "distinct_",
        "distinct_until_changed_",
        "take_",
        "take_while_",
        "take_while_indexed_",
        "skip_",
        "skip_while_",
        "skip_while_indexed_",
        "do_action_",
    }
)
"""reactivex operators (by implementing function) that emit at most one item per input,
synchronously. ``pluck``, ``pluck_attr``, ``starmap``, ``tap`` and ``do`` are built on them."""

ONE_FOR_ONE = frozenset({"map_", "scan_", "do_action_"})
"""Those of :data:`EXACT` that emit exactly one item per input (or fail): a run of them never
swallows an input, so its bridge needs no tap to notice one."""

FUSIBLE: dict[tuple[str, str], bool] = {
    ("reactivex.operators._map", "map_"): True,
    ("reactivex.operators._filter", "filter_"): False,
}
"""reactivex operators (by implementing function's module and name) whose work a bridged
run does itself, with their own function: ``map`` (True: its result goes on) and
``filter`` (False: its verdict decides). A run made only of them takes one frame per item
for the whole run (see ``_run_of``)."""

FUSE = True
"""Whether runs of :data:`FUSIBLE` operators are called by the bridge itself; switched off
only to check that every behaviour holds the same without it (``--without fuse``)."""

Operator = Callable[[Any], Any]
Step = tuple[bool, Callable[[Any], Any]]
"""One fused operator: whether it is a map (else a filter), and its function."""


def _closure(op: object) -> dict[str, Any]:
    code = getattr(op, "__code__", None)
    cells = getattr(op, "__closure__", None)
    if code is None or cells is None:
        return {}
    found: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            found[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return found


def _leaves(op: object) -> list[tuple[Any, dict[str, Any]]] | None:
    """The reactivex operators that ``op`` is made of, each as its implementing function and
    its closure's cells: ``op`` itself, or the parts of a ``compose``, in order; None if
    any part is not such an operator. Each closure is read once."""
    cells = _closure(op)
    fun = cells.get("fun")
    if fun is not None:
        return [(fun, cells)]
    parts = cells.get("operators")
    if not (
        isinstance(parts, tuple) and parts and getattr(op, "__module__", "") == "reactivex.pipe"
    ):
        return None
    found: list[tuple[Any, dict[str, Any]]] = []
    for part in parts:
        leaves = _leaves(part)
        if leaves is None:
            return None
        found += leaves
    return found


def _all_of(leaves: list[tuple[Any, dict[str, Any]]] | None, kinds: frozenset[str]) -> bool:
    """Whether every one of ``leaves`` is a reactivex operator of ``kinds``."""
    if leaves is None:
        return False
    for fun, _ in leaves:
        module = getattr(fun, "__module__", "") or ""
        if not (
            module.startswith("reactivex.operators.") and getattr(fun, "__name__", "") in kinds
        ):
            return False
    return True


def keeps_demand_exact(op: object, kinds: frozenset[str] = EXACT) -> bool:
    """Whether ``op`` is a reactivex operator known to emit at most one item per input (with
    ``kinds=ONE_FOR_ONE``: exactly one), or a ``compose`` of such operators."""
    return _all_of(_leaves(op), kinds)


def _same(value: Any) -> Any:
    """What a map given no mapper calls: the item itself."""
    return value


def _steps_of(leaves: list[tuple[Any, dict[str, Any]]] | None) -> list[Step] | None:
    """The steps of ``leaves`` if every one is a :data:`FUSIBLE` operator, with the function
    each one calls (a map given None maps to the item itself, as reactivex's does)."""
    if leaves is None:
        return None
    steps: list[Step] = []
    for fun, cells in leaves:
        kind = (getattr(fun, "__module__", None), getattr(fun, "__name__", None))
        is_map = FUSIBLE.get(kind)  # type: ignore[arg-type]
        args, kwargs = cells.get("args"), cells.get("kwargs")
        if is_map is None or not isinstance(args, tuple) or len(args) != 1 or kwargs:
            return None
        call = args[0]
        if is_map and not call:
            call = _same
        if not callable(call):
            return None
        steps.append((is_map, call))
    return steps


def fused_steps(op: object) -> list[Step] | None:
    """The steps of ``op`` if it is a :data:`FUSIBLE` operator, or a ``compose`` of such
    operators only, with the function each one calls; else None."""
    return _steps_of(_leaves(op))


class _Run:
    """A run of exact operators that one bridge serves, read once, when the pipe is applied
    (not at each subscription): the operator to apply, whether it never swallows an input,
    and its steps if it can be fused. Its name, for ``inspect``, is made when first asked."""

    __slots__ = ("_name", "_ops", "one_for_one", "op", "steps")

    def __init__(self, ops: tuple[Operator, ...], leaves: list[tuple[Any, dict[str, Any]]]):
        self._ops = ops
        self._name: str | None = None
        self.op: Operator = ops[0] if len(ops) == 1 else reactivex.compose(*ops)
        self.one_for_one = _all_of(leaves, ONE_FOR_ONE)
        self.steps = _steps_of(leaves)

    @property
    def name(self) -> str:
        name = self._name
        if name is None:  # two threads may both make it: the same string
            name = self._name = " | ".join(call_of(part) for part in self._ops)
        return name


def _run_of(
    steps: list[Step],
    emit: Callable[[Any], None],
    fail: Callable[[Exception], None],
    swallowed: Callable[[], None],
) -> Callable[[Any], None]:
    """The ``on_next`` of a fused run: each step's function called in turn on the item, as
    the operators would call it, one frame for the whole run. A map's result goes on, a
    filter's falsy verdict swallows the item (``swallowed``), and what passes every step goes
    to ``emit``. A function that raises fails the run (``fail``), which takes no item after
    that, as reactivex's operators stop at their first error. A verdict whose truth cannot be
    told raises to the caller, as it does from reactivex's own filter."""
    stopped = False

    def stop(error: Exception) -> None:
        nonlocal stopped
        stopped = True
        fail(error)

    if not all(is_map for is_map, _ in steps):

        def on_next(value: Any) -> None:
            if stopped:
                return
            for is_map, call in steps:
                try:
                    out = call(value)
                except Exception as err:
                    stop(err)
                    return
                if is_map:
                    value = out
                elif not out:
                    swallowed()
                    return
            emit(value)

        return on_next
    if len(steps) == 1:
        call = steps[0][1]

        def on_next_one(value: Any) -> None:
            if stopped:
                return
            try:
                value = call(value)
            except Exception as err:
                stop(err)
                return
            emit(value)

        return on_next_one
    calls = tuple(call for _, call in steps)

    def on_next_maps(value: Any) -> None:
        if stopped:
            return
        try:
            for call in calls:
                value = call(value)
        except Exception as err:
            stop(err)
            return
        emit(value)

    return on_next_maps


def call_of(op: object) -> str:
    """A bridged operator's call, as a stage's default name: ``map(parse)``."""
    cells = _closure(op)
    args = cells.get("args")
    if cells.get("fun") is None or not isinstance(args, tuple):
        return describe(op)
    kwargs = cells.get("kwargs")
    return call_name(describe(op), *args, **(kwargs if isinstance(kwargs, dict) else {}))


def describe(op: object) -> str:
    """A name for ``op`` in error messages: the reactivex operator it wraps, if any."""
    fun = _closure(op).get("fun")
    name = getattr(fun, "__name__", None) or getattr(op, "__qualname__", None) or repr(op)
    return str(name).rstrip("_")


def pipe_flowable(source: Flowable[Any], operators: tuple[Operator, ...]) -> Any:
    """Apply ``operators`` left to right, keeping demand wherever it can be kept."""
    return pipe(*operators)(source)


install_piping(pipe_flowable)


def pipe(*operators: Operator) -> Callable[[Observable[Any]], Any]:
    """Compose operators into one, left to right, with no limit on their number.

    Applied to a Flowable, the result is what ``flowable.pipe(*operators)`` gives: demand is
    kept across the plain operators that allow it. Applied to a plain Observable, the
    operators are applied in turn, as ``reactivex.pipe`` would. ``TypeError`` at once for
    an operator that is not callable.
    """
    for index, op in enumerate(operators):
        check_callable(f"operators[{index}]", op)

    def composed(source: Observable[Any]) -> Any:
        current: Any = source
        start = 0
        while start < len(operators):
            op = operators[start]
            leaves = _leaves(op) if _pulls(current) else None
            if _all_of(leaves, EXACT):
                # Fusion: a run of exact operators shares one bridge, so an item passes
                # through the run in one call chain, with one tap and one demand hand-off.
                assert leaves is not None
                end = start + 1
                while end < len(operators):
                    more = _leaves(operators[end])
                    if not _all_of(more, EXACT):
                        break
                    assert more is not None
                    leaves += more
                    end += 1
                current = _exact_bridge(current, _Run(operators[start:end], leaves))
                start = end
            else:
                current = _apply(current, op)
                start += 1
        return current

    return composed


def _pulls(current: object) -> bool:
    """Whether ``current`` is a Flowable that keeps demand (not a push segment)."""
    return isinstance(current, Flowable) and current.push_source is None


def _apply(current: Any, op: Operator) -> Any:
    if not isinstance(current, Flowable):
        return op(current)
    result = op(current)
    if isinstance(result, PushSegment) and _closure(op).get("fun") is not None:
        # A reactivex operator built of others (flat_map: map, then merge_all) makes its
        # push segment inside; named for the operator the user wrote.
        return PushSegment(result.push_source, describe(op))  # type: ignore[arg-type]
    if isinstance(result, Flowable) or not isinstance(result, Observable):
        return result
    return PushSegment(result, describe(op))


class PushSegment(Flowable[_T]):
    """A Flowable whose items are pushed: the output of an operator that cannot keep demand.

    Plain observers subscribe straight to the pushed Observable. Our operators take it as
    a push source. A subscriber that requests directly gets the items as demand allows,
    with at most :data:`PUSH_BUFFER` held, then ``BufferOverflowError`` naming the operator.
    """

    def __init__(self, source: Observable[_T], origin: str) -> None:
        check_instance("source", source, Observable, "an Observable")
        check_instance("origin", origin, str, "a str")
        self.origin = origin

        def subscribe(
            subscriber: Subscriber[_T], scheduler: abc.SchedulerBase | None
        ) -> Subscription:
            drain: _PushDrain[_T] = _PushDrain(subscriber, origin)
            drain.start(source, scheduler)
            return drain

        super().__init__(subscribe)
        self._push_source = source

    def subscribe(
        self,
        on_next: Subscriber[_T] | abc.ObserverBase[_T] | abc.OnNext[_T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        if is_subscriber(on_next):
            return super().subscribe(on_next, scheduler=scheduler)
        return self._push_source.subscribe(  # type: ignore[union-attr]
            on_next,  # type: ignore[arg-type]
            on_error,
            on_completed,
            scheduler=scheduler,
        )


class _PushDrain(Drain[_T, _T]):
    _is_push_stage = True

    def __init__(self, downstream: Subscriber[_T], origin: str) -> None:
        super().__init__(downstream, capacity=PUSH_BUFFER, name=origin)
        self._origin = origin

    def _overflow(self, value: _T) -> None:
        self._stop_upstream(
            BufferOverflowError(
                f"{self._origin} pushed more than {PUSH_BUFFER} items beyond demand; "
                "put bounded_buffer or shed after it to choose what happens when it does"
            )
        )


def _exact_bridge(source: Flowable[Any], run: _Run) -> Flowable[Any]:
    def subscribe(subscriber: Subscriber[Any], scheduler: abc.SchedulerBase | None) -> Subscription:
        bridge = _Bridge(subscriber, source, run)
        bridge.connect(scheduler)
        return bridge

    return Flowable(subscribe)


class _Bridge(Subscription):
    """Passes downstream demand to the Flowable above the operator, one for one.

    The source is asked only for what downstream asked for, plus one for each input the
    operator swallowed, and the operator emits at most one output per input: outputs can
    never exceed demand, so they go straight through with no queue of their own. The
    source's drain loop already serializes every signal, and a ``request`` made from inside
    ``on_next`` reaches that loop, which only notes it (rule 3.3).
    """

    def __init__(self, downstream: Subscriber[Any], source: Flowable[Any], run: _Run) -> None:
        self._run = run
        self._downstream: Subscriber[Any] | None = downstream
        self._source = source
        self._lock = threading.Lock()
        self._upstream: Subscription | None = None
        self._link_up: Subscription | None = None  # kept after the end, for inspect
        self._waiting: list[Any] = []  # requests made before the source subscribed
        self._cancelled = False
        self._link = SingleAssignmentDisposable()
        self.produced = 0
        # For inspect(): counted per request and per swallowed input, never per item.
        self._requested = 0
        self._swallowed = 0
        self.one_for_one = False  # the operator never swallows an input: no tap needed
        self.direct = False  # outputs go to the subscriber's on_next, uncounted (see connect)
        self._below: Subscriber[Any] | None = None
        self.source_failed = False  # the source signalled an error (see _Link.on_error)
        self._failed = False  # an error went downstream

    @property
    def name(self) -> str:
        return self._run.name

    def connect(self, scheduler: abc.SchedulerBase | None) -> None:
        downstream = self._downstream
        assert downstream is not None
        downstream.on_subscribe(self)
        if self._cancelled:  # cancelled from on_subscribe: the source is never subscribed
            return
        run = self._run
        self.one_for_one = run.one_for_one
        on_next: Callable[[Any], None] = self._on_next
        if self.one_for_one and getattr(downstream, "_keeps_on_next", False):
            # Outputs are inputs one for one, counted by the source: the subscriber's own
            # on_next takes them, one frame less per item (it is set for good by now).
            on_next = downstream.on_next
            self.direct = True
            self._below = downstream  # kept after the end, for inspect
        steps = run.steps if FUSE else None
        if steps is not None:
            # Maps and filters only: the bridge calls their functions itself, in one frame
            # an item, and notes a filtered item itself (no tap).
            fail = self._on_error if self.one_for_one else self._fail_input
            calls = _run_of(steps, on_next, fail, self.swallowed)
            link = _Through(self, calls, self._on_error, self._on_completed)
            self._link.disposable = self._source.subscribe(link, scheduler=scheduler)
            return
        output: Observable[Any] = run.op(_Tapped(self))
        self._link.disposable = output.subscribe(
            on_next, self._on_error, self._on_completed, scheduler=scheduler
        )

    # -- Subscription ---------------------------------------------------------------------

    def request(self, n: int) -> None:
        # An invalid n goes upstream too: the source signals the error, which the operator
        # passes through unchanged (rule 3.9).
        with self._lock:
            if type(n) is int and n > 0:
                self._requested = add_demand(self._requested, n)
            upstream = self._upstream
            if upstream is None:
                if not self._cancelled:
                    self._waiting.append(n)
                return
        upstream.request(n)

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            upstream, self._upstream = self._upstream, None
        self._downstream = None
        if upstream is not None:
            upstream.cancel()
        self._link.dispose()

    # -- what inspect() sees ------------------------------------------------------------

    def _inspect_stage(self) -> StageSnapshot:
        produced = self.produced
        reading = getattr(self._link_up, "_inspect_stage", None)
        fed = None if reading is None else reading().emitted  # handed to the operator
        if self.direct:
            # Not counted here: what the stage below took in, or else (a plain callback
            # below) what the source emitted, one output for each input, less the input an
            # operator failed on (the last one the source handed it).
            below = getattr(self._below, "_inspect_stage", None)
            if below is not None:
                produced = below().received or 0
            elif fed is not None:
                produced = max(fed - (self._failed and not self.source_failed), 0)
        received = produced + self._swallowed
        if self.one_for_one and fed is not None:
            received = max(received, fed)  # an input the operator failed on counts too
        requested = self._requested
        ended = self._cancelled
        demand = requested if requested >= UNBOUNDED else requested - produced
        return StageSnapshot(
            name=self.name,
            kind="bridge",
            held=0,
            demand=0 if ended else demand,
            pending=0 if ended else demand,  # asked upstream one for one
            received=received,
            emitted=produced,
            dropped=0,
            ended=ended,
        )

    def _inspect_links(self) -> list[object]:
        upstream = self._link_up
        return [] if upstream is None else [upstream]

    # -- the source side ------------------------------------------------------------------

    def source_subscribed(self, subscription: Subscription) -> None:
        with self._lock:
            cancelled = self._cancelled
            if not cancelled:
                self._upstream = self._link_up = subscription
                waiting, self._waiting = self._waiting, []
        if cancelled:
            subscription.cancel()
            return
        if waiting:
            # A trampoline step: a synchronous source then runs at the trampoline's depth,
            # not at the bottom of the operators' nested subscribe calls.
            on_trampoline(lambda: self._ask(subscription, waiting))

    def _ask(self, subscription: Subscription, amounts: list[int]) -> None:
        for n in amounts:
            subscription.request(n)

    def swallowed(self) -> None:
        """The operator took an input and emitted nothing: ask the source for another."""
        self._swallowed += 1
        upstream = self._upstream
        if upstream is not None:
            upstream.request(1)

    # -- the operator side ----------------------------------------------------------------

    def _on_next(self, value: Any) -> None:
        self.produced += 1
        downstream = self._downstream
        if downstream is not None:
            downstream.on_next(value)

    def _on_error(self, error: Exception) -> None:
        self._failed = True
        self._end().on_error(error)

    def _fail_input(self, error: Exception) -> None:
        """A fused run that may swallow failed on an input: the error goes down, and the
        input counts as taken with no output, as a tap counts it (nothing is asked for
        it: the source is cancelled by then)."""
        self._on_error(error)
        self._swallowed += 1

    def _on_completed(self) -> None:
        # A take() that is done must stop a synchronous source now, not when reactivex's
        # own dispose arrives after the subscribe call returns.
        self._end().on_completed()

    def _end(self) -> Subscriber[Any]:
        downstream = self._downstream
        self.cancel()
        return downstream if downstream is not None else _IGNORE


class _Ignore:
    def on_subscribe(self, subscription: Subscription) -> None:
        pass

    def on_next(self, value: Any) -> None:
        pass

    def on_error(self, error: Exception) -> None:
        pass

    def on_completed(self) -> None:
        pass


_IGNORE = _Ignore()


class _Tapped(Observable[Any]):
    """The operator's view of the source: a plain Observable with a tap in the middle."""

    def __init__(self, bridge: _Bridge) -> None:
        super().__init__()
        self._bridge = bridge

    def subscribe(
        self,
        on_next: Any = None,
        on_error: Any = None,
        on_completed: Any = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        if callable(getattr(on_next, "on_next", None)):
            on_next, on_error, on_completed = (
                on_next.on_next,
                on_next.on_error,
                on_next.on_completed,
            )
        bridge = self._bridge
        tap: _Tap | _Through = (
            _Through(bridge, on_next, on_error, on_completed)
            if bridge.one_for_one
            else _Tap(bridge, on_next, on_error, on_completed)
        )
        return bridge._source.subscribe(tap, scheduler=scheduler)


class _Link:
    """Between the source and the operator: what the source sees of the operator."""

    __slots__ = ("_bridge", "_on_error", "on_completed")

    def __init__(
        self,
        bridge: _Bridge,
        on_next: Callable[[Any], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
    ) -> None:
        self._bridge = bridge
        self._on_error = on_error
        self.on_completed = on_completed
        self._operator(on_next)

    def _operator(self, on_next: Callable[[Any], None]) -> None:
        """Keep the operator's ``on_next``, where the source's calls reach it."""
        raise NotImplementedError

    def on_subscribe(self, subscription: Subscription) -> None:
        self._bridge.source_subscribed(subscription)

    def on_error(self, error: Exception) -> None:
        self._bridge.source_failed = True  # the failure is not the operator's (inspect)
        self._on_error(error)


class _Through(_Link):
    """For an operator that never swallows an input: the source calls the operator's own
    ``on_next``, one call less per item than through a tap."""

    __slots__ = ("on_next",)

    def _operator(self, on_next: Callable[[Any], None]) -> None:
        self.on_next = on_next


class _Tap(_Link):
    """Notices inputs the operator swallows, and asks the source for as many more."""

    __slots__ = ("_next",)

    def _operator(self, on_next: Callable[[Any], None]) -> None:
        self._next = on_next

    def on_next(self, value: Any) -> None:
        bridge = self._bridge
        before = bridge.produced
        self._next(value)
        if bridge.produced == before:
            bridge.swallowed()
