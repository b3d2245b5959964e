"""The ledger's bookkeeping on its own (no broker): acks in and out of order, the commit
point, moot acks, the oldest unacked timestamp, and acks from several threads at once."""

from __future__ import annotations

import random
import threading

from rx_backpressure.kafka import Record
from rx_backpressure.kafka._ledger import Ledger, PartitionLedger


def polled(ledger: Ledger, slot: PartitionLedger, offsets: list[int]) -> list[Record]:
    """Records at ``offsets`` of ``slot``'s partition, entered as one poll (timestamps are
    the offsets, in seconds)."""
    stamps: list[float | None] = [float(offset) for offset in offsets]
    assert ledger.polled([(slot, list(offsets), stamps)]) == len(offsets)
    return [Record(slot, offset, None, b"v", float(offset), ()) for offset in offsets]


def test_acks_in_order_move_the_commit_point_record_by_record() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [10, 11, 12])
    assert (slot.done, ledger.unacked, slot.unacked) == (None, 3, 3)
    records[0].ack()
    assert (slot.done, ledger.unacked, ledger.since_commit) == (11, 2, 1)
    records[1].ack()
    records[2].ack()
    assert (slot.done, ledger.unacked, ledger.since_commit) == (13, 0, 3)
    assert (len(slot.pending), len(slot.stamps)) == (0, 0)


def test_out_of_order_acks_wait_for_the_gap_then_move_past_all_of_them() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1, 2, 3, 5])  # 4 is missing (compacted away)
    for index in (4, 2, 1):
        records[index].ack()
    # Offset 0 is not acked: nothing may be committed yet.
    assert (slot.done, slot.acked, ledger.unacked) == (None, {5, 2, 1}, 2)
    records[0].ack()
    assert (slot.done, slot.acked, list(slot.pending), list(slot.stamps)) == (
        3,
        {5},
        [3, 5],
        [3.0, 5.0],
    )
    records[3].ack()
    assert (slot.done, slot.acked, len(slot.pending), ledger.unacked) == (6, set(), 0, 0)


def test_a_second_ack_and_an_ack_after_revocation_are_moot() -> None:
    ledger = Ledger(max_unacked=100, commit_every=1000)
    slot = ledger.assign("t", 0)
    records = polled(ledger, slot, [0, 1, 2])
    records[1].ack()
    records[1].ack()  # out of order, twice
    records[0].ack()
    records[0].ack()  # in order, twice
    assert (slot.done, ledger.unacked, ledger.since_commit) == (2, 1, 2)
    assert ledger.revoke("t", 0) is slot
    records[2].ack()
    assert (slot.done, ledger.unacked, ledger.since_commit) == (2, 0, 2)
    again = ledger.assign("t", 0)  # the partition comes back: a new slot, read afresh
    assert again.serial != slot.serial
    assert ledger.serials == {again.serial: again}  # what delivery finds: live ones only
    fresh = polled(ledger, again, [2])
    records[2].ack()  # the old record's ack still counts for nothing
    assert (again.done, ledger.unacked) == (None, 1)
    fresh[0].ack()
    assert (again.done, ledger.unacked) == (3, 0)


def test_the_oldest_unacked_timestamp_is_the_first_gap_of_any_partition() -> None:
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
    ones[1].ack()
    assert ledger.oldest_unacked() is None


def test_acks_from_several_threads_in_any_order_add_up() -> None:
    ledger = Ledger(max_unacked=10_000, commit_every=10**9)
    slots = [ledger.assign("t", partition) for partition in range(4)]
    records = [record for slot in slots for record in polled(ledger, slot, list(range(2000)))]
    random.Random(3).shuffle(records)
    shares = [records[k::4] for k in range(4)]

    def ack_all(share: list[Record]) -> None:
        for record in share:
            record.ack()

    threads = [threading.Thread(target=ack_all, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    assert ledger.unacked == 0
    assert ledger.since_commit == 8000
    assert [(slot.done, len(slot.pending), slot.acked) for slot in slots] == [(2000, 0, set())] * 4
