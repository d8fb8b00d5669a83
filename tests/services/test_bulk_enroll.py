"""Enrolling a whole segment is set-based: the number of statements does not grow with the
segment, for new enrollments and for re-enrollments alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from app.extensions import db
from app.models import Contact, ContactSequence, EnrollmentRun, Segment, SegmentMembership
from app.services import accounts, sequences
from app.services.enrollment import enroll_segment
from tests.sql_statements import statements_sent

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DEFINITION = {
    "name": "Bulk",
    "re_enrollment": {"mode": "always"},
    "steps": [{"id": "e1", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}}],
    "connections": [],
}


def segment_of(size: int, name: str):
    workspace = accounts.create_workspace(name)
    sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(sequence, "activate", T0)
    segment = Segment(tenant_id=workspace.tenant_id, workspace_id=workspace.id, name="All")
    db.session.add(segment)
    db.session.flush()
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    ids = [uuid.uuid4() for _ in range(size)]
    db.session.execute(
        insert(Contact),
        [
            {**owner, "id": i, "email": f"p{n}@{name}.test", "fields": {}, "tags": []}
            for n, i in enumerate(ids)
        ],
    )
    db.session.execute(
        insert(SegmentMembership),
        [{**owner, "segment_id": segment.id, "contact_id": i, "joined_at": T0} for i in ids],
    )
    db.session.commit()
    return sequence, segment


def statements_for(action) -> tuple[int, object]:
    with statements_sent() as seen:
        result = action()
    return len(seen), result


def enroll_then_reenroll(size: int, name: str) -> tuple[int, int]:
    sequence, segment = segment_of(size, name)
    first, result = statements_for(lambda: enroll_segment(sequence, segment.id, T0))
    assert len(result.enrolled) == size
    db.session.execute(
        update(ContactSequence)
        .where(ContactSequence.sequence_id == sequence.id)
        .values(status="completed", finished_at=T0)
    )
    db.session.commit()
    later = T0 + timedelta(days=1)
    again, result = statements_for(lambda: enroll_segment(sequence, segment.id, later))
    assert result.re_enrolled == size
    return first, again


def test_statements_do_not_grow_with_the_segment(app):
    small = enroll_then_reenroll(10, "small")
    large = enroll_then_reenroll(600, "large")
    assert small == large, (small, large)
    archived = db.session.scalars(select(EnrollmentRun.run)).all()
    assert len(archived) == 610 and set(archived) == {1}
    runs = db.session.scalars(select(ContactSequence.runs)).all()
    assert set(runs) == {2}
