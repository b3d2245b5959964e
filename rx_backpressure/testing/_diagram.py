"""The marble-diagram parser shared by every diagram in the kit.

The syntax is reactivex's where the two overlap:

========  =============================================================================
``-``     one frame of time passes
``a``     an item; a run of characters is one item (``12`` is twelve), numbers become
          ``int``/``float``, then ``lookup`` maps the item (``{"a": 100}``)
``(a,b)`` items in the same frame; the group takes as many frames as it has characters
``|``     completion; ``#`` an error
``^``     the subscription point (frame zero of a hot diagram)
``!``     unsubscription; in a demand diagram, cancel
space     ignored, for aligning diagrams
========  =============================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

_TOKENS = re.compile(r"(\(.*?\))|(-+)|(,)|([#|^!]|[^-,()#|^!]+)")


class Event(NamedTuple):
    """One event of a diagram: its frame, its kind (``N E C ^ !``) and its value."""

    frame: int
    kind: str
    value: Any = None


def _number(token: str) -> Any:
    for convert in (int, float):
        try:
            return convert(token)
        except ValueError:
            pass
    return token


def _event(frame: int, token: str, lookup: Mapping[Any, Any]) -> Event:
    if token == "|":
        return Event(frame, "C")
    if token == "#":
        return Event(frame, "E")
    if token in ("^", "!"):
        return Event(frame, token)
    value = _number(token)
    return Event(frame, "N", lookup.get(value, value))


def parse(diagram: str, lookup: Mapping[Any, Any] | None = None) -> list[Event]:
    """Parse ``diagram`` into events with their frame numbers."""
    lookup = lookup or {}
    events: list[Event] = []
    frame = 0
    for group, dashes, comma, token in _TOKENS.findall(diagram.replace(" ", "")):
        if group:
            events.extend(_event(frame, item, lookup) for item in group[1:-1].split(",") if item)
            frame += len(group)
        elif dashes:
            frame += len(dashes)
        elif comma:
            raise ValueError(f"a comma outside a group in diagram {diagram!r}")
        else:
            events.append(_event(frame, token, lookup))
            frame += len(token)
    return events


def origin_frame(events: list[Event]) -> int:
    """The frame of ``^`` if the diagram has one, else frame zero."""
    return next((event.frame for event in events if event.kind == "^"), 0)
