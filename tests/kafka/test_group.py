"""Consumer groups across processes: scale-out and a member killed mid-run."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ._broker import (
    WAIT,
    committed,
    consumer_config,
    topic_of,
    unique,
    wait_for,
)
from ._workers import Processed, consume

_context = multiprocessing.get_context("spawn")


class Members:
    """Consumer processes of one group, and what they processed, read by a thread."""

    def __init__(self, topic: str, config: dict[str, Any], options: dict[str, Any], delay: float):
        self._stops: list[Connection] = []
        self.processes: list[BaseProcess] = []
        self._pipes: list[Connection] = []
        self._writers: list[Connection] = []
        for _ in range(2):
            reader, writer = _context.Pipe(duplex=False)
            stop_reader, stop_writer = _context.Pipe(duplex=False)
            self._stops.append(stop_writer)
            self._pipes.append(reader)
            self._writers.append(writer)
            self.processes.append(
                _context.Process(
                    target=consume, args=(topic, config, options, delay, writer, stop_reader)
                )
            )
        self.seen: list[Processed] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        open_pipes = list(self._pipes)
        while open_pipes:
            for pipe in wait(open_pipes, timeout=0.5):
                assert isinstance(pipe, Connection)
                try:
                    self.seen.append(pipe.recv())
                except EOFError:  # that member has ended
                    open_pipes.remove(pipe)

    def by(self, pid: int) -> list[Processed]:
        return [event for event in list(self.seen) if event[0] == pid]

    @contextmanager
    def running(self) -> Iterator[Members]:
        self._reader.start()
        for process in self.processes:
            process.start()
        for writer in self._writers:
            writer.close()  # the members hold the write ends now: EOF comes when they end
        try:
            yield self
        finally:
            # Pipes, not a shared Event: a killed member may die holding an Event's lock.
            for stop in self._stops:
                stop.close()
            for process in self.processes:
                process.join(timeout=WAIT)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=WAIT)
            self._reader.join(timeout=WAIT)


def _one_at_a_time(seen: list[Processed]) -> None:
    """Each partition's records were processed by one process at a time: its processing
    spans per process do not overlap."""
    spans: dict[int, dict[int, list[float]]] = defaultdict(dict)
    for pid, partition, _, moment in seen:
        span = spans[partition].setdefault(pid, [moment, moment])
        span[0], span[1] = min(span[0], moment), max(span[1], moment)
    for partition, by_pid in spans.items():
        ordered = sorted(by_pid.values())
        for before, after in itertools.pairwise(ordered):
            assert before[1] <= after[0], f"partition {partition} processed by two at once"


def test_two_processes_share_a_four_partition_topic_and_the_lag_ends_at_zero(
    broker: str,
) -> None:
    topic = topic_of(broker, 4, 20_000)
    group = unique("group")
    config = consumer_config(broker, group)
    options = {"commit_interval": 0.2}
    with Members(topic, config, options, delay=0.0001).running() as members:
        wait_for(
            lambda: len({(p, o) for _, p, o, _ in members.seen}) == 20_000,
            timeout=40,
            what="every record processed",
        )
        wait_for(
            lambda: committed(broker, group, topic, 4) == [5000] * 4,
            what="the committed lag to reach 0",
        )
    processed = {(p, o) for _, p, o, _ in members.seen}
    assert processed == {(i % 4, i // 4) for i in range(20_000)}
    assert len({pid for pid, *_ in members.seen}) == 2  # both members did a share
    _one_at_a_time(members.seen)


def test_a_killed_member_s_partitions_are_taken_over_and_only_its_uncommitted_records_repeat(
    broker: str,
) -> None:
    topic = topic_of(broker, 4, 2000)
    group = unique("group")
    config = consumer_config(broker, group)
    options = {"commit_every": 100, "max_unacked": 100, "max_poll": 50}
    with Members(topic, config, options, delay=0.001).running() as members:
        victim, survivor = members.processes
        assert victim.pid is not None
        assert survivor.pid is not None
        victim_pid = victim.pid
        wait_for(lambda: len(members.by(victim_pid)) >= 300, what="the victim at work")
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=WAIT)
        killed_at = time.monotonic()
        wait_for(
            lambda: len({(p, o) for _, p, o, _ in members.seen}) == 2000,
            timeout=40,
            what="every record processed",
        )
    processed = {(p, o) for _, p, o, _ in members.seen}
    assert processed == {(i % 4, i // 4) for i in range(2000)}
    by_victim = [e for e in members.seen if e[0] == victim.pid]
    assert all(moment <= killed_at for *_, moment in by_victim)
    by_survivor = [e for e in members.seen if e[0] == survivor.pid]
    twice = {(p, o) for _, p, o, _ in by_victim} & {(p, o) for _, p, o, _ in by_survivor}
    assert len(twice) <= options["commit_every"] + options["max_unacked"]
    for partition in range(4):
        victims = {o for _, p, o, _ in by_victim if p == partition}
        after = sorted((t, o) for _, p, o, t in by_survivor if p == partition and t > killed_at)
        if not victims or not after:
            continue
        # The survivor took over at the victim's last commit: what it read again is exactly
        # what the victim processed after that commit.
        start = after[0][1]
        again = {o for _, o in after} & victims
        assert again == {o for o in victims if o >= start}
