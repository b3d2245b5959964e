"""Metrics: a stage name and labels, and snapshots on a clock (Metrics.stream)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex.operators as ops
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import Metrics
from rx_backpressure.testing import TestSubscriber


def test_a_stage_names_the_metrics_it_is_given_unless_they_have_a_name() -> None:
    unnamed = Metrics()
    named = Metrics("ingest", labels={"team": "data"})
    bp.from_iterable(range(3)).pipe(bp.bounded_buffer(4, metrics=unnamed)).subscribe(lambda _: None)
    bp.from_iterable(range(3)).pipe(bp.bounded_buffer(4, metrics=named)).subscribe(lambda _: None)
    assert unnamed.name == "bounded_buffer(4)"
    assert named.name == "ingest"
    assert named.labels == {"team": "data"}
    assert repr(named).startswith("Metrics('ingest', {")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"name": ""}, "name"), ({"name": 3}, "name"), ({"labels": {"a": 1}}, "labels")],
)
def test_bad_names_and_labels_fail_at_once(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        Metrics(**kwargs)


def test_stream_takes_a_snapshot_every_interval_on_the_scheduler() -> None:
    # from_iterable(range(10)) behind bounded_buffer(4), which reads 4 ahead and asks for 3
    # more once 3 are gone: the subscriber takes 2 at t=0 (4 read, 2 held), one at 15 (the
    # third: 3 more read, 4 held) and one at 25 (3 held). Snapshots at 10, 20 and 30.
    ts = TestScheduler()
    metrics = Metrics()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2, scheduler=ts)
    bp.from_iterable(range(10)).pipe(bp.bounded_buffer(4, metrics=metrics)).subscribe(
        subscriber, scheduler=ts
    )
    ts.schedule_absolute(15.0, lambda *_: subscriber.request(1))
    ts.schedule_absolute(25.0, lambda *_: subscriber.request(1))
    snapshots: list[tuple[float, float, float]] = []

    def record(snapshot: dict[str, float]) -> None:
        snapshots.append((ts.clock, snapshot["emitted"], snapshot["depth"]))

    metrics.stream(10.0, scheduler=ts).pipe(ops.take(3)).subscribe(record)
    ts.advance_to(40.0)
    assert snapshots == [
        (10.0, 2, 2),
        (20.0, 3, 4),
        (30.0, 4, 3),
    ]


def test_stream_rejects_a_bad_interval_or_scheduler() -> None:
    with pytest.raises(ValueError, match="interval"):
        Metrics().stream(0)
    with pytest.raises(TypeError, match="scheduler"):
        Metrics().stream(1.0, scheduler="soon")  # type: ignore[arg-type]


def test_stream_on_real_time_from_a_producer_thread() -> None:
    metrics = Metrics()
    got: list[dict[str, float]] = []
    three = threading.Event()

    def take(snapshot: dict[str, float]) -> None:
        got.append(snapshot)
        if len(got) == 3:
            three.set()

    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5)
    flow = bp.from_iterable(range(10)).pipe(bp.bounded_buffer(8, metrics=metrics))
    worker = threading.Thread(target=lambda: flow.subscribe(subscriber))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    stream = metrics.stream(0.02).subscribe(take)
    try:
        assert three.wait(timeout=10)
    finally:
        stream.dispose()
    assert [s["emitted"] for s in got[:3]] == [5, 5, 5]
