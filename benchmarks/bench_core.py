"""Pull-source throughput: from_iterable with request(1024) and request(1), against
reactivex.from_iterable with a plain subscriber; and the demand bridge: a Flowable piped
through ops.map with request(1024), against the same pipe in plain reactivex. Same run.

Run: ``make bench`` or ``python benchmarks/bench_core.py``.
"""

from __future__ import annotations

import reactivex
from _harness import Result, median_seconds, parse_args, report
from reactivex import operators as ops

import rx_backpressure as bp


class Batches:
    """A subscriber that asks for ``batch`` items at a time, re-requesting as they arrive."""

    __slots__ = ("batch", "left", "subscription")

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.left = batch
        self.subscription: bp.Subscription | None = None

    def on_subscribe(self, subscription: bp.Subscription) -> None:
        self.subscription = subscription
        subscription.request(self.batch)

    def on_next(self, value: object) -> None:
        self.left -= 1
        if self.left == 0:
            self.left = self.batch
            assert self.subscription is not None
            self.subscription.request(self.batch)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        pass


def ignore(_: object) -> None:
    pass


def identity(value: object) -> object:
    return value


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 2_000 if args.quick else 1_000_000
    repeat = 1 if args.quick else args.repeat

    baseline = median_seconds(lambda: reactivex.from_iterable(range(n)).subscribe(ignore), repeat)
    batched = median_seconds(lambda: bp.from_iterable(range(n)).subscribe(Batches(1024)), repeat)
    single_n = max(n // 10, 1)
    single = median_seconds(
        lambda: bp.from_iterable(range(single_n)).subscribe(Batches(1)), repeat
    ) * (n / single_n)
    mapped_base = median_seconds(
        lambda: reactivex.from_iterable(range(n)).pipe(ops.map(identity)).subscribe(ignore),
        repeat,
    )
    mapped = median_seconds(
        lambda: bp.from_iterable(range(n)).pipe(ops.map(identity)).subscribe(Batches(1024)),
        repeat,
    )
    results = [
        Result(
            "from_iterable, request(1024) vs reactivex.from_iterable",
            n / batched,
            n / baseline,
            "items/s",
            baseline / batched,
            ">= 1.0x",
            baseline / batched >= 1.0,
        ),
        Result(
            "from_iterable, request(1) stop-and-wait vs reactivex",
            n / single,
            n / baseline,
            "items/s",
            baseline / single,
            "report",
            True,
        ),
        Result(
            "from_iterable.pipe(ops.map), request(1024) vs reactivex pipe",
            n / mapped,
            n / mapped_base,
            "items/s",
            mapped_base / mapped,
            ">= 0.5x",
            mapped_base / mapped >= 0.5,
        ),
    ]
    report(results, args.json)


if __name__ == "__main__":
    main()
