"""One rule for changing a sequence, whoever writes it: the builder's edits and the API PATCH.

A writer names the version it read. Before writing anything it claims the next version with
a guarded `UPDATE sequences SET version = version + 1 WHERE id = :id AND version = :seen AND
status IN (editable)`. On PostgreSQL the UPDATE takes the row lock, so of two writers that
read the same version the second waits for the first to commit, then matches no row and is
refused (VersionConflict) instead of writing version N+1 a second time. Only drafts and
paused sequences that were never published may be changed in place: once a sequence has
run, its rows are its live version, changed only by publishing the next one
(services/publishing.py), and its edits go to a draft of that version (services/drafts.py).
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

    def __init__(self, status: str, published: int | None = None) -> None:
        if status == "archived":
            message = "the sequence is archived: it is read-only"
        else:
            message = (
                f"the sequence is {status} and runs version {published}: edit a draft of "
                "the next version and publish it"
            )
        super().__init__(message)
        self.status = status


def is_editable(sequence: Sequence) -> bool:
    return sequence.status in EDITABLE_STATUSES and sequence.published_version is None


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
                Sequence.published_version.is_(None),
            )
            .values(version=Sequence.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if not claimed:
        sequence_id = sequence.id
        db.session.rollback()
        status, current, published = db.session.execute(
            select(Sequence.status, Sequence.version, Sequence.published_version).where(
                Sequence.id == sequence_id
            )
        ).one()
        if status not in EDITABLE_STATUSES or published is not None:
            raise NotEditable(status, published)
        raise VersionConflict(seen, current)
    set_committed_value(sequence, "version", seen + 1)
