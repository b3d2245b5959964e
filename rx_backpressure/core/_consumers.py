"""Threads that consume a stream by blocking, and so must never block as its producer.

A blocking consumer (``to_iterable``'s ``next()``) subscribes and requests on its own
thread. A synchronous push source subscribed there runs on that thread too; if a stage
below it then waited for room, the only thread that could make room would be the one
waiting. Stages that can block a producer ask :func:`blocking_consumer` first, and fail at
once, saying why, instead of hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def consuming(name: str) -> Iterator[None]:
    """Mark the current thread as ``name``, a consumer that waits for this stream."""
    previous = getattr(_local, "consumer", None)
    _local.consumer = name
    try:
        yield
    finally:
        _local.consumer = previous


def blocking_consumer() -> str | None:
    """The blocking consumer running on this thread (see :func:`consuming`), if any."""
    consumer: str | None = getattr(_local, "consumer", None)
    return consumer
