"""Drops summarised on the stage's logger: once per interval on its clock, never per item."""

from __future__ import annotations

import logging
import threading

import pytest
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure.core import _logs
from rx_backpressure.testing import TestSubscriber


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    return [(r.levelname, r.name, r.getMessage()) for r in caplog.records]


def test_drops_are_summarised_once_per_interval_and_once_at_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # shed(1) with one item requested: the item at t=1 goes through, the one at t=2 is
    # held, and those at t=3..30 are dropped. The first drop (t=3) is logged at once; the
    # next summary waits for t=13 (10 s later), then t=23; the subscriber asks for the
    # held item at t=40, the stream ends, and the last 7 drops are logged then.
    assert _logs.DROP_LOG_INTERVAL == 10.0
    ts = TestScheduler()
    subject: Subject[int] = Subject()
    for t in range(1, 31):
        ts.schedule_absolute(float(t), lambda *_, t=t: subject.on_next(t))
    ts.schedule_absolute(30.5, lambda *_: subject.on_completed())
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    ts.schedule_absolute(40.0, lambda *_: subscriber.request(1))
    subject.pipe(bp.shed(1, name="gate")).subscribe(subscriber, scheduler=ts)
    with caplog.at_level(logging.WARNING, logger="rx_backpressure"):
        ts.advance_to(50.0)
    assert subscriber.values == [1, 2]
    assert lines(caplog) == [
        ("WARNING", "rx_backpressure.shed", "gate dropped 1 items (1 in all)"),
        ("WARNING", "rx_backpressure.shed", "gate dropped 10 items in the last 10 s (11 in all)"),
        ("WARNING", "rx_backpressure.shed", "gate dropped 10 items in the last 10 s (21 in all)"),
        ("WARNING", "rx_backpressure.shed", "gate dropped 7 items in the last 17 s (28 in all)"),
    ]


def test_drops_from_several_threads_are_all_in_the_summaries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Four threads push 2,500 items each into shed(10) with nothing requested: 10 held,
    # 9,990 dropped. The summaries' last total is the stage's own count.
    subject: Subject[int] = Subject()
    lock = threading.Lock()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    subscription = subject.pipe(bp.shed(10, name="gate")).subscribe(subscriber)

    def push() -> None:
        for value in range(2_500):
            with lock:  # a Subject's on_next calls must not overlap (rule 1.3)
                subject.on_next(value)

    with caplog.at_level(logging.WARNING, logger="rx_backpressure"):
        threads = [threading.Thread(target=push) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
        subscription.dispose()
    stage = bp.inspect(subscription)["gate"]
    assert (stage.received, stage.dropped) == (10_000, 9_990)
    messages = [message for _, _, message in lines(caplog)]
    assert messages[0] == "gate dropped 1 items (1 in all)"
    assert messages[-1].endswith("(9990 in all)")
    assert sum(int(m.split(" dropped ")[1].split(" ")[0]) for m in messages) == 9_990


def emit_fifty(emitter: bp.Emitter[int]) -> None:
    for value in range(50):
        emitter.next(value)


def test_nothing_is_logged_when_the_level_is_off_and_drops_are_still_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ts = TestScheduler()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    logging.getLogger("rx_backpressure").setLevel(logging.ERROR)
    try:
        with caplog.at_level(logging.ERROR, logger="rx_backpressure"):
            subject = bp.create(emit_fifty, name="src")
            subscription = subject.pipe(bp.shed(2, name="gate")).subscribe(subscriber, scheduler=ts)
    finally:
        logging.getLogger("rx_backpressure").setLevel(logging.NOTSET)
    assert caplog.records == []
    assert bp.inspect(subscription)["gate"].dropped == 47
