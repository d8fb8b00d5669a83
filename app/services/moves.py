"""Moving contacts to another sequence by name: for `move_to_sequence` steps and goals.

Runs after the caller's own commit (enrolling commits): the exit that asked for the move
stands even when the target is missing or enrolling fails, so a move never undoes work.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Contact, Sequence
from app.services.enrollment import enroll_contacts

log = logging.getLogger(__name__)


class Move(NamedTuple):
    enrollment_id: uuid.UUID  # the enrollment that ended, for the log
    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    target: str  # a sequence name in the same workspace
    reason: str  # the enroll reason shown in the target


def move_contacts(moves: list[Move], now: datetime) -> int:
    """Enroll the contacts in their targets (same workspace, active or paused): one lookup
    for the targets and the contacts, one enroll call per target and reason. A missing
    target is logged and skipped. Returns how many were enrolled."""
    if not moves:
        return 0
    names = {move.target for move in moves}
    try:
        targets: dict[tuple[uuid.UUID, str], Sequence] = {}
        candidates = db.session.scalars(
            select(Sequence)
            .where(
                Sequence.workspace_id.in_({move.workspace_id for move in moves}),
                Sequence.name.in_(names),
                Sequence.status.in_(("active", "paused")),
            )
            # Of two sequences with the same name, an active one wins, then the newest.
            .order_by(Sequence.status, Sequence.created_at.desc())
        )
        for sequence in candidates:
            targets.setdefault((sequence.workspace_id, sequence.name), sequence)
        people = {
            c.id: c
            for c in db.session.scalars(
                select(Contact).where(Contact.id.in_({move.contact_id for move in moves}))
            )
        }
        groups: dict[tuple[uuid.UUID, str, str], list[Contact]] = {}
        for move in moves:
            if (move.workspace_id, move.target) not in targets:
                log.warning(
                    "enrollment %s: no active or paused sequence named %r to move to; skipped",
                    move.enrollment_id,
                    move.target,
                )
                continue
            key = (move.workspace_id, move.target, move.reason)
            groups.setdefault(key, []).append(people[move.contact_id])
        enrolled = 0
        for (workspace_id, name, reason), found in groups.items():
            result = enroll_contacts(targets[(workspace_id, name)], found, now, reason=reason)
            enrolled += len(result.enrolled)
            for skipped in result.skipped:
                log.info("move to %r skipped %s: %s", name, skipped["email"], skipped["reason"])
        return enrolled
    except SQLAlchemyError:
        # The caller's work is committed; a failed move must not stop it.
        db.session.rollback()
        log.exception("moving contacts to %s failed", sorted(names))
        return 0
