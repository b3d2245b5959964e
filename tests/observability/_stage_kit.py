"""What the observability tests share: readings of a marble test's pipeline, a stage of a
test's own making, and a service that fails on cue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reactivex.operators as ops
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import Pipeline, StageSnapshot, inspect
from rx_backpressure.testing import MarbleContext, TestSubscriber

Figures = tuple[int | None, int | None, int | None, int | None, int | None, int | None]
"""``(held, demand, pending, received, emitted, dropped)``."""


def figures(stage: StageSnapshot) -> Figures:
    return (stage.held, stage.demand, stage.pending, stage.received, stage.emitted, stage.dropped)


def read_at(m: MarbleContext, *frames: int) -> dict[int, Pipeline]:
    """The pipeline of ``m``'s subscriber, read half a frame after each of ``frames``."""
    readings: dict[int, Pipeline] = {}
    for frame in frames:

        def take(_: Any, __: Any = None, frame: int = frame) -> None:
            subscriber = m.subscriber
            assert subscriber is not None
            readings[frame] = inspect(subscriber.subscription)

        m.scheduler.schedule_absolute(m.time(frame) + 0.5, take)
    return readings


class Stage:
    """A stage as ``inspect`` reads it, with the state figures of the exporters' contract."""

    def __init__(self, snapshot: StageSnapshot) -> None:
        self.snapshot = snapshot

    def _inspect_stage(self) -> StageSnapshot:
        return self.snapshot

    def _inspect_links(self) -> list[object]:
        return []


class Service:
    """A service that fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False

    def send(self, x: int) -> int:
        if self.down:
            raise ConnectionError("service down")
        return x + 1


def rows_buffer_shed(ts: TestScheduler) -> tuple[bp.Subscription, TestSubscriber[int]]:
    """The exporters' pinned pipeline: 100 items through ``bounded_buffer(10)`` into
    ``shed(5)``, which asks for everything; the subscriber asked for 3, read at t=1: shed
    emitted 3, holds 5 and dropped the other 92; the source and the buffer completed."""
    flow = bp.from_iterable(range(100), name="rows").pipe(
        bp.bounded_buffer(10, name="buffer"), bp.shed(5, name="shed")
    )
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    ts.advance_to(1.0)
    assert isinstance(subscription, bp.Subscription)
    return subscription, subscriber


def shed_then_breaker(
    ts: TestScheduler, service: Service, name: str, *above: Callable[[Any], Any]
) -> bp.Flowable[int]:
    """50 rows, ``above`` them, pushed (``observe_on``) into ``shed(8)`` and a breaker on
    ``service`` (2 failures open it for 30 s; it reads 4 ahead) named ``name``."""
    return bp.from_iterable(range(50), name="rows").pipe(
        *above,
        ops.observe_on(ts),
        bp.shed(8, name="shed"),
        bp.circuit_break(
            service.send,
            failure_threshold=2,
            reset_timeout=30.0,
            prefetch=4,
            scheduler=ts,
            name=name,
        ),
    )
