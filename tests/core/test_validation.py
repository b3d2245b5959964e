"""Every parameter of every public function is checked at construction, naming itself.

A value of the wrong type is a ``TypeError`` (ints are ints: bool and float are refused;
numbers are never bool), a value out of range a ``ValueError`` (numbers that must be finite
refuse nan and inf); the message names the parameter and shows the value's repr.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from reactivex.scheduler import TimeoutScheduler
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.core import (
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_metrics,
    check_number,
    check_scheduler,
    check_seconds,
)
from rx_backpressure.testing import (
    Demand,
    MarbleContext,
    RecordingFlowable,
    TestSubscriber,
    TimedObservable,
    marbles,
    verify_flowable,
)

NAN = float("nan")
INF = float("inf")

Bad = list[tuple[object, type[Exception]]]


def count(minimum: int) -> Bad:
    """An int >= ``minimum``: anything else is refused."""
    wrong_type: Bad = [(v, TypeError) for v in (1.5, 2.0, True, False, INF, NAN, "oops", None)]
    too_small = sorted(v for v in {minimum - 1, 0, -1} if v < minimum)
    return wrong_type + [(v, ValueError) for v in too_small]


def number(*too_small: float, optional: bool = False) -> Bad:
    """A finite number (bool refused), not one of ``too_small``; None only if optional."""
    wrong_type: Bad = [(v, TypeError) for v in (True, False, "oops", "1", [1.0])]
    if not optional:
        wrong_type.append((None, TypeError))
    return wrong_type + [(v, ValueError) for v in (INF, -INF, NAN, *too_small)]


SECONDS = number(0, -1, -0.5)
OPTIONAL_SECONDS = number(0, -1, -0.5, optional=True)
NOT_CALLABLE: Bad = [(v, TypeError) for v in ("oops", 1.5, True, 0, [print])]
CALLABLE: Bad = [*NOT_CALLABLE, (None, TypeError)]
CHOICE: Bad = [("oops", ValueError), ("", ValueError), ("RETRY ", ValueError)] + [
    (v, TypeError) for v in (None, 1.5, True, 0, ["block"])
]
NOT_AN_INSTANCE: Bad = [(v, TypeError) for v in ("oops", 1.5, True, 0, object())]
OPTIONAL_SCHEDULER: Bad = [*NOT_AN_INSTANCE, (bp.Metrics(), TypeError)]
OPTIONAL_METRICS: Bad = [*NOT_AN_INSTANCE, (TestScheduler(), TypeError), (bp.Metrics, TypeError)]
OPTIONAL_BREAKER: Bad = [*NOT_AN_INSTANCE, (bp.CircuitBreaker, TypeError)]
OPTIONAL_VIRTUAL: Bad = [*NOT_AN_INSTANCE, (TimeoutScheduler.singleton(), TypeError)]
VIRTUAL: Bad = [*OPTIONAL_VIRTUAL, (None, TypeError)]
OBSERVABLE: Bad = [*NOT_AN_INSTANCE, (None, TypeError), ([1, 2], TypeError)]
FLOWABLE: Bad = [*OBSERVABLE, (TimedObservable(TestScheduler(), [], hot=False), TypeError)]
ITERABLE: Bad = [(v, TypeError) for v in (5, 1.5, True, None, object())]
LIST: Bad = [(v, TypeError) for v in ("oops", None, (1,), 1.5)]
BOOL: Bad = [(v, TypeError) for v in (1, 0, "oops", None)]
SKIP: Bad = [
    ("spec313", TypeError),
    (["spec313"], TypeError),
    (None, TypeError),
    (("spec999",), ValueError),
    (("spec313", "oops"), ValueError),
]


def action(item: Any) -> Any:
    return item


def enter_marbles(**options: Any) -> None:
    """``marbles`` checks its options on entering the block, so the block is entered."""
    with marbles(**options):
        pass  # the check under test runs on entry; the callers assert what it raises


def counting(n: int) -> bp.Flowable[int]:
    return bp.from_iterable(range(n))


# target -> (call, arguments that are all good, {parameter: bad values})
Target = tuple[Callable[..., object], dict[str, Any], dict[str, Bad]]

TARGETS: dict[str, Target] = {
    "bounded_buffer": (
        bp.bounded_buffer,
        {"capacity": 2},
        {
            "capacity": count(1),
            "overflow": CHOICE,
            "timeout": OPTIONAL_SECONDS,
            "scheduler": OPTIONAL_SCHEDULER,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "shed": (
        bp.shed,
        {"capacity": 2},
        {
            "capacity": count(1),
            "strategy": CHOICE,
            "on_drop": NOT_CALLABLE,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "token_bucket": (
        bp.token_bucket,
        {"capacity": 2, "refill_rate": 1.0},
        {
            "capacity": number(0, -1),
            "refill_rate": number(0, -1),
            "cost": NOT_CALLABLE,
            "mode": CHOICE,
            "max_pending": count(1),
            "on_drop": NOT_CALLABLE,
            "scheduler": OPTIONAL_SCHEDULER,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "rate_limit": (
        bp.rate_limit,
        {"per_second": 2.0},
        {
            "per_second": number(0, -1),
            "scheduler": OPTIONAL_SCHEDULER,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "adaptive_batch": (
        bp.adaptive_batch,
        {},
        {
            "initial_size": count(1),
            "min_size": count(1),
            "max_size": count(1),
            "target_time": SECONDS,
            "max_wait": OPTIONAL_SECONDS,
            "rule": CALLABLE,
            "scheduler": OPTIONAL_SCHEDULER,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "circuit_break": (
        bp.circuit_break,
        {"action": action},
        {
            "action": CALLABLE,
            "failure_threshold": count(1),
            "reset_timeout": SECONDS,
            "half_open_max_calls": count(1),
            "backoff": number(0.5, 0, -1),
            "max_reset_timeout": OPTIONAL_SECONDS,
            "on_failure": CHOICE,
            "max_pending": count(1),
            "prefetch": count(1),
            "on_skip": NOT_CALLABLE,
            "breaker": OPTIONAL_BREAKER,
            "call_timeout": OPTIONAL_SECONDS,
            "scheduler": OPTIONAL_SCHEDULER,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "CircuitBreaker": (
        bp.CircuitBreaker,
        {},
        {
            "failure_threshold": count(1),
            "reset_timeout": SECONDS,
            "half_open_max_calls": count(1),
            "backoff": number(0.5, 0, -1),
            "max_reset_timeout": OPTIONAL_SECONDS,
            "scheduler": OPTIONAL_SCHEDULER,
        },
    ),
    "to_iterable": (
        bp.to_iterable,
        {"flowable": bp.from_iterable([1])},
        {"flowable": OBSERVABLE, "prefetch": count(1)},
    ),
    "from_iterable": (bp.from_iterable, {"iterable": [1]}, {"iterable": ITERABLE}),
    "create": (
        bp.create,
        {"producer": action},
        {
            "producer": CALLABLE,
            "overflow": CHOICE,
            "capacity": count(1),
            "on_drop": NOT_CALLABLE,
            "metrics": OPTIONAL_METRICS,
        },
    ),
    "generate": (
        bp.generate,
        {"initial_state": 0, "step": action},
        {"initial_state": [], "step": CALLABLE},
    ),
    "marbles": (enter_marbles, {}, {"timespan": SECONDS}),
    "MarbleContext": (MarbleContext, {"timespan": 1.0}, {"timespan": SECONDS}),
    "verify_flowable": (
        verify_flowable,
        {"factory": counting},
        {
            "factory": CALLABLE,
            "elements": count(2),
            "settle": number(-1, -0.5),
            "skip": SKIP,
        },
    ),
    "TestSubscriber": (
        TestSubscriber,
        {},
        {"initial_request": count(0), "replenish": count(0), "scheduler": OPTIONAL_VIRTUAL},
    ),
    "RecordingFlowable": (
        RecordingFlowable,
        {"inner": bp.from_iterable([1]), "scheduler": TestScheduler()},
        {"inner": FLOWABLE, "scheduler": VIRTUAL},
    ),
    "TimedObservable": (
        TimedObservable,
        {"scheduler": TestScheduler(), "messages": [], "hot": True},
        {"scheduler": VIRTUAL, "messages": LIST, "hot": BOOL},
    ),
    "Demand": (Demand, {"events": []}, {"events": LIST}),
    "Flowable": (
        bp.Flowable,
        {"subscribe": lambda subscriber, scheduler: None},
        {"subscribe": CALLABLE},
    ),
    "PushSegment": (
        bp.PushSegment,
        {"source": bp.from_iterable([1]), "origin": "map"},
        {
            "source": [(v, TypeError) for v in ("oops", None, [1], 1.5)],
            "origin": [(v, TypeError) for v in (None, 1, b"map")],
        },
    ),
}

NAME: Bad = [(v, TypeError) for v in ("", 1, b"x", True, ["a"])]
"""A stage's name (see inspect): a non-empty str, or None for its call."""

