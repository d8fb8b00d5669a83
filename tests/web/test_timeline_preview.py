"""The builder's "Preview timeline": the form is on the page, its answer is the timeline as
an escaped table, and a bad form says what is wrong."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Sequence, User
from app.services import sequences
from tests.helpers import onboarding_definition
from tests.web.client import signed_in


def builder_with_sequence(app, name: str = "<script>alert(1)</script>"):
    web = signed_in(app, "Acme", "ada@acme.test")
    with app.app_context():
        user = db.session.scalar(select(User))
        definition = onboarding_definition()
        definition["steps"][0]["config"]["subject"] = "Hi {{ contact.first_name }}"
        sequence = sequences.create_sequence(user.workspace, sequences.parse_input(definition))
        sequence_id = sequence.id
    path = f"/sequences/{sequence_id}"
    return web, path, web.csrf_token(path)


def test_the_builder_page_offers_the_preview_timeline_form(app):
    web, path, _ = builder_with_sequence(app)
    page = web.get(path).text
    assert "Preview timeline" in page
    assert f'hx-post="{path}/timeline"' in page


def test_the_preview_answers_the_timeline_as_an_escaped_table(app):
    web, path, token = builder_with_sequence(app)
    answer = web.post(
        f"{path}/timeline",
        data={
            "csrf_token": token,
            "first_name": "<b>Eve</b>",
            "timezone": "America/New_York",
            "start": "2026-12-03T20:30",
            "fields": "plan=trial",
            "tags": "vip, beta",
            "events-0.after": "1",
            "events-0.unit": "days",
            "events-0.event": "clicked_link",
            "events-0.value": "/book-demo",
            "events-1.after": "30",
            "events-1.unit": "hours",
            "events-1.event": "custom",
            "events-1.name": "<img src=x onerror=alert(1)>",
        },
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    html = answer.text
    assert "<table" in html and "queued email" in html
    assert "Thu 03 Dec 2026 20:30 EST" in html
    assert "Hi &lt;b&gt;Eve&lt;/b&gt;" in html  # the rendered subject, as text
    assert "<b>Eve</b>" not in html
    assert "<img" not in html and "&lt;img src=x" in html
    assert "clicked link on" in html


def test_a_bad_form_answers_what_is_wrong(app):
    web, path, token = builder_with_sequence(app)
    answer = web.post(
        f"{path}/timeline",
        data={"csrf_token": token, "start": "2026-12-03T20:30", "fields": "no equals sign"},
    )
    assert "Fields, line 1" in answer.text
    answer = web.post(
        f"{path}/timeline",
        data={"csrf_token": token, "start": "2026-12-03T20:30", "timezone": "Mars/Base"},
    )
    assert "field-error" in answer.text and "Mars/Base" in answer.text


def test_another_workspaces_sequence_is_not_found(app):
    _, path, _ = builder_with_sequence(app)
    stranger = signed_in(app, "Other", "eve@other.test")
    token = stranger.csrf_token("/sequences")
    answer = stranger.post(
        f"{path}/timeline", data={"csrf_token": token, "start": "2026-12-03T20:30"}
    )
    assert answer.status_code == 404
    assert db.session.scalar(select(Sequence)) is not None
