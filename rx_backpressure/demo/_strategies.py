"""The strategies the demo compares, each wired the way a user would wire it.

Each builder subscribes a pipeline on ``scheduler`` and returns a function that counts the
items still held anywhere in it, read from the parts themselves (the operator's ``depth``
metric, the unbounded inbox), so that conservation is a real check.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc

from ..core import Metrics, seconds
from ..operators import (
    Strategy,
    adaptive_batch,
    bounded_buffer,
    circuit_break,
    shed,
    token_bucket,
)
from ._scenario import (
    Message,
    Probe,
    Scenario,
    SlowConsumer,
    paced_producer,
    push_producer,
    start_push_producer,
)

Held = Callable[[], int]
Builder = Callable[[abc.SchedulerBase, Scenario, Probe], Held]


def _none(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Held:
    """Plain reactivex: the consumer's backlog is an unbounded queue, as observe_on keeps."""
    inbox: deque[Message] = deque()
    busy = False

    def take_next() -> None:
        nonlocal busy
        busy = True
        probe.on_delivered(inbox.popleft(), seconds(scheduler))
        scheduler.schedule_relative(scenario.cost, finished)

    def finished(_: abc.SchedulerBase, __: Any = None) -> None:
        nonlocal busy
        busy = False
        if inbox:
            take_next()

    def arrive(message: Message) -> None:
        inbox.append(message)
        if not busy:
            take_next()

    start_push_producer(scheduler, probe, scenario.producer_rate, arrive)
    return lambda: len(inbox)


def _bounded_buffer(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Held:
    metrics = Metrics()
    pipeline = paced_producer(probe, scenario.producer_rate).pipe(
        bounded_buffer(scenario.capacity, overflow="block", metrics=metrics)
    )
    pipeline.subscribe(SlowConsumer(scheduler, probe, _single(scenario)), scheduler=scheduler)
    return lambda: int(metrics.get("depth"))


def _shed(strategy: Strategy) -> Builder:
    def build(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Held:
        metrics = Metrics()
        pipeline = push_producer(scheduler, probe, scenario.producer_rate).pipe(
            shed(
                scenario.capacity,
                strategy=strategy,
                on_drop=probe.on_dropped,
                metrics=metrics,
            )
        )
        pipeline.subscribe(SlowConsumer(scheduler, probe, _single(scenario)), scheduler=scheduler)
        return lambda: int(metrics.get("depth"))

    return build


def _token_bucket(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Held:
    metrics = Metrics()
    burst = max(1.0, scenario.consumer_rate / 10)
    pipeline = paced_producer(probe, scenario.producer_rate).pipe(
        token_bucket(burst, scenario.consumer_rate, metrics=metrics)
    )
    pipeline.subscribe(SlowConsumer(scheduler, probe, _single(scenario)), scheduler=scheduler)
    return lambda: int(metrics.get("depth"))


def _adaptive_batch(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Held:
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
    pipeline.subscribe(SlowConsumer(scheduler, probe, scenario.batch_cost), scheduler=scheduler)
    return lambda: int(metrics.get("depth"))


def _circuit_break(scheduler: abc.SchedulerBase, scenario: Scenario, probe: Probe) -> Held:
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
    pipeline.subscribe(delivered, scheduler=scheduler)
    return lambda: int(metrics.get("depth"))


def _single(scenario: Scenario) -> Callable[[int], float]:
    return lambda count: count * scenario.cost


STRATEGIES: dict[str, tuple[str, Builder]] = {
    "none": ("reactivex, unbounded queue (observe_on)", _none),
    "bounded_buffer": ("bounded_buffer(capacity, block)", _bounded_buffer),
    "shed_tail": ("shed(capacity, tail)", _shed("tail")),
    "shed_head": ("shed(capacity, head)", _shed("head")),
    "token_bucket": ("token_bucket(shaped to consumer)", _token_bucket),
    "adaptive_batch": ("adaptive_batch(target 1 s)", _adaptive_batch),
    "circuit_break": ("circuit_break(retry, prefetch 8; fails mid-run)", _circuit_break),
}
"""name -> (what it is, builder). The order is the order of the table."""
