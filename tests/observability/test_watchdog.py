"""watchdog(): where flow stops, reported once per stall and once when it clears.

Readings every 5 s of virtual time from the moment the watchdog starts (t=0); a stall is
reported at the first reading at least ``stall_after`` (30 s) after the last reading in
which anything moved.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from _stage_kit import Service, shed_then_breaker
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import Stall, watchdog
from rx_backpressure.testing import TestSubscriber


def reports_of(stalls: list[Stall]) -> list[tuple[float, float, bool, str, str]]:
    return [(s.at, s.since, s.cleared, s.stage, s.message) for s in stalls]


def test_an_open_breaker_is_named_with_its_waiting_items_then_cleared() -> None:
    # t=0: 5 results delivered; the first reading (t=5) sees that movement. t=1: the
    # service goes down and the subscriber asks for 10: two failures open the breaker,
    # which holds 2 items and asks nothing upstream; a trial at 31 fails (open again).
    # t=35 is the first reading 30 s after t=5: the stall. The service is back at 40;
    # the trial at 61 succeeds, the 10 flow, and the reading at 65 clears the stall.
    ts = TestScheduler()
    service = Service()
    flow = shed_then_breaker(ts, service, "circuit_break(send)")
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    stalls: list[Stall] = []
    watchdog(subscription, stall_after=30.0, scheduler=ts, check_every=5.0, on_stall=stalls.append)

    def outage(*_: Any) -> None:
        service.down = True
        subscriber.request(10)

    ts.schedule_absolute(1.0, outage)
    ts.schedule_absolute(40.0, lambda *_: setattr(service, "down", False))
    ts.advance_to(100.0)
    assert reports_of(stalls) == [
        (
            35.0,
            5.0,
            False,
            "circuit_break(send)",
            "circuit_break(send): open for 34 s, 2 items waiting, 0 requested upstream;"
            " nothing emitted for 30 s",
        ),
        (65.0, 5.0, True, "circuit_break(send)", "circuit_break(send): flowing again after 60 s"),
    ]
    assert not stalls[0].subscriber
    assert stalls[0].pipeline["circuit_break(send)"].held == 2
    assert subscriber.values == [x + 1 for x in range(15)]


def test_a_source_that_stops_answering_is_named() -> None:
    # create(): the producer sends 3 items at t=0, then nothing; the subscriber asked 8.
    ts = TestScheduler()

    def producer(emitter: bp.Emitter[int]) -> None:
        for value in range(3):
            emitter.next(value)

    flow = bp.create(producer, name="read_rows").pipe(bp.bounded_buffer(16, name="buffer"))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=8, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    stalls: list[Stall] = []
    watchdog(subscription, stall_after=30.0, scheduler=ts, check_every=5.0, on_stall=stalls.append)
    ts.advance_to(100.0)
    # Nothing moved after the watchdog's first reading (t=0), so the stall is at t=30:
    # bounded_buffer waits for the 16 it asked for, 3 came; the source owes 13.
    assert reports_of(stalls) == [
        (30.0, 0.0, False, "read_rows", "read_rows: 13 requested, nothing received for 30 s")
    ]


def test_a_subscriber_that_stops_requesting_is_named_not_a_stage() -> None:
    ts = TestScheduler()
    flow = bp.from_iterable(range(100), name="rows").pipe(bp.bounded_buffer(16, name="buffer"))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=4, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    stalls: list[Stall] = []
    watchdog(subscription, stall_after=30.0, scheduler=ts, check_every=5.0, on_stall=stalls.append)
    ts.schedule_absolute(12.0, lambda *_: subscriber.request(2))
    ts.advance_to(100.0)
    # The request at 12 moves 2 items (seen at 15); the stall is at 45.
    assert reports_of(stalls) == [
        (
            45.0,
            15.0,
            False,
            "subscriber",
            "the subscriber requested nothing for 30 s; 10 items waiting in buffer",
        )
    ]
    assert stalls[0].subscriber


def test_nothing_is_reported_while_flow_moves_or_after_the_end() -> None:
    ts = TestScheduler()
    flow = bp.from_iterable(range(10), name="rows").pipe(bp.bounded_buffer(4, name="buffer"))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    stalls: list[Stall] = []
    watchdog(subscription, stall_after=30.0, scheduler=ts, check_every=5.0, on_stall=stalls.append)
    for t in range(10, 100, 10):
        ts.schedule_absolute(float(t), lambda *_: subscriber.request(1))
    ts.advance_to(200.0)
    assert subscriber.values == list(range(10))
    assert subscriber.completed
    assert stalls == []


def test_the_stall_goes_to_the_logger_at_warning_and_its_end_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ts = TestScheduler()
    flow = bp.from_iterable(range(100), name="rows").pipe(bp.bounded_buffer(16, name="buffer"))
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=4, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    watchdog(subscription, stall_after=10.0, scheduler=ts, check_every=5.0)
    ts.schedule_absolute(30.0, lambda *_: subscriber.request(1))
    with caplog.at_level(logging.INFO, logger="rx_backpressure.watchdog"):
        ts.advance_to(29.0)
    assert [(r.levelname, r.name, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "rx_backpressure.watchdog",
            "stall: the subscriber requested nothing for 10 s; 12 items waiting in buffer",
        ),
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rx_backpressure.watchdog"):
        ts.advance_to(39.0)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "subscriber: flowing again after 30 s"),
    ]


def test_a_failing_on_stall_is_logged_and_the_watch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ts = TestScheduler()
    flow = bp.from_iterable(range(100), name="rows")
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    seen: list[Stall] = []

    def on_stall(stall: Stall) -> None:
        seen.append(stall)
        raise RuntimeError("alerting is down")

    watchdog(subscription, stall_after=10.0, scheduler=ts, check_every=5.0, on_stall=on_stall)
    ts.schedule_absolute(20.0, lambda *_: subscriber.request(1))
    with caplog.at_level(logging.ERROR, logger="rx_backpressure.watchdog"):
        ts.advance_to(30.0)
    # stalled at 10, cleared by the item requested at 20, stalled again at 30
    assert [(s.at, s.cleared) for s in seen] == [(10.0, False), (20.0, True), (30.0, False)]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 3
    assert errors[0].exc_info is not None
    assert "alerting is down" in str(errors[0].exc_info[1])


def test_disposing_stops_the_watch() -> None:
    ts = TestScheduler()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    subscription = bp.from_iterable(range(9), name="rows").subscribe(subscriber, scheduler=ts)
    stalls: list[Stall] = []
    watch = watchdog(subscription, stall_after=10.0, scheduler=ts, on_stall=stalls.append)
    watch.dispose()
    ts.advance_to(100.0)
    assert stalls == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stall_after": 0}, ValueError, "stall_after"),
        ({"stall_after": "5"}, TypeError, "stall_after"),
        ({"stall_after": 5.0, "check_every": -1.0}, ValueError, "check_every"),
        ({"stall_after": 5.0, "on_stall": 3}, TypeError, "on_stall"),
        ({"stall_after": 5.0, "scheduler": "now"}, TypeError, "scheduler"),
    ],
)
def test_bad_settings_fail_at_once_naming_the_parameter(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    subscription = bp.from_iterable(range(3)).subscribe(TestSubscriber(initial_request=1))
    with pytest.raises(error, match=match):
        watchdog(subscription, **kwargs)


def test_on_real_time_a_stalled_producer_thread_is_reported_and_cleared() -> None:
    # A producer thread feeds create(); it stops for a while; the watchdog runs on real
    # time (its own timer threads). Every wait below has a timeout.
    resume = threading.Event()
    reported = threading.Event()
    cleared = threading.Event()

    def producer(emitter: bp.Emitter[int]) -> None:
        def run() -> None:
            for value in range(5):
                emitter.next(value)
            resume.wait(timeout=10)
            for value in range(5, 10):
                emitter.next(value)
            emitter.complete()

        threading.Thread(target=run, daemon=True).start()

    stalls: list[Stall] = []

    def on_stall(stall: Stall) -> None:
        stalls.append(stall)
        (cleared if stall.cleared else reported).set()

    taken: list[int] = []
    done = threading.Event()
    flow = bp.create(producer, name="feed")
    subscription = flow.subscribe(taken.append, on_completed=done.set)
    watch = watchdog(subscription, stall_after=0.2, check_every=0.05, on_stall=on_stall)
    try:
        assert reported.wait(timeout=10)
        assert stalls[0].stage == "feed"
        assert stalls[0].message.startswith("feed: unbounded requested, nothing received for")
        resume.set()
        assert cleared.wait(timeout=10)
        assert done.wait(timeout=10)
    finally:
        resume.set()
        watch.dispose()
    assert taken == list(range(10))
