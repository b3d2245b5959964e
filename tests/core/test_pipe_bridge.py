"""Demand survives the plain reactivex operators inside Flowable.pipe."""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
import reactivex
from conftest import switch_off
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import ReactiveTest

import rx_backpressure as bp
from rx_backpressure.testing import DemandEvent, TestSubscriber, marbles, verify_flowable


class Reads:
    """A generator over ``values`` that counts how far it was read and notices closing."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.count = 0
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for value in self.values:
                self.count += 1
                yield value
        finally:
            self.closed = True


Op = Callable[[Observable[Any]], Observable[Any]]


def times(k: int) -> Callable[[int], int]:
    return lambda x: x * k


def plus(k: int) -> Callable[[int], int]:
    return lambda x: x + k


def multiple_of(k: int, rest: int = 0) -> Callable[[int], bool]:
    return lambda x: x % k == rest


def to_text(x: int) -> str:
    return str(x)


def twice(x: int) -> Observable[int]:
    return reactivex.of(x, x)


def once(x: int) -> Observable[int]:
    return reactivex.of(x)


def plus_minus(x: int) -> Observable[int]:
    return reactivex.of(x, -x)


DATA = [1, 1, 2, 3, 3, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
RECORDS = [{"k": v, "t": (v, v)} for v in DATA]

EXACT_OPERATORS: dict[str, tuple[Op, list[Any]]] = {
    "map": (ops.map(lambda x: x * 2), DATA),
    "map_indexed": (ops.map_indexed(lambda x, i: x + i), DATA),
    "filter": (ops.filter(lambda x: x % 3 == 0), DATA),
    "filter_indexed": (ops.filter_indexed(lambda x, i: i % 2 == 1), DATA),
    "scan": (ops.scan(operator.add, 0), DATA),
    "distinct": (ops.distinct(), DATA),
    "distinct_until_changed": (ops.distinct_until_changed(), DATA),
    "take_while": (ops.take_while(lambda x: x < 12), DATA),
    "skip": (ops.skip(4), DATA),
    "skip_while": (ops.skip_while(lambda x: x < 6), DATA),
    "do_action": (ops.do_action(lambda x: None), DATA),
    "tap": (ops.tap(lambda x: None), DATA),
    "pluck": (ops.pluck("k"), RECORDS),
    "starmap": (ops.starmap(operator.add), [r["t"] for r in RECORDS]),
    "take": (ops.take(7), DATA),
}


def _reads_needed(op: Op, values: list[Any], wanted: int) -> int:
    """How many inputs plain reactivex consumes before ``op`` has emitted ``wanted`` items."""
    consumed = 0
    outputs = 0
    needed: list[int] = []

    def count_input(_: Any) -> None:
        nonlocal consumed
        consumed += 1

    def count_output(_: Any) -> None:
        nonlocal outputs
        outputs += 1
        if outputs == wanted:
            needed.append(consumed)

    reactivex.from_iterable(values).pipe(ops.do_action(count_input), op).subscribe(count_output)
    return needed[0] if needed else consumed


@pytest.mark.parametrize("name", list(EXACT_OPERATORS))
def test_demand_stays_exact_across_the_operator(name: str) -> None:
    op, values = EXACT_OPERATORS[name]
    source = Reads(values)
    subscriber: TestSubscriber[Any] = TestSubscriber(initial_request=5)
    flowable = bp.from_iterable(iter(source)).pipe(op)
    assert isinstance(flowable, bp.Flowable)
    assert flowable.push_source is None
    flowable.subscribe(subscriber)
    expected: list[Any] = []
    reactivex.from_iterable(values).pipe(op, ops.take(5)).subscribe(expected.append)
    assert subscriber.values == expected
    assert source.count == _reads_needed(op, values, 5)


def test_map_then_filter_reads_only_until_five_items_passed() -> None:
    source = Reads(list(range(1000)))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5)
    bp.from_iterable(iter(source)).pipe(ops.map(times(10)), ops.filter(multiple_of(30))).subscribe(
        subscriber
    )
    assert subscriber.values == [0, 30, 60, 90, 120]
    assert source.count == 13  # items 0..12: the 13th read is 12, whose map (120) is the 5th pass


def test_a_filter_that_removes_long_runs_never_stalls() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
    bp.from_iterable(range(100_000)).pipe(ops.filter(multiple_of(40_000))).subscribe(subscriber)
    assert subscriber.values == [0, 40_000]
    subscriber.request(5)
    assert subscriber.values == [0, 40_000, 80_000]
    assert subscriber.completed


@pytest.mark.parametrize("demand", [1, 3, 5, bp.UNBOUNDED])
def test_take_reads_no_more_than_n_and_stops_the_source(demand: int) -> None:
    source = Reads(list(range(100)))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=demand)
    bp.from_iterable(iter(source)).pipe(ops.take(3)).subscribe(subscriber)
    subscriber.request(10)
    assert subscriber.values == [0, 1, 2]
    assert subscriber.completed
    assert source.count == 3
    assert source.closed


def test_pipe_returns_a_flowable_for_any_number_of_operators() -> None:
    increments = [ops.map(plus(1)) for _ in range(12)]
    flowable = bp.from_iterable([0, 10]).pipe(*increments)
    assert isinstance(flowable, bp.Flowable)
    assert flowable.pipe() is flowable
    composed = bp.pipe(*increments)(bp.from_iterable([0, 10]))
    assert isinstance(composed, bp.Flowable)
    seen: list[int] = []
    composed.subscribe(seen.append)
    assert seen == [12, 22]
    plain: list[int] = []
    bp.pipe(*increments)(reactivex.of(1)).subscribe(plain.append)
    assert plain == [13]


def test_fluent_methods_go_through_pipe_too() -> None:
    source = Reads(list(range(50)))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
    bp.from_iterable(iter(source)).map(plus(1)).subscribe(subscriber)
    assert subscriber.values == [1, 2]
    assert source.count == 2


def test_errors_pass_through_unchanged_and_stop_the_source() -> None:
    source = Reads(list(range(100)))
    boom = ZeroDivisionError("mapper failed")

    def mapper(x: int) -> int:
        if x == 3:
            raise boom
        return x

    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=10)
    bp.from_iterable(iter(source)).pipe(ops.map(mapper)).subscribe(subscriber)
    assert subscriber.values == [0, 1, 2]
    assert subscriber.errors == [boom]
    assert source.count == 4
    assert source.closed

    def failing() -> Iterator[int]:
        yield 1
        raise KeyError("source failed")

    downstream: TestSubscriber[int] = TestSubscriber()
    bp.from_iterable(failing()).pipe(ops.map(times(2))).subscribe(downstream)
    assert downstream.values == [2]
    assert [type(e) for e in downstream.errors] == [KeyError]


def test_cancel_reaches_the_source() -> None:
    source = Reads(list(range(100)))
    subscriber: TestSubscriber[str] = TestSubscriber(initial_request=2)
    bp.from_iterable(iter(source)).pipe(ops.map(to_text), ops.filter(str.isdigit)).subscribe(
        subscriber
    )
    subscriber.cancel()
    subscriber.request(10)
    assert subscriber.values == ["0", "1"]
    assert source.closed


def test_an_invalid_request_is_signalled_through_the_operator() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    bp.from_iterable(range(10)).pipe(ops.map(plus(0))).subscribe(subscriber)
    assert subscriber.subscription is not None
    subscriber.subscription.request(-2)
    [error] = subscriber.errors
    assert isinstance(error, ValueError)
    assert "n=-2" in str(error)


@pytest.mark.parametrize(
    ("name", "factory"),
    [
        ("map", lambda n: bp.from_iterable(range(n)).pipe(ops.map(times(2)))),
        (
            "filter",
            lambda n: bp.from_iterable(range(3 * n)).pipe(ops.filter(multiple_of(3, 2))),
        ),
        ("take", lambda n: bp.from_iterable(range(n + 10)).pipe(ops.take(n))),
        (
            "mixed",
            lambda n: bp.from_iterable(range(2 * n)).pipe(
                ops.map(plus(1)), ops.filter(multiple_of(2)), ops.take(n)
            ),
        ),
    ],
)
def test_the_demand_rule_suite_passes(name: str, factory: Callable[[int], Any]) -> None:
    verify_flowable(factory)


# -- marble diagrams with demand ---------------------------------------------------------


def test_marbles_map_passes_demand_one_for_one() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-d-e-|")
        results = m.start(lambda: source.pipe(ops.map(str.upper)), demand="2--1---*")
        on_next = ReactiveTest.on_next
        assert results == [
            on_next(200, "A"),
            on_next(200, "B"),
            on_next(203, "C"),
            on_next(207, "D"),
            on_next(207, "E"),
            ReactiveTest.on_completed(207),
        ]
        assert m.requests_of(source) == m.exp_requests("2--1---*")


def test_marbles_filter_asks_for_a_replacement_per_swallowed_item() -> None:
    with marbles() as m:
        source = m.pull(range(10))
        m.start(lambda: source.pipe(ops.filter(multiple_of(2))), demand="2-----1")
        assert m.subscriber is not None
        assert m.subscriber.values == [0, 2, 4]
        # 0 passes, 1 is swallowed (+1), 2 passes; later 3 is swallowed (+1), 4 passes
        assert m.requests_of(source) == m.exp_requests("(2,1)-(1,1)")


def test_marbles_take_cancels_the_source_when_satisfied() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-d-e-f")
        results = m.start(lambda: source.pipe(ops.take(4)), demand="3----1")
        assert results == [
            ReactiveTest.on_next(200, "a"),
            ReactiveTest.on_next(200, "b"),
            ReactiveTest.on_next(200, "c"),
            ReactiveTest.on_next(205, "d"),
            ReactiveTest.on_completed(205),
        ]
        assert m.requests_of(source) == [
            DemandEvent(200, 3),
            DemandEvent(205, 1),
            DemandEvent(205, None),
        ]
        assert m.subscriptions_of(source) == m.exp_subscriptions("^----!")


def test_marbles_mixed_chain_keeps_demand_exact() -> None:
    with marbles() as m:
        source = m.pull(range(100))
        chain = lambda: source.pipe(  # noqa: E731
            ops.map(times(3)),
            ops.filter(multiple_of(2, 1)),
            ops.skip(1),
            ops.take(3),
        )
        results = m.start(chain, demand="1---1---5")
        assert results == [
            ReactiveTest.on_next(200, 9),
            ReactiveTest.on_next(204, 15),
            ReactiveTest.on_next(208, 21),
            ReactiveTest.on_completed(208),
        ]
        # at 200: 0 (filter), 1 (skip), 2 (filter) swallowed, each replaced; 3 -> 9;
        # at 204: 4 swallowed and replaced, 5 -> 15; at 208: 6 swallowed, 7 -> 21, and
        # take(3) is done: the source is cancelled at once.
        request = DemandEvent
        assert m.requests_of(source) == [
            *[request(200, 1)] * 4,
            *[request(204, 1)] * 2,
            request(208, 5),
            request(208, 1),
            request(208, None),
        ]


# -- operators that expand or emit later -------------------------------------------------

PUSH_OPERATORS: dict[str, Op] = {
    "flat_map": ops.flat_map(twice),
    "buffer_with_count": ops.buffer_with_count(2),
    "to_list": ops.to_list(),
    "window": ops.window_with_count(2),
    "delay": ops.delay(1.0),
    "observe_on": ops.observe_on(reactivex.scheduler.ImmediateScheduler()),
    "debounce": ops.debounce(0.5),
}


@pytest.mark.parametrize("name", list(PUSH_OPERATORS))
def test_other_operators_turn_the_segment_above_into_push(name: str) -> None:
    with marbles() as m:
        source = m.pull(range(5))
        piped = source.pipe(PUSH_OPERATORS[name])
        assert isinstance(piped, bp.PushSegment)
        m.start(piped, demand="1")
        # Read as reactivex reads its own sources: one item per trampoline step, with no
        # limit in all, so the operator can stop the source between any two items.
        assert m.requests_of(source) == [DemandEvent(200, 1)] * 5
        assert m.subscriber is not None
        assert len(m.subscriber.values) == 1


def test_a_push_segment_holds_a_bounded_number_then_fails_loudly() -> None:
    source = Reads(list(range(1000)))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5)
    piped = bp.from_iterable(iter(source)).pipe(ops.flat_map(once))
    piped.subscribe(subscriber)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert subscriber.errors == []
    subscriber.request(bp.PUSH_BUFFER)
    assert subscriber.values == list(range(5 + bp.PUSH_BUFFER))
    [error] = subscriber.errors
    assert isinstance(error, bp.BufferOverflowError)
    # flat_map is map + merge_all in reactivex: named for the operator written here
    assert "flat_map pushed more than 128 items beyond demand" in str(error)


def test_a_push_segment_with_a_plain_observer_is_plain_reactivex() -> None:
    seen: list[int] = []
    piped = bp.from_iterable(range(3)).pipe(ops.flat_map(plus_minus))
    piped.subscribe(seen.append)
    assert seen == [0, 0, 1, -1, 2, -2]


def test_exact_operators_after_a_push_segment_stay_push() -> None:
    piped = bp.from_iterable(range(3)).pipe(ops.buffer_with_count(2), ops.map(len))
    assert isinstance(piped, bp.PushSegment)
    seen: list[int] = []
    piped.subscribe(seen.append)
    assert seen == [2, 1]


def test_a_synchronous_source_runs_at_the_trampolines_depth_as_reactivexs_own_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bridge asks its source as a trampoline step, so the items flow from the depth
    # where reactivex's own sources run theirs, not from under the operators' nested
    # subscribe calls: each more map adds the same frames per item as in reactivex. (With
    # the maps' own operators: a fused run adds none, see test_fast_paths.)
    switch_off(monkeypatch, "fuse")

    def depth_at_sink(source: Callable[[], Any], k: int) -> int:
        depths: list[int] = []

        def sink(_: object) -> None:
            frame: FrameType | None = sys._getframe()
            count = 0
            while frame is not None:
                frame, count = frame.f_back, count + 1
            depths.append(count)

        source().pipe(*(ops.map(lambda x: x) for _ in range(k))).subscribe(sink)
        assert len(set(depths)) == 1, depths
        return depths[0]

    def ours() -> Any:
        return bp.from_iterable(range(3))

    def theirs() -> Any:
        return reactivex.from_iterable(range(3))

    growth_ours = depth_at_sink(ours, 10) - depth_at_sink(ours, 1)
    growth_theirs = depth_at_sink(theirs, 10) - depth_at_sink(theirs, 1)
    assert growth_ours == growth_theirs
