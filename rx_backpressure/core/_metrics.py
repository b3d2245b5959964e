"""Thread-safe counters and gauges that operators keep current."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops


class Metrics:
    """A thread-safe set of named counters and gauges.

    Operators that take ``metrics=`` keep at least these names current:

    - ``received``: items that arrived from upstream
    - ``emitted``: items (or batches) delivered downstream
    - ``dropped``: items discarded by an explicit drop policy
    - ``requested``: demand signalled upstream (saturating at ``UNBOUNDED``)
    - ``depth``: items held right now; ``peak_depth``: the most ever held

    One ``Metrics`` may be shared by several operators: give each its own to read them apart.

    ``name`` says which stage it belongs to; left None, the first stage given it names it
    (its own name, e.g. ``bounded_buffer(1000)``). ``labels`` go with it to exporters
    (``rx_backpressure.prometheus``, ``rx_backpressure.otel``).
    """

    __slots__ = ("_lock", "_values", "labels", "name")

    def __init__(self, name: str | None = None, labels: Mapping[str, str] | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty str or None, got name={name!r}")
        if labels is not None and not (
            isinstance(labels, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
        ):
            raise TypeError(f"labels must map str to str, got labels={labels!r}")
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}
        self.name: str | None = name
        self.labels: dict[str, str] = dict(labels or {})

    def increment(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` to the counter ``name`` (created at zero)."""
        with self._lock:
            self._values[name] = self._values.get(name, 0) + amount

    def set(self, name: str, value: float) -> None:
        """Set the gauge ``name``; ``depth`` also raises ``peak_depth`` when exceeded."""
        with self._lock:
            self._values[name] = value
            if name == "depth" and value > self._values.get("peak_depth", 0):
                self._values["peak_depth"] = value

    def get(self, name: str, default: float = 0) -> float:
        """The current value of ``name``, or ``default`` if it was never set."""
        with self._lock:
            return self._values.get(name, default)

    def snapshot(self) -> dict[str, float]:
        """A consistent copy of every value, taken under one lock."""
        with self._lock:
            return dict(self._values)

    def stream(
        self, interval: float, scheduler: abc.SchedulerBase | None = None
    ) -> Observable[dict[str, float]]:
        """A snapshot every ``interval`` seconds on ``scheduler`` (default: the subscriber's,
        else real time), the first one ``interval`` after subscribing: for plots and alerts
        with ordinary reactivex operators."""
        from ._validate import check_scheduler, check_seconds

        check_seconds("interval", interval)
        check_scheduler(scheduler)

        def take_snapshot(_: Any) -> dict[str, float]:
            return self.snapshot()

        return reactivex.interval(interval, scheduler=scheduler).pipe(ops.map(take_snapshot))

    def __repr__(self) -> str:
        named = "" if self.name is None else f"{self.name!r}, "
        return f"Metrics({named}{self.snapshot()!r})"
