"""Every way a field changes wakes a field wait and converts a field goal: not only PATCH,
but also `POST /api/contacts` (create or update by email) and a hosted form submission."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, Conversion, Workspace
from app.services import forms
from tests.engine.test_wait_until_e2e import start, subjects, waiting_definition
from tests.helpers import tick
from tests.services.test_goals import BOOKED, enrollment, journey, launch


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


WRITERS: dict[str, Callable[[Any, str, str, str], None]] = {
    "api_upsert": through_the_api,
    "form": through_a_form,
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_field_wait_moves_on_when_the_field_changes_through_the_api_or_a_form(
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
def test_a_field_goal_converts_at_once_when_the_field_changes_through_the_api_or_a_form(
    api, writer
):
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
    assert db.session.scalar(select(ContactSequence.id)) == done.id
