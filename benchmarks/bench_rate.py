"""token_bucket pass-through overhead: a bucket that never runs dry, against ops.map.

Overhead ratio = (t_op - t_base) / (t_map - t_base), all measured in one run: t_base is
the source straight into a callback, t_map the source through ``ops.map(lambda x: x)``,
t_op the source through ``token_bucket`` with unbounded demand. Reported for a Flowable
upstream (``bp.from_iterable``, read as the bucket allows) and a push upstream
(``reactivex.from_iterable``), in shape mode (the default) and in drop mode. The
``ours``/``baseline`` columns are the whole time per item through the bucket and through
``ops.map``; the ratio is the overhead ratio above.

A last row gives context: the cost of one read of the scheduler's clock (the bucket reads
it twice per synchronous answer, and for each item that arrives on its own), against
ops.map's whole overhead per item.

Run: ``make bench`` or ``python benchmarks/bench_rate.py [--quick] [--repeat N] [--json]``.
"""

from __future__ import annotations

from collections.abc import Callable

import reactivex
from _harness import Result, median_seconds, parse_args, report
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler import TimeoutScheduler

import rx_backpressure as bp
from rx_backpressure import token_bucket
from rx_backpressure.core import seconds

TARGET = 2.0


def ignore(_: object) -> None:
    pass


def identity(x: int) -> int:
    return x


def overhead_rows(
    label: str, source: Callable[[], Observable[int]], n: int, repeat: int
) -> tuple[list[Result], float]:
    """The rows for one upstream, and ops.map's overhead per item over it."""
    base = median_seconds(lambda: source().subscribe(ignore), repeat)
    mapped = median_seconds(lambda: ops.map(identity)(source()).subscribe(ignore), repeat)
    # Never dry: more tokens than there are items, refilled fast.
    capacity, rate = 2.0 * n, 1e9
    rows: list[Result] = []
    for mode in ("shape", "drop"):
        bucket: Callable[[Observable[int]], Observable[int]] = token_bucket(
            capacity, rate, mode=mode
        )

        def run(bucket: Callable[[Observable[int]], Observable[int]] = bucket) -> None:
            bucket(source()).subscribe(ignore)

        ours = median_seconds(run, repeat)
        ratio = (ours - base) / max(mapped - base, 1e-9)
        rows.append(
            Result(
                f"token_bucket {mode} never dry, {label}: overhead vs ops.map",
                ours / n * 1e9,
                mapped / n * 1e9,
                "ns/item",
                ratio,
                f"<= {TARGET:g}x",
                ratio <= TARGET,
            )
        )
    return rows, max(mapped - base, 1e-9) / n


def clock_row(n: int, repeat: int, map_overhead: float) -> Result:
    clock = TimeoutScheduler.singleton()

    def loop() -> None:
        for _ in range(n):
            ignore(None)

    def reads() -> None:
        for _ in range(n):
            ignore(seconds(clock))

    per_read = max(median_seconds(reads, repeat) - median_seconds(loop, repeat), 1e-9) / n
    return Result(
        "context: one scheduler clock read vs ops.map overhead/item",
        per_read * 1e9,
        map_overhead * 1e9,
        "ns/item",
        per_read / map_overhead,
        "report",
        True,
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 5_000 if args.quick else 200_000
    repeat = 1 if args.quick else args.repeat
    flowable, flowable_map = overhead_rows(
        "Flowable upstream", lambda: bp.from_iterable(range(n)), n, repeat
    )
    push, _ = overhead_rows("push upstream", lambda: reactivex.from_iterable(range(n)), n, repeat)
    report([*flowable, *push, clock_row(n, repeat, flowable_map)], args.json)


if __name__ == "__main__":
    main()
