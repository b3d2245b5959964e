"""Flowable: a reactivex Observable that delivers only what its subscriber requested."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from reactivex import Observable, abc
from reactivex.scheduler import CurrentThreadScheduler

from ._demand import UNBOUNDED
from ._stage import collector
from ._subscription import Subscriber, Subscription, is_subscriber
from ._trampoline import Steps
from ._validate import check_callable

if TYPE_CHECKING:
    from ..sources._to_async_iterable import AsyncFlowIterator

_T = TypeVar("_T")
_T_out = TypeVar("_T_out", covariant=True)
_A = TypeVar("_A")
_B = TypeVar("_B")
_C = TypeVar("_C")
_D = TypeVar("_D")
_E = TypeVar("_E")
_F = TypeVar("_F")
_G = TypeVar("_G")

SubscribeFlow = Callable[[Subscriber[_T], abc.SchedulerBase | None], Subscription]
"""How a Flowable starts: call ``subscriber.on_subscribe(s)`` first, then return ``s``."""

Piping = Callable[["Flowable[Any]", tuple[Callable[[Any], Any], ...]], Any]
_piping: Piping | None = None


def install_piping(piping: Piping) -> None:
    """Give ``Flowable.pipe`` its implementation (the demand bridge, in ``_bridge``).

    The bridge builds Flowables, so this module cannot import it: the bridge installs
    itself instead, once, when the core package is imported.
    """
    global _piping
    _piping = piping


class Flowable(Observable[_T_out]):
    """An Observable that honours request-n demand.

    Subscribed with a *subscriber* (an object that also has ``on_subscribe``), it calls
    ``on_subscribe(subscription)`` before any other signal and delivers items only against
    ``subscription.request(n)``. Subscribed with a plain observer or callbacks, it behaves
    as if unbounded demand had been requested, as RxJava and Reactor do, so a Flowable can
    go anywhere an Observable can.
    """

    _push_source: Observable[_T_out] | None = None

    def __init__(self, subscribe: SubscribeFlow[_T_out]) -> None:
        """A Flowable that runs ``subscribe(subscriber, scheduler)`` once per subscription.

        The contract of ``subscribe`` (``TypeError`` at once if it is not callable):

        - **It receives** a :class:`Subscriber` (``on_subscribe``, ``on_next``,
          ``on_error``, ``on_completed``; a plain observer or callbacks come wrapped as one
          that requests ``UNBOUNDED``, or one item per trampoline step inside a reactivex
          operator) and the ``scheduler`` given to ``subscribe`` (or None). It is called on
          the subscribing thread.
        - **It must** call ``subscriber.on_subscribe(subscription)`` exactly once, before any
          other signal; if that raises, cancel the subscription and let the error go on.
          Then: ``on_next`` only within the demand requested so far (rule 1.1), signals one
          at a time (1.3), at most one ``on_error``/``on_completed`` and nothing after it
          (1.7), nothing after ``cancel``. ``subscription.request(n)`` adds demand from any
          thread, also from inside ``on_next``, without deepening the stack (3.3); an ``n``
          of 0 or less becomes ``on_error(ValueError)``, and ``request``/``cancel`` never
          raise (3.9, 3.15, 3.16). ``cancel`` stops the source and drops the subscriber
          (3.13).
        - **It must return** that same ``subscription``: ``Flowable.subscribe`` hands it to
          the caller as the disposable.

        :func:`~rx_backpressure.create`, :func:`~rx_backpressure.generate` and a
        :class:`~rx_backpressure.Drain` (``drain.start(None, scheduler)``, then
        ``return drain``) keep all of it; ``rx_backpressure.testing.verify_flowable``
        checks a hand-written one. See ``docs/extending.md``.
        """
        check_callable("subscribe", subscribe)
        super().__init__()
        self._subscribe_flow = subscribe

    @property
    def push_source(self) -> Observable[_T_out] | None:
        """The pushed Observable behind a push segment (see ``pipe``); None if demand holds."""
        return self._push_source

    @overload  # type: ignore[override]
    def pipe(self) -> Flowable[_T_out]: ...

    @overload
    def pipe(self, op1: Callable[[Flowable[_T_out]], Observable[_A]], /) -> Flowable[_A]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[_T_out]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        /,
    ) -> Flowable[_B]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[_T_out]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        /,
    ) -> Flowable[_C]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[_T_out]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        /,
    ) -> Flowable[_D]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[_T_out]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        /,
    ) -> Flowable[_E]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[_T_out]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        op6: Callable[[Flowable[_E]], Observable[_F]],
        /,
    ) -> Flowable[_F]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[_T_out]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        op6: Callable[[Flowable[_E]], Observable[_F]],
        op7: Callable[[Flowable[_F]], Observable[_G]],
        /,
    ) -> Flowable[_G]: ...

    @overload
    def pipe(self, *operators: Callable[[Any], Observable[Any]]) -> Flowable[Any]: ...

    def pipe(self, *operators: Callable[[Any], Any]) -> Any:
        """Apply operators left to right; the result is a Flowable whatever they are.

        Our operators keep demand by design. Synchronous reactivex operators that emit at
        most one item per input (``map``, ``filter``, ``scan``, ``distinct``,
        ``distinct_until_changed``, ``take``, ``take_while``, ``skip``, ``skip_while``,
        ``do_action``/``tap``, ``pluck``, ``starmap``) are bridged so that the source is
        asked for exactly what is needed. Any other reactivex operator turns the segment
        above it into a push segment (see ``docs/concepts/pipe.md``). There is no limit
        on the number of operators.
        """
        piping = _piping
        assert piping is not None, "rx_backpressure.core installs it on import"
        return piping(self, operators)

    def subscribe(
        self,
        on_next: Subscriber[_T_out] | abc.ObserverBase[_T_out] | abc.OnNext[_T_out] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Subscribe a subscriber (request-n) or a plain observer/callbacks (unbounded).

        Returns the :class:`Subscription`, which is also a reactivex disposable.
        """
        if is_subscriber(on_next):
            subscriber: Subscriber[_T_out] = on_next  # type: ignore[assignment]
            return self._subscribe_flow(subscriber, scheduler)
        if isinstance(on_next, abc.ObserverBase) or callable(getattr(on_next, "on_next", None)):
            observer: abc.ObserverBase[_T_out] = on_next  # type: ignore[assignment]
            on_next, on_error, on_completed = (
                observer.on_next,
                observer.on_error,
                observer.on_completed,
            )
        callback: abc.OnNext[_T_out] | None = on_next  # type: ignore[assignment]
        subscription = self._subscribe_flow(
            _UnboundedSubscriber(callback, on_error, on_completed), scheduler
        )
        collected = collector()
        if collected is not None:  # a push source's operators subscribe us (see inspect)
            collected.append(subscription)
        return subscription

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[_T_out],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return self.subscribe(observer, scheduler=scheduler)

    def __aiter__(self) -> AsyncFlowIterator[_T_out]:
        """``async for`` over this Flowable: :func:`~rx_backpressure.to_async_iterable`
        with ``prefetch=64`` (see there for demand, threads and early exit)."""
        from ..sources._to_async_iterable import to_async_iterable  # sources build on core

        return to_async_iterable(self)


