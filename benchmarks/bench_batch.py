"""adaptive_batch with a fast consumer against reactivex's buffer_with_count at the same
size, interleaved in one process.

The size is fixed (initial_size = min_size = max_size) so both sides cut the same batches;
the adaptive side still times every batch and runs its size rule. Upstreams: a Flowable
(``bp.from_iterable``, read one batch ahead) and a push one (``reactivex.from_iterable``).
The baseline is ``ops.buffer_with_count(size)`` over ``reactivex.from_iterable``.

Run: ``make bench`` or ``python benchmarks/bench_batch.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

from collections.abc import Callable

import reactivex
from _harness import Row, ignore, interleave, parse_args, per_second, ratio_row, report, speed
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp

SIZES = (10, 100, 1000)


def buffered(n: int, size: int) -> Callable[[], None]:
    def run() -> None:
        reactivex.from_iterable(range(n)).pipe(ops.buffer_with_count(size)).subscribe(ignore)

    return run


def adaptive(source: Callable[[], Observable[int]], size: int) -> Callable[[], None]:
    def run() -> None:
        batched = bp.adaptive_batch(initial_size=size, min_size=size, max_size=size)
        batched(source()).subscribe(ignore)

    return run


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 2_000 if options.quick else 100_000

    def push() -> Observable[int]:
        return reactivex.from_iterable(range(n))

    def flowable() -> Observable[int]:
        return bp.from_iterable(range(n))

    variants: dict[str, Callable[[], None]] = {}
    for size in SIZES:
        variants[f"buffer_with_count({size})"] = buffered(n, size)
        variants[f"adaptive_batch({size}) Flowable"] = adaptive(flowable, size)
        variants[f"adaptive_batch({size}) push"] = adaptive(push, size)
    t = interleave(variants, options.rounds, items=n, warmup=not options.quick)
    rows: list[Row] = []
    for size in SIZES:
        for upstream in ("Flowable", "push"):
            ours, baseline = f"adaptive_batch({size}) {upstream}", f"buffer_with_count({size})"
            rows.append(
                ratio_row(
                    f"adaptive_batch({size}), {upstream} upstream vs buffer_with_count({size})",
                    t,
                    speed(ours, baseline),
                    unit="x buffer_with_count speed",
                    detail=per_second(t, ours, baseline),
                )
            )
    report("bench_batch: adaptive_batch", rows, options)


if __name__ == "__main__":
    main()
