"""Delivery events a sending provider reports (bounces, complaints), recorded against the
emails we sent.

A provider names the email by our Message-ID header; it is looked up among the
workspace's emails (one query for a whole request) and what happened is recorded as a
contact event attributed to that email, its step and its enrollment, through the shared
path (`contact_changes.record_events`: waits woken, goals and segments reacting):

- `hard_bounce` -> `bounced`: the address is suppressed (reason `bounced`) and every active
  enrollment of the contact ends as `failed` with the bounce as the reason, as a hard DSN
  bounce does in `services/inbound.py`;
- `complaint` -> `complained`: suppressed (reason `complained`), active enrollments end as
  `exited` (reason `complained`), as an unsubscribe does;
- `soft_bounce` -> `soft_bounced`: recorded and counted, nothing else.

Providers retry until they get a 2xx, so repeats are expected. Each event carries the
provider's own event id as its receipt (a repeat within a day records nothing), and an
email bounces and draws a complaint at most once: a `bounced` or `complained` event
already recorded for the email (by an earlier delivery, or by a DSN through the inbound
API) makes a later one a duplicate, however late the retry. An email that is not one of
ours is counted and ignored, so the provider does not retry it forever.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.events import BOUNCED, COMPLAINED, SOFT_BOUNCED
from app.extensions import db
from app.models import ContactEvent, OutboundMessage, SequenceStep
from app.services.contact_changes import Receipt, ReceiptConflict, record_events
from app.services.suppression import exit_enrollments, suppress

EVENT_FOR = {"hard_bounce": BOUNCED, "soft_bounce": SOFT_BOUNCED, "complaint": COMPLAINED}
"""The contact event each kind of delivery report records."""
SUPPRESSING = {BOUNCED: "bounced", COMPLAINED: "complained"}
"""Events that suppress the address and end enrollments, with the suppression's reason; an
email has at most one of each."""
MAX_DETAIL = 500
ATTEMPTS = 3
"""Tries at recording one request: a concurrent delivery of the same events makes the
first fail on the receipts' unique key, and the next one finds them."""


@dataclass(frozen=True)
class Delivery:
    """One report from a provider: which email (`message_id`, our Message-ID header with
    its angle brackets), what happened, the provider's words for it, when (None: unknown),
    and the provider's own id for the report (a retry repeats it)."""

    message_id: str
    kind: str  # hard_bounce | soft_bounce | complaint
    detail: str
    occurred_at: datetime | None
    receipt_key: str


@dataclass(frozen=True)
class Outcome:
    recorded: int = 0
    duplicates: int = 0
    unknown_messages: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "unknown_messages": self.unknown_messages,
        }


def record_deliveries(
    workspace_id: uuid.UUID, provider: str, deliveries: Sequence[Delivery], now: datetime
) -> Outcome:
    """Record a request's reports; commits. A fixed number of statements per request
    (lookups, one insert of events, one exit of complainers), plus one suppression per new
    hard bounce or complaint and one exit per new hard bounce (its reason is its own)."""
    for delivery in deliveries:
        if delivery.kind not in EVENT_FOR:
            raise ValueError(f"unknown delivery kind {delivery.kind!r}")
    found = _messages(workspace_id, [d.message_id for d in deliveries])
    known = [d for d in deliveries if d.message_id in found]
    unknown = len(deliveries) - len(known)
    pending, settled = _not_yet_recorded(known, found)
    for _ in range(ATTEMPTS):
        try:
            recorded = _record(workspace_id, provider, pending, found, now)
        except ReceiptConflict as exc:  # a receipt key reused for another event: a repeat
            db.session.rollback()
            pending = [d for i, d in enumerate(pending) if i != exc.index]
            settled += 1
            continue
        except IntegrityError:  # the same reports, stored by a concurrent delivery
            db.session.rollback()
            continue
        return Outcome(recorded, settled + len(pending) - recorded, unknown)
    raise RuntimeError("provider webhook: could not record the reports after retries")


def _messages(workspace_id: uuid.UUID, message_ids: list[str]) -> dict[str, OutboundMessage]:
    """The workspace's emails with these Message-IDs, by Message-ID (one query)."""
    wanted = set(message_ids)
    if not wanted:
        return {}
    query = OutboundMessage.in_workspace(workspace_id, OutboundMessage.message_id.in_(wanted))
    return {message.message_id: message for message in db.session.scalars(query)}


