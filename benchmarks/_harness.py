"""Shared timing harness for the benchmark scripts.

This machine is shared and noisy, so a figure means something only as a ratio between
variants measured in the same process, taking turns. :func:`interleave` runs every variant
of a comparison once per round, in the given order on even rounds and reversed on odd ones
(A, B, C, then C, B, A), so drift and a busy neighbour hit all of them alike. Each sample
is one run timed with ``time.perf_counter`` while the collector is off; between samples
the collector is back on and ``gc.collect()`` runs. Times are kept per item.

A ratio is reported three ways: *best* (the ratio of the variants' best times), *median*
(the ratio of their median times) and the *range* (lowest and highest ratio within a
single round). A target is judged on the median; ``met (not every round)`` says some
rounds missed it.

``--quick`` runs tiny sizes for two rounds, without the warm-up run (the smoke test uses
it); ``--json`` prints one JSON object per row.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version

import reactivex
from reactivex import Observable
from reactivex import operators as ops

ROUNDS = 9
"""Rounds per comparison unless ``--rounds`` says otherwise (the project asks for >= 7)."""

Run = Callable[[], object]
Formula = Callable[[Mapping[str, float]], float]
"""A ratio computed from one time per variant (seconds per item, by variant name)."""


@dataclass(frozen=True)
class Options:
    quick: bool
    rounds: int
    json: bool


def parse_args(description: str) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, two rounds")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"interleaved rounds (default {ROUNDS})"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error(f"--rounds must be >= 2, got {args.rounds}")
    return Options(quick=args.quick, rounds=2 if args.quick else args.rounds, json=args.json)


# -- timing -----------------------------------------------------------------------------


def timed(run: Run) -> float:
    """Seconds one call of ``run`` takes, with the collector off; it collects first."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
    finally:
        gc.enable()


@dataclass(frozen=True)
class Timings:
    """Seconds per item of each variant, one sample per round, in round order."""

    samples: Mapping[str, Sequence[float]]

    @property
    def rounds(self) -> int:
        return min(len(values) for values in self.samples.values())

    def best(self) -> dict[str, float]:
        return {name: min(values) for name, values in self.samples.items()}

    def median(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.samples.items()}

    def round(self, index: int) -> dict[str, float]:
        return {name: values[index] for name, values in self.samples.items()}


