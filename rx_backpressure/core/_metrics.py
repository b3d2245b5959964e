"""Thread-safe counters and gauges that operators keep current."""

from __future__ import annotations

import threading


class Metrics:
    """A thread-safe set of named counters and gauges.

    Operators that take ``metrics=`` keep at least these names current:

    - ``received``: items that arrived from upstream
    - ``emitted``: items (or batches) delivered downstream
    - ``dropped``: items discarded by an explicit drop policy
    - ``requested``: demand signalled upstream (saturating at ``UNBOUNDED``)
    - ``depth``: items held right now; ``peak_depth``: the most ever held

    One ``Metrics`` may be shared by several operators: give each its own to read them apart.
    """

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}

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

    def __repr__(self) -> str:
        return f"Metrics({self.snapshot()!r})"
