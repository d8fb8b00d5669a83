"""The outbox as operators read it: every message the engine produced, newest first, paged
by a keyset cursor and filtered; one message with its headers, body and attempts; send
again and cancel."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_, update

from app.config import current_settings
from app.extensions import db
from app.mail.rendering import RenderedEmail, RenderError
from app.models import MessageAttempt, OutboundMessage, Sequence, SequenceStep
from app.models.message import RESENDABLE, requeued
from app.services import dispatcher
from app.services.links import unsubscribe_url
from app.services.mail_threads import threads_for
from app.services.stuck import failing_message
from app.services.tracking import untracked_html

# What an operator may cancel: waiting to be claimed (a first try or a retry). A claimed or
# sending message belongs to a dispatcher.
CANCELLABLE = ("queued",)
PAGE_SIZE = 50
ADDRESS_MAX = 320  # the longest an address filter may be (an address's longest)


class BadCursor(ValueError):
    """A cursor this list did not give out."""


@dataclass(frozen=True)
class OutboxFilter:
    """The list's filters; each one left empty does not filter."""

    status: str | None = None
    sequence_id: uuid.UUID | None = None
    step_id: uuid.UUID | None = None
    address: str | None = None  # contained in the recipient's address, any case
    failing: bool = False  # still not out after repeated tries or long overdue (stuck.py)


@dataclass(frozen=True)
class OutboxPage:
    rows: list[Any]  # OutboundMessage, sequence_name, step_name, step_key
    next_cursor: str | None  # None on the last page


