"""Recording sources for virtual-time tests: pull, spy, hot and cold."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.notification import Notification, OnError
from reactivex.scheduler import VirtualTimeScheduler
from reactivex.testing.subscription import Subscription as SubscriptionRecord

from ..core import UNBOUNDED, Drain, Flowable, Subscriber, Subscription, check_instance
from ._subscriber import tick

_T = TypeVar("_T")

# One order across every recorder: it tells which demand a source saw after a given moment
# (``mark()``), such as the start of a harness's own final cancel.
_ORDER = itertools.count()


def mark() -> int:
    """A point in the order of recorded demand: events recorded later compare greater."""
    return next(_ORDER)


@dataclass(frozen=True)
class DemandEvent:
    """A request (``n``) or a cancel (``n is None``) seen by a source, at a virtual time."""

    time: float
    n: int | None

    def __repr__(self) -> str:
        if self.n is None:
            return f"cancel@{self.time}"
        amount = "*" if self.n == UNBOUNDED else str(self.n)
        return f"request({amount})@{self.time}"


def span(subscribe: float, unsubscribe: float | None = None) -> SubscriptionRecord:
    """A subscription record; reactivex annotates its times as int, virtual times are float."""
    return SubscriptionRecord(subscribe, unsubscribe)  # type: ignore[arg-type]


class _Recorder:
    """Demand events and subscription spans, stamped with the scheduler's clock."""

    def __init__(self, scheduler: VirtualTimeScheduler) -> None:
        self.scheduler = scheduler
        self.requests: list[DemandEvent] = []
        self.order: list[int] = []  # the mark() of each request, in the same order
        self.subscriptions: list[SubscriptionRecord] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return tick(self.scheduler.clock)

    def demand(self, index: int, n: int | None) -> None:
        """Write down a request or cancel, unless that subscription has already ended."""
        with self._lock:
            if self.subscriptions[index].unsubscribe == UNBOUNDED_TIME:
                self.requests.append(DemandEvent(self.now(), n))
                self.order.append(next(_ORDER))

    def subscribed(self) -> int:
        with self._lock:
            self.subscriptions.append(span(self.now()))
            return len(self.subscriptions) - 1

    def unsubscribed(self, index: int) -> None:
        with self._lock:
            record = self.subscriptions[index]
            if record.unsubscribe == UNBOUNDED_TIME:
                self.subscriptions[index] = span(record.subscribe, self.now())


UNBOUNDED_TIME = SubscriptionRecord(0).unsubscribe


class _RecordingSubscription(Subscription):
    """Passes demand through to ``inner`` and writes it down on the way."""

    __slots__ = ("_index", "_inner", "_recorder")

    def __init__(self, inner: Subscription, recorder: _Recorder, index: int) -> None:
        self._inner = inner
        self._recorder = recorder
        self._index = index

    def request(self, n: int) -> None:
        self._recorder.demand(self._index, n)
        self._inner.request(n)

    def cancel(self) -> None:
        self._recorder.demand(self._index, None)
        self._recorder.unsubscribed(self._index)
        self._inner.cancel()


class _RecordingSubscriber(Generic[_T]):
    """Hands downstream a recording subscription instead of the real one."""

    def __init__(self, downstream: Subscriber[_T], recorder: _Recorder, index: int) -> None:
        self._downstream = downstream
        self._recorder = recorder
        self._index = index
        self.subscription: Subscription | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = _RecordingSubscription(subscription, self._recorder, self._index)
        self._downstream.on_subscribe(self.subscription)

    def on_next(self, value: _T) -> None:
        self._downstream.on_next(value)

    def on_error(self, error: Exception) -> None:
        self._recorder.unsubscribed(self._index)
        self._downstream.on_error(error)

    def on_completed(self) -> None:
        self._recorder.unsubscribed(self._index)
        self._downstream.on_completed()


