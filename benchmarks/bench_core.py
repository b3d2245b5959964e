"""The pull source and the pipe bridge against plain reactivex, interleaved in one process.

- ``bp.from_iterable(range(N))`` read by a subscriber that requests 1024 at a time, and by
  one that requests 1 per item (stop-and-wait), against
  ``reactivex.from_iterable(range(N)).subscribe(f)``; and with a plain callback (unbounded
  demand) for context.
- Five ``ops.map(identity)`` through ``Flowable.pipe`` (bridged: demand kept exact) against
  reactivex's own ``.pipe`` of the same five maps over ``reactivex.from_iterable``, both
  subscribed with a plain callback; and one bridged map in "x map" (see below).
- Setting a pipeline up: ``bp.from_iterable([0]).pipe(five maps).subscribe(f)`` against
  the same over ``reactivex.from_iterable``, one item each, so the time is what it takes
  to build the pipe and subscribe (times are per pipeline).
- ``bp.from_iterable(range(N)).pipe(ops.buffer_with_count(10))``: a plain reactivex
  operator subscribes the Flowable inside its trampoline, so it is read one item per
  trampoline step; against the same pipe over ``reactivex.from_iterable(range(N))`` (which
  emits its whole iterable from one scheduled action) and over ``reactivex.range(N)``
  (which, like the Flowable here, emits one item per scheduled action).

"x map" = (t_op - t_base) / (cost of one map stage), the stage being ``ops.map(identity)``
over ``reactivex.from_iterable`` (reactivex's own cost of a stage), read as
(t_5maps - t_base) / 5 (see ``_harness.Stage``).

Run: ``make bench`` or ``python benchmarks/bench_core.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

from collections.abc import Callable

import reactivex
from _harness import (
    at_least,
    at_most,
    cost,
    identity,
    ignore,
    interleave,
    map_stage,
    ns,
    parse_args,
    ratio_row,
    report,
    speed,
    x_map_row,
)
from reactivex import Observable
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

    def on_next(self, _: object) -> None:
        self.left -= 1
        if self.left == 0:
            self.left = self.batch
            assert self.subscription is not None
            self.subscription.request(self.batch)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        pass


def five_maps() -> list[Callable[[Observable[int]], Observable[int]]]:
    return [ops.map(identity) for _ in range(5)]


def pipelines(count: int, source: Callable[[list[int]], Observable[int]]) -> Callable[[], None]:
    """A run: ``count`` pipelines of five maps over a one-item ``source``, each built and
    subscribed afresh."""

    def run() -> None:
        for _ in range(count):
            source([0]).pipe(*five_maps()).subscribe(ignore)

    return run


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 2_000 if options.quick else 1_000_000
    single = n // 10  # stop-and-wait is slow; per-item times make the sizes comparable
    n_maps = 1_000 if options.quick else 300_000
    n_steps = 500 if options.quick else 20_000
    warmup = not options.quick

    sources = interleave(
        {
            "reactivex": lambda: reactivex.from_iterable(range(n)).subscribe(ignore),
            "request(1024)": lambda: bp.from_iterable(range(n)).subscribe(Batches(1024)),
            "request(1)": lambda: bp.from_iterable(range(single)).subscribe(Batches(1)),
            "plain callback": lambda: bp.from_iterable(range(n)).subscribe(ignore),
        },
        options.rounds,
        items={"reactivex": n, "request(1024)": n, "request(1)": single, "plain callback": n},
        warmup=warmup,
    )
    maps = interleave(
        {
            **map_stage(n_maps),
            "Flowable": lambda: bp.from_iterable(range(n_maps)).subscribe(ignore),
            "Flowable.pipe map": lambda: (
                bp.from_iterable(range(n_maps)).pipe(ops.map(identity)).subscribe(ignore)
            ),
            "Flowable.pipe 5 maps": lambda: (
                bp.from_iterable(range(n_maps)).pipe(*five_maps()).subscribe(ignore)
            ),
        },
        options.rounds,
        items=n_maps,
        warmup=warmup,
    )
    n_setups = 20 if options.quick else 2_000
    setups = interleave(
        {
            "reactivex": pipelines(n_setups, reactivex.from_iterable),
            "Flowable": pipelines(n_setups, bp.from_iterable),
        },
        options.rounds,
        items=n_setups,
        warmup=warmup,
    )
    steps = interleave(
        {
            "reactivex": lambda: (
                reactivex.from_iterable(range(n_steps))
                .pipe(ops.buffer_with_count(10))
                .subscribe(ignore)
            ),
            "Flowable": lambda: (
                bp.from_iterable(range(n_steps)).pipe(ops.buffer_with_count(10)).subscribe(ignore)
            ),
            "reactivex.range": lambda: (
                reactivex.range(n_steps).pipe(ops.buffer_with_count(10)).subscribe(ignore)
            ),
        },
        options.rounds,
        items=n_steps,
        warmup=warmup,
    )
    rows = [
        ratio_row(
            "from_iterable, request(1024) vs reactivex.from_iterable",
            sources,
            speed("request(1024)", "reactivex"),
            unit="x reactivex speed",
            target=at_least(1.3),
            detail=ns(sources, "request(1024)", "reactivex"),
        ),
        ratio_row(
            "from_iterable, request(1) per item vs reactivex.from_iterable",
            sources,
            cost("request(1)", "reactivex"),
            unit="x reactivex per item",
            target=at_most(6),
            detail=ns(sources, "request(1)", "reactivex"),
        ),
        ratio_row(
            "from_iterable, plain callback (unbounded) vs reactivex.from_iterable",
            sources,
            speed("plain callback", "reactivex"),
            unit="x reactivex speed",
            detail=ns(sources, "plain callback", "reactivex"),
        ),
        ratio_row(
            "five ops.map through Flowable.pipe vs reactivex .pipe",
            maps,
            speed("Flowable.pipe 5 maps", "reactivex 5 maps"),
            unit="x reactivex speed",
            target=at_least(0.8),
            detail=ns(maps, "Flowable.pipe 5 maps", "reactivex 5 maps"),
        ),
        x_map_row(
            "one ops.map through Flowable.pipe (bridged), overhead",
            maps,
            "Flowable.pipe map",
            "Flowable",
        ),
        ratio_row(
            "setting up from_iterable([0]).pipe(five maps).subscribe(f) vs reactivex's",
            setups,
            speed("Flowable", "reactivex"),
            unit="x reactivex speed",
            detail=", ".join(
                f"{name} {setups.median()[name] * 1e6:.1f} us a pipeline"
                for name in ("Flowable", "reactivex")
            ),
        ),
        ratio_row(
            "from_iterable.pipe(ops.buffer_with_count(10)) vs reactivex.from_iterable's",
            steps,
            speed("Flowable", "reactivex"),
            unit="x reactivex speed",
            detail=ns(steps, "Flowable", "reactivex"),
        ),
        ratio_row(
            "from_iterable.pipe(ops.buffer_with_count(10)) vs reactivex.range's",
            steps,
            speed("Flowable", "reactivex.range"),
            unit="x reactivex speed",
            detail=ns(steps, "Flowable", "reactivex.range"),
        ),
    ]
    report("bench_core: the pull source and the pipe bridge", rows, options)


if __name__ == "__main__":
    main()
