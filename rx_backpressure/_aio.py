"""Where asyncio work runs: the event loop a subscription uses, and how any thread reaches it.

The contract for everything of ours that awaits (``from_async_iterable``, ``map_async``,
``circuit_break`` with an async action):

- **Which loop:** the one running on the thread that subscribes; else the ``loop=`` given;
  else the loop of an ``AsyncIOScheduler`` given as ``scheduler`` (the operator's or the
  subscription's). With none of these, subscribing fails with :func:`no_loop_error`, which
  says what to pass: nothing is left waiting for a loop that never comes.
- **Which thread:** every coroutine is started, awaited and cancelled on that loop's thread.
  Code running elsewhere (a request from another thread, a timer on a thread pool) hands
  its work over with :func:`run_on`, which is ``call_soon_threadsafe`` unless it is already
  on the loop.
- **After the loop is closed:** work handed over is dropped (there is no one left to run
  it), never raised into the thread that handed it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler


def find_loop(
    loop: asyncio.AbstractEventLoop | None, *schedulers: abc.SchedulerBase | None
) -> asyncio.AbstractEventLoop | None:
    """The loop to use, in the order of the module notes; None if there is none."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if loop is not None:
        return loop
    for scheduler in schedulers:
        if isinstance(scheduler, AsyncIOScheduler):
            # reactivex keeps the loop without a public name for it.
            found: asyncio.AbstractEventLoop = scheduler._loop
            return found
    return None


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the current thread is running ``loop``."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def run_on(loop: asyncio.AbstractEventLoop, action: Callable[[], object]) -> None:
    """Run ``action`` on ``loop``: now, if this thread runs it; else soon, on its thread."""
    if on_loop(loop):
        action()
        return
    with contextlib.suppress(RuntimeError):  # a closed loop: nothing runs there any more
        loop.call_soon_threadsafe(action)


def no_loop_error(what: str, *, takes_loop: bool = True) -> RuntimeError:
    """The error for awaitable work with no event loop to run it, saying what to pass
    (``loop=`` only where ``what`` takes one)."""
    give = "pass loop=, or " if takes_loop else "or pass "
    return RuntimeError(
        f"{what} needs an asyncio event loop, and none was found: subscribe from inside a "
        f"running loop (in a coroutine, or with async for), {give}"
        "scheduler=reactivex.scheduler.eventloop.AsyncIOScheduler(loop)"
    )


def is_async_callable(function: object) -> bool:
    """Whether calling ``function`` gives a coroutine (an ``async def``, also a partial of
    one, or an object whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004  # the method, not callable()
    )


def report(loop: asyncio.AbstractEventLoop, message: str, error: BaseException) -> None:
    """Hand an error nobody is waiting for to the loop's exception handler (never lost)."""
    loop.call_exception_handler({"message": message, "exception": error})
