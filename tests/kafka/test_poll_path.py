"""The poll thread's own path: delivery on the poll thread, the keeper that polls while a
delivery holds it, commits that do not wait for the broker, and records read from one
topic, several, or a pattern."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from rx_backpressure import Metrics, Subscription, inspect
from rx_backpressure.kafka import Record, from_topics
from rx_backpressure.testing import TestSubscriber

from ._broker import (
    WAIT,
    committed,
    consumer_config,
    create_topic,
    produce,
    topic_of,
    unique,
    wait_for,
)


class Requesting:
    """Requests ``count`` records at once and hands each to ``each``."""

    def __init__(self, count: int, each: Callable[[Record], None]) -> None:
        self._count = count
        self._each = each
        self._subscription: Subscription | None = None

    @property
    def subscription(self) -> Subscription:
        assert self._subscription is not None
        return self._subscription

    def on_subscribe(self, subscription: Subscription) -> None:
        self._subscription = subscription
        subscription.request(self._count)

    def on_next(self, record: Record) -> None:
        self._each(record)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        raise AssertionError("a topic's records never end")


def test_a_delivery_that_takes_its_time_holds_the_poll_thread_and_the_keeper_pauses(
    broker: str,
) -> None:
    # Everything is asked for. The poll thread delivers its first poll itself, and the first
    # on_next waits: nothing more is polled, however much the broker has and the subscriber
    # asked, and once the delivery has lasted a second the keeper pauses the partition
    # (and polls it, paused, in the poll thread's place). When on_next returns, the rest
    # follows in order.
    topic = topic_of(broker, 1, 300)
    release = threading.Event()
    seen: list[int] = []
    threads: set[str] = set()

    def on_next(record: Record) -> None:
        threads.add(threading.current_thread().name)
        if not seen:
            assert release.wait(WAIT)
        seen.append(record.offset)
        record.ack()

    metrics = Metrics()
    source = from_topics(
        topic, consumer_config(broker, unique("group")), max_poll=20, metrics=metrics
    )
    subscription = source.subscribe(on_next)
    try:
        # 20 polled: 19 held, the first in the waiting on_next (counted when it returns).
        wait_for(lambda: inspect(subscription)[0].held == 19, what="one poll")
        wait_for(lambda: metrics.get("paused") == 1, what="the keeper's pause")
        threading.Event().wait(0.5)  # the poll thread reads no further
        stage = inspect(subscription)[0]
        assert (stage.held, stage.received, stage.emitted) == (19, 19, 0)
        assert stage.state["paused"] == 1
        release.set()
        wait_for(lambda: len(seen) == 300, what="all 300")
        assert seen == list(range(300))
        assert inspect(subscription)[0].held == 0
        assert metrics.get("paused") == 0  # resumed for the polls after the delivery
        assert threads == {"rx_backpressure-kafka"}  # no hop to another thread
    finally:
        release.set()
        subscription.dispose()


def test_an_on_next_that_outlasts_max_poll_interval_keeps_the_member_in_its_group(
    broker: str,
) -> None:
    # The first on_next takes longer than max.poll.interval.ms, on the poll thread: the
    # keeper polls meanwhile, so the member stays in the group with its partitions (no
    # rebalance), and reading goes on from where it stopped, nothing read twice.
    topic = topic_of(broker, 2, 100)
    metrics = Metrics()
    config = consumer_config(broker, unique("group"), **{"max.poll.interval.ms": 6000})
    release = threading.Event()
    seen: list[tuple[int, int]] = []

    def on_next(record: Record) -> None:
        if not seen:
            assert release.wait(WAIT)
        seen.append((record.partition, record.offset))
        record.ack()

    subscription = from_topics(topic, config, metrics=metrics).subscribe(on_next)
    try:
        wait_for(lambda: metrics.get("paused") == 2, what="the keeper's pause")
        threading.Event().wait(6.5)  # past max.poll.interval.ms, inside one on_next
        snapshot = metrics.snapshot()
        assert (snapshot["assigned"], snapshot["paused"], snapshot.get("revoked", 0)) == (2, 2, 0)
        release.set()
        wait_for(lambda: len(seen) == 100, what="all 100")
        threading.Event().wait(0.3)
        assert len(seen) == 100
        assert metrics.get("revoked") == 0
        for partition in (0, 1):
            assert [offset for p, offset in seen if p == partition] == list(range(50))
    finally:
        release.set()
        subscription.dispose()


def test_a_cancel_while_a_delivery_holds_the_poll_thread_leaves_the_group_at_once(
    broker: str,
) -> None:
    # Cancelled from another thread while on_next waits on the poll thread: the keeper
    # commits what was acked and closes the consumer then, not when on_next returns.
    topic = topic_of(broker, 1, 50)
    group = unique("group")
    release = threading.Event()
    seen: list[int] = []

    def on_next(record: Record) -> None:
        seen.append(record.offset)
        record.ack()
        if record.offset == 9:
            assert release.wait(WAIT)

    source = from_topics(topic, consumer_config(broker, group), max_poll=10, commit_every=5)
    subscription = source.subscribe(on_next)
    try:
        wait_for(lambda: seen[-1:] == [9], what="the tenth record")
        subscription.dispose()
        # Records 0..9 acked (the ack of 9 came before its on_next waits): committed by the
        # keeper's close, which is also the group's last word from this member.
        wait_for(lambda: committed(broker, group, topic, 1) == [10], what="the commit")
        assert not release.is_set()  # on_next still waits
    finally:
        release.set()
    assert seen == list(range(10))


def test_a_cancel_from_inside_on_next_on_the_poll_thread_commits_and_closes_once(
    broker: str,
) -> None:
    # The subscriber cancels from its on_next, which runs on the poll thread: nothing more
    # is emitted, what was acked is committed, both threads of the subscription end.
    topic = topic_of(broker, 1, 50)
    group = unique("group")
    seen: list[int] = []

    def on_next(record: Record) -> None:
        seen.append(record.offset)
        record.ack()
        if len(seen) == 5:
            five.subscription.cancel()

    five = Requesting(50, on_next)
    before = {thread.ident for thread in threading.enumerate()}
    from_topics(topic, consumer_config(broker, group), max_poll=10).subscribe(five)
    wait_for(lambda: committed(broker, group, topic, 1) == [5], what="the commit")

    def ended() -> bool:
        names = {t.name for t in threading.enumerate() if t.ident not in before}
        return not names & {"rx_backpressure-kafka", "rx_backpressure-kafka-keeper"}

    wait_for(ended, what="the poll thread and the keeper to end")
    assert seen == [0, 1, 2, 3, 4]


def test_records_waiting_for_delivery_are_plain_tuples_the_collector_stops_tracking(
    broker: str,
) -> None:
    # Held records are (serial, offset, key, value, timestamp, headers) tuples, which the
    # garbage collector untracks at its first look: a backlog in flight costs collections
    # nothing. The Record is built as it is delivered, and its ack commits as ever.
    topic = topic_of(broker, 1, 60)
    release = threading.Event()
    seen: list[Record] = []

    def on_next(record: Record) -> None:
        if not seen:
            assert release.wait(WAIT)
        seen.append(record)
        record.ack()

    slow = Requesting(60, on_next)
    group = unique("group")
    from_topics(topic, consumer_config(broker, group), max_poll=20).subscribe(slow)
    drain = slow.subscription
    try:
        wait_for(lambda: inspect(drain)[0].held == 19, what="a poll")
        held = list(drain._queue)  # type: ignore[attr-defined]
        gc.collect()
        assert [gc.is_tracked(entry) for entry in held] == [False] * 19
        assert [entry[1] for entry in held] == list(range(1, 20))  # offsets 1..19
        release.set()
        wait_for(lambda: len(seen) == 60, what="all 60")
        assert [record.offset for record in seen] == list(range(60))
        assert {(record.topic, record.partition) for record in seen} == {(topic, 0)}
        assert [record.value for record in seen] == [str(i).encode() for i in range(60)]
    finally:
        release.set()
        drain.cancel()  # commits what was acked
    assert committed(broker, group, topic, 1) == [60]


def test_periodic_commits_are_confirmed_and_heard_by_a_user_on_commit(broker: str) -> None:
    # commit_every=25 over 100 acks: the commits go out without waiting; each answer moves
    # the committed offset the lag is read against, and the user's own callback hears it.
    topic = topic_of(broker, 1, 100)
    group = unique("group")
    heard: list[int] = []
    lock = threading.Lock()

    def on_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        assert error is None
        with lock:
            heard.extend(tp.offset for tp in partitions)

    config: dict[str, Any] = consumer_config(broker, group, on_commit=on_commit)
    metrics = Metrics()
    subscriber: TestSubscriber[Record] = TestSubscriber(100)
    source = from_topics(
        topic, config, commit_every=25, commit_interval=60.0, lag_interval=0.1, metrics=metrics
    )
    subscription = source.subscribe(subscriber)
    try:
        wait_for(lambda: subscriber.received == 100, what="100 records")
        for record in subscriber.values:
            record.ack()
        wait_for(lambda: 100 in heard, what="the commit of all 100")
        assert heard == sorted(heard)  # commit points only move forward
        assert committed(broker, group, topic, 1) == [100]
        wait_for(lambda: metrics.get("lag") == 0, what="lag 0 against the confirmed commit")
        assert metrics.get("commits") >= 1
    finally:
        subscription.dispose()


def test_records_of_several_topics_and_of_a_pattern_carry_their_own_topic(broker: str) -> None:
    prefix = unique("pattern")
    first, second = f"{prefix}-a", f"{prefix}-b"
    for topic, count in ((first, 30), (second, 20)):
        create_topic(broker, 2, topic)
        produce(broker, topic, count, 2)
    expected = {
        (topic, i % 2, i // 2, str(i).encode())
        for topic, count in ((first, 30), (second, 20))
        for i in range(count)
    }
    for topics in ([first, second], f"^{prefix}-.*"):
        assert read_all(broker, topics, 50) == expected


def read_all(broker: str, topics: str | list[str], count: int) -> set[tuple[str, int, int, Any]]:
    """(topic, partition, offset, value) of the first ``count`` records of ``topics``."""
    subscriber: TestSubscriber[Record] = TestSubscriber(count)
    subscription = from_topics(topics, consumer_config(broker, unique("group"))).subscribe(
        subscriber
    )
    try:
        wait_for(lambda: subscriber.received == count, what=f"{count} records of {topics}")
        return {(r.topic, r.partition, r.offset, r.value) for r in subscriber.values}
    finally:
        subscription.dispose()
