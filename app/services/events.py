"""Custom events from the API: validated as a whole, stored set-based, idempotent by client id.

A request is all or nothing: every event is checked before anything is written, and a
problem with any of them stores none. An event may carry the client's own `id`; the same
id within `RECEIPT_TTL` is stored once (a repeat with the same payload is a duplicate, one
with a different payload a conflict). The events are recorded like every other event
(`contact_changes.record_events`: repeats dropped, waits woken at once), and their other
reactions are deferred: enrolling the contacts through `api_event` triggers, goals and
rule segments run in the processor's next pass (`react_to_stored`, at the start of
`scheduling.process_sequences`: in the same tick, before any enrollment advances), so a
request answers after a handful of statements whatever its size. On PostgreSQL the common
case is one statement in autocommit (`events_postgres`); anything it cannot settle (an id
reused or expired, an unknown contact id, a race) falls back to the general path here:
the contacts found or created, the receipts looked up, one insert of events, receipts
and queued reactions, one wake-up query, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from app.core import limits
from app.core.addresses import email_key
from app.core.events import RESERVED
from app.core.text_rules import single_line_problem
from app.extensions import db
from app.models import Contact, ContactEvent, EventReaction, EventReceipt
from app.services import events_postgres, reactions
from app.services.contact_changes import (
    RECEIPT_TTL,
    Receipt,
    ReceiptConflict,
    Recorded,
    record_events,
)
from app.services.contacts import ContactError, normalise_email
from app.services.triggers import enroll_on_events
from app.services.waits import wake_for_events

MAX_BATCH = 1000
MAX_CLIENT_ID = 200
MAX_NAME = 64  # ContactEvent.type
MAX_PROPERTIES_BYTES = limits.CONTEXT
REACTION_BATCH = 2000  # queued events one step of `react_to_stored` reacts to
REACTION_LEASE = timedelta(minutes=5)  # a crashed pass's claim is taken over after this

T = TypeVar("T")


class Owner(Protocol):
    """Whose events: a Workspace, or the API token's holder (no workspace row loaded)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class Owned:
    """An `Owner` known by its ids alone (the API token's workspace and tenant)."""

    id: uuid.UUID
    tenant_id: uuid.UUID


