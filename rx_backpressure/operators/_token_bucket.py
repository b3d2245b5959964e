"""token_bucket and rate_limit: shape a stream to an average rate, allowing bursts.

A bucket holds up to ``capacity`` tokens and starts full; it refills at ``refill_rate``
tokens per second of the operator's clock, never above ``capacity``. An item costs
``cost(item)`` tokens (1 by default). ``token_bucket(capacity=2, refill_rate=1.0)``, five
items pushed at t=0, one column per second::

    t (s):       0    1    2    3
    upstream:    abcde
    demand:      *
    tokens:      2>0  1>0  1>0  1>0
    output:      ab   c    d    e

Over a pull source (a Flowable), shape mode asks upstream only for what the tokens allow,
so the source is read as slowly as the output goes::

    demand:      *
    requests:    2,1  1    1             (made upstream at each second)
    output:      ab   c    d    e

Modes (``mode=``, default ``"shape"``):

- ``"shape"``: lossless; an item waits until its tokens are there; order is kept. A push
  upstream may have at most ``max_pending`` (default 1024) items waiting; one more fails
  the stream with ``BufferOverflowError`` after the items already accepted.
- ``"drop"``: an item that finds too few tokens on arrival is dropped at once (``on_drop``
  is called with it; metrics ``dropped``), never delayed. Items that paid their tokens but
  find no demand wait, at most ``max_pending``; one more is dropped too, uncharged.
- ``"error"``: an item that finds too few tokens fails the stream with
  ``RateLimitExceeded``, after the items already accepted (as does one more item than
  ``max_pending`` can hold, with ``BufferOverflowError``).

An item whose cost is above ``capacity`` could never pass: ``ValueError`` naming both; a
negative cost is a ``ValueError`` and a non-number (bool included) a ``TypeError``. These,
and an exception raised by ``cost`` or ``on_drop``, cut upstream at once and reach
``on_error`` after the items already accepted.

``scheduler`` (default: the one given to ``subscribe``, else real time) is the clock and
runs the timers; ``metrics`` (default none) keeps ``received``, ``emitted``, ``dropped``,
``requested`` and ``depth`` current. ``name`` (default: its call, e.g.
``token_bucket(10, 5.0, mode='drop')`` or ``rate_limit(50)``) names the stage in
``inspect``, whose state shows ``tokens`` (the level now) and ``throttled_seconds`` (the
seconds items have waited for their tokens, in all). Drops are summarised on the
``rx_backpressure.token_bucket`` logger.
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
    check_choice,
    check_int,
    check_metrics,
    check_number,
    check_scheduler,
    lift,
    stage_name,
)
from ._token_bucket_drain import Bucket, BucketDrain, Mode

_T = TypeVar("_T")

MODES: tuple[Mode, ...] = ("shape", "drop", "error")


def token_bucket(
    capacity: float,
    refill_rate: float,
    *,
    cost: Callable[[_T], float] | None = None,
    mode: Mode = "shape",
    max_pending: int = 1024,
    on_drop: Callable[[_T], None] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_T]]:
    """Let items through as a token bucket allows: bursts of up to ``capacity`` tokens,
    ``refill_rate`` tokens per second on average (see the module notes for the modes).

    Raises ``ValueError`` at once for ``capacity <= 0``, ``refill_rate <= 0`` (either not
    finite), ``max_pending < 1``, an unknown ``mode``, or an ``on_drop`` outside drop mode;
    ``TypeError`` for a parameter of the wrong type (a bool or a float ``max_pending``, a
    non-callable ``cost`` or ``on_drop``, a ``scheduler`` or ``metrics`` that is not one,
    a ``name`` that is not a non-empty str).
    """
    given = (capacity, refill_rate)  # as the caller wrote them, for the default name
    capacity = check_number("capacity", capacity, above=0)
    refill_rate = check_number("refill_rate", refill_rate, above=0)
    check_callable("cost", cost, allow_none=True)
    check_choice("mode", mode, MODES)
    check_int("max_pending", max_pending)
    check_callable("on_drop", on_drop, allow_none=True)
    check_scheduler(scheduler)
    check_metrics(metrics)
    if on_drop is not None and mode != "drop":
        raise ValueError(f"on_drop is only called in mode 'drop', got mode={mode!r}")

    def default_name() -> str:
        options: dict[str, object] = {} if cost is None else {"cost": cost}
        if mode != "shape":
            options["mode"] = mode
        if max_pending != 1024:
            options["max_pending"] = max_pending
        return call_name("token_bucket", *given, **options)

    label = stage_name(name, default_name)

    def make(subscriber: Subscriber[_T]) -> BucketDrain[_T]:
        return BucketDrain(
            subscriber,
            bucket=Bucket(capacity, refill_rate),
            cost=cost,
            mode=mode,
            max_pending=max_pending,
            on_drop=on_drop,
            scheduler=scheduler,
            metrics=metrics,
            name=label,
        )

    return lift(make)


def rate_limit(
    per_second: float,
    *,
    scheduler: abc.SchedulerBase | None = None,
    metrics: Metrics | None = None,
    name: str | None = None,
) -> Callable[[Observable[_T]], Flowable[_T]]:
    """Evenly spaced, lossless: items due ``1 / per_second`` apart.

    Due times are absolute: a timer that fires late is made up by the next item, so the
    long-run rate holds; at most half a spacing is made up, so two items never go out
    closer than ``0.5 / per_second`` (a later timer restarts the schedule).

    The same as ``token_bucket(1, per_second)``: the first item passes at once, each next
    one when a whole token has refilled. Over a pull source, upstream is asked for the
    items due within the next millisecond, at least one (one at a time below 1,000 a
    second)::

        rate_limit(2.0), one column per half second:
        demand:    *
        requests:  1,1  1    1               (made upstream)
        output:    a    b    c    d

    Raises ``ValueError`` (``TypeError`` for a non-number) naming ``per_second`` when it
    is not a finite number > 0, and ``TypeError`` for a ``scheduler`` or ``metrics`` that
    is not one, or a ``name`` that is not a non-empty str. ``name`` defaults to its call,
    e.g. ``rate_limit(50)``.
    """
    given = per_second
    per_second = check_number("per_second", per_second, above=0)
    check_scheduler(scheduler)
    check_metrics(metrics)
    label = stage_name(name, lambda: call_name("rate_limit", given))
    every_item_costs_one: Callable[[_T], float] | None = None  # binds _T for the checker
    return token_bucket(
        1,
        per_second,
        cost=every_item_costs_one,
        scheduler=scheduler,
        metrics=metrics,
        name=label,
    )
