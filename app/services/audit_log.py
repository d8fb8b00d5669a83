"""The audit log as operators read it: what was done to enrollments from outside their
own runs (interventions, version migrations), by whom and why, newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactSequence, EnrollmentChange, Sequence
from app.services.enrollment_query import FilterError

KINDS = ("intervention", "version_migration")
ACTIONS = ("pause", "resume", "skip_wait", "move", "exit", "resend", "keep", "retime", "stay")
"""Interventions' actions, then a version migration's others (move and exit are both's)."""


@dataclass(frozen=True)
class AuditFilter:
    kind: str | None = None
    action: str | None = None
    sequence_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AuditPage:
    rows: list[Any]  # EnrollmentChange, email, sequence_name
    older: int | None  # the `before` of the next page, None on the last


def parse(args: Any) -> tuple[AuditFilter, int | None]:
    """The filter and page key in these query parameters; FilterError names a bad one."""
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise FilterError("kind", f"kind must be one of {', '.join(KINDS)}")
    action = args.get("action") or None
    if action is not None and action not in ACTIONS:
        raise FilterError("action", f"action must be one of {', '.join(ACTIONS)}")
    raw_sequence = args.get("sequence") or None
    try:
        sequence_id = uuid.UUID(raw_sequence) if raw_sequence else None
    except ValueError:
        raise FilterError("sequence", "sequence must be a sequence's id") from None
    raw_before = args.get("before") or None
    if raw_before is not None and not (
        raw_before.isascii() and raw_before.isdigit() and len(raw_before) < 19
    ):
        raise FilterError("before", "before must be a page key this list gave out")
    return AuditFilter(kind, action, sequence_id), int(raw_before) if raw_before else None


def page(workspace_id: uuid.UUID, flt: AuditFilter, before: int | None, limit: int) -> AuditPage:
    """One page newest first, keyed by the change's id (rows are recorded in time order):
    `before` is the last id of the page before; the LIMIT applies before the joins."""
    where: list[Any] = [EnrollmentChange.workspace_id == workspace_id]
    if flt.kind is not None:
        where.append(EnrollmentChange.kind == flt.kind)
    if flt.action is not None:
        where.append(EnrollmentChange.action == flt.action)
    if flt.sequence_id is not None:
        where.append(EnrollmentChange.sequence_id == flt.sequence_id)
    if before is not None:
        where.append(EnrollmentChange.id < before)
    ids = (
        select(EnrollmentChange.id)
        .where(*where)
        .order_by(EnrollmentChange.id.desc())
        .limit(limit + 1)
        .subquery()
    )
    rows = list(
        db.session.execute(
            select(EnrollmentChange, Contact.email, Sequence.name.label("sequence_name"))
            .join(ContactSequence, ContactSequence.id == EnrollmentChange.enrollment_id)
            .join(Contact, Contact.id == ContactSequence.contact_id)
            .join(Sequence, Sequence.id == EnrollmentChange.sequence_id)
            .where(EnrollmentChange.id.in_(select(ids.c.id)))
            .order_by(EnrollmentChange.id.desc())
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].EnrollmentChange.id if more else None)
