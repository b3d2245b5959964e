"""circuit_break overhead with an action that always succeeds, against ops.map(action).

Overhead ratio = (t_op - t_base) / (t_map - t_base), all measured in one run, taking turns:
t_base is the source straight into a callback, t_map the source through
``ops.map(action)``, t_op the source through ``circuit_break(action)`` with unbounded
demand; each the median of the repetitions. Reported for a Flowable
upstream (``bp.from_iterable``, read 128 ahead: the default ``prefetch``) and a push
upstream (``reactivex.from_iterable``). The ``ours``/``baseline`` columns are the whole
time per item through each pipeline.

The target rows use the identity action, so they measure the operator alone. The other rows
give context: the same ratio when the action does a little work, as a real call would
(``json.dumps`` of a small dict, well under what any network call costs), the Flowable row
again with a read-ahead of 8 and of 32 (one request round trip per 6 or 24 items instead
of per 96), and the ratio of the core's ``Drain`` alone (hold each item, emit it on
demand) over a push upstream.

Run: ``make bench`` or ``python benchmarks/bench_circuit.py [--quick] [--repeat N] [--json]``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable

import reactivex
from _harness import Result, median_seconds, parse_args, report
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp
from rx_backpressure import circuit_break
from rx_backpressure.core import Drain, lift

TARGET = 2.0
Operator = Callable[[Observable[int]], Observable[object]]


def ignore(_: object) -> None:
    pass


def identity(x: int) -> int:
    return x


def encode(x: int) -> str:
    return json.dumps({"id": x, "kind": "event"})


def interleaved(runs: tuple[Callable[[], object], ...], repeat: int) -> list[float]:
    """The median time of each run, taking turns so that a noisy neighbour hits all alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, samples in zip(runs, times, strict=True):
            samples.append(median_seconds(run, 1))
    return [statistics.median(samples) for samples in times]


def overhead_row(
    label: str,
    source: Callable[[], Observable[int]],
    action: Callable[[int], object],
    n: int,
    repeat: int,
    target: bool,
    operator: Operator | None = None,
    name: str = "",
) -> Result:
    operator = operator or circuit_break(action)
    base, mapped, ours = interleaved(
        (
            lambda: source().subscribe(ignore),
            lambda: ops.map(action)(source()).subscribe(ignore),
            lambda: operator(source()).subscribe(ignore),
        ),
        repeat,
    )
    ratio = (ours - base) / (mapped - base) if mapped > base else float("inf")
    return Result(
        f"{name or f'circuit_break({action.__name__}) closed'}, {label}: overhead vs ops.map",
        ours / n * 1e9,
        mapped / n * 1e9,
        "ns/item",
        ratio,
        f"<= {TARGET:g}x" if target else "report",
        ratio <= TARGET or not target,
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 5_000 if args.quick else 200_000
    repeat = 1 if args.quick else args.repeat
    sources: tuple[tuple[str, Callable[[], Observable[int]]], ...] = (
        ("Flowable upstream", lambda: bp.from_iterable(range(n))),
        ("push upstream", lambda: reactivex.from_iterable(range(n))),
    )
    rows = [overhead_row(label, source, identity, n, repeat, True) for label, source in sources]
    rows += [overhead_row(label, source, encode, n, repeat, False) for label, source in sources]
    for prefetch in (8, 32):
        rows.append(
            overhead_row(
                *sources[0],
                identity,
                n,
                repeat,
                False,
                circuit_break(identity, prefetch=prefetch),
                f"circuit_break(identity, prefetch={prefetch}) closed",
            )
        )
    # Where the time goes: the core's drain loop alone, holding and emitting each item.
    bare: Operator = lift(lambda subscriber: Drain(subscriber))
    rows.append(
        overhead_row(*sources[1], identity, n, repeat, False, bare, "context: core Drain alone")
    )
    report(rows, args.json)


if __name__ == "__main__":
    main()
