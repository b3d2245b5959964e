"""Shared timing harness for the benchmark scripts.

Each script compares rx_backpressure against the plain reactivex pipeline that does the
same job, measured in the same process run, and prints ratios: this machine is shared and
noisy, so only ratios measured side by side mean anything. Every timing is the median of
several repetitions. ``--quick`` runs tiny sizes once (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Result:
    """One line of the report: a measured ratio and the target it is held to."""

    name: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    target: str
    met: bool


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (median is kept)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    return parser.parse_args()


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``run`` over ``repeat`` runs, with the collector quiet."""
    times: list[float] = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times)


def report(results: list[Result], as_json: bool) -> None:
    """Print one line per result (or JSON lines)."""
    for r in results:
        if as_json:
            print(json.dumps(asdict(r)))
        else:
            verdict = "-" if r.target == "report" else ("met" if r.met else "NOT MET")
            print(
                f"{r.name:<66} ours {r.ours:>12,.0f} {r.unit:<8} "
                f"baseline {r.baseline:>12,.0f}  ratio {r.ratio:6.2f}x  "
                f"target {r.target:<8} {verdict}"
            )
    sys.stdout.flush()
