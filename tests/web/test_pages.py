"""The server-rendered pages: sign-in, CSRF, workspace isolation, outbox, escaping.

Runs on SQLite and PostgreSQL (the `app` fixture). Every request runs in its own app context,
as in production: the `app` fixture keeps one pushed, and without a fresh one per request
Flask-Login's cached `g._login_user` (and Flask-WTF's `g.csrf_token`) would leak from one
request, or one client, to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import ContactSequence, OutboundMessage, Sequence, Workspace
from app.services import accounts, contacts, enrollment, sequences
from tests.helpers import onboarding_definition, tick
from tests.web.client import CSRF_INPUT, Web

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"


class _Cells(HTMLParser):
    """The text of every <td> of every <tbody> row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(html)
    return parser.rows


@dataclass
class Seeded:
    workspace: Workspace
    email: str
    sequence: Sequence
    draft: Sequence
    contact_emails: list[str]


def seed_workspace(
    name: str,
    user_email: str,
    *,
    sequence_name: str = "New User Onboarding",
    people: tuple[dict[str, str], ...] = (),
    subject: str | None = None,
) -> Seeded:
    """A workspace with a user, an active sequence its people are enrolled in, and a draft."""
    workspace = accounts.create_workspace(name)
    accounts.create_user(user_email, workspace, PASSWORD)
    definition = onboarding_definition()
    definition["name"] = sequence_name
    if subject is not None:
        definition["steps"][0]["config"]["subject"] = subject
    active = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(active, "activate", NOW)
    draft_definition = onboarding_definition()
    draft_definition["name"] = f"{name} draft"
    draft = sequences.create_sequence(workspace, sequences.parse_input(draft_definition))
    enrolled = [contacts.upsert_contact(workspace, dict(person))[0] for person in people]
    result = enrollment.enroll_contacts(active, enrolled, NOW)
    assert len(result.enrolled) == len(people), result.skipped
    return Seeded(workspace, user_email, active, draft, [c.email for c in enrolled])


def people(domain: str, count: int = 2) -> tuple[dict[str, str], ...]:
    return tuple({"email": f"p{i}@{domain}", "first_name": f"P{i}"} for i in range(count))


def signed_in(app: Flask, seeded: Seeded) -> Web:
    web = Web(app)
    response = web.sign_in(seeded.email, PASSWORD)
    assert response.status_code == 302, response.text
    return web


def assert_redirects_to_sign_in(response: TestResponse, wanted_next: str) -> None:
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["next"] == [wanted_next]


# --- sign-in ------------------------------------------------------------------------------------


def test_the_right_password_leads_to_the_workspaces_sequences(app):
    seeded = seed_workspace("Acme", "marketer@acme.test", people=people("acme.test", 2))
    web = Web(app)

    response = web.sign_in("Marketer@Acme.test", PASSWORD)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sequences"
    page = web.get("/sequences")
    assert page.status_code == 200
    rows = table_rows(page.text)
    assert len(rows) == 2
    onboarding = next(r for r in rows if r[0].startswith("New User Onboarding Welcome new"))
    draft = next(r for r in rows if r[0].startswith("Acme draft Welcome new"))
    # name (and description), status, trigger, active enrollments, version, updated
    assert onboarding[1] == "active" and onboarding[3] == "2"
    assert draft[1] == "draft" and draft[3] == "0"
    assert "marketer@acme.test" in page.text  # the header says who is signed in
    assert seeded.sequence.name in page.text


def test_a_wrong_password_is_refused_with_an_inline_error(app):
    seed_workspace("Acme", "marketer@acme.test")
    web = Web(app)

    response = web.sign_in("marketer@acme.test", "not-the-password")

    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert "That email and password do not match an account." in response.text
    assert 'value="marketer@acme.test"' in response.text  # the email is kept for a retry
    assert_redirects_to_sign_in(web.get("/sequences"), "/sequences")


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(app):
    seed_workspace("Acme", "marketer@acme.test")
    response = Web(app).sign_in("nobody@acme.test", PASSWORD)
    assert response.status_code == 401
    assert "That email and password do not match an account." in response.text


