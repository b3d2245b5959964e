"""The core's two fast paths, each pinned on its own and each switched off.

- **Direct delivery** (``Drain._deliver_now``): an item that arrives while the loop is idle,
  nothing is held and there is demand goes straight downstream on the producer's thread.
- **Fusion** (``rx_backpressure.pipe``): a run of consecutive exact reactivex operators
  shares one demand bridge.

Neither may change what a subscriber sees: switched off, the demand rules, order, demand
upstream and the thread seams hold the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp
from rx_backpressure.core import Drain
from rx_backpressure.testing import DemandEvent, TestSubscriber, marbles, verify_flowable

OPERATORS: dict[str, Callable[[], Callable[[Observable[int]], bp.Flowable[Any]]]] = {
    "bounded_buffer": lambda: bp.bounded_buffer(4),
    "shed": lambda: bp.shed(1000),
    "token_bucket": lambda: bp.token_bucket(1000, 1e6),
    "rate_limit": lambda: bp.rate_limit(1e6),
    "circuit_break": lambda: bp.circuit_break(lambda item: item, prefetch=3),
}


@pytest.fixture(params=["direct path on", "direct path off"])
def direct(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param == "direct path off":
        monkeypatch.setattr(Drain, "_deliver_now", lambda self, value, admit=None: False)
    return bool(request.param == "direct path on")


@pytest.mark.parametrize("name", list(OPERATORS))
def test_the_demand_rules_hold_with_and_without_direct_delivery(name: str, direct: bool) -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(OPERATORS[name]()))


@pytest.mark.parametrize("name", list(OPERATORS))
def test_a_hot_source_from_another_thread_keeps_order_with_and_without_direct_delivery(
    name: str, direct: bool
) -> None:
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2**63 - 1)
    subject.pipe(OPERATORS[name]()).subscribe(subscriber)

    def produce() -> None:
        for item in range(2000):
            subject.on_next(item)
        subject.on_completed()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(20)
    assert not producer.is_alive()
    subscriber.assert_no_violations()
    if name == "shed":
        assert subscriber.values == sorted(set(subscriber.values))
    else:
        assert subscriber.values == list(range(2000))
    assert subscriber.completed


@pytest.mark.needs("direct")
def test_direct_delivery_runs_on_the_producers_thread_and_holds_nothing() -> None:
    metrics = bp.Metrics()
    threads: list[str] = []
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subject.pipe(bp.bounded_buffer(4, metrics=metrics)).subscribe(
        lambda _: threads.append(threading.current_thread().name)
    )

    def produce() -> None:
        for item in range(3):
            subject.on_next(item)

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    producer.join(20)
    assert threads == ["producer"] * 3
    assert metrics.snapshot() == {"received": 3, "emitted": 3}  # no depth: never held


# -- fusion ----------------------------------------------------------------------------------

EXACT: dict[str, Callable[[], Callable[[Observable[int]], Observable[int]]]] = {
    "map": lambda: ops.map(lambda x: x + 1),
    "filter": lambda: ops.filter(lambda x: x % 3 != 0),
    "skip": lambda: ops.skip(2),
    "take": lambda: ops.take(7),
    "take_while": lambda: ops.take_while(lambda x: x < 40),
    "distinct_until_changed": lambda: ops.distinct_until_changed(lambda x: x // 2),
    "scan": lambda: ops.scan(lambda acc, x: acc + x, 0),
}


def run_run(names: list[str], fused: bool, demand: str) -> tuple[list[Any], list[Any]]:
    with marbles() as m:
        source = m.pull(range(30))
        if fused:
            piped = source.pipe(*(EXACT[name]() for name in names))
        else:
            piped = source
            for name in names:
                piped = piped.pipe(EXACT[name]())
        results = m.start(piped, demand=demand)
        return list(results), settled(list(m.requests_of(source)))


def settled(events: list[DemandEvent]) -> list[DemandEvent]:
    """Requests without those made in the very instant of a final cancel (a ``take`` that
    completed): separate bridges may still pass one on there, a fused run does not."""
    if events and events[-1].n is None:
        cancel = events[-1]
        kept = events[:-1]
        while kept and kept[-1].time == cancel.time:
            kept.pop()
        return [*kept, cancel]
    return events


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.sampled_from(sorted(EXACT)), min_size=2, max_size=6),
    demand=st.sampled_from(["1-1-1-1-1-1-1-1-1", "3---2---*", "*", "2-------------1"]),
)
def test_a_fused_run_sees_and_asks_exactly_what_separate_bridges_do(
    names: list[str], demand: str
) -> None:
    assert run_run(names, fused=True, demand=demand) == run_run(names, fused=False, demand=demand)


def test_a_run_of_exact_operators_shares_one_bridge() -> None:
    depths: list[int] = []

    def depth() -> Iterator[int]:
        import inspect

        for item in range(3):
            yield item
            depths.append(len(inspect.stack(0)))

    def deepest(pipeline: Callable[[bp.Flowable[int]], bp.Flowable[int]]) -> int:
        depths.clear()
        pipeline(bp.from_iterable(depth())).subscribe(lambda _: None)
        return max(depths)

    maps = [ops.map(lambda x: x) for _ in range(5)]

    def fused(source: bp.Flowable[int]) -> bp.Flowable[int]:
        return source.pipe(*maps)

    def separate(source: bp.Flowable[int]) -> bp.Flowable[int]:
        for op in maps:
            source = source.pipe(op)
        return source

    # The frames below the generator at the moment it yields: a fused run of five maps
    # shares one tap and one bridge; five separate bridges nest five of each.
    assert deepest(fused) < deepest(separate)


# -- the owner's own synchronous answers -------------------------------------------------------

WITH_METRICS: dict[str, Callable[[bp.Metrics | None], Callable[[Observable[int]], Any]]] = {
    "bounded_buffer": lambda metrics: bp.bounded_buffer(4, metrics=metrics),
    "shed": lambda metrics: bp.shed(3, metrics=metrics),
    "token_bucket": lambda metrics: bp.token_bucket(3, 1.0, metrics=metrics),
    "rate_limit": lambda metrics: bp.rate_limit(2.0, metrics=metrics),
    "adaptive_batch": lambda metrics: bp.adaptive_batch(
        initial_size=2, min_size=1, max_size=4, metrics=metrics
    ),
    "circuit_break": lambda metrics: bp.circuit_break(lambda x: x, prefetch=3, metrics=metrics),
}


@pytest.mark.parametrize("name", list(WITH_METRICS))
@pytest.mark.parametrize("demand", ["1-1-1-1-1-1-1-1", "3-----2--*", "*"])
def test_holding_an_answer_without_the_lock_changes_nothing_seen(name: str, demand: str) -> None:
    # A stage with metrics holds its own synchronous answers under the lock (to keep the
    # depth exact); without, its loop's owner holds them without it. Same items, same
    # times, same demand upstream.
    def run(metrics: bp.Metrics | None) -> tuple[list[Any], list[DemandEvent]]:
        with marbles() as m:
            source = m.pull(range(20))
            results = m.start(source.pipe(WITH_METRICS[name](metrics)), demand=demand)
            return list(results), list(m.requests_of(source))

    assert run(None) == run(bp.Metrics())
