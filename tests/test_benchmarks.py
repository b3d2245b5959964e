"""The benchmark harness interleaves as documented, and every benchmark script runs with tiny
sizes (a smoke test: nothing here is timed or compared)."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("_harness")


def test_interleave_runs_each_variant_once_per_round_reversing_every_other_round(
    harness: ModuleType,
) -> None:
    calls: list[str] = []
    variants = {name: (lambda name=name: calls.append(name)) for name in "ABC"}
    timings = harness.interleave(variants, 4, warmup=False)
    assert "".join(calls) == "ABCCBAABCCBA"
    assert {name: len(samples) for name, samples in timings.samples.items()} == {
        "A": 4,
        "B": 4,
        "C": 4,
    }


def test_interleave_warms_each_variant_up_once_untimed(harness: ModuleType) -> None:
    calls: list[str] = []
    variants = {name: (lambda name=name: calls.append(name)) for name in "AB"}
    harness.interleave(variants, 2)
    assert "".join(calls) == "ABABBA"


def test_a_sample_is_timed_with_the_collector_off_and_it_is_back_on_after(
    harness: ModuleType,
) -> None:
    seen: list[bool] = []
    harness.timed(lambda: seen.append(gc.isenabled()))
    assert seen == [False]
    assert gc.isenabled()


def test_a_ratio_is_reported_on_best_times_median_times_and_each_round(
    harness: ModuleType,
) -> None:
    timings = harness.Timings({"ours": [1.0, 2.0, 4.0], "base": [2.0, 2.0, 2.0]})
    row = harness.ratio_row(
        "r", timings, harness.speed("ours", "base"), unit="x", target=harness.at_least(1)
    )
    assert (row.best, row.median, row.low, row.high) == (2.0, 1.0, 0.5, 2.0)
    assert row.verdict == "met (not every round)"


def test_a_ratio_is_printed_with_an_x_and_a_quantity_with_its_unit(
    harness: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    ratio = harness.row_of(
        "r", median=1.5, best=2.0, per_round=[1.5], unit="x map", target=harness.at_most(2)
    )
    memory = harness.row_of(
        "m", median=0.5, best=0.25, per_round=[0.5, 0.25], unit="MiB", target=harness.at_most(16)
    )
    cells = harness.row_of(
        "c", median=3, best=2, per_round=[3], unit="cells of 200", target=harness.at_most(4)
    )
    assert (ratio.target, memory.target, cells.target) == ("<= 2x", "<= 16 MiB", "<= 4 cells")
    harness.report("t", [ratio, memory, cells], harness.Options(quick=True, rounds=2, json=False))
    lines = capsys.readouterr().out.splitlines()[2:]
    assert lines[0].split()[1:4] == ["2.00x", "1.50x", "1.50x..1.50x"]
    assert lines[1].split()[1:4] == ["0.25", "0.50", "0.25..0.50"]
    assert lines[2].split()[1:4] == ["2", "3", "3..3"]


def test_the_map_overhead_ratio_divides_by_one_map_stage_of_its_own_source(
    harness: ModuleType,
) -> None:
    stage = harness.Stage("map base", "5 maps", 5)
    ratio = harness.overhead("op", "base", stage)
    assert ratio({"op": 5.0, "base": 1.0, "5 maps": 12.0, "map base": 2.0}) == 2.0
    assert math.isnan(ratio({"op": 5.0, "base": 1.0, "5 maps": 2.0, "map base": 2.0}))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_benchmark_script_runs(script: Path) -> None:
    if script.name == "bench_rxbp.py" and importlib.util.find_spec("rxbp") is None:
        pytest.skip("rxbp is an optional peer (the bench extra): nothing to measure without it")
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=script.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert rows, "a benchmark script must report at least one result"
    for row in rows:
        assert row["rounds"] == 2, row
        assert row["verdict"] in {"-", "met", "met (not every round)", "not met"}, row
        if not math.isnan(row["low"]):
            assert row["low"] <= row["high"], row


def test_a_depth_cell_is_slow_when_over_the_bound_times_the_best_of_its_k(
    harness: ModuleType,
) -> None:
    depth = importlib.import_module("bench_depth")
    times = {(1, 10): 1.0, (1, 20): 1.29, (1, 30): 1.31, (2, 10): 5.0, (2, 20): 2.0}
    # k=1: best 1.0, only 1.31 is over 1.3x; k=2: best 2.0, 5.0 is over.
    assert depth.slow_cells(times) == 2
    assert depth.at_depth(3, lambda: "ran") == "ran"
