"""bounded_buffer and shed against reactivex and the standard library, interleaved in one
process.

- Pass-through overhead in "x map" = (t_op - t_base) / (cost of one map stage), demand
  never running dry (a plain callback downstream). The map stage is
  ``ops.map(identity)`` over ``reactivex.from_iterable``, read as (t_5maps - t_base) / 5
  (see ``_harness.Stage``) over 5N items (times are per item). Over a push upstream,
  ``reactivex.from_iterable(range(N))``, t_base is that source into the callback. Over a
  Flowable, ``bp.from_iterable(range(N))``, t_base is the Flowable into the callback (a
  map applied straight to a Flowable would read it one item per trampoline step; see
  bench_core). bounded_buffer over a Flowable is the first row of bench_overhead's chain.
- A producer thread pushing N items into ``bounded_buffer(capacity)`` read by
  ``to_iterable`` on a consumer thread, against ``queue.Queue(maxsize=capacity)`` between a
  producer thread and a consumer thread, for capacity 1000 and 10; at capacity 1000 also
  with the producer thread calling a ``Subject``'s ``on_next`` instead; and against
  ``ops.observe_on(ThreadPoolScheduler())`` (N / 10 items: it schedules one task per item).
- tracemalloc peak at 10x overload (the producer offers 1,000 items per millisecond, the
  consumer takes 100): N items against N / 4. A bounded buffer stays flat;
  ``observe_on`` queues the backlog and grows with it.

Run: ``make bench`` or ``python benchmarks/bench_buffers.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import queue
import threading
import time
import tracemalloc
from collections.abc import Callable

import reactivex
from _harness import (
    MAP_STAGE,
    Row,
    Timings,
    at_least,
    cost,
    ignore,
    interleave,
    map_stage,
    parse_args,
    per_second,
    ratio_row,
    report,
    speed,
    x_map_row,
)
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable
from reactivex.scheduler import EventLoopScheduler, ThreadPoolScheduler
from reactivex.subject import Subject

import rx_backpressure as bp

WAIT = 60.0
"""Seconds any wait in a hand-off may take before the run counts as hung."""

# -- pass-through overhead ---------------------------------------------------------------


def overhead_rows(n: int, n_map: int, rounds: int, warmup: bool) -> list[Row]:
    def flowable() -> Observable[int]:
        return bp.from_iterable(range(n))

    def push() -> Observable[int]:
        return reactivex.from_iterable(range(n))

    variants = {
        **map_stage(n_map),
        "push bounded_buffer": lambda: bp.bounded_buffer(1000)(push()).subscribe(ignore),
        "push shed": lambda: bp.shed(1000)(push()).subscribe(ignore),
        "from_iterable": lambda: flowable().subscribe(ignore),
        "Flowable shed": lambda: bp.shed(1000)(flowable()).subscribe(ignore),
    }
    items = {name: n_map if name in MAP_STAGE else n for name in variants}
    t = interleave(variants, rounds, items=items, warmup=warmup)
    return [
        x_map_row("shed(1000) over a Flowable", t, "Flowable shed", "from_iterable"),
        *(
            x_map_row(f"{name}(1000) over reactivex.from_iterable", t, f"push {name}", "reactivex")
            for name in ("bounded_buffer", "shed")
        ),
    ]


# -- a producer thread and a consumer thread ----------------------------------------------


def producer_thread(n: int, burst: int = 0) -> Observable[int]:
    """A push source whose items come from a thread of its own, started on subscribe.

    With ``burst``, it offers ``burst`` items and then rests a millisecond (a paced source).
    """

    def subscribe(observer: abc.ObserverBase[int], _: abc.SchedulerBase | None) -> Disposable:
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


def through_buffer(n: int, capacity: int) -> None:
    """Producer thread -> bounded_buffer(capacity) -> to_iterable on a consumer thread."""
    count = 0

    def consume() -> None:
        nonlocal count
        for _ in bp.to_iterable(bp.bounded_buffer(capacity)(producer_thread(n))):
            count += 1

    consumer = threading.Thread(target=consume)
    consumer.start()
    consumer.join()
    assert count == n, count


def through_subject(n: int, capacity: int) -> None:
    """The same with the producer thread calling a ``Subject``'s ``on_next`` (the way the
    ``bounded_buffer`` page's example feeds it): reactivex's Subject takes a lock and copies
    its observers for each item."""
    subject: Subject[int] = Subject()
    count = 0
    subscribed = threading.Event()

    def consume() -> None:
        nonlocal count
        iterator = bp.to_iterable(bp.bounded_buffer(capacity)(subject))
        # The first next() subscribes; the producer starts once the Subject has an observer.
        starter = threading.Thread(target=lambda: (wait_for_observer(subject), subscribed.set()))
        starter.start()
        for _ in iterator:
            count += 1
        starter.join(WAIT)

    def produce() -> None:
        assert subscribed.wait(WAIT), "the consumer never subscribed"
        on_next = subject.on_next
        for i in range(n):
            on_next(i)
        subject.on_completed()

    threads = [threading.Thread(target=consume), threading.Thread(target=produce)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "a thread of the hand-off hung"
    assert count == n, count


def wait_for_observer(subject: Subject[int]) -> None:
    deadline = time.monotonic() + WAIT
    while not subject.observers:
        assert time.monotonic() < deadline, "no observer came"
        time.sleep(0.0005)


def through_queue(n: int, capacity: int) -> None:
    """Producer thread -> queue.Queue(capacity) -> consumer thread."""
    channel: queue.Queue[int | None] = queue.Queue(maxsize=capacity)
    count = 0

    def consume() -> None:
        nonlocal count
        get = channel.get
        while get() is not None:
            count += 1

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
    assert count == n, count


def through_observe_on(n: int) -> None:
    pool = ThreadPoolScheduler(max_workers=4)
    sink = Sink()
    ops.observe_on(pool)(producer_thread(n)).subscribe(sink)
    sink.done.wait()
    pool.executor.shutdown()
    assert sink.count == n, sink.count


def thread_rows(n: int, rounds: int, warmup: bool) -> list[Row]:
    n_observe_on = n // 10
    t = interleave(
        {
            "bounded_buffer(1000)": lambda: through_buffer(n, 1000),
            "Subject -> bounded_buffer(1000)": lambda: through_subject(n, 1000),
            "queue.Queue(1000)": lambda: through_queue(n, 1000),
            "bounded_buffer(10)": lambda: through_buffer(n, 10),
            "queue.Queue(10)": lambda: through_queue(n, 10),
            "observe_on": lambda: through_observe_on(n_observe_on),
        },
        rounds,
        items={
            "bounded_buffer(1000)": n,
            "Subject -> bounded_buffer(1000)": n,
            "queue.Queue(1000)": n,
            "bounded_buffer(10)": n,
            "queue.Queue(10)": n,
            "observe_on": n_observe_on,
        },
        warmup=warmup,
    )
    rows = [
        ratio_row(
            f"thread -> bounded_buffer({capacity}) -> to_iterable thread vs queue.Queue",
            t,
            speed(f"bounded_buffer({capacity})", f"queue.Queue({capacity})"),
            unit="x queue.Queue speed",
            target=at_least(1),
            detail=per_second(t, f"bounded_buffer({capacity})", f"queue.Queue({capacity})"),
        )
        for capacity in (1000, 10)
    ]
    rows.append(
        ratio_row(
            "the same fed through a Subject vs queue.Queue(1000)",
            t,
            speed("Subject -> bounded_buffer(1000)", "queue.Queue(1000)"),
            unit="x queue.Queue speed",
            detail=per_second(t, "Subject -> bounded_buffer(1000)", "queue.Queue(1000)"),
        )
    )
    rows.append(
        ratio_row(
            "thread -> bounded_buffer(1000) -> to_iterable thread vs observe_on(pool)",
            t,
            speed("bounded_buffer(1000)", "observe_on"),
            unit="x observe_on speed",
            detail=per_second(t, "bounded_buffer(1000)", "observe_on"),
        )
    )
    return rows


# -- memory at 10x overload ---------------------------------------------------------------

Scenario = Callable[[Observable[int], threading.Event], Callable[[], None]]
"""Subscribe a paced consumer to the source; return what waits for the end and cleans up."""


def buffer_scenario(source: Observable[int], _: threading.Event) -> Callable[[], None]:
    loop = EventLoopScheduler()
    sink = Sink(pace=100)
    bp.bounded_buffer(1000, scheduler=loop)(source).subscribe(sink)

    def finish() -> None:
        sink.done.wait()
        loop.dispose()

    return finish


def shed_scenario(source: Observable[int], _: threading.Event) -> Callable[[], None]:
    sink = Sink(pace=100)

    def consume() -> None:
        for item in bp.to_iterable(bp.shed(1000)(source)):
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


def overload_peak(scenario: Scenario, n: int) -> float:
    """tracemalloc peak in KiB, once a producer offering 1,000 items per ms (to a consumer
    that takes 100 per ms) has offered all ``n``."""
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
    return peak / 1024


SCENARIOS: tuple[tuple[str, Scenario], ...] = (
    ("bounded_buffer(1000, EventLoop)", buffer_scenario),
    ("shed(1000) -> to_iterable", shed_scenario),
    ("observe_on(pool), for comparison", observe_on_scenario),
)


def memory_rows(n: int, rounds: int) -> list[Row]:
    """Peak KiB at ``n`` items over peak at ``n // 4``, taking turns like the timings."""
    small = n // 4
    peaks: dict[str, list[float]] = {}
    runs = [(name, scenario, size) for name, scenario in SCENARIOS for size in (n, small)]
    for index in range(rounds):
        for name, scenario, size in runs if index % 2 == 0 else reversed(runs):
            peaks.setdefault(f"{name} {size}", []).append(overload_peak(scenario, size))
    t = Timings(peaks)
    median = t.median()
    return [
        ratio_row(
            f"tracemalloc peak at 10x overload, {n:,} vs {small:,} items: {name}",
            t,
            cost(f"{name} {n}", f"{name} {small}"),
            unit="x (growth)",
            detail=f"median peaks {median[f'{name} {n}']:,.0f} KiB vs "
            f"{median[f'{name} {small}']:,.0f} KiB",
        )
        for name, _ in SCENARIOS
    ]


def main() -> None:
    options = parse_args(__doc__ or "")
    warmup = not options.quick
    n = 2_000 if options.quick else 200_000
    rows = overhead_rows(n, 5 * n, options.rounds, warmup)
    rows += thread_rows(2_000 if options.quick else 100_000, options.rounds, warmup)
    rows += memory_rows(4_000 if options.quick else 100_000, options.rounds)
    report("bench_buffers: bounded_buffer and shed", rows, options)


if __name__ == "__main__":
    main()