for _call, _, _parameters in TARGETS.values():
    if _call is not enter_marbles and "name" in inspect.signature(_call).parameters:
        _parameters["name"] = NAME

BAD_CASES = [
    pytest.param(target, name, value, error, id=f"{target}-{name}-{value!r}")
    for target, (_, _, parameters) in TARGETS.items()
    for name, bad in parameters.items()
    for value, error in bad
]


@pytest.mark.parametrize(("target", "name", "value", "error"), BAD_CASES)
def test_a_bad_value_is_refused_at_construction_naming_the_parameter_and_the_value(
    target: str, name: str, value: object, error: type[Exception]
) -> None:
    call, good, _ = TARGETS[target]
    with pytest.raises(error) as raised:
        call(**{**good, name: value})
    assert raised.type is error  # not a subclass standing in for the other kind
    message = str(raised.value)
    assert name in message
    assert repr(value) in message


def test_every_parameter_of_every_target_is_in_the_table() -> None:
    for target, (call, _, parameters) in TARGETS.items():
        if call is enter_marbles:
            call = marbles
        names = set(inspect.signature(call).parameters)
        assert names == set(parameters), target


GOOD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("bounded_buffer", {"capacity": 1}),
    (
        "bounded_buffer",
        {
            "capacity": 2**40,
            "overflow": "error",
            "timeout": 0.25,
            "scheduler": TestScheduler(),
            "metrics": bp.Metrics(),
        },
    ),
    ("bounded_buffer", {"capacity": 3, "timeout": 2}),
    ("shed", {"capacity": 1, "strategy": "head", "on_drop": print, "metrics": None}),
    ("token_bucket", {"capacity": 1, "refill_rate": 3}),
    ("token_bucket", {"capacity": 2.5, "refill_rate": 0.5, "mode": "drop", "on_drop": print}),
    ("token_bucket", {"capacity": 2, "refill_rate": 1e-3, "cost": len, "max_pending": 1}),
    ("rate_limit", {"per_second": 1, "scheduler": TimeoutScheduler.singleton()}),
    ("adaptive_batch", {"initial_size": 1, "min_size": 1, "max_size": 1, "max_wait": 0.5}),
    ("adaptive_batch", {"target_time": 2, "rule": bp.default_size_rule}),
    ("circuit_break", {"action": action, "breaker": bp.CircuitBreaker(), "prefetch": 1}),
    ("circuit_break", {"action": action, "on_failure": "skip", "on_skip": print}),
    ("circuit_break", {"action": action, "reset_timeout": 1, "max_reset_timeout": 1}),
    ("CircuitBreaker", {"failure_threshold": 1, "backoff": 1, "max_reset_timeout": 60.0}),
    ("CircuitBreaker", {"reset_timeout": 0.001, "backoff": 2.5, "scheduler": TestScheduler()}),
    ("to_iterable", {"flowable": bp.from_iterable("ab"), "prefetch": 1}),
    ("to_iterable", {"flowable": TimedObservable(TestScheduler(), [], hot=True)}),
    ("from_iterable", {"iterable": "oops"}),  # a str is iterable
    ("from_iterable", {"iterable": iter(range(3))}),
    ("from_iterable", {"iterable": {"a": 1}}),
    ("create", {"producer": action, "overflow": "latest", "capacity": 1, "on_drop": print}),
    ("create", {"producer": action, "overflow": "error", "metrics": bp.Metrics()}),
    ("generate", {"initial_state": None, "step": action}),
    ("marbles", {"timespan": 0.5}),
    ("MarbleContext", {"timespan": 10}),
    ("verify_flowable", {"factory": counting, "elements": 2, "settle": 0, "skip": ("spec313",)}),
    ("TestSubscriber", {"initial_request": 0, "replenish": 1, "scheduler": TestScheduler()}),
    ("RecordingFlowable", {"inner": bp.from_iterable([]), "scheduler": TestScheduler()}),
    ("TimedObservable", {"scheduler": TestScheduler(), "messages": [], "hot": False}),
    ("Demand", {"events": [(200.0, 1), (300.0, None)]}),
]


