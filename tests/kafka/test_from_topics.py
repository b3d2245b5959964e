"""from_topics against a real broker: demand is polls, commits follow acks, lag is measured."""

from __future__ import annotations

import random
import time

from confluent_kafka import Producer

from rx_backpressure import Metrics
from rx_backpressure.kafka import Record, from_topics
from rx_backpressure.testing import TestSubscriber

from ._broker import (
    WAIT,
    committed,
    consumer_config,
    create_topic,
    topic_of,
    unique,
    wait_for,
)


def _offsets(records: list[Record], partition: int) -> list[int]:
    return [r.offset for r in records if r.partition == partition]


def test_request_n_emits_exactly_n_and_no_demand_past_max_poll_interval_keeps_the_member(
    broker: str,
) -> None:
    topic = topic_of(broker, 2, 100)
    metrics = Metrics()
    config = consumer_config(broker, unique("group"), **{"max.poll.interval.ms": 6000})
    subscriber: TestSubscriber[Record] = TestSubscriber(10)
    subscription = from_topics(topic, config, metrics=metrics).subscribe(subscriber)
    try:
        wait_for(lambda: subscriber.received == 10, what="10 records")
        # Past max.poll.interval.ms with nothing requested: paused, still in the group.
        time.sleep(6.5)
        assert subscriber.received == 10
        snapshot = metrics.snapshot()
        assert snapshot["assigned"] == 2
        assert snapshot["paused"] == 2
        assert snapshot.get("revoked", 0) == 0
        subscriber.request(90)
        wait_for(lambda: subscriber.received == 100, what="100 records")
        time.sleep(0.3)
        assert subscriber.received == 100
        assert metrics.get("revoked") == 0
        records = subscriber.values
        for partition in (0, 1):  # no rebalance: read on from where it paused, nothing twice
            assert _offsets(records, partition) == list(range(50))
        subscriber.assert_no_violations()
    finally:
        subscription.dispose()


def test_only_acked_records_are_committed_up_to_the_first_gap_of_each_partition(
    broker: str,
) -> None:
    topic = topic_of(broker, 2, 1000)
    group = unique("group")
    subscriber: TestSubscriber[Record] = TestSubscriber(1000)
    subscription = from_topics(topic, consumer_config(broker, group)).subscribe(subscriber)
    wait_for(lambda: subscriber.received == 1000, what="1000 records")
    by_partition = {p: [r for r in subscriber.values if r.partition == p] for p in (0, 1)}
    # 600 acks, out of order: partition 0 acks 0-300 but not 250, partition 1 acks 0-299.
    acks = [r for r in by_partition[0][:301] if r.offset != 250] + by_partition[1][:300]
    random.Random(7).shuffle(acks)
    assert len(acks) == 600
    for record in acks:
        record.ack()
    subscription.dispose()  # commits the acks and leaves the group
    wait_for(lambda: committed(broker, group, topic, 2) == [250, 300], what="the commit")

    start = time.monotonic()
    again: TestSubscriber[Record] = TestSubscriber(1000)
    second = from_topics(topic, consumer_config(broker, group)).subscribe(again)
    try:
        wait_for(lambda: again.received == 450, what="the records not committed")
        # A member that had not left would hold the partitions for session.timeout.ms.
        assert time.monotonic() - start < 5.5
        time.sleep(0.2)
        assert again.received == 450
        assert _offsets(again.values, 0) == list(range(250, 500))
        assert _offsets(again.values, 1) == list(range(300, 500))
    finally:
        second.dispose()


def test_polling_stops_at_max_unacked_and_acks_resume_it(broker: str) -> None:
    topic = create_topic(broker, 1)
    producer = Producer({"bootstrap.servers": broker})
    for i in range(200):
        stamp = 1_700_000_000_000 + i
        producer.produce(topic, key=b"k", value=b"%d" % i, headers=[("h", b"1")], timestamp=stamp)
    assert producer.flush(WAIT) == 0
    config = consumer_config(broker, unique("group"))
    subscriber: TestSubscriber[Record] = TestSubscriber(200)
    subscription = from_topics(topic, config, max_unacked=50).subscribe(subscriber)
    try:
        wait_for(lambda: subscriber.received == 50, what="50 records")
        record = subscriber.values[3]
        assert (record.topic, record.partition, record.offset) == (topic, 0, 3)
        assert (record.key, record.value, record.headers) == (b"k", b"3", (("h", b"1"),))
        assert record.timestamp == 1_700_000_000.003
        time.sleep(0.5)
        assert subscriber.received == 50
        for record in subscriber.values[:20]:
            record.ack()
        subscriber.values[0].ack()  # a second ack does nothing
        wait_for(lambda: subscriber.received == 70, what="20 more")
        time.sleep(0.3)
        assert subscriber.received == 70
        for record in subscriber.values[20:]:
            record.ack()
        wait_for(lambda: subscriber.received == 120, what="50 more")
        time.sleep(0.3)
        assert subscriber.received == 120
        assert [r.offset for r in subscriber.values] == list(range(120))
    finally:
        subscription.dispose()


