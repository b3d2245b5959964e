"""shed: at most capacity held, the overflow dropped, counted and reported, never a failure.

Every drop list below is worked out by hand next to the diagram; the property test checks
random schedules against a ten-line model of the policy.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any

import pytest
import reactivex
from conftest import run_threads
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops
from reactivex.scheduler import ImmediateScheduler
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import Strategy, inspect, shed
from rx_backpressure.core import UNBOUNDED, Metrics
from rx_backpressure.operators._shed import STEP
from rx_backpressure.testing import (
    Demand,
    RecordingFlowable,
    TestSubscriber,
    marbles,
    verify_flowable,
)

# -- the two strategies ----------------------------------------------------------------


def test_tail_drops_the_arriving_items_when_full() -> None:
    # a meets demand; b and c fill the buffer; d and e arrive to a full buffer: dropped.
    dropped: list[str] = []
    metrics = Metrics()
    with marbles() as m:
        source = m.hot("-a-b-c-d-e----")
        operator = shed(2, on_drop=dropped.append, metrics=metrics)
        result = m.start(source.pipe(operator), demand="1---------1-1-")
        assert result == m.exp("-a--------b-c-")
    assert dropped == ["d", "e"]
    assert metrics.snapshot() == {
        "received": 5,
        "emitted": 3,
        "dropped": 2,
        "depth": 0,
        "peak_depth": 2,
    }


def test_head_drops_the_oldest_waiting_item_and_keeps_the_new_one() -> None:
    # b and c fill the buffer; d pushes b out, e pushes c out: d and e are delivered.
    dropped: list[str] = []
    with marbles() as m:
        source = m.hot("-a-b-c-d-e----")
        operator = shed(2, strategy="head", on_drop=dropped.append)
        result = m.start(source.pipe(operator), demand="1---------1-1-")
        assert result == m.exp("-a--------d-e-")
    assert dropped == ["b", "c"]


def test_capacity_one_with_head_keeps_only_the_latest() -> None:
    dropped: list[str] = []
    with marbles() as m:
        source = m.hot("-a-b-c-d---e-f-g-|")
        operator = shed(1, strategy="head", on_drop=dropped.append)
        result = m.start(source.pipe(operator), demand="1-------1-------1---1")
        assert result == m.exp("-a------d-------g|")
    assert dropped == ["b", "c", "e", "f"]


def test_completion_waits_behind_the_items_held() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c-|")
        result = m.start(source.pipe(shed(3)), demand="1-------1---1")
        assert result == m.exp("-a------b---(c,|)")


def test_an_upstream_error_waits_behind_the_items_held() -> None:
    with marbles() as m:
        boom = ValueError("boom")
        source = m.hot("-a-b-#", error=boom)
        result = m.start(source.pipe(shed(3)), demand="1-------1")
        assert result == m.exp("-a------(b,#)", error=boom)


def test_it_never_fails_for_lack_of_room() -> None:
    metrics = Metrics()
    with marbles() as m:
        source = m.hot("-a-b-c-d-e-f-g-h-|")
        result = m.start(source.pipe(shed(3, metrics=metrics)), demand="--------------------*")
        assert result == m.exp("--------------------(a,b,c,|)")
    assert metrics.get("dropped") == 5


# -- on_drop ---------------------------------------------------------------------------


def test_an_exception_in_on_drop_follows_the_held_items_to_on_error() -> None:
    boom = RuntimeError("on_drop failed")

    def fail(_: str) -> None:
        raise boom

    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        result = m.start(source.pipe(shed(2, on_drop=fail)), demand="1-------1-1--")
        assert result == m.exp("-a------b-(c,#)", error=boom)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^------!")
    assert m.subscriber is not None
    assert m.subscriber.errors == [boom]


# -- a Flowable upstream ---------------------------------------------------------------


def test_a_flowable_upstream_is_asked_for_everything_at_once() -> None:
    # All five come at 200: a and b meet demand, c and d are held, e is dropped.
    dropped: list[str] = []
    with marbles() as m:
        source = m.pull("a-b-c-d-e-|")
        result = m.start(source.pipe(shed(2, on_drop=dropped.append)), demand="2-----1")
        assert result == m.exp("(a,b)-c")
        assert m.requests_of(source) == m.exp_requests("*")
    assert dropped == ["e"]


def test_head_over_a_flowable_keeps_the_newest() -> None:
    dropped: list[int] = []
    with marbles() as m:
        source = m.pull(range(10))
        operator = shed(3, strategy="head", on_drop=dropped.append)
        result = m.start(source.pipe(operator), demand="1-----*")
        assert result == m.exp("0-----(7,8,9,|)")
    assert dropped == [1, 2, 3, 4, 5, 6]


def latest(_: Any, value: Any) -> Any:
    return value


def subscribed_on_a_thread(flowable: bp.Flowable[Any]) -> tuple[list[Any], list[str], Any]:
    """Subscribe with callbacks on a thread of its own; what arrived, the ends, and the
    subscription, once the thread is done (30 s at most: a hang fails, it does not block)."""
    values: list[Any] = []
    ends: list[str] = []
    handle: list[Any] = []

    def run() -> None:
        handle.append(
            flowable.subscribe(
                values.append, lambda e: ends.append(f"error {e!r}"), lambda: ends.append("done")
            )
        )

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), f"the subscribe call hung after {len(values)} items"
    return values, ends, handle[0]


def test_inside_a_reactivex_subscribe_a_synchronous_source_is_asked_in_steps() -> None:
    # take() is reactivex's own, so shed is subscribed inside reactivex's trampoline: it asks
    # an endless synchronous source for STEP items a step, each step queued behind the last,
    # so take() gets its turn to cancel the source.
    source = RecordingFlowable(bp.from_iterable(itertools.count()), TestScheduler())
    values, ends, _ = subscribed_on_a_thread(source.pipe(shed(8), ops.take(300)))
    assert (values, ends) == (list(range(300)), ["done"])
    assert [event.n for event in source.requests] == [STEP, STEP, STEP, None]


def test_steps_end_once_an_item_comes_outside_a_step_so_a_buffer_above_never_waits() -> None:
    # The push source above bounded_buffer sends its items in a trampoline step of its own:
    # the first step's request finds the buffer empty, and the items come after it. A second
    # step would wait for the source to finish, while the full buffer waited for its demand:
    # shed asks for everything instead, and every item goes through.
    buffered = bp.bounded_buffer(9)(reactivex.from_iterable(range(259)))
    recording = RecordingFlowable(buffered, TestScheduler())
    values, ends, subscription = subscribed_on_a_thread(
        recording.pipe(shed(7), ops.scan(latest, None))
    )
    assert (values, ends) == (list(range(259)), ["done"])
    assert [event.n for event in recording.requests] == [STEP, UNBOUNDED]
    stage = next(s for s in inspect(subscription) if s.name == "shed(7)")
    assert (stage.received, stage.emitted, stage.dropped) == (259, 259, 0)


def test_items_from_a_producer_thread_end_the_steps_and_all_arrive_in_order() -> None:
    # The same with a Subject fed by another thread: its first item is not an answer to a
    # step made on the subscribing thread, so shed asks for everything from then on; the
    # buffer holds the producer back while the subscriber works, and nothing is dropped.
    subject: Subject[int] = Subject()
    recording = RecordingFlowable(bp.bounded_buffer(9)(subject), TestScheduler())
    values: list[int] = []
    ends: list[str] = []
    subscription = recording.pipe(shed(7), ops.scan(latest, None)).subscribe(
        values.append, lambda e: ends.append(f"error {e!r}"), lambda: ends.append("done")
    )
    assert [event.n for event in recording.requests] == [STEP]

    def produce() -> None:
        for i in range(2000):
            subject.on_next(i)
        subject.on_completed()

    run_threads([threading.Thread(target=produce, daemon=True)], "the producer")
    assert (values, ends) == (list(range(2000)), ["done"])
    assert [event.n for event in recording.requests] == [STEP, UNBOUNDED]
    stage = next(s for s in inspect(subscription) if s.name == "shed(7)")
    assert (stage.received, stage.emitted, stage.dropped) == (2000, 2000, 0)


# -- the rule suite and bad input ------------------------------------------------------


@pytest.mark.parametrize("strategy", ["tail", "head"])
def test_the_demand_rules_hold_over_from_iterable(strategy: Strategy) -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(shed(64, strategy=strategy)))


def test_the_demand_rules_hold_over_a_push_source() -> None:
    verify_flowable(lambda n: reactivex.from_iterable(range(n)).pipe(shed(64)))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"capacity": 0}, ValueError, "capacity must be >= 1, got 0"),
        ({"capacity": "3"}, TypeError, "capacity must be an int, got '3'"),
        ({"capacity": False}, TypeError, "capacity must be an int, got False"),
        (
            {"capacity": 1, "strategy": "newest"},
            ValueError,
            "strategy must be 'tail' or 'head', got",
        ),
        ({"capacity": 1, "on_drop": 5}, TypeError, "on_drop must be callable or None, got 5"),
    ],
)
def test_bad_input_is_refused_at_construction_naming_it(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        shed(**kwargs)


# -- property: random hot schedules and random demand, against a model -----------------


def model(
    capacity: int, strategy: str, events: list[tuple[int, str, int]]
) -> tuple[list[int], list[int], list[int]]:
    """What shed should deliver, drop and hold, for (frame, "item" | "demand", n) events."""
    held: list[int] = []
    delivered: list[int] = []
    dropped: list[int] = []
    demand = 0
    for _, kind, n in sorted(events):
        if kind == "demand":
            demand += n
        elif len(held) < capacity:
            held.append(n)
        elif strategy == "head":
            dropped.append(held.pop(0))
            held.append(n)
        else:
            dropped.append(n)
        while demand and held:
            delivered.append(held.pop(0))
            demand -= 1
    return delivered, dropped, held


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 4),
    strategy=st.sampled_from(["tail", "head"]),
    frames=st.lists(st.integers(1, 20), max_size=14, unique=True).map(sorted),
    demand=st.lists(st.tuples(st.integers(0, 21), st.integers(1, 3)), max_size=8),
)
def test_random_schedules_match_the_model_and_conserve_every_item(
    capacity: int, strategy: Any, frames: list[int], demand: list[tuple[int, int]]
) -> None:
    # Items at even frames, requests at odd ones (or at subscription), so nothing is tied.
    item_at = {2 * frame: item for item, frame in enumerate(frames)}
    end = 2 * (frames[-1] if frames else 0) + 2
    diagram = "".join(chr(ord("a") + item_at[f]) if f in item_at else "-" for f in range(end))
    diagram += "|"
    lookup = {chr(ord("a") + i): i for i in range(len(frames))}
    requests = [(2 * frame - 1 if frame else 0, n) for frame, n in demand]
    metrics = Metrics()
    dropped: list[int] = []
    gaps: list[float] = []
    with marbles() as m:
        source = m.hot(diagram, lookup)
        for frame in range(end + 2):
            m.scheduler.schedule_absolute(
                m.time(frame) + 0.5,
                lambda *_: gaps.append(
                    metrics.get("received")
                    - metrics.get("emitted")
                    - metrics.get("dropped")
                    - metrics.get("depth")
                ),
            )
        operator = shed(capacity, strategy=strategy, on_drop=dropped.append, metrics=metrics)
        plan = Demand(sorted((m.time(frame), n) for frame, n in requests))
        m.start(source.pipe(operator), plan)
    events = [(f, "item", i) for f, i in item_at.items()]
    events += [(f, "demand", n) for f, n in requests]
    delivered, model_dropped, held = model(capacity, strategy, events)
    assert m.subscriber is not None
    assert m.subscriber.values == delivered
    assert dropped == model_dropped
    assert metrics.get("depth") == len(held)
    assert metrics.get("peak_depth") <= capacity
    assert set(gaps) == {0}  # received = emitted + dropped + held, between any two signals
    assert m.subscriber.completed == (not held)


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 5),
    strategy=st.sampled_from(["tail", "head"]),
    count=st.integers(0, 30),
    initial=st.integers(0, 8),
    later=st.integers(0, 40),
)
def test_a_source_that_pushes_everything_on_subscribe_is_shed_as_if_item_by_item(
    capacity: int, strategy: Any, count: int, initial: int, later: int
) -> None:
    # The items come inside the subscribe call (taken in batches there); the result must be
    # what the policy gives one item at a time: the model, with all items at subscription.
    dropped: list[int] = []
    with marbles() as m:
        source = reactivex.from_iterable(range(count), scheduler=ImmediateScheduler())
        operator = shed(capacity, strategy=strategy, on_drop=dropped.append)
        plan = [(m.time(0), initial), (m.time(1), later)]
        m.start(source.pipe(operator), Demand([(t, n) for t, n in plan if n]))
    events = [(0, "demand", initial), (1, "demand", later)]
    events += [(0, "item", i) for i in range(count)]
    delivered, model_dropped, _ = model(capacity, strategy, events)
    assert m.subscriber is not None
    assert m.subscriber.values == delivered
    assert dropped == model_dropped


# -- threads ---------------------------------------------------------------------------


def test_concurrent_producers_lose_nothing_uncounted_and_keep_their_order() -> None:
    subject: Subject[tuple[int, int]] = Subject()
    metrics = Metrics()
    dropped: list[tuple[int, int]] = []
    subscriber: TestSubscriber[tuple[int, int]] = TestSubscriber(1, replenish=1)
    shed(50, on_drop=dropped.append, metrics=metrics)(subject).subscribe(subscriber)

    def produce(k: int) -> None:
        for i in range(10_000):
            subject.on_next((k, i))

    run_threads([threading.Thread(target=produce, args=(k,)) for k in range(4)], "a producer")
    subject.on_completed()
    subscriber.assert_no_violations()
    assert subscriber.errors == []
    delivered = subscriber.values
    held = int(metrics.get("depth"))
    assert len(delivered) + len(dropped) + held == 40_000 == metrics.get("received")
    assert len(set(delivered) | set(dropped)) == len(delivered) + len(dropped)
    for k in range(4):
        mine = [i for p, i in delivered if p == k]
        assert mine == sorted(mine)
    assert metrics.get("peak_depth") <= 50


# -- head eviction against the loop, which takes held items without the lock -------------


def held_by_head_shed(*items: str) -> Any:
    """A ``shed(len(items), strategy="head")`` stage holding ``items`` (no demand yet)."""
    subject: Subject[str] = Subject()
    stage = shed(len(items), strategy="head")(subject).subscribe(TestSubscriber(0))
    for item in items:
        subject.on_next(item)
    assert list(stage._queue) == list(items)  # type: ignore[attr-defined]
    return stage


def test_an_eviction_that_finds_every_held_item_taken_meanwhile_holds_the_item() -> None:
    # A producer finds the queue full; before it evicts, the loop (on another thread, with
    # no lock) takes every held item. There is room after all: nothing is dropped.
    stage = held_by_head_shed("a", "b")
    taken: list[str] = []

    class TakenRightAfterTheCheck(deque[str]):
        armed = False

        def __len__(self) -> int:
            length = super().__len__()
            if self.armed:  # once, for the producer's look at the queue
                self.armed = False
                while super().__len__():
                    taken.append(self.popleft())
            return length

    queue = TakenRightAfterTheCheck(stage._queue)
    queue.armed = True
    stage._queue = queue
    assert stage._offer("c", evict=True, drop=True) is None
    assert (taken, list(stage._queue), stage._dropped) == (["a", "b"], ["c"], 0)


def test_a_head_shed_hands_a_run_on_one_held_item_at_a_time() -> None:
    # The loop hands a run to a stage of ours below. Meanwhile an evicting producer takes the
    # oldest item (b, once a has gone) and has not appended its own yet: the run ends with
    # what is there, rather than taking a count of items read before it started.
    stage = held_by_head_shed("a", "b", "c")
    pops = 0

    class EvictedMeanwhile(deque[str]):
        def popleft(self) -> str:
            nonlocal pops
            pops += 1
            if pops == 2:
                super().popleft()  # the producer's eviction of b
            return super().popleft()

    stage._queue = EvictedMeanwhile(stage._queue)
    run: list[str] = []
    assert stage._emit(run.append, 10) == 2
    assert run == ["a", "c"]
