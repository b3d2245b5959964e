"""rx_backpressure against rxbp, the other Python library with backpressure, interleaved.

rxbp (``pip install 'rx-backpressure[bench]'``, which pins 3.0.0a9; ``make bench`` installs
it) is optional: without it this script says so and reports nothing. Its pull sources emit
batches of ``batch_size`` items and wait for an acknowledgement per batch; ours is asked
with ``request(n)``. Each pair reads the same N items with the same demand granularity:

- batches of 1024: ``rxbp.range(N, batch_size=1024)`` against ``bp.from_iterable(range(N))``
  read 1024 at a time (requested again as each 1024 arrive);
- the same with one ``map(identity)`` stage (rxbp's ``op.map``; ours ``ops.map`` bridged
  through ``Flowable.pipe``);
- one item at a time: ``batch_size=1`` against ``request(1)`` from each ``on_next``.

Ratios are speeds (higher is faster for ours). rxbp 3.0.0a9 imports
``collections.MutableMapping``, gone in Python 3.10; the alias is restored before import.

Run: ``make bench`` or ``python benchmarks/bench_rxbp.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib
import sys
from types import ModuleType
from typing import Any

from _harness import identity, ignore, interleave, ns, parse_args, ratio_row, report, speed
from bench_core import Batches
from reactivex import operators as ops

import rx_backpressure as bp


def load_rxbp() -> ModuleType | None:
    """rxbp, or None when it is not installed."""
    if not hasattr(collections, "MutableMapping"):
        collections.MutableMapping = collections.abc.MutableMapping  # type: ignore[attr-defined]
    try:
        return importlib.import_module("rxbp")
    except ImportError:
        return None


def main() -> None:
    options = parse_args(__doc__ or "")
    rxbp: Any = load_rxbp()
    if rxbp is None:
        print("rxbp is not installed: pip install 'rx-backpressure[bench]'", file=sys.stderr)
        return
    op = rxbp.op
    n = 2_000 if options.quick else 300_000
    single = n // 10  # one at a time is slow; per-item times make the sizes comparable
    warmup = not options.quick
    timings = interleave(
        {
            "rxbp 1024": lambda: rxbp.range(n, batch_size=1024).subscribe(ignore),
            "ours 1024": lambda: bp.from_iterable(range(n)).subscribe(Batches(1024)),
            "rxbp 1024 map": lambda: (
                rxbp.range(n, batch_size=1024).pipe(op.map(identity)).subscribe(ignore)
            ),
            "ours 1024 map": lambda: (
                bp.from_iterable(range(n)).pipe(ops.map(identity)).subscribe(Batches(1024))
            ),
            "rxbp 1": lambda: rxbp.range(single, batch_size=1).subscribe(ignore),
            "ours 1": lambda: bp.from_iterable(range(single)).subscribe(Batches(1)),
        },
        options.rounds,
        items={
            "rxbp 1024": n,
            "ours 1024": n,
            "rxbp 1024 map": n,
            "ours 1024 map": n,
            "rxbp 1": single,
            "ours 1": single,
        },
        warmup=warmup,
    )
    rows = [
        ratio_row(
            "pull source, batches of 1024: ours vs rxbp",
            timings,
            speed("ours 1024", "rxbp 1024"),
            unit="x rxbp speed",
            detail=ns(timings, "ours 1024", "rxbp 1024"),
        ),
        ratio_row(
            "the same with one map stage: ours vs rxbp",
            timings,
            speed("ours 1024 map", "rxbp 1024 map"),
            unit="x rxbp speed",
            detail=ns(timings, "ours 1024 map", "rxbp 1024 map"),
        ),
        ratio_row(
            "one item at a time (request(1) / batch_size=1): ours vs rxbp",
            timings,
            speed("ours 1", "rxbp 1"),
            unit="x rxbp speed",
            detail=ns(timings, "ours 1", "rxbp 1"),
        ),
    ]
    report(f"rx_backpressure vs rxbp {rxbp_version()}", rows, options)


def rxbp_version() -> str:
    try:
        from importlib.metadata import version

        return version("rxbp")
    except Exception:  # metadata missing: the report just names no version
        return ""


if __name__ == "__main__":
    main()
