"""A deliberately non-compliant Flowable: each kind breaks exactly one demand rule.

It exists to show that every check of ``verify_flowable`` really fails when its rule is
broken. Without a kind it is a small, correct source of ``count`` items.
"""

from __future__ import annotations

from typing import Any

from reactivex import abc

from rx_backpressure import UNBOUNDED, Flowable, Subscriber, Subscription

_KEPT: list[object] = []


class _BrokenSubscription(Subscription):
    def __init__(self, subscriber: Subscriber[int], count: int, kind: str) -> None:
        self.subscriber: Subscriber[int] | None = subscriber
        self.count = count
        self.kind = kind
        self.sent = 0
        self.demand = 0
        self.cancelled = False
        self.completed = False
        self.emitting = False

    def request(self, n: Any) -> None:
        if self.kind == "raise_on_request" and isinstance(n, int) and n <= 0:
            raise ValueError(f"bad request {n}")
        valid = isinstance(n, int) and not isinstance(n, bool) and n > 0
        if not valid:
            if self.kind == "accept_zero" and isinstance(n, int) and not isinstance(n, bool):
                return
            if self.kind == "no_type_check" and not isinstance(n, int):
                n = int(n)
            elif self.subscriber is not None and not self.cancelled:
                error_type = (
                    ValueError if isinstance(n, int) and not isinstance(n, bool) else TypeError
                )
                self.cancelled = True
                self.subscriber.on_error(error_type(f"request(n) got n={n!r}"))
                return
        if self.cancelled and self.kind != "ignore_cancel":
            return
        if self.kind == "overflow_error" and self.demand + n > UNBOUNDED:
            assert self.subscriber is not None
            self.subscriber.on_error(OverflowError("demand above 2**63-1"))
            return
        self.demand = min(UNBOUNDED, self.demand + n)
        if self.kind == "recurse":
            self.emit()
        elif not self.emitting:
            self.emitting = True
            try:
                self.emit()
            finally:
                self.emitting = False

    def emit(self) -> None:
        subscriber = self.subscriber
        while subscriber is not None and self.demand > 0 and self.sent < self.count:
            if self.cancelled and self.kind != "ignore_cancel":
                return
            if self.kind == "under_deliver" and self.sent % 2:
                self.sent += 1  # skips an item, still counting it as sent
                continue
            self.sent += 1
            self.demand -= 1
            subscriber.on_next(self.sent)
            if self.kind == "over_deliver" and self.sent == 1:
                subscriber.on_next(-1)
        if subscriber is None or self.sent < self.count:
            return
        if self.completed:
            if self.kind == "after_complete":
                subscriber.on_next(-2)
            return
        if self.kind != "never_complete" and not (self.cancelled and self.kind != "ignore_cancel"):
            self.completed = True
            subscriber.on_completed()

    def cancel(self) -> None:
        if self.kind == "ignore_cancel":
            return
        self.cancelled = True
        if self.kind == "keep_reference":
            _KEPT.append(self.subscriber)
        self.subscriber = None


def broken_flowable(count: int, kind: str = "") -> Flowable[int]:
    """A source of ``count`` items that breaks the rule named by ``kind``."""

    def subscribe(subscriber: Subscriber[int], _: abc.SchedulerBase | None) -> Subscription:
        subscription = _BrokenSubscription(subscriber, count, kind)
        if kind == "signal_before_subscribe":
            subscriber.on_next(0)
        subscriber.on_subscribe(subscription)
        if kind == "double_subscribe":
            subscriber.on_subscribe(subscription)
        return subscription

    return Flowable(subscribe)
