"""generate: a synchronous pull source that calls ``step`` once per requested item.

For cursors and paged APIs: ``step(state, emitter)`` gives at most one item, or ends the
stream, and returns the next state; nothing is read ahead of demand::

    generate(0, step)      step: next(state), complete() once state == 3
    demand:    2-----1---1---
    steps:     (0,1)-2---3---
    output:    (0,1)-2---|

Defaults: ``name=None`` (its call, e.g. ``generate(0, step)``); each subscription starts
from ``initial_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from reactivex import abc

from ..core import (
    Drain,
    Flowable,
    Subscriber,
    Subscription,
    call_name,
    check_callable,
    check_instance,
    stage_name,
)

_S = TypeVar("_S")
_T = TypeVar("_T")


def generate(
    initial_state: _S, step: Callable[[_S, Emitter1[_T]], _S], *, name: str | None = None
) -> Flowable[_T]:
    """A Flowable that calls ``step(state, emitter)`` for each item requested.

    Each call may call ``emitter.next`` at most once, and ``emitter.complete`` or
    ``emitter.error`` to end the stream (after its item, if it gave one); it returns the
    state for the next call. Calls come on the thread that runs the delivery loop (the one
    that called ``request``, or the subscriber's), never concurrently, and only as far as
    demand reaches. A call that gives no item and does not end the stream is followed by
    another: the demand it was made for is still open (RxJava would let it lapse).

    An exception raised by ``step``, or a second ``next`` in one call, fails the stream
    (``on_error``), after the item the call gave. Every subscription starts from the same
    ``initial_state``: a step that changes it in place instead of returning a new one
    shares that change with later subscriptions.

    ``name`` is the stage's name in ``inspect`` (default: its call).

    Raises ``TypeError`` at once for a ``step`` that is not callable, or a ``name`` that is
    not a non-empty str.
    """
    check_callable("step", step)
    label = stage_name(name, lambda: call_name("generate", initial_state, step))

    def subscribe(subscriber: Subscriber[_T], scheduler: abc.SchedulerBase | None) -> Subscription:
        drain = _GenerateDrain(subscriber, initial_state, step, label)
        drain.start(None, scheduler)
        return drain

    return Flowable(subscribe)


class Emitter1(Generic[_T]):
    """What a :func:`generate` step signals through, during its call only."""

    __slots__ = ("_ended", "_error", "_has_value", "_open", "_value")

    def __init__(self) -> None:
        self._open = False
        self._has_value = False
        self._value: _T | None = None
        self._ended = False
        self._error: Exception | None = None

    def next(self, value: _T) -> None:
        """Give this call's item (once per call; a second one fails the stream)."""
        self._check_open("next")
        problem = None
        if self._has_value:
            problem = "generate: step called emitter.next twice in one call"
        elif self._ended:
            problem = "generate: step called emitter.next after ending the stream"
        if problem is not None:
            error = RuntimeError(problem)
            # The stream fails even if the step catches this.
            self._ended, self._error = True, error
            raise error
        self._has_value = True
        self._value = value

    def error(self, error: Exception) -> None:
        """Fail the stream after this call's item (``TypeError`` for a non-exception)."""
        self._check_open("error")
        check_instance("error", error, Exception, "an Exception")
        if not self._ended:
            self._ended = True
            self._error = error

    def complete(self) -> None:
        """Complete the stream after this call's item."""
        self._check_open("complete")
        self._ended = True

    def _check_open(self, signal: str) -> None:
        if not self._open:
            raise RuntimeError(f"generate: emitter.{signal} called outside the step's call")


class _GenerateDrain(Drain[_T, _T], Generic[_S, _T]):
    _asks_in_pass = True  # demand is read only as _emit's limit: see Drain.request

    def __init__(
        self,
        downstream: Subscriber[_T],
        state: _S,
        step: Callable[[_S, Emitter1[_T]], _S],
        name: str | None = None,
    ) -> None:
        super().__init__(downstream, name=name)
        self._state = state
        self._step = step
        self._emitter: Emitter1[_T] = Emitter1()

    def _emit(self, on_next: Callable[[_T], None], limit: int) -> int:
        emitter = self._emitter
        emitted = 0
        # Demand downstream asks on this thread meanwhile (_owner_asked) is taken in this call
        # too; asks from before it are the pass's to add (a run is never made longer).
        limit -= self._owner_asked
        while emitted < limit + self._owner_asked and not self._done:
            emitter._has_value = emitter._ended = False
            emitter._open = True
            try:
                self._state = self._step(self._state, emitter)
            except Exception as err:
                emitter._ended = True
                emitter._error = err
            finally:
                emitter._open = False
            if emitter._has_value:
                value = emitter._value
                emitter._value = None
                emitted += 1
                on_next(value)  # type: ignore[arg-type]  # set by next(): a _T
            if emitter._ended:
                # The loop delivers the end once the pass is over (nothing is held here).
                self._error, emitter._error = emitter._error, None
                self._done = True
            if self._cancelled:
                break
        return emitted

    def _release(self) -> None:
        self._state = None  # type: ignore[assignment]  # the state goes with the stream
