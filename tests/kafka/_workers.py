"""A consumer process for the group tests: the same pipeline in every member.

Each processed record is reported to the parent on the member's own pipe (a synchronous
write, with no lock shared with another process that could die holding it) before it is
acked, so a record reported is never lost with the process.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from typing import Any

from rx_backpressure.kafka import Record, from_topics

Processed = tuple[int, int, int, float]
"""(pid, partition, offset, time.monotonic() when processed)."""


def consume(
    topic: str,
    config: dict[str, Any],
    options: dict[str, Any],
    delay: float,
    out: Connection,
    stop: Connection,
) -> None:
    pid = os.getpid()

    def process(record: Record) -> None:
        if delay:
            time.sleep(delay)
        out.send((pid, record.partition, record.offset, time.monotonic()))
        record.ack()

    subscription = from_topics(topic, config, **options).subscribe(process)
    stop.poll(60)  # until the parent says stop (or is gone)
    subscription.dispose()
    time.sleep(0.5)  # the poll thread commits and leaves the group
