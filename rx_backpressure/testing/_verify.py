"""verify_flowable: the demand rule suite, after the Reactive Streams TCK, on virtual time."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.testing import TestScheduler

from ..core import UNBOUNDED, Subscription, check_callable, check_instance, check_int, check_number
from ._subscriber import RuleViolation, TestSubscriber

Factory = Callable[[int], Observable[Any]]


class _Run:
    """One subscription on a fresh TestScheduler, advanced until quiet after each step."""

    def __init__(self, factory: Factory, elements: int, settle: float, **kwargs: Any) -> None:
        self.scheduler = scheduler = TestScheduler()
        self.settle_time = settle
        self.subscriber: TestSubscriber[Any] = TestSubscriber(scheduler=self.scheduler, **kwargs)
        self.raised: list[str] = []
        flowable = factory(elements)
        self.call("subscribe", lambda: flowable.subscribe(self.subscriber, scheduler=scheduler))
        self.settle()

    def settle(self) -> None:
        self.scheduler.advance_by(self.settle_time)

    def call(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except RuleViolation:
            pass  # already in the subscriber's violations
        except Exception as err:
            self.raised.append(f"{what} raised {type(err).__name__}: {err}")

    def request(self, n: Any) -> None:
        subscription = self.subscriber.subscription
        assert subscription is not None
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            self.call(f"request({n})", lambda: self.subscriber.request(n))
        else:
            self.call(f"request({n!r})", lambda: subscription.request(n))
        self.settle()

    def cancel(self) -> None:
        self.call("cancel()", self.subscriber.cancel)
        self.settle()

    @property
    def count(self) -> int:
        return len(self.subscriber.values)

    def problems(self) -> list[str]:
        found = list(self.subscriber.violations) + self.raised
        if self.subscriber.subscribed != 1:
            found.append(f"rule 1.9: on_subscribe was called {self.subscriber.subscribed} times")
        return found


def _spec101(factory: Factory, elements: int, settle: float) -> list[str]:
    """Each request yields exactly the items requested while the source has them."""
    run = _Run(factory, elements, settle, initial_request=0)
    found = run.problems()
    if run.count:
        found.append(f"rule 1.1: {run.count} items arrived before any request")
    total, step = 0, 1
    while total < elements and not found:
        run.request(step)
        total += step
        if run.count != min(total, elements):
            found.append(f"requested {total} in all, received {run.count}")
        step += 1
        found += run.problems()
    return found


def _spec102(factory: Factory, elements: int, settle: float) -> list[str]:
    """Asked for more than it has, the source delivers what it has, then completes."""
    run = _Run(factory, elements, settle, initial_request=0)
    run.request(elements + 5)
    found = run.problems()
    if run.count != elements or not run.subscriber.completed:
        found.append(
            f"requested {elements + 5} of {elements}: received {run.count}, "
            f"completed={run.subscriber.completed}"
        )
    return found


def _spec105(factory: Factory, elements: int, settle: float) -> list[str]:
    """A finite stream with unbounded demand delivers everything and completes."""
    run = _Run(factory, elements, settle)
    found = run.problems()
    if run.count != elements or not run.subscriber.completed:
        found.append(
            f"unbounded demand: received {run.count} of {elements}, "
            f"completed={run.subscriber.completed}"
        )
    return found


def _spec107(factory: Factory, elements: int, settle: float) -> list[str]:
    """Nothing is signalled after on_completed, whatever the subscriber does next."""
    run = _Run(factory, elements, settle)
    before = len(run.subscriber.messages)
    run.request(1)
    run.cancel()
    found = run.problems()
    if len(run.subscriber.messages) != before:
        found.append("rule 1.7: signals arrived after the terminal signal")
    return found


def _spec109(factory: Factory, elements: int, settle: float) -> list[str]:
    """on_subscribe comes first, exactly once, even with no demand."""
    run = _Run(factory, elements, settle, initial_request=0)
    return run.problems()


def _spec302(factory: Factory, elements: int, settle: float) -> list[str]:
    """request() from inside on_subscribe and on_next drives the whole stream."""
    run = _Run(factory, elements, settle, initial_request=1, replenish=1)
    found = run.problems()
    if run.count != elements or not run.subscriber.completed:
        found.append(
            f"rule 3.2: request(1) per on_next gave {run.count} of {elements} items, "
            f"completed={run.subscriber.completed}"
        )
    return found


def _spec303(factory: Factory, elements: int, settle: float) -> list[str]:
    """request() inside on_next does not recurse into on_next (depth stays 1)."""
    run = _Run(factory, max(elements, 3), settle, initial_request=1, replenish=1)
    return [p for p in run.problems() if "3.3" in p or "raised" in p]


def _spec306(factory: Factory, elements: int, settle: float) -> list[str]:
    """request() after cancel() does nothing, and cancel() twice is harmless."""
    run = _Run(factory, elements, settle, initial_request=0)
    run.request(1)
    run.cancel()
    run.cancel()
    run.request(elements)
    found = run.problems()
    if run.count != min(1, elements) or run.subscriber.errors:
        found.append(
            f"rule 3.6: after cancel, request({elements}) gave "
            f"{run.count - 1} more items and errors {run.subscriber.errors}"
        )
    return found


def _spec309(factory: Factory, elements: int, settle: float) -> list[str]:
    """request(n <= 0) signals ValueError naming n; a non-int, TypeError; the source stops."""
    found: list[str] = []
    cases: tuple[tuple[Any, type[Exception]], ...] = (
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
    )
    for n, expected in cases:
        run = _Run(factory, elements, settle, initial_request=0)
        run.request(n)
        run.request(elements)
        found += run.problems()
        errors = run.subscriber.errors
        if len(errors) != 1 or not isinstance(errors[0], expected):
            found.append(f"request({n!r}) should signal {expected.__name__}, got {errors!r}")
        elif str(n) not in str(errors[0]):
            found.append(f"request({n!r}): the error message does not name n: {errors[0]}")
        if run.count:
            found.append(f"request({n!r}): the source went on and delivered {run.count} items")
    return found


def _spec312(factory: Factory, elements: int, settle: float) -> list[str]:
    """cancel() inside on_next stops the source at once, on the same thread."""
    run = _Run(factory, max(elements, 2), settle, initial_request=0)
    subscriber = run.subscriber
    original = subscriber.on_next

    def cancel_after_first(value: Any) -> None:
        original(value)
        subscriber.cancel()

    subscriber.on_next = cancel_after_first  # type: ignore[method-assign]
    run.request(max(elements, 2))
    found = run.problems()
    if run.count != 1 or subscriber.completed or subscriber.errors:
        found.append(
            f"rule 1.8: after cancel in the first on_next, {run.count} items and "
            f"{len(subscriber.messages) - run.count} terminal signals arrived"
        )
    return found


class _Bare(abc.ObserverBase[Any]):
    """A subscriber with nothing else holding it, for the reference check."""

    def __init__(self) -> None:
        self.subscription: Subscription | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        subscription.request(1)

    def on_next(self, value: Any) -> None:
        pass

    def on_error(self, error: Exception) -> None:
        pass

    def on_completed(self) -> None:
        pass


def _spec313(factory: Factory, elements: int, settle: float) -> list[str]:
    """cancel() drops the source's reference to the subscriber."""
    scheduler = TestScheduler()
    bare = _Bare()
    factory(elements + 1).subscribe(bare, scheduler=scheduler)
    scheduler.advance_by(settle)
    subscription = bare.subscription
    if subscription is None:
        return ["rule 1.9: on_subscribe was not called"]
    subscription.cancel()
    scheduler.advance_by(settle)
    bare.subscription = None
    ref = weakref.ref(bare)
    del bare
    gc.collect()
    if ref() is not None:
        return ["rule 3.13: the subscriber is still referenced after cancel()"]
    return []


