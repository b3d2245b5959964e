"""The fast-producer/slow-consumer scenario: producers, consumers and what they measure.

Every number the demo prints comes from running real operators on a scheduler: virtual
time (a ``VirtualTimeScheduler``) by default, or an event-loop thread on the real clock.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable

from ..core import Drain, Flowable, Subscriber, Subscription, seconds
from ._clock import VirtualClock


@dataclass(frozen=True)
class Scenario:
    """The numbers of one run; every strategy sees the same ones."""

    producer_rate: float = 1000.0
    consumer_rate: float = 100.0
    duration: float = 60.0
    capacity: int = 1000
    samples: int = 240

    @property
    def cost(self) -> float:
        """Seconds the consumer needs per item, one at a time."""
        return 1.0 / self.consumer_rate

    def batch_cost(self, size: int) -> float:
        """Seconds for a batch: one item's cost once, plus a tenth of it per item.

        The same consumer is ten times cheaper per item in batches (a bulk insert, say).
        """
        return self.cost + size * self.cost / 10

    @property
    def failure_window(self) -> tuple[float, float]:
        """When the downstream service fails, for the circuit breaker: the middle tenth."""
        return (0.45 * self.duration, 0.55 * self.duration)

    @property
    def most_items(self) -> int:
        """The most items a producer can make in the run."""
        return math.ceil(self.producer_rate * self.duration) + 1


@dataclass(frozen=True, slots=True)
class Message:
    """One produced item: its number and when it was produced."""

    number: int
    produced_at: float


class Probe:
    """Counts and samples for one strategy. Buffers are sized up front, so that memory
    measured during the run is the pipeline's, not the probe's."""

    def __init__(self, scenario: Scenario, start: float) -> None:
        self.scenario = scenario
        self.start = start
        self.produced = 0
        self.delivered = 0
        self.dropped = 0
        self.throttled = 0.0
        self.ready_at: float | None = None  # a paced producer's next item is ready then
        # Multiplied rather than built from bytes: one allocation of the size, not two.
        self.latencies = array("d", [0.0]) * scenario.most_items
        self.sample_times = array("d", [0.0]) * (scenario.samples + 1)
        self.sample_depths = array("d", [0.0]) * (scenario.samples + 1)
        self.sample_delivered = array("d", [0.0]) * (scenario.samples + 1)
        self.sampled = 0

    def on_produced(self) -> None:
        self.produced += 1

    def on_delivered(self, message: Message, now: float) -> None:
        self.latencies[self.delivered] = now - message.produced_at
        self.delivered += 1

    def on_dropped(self, _: Message) -> None:
        self.dropped += 1

    def sample(self, now: float, depth: int) -> None:
        """Record ``depth``, the items the pipeline holds as its parts count them, at ``now``."""
        if self.sampled < len(self.sample_times):
            self.sample_times[self.sampled] = now - self.start
            self.sample_depths[self.sampled] = depth
            self.sample_delivered[self.sampled] = self.delivered
            self.sampled += 1

    def throttled_until(self, now: float) -> float:
        """Time the producer spent ready but held back, counting a wait still going on."""
        waiting = 0.0 if self.ready_at is None else max(0.0, now - self.ready_at)
        return self.throttled + waiting

    def percentile(self, fraction: float) -> float:
        """The latency below which ``fraction`` of delivered items fall (nearest rank)."""
        if not self.delivered:
            return math.nan
        ordered = sorted(self.latencies[: self.delivered])
        rank = max(0, math.ceil(fraction * len(ordered)) - 1)
        return ordered[rank]


_TICK = 1e-6
"""Virtual time moves in whole microseconds: the demo's clock and reactivex's own (a
``datetime``) round a due time to the nearest one, so a timer can run up to half a
microsecond before the time it was set for."""
_NOISE = 1e-9
"""Float rounding in sums of seconds: a nanosecond is no time at all."""


def _timer_delay(wait: float) -> float:
    """``wait`` rounded up to whole microseconds, at least one.

    A timer set for it runs at or after the end of ``wait`` on a clock with microsecond
    steps, and it always moves the clock on. A wait that rounded to the nearest
    microsecond instead could round to "now": the drain would wake a fraction of a
    microsecond early, find itself not ready, and set the same timer again, forever.
    """
    micros = wait / _TICK
    whole = round(micros)
    if abs(micros - whole) * _TICK > _NOISE:
        whole = math.ceil(micros)
    return max(whole, 1) * _TICK


class _PacedDrain(Drain[Message, Message]):
    """A producer that can make ``rate`` items per second, and makes them only on demand.

    Items are made ``1 / rate`` apart while demand lasts; a wait for demand (throttling)
    starts the spacing again from the item that ended it.
    """

    def __init__(self, downstream: Subscriber[Message], probe: Probe, rate: float) -> None:
        super().__init__(downstream, name=f"paced_producer({rate:g}/s)")
        self._probe = probe
        self._gap = 1.0 / rate
        self._ready_at = probe.ready_at = probe.start
        self._stop_at = probe.start + probe.scenario.duration

    def _emit(self, on_next: Callable[[Message], None], limit: int) -> int:
        now = self._now()
        emitted = 0
        probe = self._probe
        while emitted < limit:
            late = now - self._ready_at
            if late < -_NOISE:
                # Not ready yet: come back when the next item is made.
                self._drain_after(_timer_delay(-late))
                break
            if now >= self._stop_at:
                self._done = True
                probe.ready_at = None
                break
            if late < _TICK:
                # Handed on at the first tick of the clock after it was made: the next
                # item is due a gap after this one was made, so a gap that is not a whole
                # number of microseconds does not add up to a slower rate.
                made = self._ready_at
            else:
                # Ready since _ready_at; demand arrived only now: that wait was throttling.
                made = now
                probe.throttled += late
            probe.on_produced()
            on_next(Message(probe.produced - 1, now))
            self._ready_at = probe.ready_at = made + self._gap
            emitted += 1
        return emitted


def paced_producer(probe: Probe, rate: float) -> Flowable[Message]:
    """A Flowable producer: demand throttles it (lossless backpressure)."""

    def subscribe(
        subscriber: Subscriber[Message], scheduler: abc.SchedulerBase | None
    ) -> Subscription:
        drain = _PacedDrain(subscriber, probe, rate)
        drain.start(None, scheduler)
        return drain

    return Flowable(subscribe)


def schedule_at(
    scheduler: abc.SchedulerBase,
    time: float,
    action: abc.ScheduledAction[Any],
    state: Any = None,
) -> abc.DisposableBase:
    """Run ``action`` at ``time``, in seconds on the clock that :func:`seconds` reads.

    That clock need not be the scheduler's own absolute time (a real-time scheduler may be
    timed with a monotonic clock), so the timer is set relative to now, as operators set
    theirs, never with ``schedule_absolute``.
    """
    return scheduler.schedule_relative(max(0.0, time - seconds(scheduler)), action, state)


def start_push_producer(
    scheduler: abc.SchedulerBase, probe: Probe, rate: float, emit: Callable[[Message], None]
) -> abc.DisposableBase:
    """A push producer: ``emit`` is called ``rate`` times a second, whatever happens."""
    gap = 1.0 / rate
    end = probe.start + probe.scenario.duration
    stopped = SerialDisposable()

    def tick(_: abc.SchedulerBase, number: Any = 0) -> None:
        # Due times come from the item's number, not from the clock: a clock that rounds
        # them to the microsecond cannot make the rate drift.
        due = probe.start + number * gap
        if due >= end:
            return
        probe.on_produced()
        # Stamped with the clock that stamps deliveries, so no latency is below zero.
        emit(Message(number, seconds(scheduler)))
        stopped.disposable = schedule_at(scheduler, due + gap, tick, number + 1)

    stopped.disposable = schedule_at(scheduler, probe.start, tick, 0)
    return stopped


def push_producer(scheduler: abc.SchedulerBase, probe: Probe, rate: float) -> Observable[Message]:
    """The push producer as an Observable: it starts producing when subscribed."""

    def subscribe(
        observer: abc.ObserverBase[Message], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return start_push_producer(scheduler, probe, rate, observer.on_next)

    return Observable(subscribe)


class SlowConsumer:
    """Takes one item (or one batch) at a time and needs ``cost(n)`` seconds for n items.

    It requests the next only when done with the last: the consumer's pace is the demand.
    """

    def __init__(
        self, scheduler: abc.SchedulerBase, probe: Probe, cost: Callable[[int], float]
    ) -> None:
        self._scheduler = scheduler
        self._probe = probe
        self._cost = cost
        self.subscription: Subscription | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        subscription.request(1)

    def on_next(self, item: Message | list[Message]) -> None:
        batch = item if isinstance(item, list) else [item]
        now = seconds(self._scheduler)
        for message in batch:
            self._probe.on_delivered(message, now)
        self._scheduler.schedule_relative(self._cost(len(batch)), self._done)

    def _done(self, _: abc.SchedulerBase, __: Any = None) -> None:
        if self.subscription is not None:
            self.subscription.request(1)

    def on_error(self, error: Exception) -> None:
        self.subscription = None

    def on_completed(self) -> None:
        self.subscription = None


class BlockingConsumer(abc.ObserverBase[Message]):
    """A plain reactivex observer that takes ``cost`` seconds inside each ``on_next``.

    It blocks, as ordinary code does: what arrives meanwhile must wait in front of it. On
    the demo's virtual clock the block is :meth:`VirtualClock.work` (the rest of the
    simulation runs on meanwhile, as other threads would); on real time it sleeps, so it
    needs a thread of its own.
    """

    def __init__(self, scheduler: abc.SchedulerBase, probe: Probe, cost: float) -> None:
        self._scheduler = scheduler
        self._probe = probe
        self._cost = cost

    def on_next(self, value: Message) -> None:
        self._probe.on_delivered(value, seconds(self._scheduler))
        if isinstance(self._scheduler, VirtualClock):
            self._scheduler.work(self._cost)
        else:
            time.sleep(self._cost)

    def on_error(self, error: Exception) -> None:
        pass

    def on_completed(self) -> None:
        pass
