"""The demo's virtual-time speed: simulated events per second of wall time for each
strategy, against reactivex's own VirtualTimeScheduler running bare scheduled actions,
interleaved in one process.

An event is one scheduled action the simulation ran (a message produced, a consumer done,
a timer); a simulation is deterministic, so each strategy runs the same events every time.
Memory measurement is off here: tracemalloc slows Python down by itself.

Run: ``make bench`` or ``python benchmarks/bench_demo.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _harness import interleave, parse_args, per_second, ratio_row, report, speed
from reactivex import abc
from reactivex.scheduler import VirtualTimeScheduler

from rx_backpressure.demo import STRATEGIES, Scenario, run_strategy

BARE = "bare VirtualTimeScheduler"


def bare(count: int) -> Callable[[], None]:
    """A run: reactivex's VirtualTimeScheduler scheduling and running ``count`` actions."""

    def run() -> None:
        scheduler = VirtualTimeScheduler()

        def tick(sched: abc.SchedulerBase, left: Any = 0) -> None:
            if left:
                sched.schedule_relative(0.001, tick, left - 1)

        scheduler.schedule_relative(0.001, tick, count - 1)
        scheduler.start()

    return run


def strategy(name: str, scenario: Scenario, events: int) -> Callable[[], None]:
    def run() -> None:
        outcome = run_strategy(name, scenario, measure_memory=False)
        assert outcome.events == events, (name, outcome.events, events)

    return run


def main() -> None:
    options = parse_args(__doc__ or "")
    scenario = Scenario(duration=2.0 if options.quick else 60.0)
    count = 2_000 if options.quick else 100_000
    events = {
        name: run_strategy(name, scenario, measure_memory=False).events for name in STRATEGIES
    }
    variants = {BARE: bare(count)}
    variants.update({name: strategy(name, scenario, events[name]) for name in STRATEGIES})
    t = interleave(variants, options.rounds, items={BARE: count, **events}, warmup=False)
    rows = [
        ratio_row(
            f"demo {name}, {scenario.duration:g} s simulated, events/s vs bare reactivex",
            t,
            speed(name, BARE),
            unit="x bare speed",
            detail=per_second(t, name, BARE).replace("items/s", "events/s"),
        )
        for name in STRATEGIES
    ]
    report("bench_demo: the demo's simulation speed", rows, options)


if __name__ == "__main__":
    main()
