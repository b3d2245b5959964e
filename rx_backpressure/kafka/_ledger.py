"""The ledger: what was polled, what was acked, and what may be committed, per partition.

Acks come from any thread, in any order (``ack``, bound as ``Record.ack``); the poll
thread enters what it polled and reads what to commit. Everything here is under one lock
(``lock``; ``cond`` waits on it), which also wakes the poll thread when demand grows, an
ack makes room under ``max_unacked``, delivery makes room under the read-ahead bound
(``held``), enough acks call for a commit, or the subscription stops.

Per partition, ``pending`` holds the polled offsets not yet passed by the commit point, in
the order they were polled (Kafka's order), and ``stamps`` their timestamps; ``acked``
those of them that were acked out of order. The commit point ``done`` is the offset after
the longest run of acked offsets from the start with no unacked one in it, so a commit
never skips an unprocessed record; ``sent`` is the last point sent to the broker,
``committed`` the last it confirmed.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import TYPE_CHECKING

from ..core import UNBOUNDED, add_demand

if TYPE_CHECKING:
    from ._record import Record


class PartitionLedger:
    """One assigned partition, for as long as it stays assigned (``live``)."""

    __slots__ = (
        "acked",
        "committed",
        "done",
        "ledger",
        "live",
        "partition",
        "pending",
        "sent",
        "serial",
        "stamps",
        "topic",
    )

    def __init__(self, ledger: Ledger, topic: str, partition: int, serial: int) -> None:
        self.ledger = ledger
        self.topic = topic
        self.partition = partition
        self.serial = serial  # names this assignment in the records held for delivery
        self.pending: deque[int] = deque()
        self.stamps: deque[float | None] = deque()  # the timestamps of ``pending``
        self.acked: set[int] = set()
        self.done: int | None = None  # the offset after the gap-free acked run
        self.committed: int | None = None  # the group's committed offset (-1: none), if read
        self.sent: int | None = None  # the last commit point sent, confirmed or not
        self.live = True

    @property
    def unacked(self) -> int:
        return len(self.pending) - len(self.acked)


class Ledger:
    """Demand, acks and commit points of one subscription (see the module notes)."""

    def __init__(self, max_unacked: int, commit_every: int) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)  # waits and wakes under ``lock``
        self.partitions: dict[tuple[str, int], PartitionLedger] = {}
        # The same by serial: what a record held for delivery names (see _poller._take).
        self.serials: dict[int, PartitionLedger] = {}
        self._next_serial = itertools.count()
        self.max_unacked = max_unacked
        self.commit_every = commit_every
        self.wanted = 0  # demand not yet polled for
        self.unacked = 0  # polled (held or emitted) and not acked, over live partitions
        self.since_commit = 0  # acks since the last commit
        self.held = 0  # polled and not yet emitted (or let go)
        self.stopping = False

    def room(self, max_poll: int) -> int:
        """How many records the poll thread may poll now (under the lock): no more than
        asked for, ``max_poll`` at a time, ``max_unacked`` in all, and two polls ahead of
        delivery."""
        return min(self.wanted, max_poll, self.max_unacked - self.unacked, 2 * max_poll - self.held)

    def delivered(self, n: int, max_poll: int) -> None:
        """``n`` held records were emitted or let go (the delivery thread, once a pass)."""
        with self.lock:
            held = self.held = self.held - n
            if held + n >= 2 * max_poll > held:
                self.cond.notify()

    def add_demand(self, n: int) -> None:
        with self.lock:
            self.wanted = add_demand(self.wanted, n)
            self.cond.notify()

    def give_back(self, n: int) -> None:
        """Records polled against demand were discarded (their partition was revoked)."""
        self.add_demand(n)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.cond.notify()

    def assign(self, topic: str, partition: int) -> PartitionLedger:
        with self.lock:
            slot = PartitionLedger(self, topic, partition, next(self._next_serial))
            self.partitions[(topic, partition)] = self.serials[slot.serial] = slot
            return slot

    def revoke(self, topic: str, partition: int) -> PartitionLedger | None:
        """Forget a partition: its records still held or unacked count no more."""
        with self.lock:
            slot = self.partitions.pop((topic, partition), None)
            if slot is not None:
                del self.serials[slot.serial]
                slot.live = False
                self.unacked -= slot.unacked
                self.cond.notify()
            return slot

    def to_commit(
        self, slots: list[PartitionLedger] | None = None, *, unconfirmed: bool = False
    ) -> list[tuple[PartitionLedger, int]]:
        """The commit points of ``slots`` (or all) that moved since the last one sent, or
        with ``unconfirmed`` since the last one the broker confirmed; marked sent."""
        with self.lock:
            chosen = list(self.partitions.values()) if slots is None else slots
            if slots is None:
                self.since_commit = 0
            points = [
                (slot, slot.done)
                for slot in chosen
                if slot.done is not None
                and slot.done != (slot.committed if unconfirmed else slot.sent)
            ]
            for slot, done in points:
                slot.sent = done
            return points

    def confirmed(self, topic: str, partition: int, offset: int) -> None:
        """The broker confirmed a commit of ``offset`` for the partition (if still ours)."""
        with self.lock:
            slot = self.partitions.get((topic, partition))
            if slot is not None and (slot.committed is None or offset > slot.committed):
                slot.committed = offset

    def oldest_unacked(self) -> float | None:
        """The timestamp of the oldest unacked record (the first gap of each partition)."""
        with self.lock:
            stamps = [s.stamps[0] for s in self.partitions.values() if s.stamps]
        known = [stamp for stamp in stamps if stamp is not None]
        return min(known) if known else None

    def polled(self, runs: list[tuple[PartitionLedger, list[int], list[float | None]]]) -> int:
        """Records were polled against demand (the poll thread), as runs of one partition
        each: their offsets and timestamps, entered in one go; how many."""
        count = 0
        with self.lock:
            for slot, offsets, stamps in runs:
                slot.pending.extend(offsets)
                slot.stamps.extend(stamps)
                count += len(offsets)
            self.unacked += count
            self.held += count
            if self.wanted != UNBOUNDED:
                self.wanted -= count
        return count


def ack(record: Record) -> None:
    """Mark this record processed, from any thread; a second call does nothing. After
    its partition was revoked the ack is moot: the partition's new owner reads it again.

    (The ledger's bookkeeping, bound as ``Record.ack``: one call per record.)"""
    slot = record._slot
    ledger = slot.ledger
    lock = ledger.lock
    lock.acquire()  # not ``with``: this runs once per record
    pending = slot.pending
    if not slot.live or not pending:
        lock.release()
        return  # moot (revoked), or acked already
    head = pending[0]
    offset = record.offset
    if offset == head:  # the usual case: acks in the order of the records
        pending.popleft()
        stamps = slot.stamps
        stamps.popleft()
        acked = slot.acked
        if acked:
            while pending and pending[0] in acked:
                offset = pending.popleft()
                stamps.popleft()
                acked.discard(offset)
        slot.done = offset + 1
    else:
        if offset < head or offset in slot.acked:
            lock.release()
            return  # acked already
        slot.acked.add(offset)
    unacked = ledger.unacked = ledger.unacked - 1
    since_commit = ledger.since_commit = ledger.since_commit + 1
    if unacked == ledger.max_unacked - 1 or since_commit == ledger.commit_every:
        ledger.cond.notify()
    lock.release()
