"""What ``inspect`` reads of each operator and source of ours: exact figures at pinned
virtual times, the same with ``metrics=`` as without, and equal to the metrics' own.

Figures are ``(held, demand, pending, received, emitted, dropped)``. At every reading
received = emitted + held + dropped, plus one item refused by an overflow that failed the
stream (bounded_buffer, token_bucket, adaptive_batch, create). Readings are taken half a
frame after a frame's events (frame k is virtual time 200 + k).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _stage_kit import Figures, figures, read_at

import rx_backpressure as bp
from rx_backpressure import Pipeline, inspect
from rx_backpressure.testing import MarbleContext, TestSubscriber, marbles

UNBOUNDED = bp.UNBOUNDED


def last(readings: dict[int, Pipeline]) -> dict[int, Figures]:
    """The figures of the last stage (the operator under test) at each reading."""
    return {frame: figures(pipeline[-1]) for frame, pipeline in readings.items()}


def counted(metrics: bp.Metrics | None) -> dict[str, float] | None:
    """The metrics' counters (its gauges, depth and peak_depth, are set only where items
    are held, which depends on the core's fast paths, not on the operator)."""
    if metrics is None:
        return None
    return {
        name: value
        for name, value in metrics.snapshot().items()
        if name not in ("depth", "peak_depth")
    }


WITH_AND_WITHOUT_METRICS = pytest.mark.parametrize(
    "metrics", [None, "metrics"], ids=["without metrics", "with metrics"], indirect=True
)


@pytest.fixture
def metrics(request: pytest.FixtureRequest) -> bp.Metrics | None:
    return None if request.param is None else bp.Metrics()


# -- bounded_buffer ---------------------------------------------------------------------


@WITH_AND_WITHOUT_METRICS
def test_bounded_buffer_over_a_pull_source_counts_what_it_asked_for_and_holds(
    metrics: bp.Metrics | None,
) -> None:
    # Asked for 4, then 3 more once 3 have left (4 - 4 // 4): 7 read, 3 emitted, 4 held.
    subscriber: TestSubscriber[int] = TestSubscriber(3)
    flow = bp.from_iterable(range(10)).pipe(bp.bounded_buffer(4, metrics=metrics))
    subscription = flow.subscribe(subscriber)
    pipeline = inspect(subscription)
    assert pipeline.names == ("from_iterable(range(0, 10))", "bounded_buffer(4)")
    assert figures(pipeline[0]) == (0, 0, None, 7, 7, 0)
    assert figures(pipeline[1]) == (4, 0, 0, 7, 3, 0)
    assert pipeline[1].capacity == 4
    assert counted(metrics) in (
        None,
        {"received": 7, "emitted": 3, "requested": 7},
    )


@WITH_AND_WITHOUT_METRICS
def test_bounded_buffer_counts_the_item_its_overflow_refused(metrics: bp.Metrics | None) -> None:
    # a goes on; b and c are held; d finds no room: refused, and the stream fails after
    # b and c. received 4 = emitted + held + the refused d.
    with marbles() as m:
        source = m.hot("-a-b-c-d-e-|")
        readings = read_at(m, 8, 12)
        operator = bp.bounded_buffer(2, overflow="error", metrics=metrics)
        m.start(source.pipe(operator), demand="1---------1-1-")
    assert last(readings) == {8: (2, 0, None, 4, 1, 0), 12: (0, 0, 0, 4, 3, 0)}
    assert readings[12][-1].ended
    assert counted(metrics) in (None, {"received": 4, "emitted": 3})


# -- shed -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["tail", "head"])
@WITH_AND_WITHOUT_METRICS
def test_shed_counts_every_drop_with_or_without_metrics(
    strategy: Any, metrics: bp.Metrics | None
) -> None:
    # a meets demand; b and c fill the buffer; d and e each cost one item (d or b, e or c).
    with marbles() as m:
        source = m.hot("-a-b-c-d-e----")
        readings = read_at(m, 2, 8, 10, 12)
        m.start(
            source.pipe(bp.shed(2, strategy=strategy, metrics=metrics)), demand="1---------1-1-"
        )
    assert last(readings) == {
        2: (0, 0, None, 1, 1, 0),
        8: (2, 0, None, 4, 1, 1),
        10: (1, 0, None, 5, 2, 2),
        12: (0, 0, None, 5, 3, 2),
    }
    assert counted(metrics) in (
        None,
        {"received": 5, "emitted": 3, "dropped": 2},
    )