@pytest.mark.parametrize(("target", "options"), GOOD_CASES)
def test_good_values_are_accepted(target: str, options: dict[str, Any]) -> None:
    call, _, _ = TARGETS[target]
    call(**options)


def test_breaker_settings_are_checked_before_they_are_refused_for_coming_with_a_breaker() -> None:
    with pytest.raises(TypeError, match=r"failure_threshold must be an int, got 1\.5"):
        bp.circuit_break(action, breaker=bp.CircuitBreaker(), failure_threshold=1.5)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="breaker= brings its own settings"):
        bp.circuit_break(action, breaker=bp.CircuitBreaker(), failure_threshold=2)


def test_the_open_period_cap_is_not_below_the_reset_timeout() -> None:
    with pytest.raises(ValueError, match=r"max_reset_timeout must be >= reset_timeout \(10\)"):
        bp.CircuitBreaker(reset_timeout=10, max_reset_timeout=9.5)
    with pytest.raises(ValueError, match=r"max_reset_timeout must be >= reset_timeout \(10\)"):
        bp.circuit_break(action, reset_timeout=10, max_reset_timeout=9.5)


# -- the helpers themselves --------------------------------------------------------------


def test_the_helpers_return_the_checked_value() -> None:
    assert check_int("n", 3) == 3
    assert check_int("n", 0, minimum=0) == 0
    assert check_number("x", 2) == 2.0
    assert check_number("x", 1, minimum=1) == 1.0
    assert check_seconds("t", 0.5) == 0.5
    assert check_seconds("t", None, allow_none=True) is None
    assert check_choice("mode", "drop", ("shape", "drop")) == "drop"
    check_callable("f", print)
    check_callable("f", None, allow_none=True)
    check_instance("x", [], list, "a list")
    check_scheduler(None)
    check_scheduler(TestScheduler())
    check_metrics(None)
    check_metrics(bp.Metrics())


