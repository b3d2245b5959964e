"""The ledger's bookkeeping on its own (no broker): acks in and out of order, the commit
point, moot acks, the oldest unacked timestamp, acks from several threads while the
books are settled, the wake at ``max_unacked``, the read-ahead bound of two polls, and the
trim of settled entries."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from conftest import run_threads

from rx_backpressure.kafka import Record
from rx_backpressure.kafka._ledger import TRIM, Ledger, PartitionLedger


def polled(ledger: Ledger, slot: PartitionLedger, offsets: list[int]) -> list[Record]:
    """Records at ``offsets`` of ``slot``'s partition, entered as one poll (timestamps are
    the offsets, in seconds)."""
    stamps: list[float | None] = [float(offset) for offset in offsets]
    assert ledger.polled([(slot, list(offsets), stamps)]) == len(offsets)
    return [Record(slot, offset, None, b"v", float(offset), ()) for offset in offsets]


def settle(ledger: Ledger) -> int:
    with ledger.lock:
        return ledger.settle()


def test_an_ack_waits_for_the_settle_then_moves_the_commit_point() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [10, 11, 12])
    assert (slot.done, ledger.unacked, slot.unacked) == (None, 3, 3)
    records[0].ack()
    assert (slot.acks, slot.done, ledger.unacked) == ([10], None, 3)  # not settled yet
    assert settle(ledger) == 1
    assert (slot.acks, slot.done, ledger.unacked, ledger.since_commit) == ([], 11, 2, 1)
    records[1].ack()
    records[2].ack()
    assert settle(ledger) == 2
    assert (slot.done, ledger.unacked, ledger.since_commit) == (13, 0, 3)
    assert (slot.outstanding, slot.head, slot.stamps[slot.head :]) == ([], 3, [])
    assert settle(ledger) == 0


def test_out_of_order_acks_wait_for_the_gap_then_move_past_all_of_them() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1, 2, 3, 5])  # 4 is missing (compacted away)
    for index in (4, 2, 1):
        records[index].ack()
    assert settle(ledger) == 3
    # Offset 0 is not acked: nothing may be committed yet.
    assert (slot.done, slot.acked, ledger.unacked) == (None, {5, 2, 1}, 2)
    records[0].ack()
    assert settle(ledger) == 1
    assert (slot.done, slot.acked, slot.outstanding, slot.stamps[slot.head :]) == (
        3,
        {5},
        [3, 5],
        [3.0, 5.0],
    )
    records[3].ack()
    assert settle(ledger) == 1
    assert (slot.done, slot.acked, slot.outstanding, ledger.unacked) == (6, set(), [], 0)


def test_a_second_ack_and_an_ack_after_revocation_are_moot() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1, 2])
    records[1].ack()
    records[1].ack()  # out of order, twice in one settle
    assert settle(ledger) == 1
    records[0].ack()
    records[0].ack()  # in order, twice in one settle
    records[1].ack()  # and again, in a later one
    assert settle(ledger) == 1
    assert (slot.done, ledger.unacked, ledger.since_commit) == (2, 1, 2)
    assert ledger.revoke("t", 0) is slot
    for _ in range(3):
        records[2].ack()
    assert slot.acks == []  # not even noted: a revoked partition is settled no more
    assert settle(ledger) == 0
    assert (slot.done, ledger.unacked, ledger.since_commit) == (2, 0, 2)
    again = ledger.assign("t", 0)  # the partition comes back: a new slot, read afresh
    assert again.serial != slot.serial
    assert ledger.serials == {again.serial: again}  # what delivery finds: live ones only
    fresh = polled(ledger, again, [2])
    records[2].ack()  # the old record's ack still counts for nothing
    assert settle(ledger) == 0
    assert (again.done, ledger.unacked) == (None, 1)
    fresh[0].ack()
    assert settle(ledger) == 1
    assert (again.done, ledger.unacked) == (3, 0)


def test_acks_of_a_revoked_partition_unsettled_at_revocation_count_for_nothing() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    kept, lost = ledger.assign("t", 0), ledger.assign("t", 1)
    ones = polled(ledger, kept, [0, 1])
    twos = polled(ledger, lost, [0, 1, 2])
    twos[0].ack()
    twos[1].ack()
    ones[0].ack()
    ledger.revoke("t", 1)  # before the settle: its two acks go with it
    assert settle(ledger) == 1
    assert (ledger.unacked, ledger.since_commit, kept.done, lost.done) == (1, 1, 1, None)


def test_the_commit_points_and_the_oldest_timestamp_settle_first() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    first, second = ledger.assign("t", 0), ledger.assign("t", 1)
    ones = polled(ledger, first, [100, 101])
    twos = polled(ledger, second, [50, 51])
    assert ledger.oldest_unacked() == 50.0
    twos[1].ack()  # out of order: offset 50 is still the first gap
    assert ledger.oldest_unacked() == 50.0
    twos[0].ack()
    assert ledger.oldest_unacked() == 100.0
    ones[0].ack()
    assert ledger.to_commit() == [(first, 101), (second, 52)]
    assert ledger.since_commit == 0
    ones[1].ack()
    assert ledger.oldest_unacked() is None
    assert ledger.to_commit() == [(first, 102)]


def test_acks_from_several_threads_add_up_while_the_books_are_settled() -> None:
    ledger = Ledger(max_unacked=10_000, commit_every=10**9)
    slots = [ledger.assign("t", partition) for partition in range(4)]
    records = [record for slot in slots for record in polled(ledger, slot, list(range(2000)))]
    random.Random(3).shuffle(records)
    shares = [records[k::4] for k in range(4)]
    counted: list[int] = []
    acking = threading.Event()

    def ack_all(share: list[Record]) -> None:
        for record in share:
            record.ack()

    def settle_until_done() -> None:  # as the poll thread does, between polls
        while acking.is_set() or any(slot.acks for slot in slots):
            counted.append(settle(ledger))

    settler = threading.Thread(target=settle_until_done, daemon=True)
    acking.set()
    settler.start()
    run_threads(
        [threading.Thread(target=ack_all, args=(share,), daemon=True) for share in shares],
        "an acking thread",
    )
    acking.clear()
    settler.join(30)
    assert not settler.is_alive()
    assert sum(counted) == 8000
    assert len([n for n in counted if n]) > 1  # settled in more than one go
    assert ledger.unacked == 0
    assert ledger.since_commit == 8000
    assert [(slot.done, slot.outstanding, slot.acked) for slot in slots] == [(2000, [], set())] * 4


class LateAck(list[int]):
    """A partition's ``acks`` that takes one more ack the moment the settle has read
    them, as an ack from another thread would land between the settle's read and its cut."""

    def __init__(self, late: list[int]) -> None:
        super().__init__()
        self.late = late

    def __getitem__(self, index: Any) -> Any:
        got = super().__getitem__(index)
        if isinstance(index, slice) and self.late:
            self.append(self.late.pop())
        return got


