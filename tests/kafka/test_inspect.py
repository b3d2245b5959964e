"""from_topics and to_topic as ``inspect`` reads them: their names, the source's lag by
partition, the sink's items in flight; the same figures with ``metrics=`` as without."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reactivex import Observable

import rx_backpressure as bp
from rx_backpressure import Flowable, Metrics, StageSnapshot, inspect
from rx_backpressure.kafka import DeliveryReport, Record, from_topics, to_topic
from rx_backpressure.testing import TestSubscriber

from ._broker import WAIT, consumer_config, create_topic, topic_of, unique, wait_for

Sink = Callable[[Observable[Any]], Flowable[DeliveryReport]]

STATE_KEYS = {
    "assigned",
    "paused",
    "lag",
    "position_lag",
    "lag_seconds",
    "partition_lag",
    "partition_position_lag",
}


def test_the_source_is_named_by_its_topics_and_shows_its_lag_without_metrics(broker: str) -> None:
    # 10 records over 2 partitions. Nothing asked for: everything lags. Then 10 asked for
    # and partition 0's acked: partition 1 still lags 5 behind the commits, nothing behind
    # the position, and its oldest unacked record has an age.
    topic = topic_of(broker, 2, 10)
    config = consumer_config(broker, unique("group"))
    subscriber: TestSubscriber[Record] = TestSubscriber(0)
    source = from_topics(topic, config, lag_interval=0.1, commit_interval=0.1)
    subscription = source.subscribe(subscriber)
    try:
        pipeline = inspect(subscription)
        assert pipeline.names == (f"from_topics({topic!r})",)
        assert (pipeline[0].kind, pipeline[0].capacity) == ("source", 10_000)

        def state() -> dict[str, Any]:
            return dict(inspect(subscription)[0].state)

        wait_for(
            lambda: state().get("partition_lag") == {(topic, 0): 5, (topic, 1): 5},
            what="a lag of 5 on each partition",
        )
        found = state()
        assert set(found) == STATE_KEYS
        assert found["assigned"] == 2
        assert (found["lag"], found["position_lag"], found["lag_seconds"]) == (10, 10, 0.0)
        assert found["partition_position_lag"] == {(topic, 0): 5, (topic, 1): 5}

        subscriber.request(10)
        wait_for(lambda: subscriber.received == 10, what="10 records")
        for record in subscriber.values:
            if record.partition == 0:
                record.ack()
        wait_for(
            lambda: (
                state()["partition_lag"] == {(topic, 0): 0, (topic, 1): 5}
                and state()["lag_seconds"] > 0
            ),
            what="partition 0 committed, partition 1 lagging with an age",
        )
        found = state()
        assert found["partition_position_lag"] == {(topic, 0): 0, (topic, 1): 0}
        assert (found["lag"], found["position_lag"]) == (5, 0)
        stage = inspect(subscription)[0]
        assert (stage.held, stage.demand, stage.received, stage.emitted, stage.dropped) == (
            0,
            0,
            10,
            10,
            0,
        )
        wait_for(lambda: state()["paused"] == 2, what="the idle partitions paused")
        subscriber.assert_no_violations()
    finally:
        subscription.dispose()


def test_a_name_given_names_the_source_and_its_metrics(broker: str) -> None:
    topic = create_topic(broker, 1)
    metrics = Metrics()
    config = consumer_config(broker, unique("group"))
    source = from_topics([topic, topic + "-b"], config, max_poll=10, metrics=metrics)
    subscription = source.subscribe(TestSubscriber(0))
    try:
        assert inspect(subscription).names == (
            f"from_topics({topic!r}, {topic + '-b'!r}, max_poll=10)",
        )
        assert metrics.name == inspect(subscription)[0].name
    finally:
        subscription.dispose()
    named = from_topics(topic, config, name="orders").subscribe(TestSubscriber(0))
    try:
        assert inspect(named).names == ("orders",)
    finally:
        named.dispose()


@pytest.mark.parametrize("with_metrics", [False, True], ids=["without metrics", "with metrics"])
def test_the_sink_holds_what_is_in_flight_and_counts_as_its_metrics_do(
    broker: str, with_metrics: bool
) -> None:
    topic = unique("topic")
    metrics = Metrics() if with_metrics else None
    subscriber: TestSubscriber[DeliveryReport] = TestSubscriber(3)
    sink: Sink = to_topic(topic, {"bootstrap.servers": broker}, max_in_flight=5, metrics=metrics)
    subscription = bp.from_iterable(["x"] * 20).pipe(sink).subscribe(subscriber)
    try:
        pipeline = inspect(subscription)
        assert pipeline.names == ("from_iterable(list)", f"to_topic({topic!r}, max_in_flight=5)")
        assert pipeline[-1].capacity == 5

        def sink_stage() -> StageSnapshot:
            return inspect(subscription)[-1]

        # 3 reports taken, 5 more delivered and held for demand: nothing else produced.
        wait_for(
            lambda: sink_stage().held == 5 and sink_stage().state == {"in_flight": 0},
            what="5 reports held",
        )
        stage = sink_stage()
        assert (stage.held, stage.demand, stage.pending, stage.received, stage.emitted) == (
            5,
            0,
            0,
            8,
            3,
        )
        if metrics is not None:
            assert (metrics.get("received"), metrics.get("emitted")) == (8, 3)
        subscriber.request(17)
        assert subscriber.await_terminal(WAIT)
        stage = sink_stage()
        assert (stage.held, stage.received, stage.emitted, stage.ended) == (0, 20, 20, True)
        if metrics is not None:
            assert (metrics.get("received"), metrics.get("emitted")) == (20, 20)
        subscriber.assert_no_violations()
    finally:
        subscription.dispose()
