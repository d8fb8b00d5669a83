"""Reading a sequence's published versions: the history, one version, a diff of two."""

from __future__ import annotations

from sqlalchemy import func, select

from app.core.version_diff import VersionDiff, diff_definitions
from app.extensions import db
from app.models import ContactSequence, Sequence, SequenceVersion


def list_versions(sequence: Sequence) -> list[SequenceVersion]:
    """Newest first."""
    return list(
        db.session.scalars(
            select(SequenceVersion)
            .where(SequenceVersion.sequence_id == sequence.id)
            .order_by(SequenceVersion.number.desc())
        )
    )


def get_version(sequence: Sequence, number: int) -> SequenceVersion | None:
    return db.session.scalar(
        select(SequenceVersion).where(
            SequenceVersion.sequence_id == sequence.id, SequenceVersion.number == number
        )
    )


def live_version(sequence: Sequence) -> SequenceVersion | None:
    if sequence.published_version is None:
        return None
    return get_version(sequence, sequence.published_version)


def runs_per_version(sequence: Sequence) -> dict[int, dict[str, int]]:
    """{version: {status: runs}} for the history page, in one GROUP BY."""
    stmt = (
        select(ContactSequence.version, ContactSequence.status, func.count())
        .where(ContactSequence.sequence_id == sequence.id, ContactSequence.version.is_not(None))
        .group_by(ContactSequence.version, ContactSequence.status)
    )
    found: dict[int, dict[str, int]] = {}
    for number, status, count in db.session.execute(stmt):
        found.setdefault(number, {})[status] = count
    return found


def diff_versions(old: SequenceVersion, new: SequenceVersion) -> VersionDiff:
    return diff_definitions(old.definition, new.definition)
