"""The suppression list (addresses a workspace must not email again) and leaving sequences.

Emails are compared case-insensitively: they are stored as their key (`email_key`, the one
contacts are unique by), and looked up the same way. Every write here is part of the
caller's transaction; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.addresses import email_key
from app.extensions import db
from app.models import ContactSequence, Suppression, Workspace
from app.models.contact import SUPPRESSION_REASONS
from app.models.enrollment import exited


def suppress(
    workspace_id: uuid.UUID,
    email: str,
    reason: str,
    now: datetime,
    detail: str | None = None,
) -> bool:
    """Put the address on the workspace's list unless it is there already (the first reason
    stays); True when this call added it. Safe against a concurrent insert of the same one."""
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    key = email_key(email)
    if not key:
        raise ValueError("an empty email cannot be suppressed")
    tenant_id = db.session.scalar(select(Workspace.tenant_id).where(Workspace.id == workspace_id))
    if tenant_id is None:
        raise ValueError(f"no workspace {workspace_id}")
    dialect = db.session.connection().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        make_insert(Suppression.__table__)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            workspace_id=workspace_id,
            email=key,
            reason=reason,
            detail=detail,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "email"])
        .returning(Suppression.__table__.c.id)
    )
    return db.session.execute(statement).scalar() is not None


def suppression_of(workspace_id: uuid.UUID, email: str) -> Suppression | None:
    """The list's entry for this address (its reason and when), or None."""
    return db.session.scalar(
        select(Suppression).where(
            Suppression.workspace_id == workspace_id, Suppression.email == email_key(email)
        )
    )


def unsuppress(workspace_id: uuid.UUID, email: str) -> str | None:
    """Take the address off the workspace's list; the reason it was there, or None."""
    statement = (
        delete(Suppression)
        .where(Suppression.workspace_id == workspace_id, Suppression.email == email_key(email))
        .returning(Suppression.reason)
    )
    return db.session.execute(statement).scalar()


def suppressed_emails(workspace_id: uuid.UUID, emails: Iterable[str]) -> dict[str, str]:
    """{email: reason} for those of these addresses on the list, keyed as given."""
    by_key: dict[str, list[str]] = {}
    for email in emails:
        by_key.setdefault(email_key(email), []).append(email)
    if not by_key:
        return {}
    rows = db.session.execute(
        select(Suppression.email, Suppression.reason).where(
            Suppression.workspace_id == workspace_id, Suppression.email.in_(by_key)
        )
    )
    found: dict[str, str] = {}
    for row in rows:
        for given in by_key.get(row.email, ()):
            found[given] = row.reason
    return found


def exit_enrollments(
    workspace_id: uuid.UUID,
    contact_ids: Iterable[uuid.UUID],
    reason: str,
    now: datetime,
    sequence_ids: Iterable[uuid.UUID] | None = None,
    status: Literal["exited", "failed"] = "exited",
) -> int:
    """End the contacts' active enrollments (in these sequences only, if given) as `exited`
    (or `failed`, for a delivery failure) with this reason, in one UPDATE; returns how many."""
    contacts = set(contact_ids)
    if not contacts:
        return 0
    criteria = [
        ContactSequence.workspace_id == workspace_id,
        ContactSequence.contact_id.in_(contacts),
        ContactSequence.status == "active",
    ]
    if sequence_ids is not None:
        sequences = set(sequence_ids)
        if not sequences:
            return 0
        criteria.append(ContactSequence.sequence_id.in_(sequences))
    result = db.session.execute(
        update(ContactSequence)
        .where(*criteria)
        .values(**exited(reason, now, status))
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)
