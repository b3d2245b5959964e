"""Demand arithmetic shared by every subscription (Reactive Streams rules 3.9 and 3.17)."""

from __future__ import annotations

from typing import Final

UNBOUNDED: Final[int] = 2**63 - 1
"""Demand that never runs out. Requests that reach it saturate here (rule 3.17)."""


def add_demand(current: int, n: int) -> int:
    """Add ``n`` to ``current`` demand, saturating at :data:`UNBOUNDED`."""
    total = current + n
    return total if total < UNBOUNDED else UNBOUNDED


def invalid_request(n: object) -> Exception | None:
    """The error that ``request(n)`` must signal for this ``n``, or None if it is valid."""
    if isinstance(n, bool) or not isinstance(n, int):
        return TypeError(
            f"request(n) takes an int, got n={n!r} of type {type(n).__name__} (rule 3.9)"
        )
    if n <= 0:
        return ValueError(f"request(n) needs n > 0, got n={n} (rule 3.9)")
    return None
