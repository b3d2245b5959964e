"""The strategies the demo compares, each wired the way a user would wire it.

Each builder subscribes a pipeline on ``scheduler`` and hands back a :class:`Wired`: how
many items the pipeline holds, read from its parts themselves (an operator's ``depth``
metric, observe_on's queue), so that conservation is a real check; the most it ever held,
as those parts counted it; and how to stop it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.observer import ObserveOnObserver
from reactivex.scheduler import EventLoopScheduler

from ..core import Metrics, seconds
from ..operators import (
    Strategy,
    adaptive_batch,
    bounded_buffer,
    circuit_break,
    shed,
    token_bucket,
)
from ._clock import VirtualClock
from ._scenario import (
    BlockingConsumer,
    Message,
    Probe,
    Scenario,
    SlowConsumer,
    paced_producer,
    push_producer,
    start_push_producer,
)


@dataclass(frozen=True)
class Wired:
    """A strategy's pipeline, subscribed."""

    held: Callable[[], int]
    """Items the pipeline holds now, counted by the part that holds them."""
    peak: Callable[[], int]
    """The most items that part held at once (an operator's ``peak_depth``)."""
    subscription: abc.DisposableBase
    """Stops the pipeline and releases what it runs on."""


Builder = Callable[[abc.SchedulerBase, Scenario, Probe], Wired]


def _from_metrics(metrics: Metrics, subscription: abc.DisposableBase) -> Wired:
    return Wired(
        held=lambda: int(metrics.get("depth")),
        peak=lambda: int(metrics.get("peak_depth")),
        subscription=subscription,
    )


def _none(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Wired:
    """Plain reactivex: a push producer, ``observe_on``, a consumer that blocks per item.

    ``observe_on(s)`` is ``source.subscribe(ObserveOnObserver(s, observer))``; it is
    written out here so that the queue it keeps can be read. On virtual time the consumer
    blocks on the clock itself (:meth:`VirtualClock.work`); on real time it gets a thread
    of its own, as observe_on's consumer would, and sleeps there. That thread ends once
    its queue is empty, which stopping the pipeline makes it.
    """
    consumer_side = (
        scheduler if isinstance(scheduler, VirtualClock) else EventLoopScheduler(exit_if_empty=True)
    )
    inbox = ObserveOnObserver(consumer_side, BlockingConsumer(consumer_side, probe, scenario.cost))
    peak = 0

    def arrive(message: Message) -> None:
        nonlocal peak
        inbox.on_next(message)
        peak = max(peak, len(inbox.queue))

    def drop_backlog() -> None:
        with inbox.lock:
            inbox.queue.clear()

    producing = start_push_producer(scheduler, probe, scenario.producer_rate, arrive)
    stop = CompositeDisposable(producing, inbox, Disposable(drop_backlog))
    return Wired(held=lambda: len(inbox.queue), peak=lambda: peak, subscription=stop)


def _bounded_buffer(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Wired:
    metrics = Metrics()
    pipeline = paced_producer(probe, scenario.producer_rate).pipe(
        bounded_buffer(scenario.capacity, overflow="block", metrics=metrics)
    )
    subscription = pipeline.subscribe(
        SlowConsumer(scheduler, probe, _single(scenario)), scheduler=scheduler
    )
    return _from_metrics(metrics, subscription)


def _shed(strategy: Strategy) -> Builder:
    def build(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Wired:
        metrics = Metrics()
        pipeline = push_producer(scheduler, probe, scenario.producer_rate).pipe(
            shed(
                scenario.capacity,
                strategy=strategy,
                on_drop=probe.on_dropped,
                metrics=metrics,
            )
        )
        subscription = pipeline.subscribe(
            SlowConsumer(scheduler, probe, _single(scenario)), scheduler=scheduler
        )
        return _from_metrics(metrics, subscription)

    return build


def _token_bucket(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Wired:
    metrics = Metrics()
    burst = max(1.0, scenario.consumer_rate / 10)
    pipeline = paced_producer(probe, scenario.producer_rate).pipe(
        token_bucket(burst, scenario.consumer_rate, metrics=metrics)
    )
    subscription = pipeline.subscribe(
        SlowConsumer(scheduler, probe, _single(scenario)), scheduler=scheduler
    )
    return _from_metrics(metrics, subscription)


def _adaptive_batch(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Wired:
    metrics = Metrics()
    pipeline = paced_producer(probe, scenario.producer_rate).pipe(
        adaptive_batch(
            initial_size=min(10, scenario.capacity),
            min_size=1,
            max_size=scenario.capacity,
            target_time=1.0,
            metrics=metrics,
        )
    )
    subscription = pipeline.subscribe(
        SlowConsumer(scheduler, probe, scenario.batch_cost), scheduler=scheduler
    )
    return _from_metrics(metrics, subscription)


def _circuit_break(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Wired:
    """The consumer is a remote call that fails for the middle tenth of the run."""
    metrics = Metrics()
    failing_from, failing_until = scenario.failure_window

    def call(message: Message) -> Observable[Message]:
        """The remote call: it answers after ``cost`` seconds, or fails while it is down."""

        def subscribe(
            observer: abc.ObserverBase[Message], _: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def answer(__: abc.SchedulerBase, ___: Any = None) -> None:
                elapsed = seconds(scheduler) - probe.start
                if failing_from <= elapsed < failing_until:
                    observer.on_error(ConnectionError("service down"))
                else:
                    observer.on_next(message)
                    observer.on_completed()

            return scheduler.schedule_relative(scenario.cost, answer)

        return Observable(subscribe)

    def delivered(message: Message) -> None:
        probe.on_delivered(message, seconds(scheduler))

    pipeline = paced_producer(probe, scenario.producer_rate).pipe(
        circuit_break(
            call,
            failure_threshold=5,
            reset_timeout=1.0,
            backoff=2.0,
            max_reset_timeout=8.0,
            prefetch=8,  # each call takes 10 ms: a long read-ahead would only add latency
            metrics=metrics,
        )
    )
    return _from_metrics(metrics, pipeline.subscribe(delivered, scheduler=scheduler))


def _single(scenario: Scenario) -> Callable[[int], float]:
    return lambda count: count * scenario.cost


STRATEGIES: dict[str, tuple[str, Builder]] = {
    "none": ("reactivex observe_on, unbounded queue", _none),
    "bounded_buffer": ("bounded_buffer(capacity, block)", _bounded_buffer),
    "shed_tail": ("shed(capacity, tail)", _shed("tail")),
    "shed_head": ("shed(capacity, head)", _shed("head")),
    "token_bucket": ("token_bucket(shaped to consumer)", _token_bucket),
    "adaptive_batch": ("adaptive_batch(target 1 s)", _adaptive_batch),
    "circuit_break": ("circuit_break(retry, prefetch 8; fails mid-run)", _circuit_break),
}
"""name -> (what it is, builder). The order is the order of the table."""
