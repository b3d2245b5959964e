"""A guard that makes a virtual-time test fail when its work escapes to real time.

An operator handed (or defaulting to) a real-time scheduler inside a marble test would
schedule its work on a timer thread; the TestScheduler would then run nothing and the
test would record nothing, passing or failing for the wrong reason. Inside the guard,
scheduling on a thread or event-loop scheduler, or with a delay on a same-thread one,
raises at the call and is reported when the block ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from reactivex.scheduler import (
    EventLoopScheduler,
    ImmediateScheduler,
    NewThreadScheduler,
    TimeoutScheduler,
    TrampolineScheduler,
)
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from ._subscriber import RuleViolation

_THREADED: tuple[type, ...] = (
    TimeoutScheduler,
    NewThreadScheduler,
    EventLoopScheduler,
    AsyncIOScheduler,
    AsyncIOThreadSafeScheduler,
)
_SAME_THREAD: tuple[type, ...] = (TrampolineScheduler, ImmediateScheduler)
_METHODS = ("schedule", "schedule_relative", "schedule_absolute", "schedule_periodic")

_active = threading.Lock()


def _delayed(scheduler: Any, name: str, args: tuple[Any, ...]) -> bool:
    if name == "schedule_relative" and args:
        duetime = args[0]
        seconds = duetime.total_seconds() if isinstance(duetime, timedelta) else duetime
        return bool(seconds > 0)
    if name == "schedule_absolute" and args:
        duetime = scheduler.to_datetime(args[0])
        return bool(duetime > scheduler.now) if isinstance(duetime, datetime) else True
    return name == "schedule_periodic"


@contextmanager
def real_time_guard() -> Iterator[list[str]]:
    """Yield the list of offences recorded while the block runs."""
    offences: list[str] = []
    patched: list[tuple[type, str, Any]] = []

    def guard(cls: type, name: str, original: Callable[..., Any], always: bool) -> None:
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            if always or _delayed(self, name, args):
                message = (
                    f"{type(self).__name__}.{name}() was called inside a virtual-time test: "
                    "give the operator the TestScheduler (or let it use the subscriber's)"
                )
                offences.append(message)
                raise RuleViolation(message)
            return original(self, *args, **kwargs)

        patched.append((cls, name, original))
        setattr(cls, name, guarded)

    if not _active.acquire(blocking=False):
        raise RuntimeError("marbles() blocks cannot be nested")
    try:
        for classes, always in ((_THREADED, True), (_SAME_THREAD, False)):
            for cls in classes:
                for name in _METHODS:
                    if name in cls.__dict__:
                        guard(cls, name, cls.__dict__[name], always)
        yield offences
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)
        _active.release()
