"""shed: a lossy buffer of at most ``capacity`` items that drops, counts and reports load.

It never blocks the producer and never fails for lack of room. A Flowable upstream is asked
for unbounded demand: shed exists to absorb a source faster than its consumer. When
``capacity`` items are waiting for demand, the next arrival costs one item::

    shed(2)                          strategy="tail": the arriving item is dropped
    source:  -a-b-c-d-e----
    demand:  1---------1-1-
    output:  -a--------b-c-      dropped: d, e

    shed(2, strategy="head")         the oldest waiting item is dropped
    source:  -a-b-c-d-e----
    demand:  1---------1-1-
    output:  -a--------d-e-      dropped: b, c

``shed(1, strategy="head")`` keeps only the latest item. Every dropped item goes to
``on_drop``, is counted in the stage's ``dropped`` (``inspect``) and ``metrics``, and is
summarised on the ``rx_backpressure.shed`` logger; received = emitted + dropped + held at
every moment. Defaults: ``strategy="tail"``, ``on_drop=None``, ``metrics=None``,
``name=None`` (its call, e.g. ``shed(100, strategy='head')``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar, overload

from reactivex import Observable
from reactivex.scheduler import CurrentThreadScheduler

from ..core import (
    UNBOUNDED,
    Drain,
    Flowable,
    Metrics,
    Steps,
    Subscriber,
    Subscription,
    call_name,
    check_callable,
    check_choice,
    check_int,
    check_metrics,
    lift,
    stage_name,
)

_T = TypeVar("_T")

Strategy = Literal["tail", "head"]
_STRATEGIES: tuple[Strategy, ...] = ("tail", "head")


# Without on_drop nothing fixes the item type, so ``shed(8)`` stays generic until applied.
@overload
def shed(
    capacity: int,
    *,
    strategy: Strategy = ...,
    on_drop: None = ...,
    metrics: Metrics | None = ...,
    name: str | None = ...,
) -> Callable[[Observable[_T]], Flowable[_T]]: ...


@overload
def shed(
    capacity: int,
    *,
    strategy: Strategy = ...,
    on_drop: Callable[[_T], None],
    metrics: Metrics | None = ...,
    name: str | None = ...,
) -> Callable[[Observable[_T]], Flowable[_T]]: ...


def shed(
    capacity: int,
    *,
    strategy: Strategy = "tail",
    on_drop: Callable[[_T], None] | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_T]]:
    """Hold at most ``capacity`` items for demand; with no room, drop one and say which.

    ``"tail"`` drops the arriving (newest) item, ``"head"`` the oldest waiting one. The
    dropped item is passed to ``on_drop`` on the producer's thread; if ``on_drop`` raises,
    upstream is cut and the error follows the items already held to ``on_error``.
    ``name`` is the stage's name in ``inspect`` (default: its call).
    """
    check_int("capacity", capacity)
    check_choice("strategy", strategy, _STRATEGIES)
    check_callable("on_drop", on_drop, allow_none=True)
    check_metrics(metrics)
    label = stage_name(
        name,
        lambda: call_name(
            "shed", capacity, **({"strategy": strategy} if strategy != "tail" else {})
        ),
    )

    def make(downstream: Subscriber[_T]) -> Drain[_T, _T]:
        return _Shed(downstream, capacity, strategy == "head", on_drop, metrics, label)

    return lift(make)


STEP = 128
"""Items a Flowable upstream is asked for per trampoline step, inside a reactivex subscribe."""


class _Shed(Drain[_T, _T]):
    _batches = True  # runs from a stage of ours above: see _arrive_batch
    _log_as = "rx_backpressure.shed"

    def __init__(
        self,
        downstream: Subscriber[_T],
        capacity: int,
        evict: bool,
        on_drop: Callable[[_T], None] | None,
        metrics: Metrics | None,
        name: str,
    ) -> None:
        super().__init__(downstream, capacity=capacity, metrics=metrics, name=name)
        self._evicts = evict  # head: the oldest held item makes way (see Drain._evicts)
        self._on_drop = on_drop
        self._steps: Steps | None = None  # asking a Flowable upstream in trampoline steps

    def on_subscribe(self, subscription: Subscription) -> None:
        """A Flowable upstream is asked for everything it has: at once at the top level;
        inside a reactivex ``subscribe`` (on its trampoline), ``STEP`` items per step, each
        step queued behind what the last one set going, so an operator below that ends
        early (``first``, ``take``) gets its turn to stop an endless synchronous source.

        Steps go on only while each is answered inside its own request (see
        ``core.Steps``)."""
        super().on_subscribe(subscription)
        if CurrentThreadScheduler.singleton().schedule_required():
            self._request_upstream(UNBOUNDED)
        else:
            self._steps = Steps(self._request_upstream, STEP)
            self.on_next = self._stepped_next  # type: ignore[method-assign]
            self._steps.start()

    def _stepped(self, count: int) -> None:
        """``count`` items are here (from the step's request, or not: see ``Steps``)."""
        steps = self._steps
        if steps is not None and not steps.arrived(count):
            self._steps = None
            self.on_next = self._accept  # type: ignore[method-assign]

    def _stepped_next(self, value: _T) -> None:
        """``on_next`` while stepping (otherwise ``on_next`` is ``_accept``: one call less)."""
        self._stepped(1)
        self._accept(value)

    def _arrive_batch(self, values: list[_T]) -> None:
        self._stepped(len(values))
        self._accept_batch(values)

    def _overflow(self, value: _T) -> None:
        left_out = self._offer(value, evict=self._evicts, drop=True)
        if left_out is None:
            self.drain()
            return
        self._count_drop(counted=True)  # received and dropped, by _offer
        if self._on_drop is not None:
            try:
                self._on_drop(left_out[0])
            except Exception as err:  # the user's callback failed: the stream fails
                self._stop_upstream(err)
                return
        if self._evicts:
            self.drain()  # the held items changed; with no demand this does nothing
