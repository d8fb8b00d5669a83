"""Custom events from the API: validated as a whole, stored set-based, idempotent by client id.

A request is all or nothing: every event is checked before anything is written, and a
problem with any of them stores none. An event may carry the client's own `id`; the same
id within `RECEIPT_TTL` is stored once (a repeat with the same payload is a duplicate, one
with a different payload a conflict). The events are recorded like every other event
(`contact_changes.record_events`: repeats dropped, waits woken, goals and segments
reacting), and enroll the contacts through `api_event` triggers. The work is a handful
of statements per request whatever its size: one lookup of the contacts named by id, one
lookup of the contacts named by email, one multi-row insert of new contacts, then those
of `record_events`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from app.core import limits
from app.core.addresses import email_key
from app.core.events import RESERVED
from app.extensions import db
from app.models import Contact, EventReceipt, Workspace
from app.services.contact_changes import (
    RECEIPT_TTL,
    Receipt,
    ReceiptConflict,
    Recorded,
    record_events,
)
from app.services.contacts import ContactError, normalise_email
from app.services.triggers import enroll_on_events

MAX_BATCH = 1000
MAX_CLIENT_ID = 200
MAX_NAME = 64  # ContactEvent.type
MAX_PROPERTIES_BYTES = limits.CONTEXT

T = TypeVar("T")


class EventError(ValueError):
    """A refused request: `status` 422 (invalid) or 409 (an id reused with another payload)."""

    def __init__(self, message: str, field: str | None, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


@dataclass(frozen=True)
class IncomingEvent:
    """One validated event of the request; `prefix` names it in errors (`events[3].`)."""

    prefix: str
    type: str
    properties: dict[str, Any]
    occurred_at: datetime
    email: str | None = None
    contact_id: uuid.UUID | None = None
    client_id: str | None = None
    payload_hash: str = ""


@dataclass(frozen=True)
class EventOutcome:
    id: int | None
    client_id: str | None
    status: str  # stored | duplicate

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "client_id": self.client_id, "status": self.status}


@dataclass(frozen=True)
class IngestResult:
    events: list[EventOutcome]
    woken: int
    stored: list[dict[str, Any]] = field(default_factory=list)  # the new events, with ids

    @property
    def accepted(self) -> int:
        return sum(1 for e in self.events if e.status == "stored")

    @property
    def duplicates(self) -> int:
        return sum(1 for e in self.events if e.status == "duplicate")

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "events": [e.to_dict() for e in self.events],
        }


# --- validation -------------------------------------------------------------------------


def parse_events(body: Any, now: datetime) -> list[IncomingEvent]:
    """Every event of a request body, or EventError: one event object, a list of them,
    or `{"events": [...]}` (the list, wrapped)."""
    if isinstance(body, dict) and "events" in body and "event" not in body:
        body = body["events"]
        if not isinstance(body, list):
            raise EventError("events must be a list of event objects", "events")
    if isinstance(body, dict):
        return [_parse_event(body, "", now)]
    if not isinstance(body, list):
        raise EventError("send one event object or a list of them", None)
    if not body:
        raise EventError("the list of events is empty", "events")
    if len(body) > MAX_BATCH:
        raise EventError(
            f"at most {MAX_BATCH} events per request, this one has {len(body)}", "events"
        )
    return [_parse_event(item, f"events[{i}].", now) for i, item in enumerate(body)]


def _parse_event(data: Any, prefix: str, now: datetime) -> IncomingEvent:
    if not isinstance(data, dict):
        raise EventError("each event must be an object", prefix.rstrip(".") or None)
    email, contact_id = _parse_contact(data.get("contact"), prefix)
    name = data.get("event")
    if not isinstance(name, str) or not name.strip():
        raise EventError("name the event, e.g. 'user_login'", f"{prefix}event")
    if len(name) > MAX_NAME or _has_control(name):
        raise EventError(
            f"an event name has at most {MAX_NAME} characters and no control characters",
            f"{prefix}event",
        )
    if name in RESERVED:
        raise EventError(f"{name!r} is recorded by PenguinMails itself", f"{prefix}event")
    properties = data.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise EventError("properties must be an object", f"{prefix}properties")
    try:
        encoded = json.dumps(properties, sort_keys=True, allow_nan=False)
    except ValueError:
        raise EventError("properties must be plain JSON (no NaN)", f"{prefix}properties") from None
    if len(encoded) > MAX_PROPERTIES_BYTES or "\\u0000" in encoded:
        raise EventError(
            f"properties must stay under {MAX_PROPERTIES_BYTES // 1024} KB and hold no NUL",
            f"{prefix}properties",
        )
    given_at = _parse_instant(data.get("occurred_at"), f"{prefix}occurred_at")
    client_id = data.get("id")
    if client_id is not None and (
        not isinstance(client_id, str)
        or not client_id
        or len(client_id) > MAX_CLIENT_ID
        or _has_control(client_id)
    ):
        raise EventError(
            f"id must be a string of 1 to {MAX_CLIENT_ID} characters (your own event id)",
            f"{prefix}id",
        )
    canonical = {
        "contact": {"email": email} if email is not None else {"id": str(contact_id)},
        "event": name,
        "properties": properties,
        "occurred_at": given_at.isoformat() if given_at else None,
    }
    return IncomingEvent(
        prefix=prefix,
        type=name,
        properties=properties,
        occurred_at=given_at or now,
        email=email,
        contact_id=contact_id,
        client_id=client_id,
        payload_hash=payload_hash(canonical),
    )


def _parse_contact(value: Any, prefix: str) -> tuple[str | None, uuid.UUID | None]:
    field = f"{prefix}contact"
    if not isinstance(value, dict) or ("email" in value) == ("id" in value):
        raise EventError('name the contact as {"email": ...} or {"id": ...}', field)
    if "email" in value:
        try:
            return normalise_email(value["email"]), None
        except ContactError as exc:
            raise EventError(str(exc), f"{field}.email") from None
    try:
        return None, uuid.UUID(str(value["id"]))
    except ValueError:
        raise EventError(f"{value['id']!r} is not a contact id", f"{field}.id") from None


def _parse_instant(value: Any, field: str) -> datetime | None:
    """An aware time within the years every stored date keeps to (`limits.YEAR_MIN` to
    `limits.YEAR_MAX`): the year 9999 is a typo, and it would sort after every real event."""
    if value is None:
        return None
    message = "occurred_at must be an ISO 8601 time with an offset, e.g. 2026-11-28T09:30:00Z"
    if not isinstance(value, str):
        raise EventError(message, field)
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        instant = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise EventError(message, field) from None
    if not limits.YEAR_MIN <= instant.year <= limits.YEAR_MAX:
        message = f"occurred_at must lie in the years {limits.YEAR_MIN} to {limits.YEAR_MAX}"
        raise EventError(message, field)
    return instant


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def payload_hash(canonical: dict[str, Any]) -> str:
    """sha256 of the event's canonical JSON: sorted keys, no spaces, UTC times."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- storing ------------------------------------------------------------------------------


