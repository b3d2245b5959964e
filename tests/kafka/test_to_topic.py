"""to_topic against a real broker: bounded in-flight, a report per item, failures named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import Observable

import rx_backpressure as bp
from rx_backpressure import BufferOverflowError, Flowable, Metrics
from rx_backpressure.kafka import DeliveryReport, KafkaDeliveryError, to_topic
from rx_backpressure.testing import TestSubscriber

from ._broker import WAIT, unique, wait_for

_T = TypeVar("_T")
Sink = Callable[[Observable[_T]], Flowable[DeliveryReport]]


def test_at_most_max_in_flight_are_unconfirmed_and_every_item_gets_its_report(
    broker: str,
) -> None:
    topic = unique("topic")
    metrics = Metrics()
    items = bp.from_iterable([b"%d" % i for i in range(2000)])
    sink: Sink[Any] = to_topic(
        topic, {"bootstrap.servers": broker}, max_in_flight=50, metrics=metrics
    )
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    items.pipe(sink).subscribe(subscriber)
    assert subscriber.await_terminal(WAIT)
    assert subscriber.completed
    reports = subscriber.values
    assert len(reports) == 2000
    assert metrics.get("peak_in_flight") == 50
    assert metrics.get("produced") == metrics.get("delivered") == 2000
    assert metrics.get("in_flight") == 0
    assert len({(r.partition, r.offset) for r in reports}) == 2000
    assert all(r.topic == topic and r.error is None for r in reports)
    subscriber.assert_no_violations()


def test_reports_follow_downstream_demand(broker: str) -> None:
    topic = unique("topic")
    metrics = Metrics()
    sink: Sink[Any] = to_topic(
        topic, {"bootstrap.servers": broker}, max_in_flight=5, metrics=metrics
    )
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber(3)
    subscription = bp.from_iterable(["x"] * 100).pipe(sink).subscribe(subscriber)
    try:
        wait_for(lambda: subscriber.received == 3 and metrics.get("delivered") == 8)
        # 3 reports taken, 5 more delivered and held for demand: nothing else produced.
        assert metrics.get("produced") == 8
        subscriber.request(97)
        assert subscriber.await_terminal(WAIT)
        assert subscriber.received == 100
    finally:
        subscription.dispose()


def test_keys_come_from_the_key_function(broker: str) -> None:
    topic = unique("topic")
    sink: Sink[Any] = to_topic(topic, {"bootstrap.servers": broker}, key=lambda item: str(item)[:1])
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    bp.from_iterable(["a1", "b2"]).pipe(sink).subscribe(subscriber)
    assert subscriber.await_terminal(WAIT)
    assert subscriber.completed
    assert len(subscriber.values) == 2


def test_a_full_local_producer_queue_waits_for_room(broker: str) -> None:
    topic = unique("topic")
    config = {"bootstrap.servers": broker, "queue.buffering.max.messages": 10}
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    bp.from_iterable([b"v"] * 100).pipe(to_topic(topic, config, max_in_flight=100)).subscribe(
        subscriber
    )
    assert subscriber.await_terminal(WAIT)
    assert subscriber.completed
    assert subscriber.received == 100
    assert len({(r.partition, r.offset) for r in subscriber.values}) == 100


def test_an_invalid_topic_fails_the_stream_naming_the_topic_and_the_item(broker: str) -> None:
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    sink: Sink[Any] = to_topic("not a topic!", {"bootstrap.servers": broker})
    bp.from_iterable([b"first"]).pipe(sink).subscribe(subscriber)
    assert subscriber.await_terminal(WAIT)
    [error] = subscriber.errors
    assert isinstance(error, KafkaDeliveryError)
    assert "'not a topic!'" in str(error)
    assert error.item == b"first"
    assert error.error is not None


def test_a_push_source_beyond_max_in_flight_meets_the_overflow_policy(broker: str) -> None:
    topic = unique("topic")
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    sink: Sink[Any] = to_topic(topic, {"bootstrap.servers": broker}, max_in_flight=10)
    reactivex.from_iterable([b"x"] * 1000).pipe(sink).subscribe(subscriber)
    assert subscriber.await_terminal(WAIT)
    [error] = subscriber.errors
    assert isinstance(error, BufferOverflowError)


def test_an_item_that_is_not_bytes_fails_the_stream(broker: str) -> None:
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    sink: Sink[Any] = to_topic(unique("topic"), {"bootstrap.servers": broker})
    bp.from_iterable([1.5]).pipe(sink).subscribe(subscriber)
    assert subscriber.await_terminal(WAIT)
    [error] = subscriber.errors
    assert isinstance(error, TypeError)
    assert "got 1.5" in str(error)


@pytest.mark.parametrize("setting", [{"acks": "not-a-setting-value"}])
def test_a_config_librdkafka_refuses_fails_the_stream(setting: dict[str, str]) -> None:
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber()
    sink: Sink[Any] = to_topic("t", {"bootstrap.servers": "127.0.0.1:9", **setting})
    bp.from_iterable([b"x"]).pipe(sink).subscribe(subscriber)
    assert subscriber.await_terminal(WAIT)
    assert len(subscriber.errors) == 1
