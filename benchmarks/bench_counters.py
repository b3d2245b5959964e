"""The stage counters behind inspect(), kept without metrics=: what do they cost?

The same pipelines run on the library as it is and on the last commit before stages kept
counters (``BASE``, unpacked with ``git archive`` into a temporary folder and imported as a
second package), in one process, taking turns. Each row is the time per item with counters
over the time without: 1.00x is no cost. Needs a git clone with that commit in its history;
elsewhere it says so and stops.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import reactivex
from _harness import (
    Row,
    at_most,
    identity,
    ignore,
    interleave,
    parse_args,
    ratio_row,
    report,
)
from reactivex.subject import Subject

import rx_backpressure as bp

BASE = "ec4efeb"
"""The last commit before the stage counters (docs/performance.md names it too)."""

ROOT = Path(__file__).resolve().parent.parent


def load_base(folder: Path) -> ModuleType | None:
    """``BASE``'s rx_backpressure, imported as ``rx_backpressure_base``; None without git."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASE, "rx_backpressure"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "rx_backpressure").rename(folder / "rx_backpressure_base")
    sys.path.insert(0, str(folder))
    return importlib.import_module("rx_backpressure_base")


class Requester:
    """Asks for ``batch`` items, and for ``batch`` more each time that many arrived."""

    def __init__(self, batch: int) -> None:
        self._batch = batch
        self._count = 0
        self._subscription: Any = None

    def on_subscribe(self, subscription: Any) -> None:
        self._subscription = subscription
        subscription.request(self._batch)

    def on_next(self, _: object) -> None:
        self._count += 1
        if self._count % self._batch == 0:
            self._subscription.request(self._batch)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        pass


Case = Callable[[Any, int], Callable[[], None]]


def pull(batch: int) -> Case:
    def make(lib: Any, n: int) -> Callable[[], None]:
        return lambda: lib.from_iterable(range(n)).subscribe(Requester(batch))

    return make


def chain(lib: Any, n: int) -> Callable[[], None]:
    def run() -> None:
        lib.from_iterable(range(n)).pipe(
            lib.bounded_buffer(1000),
            lib.token_bucket(1e12, 1e12),
            lib.circuit_break(identity),
            lib.bounded_buffer(1000),
        ).subscribe(ignore)

    return run


def hot(operator: Callable[[Any], Any]) -> Case:
    def make(lib: Any, n: int) -> Callable[[], None]:
        def run() -> None:
            subject: Subject[int] = Subject()
            operator(lib)(subject).subscribe(ignore)
            on_next = subject.on_next
            for i in range(n):
                on_next(i)
            subject.on_completed()

        return run

    return make


def threads(lib: Any, n: int) -> Callable[[], None]:
    def run() -> None:
        producers: list[threading.Thread] = []

        def subscribe(observer: Any, _: Any = None) -> None:
            def produce() -> None:
                for i in range(n):
                    observer.on_next(i)
                observer.on_completed()

            producers.append(threading.Thread(target=produce))
            producers[-1].start()

        got = sum(
            1 for _ in lib.to_iterable(reactivex.create(subscribe).pipe(lib.bounded_buffer(1000)))
        )
        producers[0].join(timeout=60)
        assert got == n, got

    return run


CASES: tuple[tuple[str, Case], ...] = (
    ("`from_iterable` read with `request(1024)`", pull(1024)),
    ("`from_iterable` read with `request(1)` per item", pull(1)),
    ("chain `bounded_buffer -> token_bucket -> circuit_break -> bounded_buffer`", chain),
    ("hot `Subject` into `bounded_buffer(1000)`", hot(lambda lib: lib.bounded_buffer(1000))),
    ("hot `Subject` into `shed(1000)`", hot(lambda lib: lib.shed(1000))),
    (
        "hot `Subject` into `token_bucket` (never dry)",
        hot(lambda lib: lib.token_bucket(1e12, 1e12)),
    ),
    ("hot `Subject` into `circuit_break(identity)`", hot(lambda lib: lib.circuit_break(identity))),
    ("thread -> `bounded_buffer(1000)` -> `to_iterable` thread", threads),
)


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 1_000 if options.quick else 100_000
    with tempfile.TemporaryDirectory() as folder:
        base = load_base(Path(folder))
        if base is None:
            print(f"# bench_counters: needs a git clone with commit {BASE}; skipped")
            return
        rows: list[Row] = []
        for name, case in CASES:
            t = interleave(
                {"counters": case(bp, n), "none": case(base, n)},
                options.rounds,
                items=n,
                warmup=not options.quick,
            )
            rows.append(
                ratio_row(
                    name,
                    t,
                    lambda times: times["counters"] / times["none"],
                    unit="x without counters",
                    target=at_most(1.05),
                )
            )
        report(f"bench_counters: stage counters on vs {BASE} (none)", rows, options)


if __name__ == "__main__":
    main()
