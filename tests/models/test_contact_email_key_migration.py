"""Migration 0023 merges contacts whose emails differ only in case into the oldest one,
losing none of their history, and then keeps them unique by key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    EnrollmentRun,
    OutboundMessage,
    Segment,
    SegmentMembership,
    SequenceStep,
    StepLog,
)
from app.services import accounts, sequences
from tests.conftest import Backend, _create_pg_database, _drop_pg_database, make_app

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DEFINITION = {
    "name": "Welcome",
    "steps": [{"id": "e1", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}}],
    "connections": [],
}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_app(request: pytest.FixtureRequest, tmp_path) -> Iterator[Flask]:
    """An app on a database of its own: this test migrates down and up again."""
    if request.param == "postgres":
        name, url = _create_pg_database()
        request.node.add_marker(pytest.mark.postgres)
    else:
        name, url = "", f"sqlite:///{tmp_path / 'merge.sqlite3'}"
    app = make_app(Backend(request.param, url))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()
    if name:
        _drop_pg_database(name)


def _contact(workspace, email: str, created_at: datetime, **values) -> Contact:
    contact = Contact(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        email=email,
        created_at=created_at,
        **{"fields": {}, "tags": [], **values},
    )
    db.session.add(contact)
    db.session.flush()
    return contact


def _enroll(sequence, contact, status: str, runs: int, step_id) -> ContactSequence:
    owner = {"tenant_id": sequence.tenant_id, "workspace_id": sequence.workspace_id}
    enrollment = ContactSequence(
        **owner,
        sequence_id=sequence.id,
        contact_id=contact.id,
        status=status,
        enrolled_at=T0,
        runs=runs,
        finished_at=None if status == "active" else T0 + timedelta(days=1),
    )
    db.session.add(enrollment)
    db.session.flush()
    db.session.add(
        StepLog(
            **owner,
            enrollment_id=enrollment.id,
            sequence_id=sequence.id,
            step_id=step_id,
            rotation=0,
            outcome="sent",
            executed_at=T0,
        )
    )
    return enrollment


def test_contacts_differing_only_in_case_are_merged_into_the_oldest_without_losing_history(
    fresh_app,
):
    workspace = accounts.create_workspace("Merge")
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    welcome = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    other = sequences.create_sequence(
        workspace, sequences.parse_input({**DEFINITION, "name": "Other"})
    )
    step_id = db.session.scalar(
        select(SequenceStep.id).where(SequenceStep.sequence_id == welcome.id)
    )
    other_step = db.session.scalar(
        select(SequenceStep.id).where(SequenceStep.sequence_id == other.id)
    )
    keeper = _contact(
        workspace, "maria.lopez@example.test", T0, first_name="Maria",
        fields={"plan": "pro"}, tags=["a"],
    )  # fmt: skip
    twin = _contact(
        workspace, "maria.lopez@twin.test", T0 + timedelta(hours=1), last_name="Lopez",
        timezone="Europe/Madrid", fields={"plan": "free", "city": "Lyon"}, tags=["b"],
        unsubscribed_at=T0 + timedelta(days=2),
    )  # fmt: skip
    _contact(workspace, "tom@example.test", T0)  # a bystander, left alone
    finished = _enroll(welcome, keeper, "completed", 2, step_id)
    db.session.add(
        EnrollmentRun(
            **owner, enrollment_id=finished.id, sequence_id=welcome.id, contact_id=keeper.id,
            run=1, status="completed", enrolled_at=T0 - timedelta(days=30),
        )
    )  # fmt: skip
    db.session.add(
        OutboundMessage(
            **owner, enrollment_id=finished.id, sequence_id=welcome.id, step_id=step_id,
            contact_id=keeper.id, rotation=0, message_id="<m1@pm.test>",
            to_email=keeper.email, status="queued", queued_at=T0, next_attempt_at=T0,
        )
    )  # fmt: skip
    running = _enroll(welcome, twin, "active", 1, step_id)
    elsewhere = _enroll(other, twin, "active", 1, other_step)
    both, only_twin = (Segment(**owner, name=name) for name in ("Both", "Twin only"))
    db.session.add_all([both, only_twin])
    db.session.flush()
    for segment, contact in ((both, keeper), (both, twin), (only_twin, twin)):
        db.session.add(SegmentMembership(**owner, segment_id=segment.id, contact_id=contact.id))
    for contact in (keeper, twin):
        db.session.add(
            ContactEvent(
                **owner, contact_id=contact.id, type="clicked", occurred_at=T0, source="api"
            )
        )
    db.session.commit()
    rows = dict(keeper=keeper, twin=twin, both=both, only_twin=only_twin, welcome=welcome)
    rows |= dict(other=other, running=running, elsewhere=elsewhere)
    ids = {name: row.id for name, row in rows.items()}
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    db.session.remove()

    downgrade(revision="0022")
    contacts = Contact.__table__
    db.session.execute(  # only the email column: the key column is gone at 0022
        update(contacts)
        .where(contacts.c.id == ids["twin"])
        .values(email="MARIA.LOPEZ@Example.test")
    )
    db.session.commit()
    db.session.remove()
    upgrade()

    contacts = db.session.scalars(select(Contact).order_by(Contact.email)).all()
    assert [c.email for c in contacts] == ["maria.lopez@example.test", "tom@example.test"]
    merged = contacts[0]
    assert merged.id == ids["keeper"] and merged.email_key == "maria.lopez@example.test"
    assert (merged.first_name, merged.last_name, merged.timezone) == (
        "Maria",
        "Lopez",
        "Europe/Madrid",
    )
    assert merged.fields == {"plan": "pro", "city": "Lyon"}
    assert merged.tags == ["a", "b"]
    assert merged.unsubscribed_at == T0 + timedelta(days=2)
    events = db.session.scalars(select(ContactEvent.contact_id)).all()
    assert events == [ids["keeper"], ids["keeper"]]
    members = db.session.execute(select(SegmentMembership.segment_id, SegmentMembership.contact_id))
    assert sorted(members) == sorted(
        [(ids["both"], ids["keeper"]), (ids["only_twin"], ids["keeper"])]
    )

    enrollments = db.session.scalars(select(ContactSequence)).all()
    by_sequence = {e.sequence_id: e for e in enrollments}
    assert len(enrollments) == 2 and {e.contact_id for e in enrollments} == {ids["keeper"]}
    assert by_sequence[ids["other"]].id == ids["elsewhere"]
    current = by_sequence[ids["welcome"]]
    assert current.id == ids["running"]  # the active run stays current
    assert (current.status, current.runs) == ("active", 3)
    runs = db.session.execute(
        select(EnrollmentRun.run, EnrollmentRun.status, EnrollmentRun.contact_id)
        .where(EnrollmentRun.enrollment_id == ids["running"])
        .order_by(EnrollmentRun.run)
    ).all()
    assert runs == [(1, "completed", ids["keeper"]), (2, "completed", ids["keeper"])]
    logs = db.session.scalars(
        select(StepLog.rotation)
        .where(StepLog.enrollment_id == ids["running"])
        .order_by(StepLog.rotation)
    ).all()
    assert logs == [-1, 0]  # the folded run's visit kept, below the current run's
    message = db.session.scalar(select(OutboundMessage))
    assert (message.enrollment_id, message.contact_id) == (ids["running"], ids["keeper"])
    assert (message.rotation, message.status) == (-1, "skipped")

    db.session.add(Contact(**owner, email="Maria.Lopez@EXAMPLE.test", fields={}, tags=[]))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
