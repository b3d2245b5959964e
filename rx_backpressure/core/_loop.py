"""The serialized delivery loop: one owner at a time, passes until nothing was missed.

These are methods of :class:`~._drain.Drain`, kept here as functions and bound in its
class body; ``docs/concepts/core.md`` gives the contract of each mechanism.

- **Who runs it:** whichever thread takes the claim (``_idle``'s one token, under the lock
  in ``_claim_or_mark``, without it on the unlocked direct path): a requester, a
  producer, a timer, or the ``deliver_on`` scheduler. A thread that finds it
  claimed marks ``_missed`` and returns; the owner passes again before it lets go.
- **What it guarantees:** every signal downstream and every operator hook (``_on_request``,
  ``_emit``, ``_on_emitted``, ``_holding``, ``_release``) runs on the owner, one at a time
  (rule 1.3), and a ``request`` or an arrival on the owner's own thread only marks the loop,
  so the stack never grows with the number of items (3.3). A terminal signal goes once
  nothing is held; a violation goes first.
- **What it may assume:** demand only grows between its readings (``request`` marks the
  loop after adding), so a reading taken without the lock is safe to act on.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, TypeVar

from reactivex import abc

from ._demand import UNBOUNDED

if TYPE_CHECKING:
    from ._drain import Drain, RunTaker

_In = TypeVar("_In")
_Out = TypeVar("_Out")

_get_ident = threading.get_ident

_DONE, _AGAIN, _ENDED = object(), object(), object()
"""What a pass of the loop tells the loop (see ``_pass``)."""

RUN = 1024
"""The most items handed on in one run from one stage of ours to the next."""


def _claim_or_mark(self: Drain[_In, _Out]) -> bool:
    """Under the lock: claim the idle loop (True: the caller runs it), or mark the
    running one so that its owner passes again (False).

    The claim is the one token in ``_idle``: taken with ``pop``, given back with
    ``append`` (each one step of the interpreter). The unlocked direct path takes and gives
    it back without the lock (see ``_arrival._accept``), so a ``pop`` here may find it
    gone after all: then the loop is marked like any claimed one."""
    idle = self._idle
    while True:
        if idle:
            try:
                idle.pop()
            except IndexError:  # taken meanwhile by the unlocked direct path
                pass
            else:
                return True
        self._missed = True
        if not idle:  # a direct path may let go without the lock: look again
            return False
        self._missed = False


def _take_back(self: Drain[_In, _Out]) -> None:
    """The loop was marked while the direct path delivered: claim it again (unless
    another thread has meanwhile, whose passes take the mark) and pass.

    The direct path lets its claim go without the lock: it gives the token back to
    ``_idle``, then looks at ``_missed``. Every mark is made under the lock by
    ``_claim_or_mark`` or ``request``, which set ``_missed`` and then look at ``_idle``
    again. Whatever the
    interleaving (the interpreter runs one of these steps at a time), one of the two
    sees the other's write: either the marker finds the loop free and claims it, or the
    direct path finds the mark and comes here. ``_delivering_thread`` is cleared before
    the claim goes, so a new owner's own setting is never undone."""
    idle = self._idle
    with self._lock:
        try:
            idle.pop()
        except IndexError:  # claimed by another thread, whose passes take the mark
            return
        self._missed = False
    self._run()


def drain(self: Drain[_In, _Out]) -> None:
    """Deliver what demand allows, now on this thread or on the delivery scheduler."""
    if self._delivering_thread == _get_ident():
        self._missed = True  # the owner itself, from inside a pass: it passes again
        return
    with self._lock:
        claimed = self._claim_or_mark()
    if claimed:
        self._start()


def _start_loop(self: Drain[_In, _Out]) -> None:
    if self._deliver_on is None:
        self._run()
    else:
        self._deliver_on.schedule(self._scheduled_run)


def _scheduled_run(self: Drain[_In, _Out], _: abc.SchedulerBase, __: Any = None) -> None:
    self._run()


def _run(self: Drain[_In, _Out]) -> None:
    """Pass until nothing was missed, then give the claim up (the caller holds it)."""
    lock = self._lock
    self._delivering_thread = _get_ident()
    try:
        while True:
            outcome = self._pass()
            if outcome is _AGAIN:
                continue
            if outcome is _ENDED:
                break
            with lock:
                if not self._missed:
                    self._delivering_thread = None
                    self._idle.append(True)  # the claim given up
                    return
                self._missed = False
                if self._owner_asked:
                    self._add_asked()
    except BaseException:
        # Only a terminal callback that raised (the subscription is over), or an
        # interrupt: then the claim is given up so the stream is not wedged.
        with lock:
            self._delivering_thread = None
            if not self._finished:
                self._idle.append(True)
        raise
    self._delivering_thread = None  # finished: the claim is kept, later drains do nothing