def test_shed_over_a_pull_source_has_asked_for_everything() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(2)
    subscription = bp.from_iterable(range(10)).pipe(bp.shed(3)).subscribe(subscriber)
    assert figures(inspect(subscription)[-1]) == (3, 0, UNBOUNDED, 10, 2, 5)


# -- token_bucket and rate_limit ----------------------------------------------------------


@WITH_AND_WITHOUT_METRICS
def test_token_bucket_shows_its_tokens_and_the_seconds_items_waited_for_them(
    metrics: bp.Metrics | None,
) -> None:
    # Five items at once into 2 tokens refilled at 1/s: a and b at 0, c at 1, d at 2, e at
    # 3. c waits 0-1, d 1-2, e 2-3: 3 s throttled in all, counted as the waits go on.
    with marbles() as m:
        source = m.hot("(a,b,c,d,e)")
        readings = read_at(m, 0, 1, 2, 3, 5)
        m.start(source.pipe(bp.token_bucket(2, 1.0, metrics=metrics)))
    assert last(readings) == {
        0: (3, UNBOUNDED, None, 5, 2, 0),
        1: (2, UNBOUNDED, None, 5, 3, 0),
        2: (1, UNBOUNDED, None, 5, 4, 0),
        3: (0, UNBOUNDED, None, 5, 5, 0),
        5: (0, UNBOUNDED, None, 5, 5, 0),
    }
    states = {frame: dict(pipeline[-1].state) for frame, pipeline in readings.items()}
    assert states == {
        0: {"tokens": 0.5, "throttled_seconds": 0.5},
        1: {"tokens": 0.5, "throttled_seconds": 1.5},
        2: {"tokens": 0.5, "throttled_seconds": 2.5},
        3: {"tokens": 0.5, "throttled_seconds": 3.0},
        5: {"tokens": 2.0, "throttled_seconds": 3.0},
    }
    # The metrics count a wait once it is over.
    assert counted(metrics) in (
        None,
        {"received": 5, "emitted": 5, "throttled_seconds": 3.0},
    )


@WITH_AND_WITHOUT_METRICS
def test_token_bucket_in_drop_mode_counts_the_drops(metrics: bp.Metrics | None) -> None:
    dropped: list[str] = []
    with marbles() as m:
        source = m.hot("(a,b,c,d,e)")
        readings = read_at(m, 0, 2)
        operator = bp.token_bucket(2, 1.0, mode="drop", on_drop=dropped.append, metrics=metrics)
        m.start(source.pipe(operator))
    assert last(readings) == {0: (0, UNBOUNDED, None, 5, 2, 3), 2: (0, UNBOUNDED, None, 5, 2, 3)}
    assert readings[0][-1].state == {"tokens": 0.5, "throttled_seconds": 0.0}
    assert readings[2][-1].state == {"tokens": 2.0, "throttled_seconds": 0.0}
    assert dropped == ["c", "d", "e"]
    assert counted(metrics) in (None, {"received": 5, "emitted": 2, "dropped": 3})


@WITH_AND_WITHOUT_METRICS
def test_token_bucket_in_error_mode_counts_the_item_it_refused(metrics: bp.Metrics | None) -> None:
    with marbles() as m:
        source = m.hot("(a,b,c,d,e)")
        readings = read_at(m, 0)
        m.start(source.pipe(bp.token_bucket(2, 1.0, mode="error", metrics=metrics)))
    assert last(readings) == {0: (0, 0, 0, 3, 2, 0)}
    assert counted(metrics) in (None, {"received": 3, "emitted": 2})


@WITH_AND_WITHOUT_METRICS
def test_rate_limit_over_a_pull_source_reads_one_item_ahead(metrics: bp.Metrics | None) -> None:
    with marbles() as m:
        readings = read_at(m, 0, 1, 2, 4)
        flow = bp.from_iterable("abcde").pipe(bp.rate_limit(1, metrics=metrics))
        m.start(flow, demand="3")
    assert last(readings) == {
        0: (1, 2, 0, 2, 1, 0),
        1: (1, 1, 0, 3, 2, 0),
        2: (0, 0, 0, 3, 3, 0),
        4: (0, 0, 0, 3, 3, 0),
    }
    states = {frame: dict(pipeline[-1].state) for frame, pipeline in readings.items()}
    assert states == {
        0: {"tokens": 0.5, "throttled_seconds": 0.5},
        1: {"tokens": 0.5, "throttled_seconds": 1.5},
        2: {"tokens": 0.5, "throttled_seconds": 2.0},
        4: {"tokens": 1.0, "throttled_seconds": 2.0},
    }
    assert counted(metrics) in (
        None,
        {
            "received": 3,
            "emitted": 3,
            "requested": 3,
            "throttled_seconds": 2.0,
        },
    )


