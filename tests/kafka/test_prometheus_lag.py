"""The Kafka source's lag, scraped from Prometheus: per partition, and the oldest unacked age.

A real broker (Tansu), a real prometheus_client HTTP server on a free loopback port and a
scrape over HTTP; waits poll the scrape until it shows what the source has measured.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from rx_backpressure import Metrics, inspect, prometheus
from rx_backpressure.kafka import Record, from_topics
from rx_backpressure.testing import TestSubscriber

from ._broker import WAIT, consumer_config, topic_of, unique, wait_for

Lags = dict[tuple[str, str, str, str, str], float]
"""(family, stage, via, topic, partition) -> value, for the per-partition lag families;
``via`` is ``metrics`` for the source's Metrics, empty for its stage."""


@pytest.fixture
def scrape() -> Iterator[tuple[CollectorRegistry, str]]:
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield registry, f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
        assert not thread.is_alive()


def read(url: str) -> tuple[Lags, dict[str, float]]:
    """The per-partition lags, and the ages of the oldest unacked record by ``via``."""
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        text = response.read().decode()
    lags: Lags = {}
    ages: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name in ("rx_backpressure_kafka_lag", "rx_backpressure_kafka_position_lag"):
                key = (
                    sample.name,
                    labels["stage"],
                    labels.get("via", ""),
                    labels["topic"],
                    labels["partition"],
                )
                lags[key] = sample.value
            elif sample.name == "rx_backpressure_kafka_lag_seconds":
                ages[labels.get("via", "")] = sample.value
    return lags, ages


def test_the_sources_lag_per_partition_is_scraped_as_the_source_measures_it(
    broker: str, scrape: tuple[CollectorRegistry, str]
) -> None:
    # 10 records over 2 partitions, 5 each. Nothing asked for: everything lags. Then 10
    # asked for and only partition 0's acked: partition 1 still lags 5 behind the commits,
    # nothing behind the position, and its oldest unacked record has an age.
    registry, url = scrape
    topic = topic_of(broker, 2, 10)
    metrics = Metrics(labels={"via": "metrics"})
    config = consumer_config(broker, unique("group"))
    subscriber: TestSubscriber[Record] = TestSubscriber(0)
    source = from_topics(topic, config, metrics=metrics, lag_interval=0.1, commit_interval=0.1)
    subscription = source.subscribe(subscriber)
    try:
        stage = inspect(subscription)[0].name
        prometheus.register(subscription, metrics, registry=registry)

        def lags(lag0: int, lag1: int, position0: int, position1: int) -> Lags:
            found: Lags = {}
            for via in ("", "metrics"):  # from the stage's state; from its Metrics
                for family, p0, p1 in (
                    ("rx_backpressure_kafka_lag", lag0, lag1),
                    ("rx_backpressure_kafka_position_lag", position0, position1),
                ):
                    found[(family, stage, via, topic, "0")] = p0
                    found[(family, stage, via, topic, "1")] = p1
            return found

        wanted = lags(5, 5, 5, 5)
        wait_for(lambda: read(url)[0] == wanted, what=f"the scrape to show {wanted}")
        assert metrics.name == stage
        state = inspect(subscription)[0].state
        assert state["partition_lag"] == {(topic, 0): 5, (topic, 1): 5}
        assert state["partition_position_lag"] == {(topic, 0): 5, (topic, 1): 5}
        assert read(url)[1] == {"": 0, "metrics": 0}

        subscriber.request(10)
        wait_for(lambda: subscriber.received == 10, what="10 records")
        for record in subscriber.values:
            if record.partition == 0:
                record.ack()
        wanted = lags(0, 5, 0, 0)
        wait_for(lambda: read(url)[0] == wanted, what=f"the scrape to show {wanted}")
        wait_for(lambda: all(age > 0 for age in read(url)[1].values()), what="an age above 0")
        state = inspect(subscription)[0].state
        assert state["partition_lag"] == {(topic, 0): 0, (topic, 1): 5}
        assert state["partition_position_lag"] == {(topic, 0): 0, (topic, 1): 0}
    finally:
        subscription.dispose()
