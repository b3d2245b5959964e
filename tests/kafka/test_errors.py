"""from_topics: what reaches on_error, and what is refused at construction."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest
from confluent_kafka.serialization import SerializationContext

from rx_backpressure import BackpressureError, Metrics
from rx_backpressure.kafka import KafkaSourceError, Record, embedded_broker, from_topics, to_topic
from rx_backpressure.testing import TestSubscriber

from ._broker import (
    committed,
    consumer_config,
    create_topic,
    free_port,
    produce,
    topic_of,
    unique,
    wait_for,
)

CONFIG = {"bootstrap.servers": "127.0.0.1:9", "group.id": "g"}


def test_a_broker_that_cannot_be_reached_fails_the_stream_after_the_session_timeout() -> None:
    config = {
        "bootstrap.servers": f"127.0.0.1:{free_port()}",
        "group.id": unique("group"),
        "session.timeout.ms": 500,
        "heartbeat.interval.ms": 100,
        "log_level": 0,
    }
    subscriber: TestSubscriber[Record] = TestSubscriber(1)
    subscription = from_topics("anything", config).subscribe(subscriber)
    try:
        assert subscriber.await_terminal(10)
        [error] = subscriber.errors
        assert isinstance(error, KafkaSourceError)
        assert isinstance(error, BackpressureError)
        assert "no Kafka broker reachable" in str(error)
        assert error.__cause__ is not None
    finally:
        subscription.dispose()


def test_a_broker_lost_mid_run_fails_the_stream_after_the_session_timeout() -> None:
    # A broker of its own, stopped once all 50 records were read, acked and committed, with
    # one more record asked for. librdkafka retries meanwhile (a broker that takes a moment
    # to stop may even see the member lose its partition and get it back, reading on from
    # the commit); once the brokers have been down for session.timeout.ms, the stream fails.
    group = unique("group")
    subscriber: TestSubscriber[Record] = TestSubscriber(10)
    with embedded_broker() as lost:
        topic = create_topic(lost, 1)
        produce(lost, topic, 50, 1)
        config = consumer_config(lost, group, **{"session.timeout.ms": 2000, "log_level": 0})
        subscription = from_topics(topic, config, commit_interval=0.1).subscribe(subscriber)
        wait_for(lambda: subscriber.received == 10, what="10 records")
        subscriber.request(41)  # one more than the topic holds
        wait_for(lambda: subscriber.received == 50, what="50 records")
        for record in subscriber.values:
            record.ack()
        wait_for(lambda: committed(lost, group, topic, 1) == [50], what="the commit")
    try:
        assert subscriber.await_terminal(20)
        [error] = subscriber.errors
        assert isinstance(error, KafkaSourceError)
        assert "no Kafka broker reachable" in str(error)
        assert f"{lost!r}" in str(error)
        assert [(r.offset, r.value) for r in subscriber.values] == [
            (i, str(i).encode()) for i in range(50)
        ]
    finally:
        subscription.dispose()


def test_a_topic_that_cannot_exist_fails_the_stream_naming_it(broker: str) -> None:
    subscriber: TestSubscriber[Record] = TestSubscriber(1)
    config = consumer_config(broker, unique("group"))
    subscription = from_topics("not a topic!", config).subscribe(subscriber)
    try:
        assert subscriber.await_terminal(10)
        [error] = subscriber.errors
        assert isinstance(error, KafkaSourceError)
        assert "'not a topic!'" in str(error)
        assert error.error is not None
    finally:
        subscription.dispose()


def test_a_deserializer_error_names_the_topic_partition_and_offset(broker: str) -> None:
    topic = topic_of(broker, 1, 3)

    def decode(data: bytes | None, _: SerializationContext) -> int:
        number = int(data or b"")
        if number == 2:
            raise ValueError("two is not allowed")
        return number

    config = consumer_config(broker, unique("group"), **{"value.deserializer": decode})
    subscriber: TestSubscriber[Record] = TestSubscriber(10)
    subscription = from_topics(topic, config).subscribe(subscriber)
    try:
        assert subscriber.await_terminal(20)
        assert [r.value for r in subscriber.values] == [0, 1]
        [error] = subscriber.errors
        assert isinstance(error, KafkaSourceError)
        assert f"topic {topic!r}, partition 0, offset 2" in str(error)
        assert isinstance(error.__cause__, ValueError)
    finally:
        subscription.dispose()


def test_an_error_in_on_next_reaches_on_error_and_the_consumer_closes(broker: str) -> None:
    topic = topic_of(broker, 1, 3)
    metrics = Metrics()
    errors: list[Exception] = []

    def process(record: Record) -> None:
        raise RuntimeError(f"cannot process {record.offset}")

    source = from_topics(topic, consumer_config(broker, unique("group")), metrics=metrics)
    source.subscribe(process, errors.append)
    wait_for(lambda: bool(errors), what="the error")
    assert str(errors[0]) == "cannot process 0"


BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"topics": ""}, ValueError, "topics must be a non-empty topic name, got ''"),
    ({"topics": 5}, TypeError, "topics must be a topic name or a sequence of them, got 5"),
    ({"topics": []}, ValueError, "topics must name at least one topic, got []"),
    ({"topics": ["a", 3]}, TypeError, "topics[1] must be a topic name (str), got 3"),
    ({"config": None}, TypeError, "config must be a Mapping of confluent-kafka settings"),
    ({"config": {"group.id": "g"}}, ValueError, "config must set 'bootstrap.servers'"),
    ({"config": {"bootstrap.servers": "h:1"}}, ValueError, "config must set 'group.id'"),
    (
        {"config": {**CONFIG, "enable.auto.commit": True}},
        ValueError,
        "config must not set 'enable.auto.commit' true",
    ),
    (
        {"config": {**CONFIG, "enable.auto.commit": "true"}},
        ValueError,
        "got 'true'",
    ),
    (
        {"config": {**CONFIG, "value.deserializer": 3}},
        TypeError,
        "config['value.deserializer'] must be callable, got 3",
    ),
    ({"max_poll": 0}, ValueError, "max_poll must be >= 1, got 0"),
    ({"max_poll": 1.5}, TypeError, "max_poll must be an int, got 1.5"),
    ({"max_unacked": 0}, ValueError, "max_unacked must be >= 1, got 0"),
    ({"commit_every": True}, TypeError, "commit_every must be an int, got True"),
    ({"commit_interval": 0}, ValueError, "commit_interval must be > 0, got 0"),
    ({"lag_interval": -1.0}, ValueError, "lag_interval must be > 0, got -1.0"),
    ({"metrics": {}}, TypeError, "metrics must be None or an rx_backpressure.Metrics, got {}"),
]


@pytest.mark.parametrize(("change", "kind", "message"), BAD, ids=[m for _, _, m in BAD])
def test_from_topics_checks_every_parameter_at_construction(
    change: dict[str, Any], kind: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"topics": "t", "config": CONFIG, **change}
    with pytest.raises(kind) as raised:
        from_topics(**arguments)
    assert message in str(raised.value)


SINK_BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"topic": ""}, ValueError, "topic must be a non-empty topic name, got ''"),
    ({"topic": b"t"}, TypeError, "topic must be a topic name (str), got b't'"),
    ({"config": {}}, ValueError, "config must set 'bootstrap.servers', got None"),
    ({"config": {1: 2}}, TypeError, "config keys must be str, got 1"),
    ({"max_in_flight": 0}, ValueError, "max_in_flight must be >= 1, got 0"),
    ({"key": "k"}, TypeError, "key must be callable or None, got 'k'"),
    ({"metrics": 1}, TypeError, "metrics must be None or an rx_backpressure.Metrics, got 1"),
]


@pytest.mark.parametrize(("change", "kind", "message"), SINK_BAD, ids=[m for _, _, m in SINK_BAD])
def test_to_topic_checks_every_parameter_at_construction(
    change: dict[str, Any], kind: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"topic": "t", "config": {"bootstrap.servers": "h:1"}, **change}
    with pytest.raises(kind) as raised:
        to_topic(**arguments)
    assert message in str(raised.value)


def test_importing_without_confluent_kafka_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("rx_backpressure.kafka"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    with pytest.raises(ImportError, match=r"pip install 'rx-backpressure\[kafka\]'"):
        importlib.import_module("rx_backpressure.kafka")


def test_the_public_names_are_complete_and_sorted() -> None:
    import rx_backpressure.kafka as kafka

    assert kafka.__all__ == sorted(kafka.__all__)
    public = {name for name in vars(kafka) if not name.startswith("_")}
    assert public == set(kafka.__all__)
