"""What a template card says about a sequence: its emails in flow order and how long it runs.

The duration follows the longest path from the start step, adding fixed delays and wait
timeouts (a wait may end sooner; the card quotes the longest case). A delay until a date
in a contact field sets the clock by that date, so such a sequence is described as
"about 8 days, timed from the contact's webinar_at": the span from its first such delay
to the end, as no one can know in advance how long before that date a contact arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.draft import DraftStep
from app.core.format.document import SequenceDefinition
from app.core.graph import entry_step_id
from app.core.layout import layout_grid
from app.core.steps import kind_of, step_outputs
from app.core.steps.base import NominalWait
from app.core.thumbnail import as_document, links

_DAY = 86400


@dataclass(frozen=True)
class GalleryFacts:
    email_count: int
    email_names: tuple[str, ...]
    """Each email's step name (else its subject), in the order a contact meets them."""
    duration: str
    """The longest path's length in words, e.g. "about 14 days" or "timed from webinar_at"."""
    duration_seconds: int
    """From the start (or the first delay timed from the date the path is timed from) to
    the end, adding fixed delays and wait timeouts."""


def gallery_facts(definition: SequenceDefinition | Mapping[str, Any]) -> GalleryFacts:
    document = as_document(definition)
    steps = {step["id"]: step for step in document.get("steps") or []}
    order = flow_order(document)
    emails = [steps[key] for key in order if steps[key]["type"] == "email"]
    waits = {key: _wait_of(step) for key, step in steps.items()}
    seconds, timed_from, weekdays = _walk([waits[key] for key in _longest_path(document, waits)])
    return GalleryFacts(
        email_count=len(emails),
        email_names=tuple(_email_name(step) for step in emails),
        duration=_phrase(seconds, timed_from, weekdays),
        duration_seconds=seconds,
    )


def flow_order(document: Mapping[str, Any]) -> list[str]:
    """Step ids by longest distance from the start, a branch's first path before its second."""
    steps = list(document.get("steps") or [])
    grid = layout_grid(
        [step["id"] for step in steps],
        links(document),
        {step["id"]: step_outputs(step["type"], step.get("config") or {}) for step in steps},
    )
    return sorted(grid, key=lambda key: grid[key])


def _email_name(step: Mapping[str, Any]) -> str:
    subject = str((step.get("config") or {}).get("subject") or "").strip()
    return step.get("name") or subject or step["id"]


def _wait_of(step: Mapping[str, Any]) -> NominalWait:
    kind = kind_of(step["type"])
    if kind is None or kind.nominal_wait is None:
        return NominalWait()
    return kind.nominal_wait(step.get("config") or {})


def _longest_path(document: Mapping[str, Any], waits: Mapping[str, NominalWait]) -> list[str]:
    """The path from the start with the most fixed waiting; loops are followed once."""
    steps = [DraftStep(step["id"], step["type"]) for step in document.get("steps") or []]
    if not steps:
        return []
    edges = links(document)
    children: dict[str, list[str]] = defaultdict(list)
    for link in edges:
        children[link.source].append(link.target)
    start = entry_step_id(steps, edges)
    postorder = _acyclic_postorder(start, children)
    best: dict[str, tuple[int, list[str]]] = {}
    for key in postorder:  # children before parents, so each suffix is already known
        tails = [best[child] for child in children[key] if child in best]
        length, tail = max(tails, key=lambda t: t[0], default=(0, []))
        best[key] = (length + waits[key].seconds, [key, *tail])
    return best[start][1]


def _acyclic_postorder(start: str, children: Mapping[str, list[str]]) -> list[str]:
    """Depth-first post-order from `start`; an edge back into the current path is skipped,
    so every child listed before its parent is reachable without looping."""
    order: list[str] = []
    on_path: set[str] = {start}
    done: set[str] = set()
    stack: list[tuple[str, int]] = [(start, 0)]
    while stack:
        key, index = stack[-1]
        kids = children.get(key, [])
        if index < len(kids):
            stack[-1] = (key, index + 1)
            child = kids[index]
            if child not in on_path and child not in done:
                on_path.add(child)
                stack.append((child, 0))
            continue
        stack.pop()
        on_path.discard(key)
        done.add(key)
        order.append(key)
    return order


def _walk(waits: list[NominalWait]) -> tuple[int, str | None, list[str]]:
    """The time from the start (or from the first delay set by the date the path ends up
    timed from) to the end, that date, and the weekday waits on the way."""
    start = position = 0
    timed_from: str | None = None
    weekdays: list[str] = []
    for wait in waits:
        if wait.timed_from is not None and wait.timed_from == timed_from:
            position = max(position, wait.offset)  # a moment already past goes at once
        elif wait.timed_from is not None:
            timed_from, start, position, weekdays = wait.timed_from, wait.offset, wait.offset, []
        if wait.until_weekday is not None:
            weekdays.append(wait.until_weekday)
        position += wait.seconds
    return position - start, timed_from, weekdays


def _phrase(seconds: int, timed_from: str | None, weekdays: list[str]) -> str:
    parts = [_about(seconds)] if seconds else []
    if timed_from is not None:
        parts.append(f"timed from {timed_from}")
    text = ", ".join(parts)
    if weekdays:
        until = " and ".join(weekdays)
        text = f"{text} plus a wait until {until}" if text else f"waits until {until}"
    return text or "no waiting: every step runs at once"


def _about(seconds: int) -> str:
    for unit, size in (("day", _DAY), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = max(1, round(seconds / size))
            return f"about {count} {unit}" + ("s" if count != 1 else "")
    return f"about {seconds} seconds"
