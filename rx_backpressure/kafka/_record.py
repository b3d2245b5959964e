"""Record (what ``from_topics`` emits) and DeliveryReport (what ``to_topic`` emits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, Message

from . import _ledger

if TYPE_CHECKING:
    from ._ledger import PartitionLedger

Headers = tuple[tuple[str, bytes | None], ...]

Polled = tuple[int, int, Any, Any, "float | None", Headers]
"""A record polled and not yet delivered: (its assignment's ``serial``, offset, key, value,
timestamp, headers). Plain values in a tuple, which the garbage collector stops tracking at
its first look (unless a deserializer made a container of the key or value), so the
records in flight between the poll thread and delivery cost the collections nothing;
the ``Record`` is built as it is delivered (``_source._TopicsDrain._emit``)."""


def headers_of(message: Message) -> Headers:
    """The message's headers as ``(name, value)`` pairs, values as bytes."""
    found = message.headers()
    if not found:
        return ()
    pairs = found.items() if isinstance(found, dict) else found
    return tuple((name, v.encode() if isinstance(v, str) else v) for name, v in pairs)


class Record:
    """One Kafka record, to be acknowledged with :meth:`ack` once it has been processed.

    ``key`` and ``value`` are bytes (or None), or what the config's ``key.deserializer``
    and ``value.deserializer`` made of them; ``timestamp`` is in seconds since the epoch
    (None if the broker gave none); ``headers`` is a tuple of ``(name, value)`` pairs.
    Only acknowledged records are committed, per partition up to the first one that is not.
    """

    __slots__ = ("_slot", "headers", "key", "offset", "timestamp", "value")

    offset: int
    key: Any
    value: Any
    timestamp: float | None
    headers: Headers

    def __init__(
        self,
        slot: PartitionLedger,
        offset: int,
        key: Any,
        value: Any,
        timestamp: float | None,
        headers: Headers,
    ) -> None:
        self._slot = slot
        self.offset = offset
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.headers = headers

    @property
    def topic(self) -> str:
        return self._slot.topic

    @property
    def partition(self) -> int:
        return self._slot.partition

    ack = _ledger.ack  # Mark this record processed, from any thread (see its docstring)

    def __repr__(self) -> str:
        return (
            f"Record(topic={self.topic!r}, partition={self.partition}, offset={self.offset}, "
            f"key={self.key!r}, value={self.value!r})"
        )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The broker's confirmation of one produced item: where it was written.

    ``error`` is always None in a report that is emitted: a failed delivery fails the
    stream with :class:`KafkaDeliveryError` instead.
    """

    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None
