"""A static picture of a version's graph, or of the difference between two versions.

The diff page draws the steps of the newer version where the author placed them, plus the
steps the older one had and the newer removed at their old places, as cards coloured by
what happened to them; connections are SVG curves from the bottom of a card to the top of
the next one, as on the builder's canvas (which reads top to bottom). Pure layout: numbers
and strings out, the template escapes every name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.steps import kind_of
from app.core.summary import step_summary
from app.core.version_diff import VersionDiff

CARD_WIDTH = 220
CARD_HEIGHT = 96
"""The card's height without its list of changed fields (app.css `.vcard`)."""
FIELD_HEIGHT = 18
GAP = 40
PAD = 32
MAX_SHIFTS = 40
"""How far a removed step that would cover another card is moved down, in card heights."""

Status = Literal["added", "removed", "changed", "same"]


@dataclass
class Card:
    key: str
    name: str | None
    type: str
    type_label: str
    colour: str
    summary: str
    status: Status
    fields: tuple[str, ...] = ()
    x: int = 0
    y: int = 0

    @property
    def height(self) -> int:
        return CARD_HEIGHT + FIELD_HEIGHT * len(self.fields)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str | None
    status: Status
    path: str
    label_x: int
    label_y: int


@dataclass
class Canvas:
    cards: list[Card]
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for card in self.cards:
            found[card.status] = found.get(card.status, 0) + 1
        return found


def version_canvas(definition: Mapping[str, Any]) -> Canvas:
    """One version alone: every step unchanged."""
    cards = [_card(spec, "same") for spec in definition.get("steps", [])]
    _place(cards, _positions(definition), [])
    edges = [(source, target, label, "same") for source, target, label in _edges(definition)]
    return _finish(cards, edges)


def diff_canvas(old: Mapping[str, Any], new: Mapping[str, Any], diff: VersionDiff) -> Canvas:
    """The newer version's steps, and the removed steps of the older one, with statuses."""
    status_of = {d.step: d for d in diff.steps}
    cards = []
    for spec in new.get("steps", []):
        found = status_of.get(spec["id"])
        status: Status = found.status if found else "same"
        cards.append(_card(spec, status, found.fields if found else ()))
    removed = [_card(spec, "removed") for spec in old.get("steps", []) if _removed(spec, diff)]
    _place(cards, _positions(new), [])
    _place(removed, _positions(old), cards)
    added = set(diff.connections_added)
    edges: list[tuple[str, str, str | None, Status]] = [
        (*edge, "added" if edge in added else "same") for edge in _edges(new)
    ]
    edges += [(*edge, "removed") for edge in diff.connections_removed]
    return _finish(cards + removed, edges)


def _removed(spec: Mapping[str, Any], diff: VersionDiff) -> bool:
    return spec["id"] in diff.keys("removed")


def _card(spec: Mapping[str, Any], status: Status, fields: Iterable[str] = ()) -> Card:
    kind = kind_of(spec["type"])
    return Card(
        key=spec["id"],
        name=spec.get("name"),
        type=spec["type"],
        type_label=kind.label if kind else spec["type"],
        colour=kind.colour if kind else "#98a2b3",
        summary=step_summary(spec["type"], spec.get("config") or {}),
        status=status,
        fields=tuple(fields),
    )


def _positions(definition: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    found = {}
    for spec in definition.get("steps", []):
        position = spec.get("position")
        if isinstance(position, Mapping):
            x, y = position.get("x"), position.get("y")
            if isinstance(x, int | float) and isinstance(y, int | float):
                found[spec["id"]] = (int(x), int(y))
    return found


def _place(cards: list[Card], positions: Mapping[str, tuple[int, int]], taken: list[Card]) -> None:
    """Cards at their stored positions; one without a position goes in a row under the rest;
    a card that would cover one already placed moves down until it does not."""
    placed = list(taken)
    below = max((c.y + c.height for c in placed), default=0)
    below = max([below, *(y + CARD_HEIGHT for _, y in positions.values())]) + GAP
    column = 0
    for card in cards:
        if card.key in positions:
            card.x, card.y = positions[card.key]
        else:
            card.x, card.y = column * (CARD_WIDTH + GAP), below
            column += 1
        for _ in range(MAX_SHIFTS):
            if not any(_overlap(card, other) for other in placed):
                break
            card.y += CARD_HEIGHT + GAP // 2
        placed.append(card)


def _overlap(a: Card, b: Card) -> bool:
    return (
        a.x < b.x + CARD_WIDTH
        and b.x < a.x + CARD_WIDTH
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def _edges(definition: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(c["source"], c["target"], c.get("label")) for c in definition.get("connections", [])]


def _finish(cards: list[Card], edges: list[tuple[str, str, str | None, Status]]) -> Canvas:
    """Shift everything so the drawing starts at PAD, size it, and draw the connections."""
    if not cards:
        return Canvas([], [], 2 * PAD + CARD_WIDTH, 2 * PAD)
    left, top = min(c.x for c in cards), min(c.y for c in cards)
    for card in cards:
        card.x, card.y = card.x - left + PAD, card.y - top + PAD
    by_key = {card.key: card for card in cards}
    drawn = [
        _edge(by_key[source], by_key[target], label, status)
        for source, target, label, status in edges
        if source in by_key and target in by_key
    ]
    width = max(c.x for c in cards) + CARD_WIDTH + PAD
    height = max(c.y + c.height for c in cards) + PAD
    return Canvas(cards, drawn, width, height)


def _edge(source: Card, target: Card, label: str | None, status: Status) -> Edge:
    x1, y1 = source.x + CARD_WIDTH // 2, source.y + source.height
    x2, y2 = target.x + CARD_WIDTH // 2, target.y
    bend = max(30, abs(y2 - y1) // 2)
    path = f"M {x1} {y1} C {x1} {y1 + bend}, {x2} {y2 - bend}, {x2} {y2}"
    return Edge(source.key, target.key, label, status, path, (x1 + x2) // 2, (y1 + y2) // 2 - 6)
