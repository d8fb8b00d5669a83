"""The one path for contact changes is set-based: a bulk writer's batch of field changes
is recorded in a fixed number of statements, however many contacts it changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.core.events import FIELD_CHANGED
from app.extensions import db
from app.models import ContactEvent, Workspace
from app.services import accounts, contact_import
from tests.sql_statements import statements_sent

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def import_plans(workspace: Workspace, people: int, plan: str, now: datetime) -> list[str]:
    """Import `plan` for p0..p<people> in one chunk; the SQL statements the chunk ran."""
    rows = "".join(f"p{i}@example.com,{plan}\n" for i in range(people))
    contact_import.start_import(workspace, "plans.csv", "email,plan\n" + rows, None)
    with statements_sent() as statements:
        assert contact_import.process_pending(now, chunk=1000) == people
    return statements


def field_changes(workspace: Workspace) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(ContactEvent)
        .where(ContactEvent.workspace_id == workspace.id, ContactEvent.type == FIELD_CHANGED)
    )


def test_an_import_changing_500_contacts_takes_as_many_statements_as_one_changing_10(app):
    small, large = accounts.create_workspace("Small"), accounts.create_workspace("Large")
    db.session.commit()
    import_plans(small, 10, "free", NOW)
    import_plans(large, 500, "free", NOW)
    assert field_changes(small) == field_changes(large) == 0  # new contacts record nothing

    later = NOW + timedelta(hours=1)
    ten = import_plans(small, 10, "pro", later)
    five_hundred = import_plans(large, 500, "pro", later)

    assert (field_changes(small), field_changes(large)) == (10, 500)
    assert len(five_hundred) == len(ten), five_hundred
