"""The launch checklist: test email through the real dispatcher to a real SMTP server,
Activate only once everything is ready; and the list's create, duplicate and archive."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Sequence, SequenceStep
from app.services import accounts, contacts, sequences
from tests.helpers import onboarding_definition
from tests.web.client import Web

PASSWORD = "correct-horse-battery"


@pytest.fixture
def web(app: Flask) -> Web:
    workspace = accounts.create_workspace("Acme")
    accounts.create_user("marketer@acme.test", workspace, PASSWORD)
    contacts.upsert_contact(
        workspace, {"email": "dana@customer.test", "first_name": "Dana", "fields": {"plan": "pro"}}
    )
    client = Web(app)
    assert client.sign_in("marketer@acme.test", PASSWORD).status_code == 302
    return client


def onboarding(app: Flask, **changes: Any) -> uuid.UUID:
    definition = {**onboarding_definition(), **changes}
    workspace = accounts.workspace_named("Acme")
    return sequences.create_sequence(workspace, sequences.parse_input(definition)).id


def checklist(web: Web, sequence_id: uuid.UUID) -> dict[str, bool]:
    html = web.get(f"/sequences/{sequence_id}/checklist").text
    return {
        key: f'class="check done" data-check="{key}"' in html
        for key in ("trigger", "content", "delays", "graph", "test")
    }


def status_of(app: Flask, sequence_id: uuid.UUID) -> str:
    with app.app_context():
        return db.session.get(Sequence, sequence_id).status


def test_test_email_arrives_rendered_for_a_chosen_contact_then_activate(app, web, smtp_sink):
    sequence_id = onboarding(app)
    assert checklist(web, sequence_id) == {
        "trigger": True, "content": True, "delays": True, "graph": True, "test": False,
    }  # fmt: skip
    csrf = web.csrf_token("/sequences")
    refused = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in refused.text
    assert status_of(app, sequence_id) == "draft"

    with app.app_context():
        dana = contacts.contacts_by_email(
            accounts.workspace_named("Acme").id, ["dana@customer.test"]
        )
    contact_id = str(next(iter(dana.values())).id)
    page = web.post(
        f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf, "contact_id": contact_id}
    )

    assert "Sent 3 test email(s) to marketer@acme.test" in page.text
    received = smtp_sink.wait_for(3)
    assert [m["To"] for m in received] == ["Dana <marketer@acme.test>"] * 3
    assert received[0]["Subject"].startswith("[Test 1/3] ")
    assert "Dana" in received[0].get_body(("html",)).get_content()
    assert checklist(web, sequence_id)["test"] is True

    activated = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert activated.headers["HX-Refresh"] == "true"
    assert status_of(app, sequence_id) == "active"
    web.post(f"/sequences/{sequence_id}/status/pause", data={"csrf_token": csrf})
    assert status_of(app, sequence_id) == "paused"


def test_a_failed_test_send_does_not_tick_the_checklist(app, web, smtp_sink):
    sequence_id = onboarding(app)
    smtp_sink.reject("marketer@acme.test")
    csrf = web.csrf_token("/sequences")
    page = web.post(f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf})
    assert "could not be sent" in page.text
    assert checklist(web, sequence_id)["test"] is False


def test_an_unfinished_draft_cannot_be_activated(app, web, smtp_sink):
    csrf = web.csrf_token("/sequences")
    created = web.post("/sequences", data={"csrf_token": csrf, "name": "Trial nurture"})
    assert created.status_code == 302
    sequence_id = uuid.UUID(created.headers["Location"].rsplit("/", 1)[1])
    state = checklist(web, sequence_id)
    assert state == {
        "trigger": False, "content": False, "delays": True, "graph": False, "test": False,
    }  # fmt: skip
    response = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in response.text
    assert status_of(app, sequence_id) == "draft"


def test_activation_refuses_an_incomplete_graph_even_through_the_service(app):
    workspace = accounts.create_workspace("Acme")
    blank = sequences.create_blank(workspace, "Draft", None)
    from datetime import UTC, datetime

    from app.core.definition import DefinitionError

    with pytest.raises(DefinitionError):
        sequences.set_status(blank, "activate", datetime(2026, 12, 1, tzinfo=UTC))


def test_create_needs_a_name(app, web):
    csrf = web.csrf_token("/sequences")
    response = web.post("/sequences", data={"csrf_token": csrf, "name": "   "})
    assert response.status_code == 422
    assert "give the sequence a name" in response.text


def test_duplicate_copies_the_graph_and_archive_hides_edits(app, web):
    sequence_id = onboarding(app)
    csrf = web.csrf_token("/sequences")
    copied = web.post(f"/sequences/{sequence_id}/duplicate", data={"csrf_token": csrf})
    copy_id = uuid.UUID(copied.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        keys = lambda sid: sorted(  # noqa: E731
            db.session.scalars(select(SequenceStep.key).where(SequenceStep.sequence_id == sid))
        )
        assert keys(copy_id) == keys(sequence_id) and keys(copy_id)
        assert db.session.get(Sequence, copy_id).name.startswith("Copy of ")
    web.post(f"/sequences/{copy_id}/archive", data={"csrf_token": csrf})
    assert status_of(app, copy_id) == "archived"
    listing = web.get("/sequences").text
    assert "archived" in listing


def test_another_workspace_cannot_send_tests_or_activate(app, web):
    sequence_id = onboarding(app)
    rival = accounts.create_workspace("Rival")
    accounts.create_user("spy@rival.test", rival, PASSWORD)
    spy = Web(app)
    spy.sign_in("spy@rival.test", PASSWORD)
    csrf = spy.csrf_token("/sequences")
    for path in ("test-email", "status/activate", "duplicate", "archive", "checklist"):
        method = spy.get if path == "checklist" else spy.post
        kwargs = {} if path == "checklist" else {"data": {"csrf_token": csrf}}
        assert method(f"/sequences/{sequence_id}/{path}", **kwargs).status_code == 404, path
    assert status_of(app, sequence_id) == "draft"
