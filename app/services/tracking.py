"""Open and click tracking: signed tokens, tracked HTML, and the events a click or open records.

A click token names a message and a link position, never a URL: the redirect goes only to
the URL stored on that message at that position, so a tracking link cannot be turned into
an open redirect. Scanner traffic (known user agents, HEAD requests, clicks faster than
BOT_CLICK_SECONDS after the send) is recorded as `bot_click`, and a privacy proxy's
prefetch of the open pixel (Apple Mail Privacy Protection's bare `Mozilla/5.0` agent, or any
open within MACHINE_OPEN_SECONDS of the send) as `machine_open`: no wait, branch, goal or
A/B test counts either.

Both endpoints are public, so a repeat costs no row: the same client (address and user
agent) opening a message, or clicking the same link, again within TRACKING_DEDUP_SECONDS
of the last recorded one stores nothing. The check is one INSERT ... ON CONFLICT on the
small `tracking_hits` table, in the event's transaction; the first open and first click
always get through, which is all waits and goals look at.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.config import current_settings
from app.core.events import BOT_CLICK, CLICKED_LINK, MACHINE_OPEN, OPENED
from app.extensions import db
from app.mail.tracking import TRACKED_SCHEMES, add_open_pixel, open_pixel, rewrite_links
from app.models import ContactEvent, OutboundMessage, SequenceStep, TrackingHit
from app.services.clients import client_hash
from app.services.contact_changes import record_events
from app.services.links import token_serializer

_CLICK_SALT = "click"
_OPEN_SALT = "open"

SCANNER_AGENTS = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "microsoft office protection",
    "symantec",
    "bot",
    "crawler",
    "spider",
    "preview",
)
"""Lower-case fragments of user agents that fetch links to scan them, not people."""


def _serializer(salt: str) -> URLSafeSerializer:
    return token_serializer(current_settings().secret_key, salt)


def click_token(message_uuid: uuid.UUID, position: int) -> str:
    return str(_serializer(_CLICK_SALT).dumps([message_uuid.hex, position]))


def read_click_token(token: str) -> tuple[uuid.UUID, int] | None:
    """The message and link position a token was issued for; None for anything else."""
    try:
        hex_id, position = _serializer(_CLICK_SALT).loads(token)
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            return None
        return uuid.UUID(hex=hex_id), position
    except (BadSignature, ValueError, TypeError, AttributeError):
        return None


def open_token(message_uuid: uuid.UUID) -> str:
    return str(_serializer(_OPEN_SALT).dumps(message_uuid.hex))


def read_open_token(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=_serializer(_OPEN_SALT).loads(token))
    except (BadSignature, ValueError, TypeError, AttributeError):
        return None


def click_urls(message_uuid: uuid.UUID) -> Callable[[int], str]:
    """The click URL of each link position in one message, the base URL read once (a
    newsletter has dozens of links)."""
    prefix = f"{current_settings().base_url}/t/c/"
    return lambda position: prefix + click_token(message_uuid, position)


def open_url(message_uuid: uuid.UUID) -> str:
    return f"{current_settings().base_url}/t/o/{open_token(message_uuid)}.gif"


def track_html(
    html: str, message_uuid: uuid.UUID, unsubscribe: str, *, pixel: bool = True
) -> tuple[str, list[str]]:
    """The HTML as sent (tracked links, the open pixel unless `pixel` is off) and the
    original URLs by position."""
    tracked, links = rewrite_links(html, click_urls(message_uuid), keep={unsubscribe})
    return (add_open_pixel(tracked, open_url(message_uuid)) if pixel else tracked), links


def untracked_html(html: str, message_uuid: uuid.UUID, links: list[str] | None) -> str:
    """The HTML as sent, with each tracked link pointing at its original URL again and the
    open pixel gone: for an operator to read without recording an open or a click."""
    click_url = click_urls(message_uuid)
    for position, url in enumerate(links or ()):
        tracked = escape(click_url(position), quote=True)
        html = html.replace(f'href="{tracked}"', f'href="{escape(url, quote=True)}"', 1)
    return html.replace(open_pixel(open_url(message_uuid)), "")


# --- recording ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sent:
    """What an event needs to know about the message it is about."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    enrollment_id: uuid.UUID
    step_id: uuid.UUID
    step_key: str | None
    message_id: str
    sent_at: datetime | None
    links: list[str] | None


