"""What ``inspect`` reads of our sources and of the consumers that hold items (to_iterable,
to_async_iterable): exact figures, with and without ``metrics=``.

Figures are ``(held, demand, pending, received, emitted, dropped)``. A source's received is
what it has read or been given: emitted + held + dropped, plus an item its overflow policy
refused. A consumer's emitted is what it handed to the loop that iterates it; its pending
is what it asked for and has not received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _stage_kit import Figures, figures, read_at

import rx_backpressure as bp
from rx_backpressure import inspect
from rx_backpressure.testing import TestSubscriber, marbles

# -- create -----------------------------------------------------------------------------

# The producer gives a, b, c, d, e, f at frames 1, 3, 5, 7, 9, 11; capacity=2; the
# subscriber asks for 1 at 0, 8 and 14. Readings at 8 and 14.
CREATE_CASES = [
    pytest.param(
        "buffer",
        # a out; b, c held; d refused (fails behind b and c); b at 8, c at 14.
        {8: (1, 0, None, 4, 2, 0), 14: (0, 0, 0, 4, 3, 0)},
        {"received": 4, "emitted": 3, "depth": 0, "peak_depth": 2},
        id="buffer",
    ),
    pytest.param(
        "drop",
        # a out; b, c, d beyond demand: dropped; e meets the request of 8; f dropped.
        {8: (0, 1, None, 4, 1, 3), 14: (0, 1, None, 6, 2, 4)},
        {"received": 6, "emitted": 2, "dropped": 4, "depth": 0, "peak_depth": 1},
        id="drop",
    ),
    pytest.param(
        "latest",
        # a out; b replaced by c, c by d; d out at 8; e replaced by f; f out at 14.
        {8: (0, 0, None, 4, 2, 2), 14: (0, 0, None, 6, 3, 3)},
        {"received": 6, "emitted": 3, "dropped": 3, "depth": 0, "peak_depth": 1},
        id="latest",
    ),
    pytest.param(
        "error",
        # a out; b beyond demand: refused, the stream fails.
        {8: (0, 0, 0, 2, 1, 0), 14: (0, 0, 0, 2, 1, 0)},
        {"received": 2, "emitted": 1, "depth": 0, "peak_depth": 1},
        id="error",
    ),
]


@pytest.mark.parametrize(("overflow", "expected", "counts"), CREATE_CASES)
@pytest.mark.parametrize("with_metrics", [False, True], ids=["without metrics", "with metrics"])
def test_create_counts_what_its_overflow_policy_did(
    overflow: Any,
    expected: dict[int, Figures],
    counts: dict[str, float],
    with_metrics: bool,
) -> None:
    metrics = bp.Metrics() if with_metrics else None
    emitters: list[bp.Emitter[str]] = []
    with marbles() as m:
        for i, value in enumerate("abcdef"):
            m.scheduler.schedule_absolute(
                m.time(1 + 2 * i), lambda *_, value=value: emitters[0].next(value)
            )
        readings = read_at(m, 8, 14)
        flow = bp.create(emitters.append, overflow=overflow, capacity=2, metrics=metrics)
        m.start(flow, demand="1-------1-----1-")
    assert {frame: figures(pipeline[-1]) for frame, pipeline in readings.items()} == expected
    assert readings[8][-1].state == {"overflow": overflow}
    policy = "" if overflow == "buffer" else f"overflow={overflow!r}, "
    assert readings[8].names == (f"create(append, {policy}capacity=2)",)
    if metrics is not None:
        assert metrics.snapshot() == counts


def test_create_counts_items_sent_from_on_request_straight_downstream() -> None:
    def producer(emitter: bp.Emitter[int]) -> None:
        def send(n: int) -> None:
            for _ in range(n):
                emitter.next(n)

        emitter.on_request(send)

    subscriber: TestSubscriber[int] = TestSubscriber(0)
    subscription = bp.create(producer, capacity=1).subscribe(subscriber)
    subscriber.request(3)
    subscriber.request(2)
    assert subscriber.values == [3, 3, 3, 2, 2]
    assert figures(inspect(subscription)[0]) == (0, 0, None, 5, 5, 0)


# -- pull sources -----------------------------------------------------------------------


def test_from_iterable_and_generate_count_what_they_read() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(3)
    subscription = bp.from_iterable(range(10)).subscribe(subscriber)
    assert figures(inspect(subscription)[0]) == (0, 0, None, 3, 3, 0)

    def step(state: int, emitter: bp.Emitter1[int]) -> int:
        if state == 5:
            emitter.complete()
        else:
            emitter.next(state)
        return state + 1

    subscriber = TestSubscriber(3)
    subscription = bp.generate(0, step).subscribe(subscriber)
    stage = inspect(subscription)[0]
    assert (stage.kind, figures(stage), stage.ended) == ("source", (0, 0, None, 3, 3, 0), False)
    subscriber.request(5)  # 2 more, then the end
    stage = inspect(subscription)[0]
    assert (stage.kind, figures(stage), stage.ended) == ("source", (0, 0, 0, 5, 5, 0), True)


def test_a_source_that_ends_inside_on_subscribe_is_still_a_source() -> None:
    subscription = bp.from_iterable(range(3)).pipe(bp.bounded_buffer(8)).subscribe(TestSubscriber())
    stage = inspect(subscription)[0]
    assert (stage.kind, figures(stage), stage.ended) == ("source", (0, 0, 0, 3, 3, 0), True)


def test_from_async_iterable_counts_what_it_read() -> None:
    async def ticks() -> AsyncIterator[int]:
        for tick in range(10):
            yield tick

    async def main() -> Figures:
        subscriber: TestSubscriber[int] = TestSubscriber(3)
        subscription = bp.from_async_iterable(ticks()).subscribe(subscriber)
        for _ in range(10):
            await asyncio.sleep(0)
        assert subscriber.values == [0, 1, 2]
        found = figures(inspect(subscription)[0])
        subscriber.cancel()
        return found

    assert asyncio.run(asyncio.wait_for(main(), 10)) == (0, 0, None, 3, 3, 0)


# -- consumers that hold items ------------------------------------------------------------


def test_to_iterable_is_the_last_stage_and_holds_what_it_prefetched() -> None:
    flow = bp.from_iterable(range(20)).pipe(bp.bounded_buffer(8))
    iterator = bp.to_iterable(flow, prefetch=4)
    assert [stage.name for stage in inspect(iterator)] == ["to_iterable(prefetch=4)"]
    assert [next(iterator) for _ in range(2)] == [0, 1]
    pipeline = inspect(iterator)
    assert pipeline.names == (
        "from_iterable(range(0, 20))",
        "bounded_buffer(8)",
        "to_iterable(prefetch=4)",
    )
    consumer = pipeline[-1]
    assert (consumer.kind, consumer.capacity, consumer.ended) == ("subscriber", 4, False)
    assert figures(consumer) == (2, None, 0, 4, 2, 0)
    # The third next() asks for 3 more (prefetch - prefetch // 4), which come at once.
    assert [next(iterator) for _ in range(2)] == [2, 3]
    assert figures(inspect(iterator)[-1]) == (3, None, 0, 7, 4, 0)
    assert figures(inspect(iterator)[1]) == (8, 0, 0, 15, 7, 0)
    iterator.close()  # the three held are let go
    consumer = inspect(iterator)[-1]
    assert (figures(consumer), consumer.ended) == ((0, None, 0, 7, 4, 3), True)


def test_to_iterable_over_a_slow_source_shows_what_it_waits_for() -> None:
    flow = bp.from_iterable(range(3))
    iterator = bp.to_iterable(flow, prefetch=8)
    assert list(iterator) == [0, 1, 2]
    consumer = inspect(iterator)[-1]
    assert (figures(consumer), consumer.ended) == ((0, None, 0, 3, 3, 0), True)


def test_to_async_iterable_is_the_last_stage_and_holds_its_inbox() -> None:
    async def main() -> list[tuple[Figures, bool]]:
        iterator = bp.to_async_iterable(bp.from_iterable(range(20)), prefetch=8)
        readings = [(figures(inspect(iterator)[-1]), inspect(iterator)[-1].ended)]
        assert [await iterator.__anext__() for _ in range(3)] == [0, 1, 2]
        pipeline = inspect(iterator)
        assert pipeline.names == ("from_iterable(range(0, 20))", "to_async_iterable(prefetch=8)")
        readings.append((figures(pipeline[-1]), pipeline[-1].ended))
        # The sixth item taken asks for 6 more (8 - 8 // 4).
        assert [await iterator.__anext__() for _ in range(4)] == [3, 4, 5, 6]
        readings.append((figures(inspect(iterator)[-1]), inspect(iterator)[-1].ended))
        await iterator.aclose()
        readings.append((figures(inspect(iterator)[-1]), inspect(iterator)[-1].ended))
        return readings

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [
        ((0, None, 0, 0, 0, 0), False),
        ((5, None, 0, 8, 3, 0), False),
        ((7, None, 0, 14, 7, 0), False),
        ((0, None, 0, 14, 7, 7), True),
    ]