def test_lag_counts_what_is_not_committed_and_its_age(broker: str) -> None:
    topic = topic_of(broker, 2, 1000)
    metrics = Metrics()
    config = consumer_config(broker, unique("group"))
    subscriber: TestSubscriber[Record] = TestSubscriber(0)
    source = from_topics(topic, config, metrics=metrics, lag_interval=0.1, commit_interval=0.1)
    subscription = source.subscribe(subscriber)
    try:
        wait_for(lambda: metrics.get("lag") == 1000, what="lag 1000")
        assert metrics.get(f"lag.{topic}.0") == 500
        assert metrics.get("position_lag") == 1000
        assert metrics.get("lag_seconds") == 0
        subscriber.request(1000)
        wait_for(lambda: subscriber.received == 1000, what="1000 records")
        wait_for(lambda: metrics.get("position_lag") == 0, what="position lag 0")
        assert metrics.get("lag") == 1000  # read, not acked: nothing committed
        first = metrics.get("lag_seconds")
        time.sleep(0.3)
        wait_for(lambda: metrics.get("lag_seconds") >= first + 0.25, what="lag_seconds growing")
        for record in subscriber.values:
            record.ack()
        wait_for(lambda: metrics.get("lag") == 0, what="lag 0")
        assert metrics.get("lag_seconds") == 0
        assert metrics.get(f"lag.{topic}.1") == 0
    finally:
        subscription.dispose()


def test_a_rebalance_commits_acks_first_and_a_partition_assigned_while_paused_starts_paused(
    broker: str,
) -> None:
    topic = topic_of(broker, 2, 200)
    group = unique("group")
    first_metrics, second_metrics = Metrics(), Metrics()
    first: TestSubscriber[Record] = TestSubscriber(10)
    second: TestSubscriber[Record] = TestSubscriber(0)
    one = from_topics(topic, consumer_config(broker, group), metrics=first_metrics)
    two = from_topics(topic, consumer_config(broker, group), metrics=second_metrics)
    first_subscription = one.subscribe(first)
    second_subscription = None
    try:
        wait_for(lambda: first.received == 10, what="10 records")
        for record in first.values[:6]:
            record.ack()
        expected = [
            max([r.offset + 1 for r in first.values[:6] if r.partition == p], default=-1001)
            for p in (0, 1)
        ]
        wait_for(lambda: first_metrics.get("paused") == 2, what="the first member paused")
        second_subscription = two.subscribe(second)
        wait_for(
            lambda: first_metrics.get("assigned") == 1 and second_metrics.get("assigned") == 1,
            what="the partitions shared",
        )
        assert first_metrics.get("revoked") >= 2  # the eager protocol revokes all, then assigns
        assert committed(broker, group, topic, 2) == expected  # acks committed on revocation
        # Neither member has demand: both hold their partition paused, the first one at once.
        assert first_metrics.get("paused") == 1
        wait_for(lambda: second_metrics.get("paused") == 1, what="the second member paused")
        assert second.received == 0
    finally:
        first_subscription.dispose()
        if second_subscription is not None:
            second_subscription.dispose()


def test_a_cooperative_rebalance_moves_only_some_partitions_and_commits_their_acks_first(
    broker: str,
) -> None:
    # cooperative-sticky: a second member takes two of the first member's four partitions;
    # only those two are revoked (the eager protocol revokes all four), and their acked
    # records are committed as they go. No periodic commit runs meanwhile (400 acks are
    # fewer than commit_every, and commit_interval is a minute).
    topic = topic_of(broker, 4, 400)
    group = unique("group")
    config = consumer_config(
        broker, group, **{"partition.assignment.strategy": "cooperative-sticky"}
    )
    first_metrics, second_metrics = Metrics(), Metrics()
    first: TestSubscriber[Record] = TestSubscriber(400)
    second: TestSubscriber[Record] = TestSubscriber(0)
    one, two = (
        from_topics(topic, config, commit_interval=60.0, lag_interval=0.1, metrics=metrics)
        for metrics in (first_metrics, second_metrics)
    )
    first_subscription = one.subscribe(first)
    second_subscription = None
    try:
        wait_for(lambda: first.received == 400, what="400 records")
        for record in first.values:
            record.ack()
        second_subscription = two.subscribe(second)
        wait_for(
            lambda: first_metrics.get("assigned") == 2 and second_metrics.get("assigned") == 2,
            what="the partitions shared",
        )
        assert first_metrics.get("revoked") == 2
        wait_for(lambda: any(k.startswith("lag.") for k in second_metrics.snapshot()), what="lag")
        moved = sorted(
            int(k.rsplit(".", 1)[1]) for k in second_metrics.snapshot() if k.startswith("lag.")
        )
        offsets = committed(broker, group, topic, 4)
        assert [offsets[p] for p in moved] == [100, 100]  # committed on revocation
        kept = [p for p in range(4) if p not in moved]
        assert [offsets[p] for p in kept] == [-1001, -1001]  # not yet: no commit was due
    finally:
        first_subscription.dispose()
        if second_subscription is not None:
            second_subscription.dispose()
