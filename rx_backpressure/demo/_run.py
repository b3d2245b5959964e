"""Running each strategy on a scheduler and measuring it."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import threading
import tracemalloc
from collections.abc import Callable, MutableSequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from reactivex import abc
from reactivex.scheduler import EventLoopScheduler

from ..core import Pipeline, inspect, seconds
from ._clock import VirtualClock
from ._scenario import Probe, Scenario, schedule_at
from ._strategies import STRATEGIES

_METHODS = multiprocessing.get_all_start_methods()

Progress = Callable[[str, float], None]
"""Called with a strategy and the fraction of its run done, in the process that runs."""

STEPS = 200
"""A virtual-time run advances its clock in this many steps, reporting progress after each."""


@dataclass
class StrategyResult:
    """What one strategy did in one run. ``queued`` is counted in the pipeline itself."""

    strategy: str
    description: str
    produced: int
    delivered: int
    dropped: int
    queued: int
    peak_depth: int
    peak_queue_bytes: int
    throttled_s: float
    p50_latency_s: float
    p99_latency_s: float
    series: dict[str, list[float]] = field(repr=False)
    events: int = 0
    """Scheduled actions the simulation ran (virtual time only)."""
    pipeline: Pipeline | None = field(default=None, repr=False)
    """Every stage of the strategy's pipeline at the end of the run (``inspect``); None for
    plain reactivex, which has no stages of ours to read."""

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form (without the time series)."""
        return {
            "strategy": self.strategy,
            "description": self.description,
            "produced": self.produced,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "queued": self.queued,
            "peak_depth": self.peak_depth,
            "peak_queue_bytes": self.peak_queue_bytes,
            "throttled_s": round(self.throttled_s, 6),
            "p50_latency_s": round(self.p50_latency_s, 6),
            "p99_latency_s": round(self.p99_latency_s, 6),
        }


def run_strategy(
    name: str,
    scenario: Scenario,
    *,
    real_time: bool = False,
    progress: Progress | None = None,
    measure_memory: bool = True,
) -> StrategyResult:
    """Run strategy ``name`` for ``scenario.duration`` seconds and measure it.

    Virtual time runs on a ``VirtualTimeScheduler``; real time on one event-loop thread
    with the real clock. Memory is measured with tracemalloc: the peak above what was
    allocated when the run started, so it is what the pipeline held at its fullest.
    """
    description, build = STRATEGIES[name]
    scheduler: abc.SchedulerBase
    if real_time:
        loop = EventLoopScheduler()
        scheduler = loop
        start = seconds(loop) + 0.05
    else:
        scheduler = VirtualClock()
        start = 0.0
    probe = Probe(scenario, start)
    end = start + scenario.duration
    finished = threading.Event()
    counts: list[int] = []
    timings: list[float] = []
    stages: list[Pipeline] = []
    step = scenario.duration / scenario.samples

    if measure_memory:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        wired = build(scheduler, scenario, probe)

        def sample(_: abc.SchedulerBase, index: Any = 0) -> None:
            probe.sample(seconds(scheduler), wired.held())
            if index < scenario.samples:
                schedule_at(scheduler, start + (index + 1) * step, sample, index + 1)

        def stop(_: abc.SchedulerBase, __: Any = None) -> None:
            # Everything is read at the same instant, so the counts can be checked
            # against each other.
            counts.extend(
                (probe.produced, probe.delivered, probe.dropped, wired.held(), wired.peak())
            )
            # The peak is read before the percentiles are worked out: sorting allocates.
            counts.append(tracemalloc.get_traced_memory()[1] - baseline)
            timings.extend(
                (probe.throttled_until(end), probe.percentile(0.50), probe.percentile(0.99))
            )
            with contextlib.suppress(TypeError):  # plain reactivex: no stages of ours
                stages.append(inspect(wired.subscription))
            finished.set()

        schedule_at(scheduler, start, sample, 0)
        schedule_at(scheduler, end, stop)
        if isinstance(scheduler, VirtualClock):
            _advance(scheduler, start, scenario.duration, name, progress)
        else:
            _wait(finished, lambda: seconds(scheduler), end, name, progress)
        wired.subscription.dispose()
    finally:
        if measure_memory:
            tracemalloc.stop()
        if isinstance(scheduler, EventLoopScheduler):
            scheduler.dispose()
    return StrategyResult(
        strategy=name,
        description=description,
        produced=counts[0],
        delivered=counts[1],
        dropped=counts[2],
        queued=counts[3],
        peak_depth=counts[4],
        peak_queue_bytes=max(0, counts[5]) if measure_memory else 0,
        events=scheduler.executed if isinstance(scheduler, VirtualClock) else 0,
        throttled_s=timings[0],
        p50_latency_s=timings[1],
        p99_latency_s=timings[2],
        pipeline=stages[0] if stages else None,
        series={
            "time": list(probe.sample_times[: probe.sampled]),
            "depth": list(probe.sample_depths[: probe.sampled]),
            "delivered": list(probe.sample_delivered[: probe.sampled]),
        },
    )


