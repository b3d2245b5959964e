"""adaptive_batch: lists whose size follows how long the consumer takes with each one.

Items are gathered into lists of the current ``size``. Each list's processing time is read
on the scheduler's clock: from its emission until the consumer is ready for the next one,
that is until ``on_next`` has returned and there is demand again (the first ``request``
after it for a subscriber that asks one batch at a time; ``on_next`` returning for a plain
observer or a subscriber that already holds demand). The size then adapts. With
``initial_size=2, min_size=1, max_size=4, target_time=4.0`` and one frame per second::

    source:    a b c d e f g h |     a pull source: read only as batches are asked for
    requests:  (2,3)--2--2           what adaptive_batch asks of the source
    demand:    2------1--1           the subscriber's requests, in batches
    result:    (x,y)--z--(w,|)       x=[a,b] y=[c,d,e] z=[f,g] w=[h]

x was taken at once (0 s: grow to 3); y was taken 7 s before the next request (more than
1.5 x 4: shrink to 2); z took 3 s (within the band: stay at 2).

Default rule, after each batch: ``took > 1.5 * target`` -> ``max(min_size, int(size * 0.8))``;
``took < 0.5 * target`` -> ``min(max_size, max(size + 1, int(size * 1.2)))``; else unchanged.

- A Flowable upstream is asked for the items of the next batch when a batch is wanted, so it
  is never read more than one batch ahead of delivery.
- A plain (push) upstream's items are held meanwhile, at most ``max_size``; one more stops
  the upstream and fails with ``BufferOverflowError`` after the held items are delivered.
- ``max_wait``: a partial batch goes out once its oldest item has waited that long and there
  is demand. Completion and upstream errors first flush what is held; no list is ever empty.
- Directly after ``bounded_buffer(capacity)``, keep ``max_size <= capacity``: a larger batch
  cannot be gathered in the buffer while the consumer works on the previous one, so producer
  and consumer take turns. Subscribing such a pipeline warns with :class:`BatchSizeWarning`.
- Metrics: ``received``/``depth`` count items, ``emitted`` counts lists, ``batch_size`` is the
  current size. So does ``inspect``, whose state shows ``batch_size`` and ``emitted_items``.

Defaults: ``initial_size=100``, ``min_size=10``, ``max_size=1000``, ``target_time=1.0`` s,
``max_wait=None`` (no time limit), ``rule=default_size_rule``, ``scheduler``: the
subscriber's ``scheduler=``, else real time; ``metrics=None``; ``name=None`` (its call, e.g.
``adaptive_batch(initial_size=10, max_size=50)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc

from ..core import (
    Flowable,
    Metrics,
    Subscriber,
    call_name,
    check_callable,
    check_int,
    check_metrics,
    check_scheduler,
    check_seconds,
    lift,
    stage_name,
)
from ._adaptive_batch_drain import AdaptiveBatchDrain
from ._adaptive_batch_drain import BatchSizeWarning as BatchSizeWarning

_T = TypeVar("_T")

SizeRule = Callable[[int, float, float], int]
"""``(size, took, target_time) -> new_size``; the operator clamps it to [min_size, max_size]."""


def default_size_rule(size: int, took: float, target: float) -> int:
    """Shrink by 20% above 1.5x the target, grow by 20% (at least 1) below 0.5x the target.

    The operator clamps the result to ``[min_size, max_size]``.
    """
    if took > 1.5 * target:
        return int(size * 0.8)
    if took < 0.5 * target:
        return max(size + 1, int(size * 1.2))
    return size


def adaptive_batch(
    *,
    initial_size: int = 100,
    min_size: int = 10,
    max_size: int = 1000,
    target_time: float = 1.0,
    max_wait: float | None = None,
    rule: SizeRule = default_size_rule,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[list[_T]]]:
    """Emit lists of items, sized so that the consumer spends about ``target_time`` on each.

    Args:
        initial_size: size of the first batch (default 100), within ``[min_size, max_size]``.
        min_size: smallest size the rule may choose (default 10).
        max_size: largest size, and the most items held from a push upstream (default 1000);
            at most the capacity of a ``bounded_buffer`` directly upstream, else subscribing
            warns with :class:`BatchSizeWarning`.
        target_time: seconds of processing per batch to aim for (default 1.0).
        max_wait: seconds a held item may wait before a partial batch goes out (default
            None: batches are only cut by size, completion or error).
        rule: ``(size, took, target_time) -> new_size`` (default :func:`default_size_rule`);
            an error it raises, or a result that is not an int, fails the stream.
        scheduler: the clock for timing and ``max_wait`` (default: the subscriber's
            ``scheduler=``, else real time).
        metrics: counters to keep current, plus the ``batch_size`` gauge (default none).
        name: the stage's name in ``inspect`` (default: its call, with the options given).
    """
    check_int("min_size", min_size)
    check_int("max_size", max_size)
    check_int("initial_size", initial_size)
    if min_size > max_size:
        raise ValueError(f"min_size must be <= max_size, got {min_size} > {max_size}")
    if not min_size <= initial_size <= max_size:
        raise ValueError(
            f"initial_size must be within [min_size, max_size] = [{min_size}, {max_size}], "
            f"got {initial_size}"
        )
    check_seconds("target_time", target_time)
    check_seconds("max_wait", max_wait, allow_none=True)
    check_callable("rule", rule)
    check_scheduler(scheduler)
    check_metrics(metrics)

    def default_name() -> str:
        options = {
            key: value
            for key, value, default in (
                ("initial_size", initial_size, 100),
                ("min_size", min_size, 10),
                ("max_size", max_size, 1000),
                ("target_time", target_time, 1.0),
                ("max_wait", max_wait, None),
                ("rule", rule, default_size_rule),
            )
            if value != default
        }
        return call_name("adaptive_batch", **options)

    label = stage_name(name, default_name)

    def make(subscriber: Subscriber[list[_T]]) -> AdaptiveBatchDrain[_T]:
        return AdaptiveBatchDrain(
            subscriber,
            size=initial_size,
            bounds=(min_size, max_size),
            target_time=float(target_time),
            max_wait=None if max_wait is None else float(max_wait),
            rule=rule,
            scheduler=scheduler,
            metrics=metrics,
            name=label,
        )

    return lift(make)