def _spec317(factory: Factory, elements: int, settle: float) -> list[str]:
    """Demand up to 2**63-1 is supported, adds up, and saturates with no error."""
    run = _Run(factory, elements, settle, initial_request=0)
    run.request(UNBOUNDED - 1)
    run.request(1)
    run.request(UNBOUNDED)
    found = run.problems()
    if run.subscriber.errors or run.count != elements or not run.subscriber.completed:
        found.append(
            f"rule 3.17: demand at 2**63-1 gave {run.count} of {elements} items, "
            f"errors {run.subscriber.errors}, completed={run.subscriber.completed}"
        )
    return found


RULES: dict[str, Callable[[Factory, int, float], list[str]]] = {
    "spec101 (rules 1.1, 3.8)": _spec101,
    "spec102 (rule 1.2)": _spec102,
    "spec105 (rule 1.5)": _spec105,
    "spec107 (rules 1.6, 1.7)": _spec107,
    "spec109 (rule 1.9)": _spec109,
    "spec302 (rule 3.2)": _spec302,
    "spec303 (rule 3.3)": _spec303,
    "spec306 (rules 3.5, 3.6, 3.7)": _spec306,
    "spec309 (rule 3.9)": _spec309,
    "spec312 (rule 1.8)": _spec312,
    "spec313 (rule 3.13)": _spec313,
    "spec317 (rule 3.17)": _spec317,
}


def verify_flowable(
    factory: Factory,
    *,
    elements: int = 8,
    settle: float = 10_000.0,
    skip: tuple[str, ...] = (),
) -> None:
    """Run the demand rule suite against ``factory`` and raise on any broken rule.

    ``factory(n)`` must return a fresh Flowable that emits exactly ``n`` items (for an
    operator, ``n`` of its outputs: batches for a batching one) and then completes. Each
    check subscribes with a new ``TestScheduler`` as the subscription's scheduler and
    advances it by ``settle`` virtual seconds after every step, so timed operators run
    too. ``skip`` names checks (their ``specNNN`` prefix) that do not apply.

    Raises ``AssertionError`` listing every failed rule with what was seen; at once,
    ``TypeError`` or ``ValueError`` naming a bad parameter (``elements >= 2``, ``settle``
    finite and >= 0, ``skip`` a tuple of known ``specNNN`` names).
    """
    check_callable("factory", factory)
    check_int("elements", elements, minimum=2)
    check_number("settle", settle, minimum=0, what="a number of seconds")
    check_instance("skip", skip, tuple, "a tuple of check names")
    known = tuple(name.split()[0] for name in RULES)
    for name in skip:
        if name not in known:
            raise ValueError(f"skip must name checks among {', '.join(known)}, got {skip!r}")
    failures: list[str] = []
    for name, check in RULES.items():
        if name.split()[0] in skip:
            continue
        try:
            problems = check(factory, elements, settle)
        except Exception as err:
            problems = [f"the check itself failed: {type(err).__name__}: {err}"]
        failures.extend(f"{name}: {problem}" for problem in dict.fromkeys(problems))
    if failures:
        raise AssertionError("demand rules broken:\n  " + "\n  ".join(failures))