@pytest.mark.parametrize("path", ["/sequences", "/enrollments", "/outbox"])
def test_pages_need_sign_in_and_sign_in_returns_there(app, path):
    seeded = seed_workspace("Acme", "marketer@acme.test")
    web = Web(app)

    assert_redirects_to_sign_in(web.get(path), path)
    assert web.get("/").status_code == 302

    response = web.sign_in(seeded.email, PASSWORD, next_path=path)
    assert response.status_code == 302
    assert response.headers["Location"] == path
    assert web.get(path).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "///evil.example/phish",
        "/\t/evil.example/phish",  # browsers drop tabs: this would be //evil.example
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_only_goes_to_same_site_paths(app, target):
    seeded = seed_workspace("Acme", "marketer@acme.test")
    response = Web(app).sign_in(seeded.email, PASSWORD, next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sequences"


def test_a_backslash_next_cannot_become_another_host(app):
    """Browsers read `/\\evil.example` as `//evil.example`; the Location must not allow that."""
    seeded = seed_workspace("Acme", "marketer@acme.test")
    response = Web(app).sign_in(seeded.email, PASSWORD, next_path="/\\evil.example/phish")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and location[1:2] not in ("/", "\\"), location
    assert "\\" not in location and not urlsplit(location).netloc


def test_a_signed_in_user_visiting_sign_in_goes_to_sequences(app):
    web = signed_in(app, seed_workspace("Acme", "marketer@acme.test"))
    response = web.get("/sign-in")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sequences"


# --- CSRF ---------------------------------------------------------------------------------------


def test_sign_in_without_a_csrf_token_is_refused(app):
    seeded = seed_workspace("Acme", "marketer@acme.test")
    web = Web(app)
    web.get("/sign-in")  # a session exists, but the form's token is not sent

    response = web.post("/sign-in", data={"email": seeded.email, "password": PASSWORD})

    assert response.status_code == 400
    assert_redirects_to_sign_in(web.get("/sequences"), "/sequences")


def test_sign_in_with_a_forged_csrf_token_is_refused(app):
    seeded = seed_workspace("Acme", "marketer@acme.test")
    web = Web(app)
    web.get("/sign-in")
    data = {"csrf_token": "forged", "email": seeded.email, "password": PASSWORD}
    assert web.post("/sign-in", data=data).status_code == 400
    assert_redirects_to_sign_in(web.get("/sequences"), "/sequences")


def test_sign_out_needs_the_csrf_token_from_the_page(app):
    web = signed_in(app, seed_workspace("Acme", "marketer@acme.test"))
    page = web.get("/sequences")
    assert 'action="/sign-out"' in page.text
    token = CSRF_INPUT.search(page.text)
    assert token is not None, "the sign-out form carries a CSRF token"

    assert web.post("/sign-out").status_code == 400
    assert web.get("/sequences").status_code == 200, "a refused sign-out leaves the user in"

    response = web.post("/sign-out", data={"csrf_token": token.group(1)})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert_redirects_to_sign_in(web.get("/sequences"), "/sequences")


def test_sign_out_is_post_only(app):
    web = signed_in(app, seed_workspace("Acme", "marketer@acme.test"))
    assert web.get("/sign-out").status_code == 405
    assert web.get("/sequences").status_code == 200


# --- what a user sees ---------------------------------------------------------------------------


def test_each_user_sees_only_their_own_workspace(app):
    acme = seed_workspace(
        "Acme", "a@acme.test", sequence_name="Acme Welcome", people=people("acme.test")
    )
    globex = seed_workspace(
        "Globex", "g@globex.test", sequence_name="Globex Nurture", people=people("globex.test")
    )
    tick(app, NOW)
    views = {seeded.workspace.name: (seeded, signed_in(app, seeded)) for seeded in (acme, globex)}

    for name, (mine, web) in views.items():
        theirs = globex if name == "Acme" else acme
        seqs = web.get("/sequences").text
        assert mine.sequence.name in seqs and mine.draft.name in seqs
        assert theirs.sequence.name not in seqs and theirs.draft.name not in seqs

        enrolled = web.get("/enrollments").text
        outbox = web.get("/outbox").text
        assert {row[0] for row in table_rows(enrolled)} == set(mine.contact_emails)
        for email in mine.contact_emails:
            assert email in enrolled and email in outbox
        for email in theirs.contact_emails:
            assert email not in enrolled and email not in outbox
        assert theirs.sequence.name not in enrolled and theirs.sequence.name not in outbox
        assert {row[0] for row in table_rows(outbox)} == set(mine.contact_emails)


def test_enrollments_page_lists_contacts_sequence_status_and_step(app):
    seeded = seed_workspace("Acme", "a@acme.test", people=people("acme.test", 1))
    rows = table_rows(signed_in(app, seeded).get("/enrollments").text)
    assert len(rows) == 1
    contact, sequence_name, status, step = rows[0][:4]
    assert (contact, sequence_name, status) == ("p0@acme.test", "New User Onboarding", "active")
    assert step == "Welcome & Getting Started"


def test_outbox_shows_a_captured_message_after_a_tick(app):
    seeded = seed_workspace("Acme", "a@acme.test", people=people("acme.test", 1))
    web = signed_in(app, seeded)
    assert "No emails yet." in web.get("/outbox").text

    output = tick(app, NOW)
    assert "captured 1" in output

    page = web.get("/outbox").text
    assert "Welcome to PenguinMails!" in page
    rows = table_rows(page)
    assert len(rows) == 1
    to, subject, where, status = rows[0][:4]
    assert to == "p0@acme.test"
    assert subject == "Welcome to PenguinMails!"  # the body is on the message's own page
    assert where == "New User Onboarding · Welcome & Getting Started"
    assert status == "captured"


def test_names_with_markup_are_escaped_on_every_page(app):
    evil_sequence = "<script>alert('seq')</script> Onboarding"
    evil_name = "<script>alert('name')</script>"
    seeded = seed_workspace(
        "Acme",
        "a@acme.test",
        sequence_name=evil_sequence,
        people=({"email": "mallory@acme.test", "first_name": evil_name},),
        subject="Hello {{ contact.first_name }}",
    )
    tick(app, NOW)
    web = signed_in(app, seeded)

    pages = {path: web.get(path).text for path in ("/sequences", "/enrollments", "/outbox")}

    for path, html in pages.items():
        assert "<script>alert" not in html.lower(), path  # the page's own htmx script aside
        assert "&lt;script&gt;alert(" in html, path
    assert "&lt;script&gt;alert(&#39;seq&#39;)&lt;/script&gt; Onboarding" in pages["/sequences"]
    # the contact's name reached the outbox through the rendered subject and text
    assert "Hello &lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in pages["/outbox"]
    subjects = [row[1] for row in table_rows(pages["/outbox"])]
    assert subjects and subjects[0].startswith("Hello <script>alert('name')</script>")


def test_the_outbox_filters_by_status_with_a_count_of_each(app):
    seeded = seed_workspace("Acme", "a@acme.test", people=people("acme.test", 2))
    web = signed_in(app, seeded)
    tick(app, NOW)
    failed = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.to_email)).first()
    failed.status, failed.last_error = "failed", "550 5.1.1 No such user"
    db.session.commit()

    page = web.get("/outbox").text
    assert "All (2)" in page and "Captured (1)" in page and "Failed (1)" in page
    only_failed = web.get("/outbox?status=failed").text
    assert [row[0] for row in table_rows(only_failed)] == ["p0@acme.test"]
    assert "550 5.1.1 No such user" in only_failed
    assert "No sent emails." in web.get("/outbox?status=sent").text
    assert web.get("/outbox?status=nonsense").status_code == 400


