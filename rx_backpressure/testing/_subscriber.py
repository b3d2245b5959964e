"""TestSubscriber: records what a Flowable delivers, and fails loudly when it breaks a rule."""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from reactivex import abc
from reactivex.notification import OnCompleted, OnError, OnNext
from reactivex.scheduler import VirtualTimeScheduler
from reactivex.testing.recorded import Recorded

from ..core import UNBOUNDED, Subscription, add_demand, check_instance, check_int

_T = TypeVar("_T")


def tick(time: float) -> float:
    """A virtual time as recorded and compared: microseconds exact, whole numbers as int."""
    rounded = round(float(time), 6)
    return int(rounded) if rounded.is_integer() else rounded


class RuleViolation(AssertionError):
    """A Flowable broke a demand rule while a TestSubscriber was watching."""


class TestSubscriber(abc.ObserverBase[_T], Generic[_T]):
    """A subscriber that records every signal with its virtual time.

    ``initial_request`` is requested from ``on_subscribe`` (``UNBOUNDED`` by default, as
    RxJava's TestSubscriber does; 0 requests nothing). ``replenish`` requests that many more
    from inside each ``on_next``, the stop-and-wait pattern. ``messages`` are
    ``reactivex.testing.Recorded`` records, comparable with ``ReactiveTest.on_next(...)``
    and with the kit's ``exp(...)``.

    It fails loudly on a broken rule: an item beyond demand (1.1), overlapping or re-entrant
    signals (1.3, 3.3), a signal after a terminal one (1.7) or before ``on_subscribe``
    (1.9), a second ``on_subscribe``. The signal raises :class:`RuleViolation` and the
    violation stays in ``violations``, which :meth:`assert_no_violations` checks (the
    ``marbles`` context checks it for every subscriber it started).
    """

    __test__ = False  # not a pytest test class

    # The signal methods set ``__tracebackhide__``: pytest then ends a violation's traceback
    # at the source's call that broke the rule, not inside the kit.

    def __init__(
        self,
        initial_request: int = UNBOUNDED,
        *,
        replenish: int = 0,
        scheduler: VirtualTimeScheduler | None = None,
    ) -> None:
        check_int("initial_request", initial_request, minimum=0)
        check_int("replenish", replenish, minimum=0)
        check_instance(
            "scheduler", scheduler, VirtualTimeScheduler, "a VirtualTimeScheduler", allow_none=True
        )
        self.initial_request = initial_request
        self.replenish = replenish
        self.scheduler = scheduler
        self.subscription: Subscription | None = None
        self.messages: list[Recorded[_T]] = []
        self.violations: list[str] = []
        self.requested = 0
        self.received = 0
        self.subscribed = 0
        self.terminated = threading.Event()
        self._lock = threading.Lock()
        self._busy: int | None = None
        self._cancelled = False

    # -- what was seen --------------------------------------------------------------------

    @property
    def values(self) -> list[_T]:
        """The items received, in order."""
        return [m.value.value for m in self.messages if isinstance(m.value, OnNext)]

    @property
    def errors(self) -> list[Exception]:
        """The errors received (a compliant source sends at most one)."""
        return [m.value.exception for m in self.messages if isinstance(m.value, OnError)]

    @property
    def completed(self) -> bool:
        """Whether ``on_completed`` was received."""
        return any(isinstance(m.value, OnCompleted) for m in self.messages)

    def assert_no_violations(self) -> None:
        """Raise :class:`RuleViolation` listing every rule the source broke."""
        __tracebackhide__ = True
        if self.violations:
            raise RuleViolation("; ".join(self.violations))

    def await_terminal(self, timeout: float = 10.0) -> bool:
        """Block until on_error or on_completed arrives (for tests that use threads)."""
        return self.terminated.wait(timeout)

    # -- demand ---------------------------------------------------------------------------

    def request(self, n: int) -> None:
        """Request ``n`` more items (counted, then passed to the subscription)."""
        with self._lock:
            if not isinstance(n, bool) and isinstance(n, int) and n > 0:
                self.requested = add_demand(self.requested, n)
        subscription = self.subscription
        if subscription is None:
            raise RuleViolation("request() before on_subscribe gave a subscription")
        subscription.request(n)

    def cancel(self) -> None:
        """Cancel the subscription."""
        self._cancelled = True
        subscription = self.subscription
        if subscription is not None:
            subscription.cancel()

    # -- the Subscriber protocol ----------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        __tracebackhide__ = True
        with self._lock:
            self.subscribed += 1
            if self.subscribed > 1:
                self._violation("rule 2.5: on_subscribe called more than once")
            if self.messages:
                self._violation("rule 1.9: on_subscribe after another signal")
            self.subscription = subscription
        if self.initial_request > 0:
            self.request(self.initial_request)

    def on_next(self, value: _T) -> None:
        __tracebackhide__ = True
        self._enter("on_next")
        try:
            with self._lock:
                self._check_open("on_next")
                self.received += 1
                if self.received > self.requested:
                    self._violation(
                        f"rule 1.1: item {self.received} delivered with only "
                        f"{self.requested} requested (value {value!r})"
                    )
                self.messages.append(Recorded(self._now(), OnNext(value)))
            # Requested while still inside on_next: a source that answers by calling
            # on_next again, instead of returning first, is caught as recursion (rule 3.3).
            if self.replenish > 0 and not self._cancelled:
                self.request(self.replenish)
        finally:
            self._leave()

    def on_error(self, error: Exception) -> None:
        __tracebackhide__ = True
        self._enter("on_error")
        try:
            with self._lock:
                self._check_open("on_error")
                self.messages.append(Recorded(self._now(), OnError(error)))
        finally:
            self._leave()
            self.terminated.set()

    def on_completed(self) -> None:
        __tracebackhide__ = True
        self._enter("on_completed")
        try:
            with self._lock:
                self._check_open("on_completed")
                self.messages.append(Recorded(self._now(), OnCompleted()))
        finally:
            self._leave()
            self.terminated.set()

    # -- checks ---------------------------------------------------------------------------

    def _now(self) -> Any:
        return tick(self.scheduler.clock) if self.scheduler is not None else 0

    def _violation(self, message: str) -> None:
        __tracebackhide__ = True
        self.violations.append(message)
        raise RuleViolation(message)

    def _check_open(self, signal: str) -> None:
        __tracebackhide__ = True
        if self.subscribed == 0:
            self._violation(f"rule 1.9: {signal} before on_subscribe")
        if any(not isinstance(m.value, OnNext) for m in self.messages[-1:]):
            self._violation(f"rule 1.7: {signal} after a terminal signal")

    def _enter(self, signal: str) -> None:
        __tracebackhide__ = True
        me = threading.get_ident()
        with self._lock:
            busy = self._busy
            if busy is None:
                self._busy = me
                return
        if busy == me:
            self._violation(f"rule 3.3: {signal} re-entered from inside another signal")
        self._violation(f"rule 1.3: {signal} overlapped a signal on another thread")

    def _leave(self) -> None:
        with self._lock:
            if self._busy == threading.get_ident():
                self._busy = None
