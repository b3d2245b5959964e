"""circuit_break, closed (the action always succeeds), in "x map", interleaved in one process.

"x map" = (t_op - t_base) / (cost of one map stage). For the identity action the stage is
``ops.map(identity)`` over ``reactivex.from_iterable``, read as (t_5maps - t_base) / 5 (see
``_harness.Stage``); for ``json.dumps`` it is one ``ops.map(json.dumps)``, whose cost
dwarfs the noise. Upstreams:

- a Flowable, ``bp.from_iterable(range(N))``, read ``prefetch`` items ahead (128, the
  default; also 8 and 32: one request round trip per 6 or 24 items instead of per 96).
  t_base is the Flowable into a plain callback. A map applied straight to a Flowable would
  read it one item per trampoline step (see bench_core), so the map stage is reactivex's
  own, over ``reactivex.from_iterable`` against that source alone, over 10N items for the
  identity action (times are per item).
- a push upstream, ``reactivex.from_iterable(range(N))``; t_base and t_map over it.

The identity action measures the operator alone. ``json.dumps`` of a small dict, a little
work as a real call would do (far less than any network call), shows the operator's share
once the action costs something.

Run: ``make bench`` or ``python benchmarks/bench_circuit.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import json

import reactivex
from _harness import (
    MAP_STAGE,
    Stage,
    identity,
    ignore,
    interleave,
    map_stage,
    parse_args,
    report,
    x_map_row,
)
from reactivex import operators as ops

import rx_backpressure as bp


def encode(value: int) -> str:
    return json.dumps({"id": value, "kind": "event"})


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 1_000 if options.quick else 100_000
    n_map = 10 * n

    variants = {
        **map_stage(n_map),
        "push circuit_break(identity)": lambda: (
            reactivex.from_iterable(range(n)).pipe(bp.circuit_break(identity)).subscribe(ignore)
        ),
        "from_iterable": lambda: bp.from_iterable(range(n)).subscribe(ignore),
        "circuit_break(identity)": lambda: (
            bp.from_iterable(range(n)).pipe(bp.circuit_break(identity)).subscribe(ignore)
        ),
        "prefetch=32": lambda: (
            bp.from_iterable(range(n))
            .pipe(bp.circuit_break(identity, prefetch=32))
            .subscribe(ignore)
        ),
        "prefetch=8": lambda: (
            bp.from_iterable(range(n))
            .pipe(bp.circuit_break(identity, prefetch=8))
            .subscribe(ignore)
        ),
        "circuit_break(encode)": lambda: (
            bp.from_iterable(range(n)).pipe(bp.circuit_break(encode)).subscribe(ignore)
        ),
        "reactivex map(encode)": lambda: (
            reactivex.from_iterable(range(n)).pipe(ops.map(encode)).subscribe(ignore)
        ),
    }
    items = {name: n_map if name in MAP_STAGE else n for name in variants}
    t = interleave(variants, options.rounds, items=items, warmup=not options.quick)
    rows = [
        x_map_row(
            f"circuit_break(identity{option}) closed, over a Flowable", t, name, "from_iterable"
        )
        for name, option in (
            ("circuit_break(identity)", ""),
            ("prefetch=32", ", prefetch=32"),
            ("prefetch=8", ", prefetch=8"),
        )
    ]
    rows += [
        x_map_row(
            "circuit_break(identity) closed, over reactivex.from_iterable",
            t,
            "push circuit_break(identity)",
            "reactivex",
        ),
        x_map_row(
            "circuit_break(json.dumps) closed, over a Flowable, x map(json.dumps)",
            t,
            "circuit_break(encode)",
            "from_iterable",
            stage=Stage("reactivex", "reactivex map(encode)", 1),
            single=None,
        ),
    ]
    report("bench_circuit: circuit_break closed", rows, options)


if __name__ == "__main__":
    main()