@pytest.mark.parametrize(
    ("check", "error", "message"),
    [
        (lambda: check_int("capacity", 0), ValueError, "capacity must be >= 1, got 0"),
        (lambda: check_int("n", 1.5), TypeError, "n must be an int, got 1.5"),
        (lambda: check_int("n", 1, minimum=2), ValueError, "n must be >= 2, got 1"),
        (lambda: check_number("x", 10**400), ValueError, "x must be finite, got 1000"),
        (lambda: check_number("x", 0, above=0), ValueError, "x must be > 0, got 0"),
        (lambda: check_number("x", True), TypeError, "x must be a number, got True"),
        (lambda: check_seconds("t", "1"), TypeError, "t must be a number of seconds, got '1'"),
        (
            lambda: check_seconds("t", "1", allow_none=True),
            TypeError,
            "t must be None or a number of seconds, got '1'",
        ),
        (lambda: check_callable("f", 3), TypeError, "f must be callable, got 3"),
        (
            lambda: check_callable("f", 3, allow_none=True),
            TypeError,
            "f must be callable or None, got 3",
        ),
        (lambda: check_choice("m", "x", ("a",)), ValueError, "m must be 'a', got 'x'"),
        (lambda: check_choice("m", "x", ("a", "b")), ValueError, "m must be 'a' or 'b', got 'x'"),
        (
            lambda: check_choice("m", 1, ("a", "b", "c")),
            TypeError,
            "m must be 'a', 'b' or 'c', got 1",
        ),
        (
            lambda: check_scheduler("oops"),
            TypeError,
            "scheduler must be None or a reactivex.abc.SchedulerBase, got 'oops'",
        ),
        (
            lambda: check_metrics("oops"),
            TypeError,
            "metrics must be None or an rx_backpressure.Metrics, got 'oops'",
        ),
    ],
)
def test_the_messages_have_one_form(
    check: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        check()
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("bad", [v for v, _ in NOT_CALLABLE])
def test_pipe_refuses_an_operator_that_is_not_callable_naming_its_place(bad: object) -> None:
    with pytest.raises(TypeError) as raised:
        bp.pipe(abs, bad)  # type: ignore[arg-type]
    assert "operators[1]" in str(raised.value)
    assert repr(bad) in str(raised.value)
