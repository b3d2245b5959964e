"""Lag, read on the poll thread every ``lag_interval`` seconds: for ``inspect`` (a
:class:`LagReading`, swapped whole) and into the metrics, if any.

Per assigned partition, with ``high`` its high watermark: ``lag`` is ``high`` minus the
group's committed offset (the log start where nothing is committed), ``position_lag`` is
``high`` minus the consumer's position (the committed offset before the first fetch). The
high watermark is the one the last fetch response carried (librdkafka keeps it); only a
partition that has not been fetched yet is asked for it, a broker round trip. Totals are
``lag``, ``position_lag`` and ``lag_seconds`` (now minus the timestamp of the oldest
unacked record, 0 when none); per partition ``lag.<topic>.<partition>`` and
``position_lag.<topic>.<partition>`` in the metrics, ``partitions`` and ``positions``
(``(topic, partition) -> lag``) in the reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ..core import Metrics
from ._ledger import Ledger

if TYPE_CHECKING:
    from ._poller import Sink

_QUERY_TIMEOUT = 1.0
"""Seconds a watermark or committed-offset query may take before this reading skips it."""


@dataclass(frozen=True)
class LagReading:
    """One lag reading (see the module notes): totals, and per ``(topic, partition)``."""

    lag: int = 0
    position_lag: int = 0
    lag_seconds: float = 0.0
    partitions: Mapping[tuple[str, int], int] = field(default_factory=dict)
    positions: Mapping[tuple[str, int], int] = field(default_factory=dict)

    def without(self, gone: set[tuple[str, int]]) -> LagReading:
        """This reading less the partitions ``gone`` (revoked or lost)."""
        partitions = {key: lag for key, lag in self.partitions.items() if key not in gone}
        positions = {key: lag for key, lag in self.positions.items() if key not in gone}
        return LagReading(
            sum(partitions.values()),
            sum(positions.values()),
            self.lag_seconds,
            partitions,
            positions,
        )


class LagReader:
    def __init__(self, consumer: Consumer, ledger: Ledger, sink: Sink, metrics: Metrics | None):
        self._consumer = consumer
        self._ledger = ledger
        self._sink = sink
        self._metrics = metrics
        self._assigned_once = False
        self.reading = LagReading()  # the last one, replaced whole: read from any thread

    def forget(self, gone: set[tuple[str, int]]) -> None:
        """Partitions revoked or lost: out of the reading at once (the poll thread)."""
        self.reading = self.reading.without(gone)

    def refresh(self) -> None:
        metrics = self._metrics
        consumer, ledger = self._consumer, self._ledger
        with ledger.lock:
            slots = list(ledger.partitions.values())
        if not slots and not self._assigned_once:
            return  # still joining the group: no reading yet
        self._assigned_once = True
        unread = [slot for slot in slots if slot.committed is None]
        if unread:
            self._read_committed(unread)
        positions = {}
        if slots:
            try:
                found = consumer.position([TopicPartition(s.topic, s.partition) for s in slots])
                positions = {(tp.topic, tp.partition): tp.offset for tp in found}
            except KafkaException:
                pass
        total = position_total = 0
        partitions: dict[tuple[str, int], int] = {}
        by_position: dict[tuple[str, int], int] = {}
        for slot in slots:
            tp = TopicPartition(slot.topic, slot.partition)
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                try:
                    low, high = consumer.get_watermark_offsets(tp, timeout=_QUERY_TIMEOUT)
                except KafkaException:
                    continue
            committed = (
                slot.committed
                if slot.committed is not None and slot.committed >= 0
                else max(low, 0)
            )
            position = positions.get((slot.topic, slot.partition), -1)
            if position < 0:
                position = committed
            lag, position_lag = max(high - committed, 0), max(high - position, 0)
            total += lag
            position_total += position_lag
            partitions[(slot.topic, slot.partition)] = lag
            by_position[(slot.topic, slot.partition)] = position_lag
        oldest = ledger.oldest_unacked()
        age = max(self._sink.wall_clock() - oldest, 0.0) if oldest else 0.0
        self.reading = LagReading(total, position_total, age, partitions, by_position)
        if metrics is None:
            return
        for (topic, partition), lag in partitions.items():
            metrics.set(f"lag.{topic}.{partition}", lag)
            metrics.set(f"position_lag.{topic}.{partition}", by_position[(topic, partition)])
        metrics.set("lag", total)
        metrics.set("position_lag", position_total)
        metrics.set("lag_seconds", age)

    def _read_committed(self, slots: list) -> None:  # type: ignore[type-arg]
        try:
            found = self._consumer.committed(
                [TopicPartition(s.topic, s.partition) for s in slots], timeout=_QUERY_TIMEOUT
            )
        except KafkaException:
            return
        offsets = {(tp.topic, tp.partition): tp.offset for tp in found}
        with self._ledger.lock:
            for slot in slots:
                if slot.committed is None:
                    slot.committed = max(offsets.get((slot.topic, slot.partition), -1), -1)
