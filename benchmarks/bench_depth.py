"""Stack depth: ``Flowable.pipe`` with k maps, called from stack depths 10 to 200.

CPython keeps its frames in chunks of 16 KiB. A pipeline whose per-item calls cross the
end of a chunk allocates and frees a chunk for every item, and runs several times slower;
where that happens depends on how deep the caller already is and on how many frames each
item needs. The grid runs ``bp.from_iterable(range(N)).pipe(k maps)`` and reactivex's own
``reactivex.from_iterable(range(N)).pipe(k maps)``, both subscribed with a plain callback,
for k = 1..10 maps at caller depths 10, 20, ..., 200, every cell of both taking turns in
each round. A cell is *slow* when its median time per item is over 1.3x the best median
of its k (over all depths). Fewer frames per item means fewer slow cells; the target is
no more slow cells than reactivex's pipe has on the same grid. Cells over 4x (a chunk
crossed per item) are counted apart too, for both pipes, with each pipe's slowest cell.

Run: ``make bench`` or ``python benchmarks/bench_depth.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import reactivex
from _harness import Row, at_most, identity, ignore, parse_args, report, row_of, timed
from reactivex import operators as ops

import rx_backpressure as bp

SLOW = 1.3
"""A cell is slow when its median is over this many times the best median of its k."""

CLIFF = 4.0
"""A cell over this many times the best of its k is counted apart as well: an item whose
frames cross the end of a frame chunk pays for a chunk on its way, and such a cell runs
many times slower (8.9x to 200x in trial runs), where the other slow cells stayed within
2.4x, even on a busy machine."""


def at_depth(depth: int, work: Callable[[], object]) -> object:
    """Call ``work`` with ``depth`` more frames on the stack than here."""
    if depth <= 0:
        return work()
    return at_depth(depth - 1, work)


def deeper(depth: int, work: Callable[[], object]) -> Callable[[], object]:
    """``work``, to be called ``depth`` frames deeper."""

    def run() -> object:
        return at_depth(depth, work)

    return run


def ours(n: int, k: int) -> Callable[[], object]:
    def run() -> object:
        stages = [ops.map(identity) for _ in range(k)]
        return bp.from_iterable(range(n)).pipe(*stages).subscribe(ignore)

    return run


def theirs(n: int, k: int) -> Callable[[], object]:
    def run() -> object:
        stages = [ops.map(identity) for _ in range(k)]
        return reactivex.from_iterable(range(n)).pipe(*stages).subscribe(ignore)

    return run


Cell = tuple[int, int]  # (k, depth)


def grid(
    n: int, ks: Sequence[int], depths: Sequence[int], rounds: int
) -> dict[str, dict[Cell, list[float]]]:
    """Seconds per item for every cell of both pipes, one sample per round."""
    makers = {"ours": ours, "reactivex": theirs}
    cells = [(k, depth) for k in ks for depth in depths]
    samples: dict[str, dict[Cell, list[float]]] = {
        name: {cell: [] for cell in cells} for name in makers
    }
    runs = {(name, cell): make(n, cell[0]) for name, make in makers.items() for cell in cells}
    for index in range(rounds):
        order = cells if index % 2 == 0 else cells[::-1]
        names = list(makers) if index % 2 == 0 else list(makers)[::-1]
        for cell in order:
            for name in names:
                seconds = timed(deeper(cell[1], runs[(name, cell)]))
                samples[name][cell].append(seconds / n)
    return samples


def slow_cells(times: dict[Cell, float], over: float = SLOW) -> int:
    """How many cells are over ``over`` times the best of their k."""
    best: dict[int, float] = {}
    for (k, _), value in times.items():
        best[k] = min(value, best.get(k, value))
    return sum(1 for (k, _), value in times.items() if value > over * best[k])


PIPES = (("ours", "Flowable.pipe(k maps)"), ("reactivex", "reactivex .pipe(k maps)"))
"""Each pipe's name in the samples, and in the rows."""


def slowest(times: dict[Cell, float]) -> float:
    """The highest ratio of a cell to the best of its k."""
    return max(
        value / min(v for c, v in times.items() if c[0] == cell[0]) for cell, value in times.items()
    )


def rows_of(samples: dict[str, dict[Cell, list[float]]], rounds: int) -> list[Row]:
    medians = {
        name: {cell: statistics.median(values) for cell, values in cells.items()}
        for name, cells in samples.items()
    }
    per_round = {
        name: [
            slow_cells({cell: values[index] for cell, values in cells.items()})
            for index in range(rounds)
        ]
        for name, cells in samples.items()
    }
    total = len(medians["ours"])
    theirs_slow = slow_cells(medians["reactivex"])
    ours_slow = slow_cells(medians["ours"])
    cliffs = {name: slow_cells(cells, CLIFF) for name, cells in medians.items()}
    cliffs_per_round = {
        name: [
            slow_cells({cell: values[index] for cell, values in cells.items()}, CLIFF)
            for index in range(rounds)
        ]
        for name, cells in samples.items()
    }
    return [
        row_of(
            f"Flowable.pipe(k maps) from depths 10..200: slow cells (> {SLOW}x the best of k)",
            median=ours_slow,
            best=min(per_round["ours"]),
            per_round=[float(v) for v in per_round["ours"]],
            unit=f"cells of {total}",
            target=at_most(theirs_slow),
            detail=(
                f"reactivex's pipe on the same grid: {theirs_slow} slow cells (per round "
                f"{min(per_round['reactivex'])}..{max(per_round['reactivex'])}); ours per round "
                f"{min(per_round['ours'])}..{max(per_round['ours'])}; our slowest cell "
                f"{slowest(medians['ours']):.2f}x the best of its k, reactivex's "
                f"{slowest(medians['reactivex']):.2f}x"
            ),
        ),
        row_of(
            f"reactivex .pipe(k maps) from depths 10..200: slow cells (> {SLOW}x the best of k)",
            median=theirs_slow,
            best=min(per_round["reactivex"]),
            per_round=[float(v) for v in per_round["reactivex"]],
            unit=f"cells of {total}",
        ),
        *(
            row_of(
                f"{label} from depths 10..200: cells over {CLIFF}x the best of k (chunk crossings)",
                median=cliffs[name],
                best=min(cliffs_per_round[name]),
                per_round=[float(v) for v in cliffs_per_round[name]],
                unit=f"cells of {total}",
            )
            for name, label in PIPES
        ),
    ]


def main() -> None:
    options = parse_args(__doc__ or "")
    if options.quick:
        n, ks, depths = 200, [1, 5], [10, 100]
    else:
        n, ks, depths = 2_000, list(range(1, 11)), list(range(10, 201, 10))
    samples = grid(n, ks, depths, options.rounds)
    report("bench_depth: Flowable.pipe at stack depths", rows_of(samples, options.rounds), options)


if __name__ == "__main__":
    main()
