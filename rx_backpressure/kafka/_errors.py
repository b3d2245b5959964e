"""The Kafka errors: both are :class:`BackpressureError`, with the client's error as cause."""

from __future__ import annotations

from confluent_kafka import KafkaError

from ..core import BackpressureError


class KafkaSourceError(BackpressureError):
    """``from_topics`` could not go on: no broker reachable within the client's timeouts,
    an authorization failure, a fatal client error, a topic that cannot be read, or a
    record that could not be deserialized (the message names its topic, partition and
    offset). ``error`` is the client's :class:`confluent_kafka.KafkaError`, if it gave one;
    the exception that caused it is ``__cause__``."""

    def __init__(self, message: str, error: KafkaError | None = None) -> None:
        super().__init__(message)
        self.error = error


class KafkaDeliveryError(BackpressureError):
    """``to_topic`` could not deliver ``item``: ``error`` is the broker's (or the client's)
    :class:`confluent_kafka.KafkaError`, after librdkafka's own retries."""

    def __init__(self, message: str, item: object, error: KafkaError | None = None) -> None:
        super().__init__(message)
        self.item = item
        self.error = error
