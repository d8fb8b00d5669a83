"""Every way a field changes wakes a field wait and converts a field goal: not only PATCH,
but also `POST /api/contacts` (create or update by email), a hosted form submission, a CSV
import and another sequence's update_field action: all record through one path."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, Conversion, Workspace
from app.services import contact_import, forms
from tests.engine.test_wait_until_e2e import start, subjects, waiting_definition
from tests.helpers import tick
from tests.services.test_goals import BOOKED, enrollment, journey, launch

pytestmark = pytest.mark.local_time  # field waits with timeouts


def through_the_api(api, who: str, field: str, value: str) -> None:
    changed = api.post("/api/contacts", json={"email": who, "fields": {field: value}})
    assert changed.status_code == 200, changed.json


def through_a_form(api, who: str, field: str, value: str) -> None:
    """A hosted form asking for this field, submitted by a visitor who is not signed in."""
    workspace = db.session.get_one(Workspace, api.workspace_id)
    form = forms.ensure_form(workspace.id, workspace.tenant_id, "Profile")
    fields = [
        {"name": "email", "label": "Email", "type": "email", "required": True},
        {"name": field, "label": field, "type": "text", "required": True},
    ]
    forms.update_form(form, {"fields": fields})
    public = api.client.application.test_client()
    submitted = public.post(f"/f/{form.public_id}", data={"email": who, field: value})
    assert submitted.status_code == 200, submitted.text


def through_an_import(api, who: str, field: str, value: str) -> None:
    """A CSV upload, worked through by the import job."""
    workspace = db.session.get_one(Workspace, api.workspace_id)
    contact_import.start_import(workspace, "update.csv", f"email,{field}\n{who},{value}\n", None)
    assert contact_import.process_pending(datetime.now(UTC)) == 1


def through_another_sequence(api, who: str, field: str, value: str) -> None:
    """A sequence whose only step sets the field, run by the processor for this contact."""
    action = {"action": "update_field", "field": field, "value": value}
    definition = {
        "format": "sequence/v1",
        "name": f"Set {field} to {value}",
        "trigger": {"type": "manual"},
        "steps": [{"id": "set", "type": "action", "config": action}],
        "connections": [],
    }
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    enrolled = api.post(f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": who}]})
    assert enrolled.json["enrolled"] == 1, enrolled.json
    db.session.expire_all()
    setter = db.session.scalars(
        select(ContactSequence).where(ContactSequence.sequence_id == uuid.UUID(seq_id))
    ).one()
    tick(api.client.application, setter.next_execution_at)
    assert db.session.get_one(ContactSequence, setter.id).status == "completed"


WRITERS: dict[str, Callable[[Any, str, str, str], None]] = {
    "api_upsert": through_the_api,
    "form": through_a_form,
    "import": through_an_import,
    "engine": through_another_sequence,
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_field_wait_moves_on_when_the_field_changes_whoever_changes_it(
    app, api, smtp_sink, writer
):
    definition = waiting_definition({"event": "x", "timeout": "1 day"})
    definition["steps"][1]["config"]["conditions"] = [
        {"field": "company_size", "timeout": "3 days"}
    ]
    now = datetime.now(UTC) - timedelta(minutes=1)
    start(api, definition, ["lead@x.test"], at=now)
    tick(app, now)
    assert subjects(smtp_sink)["lead@x.test"] == ["Welcome"]

    WRITERS[writer](api, "lead@x.test", "plan", "pro")  # another field: still waiting
    tick(app, datetime.now(UTC))
    assert subjects(smtp_sink)["lead@x.test"] == ["Welcome"]

    WRITERS[writer](api, "lead@x.test", "company_size", "250")
    tick(app, datetime.now(UTC))
    assert subjects(smtp_sink)["lead@x.test"] == ["Welcome", "Met"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_field_goal_converts_at_once_when_the_field_changes_whoever_changes_it(api, writer):
    seq_id = launch(api, journey("Sales", [BOOKED]), ["ada@example.com"])
    assert enrollment(seq_id, "ada@example.com").status == "active"

    WRITERS[writer](api, "ada@example.com", "deal_stage", "Qualified")
    assert enrollment(seq_id, "ada@example.com").status == "active"

    WRITERS[writer](api, "ada@example.com", "deal_stage", "Meeting Booked")

    done = enrollment(seq_id, "ada@example.com")
    assert (done.status, done.exit_reason) == ("exited", "goal 'Booked Meeting' reached")
    [conversion] = db.session.scalars(select(Conversion)).all()
    assert (conversion.goal, conversion.source) == ("Booked Meeting", "event")
    assert conversion.event_id is not None
    in_sales = select(ContactSequence.id).where(ContactSequence.sequence_id == seq_id)
    assert db.session.scalars(in_sales).all() == [done.id]
