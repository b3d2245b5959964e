"""The poll thread of one ``from_topics`` subscription, which polls its consumer and hands
the records to the subscription's drain, and its keeper, which polls in its place while a
delivery holds it.

It polls for at most ``min(demand not yet polled for, max_poll, max_unacked - unacked,
2 * max_poll - held)`` records (``held``: polled and not yet delivered) and hands them to
the drain, one hand-off a poll. The drain delivers them on this thread when its loop is
free (no thread hop for a subscriber that keeps up), else they wait for the loop's owner,
such as a subscriber requesting on a thread of its own. With nothing to poll for, it waits
for demand without polling; after ``PAUSE_AFTER`` seconds it pauses the assigned
partitions and calls ``poll`` at least every ``IDLE`` seconds, so the consumer stays in its
group (heartbeats and ``max.poll.interval.ms``) however long downstream takes. Rebalance
callbacks, commits and lag readings run here too, between polls, and so does the settling
of acks into the ledger: before each look at the room to poll, each commit and each lag
reading. Acks alone wake it only while it waits at ``max_unacked``; otherwise the acks
that make ``commit_every`` are settled, and committed, at its next turn (at most ``IDLE``
seconds later when it waits for demand or for delivery).

The keeper (a second thread, asleep unless needed): once a delivery on the poll thread has
lasted ``PAUSE_AFTER`` seconds (an ``on_next`` that takes its time), it does what the poll
thread does while it waits: pauses the partitions and polls every ``IDLE`` seconds, serving
rebalances, commits and lag readings, until the delivery returns. If the subscription ends
meanwhile, it commits what was acked and closes the consumer, which leaves the group at
once. The consumer is only ever used by one of the two at a time (``_lock``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.serialization import MessageField, SerializationContext

from ..core import Metrics
from ._errors import KafkaSourceError
from ._lag import LagReader, LagReading
from ._ledger import Ledger, PartitionLedger
from ._record import Polled, headers_of

IDLE = 0.1
"""Seconds the poll thread (or the keeper) waits at most between two polls of its consumer
once paused."""

KEEPER_LOOKS = 0.25
"""Seconds between the keeper's looks at whether a delivery holds the poll thread."""

PAUSE_AFTER = 1.0
"""Seconds without demand before the partitions are paused. Pausing drops librdkafka's
prefetched records, and resuming fetches them again (a round trip, more on some brokers),
so a consumer that asks again within this time keeps its prefetch; meanwhile the consumer
is not polled, so nothing arrives that was not asked for."""

_FAILING = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError._AUTHENTICATION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_EXCEPTION,
}
"""Errors that no retry mends: the stream fails with them."""

Deserializer = Callable[[bytes | None, SerializationContext], Any]


class Sink(Protocol):
    """What the poll thread hands its records and its failure to (the drain)."""

    def deliver(self, records: list[Polled]) -> None: ...

    def fail(self, error: Exception) -> None: ...

    def now(self) -> float: ...

    def wall_clock(self) -> float: ...


def failing(error: KafkaError) -> bool:
    return error.fatal() or error.code() in _FAILING


