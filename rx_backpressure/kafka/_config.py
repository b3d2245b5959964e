"""The client configs: checked at construction, with the source's own settings and defaults.

``from_topics`` owns ``enable.auto.commit`` (always false: only acked records are
committed). It sets a modest librdkafka fetch queue unless the config says otherwise:
librdkafka's defaults let one consumer prefetch up to 64 MiB (``queued.max.messages.kbytes``)
and 100,000 messages per partition (``queued.min.messages``) ahead of the application.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core import check_instance

CONSUMER_DEFAULTS: dict[str, Any] = {
    "queued.max.messages.kbytes": 8192,  # 8 MiB prefetched at most, for the whole consumer
    "queued.min.messages": 10_000,  # per partition
    # librdkafka waits this long to fetch again once the queue above is full: 1000 ms by
    # default, which with a modest queue would leave the consumer idle most of the time.
    "fetch.queue.backoff.ms": 20,
    "auto.offset.reset": "earliest",
}
"""librdkafka settings ``from_topics`` uses unless the config sets them."""

_TRUE = {"true", "1", "yes", "on"}


def check_config(name: str, config: object, *, consumer: bool) -> dict[str, Any]:
    """``config`` as a dict of librdkafka settings (str keys), checked for what we rely on."""
    check_instance(name, config, Mapping, "a Mapping of confluent-kafka settings")
    assert isinstance(config, Mapping)
    for key in config:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str, got {key!r}")
    settings = dict(config)
    servers = settings.get("bootstrap.servers")
    if not isinstance(servers, str) or not servers:
        raise ValueError(f"{name} must set 'bootstrap.servers', got {servers!r}")
    if consumer:
        group = settings.get("group.id")
        if not isinstance(group, str) or not group:
            raise ValueError(f"{name} must set 'group.id', got {group!r}")
        auto = settings.get("enable.auto.commit", False)
        if auto is True or (isinstance(auto, str) and auto.lower() in _TRUE):
            raise ValueError(
                f"{name} must not set 'enable.auto.commit' true (from_topics commits acked "
                f"records itself), got {auto!r}"
            )
    for serde in (
        ("key.deserializer", "value.deserializer")
        if consumer
        else ("key.serializer", "value.serializer")
    ):
        if serde in settings and not callable(settings[serde]):
            raise TypeError(f"{name}[{serde!r}] must be callable, got {settings[serde]!r}")
    return settings


def check_topic(name: str, topic: object) -> str:
    check_instance(name, topic, str, "a topic name (str)")
    assert isinstance(topic, str)
    if not topic:
        raise ValueError(f"{name} must be a non-empty topic name, got {topic!r}")
    return topic
