"""Flowable: a reactivex Observable that delivers only what its subscriber requested."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from reactivex import Observable, abc

from ._demand import UNBOUNDED
from ._subscription import Subscriber, Subscription, is_subscriber

_T = TypeVar("_T")
_T_out = TypeVar("_T_out", covariant=True)

SubscribeFlow = Callable[[Subscriber[_T], abc.SchedulerBase | None], Subscription]
"""How a Flowable starts: call ``subscriber.on_subscribe(s)`` first, then return ``s``."""


class Flowable(Observable[_T_out]):
    """An Observable that honours request-n demand.

    Subscribed with a *subscriber* (an object that also has ``on_subscribe``), it calls
    ``on_subscribe(subscription)`` before any other signal and delivers items only against
    ``subscription.request(n)``. Subscribed with a plain observer or callbacks, it behaves
    as if unbounded demand had been requested, as RxJava and Reactor do, so a Flowable can
    go anywhere an Observable can.
    """

    def __init__(self, subscribe: SubscribeFlow[_T_out]) -> None:
        super().__init__()
        self._subscribe_flow = subscribe

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
        return self._subscribe_flow(
            _UnboundedSubscriber(callback, on_error, on_completed), scheduler
        )

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[_T_out],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return self.subscribe(observer, scheduler=scheduler)


def _ignore(*_: object) -> None:
    pass


def _raise(error: Exception) -> None:
    # reactivex raises an error that nobody handles; so does a Flowable.
    raise error


class _UnboundedSubscriber(Generic[_T]):
    """Adapts reactivex callbacks: requests unbounded demand on subscribe."""

    __slots__ = ("on_completed", "on_error", "on_next")

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

    def on_subscribe(self, subscription: Subscription) -> None:
        subscription.request(UNBOUNDED)