def _conditions(
    workspace_id: uuid.UUID, filters: OutboxFilter, now: datetime, *, status: bool = True
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [OutboundMessage.workspace_id == workspace_id]
    if status and filters.status:
        where.append(OutboundMessage.status == filters.status)
    if filters.sequence_id:
        where.append(OutboundMessage.sequence_id == filters.sequence_id)
    if filters.step_id:
        where.append(OutboundMessage.step_id == filters.step_id)
    if filters.address:
        needle = filters.address.strip().lower()
        where.append(func.lower(OutboundMessage.to_email).contains(needle, autoescape=True))
    if filters.failing:
        where.append(failing_message(now, current_settings().stuck_after_seconds))
    return where


def list_page(
    workspace_id: uuid.UUID,
    filters: OutboxFilter,
    now: datetime,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> OutboxPage:
    """One page, newest first (queued_at, then id, both descending): the cursor names the
    last row seen, so rows queued meanwhile never shift a page. BadCursor for a cursor
    this list did not give out."""
    stmt = (
        select(
            OutboundMessage,
            Sequence.name.label("sequence_name"),
            SequenceStep.name.label("step_name"),
            SequenceStep.key.label("step_key"),
        )
        .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
        .outerjoin(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(*_conditions(workspace_id, filters, now))
        .order_by(OutboundMessage.queued_at.desc(), OutboundMessage.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        queued_at, message_id = _read_cursor(cursor)
        stmt = stmt.where(
            tuple_(OutboundMessage.queued_at, OutboundMessage.id) < (queued_at, message_id)
        )
    rows = list(db.session.execute(stmt))
    if len(rows) <= limit:
        return OutboxPage(rows, None)
    last = rows[limit - 1].OutboundMessage
    return OutboxPage(rows[:limit], _make_cursor(last.queued_at, last.id))


def _make_cursor(queued_at: datetime, message_id: uuid.UUID) -> str:
    raw = json.dumps([queued_at.isoformat(), message_id.hex]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        queued_at, hex_id = json.loads(raw)
        moment = datetime.fromisoformat(queued_at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(hex=hex_id)
    except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
        raise BadCursor("cursor is not one this list gave out: start from the first page") from exc


def status_counts(workspace_id: uuid.UUID, filters: OutboxFilter, now: datetime) -> dict[str, int]:
    """Messages per status under the other filters (the status filter itself aside, so each
    status shows how many choosing it would list), in one GROUP BY."""
    where = _conditions(workspace_id, filters, now, status=False)
    stmt = (
        select(OutboundMessage.status, func.count()).where(*where).group_by(OutboundMessage.status)
    )
    return {status: count for status, count in db.session.execute(stmt)}


def filter_choices(
    workspace_id: uuid.UUID, sequence_id: uuid.UUID | None
) -> tuple[list[Any], list[Any]]:
    """The workspace's sequences (id, name) and, when one is chosen, its email steps (id,
    name, key) in order: the filter form's choices, in two small queries."""
    sequences = db.session.execute(
        select(Sequence.id, Sequence.name)
        .where(Sequence.workspace_id == workspace_id, Sequence.listed())
        .order_by(Sequence.name)
    ).all()
    if sequence_id is None:
        return list(sequences), []
    steps = db.session.execute(
        select(SequenceStep.id, SequenceStep.name, SequenceStep.key)
        .join(Sequence, Sequence.id == SequenceStep.sequence_id)
        .where(
            Sequence.workspace_id == workspace_id,
            SequenceStep.sequence_id == sequence_id,
            SequenceStep.type == "email",
        )
        .order_by(SequenceStep.sort_order)
    ).all()
    return list(sequences), list(steps)


def get_message(workspace_id: uuid.UUID, message_id: uuid.UUID) -> OutboundMessage | None:
    """The workspace's message with this id; None for another workspace's."""
    return db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.id == message_id, OutboundMessage.workspace_id == workspace_id
        )
    )


@dataclass(frozen=True)
class MessageDetail:
    """One message as an operator inspects it."""

    message: OutboundMessage
    sequence_name: str
    step_name: str | None
    headers: list[tuple[str, str]]  # as sent (or as they would be), without DKIM's signature
    subject: str | None
    html: str  # untracked: reading it records no open and no click
    text: str
    problem: str | None  # why it cannot be rendered or composed (then no headers)
    attempts: list[MessageAttempt]


def message_detail(
    workspace_id: uuid.UUID, message_id: uuid.UUID, now: datetime
) -> MessageDetail | None:
    """The message with its headers rebuilt by the dispatcher's own builder, from what it
    sent when it was rendered, else rendered now as it would go; None for another
    workspace's message."""
    message = get_message(workspace_id, message_id)
    if message is None:
        return None
    rows = dispatcher.load_rows([message.id])
    if not rows:  # its step or sequence is gone: nothing to rebuild it from
        return MessageDetail(
            message,
            "",
            None,
            [],
            message.subject,
            "",
            message.text or "",
            "its step no longer exists",
            _attempts(message.id),
        )
    row = rows[0]
    thread = threads_for([row], dispatcher.is_threaded).get(row.id)
    config, link = dispatcher.step_config(row), unsubscribe_url(row.id)
    problem, headers = None, []
    rendered: RenderedEmail | None = None
    if message.subject is not None:
        html = untracked_html(message.html or "", message.id, message.links)
        rendered = RenderedEmail(message.subject, message.html or "", message.text or "")
    else:
        try:
            rendered = dispatcher.render_message(row, config, link, thread)
            html = rendered.html
        except RenderError as exc:
            problem, html = str(exc), ""
    if rendered is not None:
        try:
            composed = dispatcher.compose_for(
                row, config, rendered, link, message.sent_at or now, thread
            )
            headers = _headers(composed)
        except ValueError as exc:
            problem = f"invalid message: {exc}"
    return MessageDetail(
        message=message,
        sequence_name=row.sequence_name,
        step_name=row.step_name or row.step_key,
        headers=headers,
        subject=rendered.subject if rendered else None,
        html=html,
        text=rendered.text if rendered else "",
        problem=problem,
        attempts=_attempts(message.id),
    )


def _attempts(message_id: uuid.UUID) -> list[MessageAttempt]:
    stmt = select(MessageAttempt).where(MessageAttempt.message_id == message_id)
    return list(db.session.scalars(stmt.order_by(MessageAttempt.id)))


def _headers(message: EmailMessage) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in message.items()]


def send_again(workspace_id: uuid.UUID, message_id: uuid.UUID, now: datetime) -> bool:
    """Queue an `unknown` or `failed` message again, as a fresh send (its attempts start
    over); the dispatcher still skips it if the address was suppressed or the enrollment
    exited meanwhile. False when it is in any other state (one guarded UPDATE, so two
    clicks queue it once)."""
    queued = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.status.in_(RESENDABLE),
        )
        .values(requeued(now))
    ).rowcount
    db.session.commit()
    return bool(queued)


def cancel(workspace_id: uuid.UUID, message_id: uuid.UUID, who: str, now: datetime) -> bool:
    """Cancel a queued message: never sent afterwards (its run goes on without it), recorded
    as `cancelled by <who>`. False when it is in any other state: one guarded UPDATE, so a
    message a dispatcher has claimed or is sending cannot be cancelled under it."""
    cancelled = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.status.in_(CANCELLABLE),
        )
        .values(status="cancelled", last_error=f"cancelled by {who}", updated_at=now)
    ).rowcount
    db.session.commit()
    return bool(cancelled)