def _ignore(*_: object) -> None:
    pass


def _raise(error: Exception) -> None:
    # reactivex raises an error that nobody handles; so does a Flowable.
    raise error


class _UnboundedSubscriber(Generic[_T]):
    """Adapts reactivex callbacks: the demand a plain observer stands for.

    At the top level (no trampoline on this thread) that is unbounded demand, at once: as
    with reactivex's own sources, nothing can stop the flow before ``subscribe`` returns.
    Subscribed by a reactivex operator (inside its trampoline), the operator must hold its
    disposable before anything flows, and must be able to stop the source between items.
    The subscriber asks for one item per trampoline step, the next step queued behind
    whatever that item set going (as reactivex's ``range`` steps): a ``take`` or a
    ``first`` stops it at once, and so does an operator whose own output waits on the
    trampoline (``flat_map`` over ``just``), which reactivex's ``from_iterable``, reading
    its whole iterable in one step, would not let in before the end.

    Steps go on only while each is answered inside its own request (see ``Steps``).
    """

    __slots__ = ("_next", "_steps", "on_completed", "on_error", "on_next")

    _keeps_on_next = True  # set for good in on_subscribe (see _bridge._Bridge.connect)

    on_next: abc.OnNext[_T]
    on_error: abc.OnError
    on_completed: abc.OnCompleted

    def __init__(
        self,
        on_next: abc.OnNext[_T] | None,
        on_error: abc.OnError | None,
        on_completed: abc.OnCompleted | None,
    ) -> None:
        self.on_next = on_next or _ignore
        self.on_error = on_error or _raise
        self.on_completed = on_completed or _ignore
        self._steps: Steps | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        trampoline = CurrentThreadScheduler.singleton()
        if trampoline.schedule_required():
            subscription.request(UNBOUNDED)
            return
        self._steps = Steps(subscription.request, 1)
        self._next = self.on_next
        self.on_next = self._stepped_next
        self._steps.start()

    def _stepped_next(self, value: _T) -> None:
        """``on_next`` while stepping (a bridge may keep calling it after: then it only
        passes the item on). The next step is queued behind what the item set going."""
        self._next(value)
        steps = self._steps
        if steps is not None and not steps.arrived(1):
            self._steps = None
            self.on_next = self._next