# -- circuit_break ------------------------------------------------------------------------


class Service:
    """Down until told otherwise: each call raises."""

    def __init__(self) -> None:
        self.down = True

    def send(self, item: int) -> int:
        if self.down:
            raise ConnectionError(f"down, {item} not sent")
        return item * 10


def break_circuit(
    m: MarbleContext, on_failure: Any, metrics: bp.Metrics | None
) -> tuple[dict[int, Pipeline], bp.Flowable[int]]:
    # Two failures open the breaker at 0; the trial at 10 fails (the service is back at 15);
    # the trial at 20 succeeds and closes it.
    service = Service()
    m.scheduler.schedule_absolute(m.time(15), lambda *_: setattr(service, "down", False))
    readings = read_at(m, 0, 4, 12, 25)
    flow = bp.from_iterable(range(6)).pipe(
        bp.circuit_break(
            service.send,
            failure_threshold=2,
            reset_timeout=10.0,
            on_failure=on_failure,
            prefetch=4,
            metrics=metrics,
            name="send",
        )
    )
    return readings, flow


@WITH_AND_WITHOUT_METRICS
def test_circuit_break_shows_the_circuit_while_it_holds_items(metrics: bp.Metrics | None) -> None:
    with marbles() as m:
        readings, flow = break_circuit(m, "retry", metrics)
        result = m.start(flow, demand="3")
        assert result == m.exp("--------------------(A,B,C)", {"A": 0, "B": 10, "C": 20})
    assert last(readings) == {
        0: (4, 3, 0, 4, 0, 0),
        4: (4, 3, 0, 4, 0, 0),
        12: (4, 3, 0, 4, 0, 0),
        25: (3, 0, 1, 6, 3, 0),
    }
    states = {frame: dict(pipeline[-1].state) for frame, pipeline in readings.items()}
    assert states == {
        0: {"circuit": "open", "open_for": 0.5, "in_flight": 0, "failures": 2},
        4: {"circuit": "open", "open_for": 4.5, "in_flight": 0, "failures": 2},
        12: {"circuit": "open", "open_for": 12.5, "in_flight": 0, "failures": 3},  # trial at 10
        25: {"circuit": "closed", "open_for": 0.0, "in_flight": 0, "failures": 3},
    }
    assert counted(metrics) in (
        None,
        {
            "received": 6,
            "emitted": 3,
            "calls": 6,
            "failures": 3,
            "requested": 7,
        },
    )


@WITH_AND_WITHOUT_METRICS
def test_circuit_break_counts_skipped_items_as_dropped(metrics: bp.Metrics | None) -> None:
    with marbles() as m:
        readings, flow = break_circuit(m, "skip", metrics)
        m.start(flow, demand="3")
    assert last(readings) == {
        0: (2, 3, 0, 4, 0, 2),
        4: (2, 3, 0, 4, 0, 2),
        12: (1, 3, 0, 4, 0, 3),
        25: (0, 0, 0, 6, 3, 3),
    }
    assert counted(metrics) in (
        None,
        {
            "received": 6,
            "emitted": 3,
            "dropped": 3,
            "calls": 6,
            "failures": 3,
            "requested": 7,
        },
    )


def test_circuit_break_logs_opening_at_warning_and_half_open_and_closing_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    times: list[float] = []
    with marbles() as m:

        class Stamp(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                times.append(m.scheduler.clock - 200)
                return True

        stamp = Stamp()
        logger = logging.getLogger("rx_backpressure.circuit_break")
        logger.addFilter(stamp)
        try:
            with caplog.at_level(logging.INFO, logger=logger.name):
                _, flow = break_circuit(m, "retry", None)
                m.start(flow, demand="3")
        finally:
            logger.removeFilter(stamp)
    lines = [(r.levelname, r.name, r.getMessage()) for r in caplog.records]
    name = "rx_backpressure.circuit_break"
    assert list(zip(times, lines, strict=True)) == [
        (0, ("WARNING", name, "send: circuit opened after 2 failures; retry in 10 s")),
        (10, ("INFO", name, "send: circuit half-open, trying calls again")),
        (10, ("WARNING", name, "send: circuit opened again, a trial call failed; retry in 10 s")),
        (20, ("INFO", name, "send: circuit half-open, trying calls again")),
        (20, ("INFO", name, "send: circuit closed again, calls go ahead")),
    ]


def test_circuit_break_logs_no_transition_while_closed_and_nothing_below_its_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="rx_backpressure.circuit_break"), marbles() as m:
        _, flow = break_circuit(m, "retry", None)
        m.start(flow, demand="3")
    assert caplog.records == []
    # Every call fails, the breaker never opens: only the summaries of the skipped items,
    # the first at once and the rest when the stream ends.
    with caplog.at_level(logging.INFO, logger="rx_backpressure.circuit_break"):
        operator = bp.circuit_break(Service().send, on_failure="skip", failure_threshold=1000)
        bp.from_iterable(range(100)).pipe(operator).subscribe(TestSubscriber())
    summaries = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert summaries[0] == (
        "WARNING",
        "circuit_break(send, on_failure='skip') dropped 1 items (1 in all)",
    )
    assert summaries[1][0] == "WARNING"
    assert summaries[1][1].endswith("(100 in all)")
    assert len(summaries) == 2