def test_an_ack_made_while_the_acks_are_settled_stays_for_the_next_settle() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1, 2])
    slot.acks = LateAck([2])
    records[0].ack()
    records[1].ack()
    assert settle(ledger) == 2
    assert (list(slot.acks), slot.done, ledger.unacked) == ([2], 2, 1)
    assert settle(ledger) == 1
    assert (list(slot.acks), slot.done, ledger.unacked) == ([], 3, 0)


def test_an_ack_wakes_a_poll_thread_waiting_at_max_unacked() -> None:
    ledger = Ledger(max_unacked=3, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1, 2])
    ledger.add_demand(10)
    rooms: list[int] = []
    took: list[float] = []

    def poll_thread() -> None:
        with ledger.lock:
            assert ledger.room(5) == 0
            start = time.monotonic()
            rooms.append(ledger.wait(5, 30.0))  # woken long before the timeout
            took.append(time.monotonic() - start)

    waiter = threading.Thread(target=poll_thread, daemon=True)
    waiter.start()
    deadline = time.monotonic() + 30
    while not ledger.waiting and time.monotonic() < deadline:
        time.sleep(0.001)
    assert ledger.waiting
    records[1].ack()  # out of order: room for one all the same
    waiter.join(30)
    assert not waiter.is_alive()
    assert rooms == [1]
    assert took[0] < 10
    assert (ledger.waiting, ledger.unacked, slot.done) == (False, 2, None)


