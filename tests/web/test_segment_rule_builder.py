"""Rule segments built with the condition builder: no JSON typed, a live count of matching
contacts, add/remove buttons that change the form without saving, errors beside the field,
and a rename that keeps the segment's sequence enrolling."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, Workspace
from app.services import accounts, contacts, segments, sequences
from tests.helpers import onboarding_definition
from tests.web.client import Web

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"
USER = "marketer@acme.test"


def signed_in(app: Flask) -> tuple[Web, Workspace]:
    workspace = accounts.create_workspace("Acme")
    accounts.create_user(USER, workspace, PASSWORD)
    for email, tags in (("ada@example.com", ["enterprise"]), ("bob@example.com", ["smb"])):
        contacts.upsert_contact(workspace, {"email": email, "tags": tags})
    contacts.upsert_contact(workspace, {"email": "cy@example.com", "tags": ["enterprise"]})
    web = Web(app)
    assert web.sign_in(USER, PASSWORD).status_code == 302
    return web, workspace


def test_tag_is_enterprise_is_built_from_fields_and_its_count_shows(app):
    web, workspace = signed_in(app)
    page = web.get("/segments").text
    assert 'name="cond.kind"' in page and 'value="cond.kind"' not in page
    assert '<option value="email_event"' not in page  # only what a rule may test
    csrf = web.csrf_token("/segments")
    fields = {"csrf_token": csrf, "cond.kind": "tag", "cond.tag": "enterprise"}

    count = web.post("/segments/count", data=fields)
    assert count.status_code == 200
    assert '<strong id="rule-count-value">2</strong> contacts match' in count.text
    empty = web.post("/segments/count", data={**fields, "cond.tag": ""})
    assert "Complete the rule" in empty.text

    created = web.post("/segments", data={**fields, "name": "Enterprise", "kind": "rule"})
    assert created.status_code == 302
    [(segment, members)] = segments.list_segments(workspace.id)
    assert (segment.rule, members) == ({"type": "tag", "tag": "enterprise"}, 2)


def test_groups_are_added_without_saving_and_errors_sit_beside_their_field(app):
    web, workspace = signed_in(app)
    csrf = web.csrf_token("/segments")
    base = {"csrf_token": csrf, "name": "Big trials", "kind": "rule", "cond.kind": "all"}

    added = web.post("/segments", data={**base, "_op": "add:cond.items"})
    assert added.status_code == 200 and 'name="cond.items.0.kind"' in added.text
    assert segments.list_segments(workspace.id) == []

    bad = web.post(
        "/segments",
        data={**base, "cond.items.0.kind": "field", "cond.items.0.field": "seats"},
    )
    assert bad.status_code == 422
    assert 'id="pf-cond.items.0.op-error"' in bad.text
    assert segments.list_segments(workspace.id) == []

    good = {
        **base,
        "cond.items.0.kind": "tag",
        "cond.items.0.tag": "enterprise",
        "cond.items.1.kind": "not",
        "cond.items.1.items.0.kind": "field",
        "cond.items.1.items.0.field": "email",
        "cond.items.1.items.0.op": "contains",
        "cond.items.1.items.0.value": "cy@",
    }
    assert (
        '<strong id="rule-count-value">1</strong> contact matches'
        in web.post("/segments/count", data=good).text
    )
    assert web.post("/segments", data=good).status_code == 302
    [(segment, members)] = segments.list_segments(workspace.id)
    assert members == 1 and segment.rule["all"][1]["not"]["op"] == "contains"


def test_renaming_from_the_page_keeps_the_sequence_trigger_working(app):
    web, workspace = signed_in(app)
    definition = {
        **onboarding_definition(),
        "trigger": {"type": "segment_join", "segment": "Enterprise"},
    }
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", NOW)
    segment = segments.create_segment(
        workspace, "Enterprise", "rule", {"type": "tag", "tag": "enterprise"}, NOW
    )
    csrf = web.csrf_token("/segments")
    renamed = web.post(
        f"/segments/{segment.id}/rename", data={"csrf_token": csrf, "name": "Enterprise accounts"}
    )
    assert renamed.status_code == 302
    assert "1 sequence(s) using it now name it so" in web.get(renamed.headers["Location"]).text

    contacts.upsert_contact(workspace, {"email": "dee@example.com", "tags": ["enterprise"]})
    db.session.expire_all()
    reasons = db.session.scalars(select(ContactSequence.enroll_reason)).all()
    assert "joined segment 'Enterprise accounts'" in reasons