def interleave(
    variants: Mapping[str, Run],
    rounds: int,
    *,
    items: int | Mapping[str, int] = 1,
    warmup: bool = True,
) -> Timings:
    """Time each variant once per round, forwards on even rounds and backwards on odd ones.

    ``items`` is how many items one run of a variant handles (one number for all, or one
    per variant): times are kept per item. With ``warmup``, each variant runs once untimed
    first, so no variant pays for the first import or the first cache fill.
    """
    names = list(variants)
    per_item = {name: items if isinstance(items, int) else items[name] for name in names}
    if warmup:
        for name in names:
            variants[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            samples[name].append(timed(variants[name]) / per_item[name])
    return Timings(samples)


def identity(value: int) -> int:
    return value


def ignore(_: object) -> None:
    pass


def maps(count: int) -> Callable[[Observable[int]], Observable[int]]:
    """``count`` stages of ``ops.map(identity)``, as reactivex chains them."""
    return reactivex.compose(*(ops.map(identity) for _ in range(count)))


def map_stage(n: int) -> dict[str, Run]:
    """The "x map" yardstick over a Flowable, on reactivex's own source:
    ``reactivex.from_iterable(range(n))`` into a callback (``"reactivex"``), through one
    ``ops.map(identity)`` (``"reactivex map"``) and through five (``"reactivex 5 maps"``).

    A reactivex operator applied straight to a Flowable reads it one item per trampoline
    step (bench_core measures that), so the stage is measured over reactivex's source. Give
    it more items than the variants it is compared with: times are per item.
    """
    return {
        "reactivex": lambda: reactivex.from_iterable(range(n)).subscribe(ignore),
        "reactivex map": lambda: reactivex.from_iterable(range(n)).pipe(maps(1)).subscribe(ignore),
        "reactivex 5 maps": lambda: (
            reactivex.from_iterable(range(n)).pipe(maps(5)).subscribe(ignore)
        ),
    }


MAP_STAGE = ("reactivex", "reactivex map", "reactivex 5 maps")
"""The names of the variants :func:`map_stage` adds."""


@dataclass(frozen=True)
class Stage:
    """Where the cost of one map stage is read: ``(t[maps] - t[base]) / count``.

    Five maps divided by five is the yardstick: one map adds little to a cheap source (about
    as much again), so a noisy sample of either run moves a ratio that divides by the
    difference a lot; five maps make the difference five times larger against the same
    noise. The ratio against a single map is printed next to each one for comparison.
    """

    base: str
    maps: str
    count: int

    def cost(self, t: Mapping[str, float]) -> float:
        return (t[self.maps] - t[self.base]) / self.count


REACTIVEX_STAGE = Stage("reactivex", "reactivex 5 maps", 5)
REACTIVEX_ONE_MAP = Stage("reactivex", "reactivex map", 1)


# -- ratios -----------------------------------------------------------------------------


def speed(ours: str, baseline: str) -> Formula:
    """How many times faster than ``baseline`` ``ours`` is (above 1: faster)."""
    return lambda t: t[baseline] / t[ours]


def cost(ours: str, baseline: str) -> Formula:
    """How many times ``baseline``'s time per item ``ours`` takes (above 1: slower)."""
    return lambda t: t[ours] / t[baseline]


def overhead(op: str, base: str, stage: Stage) -> Formula:
    """The "x map" ratio: ``(t_op - t_base) / stage.cost``, the operator's cost per item over
    one map stage's. NaN when the stage costs nothing measurable in that sample."""

    def formula(t: Mapping[str, float]) -> float:
        stage_cost = stage.cost(t)
        return (t[op] - t[base]) / stage_cost if stage_cost > 0 else math.nan

    return formula


# -- rows and the report ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A bound on the median ratio: ``">= 1.3"`` or ``"<= 2"``."""

    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def text(self, unit: str) -> str:
        """``">= 1.3x"`` for a ratio, ``"<= 16 MiB"`` or ``"<= 2 cells"`` for a quantity."""
        return f"{self.op} {self.bound:g}{_suffix(unit)}"


def at_least(bound: float) -> Target:
    return Target(">=", bound)


def at_most(bound: float) -> Target:
    return Target("<=", bound)


@dataclass(frozen=True)
class Row:
    """One line of the report: a ratio (best, median, range over rounds) and its target."""

    name: str
    unit: str
    best: float
    median: float
    low: float
    high: float
    rounds: int
    target: str
    verdict: str
    detail: str


def _verdict(target: Target | None, median: float, per_round: Sequence[float]) -> str:
    if target is None:
        return "-"
    if math.isnan(median) or not target.holds(median):
        return "not met"
    if all(target.holds(value) for value in per_round):
        return "met"
    return "met (not every round)"


def row_of(
    name: str,
    *,
    median: float,
    best: float,
    per_round: Sequence[float],
    unit: str,
    target: Target | None = None,
    detail: str = "",
) -> Row:
    """A row from values already computed (see :func:`ratio_row` for timed ratios)."""
    finite = [value for value in per_round if not math.isnan(value)]
    return Row(
        name=name,
        unit=unit,
        best=best,
        median=median,
        low=min(finite, default=math.nan),
        high=max(finite, default=math.nan),
        rounds=len(per_round),
        target="" if target is None else target.text(unit),
        verdict=_verdict(target, median, per_round),
        detail=detail,
    )


def ratio_row(
    name: str,
    timings: Timings,
    formula: Formula,
    *,
    unit: str,
    target: Target | None = None,
    detail: str = "",
) -> Row:
    """The ratio ``formula`` gives on the best times, the median times and each round."""
    return row_of(
        name,
        median=formula(timings.median()),
        best=formula(timings.best()),
        per_round=[formula(timings.round(index)) for index in range(timings.rounds)],
        unit=unit,
        target=target,
        detail=detail,
    )


def ns(timings: Timings, *names: str) -> str:
    """Median nanoseconds per item of ``names``, for a row's detail."""
    median = timings.median()
    return ", ".join(f"{name} {median[name] * 1e9:,.0f} ns/item" for name in names)


def per_second(timings: Timings, *names: str) -> str:
    """Median items per second of ``names``, for a row's detail."""
    median = timings.median()
    return ", ".join(f"{name} {1 / median[name]:,.0f} items/s" for name in names)


def x_map_row(
    name: str,
    timings: Timings,
    op: str,
    base: str,
    *,
    stage: Stage = REACTIVEX_STAGE,
    single: Stage | None = REACTIVEX_ONE_MAP,
    target: Target | None = None,
) -> Row:
    """An "x map" row whose detail gives the times, the stage's cost and, with ``single``,
    the median ratio against one map measured alone."""
    median = timings.median()
    detail = f"{ns(timings, op, base)}; map stage {stage.cost(median) * 1e9:,.0f} ns/item"
    if stage.count > 1:
        detail += f" ({stage.count} maps / {stage.count})"
    if single is not None:
        detail += (
            f"; one map alone {single.cost(median) * 1e9:,.0f} ns/item, "
            f"against which the median is {_ratio(overhead(op, base, single)(median))}"
        )
    return ratio_row(
        name, timings, overhead(op, base, stage), unit="x map", target=target, detail=detail
    )


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, CPython {platform.python_version()}, "
        f"reactivex {version('reactivex')}"
    )


NOMINAL = "of nominal"
"""The unit of a measured value over its nominal one (printed with four decimals)."""


def _ratio(value: float, unit: str = "") -> str:
    if math.isnan(value):
        return "n/a"
    if unit == NOMINAL:
        return f"{value:.4f}"
    if unit.startswith("cells"):  # a count
        return f"{value:.0f}"
    number = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return number + ("x" if _is_ratio(unit) else "")


def _is_ratio(unit: str) -> bool:
    """Ratios are in units named "x ..." (or given none); anything else is a quantity."""
    return not unit or unit.startswith("x ")


def _suffix(unit: str) -> str:
    if _is_ratio(unit):
        return "x"
    return "" if unit == NOMINAL else " " + unit.split()[0]


def report(title: str, rows: Sequence[Row], options: Options) -> None:
    """Print the rows as a table (or as JSON lines with ``--json``)."""
    if options.json:
        for row in rows:
            print(json.dumps(asdict(row)))
        sys.stdout.flush()
        return
    print(f"# {title}")
    print(f"# {machine()}; {options.rounds} interleaved rounds; best / median / range")
    for row in rows:
        spread = f"{_ratio(row.low, row.unit)}..{_ratio(row.high, row.unit)}"
        target = f"target {row.target} {row.verdict}" if row.target else ""
        print(
            f"{row.name:<68} {_ratio(row.best, row.unit):>7} {_ratio(row.median, row.unit):>7} "
            f"{spread:>15}  {row.unit:<20} {target}"
        )
        if row.detail:
            print(f"{'':<6}{row.detail}")
    sys.stdout.flush()
