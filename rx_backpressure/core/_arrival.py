"""Items from upstream: held for the loop, or handed straight on (the direct path).

These are methods of :class:`~._drain.Drain`, kept here as functions and bound in its
class body; ``docs/concepts/core.md`` gives the contract of each mechanism.

- **Who calls it:** the producer's thread (``on_next``, ``_arrive_batch``), one signal at a
  time per upstream (rule 1.3); a push source on several threads may call at once, which
  the lock serializes.
- **What it may assume:** the loop (``_loop``) is the only taker of held items. An arriving
  item costs one lock round trip: straight downstream if the loop is idle, nothing is held
  and there is demand (the direct path, the loop's claim taken for that item or run and
  let go without the lock, see ``_loop._take_back``), else held with the loop claimed or
  marked. An item with nothing to count or hook, under unbounded demand, takes the claim
  without the lock too (no lock at all). ``_admit``, set by a stage, gates single items on
  the direct path; runs never go straight through a gated stage.
- **What it guarantees:** order (the direct path is only taken with an empty queue and an
  idle loop), nothing past demand, and nothing held beyond ``capacity``: what finds no
  room meets the stage's ``_overflow`` policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ._demand import UNBOUNDED

if TYPE_CHECKING:
    from ._drain import Drain

_In = TypeVar("_In")
_Out = TypeVar("_Out")

_get_ident = threading.get_ident

HELD = object()
"""What ``Drain._call_outcome`` returns when the item's outcome is the loop's to handle."""


def _through_arrive(self: Drain[_In, _Out], value: _In) -> None:
    """``on_next`` of an operator with its own ``_arrive``."""
    self._arrive(value)


def _arrive(self: Drain[_In, _Out], value: _In) -> None:
    """An item from upstream (the producer's thread): taken in by ``_accept``. Operators
    override this rather than ``on_next`` (which then calls it; by default ``on_next``
    is ``_accept`` itself, one call less per item)."""
    self._accept(value)


def _accept(self: Drain[_In, _Out], value: _In) -> None:
    """An item from upstream, on the producer's thread, with one lock round trip: straight
    downstream if the loop is idle, nothing is held and there is demand (the direct
    path; ``_admit``, asked as the loop's owner, may refuse it); else held, with the
    loop claimed (then run here) or marked for its owner. With no room, the operator's
    ``_overflow`` policy decides.

    An item with nothing to count or hook (``_free``) under unbounded demand takes the
    claim with no lock at all (the unlocked direct path): ``_idle.pop()`` is one step of
    the interpreter, so two threads never both take the token, and the demand needs no
    update. A mark made meanwhile is taken as on the locked path (``_take_back``). This
    path records no owner thread (``_delivering_here`` finds it on the stack)."""
    idle = self._idle
    direct = True
    if idle and self._free and self._requested == UNBOUNDED:
        try:
            idle.pop()
        except IndexError:  # claimed meanwhile by another thread: held below
            pass
        else:
            if not (self._queue or self._done or self._cancelled):
                admit = self._admit
                try:
                    passed = admit is None or admit()
                    if passed:
                        self._passed += 1
                        downstream = self._downstream
                        if downstream is not None:  # None: cancelled meanwhile, moot
                            downstream.on_next(value)  # type: ignore[arg-type]  # _In is _Out
                except Exception as err:
                    self._cancel_upstream()
                    self._finish(err)  # the loop stays claimed: the subscription is over
                    return
            else:
                passed = False
            idle.append(True)  # the claim given back, then any mark taken
            if self._missed:
                self._take_back()
            if passed:
                return
            direct = False  # refused, or the loop has items: held below, behind them
    queue = self._queue
    owner = self._delivering_thread
    if owner is not None and owner == _get_ident() and self._metrics is None:
        # The loop's owner itself: a synchronous answer to a request it made. Upstream's
        # signals never overlap (rule 1.3), so no one else appends meanwhile, and only
        # this thread takes items out: it holds the item without the lock and passes
        # again. (Metrics need the lock, to keep the depth exact.)
        if self._done or self._cancelled:
            return
        if len(queue) < self._capacity:
            queue.append(value)
            self._received += 1
            self._missed = True
        else:
            self._overflow(value)
        return
    lock = self._lock
    lock.acquire()
    if self._done or self._cancelled:
        lock.release()  # after the end nothing is taken, and nothing is owed
        return
    requested = self._requested
    if direct and requested and idle and not (queue or self._direct_off):
        try:
            idle.pop()  # the direct path's claim (_claim_direct, inline: per item)
        except IndexError:  # taken meanwhile by the unlocked direct path: held below
            pass
        else:
            if requested != UNBOUNDED:
                self._requested = requested - 1
            lock.release()
            admit = self._admit
            if not self._plain_pass:
                if self._deliver_claimed(value, admit):
                    return
            else:
                # _deliver_claimed with nothing to count or hook, inline: per item.
                self._delivering_thread = _get_ident()
                try:
                    passed = admit is None or admit()
                    if passed:
                        self._passed += 1
                        downstream = self._downstream
                        if downstream is not None:  # None: cancelled meanwhile, moot
                            downstream.on_next(value)  # type: ignore[arg-type]  # _In is _Out
                except Exception as err:
                    self._delivering_thread = None
                    self._cancel_upstream()
                    self._finish(err)  # the loop stays claimed: the subscription is over
                    return
                if passed:
                    self._delivering_thread = None  # before the claim goes (see _take_back)
                    idle.append(True)
                    if self._missed:
                        self._take_back()
                    return
                self._unclaim()
            lock.acquire()  # refused: held like any other item
            if self._done or self._cancelled:
                lock.release()
                return
    if len(queue) >= self._capacity:
        lock.release()
        self._overflow(value)
        return
    queue.append(value)
    self._received += 1
    metrics = self._metrics
    if metrics is not None:  # under the lock: the depth is never a stale reading
        metrics.increment("received")
        metrics.set("depth", len(queue))
    claimed = self._claim_or_mark()
    lock.release()
    if claimed:
        self._start()


def _accept_batch(self: Drain[_In, _Out], values: list[_In]) -> None:
    """A run of items from a Drain upstream (the chain hand-off; ``Drain._arrive_batch``
    by default): sent by that stage's loop owner, in order and within the demand this
    stage gave it, exactly as its ``on_next`` calls would have been; the list is this
    stage's to keep. Operators that take runs their own way override ``_arrive_batch``
    and set ``_batches``.

    ``_accept`` for a run, with one lock round trip for all of it: the part that finds
    demand goes straight downstream as one run (the direct path, unless the stage is
    gated by ``_admit``), the rest is held, and what finds no room
    meets ``_overflow`` item by item, as the same items arriving one by one would."""
    queue = self._queue
    if self._delivering_thread == _get_ident() and self._metrics is None:
        # The loop's owner: a synchronous answer to its own request (see _accept).
        if self._done or self._cancelled:
            return
        room = self._capacity - len(queue)
        self._missed = True
        if room >= len(values):
            queue.extend(values)
            self._received += len(values)
            return
        queue.extend(values[:room])
        self._received += max(room, 0)
        for value in values[room:]:
            self._overflow(value)
        return
    lock = self._lock
    lock.acquire()
    if self._done or self._cancelled:
        lock.release()
        return
    count = len(values)
    taken = 0 if self._direct_off or self._admit is not None else self._claim_direct(count)
    if taken:
        self._received += taken
        left_out = self._hold(values, taken) if taken < count else None
        lock.release()
        self._deliver_run(values if taken == count else values[:taken])
    else:
        left_out = self._hold(values, 0)
        claimed = self._claim_or_mark()
        lock.release()
        if claimed:
            self._start()
    if left_out:
        for value in left_out:
            self._overflow(value)


def _hold(self: Drain[_In, _Out], values: list[_In], start: int) -> list[_In] | None:
    """Under the lock: hold ``values[start:]`` as far as there is room; the rest back."""
    queue = self._queue
    room = self._capacity - len(queue)
    end = len(values)
    left_out = None
    if end - start > room:
        end = start + max(room, 0)
        left_out = values[end:]
    queue.extend(values[start:end] if start or end < len(values) else values)
    self._received += end - start
    metrics = self._metrics
    if metrics is not None:  # under the lock: the depth is never a stale reading
        metrics.increment("received", end - start)
        metrics.set("depth", len(queue))
    return left_out


def _deliver_run(self: Drain[_In, _Out], run: list[_In]) -> None:
    """The direct path for a run: the loop claimed and the run's demand taken."""
    lock = self._lock
    self._delivering_thread = _get_ident()
    handed = 0
    metrics = self._metrics
    try:
        downstream = self._downstream
        if downstream is not None:  # None: cancelled meanwhile, and the run is moot
            down = self._batch_down
            if down is not None:
                handed = len(run)
                down._arrive_batch(run)  # type: ignore[arg-type]  # _In is _Out here
            else:
                on_next = downstream.on_next
                for value in run:
                    handed += 1
                    on_next(value)  # type: ignore[arg-type]  # _In is _Out here
                    if self._cancelled:
                        break
        self._emitted += handed
        if metrics is not None:
            metrics.increment("received", len(run))
            metrics.increment("emitted", handed)
        self._on_emitted(handed)
    except Exception as err:  # downstream's on_next, or the operator's hook
        self._emitted += handed  # handed on, the refused one included; the rest of
        with lock:  # the run ends with the stream, untaken
            self._received -= len(run) - handed
        if metrics is not None:
            metrics.increment("received", handed)
            metrics.increment("emitted", handed)
        self._delivering_thread = None
        self._cancel_upstream()
        self._finish(err)  # the loop stays claimed: the subscription is over
        return
    lock.acquire()
    if not self._missed:
        self._delivering_thread = None
        self._idle.append(True)
        lock.release()
        return
    self._missed = False
    lock.release()
    self._run()


def _deliver_now(
    self: Drain[_In, _Out], value: _In, admit: Callable[[], bool] | None = None
) -> bool:
    """Hand ``value`` straight downstream if the direct path is open (and ``admit()``,
    asked as the loop's owner, agrees); False (and nothing done) otherwise: then the
    caller holds the item and drains. For operators that hold items their own way."""
    with self._lock:
        if self._done or self._cancelled or not self._claim_direct():
            return False
    return self._deliver_claimed(value, admit)


def _claim_direct(self: Drain[_In, _Out], count: int = 1) -> int:
    """Under the lock: claim the loop for up to ``count`` items if it is idle, nothing is
    held and there is demand, taking the demand of the items claimed; how many (0, and
    nothing done, if the direct path is closed)."""
    requested = self._requested
    idle = self._idle
    if not idle or self._queue or self._direct_off or not requested:
        return 0
    try:
        idle.pop()
    except IndexError:  # taken meanwhile by the unlocked direct path
        return 0
    if requested == UNBOUNDED:
        return count
    taken = count if requested >= count else requested
    self._requested = requested - taken
    return taken


def _deliver_claimed(self: Drain[_In, _Out], value: _In, admit: Callable[[], bool] | None) -> bool:
    """The direct path, with the loop claimed and one item of demand taken for it."""
    self._delivering_thread = _get_ident()
    try:
        if admit is not None and not admit():
            self._unclaim()  # the caller holds the item and drains
            return False
        downstream = self._downstream
        self._passed += 1  # received and emitted at once (written by claim holders only)
        metrics = self._metrics
        if metrics is not None:  # handed on, even if downstream refuses it by raising
            metrics.increment("received")
            metrics.increment("emitted")
        if downstream is not None:  # None: cancelled meanwhile, and this item is moot
            downstream.on_next(value)  # type: ignore[arg-type]  # _In is _Out here
        if self._hooks_emitted:
            self._on_emitted(1)
    except Exception as err:  # downstream's on_next, or the operator's hook
        self._delivering_thread = None
        self._cancel_upstream()
        self._finish(err)  # the loop stays claimed: the subscription is over
        return True
    self._delivering_thread = None  # before the claim goes (see _take_back)
    self._idle.append(True)
    if self._missed:
        self._take_back()
    return True


def _unclaim(self: Drain[_In, _Out]) -> None:
    """The direct path's claim and its item of demand, given back unused: ``admit``
    refused the item, which the caller then holds (a mark made meanwhile is taken by
    the loop that holding the item claims)."""
    with self._lock:
        if self._requested != UNBOUNDED:
            self._requested += 1
        self._delivering_thread = None
        self._idle.append(True)
        self._missed = False


def _accept_called(self: Drain[_In, _Out], value: _In) -> None:
    """``on_next`` of a stage whose output is not the item but the result of calling
    ``_call_action`` on it (``circuit_break``), for a push upstream: the direct path for
    such a stage, with one lock round trip, or none as on ``_accept``'s unlocked path.

    An item that finds the loop idle, nothing held and demand claims the loop and the
    demand, as ``_accept`` does, and is held at the queue's head during its call, as the
    loop holds the head it works on: it counts against ``capacity`` while a producer on
    another thread holds more. The call is made here, as the loop's owner, only while
    ``_call_gate.calm`` is a token (>= 0: the stage needs to record nothing about the call
    made under it). A result of type ``_call_plain`` with the token unchanged goes straight
    on; anything else (a raise, another type, a moved token) goes to ``_call_outcome``, the
    stage's judgement, which gives the output or ``HELD``. ``HELD``, or no token, leaves the
    item to the loop, which runs here with the item's demand given back (the item still at
    the head, or already let go by the stage). Anything that is not for the direct path is
    taken in by ``_accept``: the stage must not take the core's own direct path (it has its
    own ``_emit``)."""
    idle, queue = self._idle, self._queue
    unlocked = idle and self._free_calls and self._requested == UNBOUNDED
    if unlocked:
        # The same without the lock, as _accept's unlocked path: unbounded demand needs no
        # update, and what is received is counted with the claim (``_passed``), or under
        # the lock once the outcome is the loop's. A plain success goes on inline, below.
        try:
            idle.pop()
        except IndexError:  # claimed meanwhile by another thread: taken in by _accept
            self._accept(value)
            return
        if queue or self._done or self._cancelled or self._violation is not None:
            idle.append(True)  # not for the direct path: the claim given back
            if self._missed:
                self._take_back()
            self._accept(value)
            return
        queue.append(value)
    else:
        lock = self._lock
        lock.acquire()
        requested = self._requested
        if (
            not requested
            or not idle
            or queue
            or self._done
            or self._cancelled
            or self._violation is not None
        ):
            lock.release()
            self._accept(value)
            return
        try:
            idle.pop()  # the claim on the loop, and the item's demand, as _claim_direct
        except IndexError:  # taken meanwhile by the unlocked direct path
            lock.release()
            self._accept(value)
            return
        if requested != UNBOUNDED:
            self._requested = requested - 1
        queue.append(value)
        self._received += 1
        lock.release()
        self._delivering_thread = _get_ident()
    token: int = self._call_gate.calm
    outcome: object = None
    raised = False
    if token >= 0:
        try:
            outcome = self._call_action(value)
        except Exception as err:
            outcome, raised = err, True
        else:
            if unlocked and type(outcome) is self._call_plain and self._call_gate.calm == token:
                queue.popleft()
                self._passed += 1  # received and handed on, even if downstream raises
                try:
                    downstream = self._downstream
                    if downstream is not None:  # None: cancelled meanwhile, moot
                        downstream.on_next(outcome)  # type: ignore[arg-type]
                except Exception as err:
                    self._cancel_upstream()
                    self._finish(err)  # the loop stays claimed: the subscription is over
                    return
                idle.append(True)
                if self._missed:
                    self._take_back()
                return
    self._settle_called(bool(unlocked), token, outcome, raised)


def _settle_called(
    self: Drain[_In, _Out], unlocked: bool, token: int, outcome: object, raised: bool
) -> None:
    """The rest of ``_accept_called`` for an item whose call, made under ``token`` (-1:
    none made), did not end as a plain success on the unlocked path: judged by the stage
    (``_call_outcome``), then handed on, or left to the loop (``HELD``), which runs here.
    ``unlocked``: the claim was taken without the lock (nothing counted yet), else with
    it (the item received, its demand taken, this thread the owner)."""
    queue = self._queue
    handed = False
    try:
        if token < 0:
            out: object = HELD
        elif raised or type(outcome) is not self._call_plain or self._call_gate.calm != token:
            out = self._call_outcome(token, outcome, raised)
        else:
            out = outcome
        if out is not HELD:
            queue.popleft()
            handed = True
            if unlocked:
                self._passed += 1  # received and handed on, even if downstream raises
            else:
                self._emitted += 1  # handed on, even if downstream refuses it by raising
            downstream = self._downstream
            if downstream is not None:  # None: cancelled meanwhile, the item moot
                downstream.on_next(out)  # type: ignore[arg-type]  # the stage's output
    except Exception as err:  # the stage's judgement, or downstream's on_next: as in a pass
        if not unlocked:
            self._delivering_thread = None
        elif not handed:
            with self._lock:
                self._received += 1
        self._cancel_upstream()
        self._finish(err)  # the loop stays claimed: the subscription is over
        return
    if out is HELD:
        with self._lock:  # not emitted here: the loop takes the demand when it emits
            if unlocked:
                self._received += 1
            elif self._requested != UNBOUNDED:
                self._requested += 1
        self._run()
        return
    if not unlocked:
        self._delivering_thread = None  # before the claim goes (see _take_back)
    self._idle.append(True)
    if self._missed:
        self._take_back()