def _add_asked(self: Drain[_In, _Out]) -> None:
    """Under the lock, by the loop's owner as it takes the mark: the demand its own thread
    asked during the pass (``Drain.request``, for a stage with ``_asks_in_pass``) added."""
    total = self._requested + self._owner_asked
    self._requested = total if total < UNBOUNDED else UNBOUNDED
    self._owner_asked = 0


def _ended(self: Drain[_In, _Out]) -> bool:
    """End the subscription now if it was cancelled or broken; True if it ended."""
    if self._cancelled:
        self._end()
        return True
    if self._violation is not None:
        self._finish(self._violation)
        return True
    return False


def _pass(self: Drain[_In, _Out]) -> object:
    """One pass of the loop: ``_ENDED`` once the subscription has ended; ``_AGAIN`` if
    it already took a mark (under the lock it took anyway), so the loop passes again
    without asking; ``_DONE`` otherwise."""
    if (self._cancelled or self._violation is not None) and self._ended():
        return _ENDED
    outcome = _DONE
    downstream = self._downstream
    try:
        if self._fresh:
            with self._lock:
                fresh, self._fresh = self._fresh, 0
            self._on_request(fresh)
        # Read without the lock: demand that grows after this reading marks the loop
        # as missed (request takes the lock), so the owner passes again and sees it.
        requested = self._requested
        if requested and downstream is not None:
            down = self._batch_down
            if down is not None and self._emits_runs:
                emitted = self._emit_run(down, requested)
            else:
                emitted = self._emit(downstream.on_next, requested)
            if emitted:
                self._emitted += emitted
                metrics = self._metrics
                if requested != UNBOUNDED or metrics is not None:
                    lock = self._lock
                    lock.acquire()
                    left = self._requested
                    if left != UNBOUNDED:
                        left -= emitted
                        asked = self._owner_asked
                        if asked:  # _add_asked, inline: per pass of a stop-and-wait reader
                            self._owner_asked = 0
                            left += asked
                            if left >= UNBOUNDED:
                                left = UNBOUNDED
                        self._requested = left
                    if metrics is not None:
                        metrics.increment("emitted", emitted)
                        metrics.set("depth", len(self._queue))
                    if self._missed:  # taken here: one lock round trip less
                        self._missed = False
                        outcome = _AGAIN
                    lock.release()
                if self._hooks_emitted:
                    self._on_emitted(emitted)
    except Exception as err:  # downstream's on_next or the operator's own code
        refused, self._refused = self._refused, 0
        self._emitted += refused
        if refused and self._metrics is not None:
            self._metrics.increment("emitted", refused)
            self._metrics.set("depth", len(self._queue))  # what it held when it failed
        self._cancel_upstream()
        self._finish(err)
        return _ENDED
    if (self._cancelled or self._violation is not None) and self._ended():
        return _ENDED
    if self._done and not self._holding():
        self._finish(self._error)
        return _ENDED
    return outcome


def _emit_run(self: Drain[_In, _Out], down: RunTaker[_Out], limit: int) -> int:
    """``_emit`` for a stage of ours below (the chain hand-off): what ``_emit`` delivers
    is collected, at most ``RUN`` items a call, and handed on as one run. Items
    collected before ``_emit`` failed go on before the failure."""
    total = 0
    while total < limit:
        size = min(limit - total, RUN)
        run: list[_Out] = []
        try:
            emitted = self._emit(run.append, size)
        finally:
            if run:
                self._refused = len(run)  # if the stage below refuses it by raising
                down._arrive_batch(run)
                self._refused = 0
        total += emitted
        if emitted < size or self._cancelled:
            break
    return total


def _end(self: Drain[_In, _Out]) -> None:
    """Clean up after cancel, from the loop's owner (once)."""
    if self._finished:
        return
    self._finished = True
    self._downstream = None
    self._queue.clear()
    if self._drop_log is not None:
        self._drop_log.flush()
    self._timer.dispose()
    self._release()


def _finish(self: Drain[_In, _Out], error: Exception | None) -> None:
    """Deliver the terminal signal; the subscription then counts as cancelled (1.6)."""
    downstream = self._downstream
    with self._lock:
        self._cancelled = True
    self._end()
    if downstream is not None:
        if error is None:
            downstream.on_completed()
        else:
            downstream.on_error(error)
