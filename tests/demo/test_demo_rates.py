"""The demo finishes, and its numbers add up, at rates and capacities that divide nothing.

Every case runs the command in a process of its own with a deadline, so a run that never
ends fails its case instead of hanging the suite. The rates were chosen for that: at 1200/s
the paced producer's gap is 833.33 µs, and it used to wake a third of a microsecond before
its next item was made, find it not ready, and set a timer that the clock rounded onto the
same instant, forever.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
from typing import Any, NamedTuple

import pytest

from rx_backpressure.demo import STRATEGIES

DURATION = 1.0
"""Seconds of virtual time in each run."""
DEADLINE = 20.0
"""Seconds of real time for one case (every strategy). A working case takes two at most,
even on a busy machine; a case that hangs fails after this long."""

PUSHED = ("none", "shed_tail", "shed_head")
"""Their producer ignores demand: it makes every item the rate allows."""
LOSSY = ("shed_tail", "shed_head")
BOUNDED = ("bounded_buffer", "shed_tail", "shed_head", "adaptive_batch")
"""They hold at most ``capacity`` items."""
ONE_AT_A_TIME = ("none", "bounded_buffer", "shed_tail", "shed_head", "token_bucket")
"""Their consumer takes one item per ``1 / consumer_rate`` seconds."""


class Case(NamedTuple):
    producer_rate: float
    capacity: int
    consumer_rate: float = 100.0

    def __str__(self) -> str:
        return f"{self.producer_rate:g}/s-in-{self.consumer_rate:g}/s-out-capacity-{self.capacity}"


# Not the whole product: every rate once, with the capacities in turn, then the rate of the
# report at the default capacity, and consumers whose rates are awkward too. The last case
# has a consumer fast enough for the lossless strategies to take every item the producer
# makes, so a producer whose gap is not a whole number of microseconds must keep its rate.
CASES = [
    Case(1, 1),
    Case(99.5, 7),
    Case(100, 1000),
    Case(101, 1001),
    Case(333.3, 1),
    Case(999, 7),
    Case(1000, 1000),
    Case(1001, 1001),
    Case(1200, 1),
    Case(1200, 1000),
    Case(1234.5, 7),
    Case(4999.9, 1000),
    Case(99.5, 1001, consumer_rate=99.5),
    Case(1234.5, 1000, consumer_rate=333.3),
    Case(4999.9, 1001, consumer_rate=10000),
]


def _demo(case: Case) -> list[dict[str, Any]]:
    """Every strategy's row from ``rx-backpressure demo --json``; fails if not done in time."""
    command = [
        sys.executable,
        "-m",
        "rx_backpressure",
        "demo",
        "--json",
        "--duration",
        str(DURATION),
        "--producer-rate",
        str(case.producer_rate),
        "--consumer-rate",
        str(case.consumer_rate),
        "--capacity",
        str(case.capacity),
    ]
    # A session of its own, so that the worker processes the command starts go with it.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=DEADLINE)
        pytest.fail(f"the demo did not finish within {DEADLINE:g} s of real time: {case}")
    assert process.returncode == 0, err
    rows: list[dict[str, Any]] = json.loads(out)["results"]
    return rows


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_strategy_finishes_and_its_numbers_add_up(case: Case) -> None:
    rows = _demo(case)
    assert [row["strategy"] for row in rows] == list(STRATEGIES)
    most_made = math.ceil(case.producer_rate * DURATION)
    most_taken = math.ceil(case.consumer_rate * DURATION)
    keeps_up = case.producer_rate <= case.consumer_rate
    for row in rows:
        name = row["strategy"]
        produced, delivered, dropped, queued = (
            row[key] for key in ("produced", "delivered", "dropped", "queued")
        )
        assert min(produced, delivered, dropped, queued) >= 0, row
        # queued is read from the pipeline, not worked out from the other three
        assert produced == delivered + dropped + queued, row
        # the first item is made at once, and no producer beats its rate
        assert 1 <= produced <= most_made, row
        assert row["peak_depth"] >= queued, row
        if name in PUSHED:
            assert produced == most_made, row
        if name not in LOSSY:
            assert dropped == 0, row
        if name in BOUNDED:
            assert queued <= case.capacity, row
            assert row["peak_depth"] <= case.capacity, row
        if name in ONE_AT_A_TIME:
            assert delivered <= most_taken, row
            if keeps_up:
                assert produced == delivered == most_made, row
        assert 0 <= row["p50_latency_s"] <= row["p99_latency_s"] <= DURATION, row
        assert 0 <= row["throttled_s"] <= DURATION, row
