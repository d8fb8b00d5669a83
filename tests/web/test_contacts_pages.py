"""The contacts and segments pages: search (with its htmx fragment), adding a selection, one
contact or a whole segment to a sequence, static segment adds, rule segments from the form,
CSV upload and its progress fragment, CSRF, escaping and workspace isolation.

Runs on SQLite and PostgreSQL; every request in its own app context (see tests/web/client.py).
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactImport, ContactSequence, Workspace
from app.services import accounts, contact_import, contacts, segments, sequences
from tests.helpers import onboarding_definition
from tests.web.client import Web

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"
USER = "marketer@acme.test"


@dataclass
class Acme:
    workspace: Workspace
    sequence_id: uuid.UUID
    ids: dict[str, uuid.UUID]


def make_workspace(name: str, user: str, people: list[dict]) -> Acme:
    workspace = accounts.create_workspace(name)
    accounts.create_user(user, workspace, PASSWORD)
    definition = {**onboarding_definition(), "trigger": {"type": "manual"}}
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", NOW)
    ids = {p["email"]: contacts.upsert_contact(workspace, p)[0].id for p in people}
    return Acme(workspace, sequence.id, ids)


@pytest.fixture
def acme(app: Flask) -> Acme:
    people = [
        {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "tags": ["vip"]},
        {"email": "bob@example.com", "first_name": "Bob", "fields": {"plan": "trial"}},
        {"email": "gone@example.com", "first_name": "Gone"},
        {"email": "x_y@example.com", "first_name": "<script>alert(1)</script>"},
    ]
    found = make_workspace("Acme", USER, people)
    gone = db.session.get(Contact, found.ids["gone@example.com"])
    gone.unsubscribed_at = NOW
    db.session.commit()
    return found


@pytest.fixture
def web(app: Flask, acme: Acme) -> Web:
    client = Web(app)
    assert client.sign_in(USER, PASSWORD).status_code == 302
    return client


def listed(html: str) -> list[str]:
    return re.findall(
        r'<tr data-contact="[^"]+">.*?<a href="/contacts/[^"]+">([^<]+)</a>', html, re.S
    )


def enrolled_emails(sequence_id: uuid.UUID) -> dict[str, str]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Contact.email, ContactSequence.enroll_reason)
        .join(Contact, Contact.id == ContactSequence.contact_id)
        .where(ContactSequence.sequence_id == sequence_id)
    )
    return {email: reason for email, reason in rows}


# --- Search ----------------------------------------------------------------------------------


def test_search_by_email_or_name_and_the_htmx_fragment(web, monkeypatch):
    page = web.get("/contacts")
    assert page.status_code == 200
    assert listed(page.text) == [
        "ada@example.com",
        "bob@example.com",
        "gone@example.com",
        "x_y@example.com",
    ]
    assert 'hx-get="/contacts"' in page.text and 'hx-target="#contact-results"' in page.text
    assert listed(web.get("/contacts?q=LOVELACE").text) == ["ada@example.com"]
    assert listed(web.get("/contacts?q=bob%20example").text) == ["bob@example.com"]
    assert listed(web.get("/contacts?q=x_y").text) == ["x_y@example.com"]  # _ is no wildcard
    assert listed(web.get("/contacts?q=%25").text) == []
    assert "No contact matches" in web.get("/contacts?q=nobody").text

    fragment = web.get("/contacts?q=ada", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in fragment.text and listed(fragment.text) == ["ada@example.com"]
    assert "HX-Request" in page.headers["Vary"]

    monkeypatch.setattr("app.web.contacts.PAGE_SIZE", 2)
    first, second = web.get("/contacts").text, web.get("/contacts?page=2").text
    assert listed(first) == ["ada@example.com", "bob@example.com"] and "Page 1 of 2" in first
    assert listed(second) == ["gone@example.com", "x_y@example.com"]


def test_user_text_is_escaped(web, acme):
    contact = db.session.get(Contact, acme.ids["x_y@example.com"])
    contact.fields = {"note": "<img src=x onerror=alert(2)>"}
    db.session.commit()
    page = web.get("/contacts").text + web.get(f"/contacts/{contact.id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


# --- Adding to a sequence by hand --------------------------------------------------------------


def test_a_selection_is_added_to_a_sequence_with_each_skip_explained(web, acme):
    csrf = web.csrf_token("/contacts")
    chosen = [str(acme.ids[e]) for e in ("ada@example.com", "gone@example.com")]
    response = web.post(
        "/contacts/enroll",
        data={"csrf_token": csrf, "sequence_id": str(acme.sequence_id), "contact_id": chosen},
    )
    assert response.status_code == 200
    assert "Enrolled 1 contact(s) in “New User Onboarding”" in response.text
    assert "skipped 1" in response.text and "gone@example.com: unsubscribed" in response.text
    assert enrolled_emails(acme.sequence_id) == {"ada@example.com": f"added by {USER}"}

    again = web.post(
        "/contacts/enroll",
        data={"csrf_token": csrf, "sequence_id": str(acme.sequence_id), "contact_id": chosen[:1]},
    )
    assert "Enrolled 0 contact(s)" in again.text
    assert "ada@example.com: already enrolled (active)" in again.text

    nothing = web.post(
        "/contacts/enroll", data={"csrf_token": csrf, "sequence_id": str(acme.sequence_id)}
    )
    assert nothing.status_code == 422 and "Select at least one contact." in nothing.text
    no_sequence = web.post("/contacts/enroll", data={"csrf_token": csrf, "contact_id": chosen})
    assert no_sequence.status_code == 422 and "Choose a sequence." in no_sequence.text


def test_one_contact_is_added_from_its_page(web, acme):
    bob = acme.ids["bob@example.com"]
    page = web.get(f"/contacts/{bob}")
    assert page.status_code == 200 and "Not enrolled in any sequence." in page.text
    assert "&#34;plan&#34;" not in page.text and "trial" in page.text
    csrf = web.csrf_token(f"/contacts/{bob}")

    response = web.post(
        f"/contacts/{bob}/enroll", data={"csrf_token": csrf, "sequence_id": str(acme.sequence_id)}
    )

    assert "Enrolled 1 contact(s)" in response.text
    assert 'id="contact-enrollments"' in response.text and f"added by {USER}" in response.text
    assert enrolled_emails(acme.sequence_id) == {"bob@example.com": f"added by {USER}"}


def test_a_selection_is_added_to_a_static_segment(web, acme):
    vip = segments.create_segment(acme.workspace, "Hand picked", "static", None, NOW)
    csrf = web.csrf_token("/contacts")
    chosen = [str(acme.ids["ada@example.com"]), str(acme.ids["bob@example.com"])]
    first = web.post(
        "/contacts/add-to-segment",
        data={"csrf_token": csrf, "segment_id": str(vip.id), "contact_id": chosen},
    )
    assert "Added 2 contact(s) to &#39;Hand picked&#39;." in first.text
    second = web.post(
        "/contacts/add-to-segment",
        data={"csrf_token": csrf, "segment_id": str(vip.id), "contact_id": chosen},
    )
    assert "Added 0 contact(s)" in second.text and "2 were already in it" in second.text
    members = web.get(f"/segments/{vip.id}").text
    assert "ada@example.com" in members and "bob@example.com" in members
    assert "2 member(s)" in members


# --- Segments ----------------------------------------------------------------------------------


def test_rule_segments_from_the_form_with_inline_errors_and_add_all(web, acme):
    csrf = web.csrf_token("/segments")
    bad = web.post(
        "/segments",
        data={
            "csrf_token": csrf,
            "name": "Trials",
            "kind": "rule",
            "rule": '{"type": "field", "field": "plan", "op": "is", "value": "trial"}',
        },
    )
    assert bad.status_code == 422
    assert "rule.op: &#39;is&#39; is not allowed" in bad.text
    assert "Trials" in bad.text  # the form keeps what was typed
    assert segments.list_segments(acme.workspace.id) == []

    created = web.post(
        "/segments",
        data={
            "csrf_token": csrf,
            "name": "Trials or VIPs",
            "kind": "rule",
            "rule": (
                "any:\n"
                "  - {type: field, field: plan, op: eq, value: trial}\n"
                "  - {type: tag, tag: vip}\n"
            ),
        },
    )
    assert created.status_code == 302
    segment_url = created.headers["Location"]
    listing = web.get("/segments").text
    assert "Trials or VIPs" in listing and '<td class="num">2</td>' in listing
    page = web.get(segment_url).text
    assert "ada@example.com" in page and "bob@example.com" in page and "2 member(s)" in page

    added = web.post(
        f"{segment_url}/enroll",
        data={"csrf_token": csrf, "sequence_id": str(acme.sequence_id)},
    )
    assert "Enrolled 2 contact(s) in “New User Onboarding”" in added.text
    again = web.post(
        f"{segment_url}/enroll", data={"csrf_token": csrf, "sequence_id": str(acme.sequence_id)}
    )
    assert "skipped 2" in again.text and "2 skipped: already enrolled (active)" in again.text
    reasons = set(enrolled_emails(acme.sequence_id).values())
    assert reasons == {f"added by {USER} (segment 'Trials or VIPs')"}


def test_segment_rename_and_delete(web, acme):
    one = segments.create_segment(acme.workspace, "One", "static", None, NOW)
    segments.create_segment(acme.workspace, "Two", "static", None, NOW)
    csrf = web.csrf_token("/segments")
    clash = web.post(f"/segments/{one.id}/rename", data={"csrf_token": csrf, "name": "Two"})
    assert clash.status_code == 422 and "already a segment named" in clash.text
    assert (
        web.post(f"/segments/{one.id}/rename", data={"csrf_token": csrf, "name": "Uno"}).status_code
        == 302
    )
    assert web.post(f"/segments/{one.id}/delete", data={"csrf_token": csrf}).status_code == 302
    assert [s.name for s, _ in segments.list_segments(acme.workspace.id)] == ["Two"]


# --- Import ------------------------------------------------------------------------------------


def test_upload_then_progress_until_done(web, acme):
    csrf = web.csrf_token("/contacts/import")
    text = "email,first_name,plan\nnew@example.com,New,trial\nbroken,Bad,\nada@example.com,,pro\n"
    response = web.post(
        "/contacts/import",
        data={"csrf_token": csrf, "file": (io.BytesIO(text.encode()), "people.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    progress_url = response.headers["Location"]

    page = web.get(progress_url)
    assert (
        'hx-trigger="every 1s"' in page.text
        and '<progress id="import-bar" max="3" value="0">' in page.text
    )
    assert "Waiting to start" in page.text

    assert contact_import.process_pending(NOW) == 3
    fragment = web.get(progress_url, headers={"HX-Request": "true"})
    assert "HX-Request" in fragment.headers["Vary"] and "<html" not in fragment.text
    assert '<progress id="import-bar" max="3" value="3">' in fragment.text
    assert "hx-trigger" not in fragment.text  # polling stops once done
    assert "Import finished" in fragment.text
    assert re.search(r"Created</th><td class=\"num\">1<", fragment.text)
    assert re.search(r"Updated</th><td class=\"num\">1<", fragment.text)
    assert (
        '<td class="num">3</td><td>email</td><td>&#39;broken&#39; is not an email address: '
        in fragment.text
    )
    assert "people.csv" in web.get("/contacts/import").text


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"name,plan\nAda,x\n", "needs an &#39;email&#39; column"),
        (b"email\n\xff\xfe\n", "not UTF-8"),
    ],
)
def test_a_bad_upload_is_refused_inline(web, content, words):
    csrf = web.csrf_token("/contacts/import")
    response = web.post(
        "/contacts/import",
        data={"csrf_token": csrf, "file": (io.BytesIO(content), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and words in response.text
    assert db.session.scalars(select(ContactImport)).all() == []


# --- CSRF and isolation --------------------------------------------------------------------------


def test_forms_need_the_csrf_token(web, acme):
    bob = acme.ids["bob@example.com"]
    for path, data in [
        ("/contacts/enroll", {"sequence_id": str(acme.sequence_id), "contact_id": str(bob)}),
        (f"/contacts/{bob}/enroll", {"sequence_id": str(acme.sequence_id)}),
        ("/segments", {"name": "X", "kind": "static"}),
    ]:
        assert web.post(path, data=data).status_code == 400
    assert enrolled_emails(acme.sequence_id) == {}
    assert segments.list_segments(acme.workspace.id) == []


def test_another_workspaces_ids_are_not_found(app, web, acme):
    other = make_workspace("Other", "someone@other.test", [{"email": "eve@other.test"}])
    eve = other.ids["eve@other.test"]
    their_segment = segments.create_segment(other.workspace, "Theirs", "static", None, NOW)
    their_import = contact_import.start_import(other.workspace, "t.csv", "email\na@b.co\n", None)
    ours = acme.ids["ada@example.com"]
    csrf = web.csrf_token("/contacts")

    assert web.get(f"/contacts/{eve}").status_code == 404
    assert web.get(f"/segments/{their_segment.id}").status_code == 404
    assert web.get(f"/contacts/import/{their_import.id}").status_code == 404
    assert "eve@other.test" not in web.get("/contacts?q=eve").text
    assert "Theirs" not in web.get("/segments").text
    mine, theirs = str(acme.sequence_id), str(other.sequence_id)
    posts = [
        ("/contacts/enroll", {"sequence_id": mine, "contact_id": [str(ours), str(eve)]}),
        ("/contacts/enroll", {"sequence_id": theirs, "contact_id": str(ours)}),
        (f"/contacts/{ours}/enroll", {"sequence_id": theirs}),
        (
            "/contacts/add-to-segment",
            {"segment_id": str(their_segment.id), "contact_id": str(ours)},
        ),
        (f"/segments/{their_segment.id}/enroll", {"sequence_id": mine}),
        (f"/segments/{their_segment.id}/delete", {}),
    ]
    for path, data in posts:
        assert web.post(path, data={"csrf_token": csrf, **data}).status_code == 404, path
    assert enrolled_emails(acme.sequence_id) == {} and enrolled_emails(other.sequence_id) == {}
    assert [s.name for s, _ in segments.list_segments(other.workspace.id)] == ["Theirs"]