class EventError(ValueError):
    """A refused request: `status` 422 (invalid) or 409 (an id reused with another payload)."""

    def __init__(self, message: str, field: str | None, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


class IncomingEvent(NamedTuple):
    """One validated event of the request; `prefix` names it in errors (`events[3].`).
    `properties_json` is the properties' canonical text, made once for the payload hash and
    stored as it is. A named tuple: a batch makes up to 1,000 of them, and a frozen
    dataclass takes twice as long to make."""

    prefix: str
    type: str
    properties: dict[str, Any]
    properties_json: str
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
    if len(name) > MAX_NAME:
        raise EventError(f"an event name has at most {MAX_NAME} characters", f"{prefix}event")
    if problem := single_line_problem(name):
        raise EventError(f"the event name {problem}", f"{prefix}event")
    if name in RESERVED:
        raise EventError(f"{name!r} is recorded by PenguinMails itself", f"{prefix}event")
    properties = data.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise EventError("properties must be an object", f"{prefix}properties")
    try:
        encoded = _canonical_json(properties)
    except ValueError:
        raise EventError("properties must be plain JSON (no NaN)", f"{prefix}properties") from None
    if len(encoded) > MAX_PROPERTIES_BYTES or "\\u0000" in encoded:
        raise EventError(
            f"properties must stay under {MAX_PROPERTIES_BYTES // 1024} KB and hold no NUL",
            f"{prefix}properties",
        )
    given_at = _parse_instant(data.get("occurred_at"), f"{prefix}occurred_at")
    client_id = data.get("id")
    if client_id is not None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID:
            raise EventError(
                f"id must be a string of 1 to {MAX_CLIENT_ID} characters (your own event id)",
                f"{prefix}id",
            )
        if problem := single_line_problem(client_id):
            raise EventError(f"id {problem}", f"{prefix}id")
    contact = {"email": email} if email is not None else {"id": str(contact_id)}
    at = given_at.isoformat() if given_at else None
    return IncomingEvent(
        prefix=prefix,
        type=name,
        properties=properties,
        properties_json=encoded,
        occurred_at=given_at or now,
        email=email,
        contact_id=contact_id,
        client_id=client_id,
        payload_hash=payload_hash(contact, name, at, encoded),
    )


def _parse_contact(value: Any, prefix: str) -> tuple[str | None, uuid.UUID | None]:
    field = f"{prefix}contact"
    if not isinstance(value, dict) or ("email" in value) == ("id" in value):
        raise EventError('name the contact as {"email": ...} or {"id": ...}', field)
    if "email" in value:
        email = value["email"]
        try:
            return (_normalised(email) if isinstance(email, str) else normalise_email(email)), None
        except ContactError as exc:
            raise EventError(str(exc), f"{field}.email") from None
    try:
        return None, uuid.UUID(str(value["id"]))
    except ValueError:
        raise EventError(f"{value['id']!r} is not a contact id", f"{field}.id") from None


@lru_cache(maxsize=65536)
def _normalised(email: str) -> str:
    """`normalise_email`, remembered: a busy app sends the same people's events again and
    again, and the strict check is most of the time validating one event takes."""
    return normalise_email(email)


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


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_canonical_json = _CANONICAL.encode
"""Sorted keys, no spaces, no NaN: the same value always gives the same text (one encoder,
made once: `json.dumps` with options builds one per call)."""


def payload_hash(contact: dict[str, str], name: str, at: str | None, properties: str) -> str:
    """sha256 of the event's canonical JSON: `_canonical_json` of {contact, event,
    occurred_at (UTC), properties}, with the properties' text already made. A client's
    repeat is compared with it for a day, so the text must never change. The one-key
    contact and a missing time are written out here, and strings by the encoder's own
    function: encoding a dict or None builds an encoder per call, two thirds of the hash's
    time."""
    [(kind, value)] = contact.items()
    at_text = "null" if at is None else encode_basestring(at)
    text = (
        f'{{"contact":{{"{kind}":{encode_basestring(value)}}},"event":{encode_basestring(name)},'
        f'"occurred_at":{at_text},"properties":{properties}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


# --- storing ------------------------------------------------------------------------------


def ingest_events(owner: Owner, body: Any, now: datetime) -> IngestResult:
    """Validate, then store the new events, their receipts and any new contacts, wake the
    enrollments waiting for them and queue their other reactions (one transaction,
    committed here)."""
    events = parse_events(body, now)
    recorded = _in_one_statement(owner, events, now)
    if recorded is None:
        try:
            recorded = _retry_once(lambda: _store(owner, events, now))
        except EventError:
            db.session.rollback()  # nothing of a refused request stays
            raise
    return _result(events, recorded)


def ingest_in_one_statement(owner: Owner, body: Any, now: datetime) -> IngestResult | None:
    """`ingest_events` for the common case alone (`events_postgres`): EventError when the
    body is invalid, None when the general path must decide. Either way nothing is stored,
    and `ingest_events` then gives the answer."""
    events = parse_events(body, now)
    recorded = _in_one_statement(owner, events, now)
    return None if recorded is None else _result(events, recorded)


def _result(events: list[IncomingEvent], recorded: Recorded) -> IngestResult:
    outcomes = [
        EventOutcome(event_id, event.client_id, "duplicate" if repeat else "stored")
        for event, event_id, repeat in zip(events, recorded.ids, recorded.repeats, strict=True)
    ]
    return IngestResult(outcomes, recorded.woken)


def _in_one_statement(owner: Owner, events: list[IncomingEvent], now: datetime) -> Recorded | None:
    """The common case on PostgreSQL in one statement (`events_postgres`); None: not done."""
    if db.engine.dialect.name != "postgresql":
        return None
    return events_postgres.store(owner.tenant_id, owner.id, events, now)


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


def _store(owner: Owner, events: list[IncomingEvent], now: datetime) -> Recorded:
    _check_contact_ids(owner.id, events)
    contact_ids = _contacts_for(owner, events, now)
    rows = [
        {
            "tenant_id": owner.tenant_id,
            "workspace_id": owner.id,
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
        return record_events(rows, now, receipts=receipts, defer_reactions=True)
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


def _contacts_for(owner: Owner, events: list[IncomingEvent], now: datetime) -> list[uuid.UUID]:
    """The contact id of each event; contacts named by an unknown email are created (two
    spellings of one address, `email_key`, are one contact, spelled as first given)."""
    emails: dict[str, str] = {}
    for event in events:
        if event.email is not None:
            emails.setdefault(email_key(event.email), event.email)
    by_key: dict[str, uuid.UUID] = {}
    if emails:
        if db.session.connection().dialect.name == "postgresql":
            by_key = _find_or_create(owner, emails, now)
        else:
            by_key = _find_then_create(owner, emails, now)
    return [
        e.contact_id if e.contact_id is not None else by_key[email_key(str(e.email))]
        for e in events
    ]


FIND_OR_CREATE = text(
    """
WITH wanted AS (
    SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:emails AS text[]), CAST(:ids AS uuid[]))
        AS w(email_key, email, new_id)
),"""
    + events_postgres.CREATE_MISSING
    + """
SELECT email_key, id FROM created
UNION ALL
SELECT c.email_key, c.id FROM contacts c JOIN wanted w USING (email_key)
WHERE c.workspace_id = :workspace_id
"""
)
"""PostgreSQL: the contacts of these email keys, created where missing, in one statement;
a key another transaction created meanwhile is missing from the answer and looked up
again."""


def _find_or_create(owner: Owner, emails: dict[str, str], now: datetime) -> dict[str, uuid.UUID]:
    keys = list(emails)
    params = {
        "keys": keys,
        "emails": [emails[k] for k in keys],
        "ids": [uuid.uuid4() for _ in keys],
        "tenant_id": owner.tenant_id,
        "workspace_id": owner.id,
        "now": now,
    }
    by_key = {row.email_key: row.id for row in db.session.execute(FIND_OR_CREATE, params)}
    missing = [key for key in keys if key not in by_key]
    if missing:
        by_key.update(_existing(owner, missing))
    return by_key


def _find_then_create(owner: Owner, emails: dict[str, str], now: datetime) -> dict[str, uuid.UUID]:
    """SQLite: look the keys up, then insert the missing contacts (one statement each)."""
    by_key = _existing(owner, list(emails))
    new = [
        {
            "id": uuid.uuid4(),
            "tenant_id": owner.tenant_id,
            "workspace_id": owner.id,
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
    return by_key


def _existing(owner: Owner, keys: list[str]) -> dict[str, uuid.UUID]:
    found = db.session.execute(
        select(Contact.email_key, Contact.id).where(
            Contact.workspace_id == owner.id, Contact.email_key.in_(keys)
        )
    )
    return {row.email_key: row.id for row in found}


# --- deferred reactions -------------------------------------------------------------------


def react_to_stored(now: datetime, batch: int = REACTION_BATCH) -> int:
    """React to the events the API stored and queued (`EventReaction`), oldest first, in
    batches: wake their waits once more (the request did; this covers one that died
    before it could), enroll through `api_event` triggers, then goals and rule segments, as
    `record_events` would have in the request. Returns how many events were reacted to.

    Each batch is claimed (a lease, so concurrent passes take different rows and a crashed
    pass's rows are taken over after REACTION_LEASE), reacted to, then deleted. A crash in
    between reacts to the batch again; every reaction tolerates that (enrollment follows the
    re-enrollment rule, conversions are unique, segment refreshes converge)."""
    total = 0
    while claimed := _claim(now, batch):
        rows = db.session.execute(
            select(
                ContactEvent.id,
                ContactEvent.workspace_id,
                ContactEvent.contact_id,
                ContactEvent.type,
                ContactEvent.properties,
                ContactEvent.occurred_at,
                ContactEvent.recorded_at,
                ContactEvent.source,
                ContactEvent.enrollment_id,
            )
            .where(ContactEvent.id.in_(claimed))
            .order_by(ContactEvent.id)
        ).all()
        by_workspace: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for row in rows:
            found = row._asdict()
            by_workspace.setdefault(found.pop("workspace_id"), []).append(found)
        for workspace_id, found in by_workspace.items():
            wake_for_events(workspace_id, found, now)  # as of the arrival of later events
            enroll_on_events(workspace_id, found, now)
            reactions.after_change(workspace_id, (), found, now)
        db.session.execute(delete(EventReaction).where(EventReaction.event_id.in_(claimed)))
        db.session.commit()
        total += len(claimed)
        if len(claimed) < batch:
            break
    return total


def _claim(now: datetime, batch: int) -> list[int]:
    """Lease up to `batch` queued events no live pass holds; committed, so it shows.

    Picked (and locked) first, then leased by key: as one UPDATE whose `IN (subquery)`
    picks them, PostgreSQL may plan a nested-loop semi-join that rescans the locking
    subquery for every queued event, each rescan locking more rows. With the statistics of
    the queue when it was empty, as a queue mostly is, one pass claimed the whole queue
    instead of `batch`, in time quadratic in it."""
    free = db.session.scalars(
        select(EventReaction.event_id)
        .where(or_(EventReaction.claimed_until.is_(None), EventReaction.claimed_until <= now))
        .order_by(EventReaction.event_id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    if free:
        db.session.execute(
            update(EventReaction)
            .where(EventReaction.event_id.in_(free))
            .values(claimed_until=now + REACTION_LEASE)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return sorted(free)


# --- housekeeping -------------------------------------------------------------------------


def purge_receipts(now: datetime) -> int:
    """Delete the receipts older than the idempotency window; returns how many."""
    result = db.session.execute(
        delete(EventReceipt).where(EventReceipt.received_at <= now - RECEIPT_TTL)
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