def ingest_events(workspace: Workspace, body: Any, now: datetime) -> IngestResult:
    """Validate, then store the new events, their receipts and any new contacts, and wake
    the enrollments waiting for them (one transaction, committed here); then enroll through
    the `api_event` triggers and react."""
    events = parse_events(body, now)
    try:
        recorded = _retry_once(lambda: _store(workspace, events, now))
    except EventError:
        db.session.rollback()  # nothing of a refused request stays
        raise
    outcomes = [
        EventOutcome(event_id, event.client_id, "duplicate" if repeat else "stored")
        for event, event_id, repeat in zip(events, recorded.ids, recorded.repeats, strict=True)
    ]
    return IngestResult(outcomes, recorded.woken, recorded.stored)


def _retry_once(attempt: Callable[[], T]) -> T:
    """A concurrent request that inserted the same receipt or contact first makes ours fail
    on the unique constraint; rolled back and run again, the attempt then finds its rows."""
    try:
        return attempt()
    except IntegrityError:
        db.session.rollback()
    try:
        return attempt()
    except IntegrityError:
        db.session.rollback()
        raise EventError(
            "these events were being stored concurrently; send the request again", None, 409
        ) from None


def _store(workspace: Workspace, events: list[IncomingEvent], now: datetime) -> Recorded:
    _check_contact_ids(workspace.id, events)
    contact_ids = _contacts_for(workspace, events, now)
    rows = [
        {
            "tenant_id": workspace.tenant_id,
            "workspace_id": workspace.id,
            "contact_id": contact_ids[i],
            "type": event.type,
            "properties": event.properties,
            "occurred_at": event.occurred_at,
            "recorded_at": now,
            "source": "api",
        }
        for i, event in enumerate(events)
    ]
    receipts = [
        Receipt(e.client_id, e.payload_hash) if e.client_id is not None else None for e in events
    ]
    try:
        return record_events(
            rows,
            now,
            receipts=receipts,
            after_commit=lambda stored: enroll_on_events(workspace.id, stored, now),
        )
    except ReceiptConflict as exc:
        raise EventError(
            f"event id {exc.key!r} was already used for a different event "
            f"in the last {int(RECEIPT_TTL.total_seconds() // 3600)} hours",
            f"{events[exc.index].prefix}id",
            409,
        ) from None


def _check_contact_ids(workspace_id: uuid.UUID, events: list[IncomingEvent]) -> None:
    """Contacts named by id must exist in this workspace (one query for the batch)."""
    wanted = {e.contact_id for e in events if e.contact_id is not None}
    if not wanted:
        return
    found = set(
        db.session.scalars(
            select(Contact.id).where(Contact.workspace_id == workspace_id, Contact.id.in_(wanted))
        )
    )
    for event in events:
        if event.contact_id is not None and event.contact_id not in found:
            raise EventError(
                "no contact with this id in this workspace", f"{event.prefix}contact.id"
            )


def _contacts_for(
    workspace: Workspace, events: list[IncomingEvent], now: datetime
) -> list[uuid.UUID]:
    """The contact id of each event; contacts named by an unknown email are created (two
    spellings of one address, `email_key`, are one contact, spelled as first given)."""
    emails: dict[str, str] = {}
    for event in events:
        if event.email is not None:
            emails.setdefault(email_key(event.email), event.email)
    by_key: dict[str, uuid.UUID] = {}
    if emails:
        found = db.session.execute(
            select(Contact.email_key, Contact.id).where(
                Contact.workspace_id == workspace.id, Contact.email_key.in_(emails)
            )
        )
        by_key = {row.email_key: row.id for row in found}
        new = [
            {
                "id": uuid.uuid4(),
                "tenant_id": workspace.tenant_id,
                "workspace_id": workspace.id,
                "email": email,
                "fields": {},
                "tags": [],
                "created_at": now,
                "updated_at": now,
            }
            for key, email in emails.items()
            if key not in by_key
        ]
        if new:
            db.session.execute(insert(Contact.__table__), new)
            by_key.update((email_key(row["email"]), row["id"]) for row in new)
    return [
        e.contact_id if e.contact_id is not None else by_key[email_key(str(e.email))]
        for e in events
    ]


# --- housekeeping -------------------------------------------------------------------------


def purge_receipts(now: datetime) -> int:
    """Delete the receipts older than the idempotency window; returns how many."""
    result = db.session.execute(
        delete(EventReceipt).where(EventReceipt.received_at <= now - RECEIPT_TTL)
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
