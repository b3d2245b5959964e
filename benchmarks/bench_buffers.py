"""bounded_buffer and shed against the plain reactivex and stdlib equivalents, in one run.

- Pass-through overhead, with demand that never runs dry: (t_op - t_base) / (t_map - t_base),
  where t_base is the source into a plain callback and t_map the same through
  ``ops.map(lambda x: x)``. Over a Flowable upstream (``bp.from_iterable``) and over a plain
  push upstream (``reactivex.from_iterable``).
- A producer thread feeding a consumer thread through ``bounded_buffer(1000,
  scheduler=EventLoopScheduler())``, against ``queue.Queue(maxsize=1000)`` between two
  threads and against ``ops.observe_on(ThreadPoolScheduler())``.
- tracemalloc peak at 10x overload (the producer offers 1,000 items per millisecond, the
  consumer takes 100): 200,000 items against 50,000. A bounded buffer stays flat;
  ``observe_on`` queues the backlog and grows with it.

Run: ``make bench`` or ``python benchmarks/bench_buffers.py [--quick] [--repeat N]``.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import reactivex
from _harness import Result, median_seconds, parse_args, report
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable
from reactivex.scheduler import EventLoopScheduler, ThreadPoolScheduler
from reactivex.subject import Subject

import rx_backpressure as bp
from rx_backpressure import bounded_buffer, shed

Operator = Callable[[Observable[int]], Observable[int]]


def ignore(_: object) -> None:
    pass


def interleaved(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each run, measured in turns so that drift hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            times[name].append(median_seconds(run, 1))
    return {name: statistics.median(values) for name, values in times.items()}


# -- pass-through overhead ---------------------------------------------------------------


def identity(x: int) -> int:
    return x


def subscribed(
    source: Callable[[], Observable[int]], operator: Operator | None
) -> Callable[[], Any]:
    """A run: ``source`` through ``operator`` (none: straight) into a plain callback."""

    def run() -> Any:
        flow = source() if operator is None else operator(source())
        return flow.subscribe(ignore)

    return run


def hot(n: int, operator: Operator | None) -> Callable[[], None]:
    """A run: ``n`` items pushed into a Subject, through ``operator``, into a plain callback."""

    def run() -> None:
        subject: Subject[int] = Subject()
        (subject if operator is None else operator(subject)).subscribe(ignore)
        on_next = subject.on_next
        for i in range(n):
            on_next(i)

    return run


def overhead(n: int, repeat: int) -> list[Result]:
    operators: dict[str, Callable[[], Operator]] = {
        "bounded_buffer(1000)": lambda: bounded_buffer(1000),
        "shed(1000)": lambda: shed(1000),
    }
    cases: list[tuple[str, Callable[[Operator | None], Callable[[], Any]], float | None]] = [
        ("Flowable upstream", lambda op: subscribed(lambda: bp.from_iterable(range(n)), op), 2),
        ("push upstream", lambda op: subscribed(lambda: reactivex.from_iterable(range(n)), op), 4),
        ("hot Subject upstream", lambda op: hot(n, op), None),
    ]
    results: list[Result] = []
    for where, run, limit in cases:
        runs = {"base": run(None), "map": run(ops.map(identity))}
        runs.update({name: run(make()) for name, make in operators.items()})
        t = interleaved(runs, repeat)
        per_item_map = max(t["map"] - t["base"], 1e-12) / n * 1e9
        for name in operators:
            per_item = (t[name] - t["base"]) / n * 1e9
            # A map overhead lost in the noise gives no meaningful ratio.
            ratio = per_item / per_item_map if per_item_map > 5 else float("nan")
            results.append(
                Result(
                    f"{name} overhead vs ops.map, {where}",
                    max(per_item, 1e-3),
                    per_item_map,
                    "ns/item",
                    ratio,
                    "report" if limit is None else f"<= {limit}x",
                    limit is None or bool(ratio <= limit),
                )
            )
    return results


# -- a producer thread and a consumer thread ----------------------------------------------


def producer_thread(n: int, burst: int = 0) -> Observable[int]:
    """A push source whose items come from a thread of their own, started on subscribe.

    With ``burst``, it offers ``burst`` items and then rests a millisecond (a paced source).
    """

    def subscribe(observer: abc.ObserverBase[int], _: abc.SchedulerBase | None) -> Any:
        def produce() -> None:
            on_next = observer.on_next
            for i in range(n):
                on_next(i)
                if burst and i % burst == burst - 1:
                    time.sleep(0.001)
            observer.on_completed()

        threading.Thread(target=produce, daemon=True).start()
        return Disposable()

    return reactivex.create(subscribe)


class Sink(abc.ObserverBase[object]):
    """Takes items on the consumer side; with ``pace``, rests a millisecond every ``pace``."""

    def __init__(self, pace: int = 0) -> None:
        self.count = 0
        self.pace = pace
        self.done = threading.Event()

    def on_next(self, _: object) -> None:
        self.count += 1
        if self.pace and self.count % self.pace == 0:
            time.sleep(0.001)

    def on_error(self, error: Exception) -> None:
        self.done.set()
        raise error

    def on_completed(self) -> None:
        self.done.set()


def through_buffer(n: int) -> None:
    loop = EventLoopScheduler()
    sink = Sink()
    bounded_buffer(1000, scheduler=loop)(producer_thread(n)).subscribe(sink)
    sink.done.wait()
    loop.dispose()
    assert sink.count == n, sink.count


def through_queue(n: int) -> None:
    channel: queue.Queue[int | None] = queue.Queue(maxsize=1000)
    sink = Sink()

    def consume() -> None:
        get = channel.get
        while (item := get()) is not None:
            sink.on_next(item)

    def produce() -> None:
        put = channel.put
        for i in range(n):
            put(i)
        put(None)

    threads = [threading.Thread(target=consume), threading.Thread(target=produce)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sink.count == n, sink.count


def through_observe_on(n: int) -> None:
    pool = ThreadPoolScheduler(max_workers=4)
    sink = Sink()
    ops.observe_on(pool)(producer_thread(n)).subscribe(sink)
    sink.done.wait()
    pool.executor.shutdown()
    assert sink.count == n, sink.count


def threads(n: int, n_observe_on: int, repeat: int) -> list[Result]:
    t = interleaved(
        {
            "buffer": lambda: through_buffer(n),
            "queue": lambda: through_queue(n),
            "observe_on": lambda: through_observe_on(n_observe_on),
        },
        repeat,
    )
    ours = n / t["buffer"]
    versus_queue = ours / (n / t["queue"])
    versus_observe_on = ours / (n_observe_on / t["observe_on"])
    return [
        Result(
            "thread -> bounded_buffer(1000, EventLoop) -> thread vs queue.Queue(1000)",
            ours,
            n / t["queue"],
            "items/s",
            versus_queue,
            ">= 1x",
            versus_queue >= 1.0,
        ),
        Result(
            "thread -> bounded_buffer(1000, EventLoop) -> thread vs observe_on(pool)",
            ours,
            n_observe_on / t["observe_on"],
            "items/s",
            versus_observe_on,
            ">= 10x",
            versus_observe_on >= 10.0,
        ),
    ]


# -- memory at 10x overload ---------------------------------------------------------------

Scenario = Callable[[Observable[int], threading.Event], Callable[[], None]]
"""Subscribe a paced consumer to the source; return what waits for the end and cleans up."""


def buffer_scenario(source: Observable[int], _: threading.Event) -> Callable[[], None]:
    loop = EventLoopScheduler()
    sink = Sink(pace=100)
    bounded_buffer(1000, scheduler=loop)(source).subscribe(sink)

    def finish() -> None:
        sink.done.wait()
        loop.dispose()

    return finish


def shed_scenario(source: Observable[int], _: threading.Event) -> Callable[[], None]:
    sink = Sink(pace=100)

    def consume() -> None:
        for item in bp.to_iterable(shed(1000)(source)):
            sink.on_next(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    return consumer.join


class _Backlog(Exception):
    """Raised into observe_on once the producer is done: it then drops its backlog."""


def observe_on_scenario(source: Observable[int], finished: threading.Event) -> Callable[[], None]:
    pool = ThreadPoolScheduler(max_workers=4)
    sink = Sink(pace=100)

    def on_next(value: int) -> None:
        if finished.is_set():
            raise _Backlog  # observe_on clears its queue on an error: no need to wait it out
        sink.on_next(value)

    ops.observe_on(pool)(source).subscribe(on_next, lambda _: None)
    return lambda: pool.executor.shutdown()


def overload_peak(scenario: Scenario, n: int) -> int:
    """tracemalloc peak, once a producer offering 1,000 items per ms (to a consumer that
    takes 100 per ms) has offered all ``n``."""
    finished = threading.Event()
    source = producer_thread(n, burst=1000).pipe(ops.do_action(on_completed=finished.set))
    tracemalloc.start()
    try:
        finish = scenario(source, finished)
        finished.wait()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    finish()
    return peak


def memory(n: int) -> list[Result]:
    """Peaks in KiB: ``ours`` at ``n`` items, ``baseline`` at ``n // 4``; ratio = growth."""
    small = n // 4
    results: list[Result] = []
    for name, scenario, target in (
        ("bounded_buffer(1000, EventLoop)", buffer_scenario, 1.2),
        ("shed(1000) -> to_iterable", shed_scenario, 1.2),
        ("observe_on(pool), for comparison", observe_on_scenario, None),
    ):
        big, little = overload_peak(scenario, n) / 1024, overload_peak(scenario, small) / 1024
        results.append(
            Result(
                f"tracemalloc peak {n:,} vs {small:,} items at 10x overload, {name}",
                big,
                little,
                "KiB",
                big / little,
                "report" if target is None else f"<= {target}x",
                target is None or big / little <= target,
            )
        )
    return results


def main() -> None:
    args = parse_args(__doc__ or "")
    repeat = 1 if args.quick else args.repeat
    n = 2_000 if args.quick else 200_000
    results = overhead(n, repeat)
    results += threads(n, n // 10, repeat)
    results += memory(4_000 if args.quick else 200_000)
    report(results, args.json)


if __name__ == "__main__":
    main()
