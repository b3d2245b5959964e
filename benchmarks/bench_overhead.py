"""What each operator adds per item, in "x map", interleaved in one process.

"x map" = (t_op - t_base) / (cost of one map stage): the operator's cost per item over the
cost of one more ``reactivex.operators.map(identity)`` stage, read as (t_5maps - t_base) / 5
(see ``_harness.Stage``; each row also gives the ratio against one map measured alone).
Every consumer is a plain callback (unbounded demand), so nothing is ever throttled,
dropped or held back.

- A chain over a Flowable, ``bp.from_iterable(range(N))`` then ``bounded_buffer(1000)``,
  ``token_bucket`` (never dry: capacity and rate 1e12), ``circuit_break(identity)``
  (closed) and ``bounded_buffer(1000)`` again, built with ``Flowable.pipe``: each row is
  one more operator, t_base being the chain without it. A reactivex map applied straight
  to a Flowable would read it one item per trampoline step (see bench_core), so the map
  stage here is reactivex's own, over ``reactivex.from_iterable`` against that source
  alone, in the same rounds, over 5N items. One more row, without a target, takes
  ``circuit_break`` with ``prefetch=256`` instead of its default 128.
- A hot ``reactivex.subject.Subject`` (one ``on_next`` per item, from a loop) into each
  operator; t_base is the Subject into the callback, the map stage the Subject through
  five maps (and through one), over 3N items.

Times are per item, so the map stage, a small difference that every ratio divides by, can
be measured over more items than the rest.

Run: ``make bench`` or ``python benchmarks/bench_overhead.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from _harness import (
    MAP_STAGE,
    Row,
    Stage,
    at_most,
    identity,
    ignore,
    interleave,
    map_stage,
    maps,
    parse_args,
    report,
    x_map_row,
)
from reactivex import Observable
from reactivex.subject import Subject

import rx_backpressure as bp

Operator = Callable[[Observable[int]], Observable[int]]

NEVER_DRY = 1e12
"""Capacity and refill rate of a token bucket that never holds an item back."""


CHAIN: tuple[tuple[str, Callable[[], Operator]], ...] = (
    ("bounded_buffer(1000)", lambda: bp.bounded_buffer(1000)),
    ("token_bucket (never dry)", lambda: bp.token_bucket(NEVER_DRY, NEVER_DRY)),
    ("circuit_break(identity) (closed)", lambda: bp.circuit_break(identity)),
    ("bounded_buffer(1000) again", lambda: bp.bounded_buffer(1000)),
)

HOT: tuple[tuple[str, Callable[[], Operator], float], ...] = (
    ("bounded_buffer(1000)", lambda: bp.bounded_buffer(1000), 2),
    ("shed(1000)", lambda: bp.shed(1000), 2),
    ("token_bucket (never dry)", lambda: bp.token_bucket(NEVER_DRY, NEVER_DRY), 3),
    ("circuit_break(identity) (closed)", lambda: bp.circuit_break(identity), 3),
)


READ_AHEAD = 256
"""``circuit_break``'s ``prefetch`` in the chain's one extra variant (its default is 128):
how much of its cost in the chain is the request it sends up every three quarters of
it, which makes the stages above it work in runs of that size."""


def chain(n: int, length: int, *, prefetch: int | None = None) -> Callable[[], object]:
    """A run: the source through the first ``length`` operators of the chain, with
    ``circuit_break`` reading ``prefetch`` ahead if given."""

    def run() -> None:
        operators = [make() for _, make in CHAIN[:length]]
        if prefetch is not None:
            operators[2] = bp.circuit_break(identity, prefetch=prefetch)
        bp.from_iterable(range(n)).pipe(*operators).subscribe(ignore)

    return run


def hot(n: int, make: Callable[[], Operator] | None) -> Callable[[], None]:
    """A run: ``n`` items pushed into a Subject, through ``make()``, into a callback."""

    def run() -> None:
        subject: Subject[int] = Subject()
        (subject if make is None else make()(subject)).subscribe(ignore)
        on_next = subject.on_next
        for i in range(n):
            on_next(i)
        subject.on_completed()

    return run


def check_lossless(n: int) -> None:
    """Every pipeline timed here delivers all ``n`` items (a correctness guard, untimed)."""
    got: list[int] = []
    for length in range(len(CHAIN) + 1):
        got.clear()
        bp.from_iterable(range(n)).pipe(*(make() for _, make in CHAIN[:length])).subscribe(
            got.append
        )
        assert got == list(range(n)), (length, len(got))
    for name, make, _ in HOT:
        got.clear()
        subject: Subject[int] = Subject()
        make()(subject).subscribe(got.append)
        for i in range(n):
            subject.on_next(i)
        subject.on_completed()
        assert got == list(range(n)), (name, len(got))


def chain_rows(n: int, n_map: int, rounds: int, warmup: bool) -> list[Row]:
    variants = map_stage(n_map)
    labels = ["from_iterable", *(name for name, _ in CHAIN)]
    for length, label in enumerate(labels):
        variants[label] = chain(n, length)
    wider = f"circuit_break(identity, prefetch={READ_AHEAD}) (closed)"
    variants[wider] = chain(n, 3, prefetch=READ_AHEAD)
    items = {name: n_map if name in MAP_STAGE else n for name in variants}
    t = interleave(variants, rounds, items=items, warmup=warmup)
    rows = [
        x_map_row(f"chain over a Flowable, + {label}", t, label, previous, target=at_most(2))
        for previous, label in pairwise(labels)
    ]
    rows.append(x_map_row(f"chain over a Flowable, + {wider}, for comparison", t, wider, labels[2]))
    rows.append(
        x_map_row("chain over a Flowable, all four operators together", t, labels[-1], labels[0])
    )
    return rows


def hot_rows(n: int, n_map: int, rounds: int, warmup: bool) -> list[Row]:
    variants = {
        "Subject": hot(n_map, None),
        "Subject map": hot(n_map, lambda: maps(1)),
        "Subject 5 maps": hot(n_map, lambda: maps(5)),
    }
    variants.update({name: hot(n, make) for name, make, _ in HOT})
    items = {name: n_map if name.startswith("Subject") else n for name in variants}
    t = interleave(variants, rounds, items=items, warmup=warmup)
    return [
        x_map_row(
            f"hot Subject into {name}",
            t,
            name,
            "Subject",
            stage=Stage("Subject", "Subject 5 maps", 5),
            single=Stage("Subject", "Subject map", 1),
            target=at_most(limit),
        )
        for name, _, limit in HOT
    ]


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 1_000 if options.quick else 200_000
    warmup = not options.quick
    check_lossless(1_000 if options.quick else 10_000)
    rows = chain_rows(n, 5 * n, options.rounds, warmup)
    rows += hot_rows(n, 3 * n, options.rounds, warmup)
    report("bench_overhead: operators in x map", rows, options)


if __name__ == "__main__":
    main()