class RecordingFlowable(Flowable[_T]):
    """A Flowable that writes down the demand it receives (see ``requests``)."""

    def __init__(self, inner: Flowable[_T], scheduler: VirtualTimeScheduler) -> None:
        check_instance("inner", inner, Flowable, "a Flowable")
        check_instance("scheduler", scheduler, VirtualTimeScheduler, "a VirtualTimeScheduler")
        recorder = _Recorder(scheduler)

        def subscribe(
            subscriber: Subscriber[_T], scheduler_: abc.SchedulerBase | None
        ) -> Subscription:
            recording = _RecordingSubscriber(subscriber, recorder, recorder.subscribed())
            inner.subscribe(recording, scheduler=scheduler_)
            assert recording.subscription is not None, "on_subscribe was not called"
            return recording.subscription

        super().__init__(subscribe)
        self._recorder = recorder

    @property
    def requests(self) -> list[DemandEvent]:
        """Every request and cancel received, with its virtual time."""
        return list(self._recorder.requests)

    @property
    def subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription as ``Subscription(subscribe, unsubscribe)`` times."""
        return list(self._recorder.subscriptions)


def demand_before_cancels_from(
    source: RecordingFlowable[Any], moment: int | None
) -> list[DemandEvent]:
    """What ``source`` received, leaving out the cancels recorded after ``moment`` (a
    :func:`mark`); everything if ``moment`` is None."""
    recorder = source._recorder
    with recorder._lock:
        pairs = list(zip(recorder.requests, recorder.order, strict=True))
    return [
        event for event, order in pairs if moment is None or event.n is not None or order < moment
    ]


class _PullDrain(Drain[Any, Any]):
    """Emits the next values as demand allows, then the diagram's terminal event."""

    def __init__(
        self,
        downstream: Subscriber[Any],
        values: list[Any],
        terminal: Notification[Any] | None,
    ) -> None:
        super().__init__(downstream)
        self._values = values
        self._position = 0
        self._terminal = terminal
        self._settle()

    def _settle(self) -> None:
        if self._position >= len(self._values) and self._terminal is not None:
            self._done = True
            if isinstance(self._terminal, OnError):
                self._error = self._terminal.exception

    def _emit(self, on_next: Callable[[Any], None], limit: int) -> int:
        emitted = 0
        while emitted < limit and self._position < len(self._values):
            value = self._values[self._position]
            self._position += 1
            on_next(value)
            emitted += 1
            if self._cancelled:
                break
        self._settle()
        return emitted


def pull_source(
    values: Iterable[Any],
    terminal: Notification[Any] | None,
    scheduler: VirtualTimeScheduler,
) -> RecordingFlowable[Any]:
    """A demand-driven source over ``values`` that records the demand it receives."""
    items = list(values)

    def subscribe(subscriber: Subscriber[Any], _: abc.SchedulerBase | None) -> Subscription:
        drain = _PullDrain(subscriber, items, terminal)
        drain.start(None, None)
        return drain

    return RecordingFlowable(Flowable(subscribe), scheduler)


class TimedObservable(Observable[_T]):
    """A hot or cold marble source that records its subscriptions."""

    def __init__(
        self,
        scheduler: VirtualTimeScheduler,
        messages: list[tuple[float, Notification[_T]]],
        *,
        hot: bool,
    ) -> None:
        check_instance("scheduler", scheduler, VirtualTimeScheduler, "a VirtualTimeScheduler")
        check_instance("messages", messages, list, "a list of (time, Notification)")
        check_instance("hot", hot, bool, "a bool")
        super().__init__()
        self.scheduler = scheduler
        self.messages = messages
        self.hot = hot
        self._recorder = _Recorder(scheduler)
        self._observers: list[abc.ObserverBase[_T]] = []
        self._scheduled = False

    @property
    def subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription as ``Subscription(subscribe, unsubscribe)`` times."""
        return list(self._recorder.subscriptions)

    def schedule_hot(self) -> None:
        """Put a hot source's events on the scheduler (once)."""
        if self._scheduled or not self.hot:
            return
        self._scheduled = True
        for time, notification in self.messages:
            self.scheduler.schedule_absolute(time, self._broadcast(notification))

    def _broadcast(self, notification: Notification[_T]) -> Callable[..., None]:
        def action(_: abc.SchedulerBase, __: Any = None) -> None:
            for observer in list(self._observers):
                notification.accept(observer)

        return action

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        index = self._recorder.subscribed()

        def unsubscribe() -> None:
            self._recorder.unsubscribed(index)
            if observer in self._observers:
                self._observers.remove(observer)

        if self.hot:
            self._observers.append(observer)
            return Disposable(unsubscribe)
        disposables = CompositeDisposable(Disposable(unsubscribe))
        for offset, notification in self.messages:

            def action(
                _: abc.SchedulerBase, __: Any = None, notification: Notification[_T] = notification
            ) -> None:
                notification.accept(observer)

            disposables.add(self.scheduler.schedule_relative(offset, action))
        return disposables
