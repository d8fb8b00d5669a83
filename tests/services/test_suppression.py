"""The suppression list and set-based exits from sequences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, Suppression
from app.services import accounts
from app.services.suppression import exit_enrollments, suppress, suppressed_emails
from tests.engine.test_onboarding_e2e import start_onboarding

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Suppression))


def test_suppress_is_idempotent_and_keeps_the_first_reason(app):
    workspace = accounts.create_workspace("Acme")

    assert suppress(workspace.id, "Ada@Example.com", "bounced", T0, detail="status 5.1.1") is True
    assert suppress(workspace.id, "ada@example.com", "unsubscribed", T0) is False
    db.session.commit()

    assert count() == 1
    row = db.session.scalar(select(Suppression))
    assert (row.email, row.reason, row.detail, row.created_at) == (
        "ada@example.com",
        "bounced",
        "status 5.1.1",
        T0,
    )
    assert row.tenant_id == workspace.tenant_id
    assert suppressed_emails(workspace.id, ["ADA@example.com", "grace@example.com"]) == {
        "ADA@example.com": "bounced"
    }
    assert suppressed_emails(workspace.id, []) == {}


def test_the_list_is_per_workspace(app):
    acme = accounts.create_workspace("Acme")
    globex = accounts.create_workspace("Globex")
    suppress(acme.id, "ada@example.com", "complained", T0)
    assert suppress(globex.id, "ada@example.com", "unsubscribed", T0) is True
    db.session.commit()
    assert suppressed_emails(acme.id, ["ada@example.com"]) == {"ada@example.com": "complained"}
    assert suppressed_emails(globex.id, ["ada@example.com"]) == {"ada@example.com": "unsubscribed"}


def test_exit_enrollments_ends_only_the_active_ones_asked_for(app, api):
    seq_id, _ = start_onboarding(api)
    rows = list(db.session.scalars(select(ContactSequence).order_by(ContactSequence.enrolled_at)))
    first, second, third = rows
    third.status = "completed"
    db.session.commit()

    ids = [first.contact_id, second.contact_id, third.contact_id]
    assert exit_enrollments(api.workspace_id, ids, "bounced", T0, sequence_ids=[]) == 0
    assert exit_enrollments(accounts.create_workspace("Other").id, ids, "bounced", T0) == 0
    assert (
        exit_enrollments(api.workspace_id, ids, "bounced", T0, sequence_ids=[uuid.UUID(seq_id)])
        == 2
    )
    db.session.commit()

    db.session.expire_all()
    for row in (first, second):
        assert (row.status, row.exit_reason, row.finished_at, row.next_execution_at) == (
            "exited",
            "bounced",
            T0,
            None,
        )
    assert third.status == "completed" and third.exit_reason is None
    assert exit_enrollments(api.workspace_id, ids, "bounced", T0) == 0
