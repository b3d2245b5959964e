"""Shared pytest configuration."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from rx_backpressure import Emitter1, Flowable, generate
from rx_backpressure.core import Drain, _bridge

FAST_PATHS = ("direct", "runs", "through", "fuse", "unlocked", "asks")
"""The core's fast paths that ``--without`` switches off (see docs/concepts/core.md):
``direct``, an item or run that finds the loop idle, nothing held and demand goes straight
downstream; ``runs``, stages of ours hand each other runs of items (the chain hand-off);
``through``, a bridged run of operators that never swallow an input is fed with no tap;
``fuse``, a bridged run of maps and filters only is called by the bridge itself, one frame
an item;
``unlocked``, an item with nothing to count or hook, under unbounded demand, takes the
direct path's claim without the lock; ``asks``, a pull source takes a request made from
inside its own pass (downstream's ``on_next`` on the loop's thread) without the lock and
serves it in the same call."""

# The machine is shared and noisy: hypothesis must judge behaviour, never speed.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("default")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--without",
        action="append",
        default=[],
        choices=FAST_PATHS,
        help="run with this fast path of the core switched off (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*paths): pins what a fast path of the core does; skipped without it",
    )


@pytest.fixture(autouse=True)
def _fast_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch off the fast paths named by ``--without``: every behaviour test must pass
    the same, save the ones marked as pinning the path itself."""
    off = set(request.config.getoption("--without"))
    if not off:
        return
    marker = request.node.get_closest_marker("needs")
    if marker is not None and off & set(marker.args):
        pytest.skip(f"pins a fast path switched off: {sorted(off & set(marker.args))}")
    for path in sorted(off):
        switch_off(monkeypatch, path)


def switch_off(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """Switch the fast path ``path`` (one of ``FAST_PATHS``) off for every Drain made."""
    if path == "runs":
        monkeypatch.setattr(Drain, "_takes_batches", lambda self: False)
        return
    if path == "through":
        monkeypatch.setattr(_bridge, "ONE_FOR_ONE", frozenset())
        return
    if path == "fuse":
        monkeypatch.setattr(_bridge, "FUSE", False)
        return
    if path == "unlocked":
        monkeypatch.setattr(Drain, "_unlocked_claims", False)
        return
    if path == "asks":
        monkeypatch.setattr(Drain, "_unlocked_asks", False)
        return
    assert path == "direct", path
    monkeypatch.setattr(Drain, "_direct_paths", False)


def run_threads(threads: list[threading.Thread], what: str = "a thread") -> None:
    """Start ``threads`` and wait for each to end (30 s each, so a hang fails the test
    instead of blocking it)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), f"{what} hung"


def ask_from_threads(subscription: Any, threads: int, times: int, n: int = 1) -> None:
    """``threads`` threads at once, each calling ``subscription.request(n)`` ``times`` times;
    returns once all are done (each given 30 s, so a hang fails instead of blocking)."""

    def ask() -> None:
        for _ in range(times):
            subscription.request(n)

    run_threads([threading.Thread(target=ask) for _ in range(threads)], "a requesting thread")


class CountingLock:
    """A stage's lock that counts how often it is taken (put in place of ``_lock``)."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.taken = 0

    def acquire(self, *args: Any) -> bool:
        self.taken += 1
        return bool(self.lock.acquire(*args))

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def upto(n: int, calls: list[int] | None = None) -> Flowable[int]:
    """``generate`` of 0, 1, ..., n-1, completing in the call that gives n-1 (no extra call
    to find the end); each step's state goes into ``calls``, if given."""

    def step(state: int, emitter: Emitter1[int]) -> int:
        if calls is not None:
            calls.append(state)
        emitter.next(state)
        if state == n - 1:
            emitter.complete()
        return state + 1

    return generate(0, step)
