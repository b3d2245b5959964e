"""rate_limit and token_bucket: pass-through overhead in "x map", and rate accuracy on
real time.

- Overhead, interleaved in one process: ``rate_limit(1e9)`` (the same as
  ``token_bucket(1, 1e9)``, which reads ahead the items due within ``READ_AHEAD``; each
  run waits until the last item is delivered and checks that all were) and, for context,
  ``token_bucket`` never dry (capacity and rate 1e12) in shape and in drop mode, each over
  ``bp.from_iterable(range(N))`` into a plain callback. "x map" = (t_op - t_base) / (cost
  of one map stage), t_base being the Flowable into the callback and the map stage
  reactivex's own, over ``reactivex.from_iterable`` (a map applied straight to a Flowable
  would read it one item per trampoline step): (t_5maps - t_base) / 5 (see
  ``_harness.Stage``), measured over 10N items (times are per item).
- Accuracy: ``bp.from_iterable(range(n)).pipe(bp.rate_limit(r))`` subscribed with
  ``scheduler=TimeoutScheduler.singleton()`` for r in 100, 250, 500, with n = 2r + 1 (about
  2 s each), the rates taking turns, one run of each per round. Each emission is stamped
  with ``time.perf_counter``. Reported: the achieved rate, (n - 1) / (last - first stamp),
  over r; and the smallest gap between consecutive emissions over 1/r. Their "best" is the
  round closest to 1.

Run: ``make bench`` or ``python benchmarks/bench_rate.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from itertools import pairwise

from _harness import (
    MAP_STAGE,
    NOMINAL,
    Row,
    at_most,
    ignore,
    interleave,
    map_stage,
    parse_args,
    report,
    row_of,
    x_map_row,
)
from reactivex import Observable
from reactivex.scheduler import TimeoutScheduler

import rx_backpressure as bp

NEVER_DRY = 1e12
RATES = (100, 250, 500)


def overhead_rows(n: int, n_map: int, rounds: int, warmup: bool) -> list[Row]:
    def source() -> bp.Flowable[int]:
        return bp.from_iterable(range(n))

    def to_the_end(operator: Callable[[Observable[int]], bp.Flowable[int]]) -> None:
        """A run that ends when the last item is delivered: an item that waited for its
        tokens goes out on a timer thread, after ``subscribe`` returned."""
        count = 0
        done = threading.Event()

        def take(_: int) -> None:
            nonlocal count
            count += 1

        source().pipe(operator).subscribe(take, on_completed=done.set)
        if not done.wait(timeout=60) or count != n:
            raise AssertionError(f"delivered {count} of {n} items")

    variants = {
        **map_stage(n_map),
        "from_iterable": lambda: source().subscribe(ignore),
        "rate_limit(1e9)": lambda: to_the_end(bp.rate_limit(1e9)),
        "token_bucket shape": lambda: (
            source().pipe(bp.token_bucket(NEVER_DRY, NEVER_DRY)).subscribe(ignore)
        ),
        "token_bucket drop": lambda: (
            source().pipe(bp.token_bucket(NEVER_DRY, NEVER_DRY, mode="drop")).subscribe(ignore)
        ),
    }
    items = {name: n_map if name in MAP_STAGE else n for name in variants}
    t = interleave(variants, rounds, items=items, warmup=warmup)
    return [
        x_map_row(
            "rate_limit(1e9) over a Flowable",
            t,
            "rate_limit(1e9)",
            "from_iterable",
            target=at_most(3),
        ),
        *(
            x_map_row(
                f"token_bucket never dry, {mode} mode, over a Flowable",
                t,
                f"token_bucket {mode}",
                "from_iterable",
            )
            for mode in ("shape", "drop")
        ),
    ]


def stamps(rate: float, n: int) -> list[float]:
    """When each of ``n`` items left ``rate_limit(rate)`` on real time (perf_counter)."""
    times: list[float] = []
    done = threading.Event()
    errors: list[Exception] = []

    def on_error(error: Exception) -> None:
        errors.append(error)
        done.set()

    subscription = (
        bp.from_iterable(range(n))
        .pipe(bp.rate_limit(rate))
        .subscribe(
            lambda _: times.append(time.perf_counter()),
            on_error,
            done.set,
            scheduler=TimeoutScheduler.singleton(),
        )
    )
    expected = (n - 1) / rate
    if not done.wait(timeout=3 * expected + 5):
        subscription.dispose()
        raise TimeoutError(f"rate_limit({rate}) sent {len(times)} of {n} in {expected:g}+ s")
    if errors:
        raise errors[0]
    assert len(times) == n, (rate, len(times))
    return times


def closest_to_one(values: Sequence[float]) -> float:
    return min(values, key=lambda value: abs(value - 1))


def accuracy_rows(seconds: float, rounds: int) -> list[Row]:
    achieved: dict[int, list[float]] = {rate: [] for rate in RATES}
    smallest: dict[int, list[float]] = {rate: [] for rate in RATES}
    for index in range(rounds):
        for rate in RATES if index % 2 == 0 else reversed(RATES):
            n = round(seconds * rate) + 1
            times = stamps(rate, n)
            achieved[rate].append((n - 1) / (times[-1] - times[0]) / rate)
            smallest[rate].append(min(b - a for a, b in pairwise(times)) * rate)
    rows: list[Row] = []
    for rate in RATES:
        for label, values in (
            ("achieved rate / r", achieved[rate]),
            ("smallest gap / (1/r)", smallest[rate]),
        ):
            rows.append(
                row_of(
                    f"rate_limit({rate}) on TimeoutScheduler, {seconds:g} s: {label}",
                    median=statistics.median(values),
                    best=closest_to_one(values),
                    per_round=values,
                    unit=NOMINAL,
                )
            )
    return rows


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 1_000 if options.quick else 100_000
    rows = overhead_rows(n, 10 * n, options.rounds, warmup=not options.quick)
    rows += accuracy_rows(0.05 if options.quick else 2.0, options.rounds)
    report("bench_rate: rate_limit and token_bucket", rows, options)


if __name__ == "__main__":
    main()
