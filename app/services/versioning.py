"""One rule for changing a sequence, whoever writes it: the builder's edits and the API PATCH.

A writer names the version it read. Before writing anything it claims the next version with
a guarded `UPDATE sequences SET version = version + 1 WHERE id = :id AND version = :seen AND
status IN (editable)`. On PostgreSQL the UPDATE takes the row lock, so of two writers that
read the same version the second waits for the first to commit, then matches no row and is
refused (VersionConflict) instead of writing version N+1 a second time. Only drafts and
paused sequences may be changed: an active one is running contacts through its steps.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import Sequence
from app.models.base import utcnow

EDITABLE_STATUSES = ("draft", "paused")


class VersionConflict(Exception):
    """Someone saved the sequence since this writer read it."""

    def __init__(self, seen: int, current: int) -> None:
        super().__init__(
            "This sequence was changed in another tab or by someone else. "
            "Reload to see the latest version; your last change was not saved."
        )
        self.seen, self.current = seen, current


class NotEditable(Exception):
    """The sequence's status does not allow changes (it is active or archived)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"pause the sequence to edit it; it is {status}")
        self.status = status


def is_editable(sequence: Sequence) -> bool:
    return sequence.status in EDITABLE_STATUSES


def claim_version(sequence: Sequence, seen: int) -> None:
    """Bump the version to seen + 1 if it is still `seen` and the status allows edits.

    Call it first in the writer's transaction, before any other write, so the row lock
    orders concurrent writers. `seen` must also be the version `sequence` was loaded at, so
    that what the writer builds on is what is stored. On refusal the transaction is rolled
    back and NotEditable (status first) or VersionConflict is raised.
    """
    claimed = (
        seen == sequence.version
        and db.session.execute(
            update(Sequence)
            .where(
                Sequence.id == sequence.id,
                Sequence.version == seen,
                Sequence.status.in_(EDITABLE_STATUSES),
            )
            .values(version=Sequence.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if not claimed:
        sequence_id = sequence.id
        db.session.rollback()
        status, current = db.session.execute(
            select(Sequence.status, Sequence.version).where(Sequence.id == sequence_id)
        ).one()
        if status not in EDITABLE_STATUSES:
            raise NotEditable(status)
        raise VersionConflict(seen, current)
    set_committed_value(sequence, "version", seen + 1)