def test_the_contact_page_shows_why_an_enrollment_failed(app):
    seeded = seed_workspace("Acme", "a@acme.test", people=people("acme.test", 1))
    web = signed_in(app, seeded)
    run = db.session.scalars(select(ContactSequence)).one()
    run.status, run.exit_reason = "failed", "email 'Welcome' could not be sent: 550 5.1.1"
    db.session.commit()
    page = web.get(f"/contacts/{run.contact_id}").text
    assert "failed" in page and "email &#39;Welcome&#39; could not be sent: 550 5.1.1" in page


def test_the_settings_page_saves_a_frequency_cap_and_refuses_a_bad_one_by_field(app):
    seeded = seed_workspace("Acme", "a@acme.test")
    web = signed_in(app, seeded)
    token = web.csrf_token("/settings")
    form = {"csrf_token": token, "per_day": "2", "per_week": ""}
    saved = web.post("/settings/frequency-cap", data=form)
    assert saved.status_code == 302
    assert db.session.get(Workspace, seeded.workspace.id).frequency_cap == {"per_day": 2}
    refused = web.post("/settings/frequency-cap", data={**form, "per_week": "5000"})
    assert refused.status_code == 422
    assert "frequency_cap.per_week must be a whole number from 1 to 1000" in refused.text
    db.session.expire_all()
    assert db.session.get(Workspace, seeded.workspace.id).frequency_cap == {"per_day": 2}
