"""asyncio interop: ``async for`` over a Flowable, and a Flowable over an async generator.

- ``async for`` over ``bp.from_iterable(range(N))`` (``Flowable.__aiter__``, prefetch 64)
  against the usual asyncio hand-off: a producer task putting ``range(N)`` into an
  ``asyncio.Queue(1000)`` and a consumer task getting them, in the same loop. Target: at
  least as fast (>= 1.0x).
- ``async for`` over ``bp.from_async_iterable(agen)`` against ``async for`` over ``agen``
  itself, for an async generator that never suspends (the worst case for the wrapper: all
  of the time is ours). Reported as the overhead per item, and as a ratio.

Every variant runs to completion on one event loop (``run_until_complete``), created once.

Run: ``make bench`` or ``python benchmarks/bench_async.py [--quick] [--rounds N] [--json]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from _harness import Row, Timings, at_least, cost, interleave, ns, parse_args, ratio_row, report
from _harness import speed as faster

import rx_backpressure as bp

_END = object()


async def numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def flowable_async_for(n: int) -> None:
    async for _ in bp.from_iterable(range(n)):
        pass


async def queue_pair(n: int) -> None:
    queue: asyncio.Queue[object] = asyncio.Queue(1000)

    async def produce() -> None:
        for i in range(n):
            await queue.put(i)
        await queue.put(_END)

    async def consume() -> None:
        while await queue.get() is not _END:
            pass

    await asyncio.gather(produce(), consume())


async def wrapped_generator(n: int) -> None:
    async for _ in bp.from_async_iterable(numbers(n)):
        pass


async def bare_generator(n: int) -> None:
    async for _ in numbers(n):
        pass


def main() -> None:
    options = parse_args(__doc__ or "")
    n = 2_000 if options.quick else 200_000
    loop = asyncio.new_event_loop()

    def on_loop(make: Any) -> Any:
        def run() -> None:
            coroutine: Coroutine[Any, Any, None] = make(n)
            loop.run_until_complete(coroutine)

        return run

    try:
        variants = {
            "async for over from_iterable": on_loop(flowable_async_for),
            "asyncio.Queue(1000) pair": on_loop(queue_pair),
            "async for over from_async_iterable(agen)": on_loop(wrapped_generator),
            "async for over agen": on_loop(bare_generator),
        }
        t = interleave(variants, options.rounds, items=n, warmup=not options.quick)
    finally:
        loop.close()
    rows = [
        ratio_row(
            "async for over from_iterable vs an asyncio.Queue(1000) pair",
            t,
            faster("async for over from_iterable", "asyncio.Queue(1000) pair"),
            unit="x faster",
            target=at_least(1.0),
            detail=ns(t, "async for over from_iterable", "asyncio.Queue(1000) pair"),
        ),
        overhead_row(t),
    ]
    report("bench_async: asyncio interop", rows, options)


def overhead_row(t: Timings) -> Row:
    ours, bare = "async for over from_async_iterable(agen)", "async for over agen"
    median, best = t.median(), t.best()
    extra_median = (median[ours] - median[bare]) * 1e9
    extra_best = (best[ours] - best[bare]) * 1e9
    detail = (
        f"{ns(t, ours, bare)}; overhead per item: median {extra_median:,.0f} ns, "
        f"best {extra_best:,.0f} ns"
    )
    return ratio_row(
        "from_async_iterable(agen) vs the bare agen, time per item",
        t,
        cost(ours, bare),
        unit="x the time",
        detail=detail,
    )


if __name__ == "__main__":
    main()
