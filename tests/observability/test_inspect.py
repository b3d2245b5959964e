"""inspect(): every stage from the source to the subscriber, with exact figures.

Figures are pinned on virtual time and worked out next to each test; the threaded test
checks that a live pipeline can be read while items flow and adds up once it is done.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex.operators as ops
from _stage_kit import Service, shed_then_breaker
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import Pipeline, StageSnapshot, inspect
from rx_backpressure.testing import TestSubscriber

UNBOUNDED = bp.UNBOUNDED


def tenfold(x: int) -> int:
    return x * 10


def figures(stage: StageSnapshot) -> tuple[Any, ...]:
    return (
        stage.kind,
        stage.capacity,
        stage.held,
        stage.demand,
        stage.pending,
        stage.received,
        stage.emitted,
        stage.dropped,
    )


def test_five_stages_source_map_buffer_breaker_push_segment() -> None:
    # 50 items through map, bounded_buffer(8) and circuit_break(prefetch=4), then
    # observe_on: a push segment, which asks everything above it for unbounded demand
    # and holds what its subscriber has not asked for, up to PUSH_BUFFER (128).
    ts = TestScheduler()
    service = Service()
    flow = bp.from_iterable(range(50), name="rows").pipe(
        ops.map(tenfold),
        bp.bounded_buffer(8, name="buffer"),
        bp.circuit_break(service.send, prefetch=4, scheduler=ts, name="send"),
        ops.observe_on(ts),
    )
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    ts.advance_to(1.0)
    pipeline = inspect(subscription)
    assert pipeline.names == ("rows", "map(tenfold)", "buffer", "send", "observe_on")
    assert [figures(stage) for stage in pipeline] == [
        # everything was read: the stages above the push segment completed
        ("source", None, 0, 0, 0, 50, 50, 0),
        ("bridge", None, 0, 0, 0, 50, 50, 0),
        ("operator", 8, 0, 0, 0, 50, 50, 0),
        ("operator", 4, 0, 0, 0, 50, 50, 0),
        # 5 delivered, 45 held within its bound of 128, none owed downstream
        ("push", 128, 45, 0, None, 50, 5, 0),
    ]
    assert [stage.ended for stage in pipeline] == [True, True, True, True, False]
    assert subscriber.values == [1, 11, 21, 31, 41]
    subscriber.request(10)
    ts.advance_to(2.0)
    after = inspect(subscription)
    assert figures(after["observe_on"]) == ("push", 128, 35, 0, None, 50, 15, 0)


def test_a_push_segment_in_the_middle_bounded_by_the_operator_below_it() -> None:
    # observe_on pushes all 50 items into shed(8); the breaker (prefetch 4) has taken 7
    # (4, then 3 more once three quarters of the first 4 were gone) and called 5 for the
    # subscriber's 5: it holds 2. shed holds 8 and dropped the other 35.
    ts = TestScheduler()
    service = Service()
    flow = shed_then_breaker(ts, service, "send", ops.map(tenfold))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    ts.advance_to(1.0)
    pipeline = inspect(subscription)
    assert pipeline.names == ("rows", "map(tenfold)", "observe_on", "shed", "send")
    assert [figures(stage) for stage in pipeline] == [
        ("source", None, 0, 0, 0, 50, 50, 0),
        ("bridge", None, 0, 0, 0, 50, 50, 0),
        ("push", None, None, None, None, None, None, None),  # a reactivex operator
        ("operator", 8, 8, 0, None, 50, 7, 35),  # pushed into: nothing asked upstream
        ("operator", 4, 2, 0, 0, 7, 5, 0),
    ]
    assert pipeline["send"].state["circuit"] == "closed"
    # The service goes down; the subscriber asks for 10: two failures open the breaker.
    service.down = True
    subscriber.request(10)
    ts.advance_to(2.0)
    send = inspect(subscription)["send"]
    assert figures(send) == ("operator", 4, 2, 10, 0, 7, 5, 0)
    assert send.state["circuit"] == "open"


def test_a_plain_observable_upstream_is_a_push_stage_named_by_its_type() -> None:
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
    subscription = subject.pipe(bp.bounded_buffer(4, overflow="error", name="buffer")).subscribe(
        subscriber
    )
    for value in range(3):
        subject.on_next(value)
    pipeline = inspect(subscription)
    assert pipeline.names == ("Subject", "buffer")
    assert figures(pipeline["buffer"]) == ("operator", 4, 2, 0, None, 3, 1, 0)


def test_the_table_is_aligned_and_names_every_column() -> None:
    ts = TestScheduler()
    flow = bp.from_iterable(range(3), name="rows").pipe(bp.bounded_buffer(2, name="buffer"))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    assert str(inspect(subscription)) == (
        "stage   kind      capacity  held  demand  pending  received  emitted  dropped  state\n"
        "rows    source           -     0       0        -         2        2        0\n"
        "buffer  operator         2     1       0        0         2        1        0"
    )


def test_unbounded_demand_reads_unbounded_and_stages_are_found_by_name() -> None:
    subscription = bp.from_iterable(range(3), name="rows").subscribe(lambda _: None)
    pipeline = inspect(subscription)
    assert isinstance(pipeline, Pipeline)
    assert pipeline["rows"].emitted == 3
    with pytest.raises(KeyError, match="no stage named 'nope'; the stages are 'rows'"):
        pipeline["nope"]
    live = bp.from_iterable(range(3), name="live")
    held: TestSubscriber[int] = TestSubscriber()
    table = str(inspect(live.pipe(bp.bounded_buffer(4, name="b")).subscribe(held)))
    assert "unbounded" not in table.splitlines()[1]  # the source completed: demand 0
    assert inspect(live.subscribe(TestSubscriber(initial_request=2)))["live"].emitted == 2


def test_inspect_rejects_what_is_not_a_subscription() -> None:
    with pytest.raises(TypeError, match="inspect\\(\\) takes the subscription of a Flowable"):
        inspect(object())


def test_a_live_pipeline_on_threads_can_be_read_while_it_runs_and_adds_up() -> None:
    # Four producer threads push 5,000 items each into bounded_buffer(64) (blocking when
    # full); a consumer thread reads through to_iterable. inspect() runs meanwhile.
    subject: Subject[int] = Subject()
    lock = threading.Lock()

    def push(start: int) -> None:
        for value in range(start, start + 5_000):
            with lock:  # a Subject's on_next calls must not overlap (rule 1.3)
                subject.on_next(value)

    flow = subject.pipe(bp.bounded_buffer(64, name="buffer"))
    taken: list[int] = []
    iterator = bp.to_iterable(flow)

    def consume() -> None:
        taken.extend(iterator)

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=push, args=(i * 5_000,)) for i in range(4)]
    readings: list[Pipeline] = []
    for thread in producers:
        thread.start()
    while any(thread.is_alive() for thread in producers):
        readings.append(inspect(iterator))
    for thread in producers:
        thread.join(timeout=30)
        assert not thread.is_alive()
    subject.on_completed()
    consumer.join(timeout=30)
    assert not consumer.is_alive()
    assert sorted(taken) == list(range(20_000))
    for reading in readings:
        buffer = reading["buffer"]
        assert buffer.held is not None
        assert 0 <= buffer.held <= 64
        assert buffer.received is not None
        assert buffer.emitted is not None
    final = inspect(iterator)["buffer"]
    assert (final.received, final.emitted, final.held, final.dropped) == (20_000, 20_000, 0, 0)