def _message(message_uuid: uuid.UUID) -> _Sent | None:
    row = db.session.execute(
        select(
            OutboundMessage.id,
            OutboundMessage.tenant_id,
            OutboundMessage.workspace_id,
            OutboundMessage.contact_id,
            OutboundMessage.enrollment_id,
            OutboundMessage.step_id,
            SequenceStep.key.label("step_key"),
            OutboundMessage.message_id,
            OutboundMessage.sent_at,
            OutboundMessage.links,
        )
        .outerjoin(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(OutboundMessage.id == message_uuid)
    ).first()
    return _Sent(**row._mapping) if row is not None else None


@dataclass(frozen=True)
class Click:
    """A valid click: where to send the visitor, and the message it came from."""

    url: str
    message: _Sent
    position: int


def resolve_click(token: str) -> Click | None:
    """The stored URL a click token points at; None for a bad token or an unknown position."""
    found = read_click_token(token)
    if found is None:
        return None
    message_uuid, position = found
    message = _message(message_uuid)
    links = message.links if message is not None else None
    if not isinstance(links, list) or position >= len(links):
        return None
    url = links[position]
    if not isinstance(url, str) or not url.lower().startswith(TRACKED_SCHEMES):
        return None  # only ever stored by the dispatcher, but never redirect anywhere else
    return Click(url, message, position)


def is_scanner(
    user_agent: str | None, method: str, sent_at: datetime | None, now: datetime
) -> bool:
    """Whether a click looks like a link scanner rather than the recipient."""
    if method.upper() == "HEAD":
        return True
    agent = (user_agent or "").lower()
    if any(fragment in agent for fragment in SCANNER_AGENTS):
        return True
    seconds = current_settings().bot_click_seconds
    return seconds > 0 and sent_at is not None and now - sent_at < timedelta(seconds=seconds)


PREFETCH_AGENTS = frozenset({"mozilla/5.0"})
"""Whole user agents of image proxies that fetch every message's images on delivery (Apple
Mail Privacy Protection sends exactly this), whether or not anyone reads it."""


def is_machine_open(user_agent: str | None, sent_at: datetime | None, now: datetime) -> bool:
    """Whether an open looks like a proxy prefetching images rather than the recipient."""
    agent = (user_agent or "").strip().lower()
    if agent in PREFETCH_AGENTS or any(fragment in agent for fragment in SCANNER_AGENTS):
        return True
    seconds = current_settings().machine_open_seconds
    return seconds > 0 and sent_at is not None and now - sent_at < timedelta(seconds=seconds)


def record_click(
    click: Click, ip: str, user_agent: str | None, method: str, now: datetime
) -> str | None:
    """Store the click (or bot_click) and wake whoever waits for it; returns the event type,
    or None for a repeat within the dedup window (nothing stored)."""
    scanner = is_scanner(user_agent, method, click.message.sent_at, now)
    kind = BOT_CLICK if scanner else CLICKED_LINK
    if not _first_hit(click.message.id, f"{kind}:{click.position}", ip, user_agent, now):
        db.session.rollback()  # ends the read and releases the claim's row at once
        return None
    _record(click.message, kind, now, url=click.url)
    return kind


def record_open(token: str, ip: str, user_agent: str | None, now: datetime) -> bool:
    """Store an `opened` (or `machine_open`) event for a valid open token unless this
    client's last one is within the dedup window; False when the token is not ours or it
    was a repeat."""
    message_uuid = read_open_token(token)
    message = _message(message_uuid) if message_uuid is not None else None
    if message is None:
        return False
    kind = MACHINE_OPEN if is_machine_open(user_agent, message.sent_at, now) else OPENED
    if not _first_hit(message.id, kind, ip, user_agent, now):
        db.session.rollback()  # ends the read and releases the claim's row at once
        return False
    _record(message, kind, now)
    return True


def _first_hit(
    message_id: uuid.UUID, event_key: str, ip: str, user_agent: str | None, now: datetime
) -> bool:
    """Claim this (message, event, client) for the window starting now, unless a claim made
    within the window holds it: one upsert on the primary key, atomic under concurrency.
    The caller's transaction keeps the claim only if the event is stored with it."""
    window = _dedup_window()
    if window is None:
        return True
    make_insert = (
        pg_insert if db.session.connection().dialect.name == "postgresql" else sqlite_insert
    )
    claim = make_insert(TrackingHit).values(
        message_id=message_id,
        event_key=event_key,
        client_hash=client_hash(ip, user_agent or ""),
        recorded_at=now,
    )
    claim = claim.on_conflict_do_update(
        index_elements=["message_id", "event_key", "client_hash"],
        set_={"recorded_at": claim.excluded.recorded_at},
        where=TrackingHit.recorded_at <= now - window,
    ).returning(TrackingHit.message_id)
    return db.session.execute(claim).first() is not None


def purge_tracking_hits(now: datetime) -> int:
    """Delete the claims whose window has passed (they count for nothing); commits."""
    window = _dedup_window() or timedelta(0)
    purged = db.session.execute(
        delete(TrackingHit).where(TrackingHit.recorded_at <= now - window)
    ).rowcount
    db.session.commit()
    return int(purged or 0)


def _dedup_window() -> timedelta | None:
    seconds = current_settings().tracking_dedup_seconds
    return timedelta(seconds=seconds) if seconds > 0 else None


def _record(message: _Sent, kind: str, now: datetime, url: str | None = None) -> None:
    """Through the shared path: a scanner's click is stored only (UNCOUNTED), a person's
    open or click wakes waits and reaches goals and segments."""
    properties: dict[str, Any] = {
        "email_step_id": message.step_key,
        "message_id": message.message_id,
    }
    if url is not None:
        properties["url"] = url
    event = ContactEvent.about_message(message, kind, properties, now, "tracking")
    record_events([event], now)
