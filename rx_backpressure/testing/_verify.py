"""verify_flowable: the demand rule suite, after the Reactive Streams TCK, on virtual time."""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from reactivex import Observable, abc
from reactivex.testing import TestScheduler

from ..core import UNBOUNDED, Subscription, check_callable, check_instance, check_int, check_number
from ._subscriber import RuleViolation, TestSubscriber

Factory = Callable[[int], Observable[Any]]


class _Problem(NamedTuple):
    """One thing a check saw: the rule it breaks (``"1.1"``) and what happened."""

    rule: str
    detail: str


_RULE = re.compile(r"rule (\d+\.\d+): (.*)", re.DOTALL)

# A call that raised breaks "must return normally": subscribe (1.9), request (3.16),
# cancel (3.15).
_RETURNS_NORMALLY = {"subscribe": "1.9", "request": "3.16", "cancel": "3.15"}


def _seen(message: str) -> _Problem:
    """A TestSubscriber violation, ``"rule 1.1: ..."``, as a problem."""
    found = _RULE.fullmatch(message)
    assert found is not None, f"a violation names its rule: {message!r}"
    return _Problem(found[1], found[2])


class _NoSubscription(Exception):
    """The source never called ``on_subscribe``: the check cannot go on, and whatever it
    would count next is only a consequence of that."""

    def __init__(self, problems: list[_Problem]) -> None:
        super().__init__("no on_subscribe")
        self.problems = problems