# -- adaptive_batch -----------------------------------------------------------------------


@WITH_AND_WITHOUT_METRICS
def test_adaptive_batch_counts_items_in_and_batches_out(metrics: bp.Metrics | None) -> None:
    # emitted counts lists, as the subscriber receives them; emitted_items the items in them.
    with marbles() as m:
        source = m.hot("-a-b-c-d-e-f-g-|")
        readings = read_at(m, 4, 8, 16)
        operator = bp.adaptive_batch(
            initial_size=2, min_size=1, max_size=4, target_time=4.0, metrics=metrics
        )
        result = m.start(source.pipe(operator), demand="1-------1-------1-1")
        assert result == m.exp(
            "---x----y-------z-w",
            {"x": ["a", "b"], "y": ["c", "d"], "z": ["e"], "w": ["f"]},
        )
    assert last(readings) == {
        4: (0, 0, None, 2, 1, 0),
        8: (0, 0, None, 4, 2, 0),
        16: (2, 0, None, 7, 3, 0),
    }
    states = {frame: dict(pipeline[-1].state) for frame, pipeline in readings.items()}
    assert states == {
        4: {"batch_size": 2, "emitted_items": 2},
        8: {"batch_size": 2, "emitted_items": 4},
        16: {"batch_size": 1, "emitted_items": 5},
    }
    assert counted(metrics) in (
        None,
        {"received": 7, "emitted": 4, "batch_size": 1},
    )


@WITH_AND_WITHOUT_METRICS
def test_adaptive_batch_counts_the_item_it_had_no_room_for(metrics: bp.Metrics | None) -> None:
    # Nothing requested: a, b and c fill max_size=3; d is refused and the stream fails
    # behind the held three.
    with marbles() as m:
        source = m.hot("-a-b-c-d-e-")
        readings = read_at(m, 8)
        operator = bp.adaptive_batch(initial_size=2, min_size=1, max_size=3, metrics=metrics)
        m.start(source.pipe(operator), demand="")
    assert last(readings) == {8: (3, 0, None, 4, 0, 0)}
    assert counted(metrics) in (
        None,
        {"received": 4, "batch_size": 2},
    )


# -- map_async ----------------------------------------------------------------------------


def test_map_async_holds_its_calls_in_flight_and_the_results_waiting_for_order() -> None:
    async def main() -> list[tuple[Figures, dict[str, object]]]:
        done = {x: asyncio.Event() for x in range(4)}

        async def fetch(x: int) -> int:
            await done[x].wait()
            return x * 10

        readings: list[tuple[Figures, dict[str, object]]] = []

        def read() -> None:
            stage = inspect(subscription)[-1]
            readings.append((figures(stage), dict(stage.state)))

        async def settle() -> None:
            for _ in range(10):
                await asyncio.sleep(0)

        subscriber: TestSubscriber[int] = TestSubscriber(4)
        flow = bp.from_iterable(range(4)).pipe(bp.map_async(fetch, concurrency=3))
        subscription = flow.subscribe(subscriber)
        await settle()
        read()  # 0, 1 and 2 called
        done[1].set()
        done[2].set()
        await settle()
        read()  # 1 and 2 wait for 0
        done[0].set()
        await settle()
        read()  # 0, 1, 2 out; 3 called
        done[3].set()
        await settle()
        read()
        assert subscriber.values == [0, 10, 20, 30]
        return readings

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [
        ((3, 4, 0, 3, 0, 0), {"in_flight": 3}),
        ((3, 4, 0, 3, 0, 0), {"in_flight": 1}),
        ((1, 1, 0, 4, 3, 0), {"in_flight": 1}),
        ((0, 0, 0, 4, 4, 0), {"in_flight": 0}),
    ]
