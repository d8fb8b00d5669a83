"""Follow-ups sent as replies in one conversation (an email step with `thread: true`).

A threaded email answers the enrollment's previous email of this run: `In-Reply-To` is its
Message-ID, `References` the Message-IDs of the run's earlier emails in order (the newest
MAX_REFERENCES), and the subject is "Re: " + the previous email's subject (one "Re:", never
"Re: Re:"). With no earlier email sent in this run, the step's own subject is used. One
query per dispatch batch finds the earlier emails of every threaded message in it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage
from app.models.message import SENT_STATUSES

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Thread:
    in_reply_to: str
    references: tuple[str, ...]
    subject: str


def reply_subject(subject: str) -> str:
    while _REPLY_PREFIX.match(subject):
        subject = _REPLY_PREFIX.sub("", subject, count=1)
    return f"Re: {subject}"


def threads_for(rows: Iterable[Any], is_threaded: Any) -> dict[uuid.UUID, Thread]:
    """{message id: its thread} for the rows `is_threaded(row)` says reply in the same
    thread and whose run already sent an email; the earlier emails in one query."""
    wanted = [row for row in rows if row.enrollment_id is not None and is_threaded(row)]
    if not wanted:
        return {}
    stmt = (
        select(
            OutboundMessage.enrollment_id,
            OutboundMessage.message_id,
            OutboundMessage.subject,
            OutboundMessage.queued_at,
        )
        .where(
            OutboundMessage.enrollment_id.in_({row.enrollment_id for row in wanted}),
            OutboundMessage.status.in_(SENT_STATUSES),
        )
        .order_by(OutboundMessage.queued_at, OutboundMessage.sent_at)
    )
    sent: dict[uuid.UUID, list[Any]] = {}
    for earlier in db.session.execute(stmt):
        sent.setdefault(earlier.enrollment_id, []).append(earlier)
    threads = {}
    for row in wanted:
        run_start = row.enrolled_at or row.queued_at
        earlier = [
            m
            for m in sent.get(row.enrollment_id, [])
            if run_start <= m.queued_at < row.queued_at and m.message_id != row.message_id
        ]
        if earlier and earlier[-1].subject:
            ids = tuple(m.message_id for m in earlier)[-MAX_REFERENCES:]
            threads[row.id] = Thread(ids[-1], ids, reply_subject(earlier[-1].subject))
    return threads
