"""The ledger: what was polled, what was acked, and what may be committed, per partition.

Acks come from any thread, in any order (``ack``, bound as ``Record.ack``): an ack only
appends the record's offset to its partition's ``acks``, with no lock, and the poll thread
settles them into the books (``settle``) before it decides anything that depends on them:
how much to poll, what to commit, the oldest unacked timestamp. The poll thread also
enters what it polled. Everything but ``acks`` is under one lock (``lock``; ``cond`` waits
on it), which also wakes the poll thread when demand grows, delivery makes room under the
read-ahead bound (``held``), the subscription stops, or, while it waits at ``max_unacked``
(``waiting``), an ack comes.

Per partition, ``pending[head:]`` holds the polled offsets not yet passed by the commit
point, in the order they were polled (Kafka's order), and ``stamps[head:]`` their
timestamps; ``acked`` those of them that were acked out of order. The commit point ``done``
is the offset after the longest run of acked offsets from the start with no unacked one in
it, so a commit never skips an unprocessed record; ``sent`` is the last point sent to the
broker, ``committed`` the last it confirmed.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING

from ..core import UNBOUNDED, add_demand

if TYPE_CHECKING:
    from ._record import Record

TRIM = 1024
"""Settled entries are cut from the front of ``pending`` and ``stamps`` once there are at
least this many and they are at least half of them: a cut costs about one step an entry,
so each entry pays for one cut at most, and the lists hold at most twice what is
unsettled plus this."""


class PartitionLedger:
    """One assigned partition, for as long as it stays assigned (``live``)."""

    __slots__ = (
        "acked",
        "acks",
        "committed",
        "done",
        "head",
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
        # Offsets acked and not yet settled: any thread appends, the poll thread takes.
        self.acks: list[int] = []
        self.pending: list[int] = []
        self.stamps: list[float | None] = []  # the timestamps of ``pending``
        self.head = 0  # where the unsettled part of ``pending`` and ``stamps`` starts
        self.acked: set[int] = set()
        self.done: int | None = None  # the offset after the gap-free acked run
        self.committed: int | None = None  # the group's committed offset (-1: none), if read
        self.sent: int | None = None  # the last commit point sent, confirmed or not
        self.live = True

    @property
    def unacked(self) -> int:
        """Polled and not acked, as far as settled."""
        return len(self.pending) - self.head - len(self.acked)

    @property
    def outstanding(self) -> list[int]:
        """The offsets not yet passed by the commit point, in poll order (a copy)."""
        return self.pending[self.head :]

    def settle(self) -> int:
        """Take the acks made since the last call into the books (the poll thread, under
        the ledger's lock); how many of them counted (not moot, not seen before)."""
        acks = self.acks
        n = len(acks)
        if not n:
            return 0
        batch = acks[:n]
        del acks[:n]  # appends made meanwhile went after the first n: they stay
        pending, head = self.pending, self.head
        if not self.acked and pending[head : head + n] == batch:
            # The usual case: the next n offsets, each once, in order.
            head += n
            counted = n
        else:
            acked = self.acked
            counted = 0
            end = len(pending)
            for offset in batch:
                if head < end and offset >= pending[head] and offset not in acked:
                    acked.add(offset)
                    counted += 1
            while head < end and pending[head] in acked:
                acked.discard(pending[head])
                head += 1
        if head != self.head:
            self.done = pending[head - 1] + 1
            if head >= TRIM and 2 * head >= len(pending):
                del pending[:head]
                del self.stamps[:head]
                head = 0
            self.head = head
        return counted


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
        self.unacked = 0  # polled (held or emitted) and not settled acked, live partitions
        self.since_commit = 0  # settled acks since the last commit
        self.held = 0  # polled and not yet emitted (or let go)
        self.stopping = False
        # The poll thread waits at max_unacked: an ack wakes it (read without the lock).
        self.waiting = False

    def settle(self) -> int:
        """Take every live partition's new acks into the books (under the lock)."""
        counted = 0
        for slot in self.partitions.values():
            if slot.acks:
                counted += slot.settle()
        if counted:
            self.unacked -= counted
            self.since_commit += counted
        return counted

    def room(self, max_poll: int) -> int:
        """How many records the poll thread may poll now (under the lock, acks settled
        first): no more than asked for, ``max_poll`` at a time, ``max_unacked`` in all, and
        two polls ahead of delivery."""
        self.settle()
        return min(self.wanted, max_poll, self.max_unacked - self.unacked, 2 * max_poll - self.held)

    def wait(self, max_poll: int, timeout: float) -> int:
        """Wait for room, at most ``timeout`` seconds (the poll thread, under the lock,
        having found none); the room then.

        Waiting at ``max_unacked``, it is woken by the next ack. The flag goes up before
        the acks are settled once more, so an ack either is settled here or finds the flag
        up and wakes the wait."""
        if self.unacked >= self.max_unacked:
            self.waiting = True
            room = self.room(max_poll)
            if room <= 0:
                self.cond.wait(timeout)
            self.waiting = False
        else:
            self.cond.wait(timeout)
        return self.room(max_poll)

    def wake(self) -> None:
        """An ack came while the poll thread waits at ``max_unacked``."""
        with self.lock:
            self.waiting = False
            self.cond.notify()

    def delivered(self, n: int, max_poll: int) -> None:
        """``n`` held records were emitted or let go (the loop's owner, once a pass)."""
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
            self.settle()
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
            self.settle()
            stamps = [s.stamps[s.head] for s in self.partitions.values() if s.unacked]
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

    (Bound as ``Record.ack``: one call per record, no lock. The offset waits in its
    partition's ``acks`` until the poll thread settles it, see the module notes.)"""
    slot = record._slot
    if slot.live:  # a revoked partition's list is never settled: nothing to pile up there
        slot.acks.append(record.offset)
        if slot.ledger.waiting:
            slot.ledger.wake()
