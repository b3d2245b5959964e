"""Summaries of drops on a stage's logger: at most one line per interval, never one per item.

Loggers are named ``rx_backpressure.<operator>`` (``rx_backpressure.shed``,
``rx_backpressure.circuit_break``, ...), children of ``rx_backpressure``. A drop is counted
always; it is logged only when the logger is enabled for WARNING, once the interval since the
stage's last summary has passed on the stage's clock, and once more when the stage ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

DROP_LOG_INTERVAL = 10.0
"""Seconds, on a stage's clock, between two summaries of its drops."""


class DropLog:
    """One stage's unlogged drops, summarised at most once per ``DROP_LOG_INTERVAL``."""

    __slots__ = ("_last", "_lock", "_logger", "_name", "_now", "_since", "_total")

    def __init__(
        self, logger: str, name: str, now: Callable[[], float], total: Callable[[], int]
    ) -> None:
        self._logger = logging.getLogger(logger)
        self._name = name
        self._now = now
        self._last: float | None = None
        self._since = 0
        self._total = total  # the stage's own count of its drops
        self._lock = threading.Lock()  # producers on several threads may drop at once

    def dropped(self, count: int) -> None:
        """``count`` more items were dropped (called by the stage that dropped them)."""
        if not self._logger.isEnabledFor(logging.WARNING):
            return  # nothing kept, nothing locked: the stage's own counter has them
        with self._lock:
            self._since += count
            now = self._now()
            if self._last is None or now - self._last >= DROP_LOG_INTERVAL:
                self._report(now)

    def flush(self) -> None:
        """Report drops not yet summarised (when the stage ends)."""
        if self._since and self._logger.isEnabledFor(logging.WARNING):
            with self._lock:
                self._report(self._now())

    def _report(self, now: float) -> None:
        window = "" if self._last is None else f" in the last {now - self._last:g} s"
        self._logger.warning(
            "%s dropped %d items%s (%d in all)",
            self._name,
            self._since,
            window,
            self._total(),
        )
        self._last = now
        self._since = 0
