"""to_topic: produce each item to a topic, with at most ``max_in_flight`` unconfirmed.

Upstream is asked for ``max_in_flight`` items, then for one more per delivery report that
has gone downstream, so the items produced and not yet reported never exceed the bound::

    to_topic("events", config, max_in_flight=2)
    upstream:  a-b-------c---d---|
    requests:  2---------1---1
    produced:  a-b-------c---d
    reports:   ----ra-rb-----rc--rd|     in completion order; completion waits for them

A push upstream that finds ``max_in_flight`` items unconfirmed fails with
``BufferOverflowError`` (put ``bounded_buffer`` or ``shed`` before it to choose another
policy); nothing queues without bound. librdkafka's own queue being full (``BufferError``)
makes the producing thread wait for room. A failed delivery (after librdkafka's retries)
fails the stream with :class:`KafkaDeliveryError`, naming the item and the broker's error.

Defaults: ``max_in_flight=10_000``, ``key=None`` (no key), ``metrics=None``, ``name=None``
(its call, e.g. ``to_topic('out')``). Items are str or bytes unless the config has a
``value.serializer`` (and ``key.serializer`` for keys).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import reactivex
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.serialization import MessageField, SerializationContext
from reactivex import Observable, abc

from ..core import (
    Drain,
    Flowable,
    Metrics,
    Subscriber,
    call_name,
    check_callable,
    check_int,
    check_metrics,
    lift,
    stage_name,
)
from ._config import check_config, check_topic
from ._errors import KafkaDeliveryError
from ._record import DeliveryReport

_T = TypeVar("_T")

IDLE = 0.1
"""Seconds the delivery-report thread waits at most in one ``poll``."""


def to_topic(
    topic: str,
    config: Mapping[str, Any],
    *,
    max_in_flight: int = 10_000,
    key: Callable[[_T], str | bytes | None] | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[DeliveryReport]]:
    """Produce every item to ``topic``; emit a :class:`DeliveryReport` for each.

    ``config`` is confluent-kafka's producer config (``bootstrap.servers`` required).
    ``key(item)`` gives each message's key. ``metrics`` gets ``produced``, ``delivered``,
    ``in_flight`` (produced, not yet reported downstream) and ``peak_in_flight``. ``name``
    is the stage's name in ``inspect`` (default: its call), which holds the items in flight
    and the reports waiting for demand, and whose state shows ``in_flight``.
    """
    check_topic("topic", topic)
    settings = check_config("config", config, consumer=False)
    check_int("max_in_flight", max_in_flight)
    check_callable("key", key, allow_none=True)
    check_metrics(metrics)
    options = {} if max_in_flight == 10_000 else {"max_in_flight": max_in_flight}
    label = stage_name(name, lambda: call_name("to_topic", topic, **options))

    def make(downstream: Subscriber[DeliveryReport]) -> Drain[_T, DeliveryReport]:
        return _TopicSink(downstream, topic, settings, max_in_flight, key, metrics, label)

    return lift(make)


class _TopicSink(Drain[_T, DeliveryReport]):
    """Produces what arrives; holds the reports (in the drain's queue) for downstream."""

    _log_as = "rx_backpressure.kafka"

    def __init__(
        self,
        downstream: Subscriber[DeliveryReport],
        topic: str,
        settings: dict[str, Any],
        max_in_flight: int,
        key: Callable[[_T], str | bytes | None] | None,
        metrics: Metrics | None,
        name: str | None = None,
    ) -> None:
        super().__init__(downstream, metrics=metrics, name=name)
        settings = dict(settings)
        self._key_serde = settings.pop("key.serializer", None)
        self._value_serde = settings.pop("value.serializer", None)
        self._settings = settings
        self._topic = topic
        self._max = max_in_flight
        self._key = key
        self._prefetch = max_in_flight
        self._in_flight = 0  # produced and not yet reported (under the lock)
        self._peak = 0
        self._failed = False
        self._stopped = threading.Event()
        self._producer: Producer | None = None

    def start(self, source: Observable[_T] | None, scheduler: abc.SchedulerBase | None) -> None:
        try:
            self._producer = Producer(self._settings)
        except Exception as err:  # a config librdkafka refuses: the stream fails at once
            super().start(reactivex.throw(err), scheduler)
            return
        threading.Thread(target=self._serve, name="rx_backpressure-kafka-sink", daemon=True).start()
        super().start(source, scheduler)

    # -- upstream (its thread) ------------------------------------------------------------

    def on_next(self, value: _T) -> None:
        producer = self._producer
        assert producer is not None
        try:
            payload = self._serialize(value)
        except Exception as err:  # the user's key function or serializer, or a bad item
            self._count_in(1)
            if self._metrics is not None:
                self._metrics.increment("received")
            self._stop_upstream(err)
            return
        with self._lock:
            if self._done or self._cancelled:
                return
            full = self._in_flight + len(self._queue) >= self._max
            if not full:
                self._received += 1
                self._in_flight += 1
                unconfirmed = self._in_flight + len(self._queue)
                self._peak = max(self._peak, unconfirmed)
                if self._metrics is not None:
                    self._metrics.increment("received")
                    self._metrics.increment("produced")
                    self._metrics.set("in_flight", unconfirmed)
                    self._metrics.set("peak_in_flight", self._peak)
        if full:
            self._overflow(value)
            return

        def report(error: KafkaError | None, message: Message) -> None:
            self._on_delivery(value, error, message)

        key, data = payload
        while True:
            try:
                producer.produce(self._topic, value=data, key=key, on_delivery=report)
                return
            except BufferError:  # librdkafka's queue is full: serve reports to make room
                if self._stopped.is_set():
                    return
                producer.poll(IDLE)
            except KafkaException as err:
                self._on_delivery(value, err.args[0] if err.args else None, None)
                return

    def _serialize(self, value: _T) -> tuple[Any, Any]:
        key = self._key(value) if self._key is not None else None
        if self._key_serde is not None:
            key = self._key_serde(key, SerializationContext(self._topic, MessageField.KEY))
        if self._value_serde is not None:
            data = self._value_serde(value, SerializationContext(self._topic, MessageField.VALUE))
        elif isinstance(value, str | bytes) or value is None:
            data = value
        else:
            raise TypeError(
                f"to_topic({self._topic!r}) produces str or bytes items (or set a "
                f"'value.serializer' in the config), got {value!r}"
            )
        return key, data

    # -- delivery reports (the report thread) ---------------------------------------------

    def _serve(self) -> None:
        producer = self._producer
        assert producer is not None
        while not self._stopped.is_set():
            producer.poll(IDLE)
        producer.purge()  # cancelled or failed: whatever is still queued is not wanted

    def _on_delivery(self, item: _T, error: KafkaError | None, message: Message | None) -> None:
        if error is not None or message is None:
            with self._lock:
                self._in_flight -= 1
                self._failed = True
            reason = error.str() if isinstance(error, KafkaError) else repr(error)
            self._violate(
                KafkaDeliveryError(
                    f"could not deliver {item!r} to topic {self._topic!r}: {reason}", item, error
                )
            )
            return
        partition, offset = message.partition(), message.offset()
        assert partition is not None
        assert offset is not None
        report = DeliveryReport(self._topic, partition, offset)
        with self._lock:
            self._in_flight -= 1
            if self._cancelled:
                return
            # The drain holds reports, not upstream's items (those go to librdkafka).
            cast("deque[Any]", self._queue).append(report)
        if self._metrics is not None:
            self._metrics.increment("delivered")
        self.drain()

    # -- hooks (the loop's owner) ---------------------------------------------------------

    def _holding(self) -> bool:
        # Completion waits for every report (a flush); a failure does not.
        return bool(self._queue) or (self._in_flight > 0 and not self._failed)

    def _on_emitted(self, count: int) -> None:
        if self._metrics is not None:
            with self._lock:
                self._metrics.set("in_flight", self._in_flight + len(self._queue))
        self._request_upstream(count)

    def _release(self) -> None:
        self._stopped.set()

    # -- what inspect() sees --------------------------------------------------------------

    def _held_count(self) -> int:
        # Items produced and reports not yet emitted; what is in flight at the end is purged.
        return 0 if self._finished else self._in_flight + len(self._queue)

    def _stage_state(self) -> dict[str, object]:
        return {"in_flight": self._in_flight}