def _advance(
    clock: VirtualClock, start: float, duration: float, name: str, progress: Progress | None
) -> None:
    # In steps, so that a long simulation shows how far it has got.
    for step in range(1, STEPS + 1):
        clock.advance_to(start + duration * step / STEPS)
        if progress is not None:
            progress(name, step / STEPS)


def _wait(
    finished: threading.Event,
    clock: Callable[[], float],
    end: float,
    name: str,
    progress: Progress | None,
) -> None:
    # The scheduler's clock, as the run reads it: ``end`` was worked out on it.
    duration = max(end - clock(), 1e-9)
    while not finished.wait(0.1):
        if progress is not None:
            progress(name, min(1.0, 1 - (end - clock()) / duration))
    if progress is not None:
        progress(name, 1.0)


_fractions: MutableSequence[float] = []
"""In a worker process: where it reports how far each strategy has got."""


def _share(fractions: MutableSequence[float]) -> None:
    global _fractions
    _fractions = fractions


def _run_shared(index: int, name: str, scenario: Scenario) -> StrategyResult:
    def report(_: str, fraction: float) -> None:
        _fractions[index] = fraction

    return run_strategy(name, scenario, progress=report)


def run(
    scenario: Scenario,
    strategies: list[str],
    *,
    real_time: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> list[StrategyResult]:
    """Run each strategy on the same scenario.

    Virtual-time runs are independent simulations: they run side by side in ``workers``
    processes (default: one per core), each measuring its own memory. Real-time runs go
    one after the other, so that they do not compete for the clock. Either way
    ``progress`` is called in this process, a few times a second at most for runs in
    other processes.
    """
    count = workers if workers is not None else (os.cpu_count() or 1)
    if real_time or count < 2 or len(strategies) < 2:
        return [
            run_strategy(name, scenario, real_time=real_time, progress=progress)
            for name in strategies
        ]
    context = multiprocessing.get_context("fork" if "fork" in _METHODS else None)
    fractions = context.RawArray("d", len(strategies))
    with ProcessPoolExecutor(
        max_workers=min(count, len(strategies)),
        mp_context=context,
        initializer=_share,
        initargs=(fractions,),
    ) as pool:
        futures = [
            pool.submit(_run_shared, index, name, scenario) for index, name in enumerate(strategies)
        ]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                break
            if progress is not None:
                for name, fraction in zip(strategies, fractions, strict=True):
                    progress(name, fraction)
        return [future.result() for future in futures]


OBSERVE_ON_ITEM_BYTES = 400
"""Memory per item in observe_on's queue, as the demo measures it: the closure the queue
keeps per item, the message, the list's spare room (tracemalloc peak over peak depth)."""
HELD_ITEM_BYTES = 150
"""Memory per item an operator of ours holds (the demo measures 120 to 140 bytes)."""


def estimated_bytes(name: str, scenario: Scenario) -> int:
    """About the most memory strategy ``name`` takes on ``scenario``, before it runs.

    The record of a latency per item the producer can make, plus what the pipeline can
    hold: for ``none``, everything made faster than the consumer takes it, which grows
    with rate and duration; for the others, at most ``capacity`` items.
    """
    record = 8 * scenario.most_items
    if name == "none":
        backlog = max(0.0, scenario.producer_rate - scenario.consumer_rate) * scenario.duration
        return record + math.ceil(backlog * OBSERVE_ON_ITEM_BYTES)
    return record + min(scenario.capacity, scenario.most_items) * HELD_ITEM_BYTES
