"""circuit_break: calls one at a time on demand, none while open, no upstream demand while
open, every item accounted for in each on_failure mode."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import ReactiveTest
from reactivex.testing.recorded import Recorded

import rx_backpressure as bp
from rx_backpressure import CircuitBreaker, CircuitState, circuit_break
from rx_backpressure.core import CircuitOpenError
from rx_backpressure.operators._circuit_break import PREFETCH
from rx_backpressure.testing import (
    DemandEvent,
    MarbleContext,
    TestSubscriber,
    marbles,
    verify_flowable,
)


class Flaky:
    """An action that records its calls as (time, item) and fails when ``fails`` says so."""

    def __init__(self, m: MarbleContext, fails: Callable[[int, float, Any], bool]) -> None:
        self.m = m
        self.fails = fails
        self.calls: list[tuple[float, Any]] = []

    def __call__(self, item: Any) -> Any:
        now = self.m.time(self.m.scheduler.clock, origin=0)  # the clock, to the microsecond
        self.calls.append((now, item))
        if self.fails(len(self.calls), now, item):
            raise RuntimeError(f"call {len(self.calls)} on {item!r} failed")
        return item.upper() if isinstance(item, str) else item


LETTERS = list("abcdefghijkl")
UPPER = [letter.upper() for letter in LETTERS]


def first_calls_fail(m: MarbleContext, count: int) -> Flaky:
    return Flaky(m, lambda call, _, __: call <= count)


def transitions(m: MarbleContext, breaker: CircuitBreaker) -> list[tuple[float, CircuitState]]:
    log: list[tuple[float, CircuitState]] = []
    breaker.states.subscribe(
        lambda stamp: log.append((m.time(m.scheduler.to_seconds(stamp[0]), origin=0), stamp[1]))
    )
    return log


def at(time: int, *values: Any, completed: bool = False) -> list[Recorded[Any]]:
    """The records of ``values`` all at ``time``, then completion if ``completed``."""
    records = [ReactiveTest.on_next(time, value) for value in values]
    return records + ([ReactiveTest.on_completed(time)] if completed else [])


def requests(*pairs: tuple[float, int | None]) -> list[DemandEvent]:
    return [DemandEvent(time, n) for time, n in pairs]


# -- the example, pinned ------------------------------------------------------------


def test_retry_example_calls_at_0_0_0_10_20_30_and_emits_everything_at_30() -> None:
    with marbles() as m:
        source = m.pull(LETTERS)
        action = first_calls_fail(m, 5)
        results = m.start(source.pipe(circuit_break(action, failure_threshold=3, reset_timeout=10)))
        assert action.calls == [
            (200, "a"),
            (200, "a"),
            (200, "a"),
            (210, "a"),
            (220, "a"),
            (230, "a"),
            *[(230, item) for item in LETTERS[1:]],
        ]
        assert results == at(230, *UPPER, completed=True)
        # All twelve read at 0 (the read-ahead covers them), while the breaker was closed.
        assert m.requests_of(source) == requests((200, PREFETCH))
        assert PREFETCH == 128


def test_the_docstring_example_with_a_reset_timeout_of_3() -> None:
    with marbles() as m:
        source = m.pull(LETTERS)
        action = first_calls_fail(m, 5)
        operator = circuit_break(action, failure_threshold=3, reset_timeout=3, prefetch=8)
        results = m.start(source.pipe(operator))
        assert [time for time, _ in action.calls] == [200, 200, 200, 203, 206] + [209] * 12
        assert results == at(209, *UPPER, completed=True)
        assert m.requests_of(source) == m.exp_requests("8--------8")


# -- transitions, calls and upstream demand in virtual time ----------------------------------


def test_a_failure_window_pins_transitions_calls_requests_and_backoff_with_its_cap() -> None:
    with marbles() as m:
        breaker = CircuitBreaker(
            failure_threshold=2,
            reset_timeout=4,
            backoff=2,
            max_reset_timeout=10,
            scheduler=m.scheduler,
        )
        log = transitions(m, breaker)
        source = m.pull(range(30))
        action = Flaky(m, lambda _, now, __: 203 <= now < 230)
        operator = circuit_break(action, breaker=breaker, prefetch=8)
        results = m.start(source.pipe(operator), demand="1-" * 25)
        # Open for 4, then 8, then 10 (16 capped), then 10 again; closed at 236.
        assert log == [
            (0, "closed"),  # when transitions() subscribed
            (204, "open"),
            (208, "half_open"),
            (208, "open"),
            (216, "half_open"),
            (216, "open"),
            (226, "half_open"),
            (226, "open"),
            (236, "half_open"),
            (236, "closed"),
        ]
        assert action.calls == [
            (200, 0),
            (202, 1),
            (204, 2),
            (204, 2),
            (208, 2),
            (216, 2),
            (226, 2),
            *[(236, item) for item in range(2, 19)],
            *[(time, item) for item, time in zip(range(19, 25), range(238, 250, 2), strict=True)],
        ]
        # 19 requests arrived by 236, two were served before the breaker opened.
        later = [ReactiveTest.on_next(238 + 2 * i, item) for i, item in enumerate(range(19, 25))]
        assert results == at(200, 0) + at(202, 1) + at(236, *range(2, 19)) + later
        # Nothing asked for while open: 8 ahead at 0, then from 36 on, 6 at a time once the
        # queue is at a quarter, or all that was taken once it is empty.
        assert m.requests_of(source) == requests((200, 8), (236, 8), (236, 8), (242, 6))


def test_the_default_read_ahead_is_128_asked_again_once_96_are_gone() -> None:
    with marbles() as m:
        source = m.pull(range(300))
        results = m.start(source.pipe(circuit_break(lambda x: x)), demand="50-50-50-*")
        # 128 read at 0 for 50 calls; at 3, 100 are gone: 100 more (128 held again); at 6,
        # 50 gone; at 9 the demand takes all 128 held: 128 more, of which 72 are left.
        assert m.requests_of(source) == requests((200, 128), (203, 100), (209, 128))
        assert m.subscriber is not None
        assert m.subscriber.values == list(range(300))
        assert results[-1] == ReactiveTest.on_completed(209)


def test_calls_wait_for_downstream_demand() -> None:
    with marbles() as m:
        source = m.pull(LETTERS)
        action = Flaky(m, lambda *_: False)
        results = m.start(source.pipe(circuit_break(action, prefetch=8)), demand="--1---2---*")
        assert action.calls == [(202, "a"), (206, "b"), (206, "c")] + [
            (210, item) for item in LETTERS[3:]
        ]
        assert results == m.exp("--A") + at(206, "B", "C") + at(210, *UPPER[3:], completed=True)
        # Read ahead with no demand yet; asked for again once the queue ran dry.
        assert m.requests_of(source) == requests((200, 8), (210, 8))


def test_a_plain_upstream_waits_while_open_and_nothing_is_lost() -> None:
    with marbles() as m:
        source = m.hot("a-b-c-d-e-|")
        action = first_calls_fail(m, 1)
        results = m.start(source.pipe(circuit_break(action, failure_threshold=1, reset_timeout=5)))
        calls = [(200, "a"), (205, "a"), (205, "b"), (205, "c"), (206, "d"), (208, "e")]
        assert action.calls == calls
        assert results == at(205, "A", "B", "C") + m.exp("------D-E-|")


def test_a_plain_upstream_beyond_max_pending_fails_with_buffer_overflow() -> None:
    with marbles() as m:
        source = m.hot("a-b-c-d-|")
        action = first_calls_fail(m, 1)
        results = m.start(
            source.pipe(circuit_break(action, failure_threshold=1, reset_timeout=50, max_pending=3))
        )
        # a (in its call), b and c are held; d is one too many. Held items go first.
        assert results[:3] == at(250, "A", "B", "C")
        assert results[3:] == [ReactiveTest.on_error(250, "no room for an item: 3 already held")]
        assert m.subscriptions_of(source) == m.exp_subscriptions("^-----!")


def test_an_upstream_error_waits_behind_the_items_held_while_open() -> None:
    with marbles() as m:
        action = first_calls_fail(m, 1)
        operator = circuit_break(action, failure_threshold=1, reset_timeout=5)
        results = m.start(m.hot("a-b-#").pipe(operator))
        assert results == [*at(205, "A", "B"), ReactiveTest.on_error(205, "error")]


def test_half_open_needs_enough_consecutive_trial_successes_one_call_at_a_time() -> None:
    with marbles() as m:
        breaker = CircuitBreaker(
            failure_threshold=1, reset_timeout=4, half_open_max_calls=2, scheduler=m.scheduler
        )
        log = transitions(m, breaker)
        source = m.pull(LETTERS)
        # The second trial (call 3) fails: open again; two trials pass at 8: closed.
        action = Flaky(m, lambda call, _, __: call in (1, 3))
        results = m.start(source.pipe(circuit_break(action, breaker=breaker)), demand="3")
        assert log == [
            (0, "closed"),
            (200, "open"),
            (204, "half_open"),
            (204, "open"),
            (208, "half_open"),
            (208, "closed"),
        ]
        assert action.calls == [(200, "a"), (204, "a"), (204, "b"), (208, "b"), (208, "c")]
        assert results == at(204, "A") + at(208, "B", "C")


# -- on_failure modes, with demand ------------------------------------------------------------


def test_skip_hands_failed_items_to_on_skip_counts_them_and_goes_on() -> None:
    with marbles() as m:
        metrics = bp.Metrics()
        skipped: list[tuple[str, str]] = []
        source = m.pull(LETTERS)
        action = Flaky(m, lambda _, __, item: item == "f")
        operator = circuit_break(
            action,
            failure_threshold=1,
            reset_timeout=5,
            on_failure="skip",
            on_skip=lambda item, error: skipped.append((item, str(error))),
            prefetch=8,
            metrics=metrics,
        )
        results = m.start(source.pipe(operator), demand="5--*")
        assert results == at(200, *UPPER[:5]) + at(208, *UPPER[6:], completed=True)
        assert skipped == [("f", "call 6 on 'f' failed")]
        assert action.calls == [(200, item) for item in LETTERS[:5]] + [(203, "f")] + [
            (208, item) for item in LETTERS[6:]
        ]
        # Skipping f made six slots, but f also opened the breaker: they are asked for
        # again only when it half-opens at 8.
        assert m.requests_of(source) == requests((200, 8), (208, 6))
        assert metrics.snapshot() == {
            "calls": 12,
            "failures": 1,
            "dropped": 1,
            "emitted": 11,
            "received": 12,
            "requested": 14,
            "depth": 0,
            "peak_depth": 6,  # a..e went out as they came, f..h were held; later g..l
        }


def test_error_mode_retries_while_closed_then_fails_when_the_breaker_opens() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-|")
        action = Flaky(m, lambda call, _, __: call in (2, 4, 5))
        operator = circuit_break(action, failure_threshold=2, on_failure="error")
        results = m.start(source.pipe(operator), demand="1--1--1")
        calls = [(200, "a"), (203, "b"), (203, "b"), (206, "c"), (206, "c")]
        assert action.calls == calls
        error = CircuitOpenError("the circuit breaker is open (failure_threshold=2)")
        assert results == m.exp("A--B--#", error=error)
        assert m.subscriber is not None
        raised = m.subscriber.errors[0]
        assert isinstance(raised, CircuitOpenError)
        assert isinstance(raised, bp.BackpressureError)
        assert str(raised.__cause__) == "call 5 on 'c' failed"


def test_retry_mode_retries_the_failed_item_at_once_while_closed() -> None:
    with marbles() as m:
        source = m.pull("a-b-|")
        action = Flaky(m, lambda call, _, __: call in (2, 3))
        results = m.start(source.pipe(circuit_break(action, failure_threshold=3)), demand="1-1")
        assert action.calls == [(200, "a"), (202, "b"), (202, "b"), (202, "b")]
        assert results == m.exp("A-(B,|)")


# -- a push source: calls made as items arrive (the direct path) ------------------------------


def test_a_pushed_item_that_fails_on_arrival_is_skipped_and_the_demand_goes_to_the_next() -> None:
    with marbles() as m:
        skipped: list[str] = []
        action = Flaky(m, lambda _, __, item: item == "b")
        operator = circuit_break(
            action, on_failure="skip", on_skip=lambda item, _: skipped.append(item)
        )
        results = m.start(m.hot("a-b-c-d-|").pipe(operator), demand="2-------------1")
        # a and c take the two items of demand as they arrive, b is skipped in between, and
        # d waits for the next request, with the completion behind it.
        assert action.calls == [(200, "a"), (202, "b"), (204, "c"), (214, "d")]
        assert skipped == ["b"]
        assert results == m.exp("A---C---------(D,|)")


def test_a_pushed_item_whose_call_fails_is_called_again_at_once_while_closed() -> None:
    with marbles() as m:
        action = Flaky(m, lambda call, _, __: call in (2, 3))
        results = m.start(m.hot("a-b-c-|").pipe(circuit_break(action, failure_threshold=3)))
        assert action.calls == [(200, "a"), (202, "b"), (202, "b"), (202, "b"), (204, "c")]
        assert results == m.exp("A-B-C-|")


def test_a_pushed_item_whose_call_opens_the_breaker_in_error_mode_fails_the_stream() -> None:
    with marbles() as m:
        action = Flaky(m, lambda _, __, item: item == "b")
        operator = circuit_break(action, failure_threshold=1, on_failure="error")
        results = m.start(m.hot("a-b-c-|").pipe(operator))
        error = CircuitOpenError("the circuit breaker is open (failure_threshold=1)")
        assert results == m.exp("A-#", error=error)
        assert action.calls == [(200, "a"), (202, "b")]


def test_a_pushed_item_whose_result_is_an_observable_takes_its_demand_only_when_emitted() -> None:
    with marbles() as m:
        calls: list[float] = []

        def action(item: str) -> Observable[str]:
            calls.append(m.scheduler.clock)
            return reactivex.timer(3.0).pipe(ops.map(lambda _: item.upper()))

        results = m.start(m.hot("a-b-|").pipe(circuit_break(action)), demand="1-----1")
        # a's call starts on arrival and its result takes the first item of demand at 203;
        # b waits, held, for the second at 206, then for its own call.
        assert calls == [200, 206]
        assert results == m.exp("---A-----(B,|)")


def test_a_pushed_item_in_its_call_counts_against_max_pending() -> None:
    with marbles() as m:

        def action(item: str) -> Observable[str]:
            return reactivex.timer(3.0).pipe(ops.map(lambda _: item.upper()))

        source = m.hot("a-b-c-|")
        results = m.start(source.pipe(circuit_break(action, max_pending=1)))
        # a is held from its call at 200 until its result at 203: b finds no room.
        assert results == [
            *at(203, "A"),
            ReactiveTest.on_error(203, "no room for an item: 1 already held"),
        ]
        assert m.subscriptions_of(source) == m.exp_subscriptions("^-!")


# -- actions that return an Observable ---------------------------------------------------------


def test_an_observable_result_is_awaited_one_call_at_a_time() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-|")
        calls: list[float] = []

        def action(item: str) -> Observable[str]:
            calls.append(m.scheduler.clock)
            return reactivex.timer(3.0).pipe(ops.map(lambda _: item.upper()))

        results = m.start(source.pipe(circuit_break(action)))
        assert calls == [200, 203, 206]
        assert results == m.exp("---A--B--(C,|)")


def test_only_the_first_item_of_an_observable_result_counts() -> None:
    with marbles() as m:

        def action(item: str) -> Observable[str]:
            return reactivex.of(item, item + "2", item + "3")

        results = m.start(m.pull("a-b-|").pipe(circuit_break(action)))
        assert results == m.exp("(a,b,|)")


def test_an_observable_that_errs_or_completes_empty_is_a_failed_call() -> None:
    with marbles() as m:
        failures: list[Observable[str]] = [
            reactivex.throw(RuntimeError("remote error")),
            reactivex.empty(),
        ]
        skipped: list[tuple[str, str]] = []

        def action(item: str) -> Observable[str]:
            return failures.pop(0) if failures else reactivex.return_value(item.upper())

        operator = circuit_break(
            action,
            failure_threshold=5,
            on_failure="skip",
            on_skip=lambda item, error: skipped.append((item, type(error).__name__)),
        )
        results = m.start(m.pull("a-b-c-|").pipe(operator))
        assert results == m.exp("(C,|)")
        assert skipped == [("a", "RuntimeError"), ("b", "LookupError")]


def test_a_delayed_failure_counts_and_the_item_is_retried_after_the_timeout() -> None:
    with marbles() as m:
        source = m.pull("a-|")
        attempts: list[float] = []

        def action(item: str) -> Observable[str]:
            attempts.append(m.scheduler.clock)
            if len(attempts) == 1:
                return m.cold("--#", error=RuntimeError("late"))
            return m.cold("-x|", lookup={"x": item.upper()})

        operator = circuit_break(action, failure_threshold=1, reset_timeout=4)
        results = m.start(source.pipe(operator))
        assert attempts == [200, 206]
        assert results == m.exp("-------(A,|)")


def test_cancel_during_a_call_disposes_the_observable_and_frees_the_trial() -> None:
    with marbles() as m:
        breaker = CircuitBreaker(failure_threshold=1, reset_timeout=2, scheduler=m.scheduler)
        pending = m.cold("-----x|")
        fail_first: list[bool] = [True]

        def action(item: str) -> Observable[str]:
            if fail_first.pop() if fail_first else False:
                raise RuntimeError("down")
            return pending

        results = m.start(
            m.pull("a-|").pipe(circuit_break(action, breaker=breaker)), demand="1---!"
        )
        assert results == []
        assert m.subscriptions_of(pending) == m.exp_subscriptions("--^-!")
        assert breaker.state == "half_open"
        assert breaker.acquire() is not None  # the abandoned trial's slot is free


# -- the property the issue asks for: nothing lost, nothing called while open -------------------


@pytest.mark.parametrize("prefetch", [1, 8, PREFETCH])
def test_a_thousand_items_with_30_percent_failures_each_emitted_once_in_order(
    prefetch: int,
) -> None:
    with marbles() as m:
        breaker = CircuitBreaker(failure_threshold=3, reset_timeout=5, scheduler=m.scheduler)
        rng = random.Random(7)
        called_while_open: list[Any] = []
        read_while_open: list[int] = []
        done = 0  # items whose call succeeded
        ahead: list[int] = []  # at each read: items read and not yet done

        def action(item: int) -> int:
            nonlocal done
            if breaker.state == "open":
                called_while_open.append(item)
            if rng.random() < 0.3:
                raise RuntimeError("flaky")
            done += 1
            return item * 10

        def items() -> Iterator[int]:
            for item in range(1000):
                if breaker.state == "open":
                    read_while_open.append(item)
                ahead.append(item + 1 - done)
                yield item

        log = transitions(m, breaker)
        operator = circuit_break(action, breaker=breaker, prefetch=prefetch)
        results = m.start(bp.from_iterable(items()).pipe(operator))
        assert max(ahead) == prefetch  # read ahead as far as allowed, and no further
        assert m.subscriber is not None
        assert m.subscriber.values == [item * 10 for item in range(1000)]
        assert m.subscriber.completed
        assert called_while_open == []
        # No demand goes upstream while open. A synchronous source answers a request at
        # once, so a read-ahead already asked for may finish arriving after the breaker
        # opened mid-answer: held, never called, and never more than one read-ahead.
        openings = sum(1 for _, state in log if state == "open")
        assert len(read_while_open) <= prefetch * openings
        assert openings > 10  # it did open, often
        assert results[-1].time > 250


@given(
    pattern=st.lists(st.booleans(), min_size=1, max_size=12),
    count=st.integers(min_value=0, max_value=25),
    threshold=st.integers(min_value=1, max_value=4),
    timeout=st.integers(min_value=1, max_value=5),
    chunks=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=8),
    mode=st.sampled_from(["retry", "skip"]),
    prefetch=st.sampled_from([1, 2, 8, PREFETCH]),
)
def test_any_failure_pattern_loses_nothing_and_calls_nothing_while_open(
    pattern: list[bool],
    count: int,
    threshold: int,
    timeout: int,
    chunks: list[int],
    mode: str,
    prefetch: int,
) -> None:
    with marbles() as m:
        breaker = CircuitBreaker(
            failure_threshold=threshold, reset_timeout=timeout, backoff=1.5, scheduler=m.scheduler
        )
        calls = 0
        skipped: list[int] = []
        called_while_open: list[int] = []

        def action(item: int) -> int:
            nonlocal calls
            if breaker.state == "open":
                called_while_open.append(item)
            calls += 1
            # Every third call succeeds, so that retrying always ends.
            if pattern[calls % len(pattern)] and calls % 3:
                raise RuntimeError("down")
            return item

        operator = circuit_break(
            action,
            breaker=breaker,
            on_failure="retry" if mode == "retry" else "skip",
            on_skip=(lambda item, _: skipped.append(item)) if mode == "skip" else None,
            prefetch=prefetch,
        )
        demand = "-".join(str(n) for n in chunks) + "-*"
        log = transitions(m, breaker)
        source = m.pull(range(count))
        m.start(source.pipe(operator), demand=demand, disposed=10_000)
        assert m.subscriber is not None
        assert m.subscriber.completed
        assert called_while_open == []
        opened = [(t, u) for (t, a), (u, _) in pairwise(log) if a == "open"]
        assert not [r for r in m.requests_of(source) for t, u in opened if t < r.time < u]
        if mode == "retry":
            assert m.subscriber.values == list(range(count))
        else:
            assert sorted(m.subscriber.values + skipped) == list(range(count))
            assert m.subscriber.values == sorted(m.subscriber.values)


# -- rules, sharing, validation ------------------------------------------------------------


@pytest.mark.parametrize("prefetch", [1, 8, PREFETCH])
def test_the_demand_rules_hold(prefetch: int) -> None:
    operator = circuit_break(lambda x: x, prefetch=prefetch)
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(operator))


def test_a_shared_breaker_opened_by_one_stream_stops_the_other() -> None:
    with marbles() as m:
        breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, scheduler=m.scheduler)
        failing = first_calls_fail(m, 2)
        healthy = Flaky(m, lambda *_: False)
        other: TestSubscriber[str] = TestSubscriber(scheduler=m.scheduler)

        def start_failing(*_: Any) -> None:
            stream = m.pull("x-|").pipe(circuit_break(failing, breaker=breaker))
            stream.subscribe(other, scheduler=m.scheduler)

        m.scheduler.schedule_absolute(203, start_failing)
        source = m.pull(range(20))
        operator = circuit_break(healthy, breaker=breaker, prefetch=8)
        results = m.start(source.pipe(operator), demand="1-" * 20)
        assert failing.calls == [(203, "x"), (203, "x"), (213, "x")]
        # The failing stream opens the breaker at 203; the healthy one waits until 213,
        # takes the half-open trial (it was attached first), and serves its demand.
        assert healthy.calls == [
            (200, 0),
            (202, 1),
            *[(213, item) for item in range(2, 7)],
            *[(214 + 2 * i, item) for i, item in enumerate(range(7, 20))],
        ]
        assert results[:7] == at(200, 0) + at(202, 1) + at(213, *range(2, 7))
        assert other.values == ["X"]
        assert m.requests_of(source) == requests((200, 8), (213, 7), (224, 6))


def test_error_mode_fails_at_once_when_a_shared_breaker_opens() -> None:
    with marbles() as m:
        breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, scheduler=m.scheduler)
        cause = RuntimeError("other stream failed")

        def open_it(*_: Any) -> None:
            permit = breaker.acquire()
            assert permit is not None
            breaker.failure(permit, cause)

        m.scheduler.schedule_absolute(204, open_it)
        operator = circuit_break(lambda x: x, breaker=breaker, on_failure="error", prefetch=8)
        source = m.pull(LETTERS)
        results = m.start(source.pipe(operator), demand="1")
        error = CircuitOpenError("the circuit breaker is open (failure_threshold=1)")
        assert results == m.exp("a---#", error=error)
        assert m.subscriber is not None
        assert m.subscriber.errors[0].__cause__ is cause
        assert m.requests_of(source) == m.exp_requests("8---!")


def test_a_stream_that_starts_while_a_shared_breaker_is_open_asks_upstream_later() -> None:
    with marbles() as m:
        breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, scheduler=m.scheduler)
        permit = breaker.acquire()
        assert permit is not None
        m.scheduler.advance_to(198)
        breaker.failure(permit, RuntimeError("down"))  # open until 203
        source = m.pull(LETTERS)
        results = m.start(source.pipe(circuit_break(lambda x: x, breaker=breaker, prefetch=8)))
        assert results == at(203, *LETTERS, completed=True)
        assert m.requests_of(source) == requests((203, 8), (203, 8))


def test_an_exception_from_on_skip_reaches_on_error() -> None:
    def on_skip(item: str, error: Exception) -> None:
        raise ValueError(f"cannot skip {item}")

    def action(item: str) -> str:
        raise RuntimeError("down")

    with marbles() as m:
        operator = circuit_break(action, on_failure="skip", on_skip=on_skip)
        results = m.start(m.pull("a-b-|").pipe(operator))
        assert results == m.exp("#", error=ValueError("cannot skip a"))


def test_breaker_settings_passed_with_a_breaker_are_refused_even_at_their_defaults() -> None:
    shared = CircuitBreaker()
    for settings in (
        {"failure_threshold": 5},
        {"reset_timeout": 60.0},
        {"half_open_max_calls": 2},
        {"backoff": 1.0},
        {"max_reset_timeout": 100.0},
    ):
        with pytest.raises(
            ValueError, match=f"breaker= brings its own settings.*{next(iter(settings))}"
        ):
            circuit_break(lambda x: x, breaker=shared, **settings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_failure": "drop"}, "on_failure must be 'retry', 'skip' or 'error', got 'drop'"),
        ({"max_pending": 0}, "max_pending must be >= 1, got 0"),
        ({"prefetch": 0}, "prefetch must be >= 1, got 0"),
        ({"failure_threshold": 0}, "failure_threshold must be >= 1, got 0"),
        ({"reset_timeout": 0.0}, "reset_timeout must be > 0, got 0.0"),
        ({"backoff": 0.9}, "backoff must be >= 1, got 0.9"),
        ({"half_open_max_calls": 0}, "half_open_max_calls must be >= 1, got 0"),
        ({"reset_timeout": 5.0, "max_reset_timeout": 1.0}, "max_reset_timeout must be >= "),
        ({"on_skip": print}, "on_skip is only called with on_failure='skip', got 'retry'"),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        circuit_break(lambda x: x, **options)


# -- a synchronous answer, called item by item as it arrives ---------------------------------


def test_a_synchronous_push_answer_retries_a_failed_item_in_order() -> None:
    calls: list[int] = []
    failed: set[int] = set()

    def action(item: int) -> int:
        calls.append(item)
        if item in (3, 7) and item not in failed:
            failed.add(item)
            raise RuntimeError(f"{item} failed once")
        return item * 10

    metrics = bp.Metrics()
    seen: list[int] = []
    reactivex.from_iterable(range(10)).pipe(
        circuit_break(action, failure_threshold=2, metrics=metrics)
    ).subscribe(seen.append)
    # Each failure is below the threshold: the item is called again at once, in order.
    assert calls == [0, 1, 2, 3, 3, 4, 5, 6, 7, 7, 8, 9]
    assert seen == [item * 10 for item in range(10)]
    assert metrics.snapshot()["calls"] == 12
    assert metrics.snapshot()["failures"] == 2


def test_successes_in_one_stream_reset_a_failure_counted_by_another() -> None:
    # Failures open the breaker only when consecutive: a stream calling item after item
    # must still count its successes against a failure another stream just recorded.
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10)

    def fail_once(*_: Any) -> None:
        permit = breaker.acquire()
        assert permit is not None
        breaker.failure(permit, RuntimeError("the other stream failed"))

    def action(item: int) -> int:
        if item == 5:
            fail_once()  # another stream's failure lands in the middle of this answer
        return item

    seen: list[int] = []
    reactivex.from_iterable(range(10)).pipe(circuit_break(action, breaker=breaker)).subscribe(
        seen.append
    )
    assert seen == list(range(10))
    assert breaker.state == "closed"
    fail_once()  # one failure after this stream's successes: still below the threshold
    assert breaker.state == "closed"


@pytest.mark.parametrize("prefetch", [4, 16, 128])
def test_the_closed_fast_path_and_the_general_loop_give_the_same_stream(prefetch: int) -> None:
    # Without metrics or call_timeout, a closed breaker's calls take a shorter loop when
    # more than 8 items are held (not at prefetch=4, which holds at most 4). Items
    # that are multiples of 7 or 11 fail and are skipped (43 + 28 - 4 of 300): both loops
    # must emit, skip and count alike.
    def run(metrics: bp.Metrics | None) -> tuple[list[int], list[int], tuple[Any, ...]]:
        skipped: list[int] = []

        def action(x: int) -> int:
            if x % 7 == 0 or x % 11 == 0:
                raise ValueError(x)
            return x * 2

        got: list[int] = []
        subscription = (
            bp.from_iterable(range(300))
            .pipe(
                bp.circuit_break(
                    action,
                    failure_threshold=1_000,
                    on_failure="skip",
                    on_skip=lambda item, _: skipped.append(item),
                    prefetch=prefetch,
                    metrics=metrics,
                )
            )
            .subscribe(got.append)
        )
        stage = bp.inspect(subscription)[-1]
        return got, skipped, (stage.received, stage.emitted, stage.dropped, stage.state["failures"])

    fast, general = run(None), run(bp.Metrics())
    assert fast == general
    assert fast[0] == [x * 2 for x in range(300) if x % 11 and x % 7]
    assert fast[1] == [x for x in range(300) if x % 7 == 0 or x % 11 == 0]
    assert fast[2] == (300, 233, 67, 67)