class _Run:
    """One subscription on a fresh TestScheduler, advanced until quiet after each step."""

    def __init__(self, factory: Factory, elements: int, settle: float, **kwargs: Any) -> None:
        self.scheduler = scheduler = TestScheduler()
        self.settle_time = settle
        self.subscriber: TestSubscriber[Any] = TestSubscriber(scheduler=self.scheduler, **kwargs)
        self.raised: list[_Problem] = []
        flowable = factory(elements)
        self.call("subscribe", lambda: flowable.subscribe(self.subscriber, scheduler=scheduler))
        self.settle()
        if self.subscriber.subscription is None:
            raise _NoSubscription(self.problems())

    def settle(self) -> None:
        self.scheduler.advance_by(self.settle_time)

    def call(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except RuleViolation:
            pass  # already in the subscriber's violations
        except Exception as err:
            rule = _RETURNS_NORMALLY[what.split("(")[0]]
            self.raised.append(_Problem(rule, f"{what} raised {type(err).__name__}: {err}"))

    def request(self, n: Any) -> None:
        subscription = self.subscriber.subscription
        assert subscription is not None  # else the run stopped at _NoSubscription
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

    def problems(self) -> list[_Problem]:
        found = [_seen(violation) for violation in self.subscriber.violations] + self.raised
        if self.subscriber.subscribed == 0:  # a second one the subscriber reports itself
            found.append(_Problem("1.9", "on_subscribe was not called"))
        return found


def _spec101(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """Each request yields exactly the items requested while the source has them."""
    run = _Run(factory, elements, settle, initial_request=0)
    found = run.problems()
    if run.count:
        found.append(_Problem("1.1", f"{run.count} items arrived before any request"))
    total, step = 0, 1
    while total < elements and not found:
        run.request(step)
        total += step
        if run.count != min(total, elements):
            rule = "1.1" if run.count > total else "3.8"
            found.append(_Problem(rule, f"requested {total} in all, received {run.count}"))
        step += 1
        found += run.problems()
    return found


def _spec102(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """Asked for more than it has, the source delivers what it has, then completes."""
    run = _Run(factory, elements, settle, initial_request=0)
    run.request(elements + 5)
    found = run.problems()
    if run.count != elements or not run.subscriber.completed:
        found.append(
            _Problem(
                "1.2",
                f"requested {elements + 5} of {elements}: received {run.count}, "
                f"completed={run.subscriber.completed}",
            )
        )
    return found


def _spec105(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """A finite stream with unbounded demand delivers everything and completes."""
    run = _Run(factory, elements, settle)
    found = run.problems()
    if run.count != elements or not run.subscriber.completed:
        found.append(
            _Problem(
                "1.5",
                f"unbounded demand: received {run.count} of {elements}, "
                f"completed={run.subscriber.completed}",
            )
        )
    return found


def _spec107(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """Nothing is signalled after on_completed, whatever the subscriber does next."""
    run = _Run(factory, elements, settle)
    before = len(run.subscriber.messages)
    run.request(1)
    run.cancel()
    found = run.problems()
    if len(run.subscriber.messages) != before:
        found.append(_Problem("1.7", "signals arrived after the terminal signal"))
    return found


def _spec109(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """on_subscribe comes first, exactly once, even with no demand."""
    run = _Run(factory, elements, settle, initial_request=0)
    return run.problems()


def _spec302(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """request() from inside on_subscribe and on_next drives the whole stream."""
    run = _Run(factory, elements, settle, initial_request=1, replenish=1)
    found = run.problems()
    if run.count != elements or not run.subscriber.completed:
        found.append(
            _Problem(
                "3.2",
                f"request(1) per on_next gave {run.count} of {elements} items, "
                f"completed={run.subscriber.completed}",
            )
        )
    return found


def _spec303(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """request() inside on_next does not recurse into on_next (depth stays 1)."""
    run = _Run(factory, max(elements, 3), settle, initial_request=1, replenish=1)
    return [p for p in run.problems() if p.rule == "3.3" or p in run.raised]


def _spec306(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """request() after cancel() does nothing, and cancel() twice is harmless."""
    run = _Run(factory, elements, settle, initial_request=0)
    run.request(1)
    run.cancel()
    run.cancel()
    run.request(elements)
    found = run.problems()
    if run.count != min(1, elements) or run.subscriber.errors:
        found.append(
            _Problem(
                "3.6",
                f"request(1), cancel() and request({elements}) gave {run.count} items "
                f"(expected {min(1, elements)}) and errors {run.subscriber.errors}",
            )
        )
    return found


def _spec309(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """request(n <= 0) signals ValueError naming n; a non-int, TypeError; the source stops."""
    found: list[_Problem] = []
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
            found.append(
                _Problem("3.9", f"request({n!r}) should signal {expected.__name__}, got {errors!r}")
            )
        elif str(n) not in str(errors[0]):
            found.append(
                _Problem("3.9", f"request({n!r}): the error message does not name n: {errors[0]}")
            )
        if run.count:
            found.append(
                _Problem(
                    "3.9", f"request({n!r}): the source went on and delivered {run.count} items"
                )
            )
    return found


def _spec312(factory: Factory, elements: int, settle: float) -> list[_Problem]:
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
            _Problem(
                "1.8",
                f"after cancel in the first on_next, {run.count} items and "
                f"{len(subscriber.messages) - run.count} terminal signals arrived",
            )
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


def _spec313(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """cancel() drops the source's reference to the subscriber."""
    scheduler = TestScheduler()
    bare = _Bare()
    factory(elements + 1).subscribe(bare, scheduler=scheduler)
    scheduler.advance_by(settle)
    subscription = bare.subscription
    if subscription is None:
        return [_Problem("1.9", "on_subscribe was not called")]
    subscription.cancel()
    scheduler.advance_by(settle)
    bare.subscription = None
    ref = weakref.ref(bare)
    del bare
    gc.collect()
    if ref() is not None:
        return [_Problem("3.13", "the subscriber is still referenced after cancel()")]
    return []


def _spec317(factory: Factory, elements: int, settle: float) -> list[_Problem]:
    """Demand up to 2**63-1 is supported, adds up, and saturates with no error."""
    run = _Run(factory, elements, settle, initial_request=0)
    run.request(UNBOUNDED - 1)
    run.request(1)
    run.request(UNBOUNDED)
    found = run.problems()
    if run.subscriber.errors or run.count != elements or not run.subscriber.completed:
        found.append(
            _Problem(
                "3.17",
                f"demand at 2**63-1 gave {run.count} of {elements} items, "
                f"errors {run.subscriber.errors}, completed={run.subscriber.completed}",
            )
        )
    return found


CHECKS: dict[str, Callable[[Factory, int, float], list[_Problem]]] = {
    "spec101": _spec101,
    "spec102": _spec102,
    "spec105": _spec105,
    "spec107": _spec107,
    "spec109": _spec109,
    "spec302": _spec302,
    "spec303": _spec303,
    "spec306": _spec306,
    "spec309": _spec309,
    "spec312": _spec312,
    "spec313": _spec313,
    "spec317": _spec317,
}


def _report(found: dict[str, list[_Problem]]) -> str:
    """Each broken rule once, in rule order: the first thing seen and the checks that saw it.

    One fault shows up under several checks (an item beyond demand breaks every check that
    counts items); the rule is what to fix, so it is the unit of the report.
    """
    first: dict[str, str] = {}
    seen_by: dict[str, list[str]] = {}
    for check, problems in found.items():
        for rule, detail in problems:
            first.setdefault(rule, detail)
            if check not in seen_by.setdefault(rule, []):
                seen_by[rule].append(check)

    def order(rule: str) -> tuple[int, ...]:
        return tuple(int(part) for part in rule.split(".")) if rule[0].isdigit() else (99,)

    lines = [
        f"rule {rule}: {first[rule]} (seen by {', '.join(seen_by[rule])})"
        if rule[0].isdigit()
        else f"{rule}: {first[rule]}"  # a check that failed in itself
        for rule in sorted(first, key=order)
    ]
    return "demand rules broken:\n  " + "\n  ".join(lines)


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

    Raises ``AssertionError`` naming each broken rule once, with the first thing seen and
    the checks that saw it (pytest shows the caller's line, not the kit's); at once,
    ``TypeError`` or ``ValueError`` naming a bad parameter (``elements >= 2``, ``settle``
    finite and >= 0, ``skip`` a tuple of known ``specNNN`` names).
    """
    __tracebackhide__ = True  # a failure points at the test's call, not at the kit
    check_callable("factory", factory)
    check_int("elements", elements, minimum=2)
    check_number("settle", settle, minimum=0, what="a number of seconds")
    check_instance("skip", skip, tuple, "a tuple of check names")
    for name in skip:
        if name not in CHECKS:
            raise ValueError(f"skip must name checks among {', '.join(CHECKS)}, got {skip!r}")
    found: dict[str, list[_Problem]] = {}
    for name, check in CHECKS.items():
        if name in skip:
            continue
        try:
            problems = check(factory, elements, settle)
        except _NoSubscription as stopped:
            problems = stopped.problems
        except Exception as err:
            problems = [_Problem(name, f"the check failed: {type(err).__name__}: {err}")]
        if problems:
            found[name] = problems
    if found:
        raise AssertionError(_report(found)) from None