def test_at_most_two_polls_wait_for_delivery_and_a_delivery_wakes_the_poll_thread() -> None:
    # Whoever delivers (the poll thread itself, or a subscriber's thread that owns the
    # drain's loop), the poll thread never holds more than two polls of max_poll records
    # that are not yet delivered, however much was asked for.
    ledger = Ledger(max_unacked=1000, commit_every=1000)
    slot = ledger.assign("t", 0)
    ledger.add_demand(100)
    assert settle(ledger) == 0
    with ledger.lock:
        assert ledger.room(5) == 5
    polled(ledger, slot, list(range(7)))
    with ledger.lock:
        assert (ledger.held, ledger.room(5)) == (7, 3)
    polled(ledger, slot, [7, 8, 9])
    rooms: list[int] = []

    def poll_thread() -> None:
        with ledger.lock:
            assert ledger.room(5) == 0
            rooms.append(ledger.wait(5, 30.0))  # woken by the delivery below

    waiter = threading.Thread(target=poll_thread, daemon=True)
    waiter.start()
    time.sleep(0.05)  # most likely waiting by now; if not, it finds the room at once
    ledger.delivered(4, 5)
    waiter.join(30)
    assert not waiter.is_alive()
    assert rooms == [4]
    assert (ledger.held, ledger.wanted) == (6, 90)


def test_an_ack_made_while_the_wait_begins_is_settled_there_not_lost() -> None:
    # Acked before the flag goes up: the second settle inside wait() finds it, and there is
    # room at once (no wait, no wake needed).
    ledger = Ledger(max_unacked=2, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1])
    ledger.add_demand(10)
    with ledger.lock:
        assert ledger.room(5) == 0
        records[0].ack()  # after the poll thread's look, before its wait
        start = time.monotonic()
        assert ledger.wait(5, 30.0) == 1
        assert time.monotonic() - start < 10
    assert (ledger.waiting, ledger.unacked, slot.done) == (False, 1, 1)


def test_settled_entries_are_cut_from_the_front_so_the_books_stay_bounded() -> None:
    ledger = Ledger(max_unacked=10**9, commit_every=10**9)
    slot = ledger.assign("t", 0)
    # Polls of 100, each acked and settled before the next: the lists never hold more
    # than TRIM settled entries and one poll.
    longest = 0
    for start in range(0, 20_000, 100):
        for record in polled(ledger, slot, list(range(start, start + 100))):
            record.ack()
        longest = max(longest, len(slot.pending), len(slot.stamps))
        settle(ledger)
        assert len(slot.pending) == len(slot.stamps) < TRIM
    assert (slot.done, ledger.unacked, slot.outstanding) == (20_000, 0, [])
    assert longest == (TRIM // 100 + 1) * 100  # cut at the first settle past TRIM
    # The first record of a long poll unacked: the rest waits in ``acked``, nothing is
    # cut; once it is acked, all of it passes and the front is cut.
    base = 20_000
    records = polled(ledger, slot, list(range(base, base + 5 * TRIM)))
    for record in records[1:]:
        record.ack()
    settle(ledger)
    assert (slot.done, ledger.unacked, len(slot.acked)) == (base, 1, 5 * TRIM - 1)
    records[0].ack()
    settle(ledger)
    assert (slot.done, ledger.unacked, slot.acked) == (base + 5 * TRIM, 0, set())
    assert (slot.head, slot.pending, slot.stamps) == (0, [], [])
    # Settled in batches while a long poll is acked in order: at most twice what waits,
    # plus TRIM.
    base += 5 * TRIM
    records = polled(ledger, slot, list(range(base, base + 10 * TRIM)))
    for index in range(0, len(records), 100):
        for record in records[index : index + 100]:
            record.ack()
        settle(ledger)
        waiting = len(slot.pending) - slot.head
        assert len(slot.pending) <= max(2 * waiting, waiting + TRIM)
    assert (slot.done, ledger.unacked) == (base + 10 * TRIM, 0)
