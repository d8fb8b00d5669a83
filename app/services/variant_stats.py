"""Per-variant counts of email steps: sends, the engagement of those sends, conversions.

Shared by the A/B evaluation and the analytics: three GROUP BY queries for any number of
steps and sends (sends; engagement events; conversions within each step's attribution
window), never one query per step or message. Only events a person made count: machine
opens and scanner clicks are stored under their own types (`core.events.UNCOUNTED`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select

from app.core.events import CLICKED_LINK, OPENED, REPLIED, UNSUBSCRIBED
from app.extensions import db
from app.models import ContactEvent, Conversion, OutboundMessage
from app.models.message import SENT_STATUSES

COUNTED_EVENTS = {
    OPENED: "opened",
    CLICKED_LINK: "clicked",
    REPLIED: "replied",
    UNSUBSCRIBED: "unsubscribed",
}
"""Event type -> the count it adds to, once per message however often it happened.
`bot_click` (a link scanner, not the recipient) and `machine_open` (a mail client's proxy
fetching the pixel) are deliberately not among them."""

EVENT_OF_MESSAGE = (ContactEvent.contact_id == OutboundMessage.contact_id) & (
    ContactEvent.message_id == OutboundMessage.id
)
"""Joins a message's events; on the contact as well, so the events' (contact, type) index
narrows the search."""

METRIC_COUNTS = {
    "open_rate": "opened",
    "click_rate": "clicked",
    "reply_rate": "replied",
    "conversion_rate": "converted",
}
"""An A/B metric -> the count that is its numerator (sends are the denominator)."""

DEFAULT_ATTRIBUTION = timedelta(days=7)


@dataclass
class VariantCounts:
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    converted: int = 0
    first_sent_at: datetime | None = None

    def rate(self, count: str) -> float | None:
        return round(getattr(self, count) / self.sent, 4) if self.sent else None

    def as_dict(self) -> dict[str, int | float | None]:
        counts: dict[str, int | float | None] = {
            name: getattr(self, name) for name in ("sent", *COUNTED_EVENTS.values(), "converted")
        }
        return counts | {metric: self.rate(count) for metric, count in METRIC_COUNTS.items()}


@dataclass(frozen=True)
class Attribution:
    """Which conversions count for a step's sends: of `goal` (None: any goal), within
    `window` after the send."""

    goal: str | None = None
    window: timedelta = DEFAULT_ATTRIBUTION


@dataclass(frozen=True)
class SendRange:
    """Only messages queued in [since, until) count (None: no bound)."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass
class StepVariants:
    by_variant: dict[str, VariantCounts] = field(default_factory=dict)

    def of(self, key: str) -> VariantCounts:
        return self.by_variant.setdefault(key, VariantCounts())


def variant_counts(
    step_ids: Iterable[uuid.UUID],
    attribution: Mapping[uuid.UUID, Attribution] | None = None,
    sends: SendRange = SendRange(),
) -> dict[uuid.UUID, StepVariants]:
    """Counts per step and variant key of the messages with a variant, in three queries."""
    ids = list(step_ids)
    if not ids:
        return {}
    attribution = attribution or {}
    found: dict[uuid.UUID, StepVariants] = {step_id: StepVariants() for step_id in ids}
    scope = _scope(ids, sends)
    sent_at = func.coalesce(OutboundMessage.sent_at, OutboundMessage.queued_at)
    for step_id, key, count, first in db.session.execute(
        select(
            OutboundMessage.step_id, OutboundMessage.variant_key, func.count(), func.min(sent_at)
        )
        .where(*scope)
        .group_by(OutboundMessage.step_id, OutboundMessage.variant_key)
    ):
        counts = found[step_id].of(key)
        counts.sent, counts.first_sent_at = count, first
    for step_id, key, kind, count in db.session.execute(
        select(
            OutboundMessage.step_id,
            OutboundMessage.variant_key,
            ContactEvent.type,
            func.count(distinct(ContactEvent.message_id)),
        )
        .join(ContactEvent, EVENT_OF_MESSAGE)
        .where(
            *scope,
            ContactEvent.workspace_id == OutboundMessage.workspace_id,
            ContactEvent.type.in_(COUNTED_EVENTS),
        )
        .group_by(OutboundMessage.step_id, OutboundMessage.variant_key, ContactEvent.type)
    ):
        setattr(found[step_id].of(key), COUNTED_EVENTS[kind], count)
    _count_conversions(found, scope, sent_at, attribution)
    return found


def _scope(step_ids: list[uuid.UUID], sends: SendRange) -> list[object]:
    scope: list[object] = [
        OutboundMessage.step_id.in_(step_ids),
        OutboundMessage.variant_key.is_not(None),
        OutboundMessage.status.in_(SENT_STATUSES),
    ]
    if sends.since is not None:
        scope.append(OutboundMessage.queued_at >= sends.since)
    if sends.until is not None:
        scope.append(OutboundMessage.queued_at < sends.until)
    return scope


def _count_conversions(
    found: dict[uuid.UUID, StepVariants],
    scope: list[object],
    sent_at: object,
    attribution: Mapping[uuid.UUID, Attribution],
) -> None:
    """Messages followed by a conversion of their step's goal within its window: one query
    for the (message, conversion) pairs after the send; the per-step goal and window are
    applied here, to those pairs only."""
    converted: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    for message_id, step_id, key, sent, goal, converted_at in db.session.execute(
        select(
            OutboundMessage.id,
            OutboundMessage.step_id,
            OutboundMessage.variant_key,
            sent_at,
            Conversion.goal,
            Conversion.converted_at,
        )
        .join(Conversion, Conversion.enrollment_id == OutboundMessage.enrollment_id)
        .where(*scope, Conversion.converted_at >= sent_at)
    ):
        rule = attribution.get(step_id, Attribution())
        if rule.goal is not None and goal != rule.goal:
            continue
        if converted_at - sent <= rule.window:
            converted[message_id] = (step_id, key)
    for step_id, key in converted.values():
        found[step_id].of(key).converted += 1
