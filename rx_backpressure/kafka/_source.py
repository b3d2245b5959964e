"""from_topics: a consumer-group source that polls only for what was requested.

Each subscription is one consumer in the group, polled by a thread of its own, which
delivers what it polled itself when nothing else is delivering (else the loop's owner,
such as a subscriber requesting on its own thread, does). However long ``on_next`` takes,
the consumer goes on heartbeating and polling (paused): once a delivery has held the poll
thread for a second, a keeper thread polls in its place until it returns::

    from_topics("orders", config, max_poll=500)
    request:   3-------------2--------
    poll:      (3)-----------(2)------      consume(3), later consume(2)
    output:    (a,b,c)-------(d,e)----
    partitions: resumed, then paused while nothing is requested

    acks:      ack(a) ack(c)          ack(b)
    commit:    a+1                    c+1    (per partition: up to the first unacked)

Records are committed only once acked: per partition the offset after the longest gap-free
run of acked records, every ``commit_every`` acks (at the poll thread's next turn, which
takes the acks into its ledger: at once while records flow, within 0.1 s while it waits)
or ``commit_interval`` seconds, on cancel, on the end of the stream and when the
partition is revoked (the periodic commits without waiting for the broker's answer, the
others waiting for it). At most
``max_unacked`` records are polled and not acked; at the bound polling stops (the consumer
stays in the group) until acks come back. At most ``2 * max_poll`` polled records wait
for delivery, however much was requested. Records of a revoked partition that were polled
but not yet emitted are dropped: its new owner reads them again.

Defaults: ``max_poll=500``, ``max_unacked=10_000``, ``commit_every=1_000``,
``commit_interval=5.0``, ``lag_interval=1.0``, ``metrics=None``, ``name=None`` (its call,
e.g. ``from_topics('orders')``). The config gets
``enable.auto.commit=false`` and, unless it sets them, a modest librdkafka fetch queue
(``queued.max.messages.kbytes=8192``, ``queued.min.messages=10000``,
``fetch.queue.backoff.ms=20``) and ``auto.offset.reset=earliest``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reactivex import abc

from ..core import (
    Drain,
    Flowable,
    Metrics,
    Subscriber,
    Subscription,
    call_name,
    check_instance,
    check_int,
    check_metrics,
    check_seconds,
    stage_name,
)
from ._config import CONSUMER_DEFAULTS, check_config, check_topic
from ._ledger import Ledger
from ._poller import Poller
from ._record import Polled, Record

_log = logging.getLogger("rx_backpressure.kafka")

_new = object.__new__


def from_topics(
    topics: str | Sequence[str],
    config: Mapping[str, Any],
    *,
    max_poll: int = 500,
    max_unacked: int = 10_000,
    commit_every: int = 1_000,
    commit_interval: float = 5.0,
    lag_interval: float = 1.0,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Flowable[Record]:
    """A Flowable of the records of ``topics``, read by one group member per subscription.

    ``config`` is confluent-kafka's (``bootstrap.servers`` and ``group.id`` required; a
    ``key.deserializer``/``value.deserializer`` callable is applied to each record).
    Errors that no retry mends (no broker reachable for ``session.timeout.ms``, an
    authorization failure, a fatal client error, a topic that cannot be read, a record that
    cannot be deserialized) reach ``on_error`` as :class:`KafkaSourceError`. Cancelling
    commits what was acked and closes the consumer, which leaves the group at once.
    ``metrics`` gets the drain's counts, ``assigned``, ``paused``, ``revoked``, ``commits``
    and the lag gauges (see ``docs/kafka.md``). ``name`` is the stage's name in ``inspect``
    (default: its call), whose state shows ``assigned``, ``paused`` (partitions),
    ``lag``, ``position_lag``, ``lag_seconds`` and, per ``(topic, partition)``,
    ``partition_lag`` and ``partition_position_lag``.
    """
    if isinstance(topics, str):
        names = [check_topic("topics", topics)]
    else:
        check_instance("topics", topics, Sequence, "a topic name or a sequence of them")
        names = [check_topic(f"topics[{i}]", topic) for i, topic in enumerate(topics)]
        if not names:
            raise ValueError(f"topics must name at least one topic, got {topics!r}")
    settings = {**CONSUMER_DEFAULTS, **check_config("config", config, consumer=True)}
    check_int("max_poll", max_poll)
    check_int("max_unacked", max_unacked)
    check_int("commit_every", commit_every)
    check_seconds("commit_interval", commit_interval)
    check_seconds("lag_interval", lag_interval)
    check_metrics(metrics)

    def default_name() -> str:
        options = {
            key: value
            for key, value, default in (
                ("max_poll", max_poll, 500),
                ("max_unacked", max_unacked, 10_000),
            )
            if value != default
        }
        return call_name("from_topics", *names, **options)

    label = stage_name(name, default_name)

    def subscribe(
        subscriber: Subscriber[Record], scheduler: abc.SchedulerBase | None
    ) -> Subscription:
        ledger = Ledger(max_unacked, commit_every)
        drain = _TopicsDrain(subscriber, ledger, max_poll, metrics, label)
        poller = Poller(
            drain,
            ledger,
            names,
            settings,
            max_poll=max_poll,
            commit_interval=commit_interval,
            lag_interval=lag_interval,
            metrics=metrics,
        )
        drain.poller = poller
        drain.start(None, scheduler)
        if not drain.ended:
            poller.start()
        return drain

    return Flowable(subscribe)


class _TopicsDrain(Drain[Polled, Record]):
    """Holds polled records until they are delivered, and builds each one's ``Record`` as
    it goes out (see ``Polled``): on the poll thread as it hands them over, when the loop is
    free, else on the thread that owns the loop (one that requested, say)."""

    _log_as = _log.name

    def __init__(
        self,
        downstream: Subscriber[Record],
        ledger: Ledger,
        max_poll: int,
        metrics: Metrics | None,
        name: str | None = None,
    ):
        super().__init__(downstream, metrics=metrics, name=name)
        self._ledger = ledger
        self._max_poll = max_poll
        self.poller: Poller | None = None

    @property
    def ended(self) -> bool:
        return self._cancelled

    # -- from the poll thread -------------------------------------------------------------

    def deliver(self, records: list[Polled]) -> None:
        self._accept_batch(records)

    def fail(self, error: Exception) -> None:
        self._upstream_terminated(error)

    def now(self) -> float:
        return self._now()

    def wall_clock(self) -> float:
        return self.clock.now.timestamp()

    # -- hooks, on the loop's owner ---------------------------------------------------------

    def _on_request(self, n: int) -> None:
        self._ledger.add_demand(n)

    def _emit(self, on_next: Callable[[Record], None], limit: int) -> int:
        queue = self._queue
        serials = self._ledger.serials  # live assignments only (changed under its lock)
        emitted = dropped = 0
        while emitted < limit:
            try:
                polled = queue.popleft()
            except IndexError:
                break
            slot = serials.get(polled[0])
            if slot is None:  # its partition was revoked: the new owner reads it
                dropped += 1
                continue
            # Record's fields set here rather than by its __init__: a call less a record.
            record = _new(Record)
            record._slot = slot
            _, record.offset, record.key, record.value, record.timestamp, record.headers = polled
            try:
                on_next(record)
            except Exception:
                self._refused = emitted + 1
                raise
            emitted += 1
            if self._cancelled:
                break
        self._ledger.delivered(emitted + dropped, self._max_poll)
        if dropped:
            self._ledger.give_back(dropped)
            self._revoked(dropped)
        return emitted

    def _revoked(self, count: int) -> None:
        """``count`` held records of revoked partitions were let go: counted as dropped, but
        not summarised as a loss (their partition's new owner reads them again)."""
        with self._lock:
            self._dropped += count
        if self._metrics is not None:
            self._metrics.increment("dropped", count)
        _log.info("%s: let go of %d records of revoked partitions", self._name, count)

    # -- what inspect() sees --------------------------------------------------------------

    def _stage_capacity(self) -> int | None:
        return self._ledger.max_unacked

    def _stage_state(self) -> dict[str, object]:
        poller = self.poller
        if poller is None:
            return {}
        reading = poller.lag
        return {
            "assigned": poller.assigned,
            "paused": poller.paused,
            "lag": reading.lag,
            "position_lag": reading.position_lag,
            "lag_seconds": reading.lag_seconds,
            "partition_lag": dict(reading.partitions),
            "partition_position_lag": dict(reading.positions),
        }

    def _release(self) -> None:
        self._ledger.stop()
        if self.poller is not None:
            self.poller.stop()
