"""The asyncio story end to end: a fake HTTP-like API called through rate_limit, map_async and
circuit_break, consumed with async for."""

from __future__ import annotations

import asyncio
import random

from _aio_kit import run
from reactivex.scheduler.eventloop import AsyncIOScheduler

import rx_backpressure as bp


class FakeApi:
    """Answers after a random latency; ``enrich`` is down for its first three calls."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.in_flight = 0
        self.peak = 0
        self.enrich_calls = 0

    async def fetch(self, user_id: int) -> dict[str, int]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self._random.uniform(0.001, 0.01))
            return {"id": user_id, "score": user_id * 3}
        finally:
            self.in_flight -= 1

    async def enrich(self, record: dict[str, int]) -> str:
        self.enrich_calls += 1
        await asyncio.sleep(0.001)
        if self.enrich_calls <= 3:
            raise ConnectionError("503 Service Unavailable")
        return f"user {record['id']}: {record['score']}"


def test_rate_limited_concurrent_calls_behind_a_breaker_all_arrive_in_order() -> None:
    async def main() -> list[str]:
        api = FakeApi(seed=1)
        loop = asyncio.get_running_loop()
        scheduler = AsyncIOScheduler(loop)
        pipeline = bp.from_iterable(range(60)).pipe(
            bp.rate_limit(2000, scheduler=scheduler),
            bp.map_async(api.fetch, concurrency=8, timeout=1.0),
            bp.circuit_break(
                api.enrich,
                failure_threshold=3,
                reset_timeout=0.02,
                call_timeout=1.0,
                scheduler=scheduler,
            ),
        )
        results = [line async for line in pipeline]
        assert api.peak <= 8
        assert api.enrich_calls == 60 + 3  # the outage's three failures, then every item once
        return results

    results = run(main)
    assert results == [f"user {i}: {i * 3}" for i in range(60)]
