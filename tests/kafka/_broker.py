"""Helpers for the kafka tests: names, topics, records, committed offsets, waits.

Tansu joins a group in half of ``session.timeout.ms``: the tests use 6000 ms. Its answer to
a latest-offset query is off after batched writes, so ``produce`` writes each partition's
last record on its own (then a query and the fetch responses agree).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

SESSION_TIMEOUT_MS = 6000
WAIT = 20.0
"""Seconds any wait in these tests may take before it fails."""

_names = itertools.count()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def produce(broker: str, topic: str, count: int, partitions: int) -> None:
    """``count`` records ``b"0"``, ``b"1"``, ... spread round robin over ``partitions``;
    each partition's last record is written on its own."""
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    last = {i % partitions: i for i in range(count)}
    finals = set(last.values())
    for i in range(count):
        if i not in finals:
            producer.produce(topic, value=str(i).encode(), partition=i % partitions)
    assert producer.flush(WAIT) == 0
    for i in sorted(finals):
        producer.produce(topic, value=str(i).encode(), partition=i % partitions)
        assert producer.flush(WAIT) == 0


def consumer_config(broker: str, group: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": broker,
        "group.id": group,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        **extra,
    }


def committed(broker: str, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offset of each partition (-1001: none)."""
    reader = Consumer({"bootstrap.servers": broker, "group.id": group})
    try:
        found = reader.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=WAIT
        )
        return [tp.offset for tp in sorted(found, key=lambda tp: tp.partition)]
    finally:
        reader.close()


def wait_for(condition: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(0.01)


def create_topic(broker: str, partitions: int, name: str | None = None) -> str:
    """A fresh topic with ``partitions`` partitions (named ``name``, else a new name); its
    name."""
    name = name or unique("topic")
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(name, num_partitions=partitions)]).values():
        future.result(timeout=WAIT)
    return name


def topic_of(broker: str, partitions: int, records: int) -> str:
    """A fresh topic of ``partitions`` partitions holding ``records`` records, as
    :func:`produce` writes them; its name."""
    topic = create_topic(broker, partitions)
    produce(broker, topic, records, partitions)
    return topic