def _not_yet_recorded(
    deliveries: list[Delivery], found: dict[str, OutboundMessage]
) -> tuple[list[Delivery], int]:
    """The reports still to record, and how many are repeats: a bounce or complaint for
    an email that already has one (recorded before, or earlier in this request)."""
    suppressing = [d for d in deliveries if EVENT_FOR[d.kind] in SUPPRESSING]
    seen = set()
    if suppressing:
        rows = db.session.execute(
            select(ContactEvent.message_id, ContactEvent.type).where(
                ContactEvent.message_id.in_({found[d.message_id].id for d in suppressing}),
                ContactEvent.type.in_(SUPPRESSING),
            )
        )
        seen = {(row.message_id, row.type) for row in rows}
    pending: list[Delivery] = []
    for delivery in deliveries:
        kind = EVENT_FOR[delivery.kind]
        if kind in SUPPRESSING:
            key = (found[delivery.message_id].id, kind)
            if key in seen:
                continue
            seen.add(key)
        pending.append(delivery)
    return pending, len(deliveries) - len(pending)


def _record(
    workspace_id: uuid.UUID,
    provider: str,
    deliveries: list[Delivery],
    found: dict[str, OutboundMessage],
    now: datetime,
) -> int:
    """Store the events with their receipts; the new ones suppress and end enrollments in
    the same transaction. How many were new."""
    if not deliveries:
        return 0
    messages = [found[d.message_id] for d in deliveries]
    rows = db.session.execute(
        select(SequenceStep.id, SequenceStep.key).where(
            SequenceStep.id.in_({m.step_id for m in messages})
        )
    )
    step_keys = {row.id: row.key for row in rows}
    events = [
        _event(provider, delivery, message, step_keys.get(message.step_id), now)
        for delivery, message in zip(deliveries, messages, strict=True)
    ]
    receipts = [_receipt(provider, d) for d in deliveries]
    by_event = {
        (m.id, event.type): (m, d) for m, d, event in zip(messages, deliveries, events, strict=True)
    }

    def consequences(stored: list[dict[str, Any]]) -> None:
        complained: set[uuid.UUID] = set()
        for row in stored:
            reason = SUPPRESSING.get(row["type"])
            if reason is None:
                continue
            message, delivery = by_event[(row["message_id"], row["type"])]
            detail = f"{provider}: {delivery.detail}"[:MAX_DETAIL]
            suppress(workspace_id, message.to_email, reason, now, detail=detail)
            if row["type"] == BOUNCED:  # a delivery failure, with its reason, like a DSN's
                ended = f"bounced ({detail})"
                exit_enrollments(workspace_id, [message.contact_id], ended, now, status="failed")
            else:
                complained.add(message.contact_id)
        exit_enrollments(workspace_id, complained, "complained", now)

    recorded = record_events(events, now, receipts=receipts, before_commit=consequences)
    return len(recorded.stored)


def _event(
    provider: str,
    delivery: Delivery,
    message: OutboundMessage,
    step_key: str | None,
    now: datetime,
) -> ContactEvent:
    kind = EVENT_FOR[delivery.kind]
    properties: dict[str, Any] = {
        "email_step_id": step_key,
        "message_id": message.message_id,
        "recipient": message.to_email,
        "provider": provider,
        "detail": delivery.detail[:MAX_DETAIL],
    }
    if kind != COMPLAINED:
        properties["hard"] = kind == BOUNCED
    event = ContactEvent.about_message(message, kind, properties, now, f"hook:{provider}")
    if delivery.occurred_at is not None and delivery.occurred_at <= now:
        event.occurred_at = delivery.occurred_at
    return event


def _receipt(provider: str, delivery: Delivery) -> Receipt:
    """The provider's event id as the receipt; the hash says which email and what, so the
    same id for another report is a conflict (dropped as a repeat) rather than a new event."""
    key = hashlib.sha256(delivery.receipt_key.encode()).hexdigest()
    what = f"{delivery.kind}\n{delivery.message_id}".encode()
    return Receipt(f"hook:{provider}:{key}", hashlib.sha256(what).hexdigest())