class Poller:
    """Runs one consumer on a thread of its own (see the module notes)."""

    def __init__(
        self,
        sink: Sink,
        ledger: Ledger,
        topics: list[str],
        settings: dict[str, Any],
        *,
        max_poll: int,
        commit_interval: float,
        lag_interval: float,
        metrics: Metrics | None,
    ) -> None:
        self._sink = sink
        self._ledger = ledger
        self._topics = topics
        # A single topic need not be read from each message (a "^..." name is a pattern).
        single = len(topics) == 1 and not topics[0].startswith("^")
        self._single_topic = topics[0] if single else None
        settings = dict(settings)
        self._key_serde: Deserializer | None = settings.pop("key.deserializer", None)
        self._value_serde: Deserializer | None = settings.pop("value.deserializer", None)
        self._user_error_cb: Callable[[KafkaError], None] | None = settings.pop("error_cb", None)
        settings["error_cb"] = self._on_client_error
        self._user_commit_cb: Callable[[KafkaError | None, list[TopicPartition]], None] | None = (
            settings.pop("on_commit", None)
        )
        settings["on_commit"] = self._on_commit
        settings["enable.auto.commit"] = False
        strategy = str(settings.get("partition.assignment.strategy", ""))
        self._cooperative = (
            "cooperative" in strategy or settings.get("group.protocol") == "consumer"
        )
        self._unreachable_after = float(settings.get("session.timeout.ms", 45_000)) / 1000
        self._settings = settings
        self._max_poll = max_poll
        self._commit_interval = commit_interval
        self._lag_interval = lag_interval
        self._metrics = metrics
        self._consumer: Consumer | None = None
        self._lag: LagReader | None = None
        # For inspect, written by the poll thread only: partitions assigned, and paused.
        self.assigned = 0
        self.paused = 0
        self._paused = False
        self._closing = False
        self._failure: KafkaSourceError | None = None
        self._down_since: float | None = None
        self._down_error: KafkaError | None = None
        self._last_commit = self._last_lag = 0.0
        # The consumer's user: the poll thread, or the keeper while a delivery holds it.
        self._lock = threading.Lock()
        self._closed = False
        # (a delivery's number, when it started) while the poll thread delivers, else None:
        # written by the poll thread only, read by the keeper.
        self._delivering: tuple[int, float] | None = None
        self._deliveries = 0
        self._ended = threading.Event()  # the subscription is over: the keeper looks now
        self._thread = threading.Thread(target=self._run, name="rx_backpressure-kafka", daemon=True)
        self._keeper = threading.Thread(
            target=self._keep, name="rx_backpressure-kafka-keeper", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The subscription ended (any thread): the keeper looks at once, and closes the
        consumer if a delivery still holds the poll thread."""
        self._ended.set()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        ledger = self._ledger
        consumer: Consumer | None = None
        try:
            with ledger.lock:
                if ledger.stopping:
                    return
            with self._lock:
                consumer = self._consumer = Consumer(self._settings)
                self._lag = LagReader(consumer, ledger, self._sink, self._metrics)
                consumer.subscribe(
                    self._topics,
                    on_assign=self._on_assign,
                    on_revoke=self._on_revoke,
                    on_lost=self._on_lost,
                )
            self._keeper.start()
            now = self._sink.now
            self._last_commit = self._last_lag = now()
            idle_since: float | None = None  # when demand last ran out
            while True:
                with ledger.lock:
                    room = ledger.room(self._max_poll)  # acks settled first
                    if (
                        room <= 0
                        and not ledger.stopping
                        and ledger.since_commit < ledger.commit_every
                    ):
                        room = ledger.wait(self._max_poll, IDLE)
                    if ledger.stopping:
                        break
                    due = ledger.since_commit >= ledger.commit_every
                moment = now()
                taken: list[Polled] = []
                try:
                    with self._lock:
                        if self._closed:  # by the keeper: the subscription ended meanwhile
                            break
                        if room > 0:
                            idle_since = None
                            self._take(self._fetch(consumer, room), taken)
                        elif idle_since is None:
                            idle_since = moment
                        elif self._paused or moment - idle_since >= PAUSE_AFTER:
                            self._set_paused(consumer, True)
                            self._refuse(consumer, consumer.poll(0))
                finally:
                    # What was taken before a failing message still goes out, ahead of the
                    # error; outside the lock, so that the keeper can poll meanwhile.
                    if taken:
                        self._deliver(taken)
                with self._lock:
                    if self._closed:
                        break
                    self._tend(consumer, moment, due)
        except KafkaSourceError as err:
            self._sink.fail(err)
        except KafkaException as err:
            self._sink.fail(self._client_failure(err))
        except Exception as err:  # a bug or a broken config: the stream fails, the thread ends
            failure = KafkaSourceError(f"the Kafka consumer failed: {err!r}")
            failure.__cause__ = err
            self._sink.fail(failure)
        finally:
            ledger.stop()
            self._ended.set()
            if consumer is not None:
                self._close(consumer)

    def _client_failure(self, err: KafkaException) -> KafkaSourceError:
        error = err.args[0] if err.args and isinstance(err.args[0], KafkaError) else None
        failure = KafkaSourceError(f"the Kafka consumer failed: {err}", error)
        failure.__cause__ = err
        return failure

    def _tend(self, consumer: Consumer, moment: float, due: bool) -> None:
        """Between polls (under ``_lock``): fail on a client error, commit when due, read the
        lag when due, and check that a broker is reachable."""
        self._check()
        if due or moment - self._last_commit >= self._commit_interval:
            self._commit(consumer, None, wait=False)
            self._last_commit = moment
        if moment - self._last_lag >= self._lag_interval:
            assert self._lag is not None
            self._lag.refresh()
            self._last_lag = moment
        self._check_reachable(consumer, moment)

    def _deliver(self, records: list[Polled]) -> None:
        """Hand a poll's records to the drain, which may deliver them on this thread: the
        keeper watches how long that takes."""
        self._deliveries += 1
        self._delivering = (self._deliveries, self._sink.now())
        try:
            self._sink.deliver(records)
        finally:
            self._delivering = None

    # -- the keeper -----------------------------------------------------------------------

    def _keep(self) -> None:
        """Poll the consumer, paused, while a delivery has held the poll thread for
        ``PAUSE_AFTER`` seconds or more, until it returns; close it if the subscription
        ends meanwhile (see the module notes)."""
        consumer = self._consumer
        assert consumer is not None
        ended, ledger, now = self._ended, self._ledger, self._sink.now
        try:
            while True:
                ended.wait(KEEPER_LOOKS)
                delivery = self._delivering
                if ended.is_set():
                    if delivery is not None:  # else the poll thread closes it, at once
                        self._close(consumer)
                    return
                if delivery is None or now() - delivery[1] < PAUSE_AFTER:
                    continue
                while self._delivering is delivery and not ended.is_set():
                    with self._lock:
                        if self._closed or self._delivering is not delivery:
                            break
                        self._set_paused(consumer, True)
                        self._refuse(consumer, consumer.poll(0))
                        with ledger.lock:
                            ledger.settle()
                            due = ledger.since_commit >= ledger.commit_every
                        self._tend(consumer, now(), due)
                    ended.wait(IDLE)
        except KafkaSourceError as err:
            self._sink.fail(err)
        except KafkaException as err:
            self._sink.fail(self._client_failure(err))
        except Exception as err:  # a bug: the stream fails
            failure = KafkaSourceError(f"the Kafka consumer failed: {err!r}")
            failure.__cause__ = err
            self._sink.fail(failure)

    @property
    def lag(self) -> LagReading:
        """The last lag reading (empty before the first)."""
        reader = self._lag
        return LagReading() if reader is None else reader.reading

    def _fetch(self, consumer: Consumer, room: int) -> list[Message]:
        """Up to ``room`` messages: what is there at once, else the first to arrive within
        ``IDLE`` and whatever came with it."""
        self._set_paused(consumer, False)
        messages = consumer.consume(room, 0)
        if messages:
            return messages
        first = consumer.poll(IDLE)
        if first is None:
            return []
        if room == 1:
            return [first]
        return [first, *consumer.consume(room - 1, 0)]

    def _take(self, messages: list[Message], records: list[Polled]) -> None:
        """Turn a poll's messages into records, appended to ``records`` for the drain, and
        enter them in the ledger: per message only what a record needs, per run of one
        partition (a poll's messages come in such runs) the ledger's bookkeeping."""
        partitions = self._ledger.partitions
        single = self._single_topic
        serdes = self._key_serde is not None or self._value_serde is not None
        append = records.append
        runs: list[tuple[PartitionLedger, list[int], list[float | None]]] = []
        offsets: list[int] = []
        stamps: list[float | None] = []
        topic: str | None = None
        partition: int | None = None
        slot: PartitionLedger | None = None
        serial = 0
        try:
            for message in messages:
                error = message.error()
                if error is not None:
                    self._message_error(message, error)
                    continue
                at = message.partition()
                if at != partition or (single is None and message.topic() != topic):
                    partition, topic = at, single or message.topic()
                    slot = partitions.get((topic, partition))  # type: ignore[arg-type]
                    if slot is not None:
                        serial = slot.serial
                        offsets, stamps = [], []
                        runs.append((slot, offsets, stamps))
                if slot is None:  # not ours (any more): its owner reads it
                    continue
                offset: int = message.offset()  # type: ignore[assignment]
                key: Any = message.key()
                value: Any = message.value()
                if serdes:
                    key, value = self._deserialize(message, key, value)
                kind, millis = message.timestamp()
                stamp = millis / 1000 if kind else None
                # A tuple of plain values until delivery builds its Record (see Polled); the
                # message is not kept either: the collector would have to look at it.
                headers = headers_of(message) if message.headers() else ()
                append((serial, offset, key, value, stamp, headers))
                offsets.append(offset)
                stamps.append(stamp)
        finally:
            if records:  # what was taken before a failing message is polled all the same
                self._ledger.polled(runs)

    def _deserialize(self, message: Message, key: Any, value: Any) -> tuple[Any, Any]:
        topic = message.topic()
        assert topic is not None
        headers = message.headers()
        field = "key"
        try:
            if self._key_serde is not None:
                key = self._key_serde(key, SerializationContext(topic, MessageField.KEY, headers))
            field = "value"
            if self._value_serde is not None:
                value = self._value_serde(
                    value, SerializationContext(topic, MessageField.VALUE, headers)
                )
        except Exception as err:
            failure = KafkaSourceError(
                f"could not deserialize the {field} of the record at topic {topic!r}, "
                f"partition {message.partition()}, offset {message.offset()}: {err!r}"
            )
            raise failure from err
        return key, value

    def _refuse(self, consumer: Consumer, message: Message | None) -> None:
        """A message polled with no demand for it (fetched before its partition was paused):
        put it back, to be fetched again when there is demand."""
        if message is None:
            return
        if message.error() is not None:
            self._take([message], [])  # raises, unless the error is one to pass over
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None
        assert partition is not None
        assert offset is not None
        if (topic, partition) in self._ledger.partitions:
            consumer.seek(TopicPartition(topic, partition, offset))

    def _message_error(self, message: Message, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF or (error.retriable() and not failing(error)):
            return
        where = f"topic {message.topic()!r}"
        if message.partition() is not None and message.partition() >= 0:  # type: ignore[operator]
            where += f", partition {message.partition()}, offset {message.offset()}"
        raise KafkaSourceError(f"Kafka error at {where}: {error.str()}", error) from KafkaException(
            error
        )

    # -- pause and resume -----------------------------------------------------------------

    def _set_paused(self, consumer: Consumer, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        assigned = consumer.assignment()
        if assigned:
            (consumer.pause if paused else consumer.resume)(assigned)
        self.paused = len(assigned) if paused else 0
        if self._metrics is not None:
            self._metrics.set("paused", self.paused)

    # -- rebalances -----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        if self._paused and partitions:
            consumer.pause(partitions)  # a partition assigned while paused starts paused
        for tp in partitions:
            self._ledger.assign(tp.topic, tp.partition)
        self._count_assigned(consumer)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._closing:  # committed already; the closing client unassigns by itself
            self._forget(partitions)
            return
        slots = [self._ledger.partitions.get((tp.topic, tp.partition)) for tp in partitions]
        live = [slot for slot in slots if slot is not None]
        try:
            self._commit(consumer, live)  # acked records of revoked partitions first
        finally:
            self._forget(partitions)
            if self._cooperative:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()
            self._count_assigned(consumer)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)  # another member may own them already: nothing to commit
        if self._closing:
            return
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()
        self._count_assigned(consumer)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        metrics = self._metrics
        if self._lag is not None:
            self._lag.forget({(tp.topic, tp.partition) for tp in partitions})
        for tp in partitions:
            self._ledger.revoke(tp.topic, tp.partition)
            if metrics is not None:
                metrics.increment("revoked")
                for name in ("lag", "position_lag"):
                    metrics.set(f"{name}.{tp.topic}.{tp.partition}", 0)

    def _count_assigned(self, consumer: Consumer) -> None:
        self.assigned = assigned = len(consumer.assignment())
        self.paused = assigned if self._paused else 0
        if self._metrics is not None:
            self._metrics.set("assigned", assigned)
            self._metrics.set("paused", self.paused)

    # -- commits --------------------------------------------------------------------------

    def _commit(
        self, consumer: Consumer, slots: list[PartitionLedger] | None, *, wait: bool = True
    ) -> None:
        """Commit the acked runs of ``slots`` (or all). Waiting, every commit point not yet
        confirmed is sent again and the call returns once the broker has answered (on
        revocation and at the end, so that the next owner starts after them); not waiting
        (the periodic commits), only points that moved are sent, and ``_on_commit`` hears
        the answer during a later poll."""
        points = self._ledger.to_commit(slots, unconfirmed=wait)
        if not points:
            return
        offsets = [TopicPartition(slot.topic, slot.partition, done) for slot, done in points]
        try:
            if wait:
                consumer.commit(offsets=offsets, asynchronous=False)
            else:
                consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as err:
            error = err.args[0] if err.args and isinstance(err.args[0], KafkaError) else None
            if error is not None and failing(error):
                raise KafkaSourceError(f"could not commit offsets: {error.str()}", error) from err
            return  # a rebalance under way, say: the next commit, or the next owner, has it
        if self._metrics is not None:
            self._metrics.increment("commits")
        if wait:
            for slot, done in points:
                self._ledger.confirmed(slot.topic, slot.partition, done)

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The broker's answer to a commit (the poll thread, during a poll)."""
        if self._user_commit_cb is not None:
            self._user_commit_cb(error, partitions)
        if error is not None:
            if failing(error) and self._failure is None:
                self._failure = KafkaSourceError(f"could not commit offsets: {error.str()}", error)
            return  # else the next commit, or the next owner, has these points
        for tp in partitions:
            if tp.error is None and tp.offset >= 0:
                self._ledger.confirmed(tp.topic, tp.partition, tp.offset)

    def _close(self, consumer: Consumer) -> None:
        """Commit what was acked and close the consumer (the poll thread at its end, or the
        keeper while a delivery holds the poll thread), once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # The stream has ended: a failure here has nowhere to go, and closing comes next.
            with contextlib.suppress(Exception):
                self._commit(consumer, None)
            self._closing = True
            with contextlib.suppress(Exception):
                consumer.close()  # leaves the group at once

    # -- client errors --------------------------------------------------------------------

    def _on_client_error(self, error: KafkaError) -> None:
        if self._user_error_cb is not None:
            self._user_error_cb(error)
        if failing(error):
            if self._failure is None:
                self._failure = KafkaSourceError(f"Kafka client error: {error.str()}", error)
        elif error.code() == KafkaError._ALL_BROKERS_DOWN and self._down_since is None:
            self._down_since = self._sink.now()
            self._down_error = error

    def _check(self) -> None:
        failure = self._failure
        if failure is not None:
            raise failure from KafkaException(failure.error)

    def _check_reachable(self, consumer: Consumer, now: float) -> None:
        """Brokers reported down for longer than ``session.timeout.ms`` (by then the group
        has given our partitions away): fail, unless a metadata request now succeeds."""
        since = self._down_since
        if since is None or now - since < self._unreachable_after:
            return
        try:
            consumer.list_topics(timeout=min(self._unreachable_after, 5.0))
        except KafkaException as err:
            servers = self._settings["bootstrap.servers"]
            raise KafkaSourceError(
                f"no Kafka broker reachable at {servers!r} for "
                f"{self._unreachable_after:g} s (session.timeout.ms)",
                self._down_error,
            ) from err
        self._down_since = None
