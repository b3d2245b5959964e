"""The demo's virtual-time speed: simulated events per second for each strategy, against
reactivex's own VirtualTimeScheduler running bare scheduled actions, in the same run.

An event is one scheduled action the simulation ran (a message produced, a consumer done,
a timer). Memory measurement is off here: tracemalloc slows Python down by itself.

Run: ``make bench`` or ``python benchmarks/bench_demo.py [--quick] [--repeat N]``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from _harness import Result, parse_args, report
from reactivex import abc
from reactivex.scheduler import VirtualTimeScheduler

from rx_backpressure.demo import STRATEGIES, Scenario, run_strategy


def bare_events_per_second(count: int) -> float:
    """reactivex's VirtualTimeScheduler, scheduling and running ``count`` empty actions."""
    scheduler = VirtualTimeScheduler()

    def tick(sched: abc.SchedulerBase, left: Any = 0) -> None:
        if left:
            sched.schedule_relative(0.001, tick, left - 1)

    scheduler.schedule_relative(0.001, tick, count - 1)
    start = time.perf_counter()
    scheduler.start()
    return count / (time.perf_counter() - start)


def main() -> None:
    args = parse_args(__doc__ or "")
    scenario = Scenario(duration=2.0 if args.quick else 60.0)
    repeat = 1 if args.quick else max(3, args.repeat // 2)
    bare = statistics.median(
        bare_events_per_second(2_000 if args.quick else 100_000) for _ in range(repeat)
    )
    results: list[Result] = []
    for name in STRATEGIES:
        rates = []
        for _ in range(repeat):
            start = time.perf_counter()
            outcome = run_strategy(name, scenario, measure_memory=False)
            rates.append(outcome.events / (time.perf_counter() - start))
        ours = statistics.median(rates)
        results.append(
            Result(
                f"demo {name}, {scenario.duration:g} s simulated: events/s vs bare reactivex",
                ours,
                bare,
                "events/s",
                ours / bare,
                "report",
                True,
            )
        )
    report(results, args.json)


if __name__ == "__main__":
    main()
