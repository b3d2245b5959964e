"""adaptive_batch throughput with a fast consumer, against reactivex's buffer_with_count at
the same size, in the same run.

The size is fixed (initial_size = min_size = max_size) so both sides cut the same batches;
the adaptive side still times every batch and runs its size rule. Upstreams: a Flowable
(``bp.from_iterable``, read one batch ahead) and a plain push one (``reactivex.from_iterable``).

Run: ``make bench`` or ``python benchmarks/bench_batch.py [--quick] [--repeat 7] [--json]``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import reactivex
from _harness import Result, median_seconds, parse_args, report
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp
from rx_backpressure import adaptive_batch

SIZES = (10, 100, 1000)


def ignore(_: object) -> None:
    pass


def through(source: Callable[[], Observable[int]], op: Callable[[Observable[int]], object]) -> None:
    # Operators are applied directly, not with .pipe, so only the operator is measured.
    flow = op(source())
    assert isinstance(flow, Observable)
    flow.subscribe(ignore)


def compare(size: int, n: int, repeat: int) -> list[Result]:
    """adaptive_batch at a fixed ``size`` over both upstreams, against buffer_with_count."""
    batched = adaptive_batch(initial_size=size, min_size=size, max_size=size)
    buffered = ops.buffer_with_count(size)

    def push() -> Observable[int]:
        return reactivex.from_iterable(range(n))

    def flowable() -> Observable[int]:
        return bp.from_iterable(range(n))

    baseline = median_seconds(lambda: through(push, buffered), repeat)
    results: list[Result] = []
    for label, source in (("Flowable", flowable), ("push", push)):
        ours = median_seconds(partial(through, source, batched), repeat)
        results.append(
            Result(
                f"adaptive_batch({size}), {label} upstream vs buffer_with_count",
                n / ours,
                n / baseline,
                "items/s",
                baseline / ours,
                ">= 1.0x",
                baseline / ours >= 1.0,
            )
        )
    return results


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 5_000 if args.quick else 500_000
    repeat = 1 if args.quick else args.repeat
    results = [result for size in SIZES for result in compare(size, n, repeat)]
    report(results, args.json)


if __name__ == "__main__":
    main()
