"""The contact page: its actions on the contact as a whole (unsubscribe by hand and allow
emails again, with the suppression list, enrollments and events following; delete and
erase behind a confirmation; CSRF and workspace isolation) and its readable timeline.

Runs on SQLite and PostgreSQL; every request in its own app context (see tests/web/client.py).
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence, OutboundMessage, Suppression
from app.services import contacts, enrollment, sequences
from app.services.contact_changes import record_events
from app.services.scheduling import run_tick
from app.services.suppression import suppress
from tests.web.client import Web
from tests.web.test_contacts_pages import NOW, PASSWORD, USER, Acme, make_workspace


@pytest.fixture
def acme(app: Flask) -> Acme:
    people = [{"email": "ada@example.com", "first_name": "Ada"}, {"email": "bob@example.com"}]
    return make_workspace("Acme", USER, people)


@pytest.fixture
def web(app: Flask, acme: Acme) -> Web:
    client = Web(app)
    assert client.sign_in(USER, PASSWORD).status_code == 302
    return client


def stored(contact_id) -> Contact | None:
    db.session.expire_all()
    return db.session.get(Contact, contact_id)


def events_of(contact_id) -> list[tuple[str, str, dict]]:
    rows = db.session.execute(
        select(ContactEvent.type, ContactEvent.source, ContactEvent.properties)
        .where(ContactEvent.contact_id == contact_id)
        .order_by(ContactEvent.id)
    )
    return [tuple(row) for row in rows]


def test_unsubscribe_by_hand_suppresses_and_ends_enrollments_then_allow_lifts_both(web, acme):
    ada = acme.ids["ada@example.com"]
    sequence = sequences.get_sequence(acme.workspace.id, acme.sequence_id)
    enrollment.enroll_contacts(sequence, [stored(ada)], NOW)
    page = web.get(f"/contacts/{ada}")
    assert f'action="/contacts/{ada}/unsubscribe"' in page.text and "Receiving emails" in page.text

    csrf = web.csrf_token(f"/contacts/{ada}")
    response = web.post(f"/contacts/{ada}/unsubscribe", data={"csrf_token": csrf})

    assert response.status_code == 302
    assert stored(ada).unsubscribed_at is not None
    listed = db.session.scalar(select(Suppression))
    assert (listed.email, listed.reason) == ("ada@example.com", "unsubscribed")
    run = db.session.scalar(select(ContactSequence))
    assert (run.status, run.exit_reason) == ("exited", "unsubscribed")
    by = USER
    assert events_of(ada) == [("unsubscribed", "ui", {"method": "manual", "by": by})]
    page = web.get(f"/contacts/{ada}")
    assert "on the suppression list (unsubscribed)" in page.text
    assert f'action="/contacts/{ada}/allow-email"' in page.text

    response = web.post(f"/contacts/{ada}/allow-email", data={"csrf_token": csrf})

    assert response.status_code == 302
    assert stored(ada).unsubscribed_at is None
    assert db.session.scalar(select(Suppression)) is None
    assert events_of(ada)[-1] == (
        "resubscribed",
        "ui",
        {"by": by, "suppressed_for": "unsubscribed"},
    )
    assert db.session.scalar(select(ContactSequence.status)) == "exited"  # not resumed
    assert "Receiving emails" in web.get(f"/contacts/{ada}").text


def test_a_bounced_address_is_shown_with_its_reason_and_can_be_allowed_again(web, acme):
    bob = acme.ids["bob@example.com"]
    suppress(acme.workspace.id, "BOB@example.com", "bounced", NOW, detail="550 no such user")
    db.session.commit()

    page = web.get(f"/contacts/{bob}")
    assert "on the suppression list (bounced: 550 no such user)" in page.text

    web.post(
        f"/contacts/{bob}/allow-email", data={"csrf_token": web.csrf_token(f"/contacts/{bob}")}
    )
    assert db.session.scalar(select(Suppression)) is None
    assert events_of(bob)[-1][2]["suppressed_for"] == "bounced"


def test_delete_and_erase_need_the_box_ticked_then_do_it(web, acme):
    ada, bob = acme.ids["ada@example.com"], acme.ids["bob@example.com"]
    csrf = web.csrf_token(f"/contacts/{ada}")
    for action in ("delete", "erase"):
        response = web.post(f"/contacts/{ada}/{action}", data={"csrf_token": csrf})
        assert response.status_code == 422
        assert 'id="removal-error"' in response.text and "Tick the box" in response.text
    assert stored(ada).first_name == "Ada"

    response = web.post(f"/contacts/{ada}/erase", data={"csrf_token": csrf, "confirmed": "yes"})
    assert response.status_code == 302
    erased = stored(ada)
    assert erased.email == f"erased-{ada.hex}@erased.invalid" and erased.first_name is None
    page = web.get(f"/contacts/{ada}")
    assert "Personal data erased" in page.text and "ada@example.com" not in page.text

    response = web.post(f"/contacts/{bob}/delete", data={"csrf_token": csrf, "confirmed": "yes"})
    assert response.status_code == 302 and response.headers["Location"] == "/contacts"
    assert stored(bob) is None
    assert "Deleted bob@example.com" in web.get("/contacts").text


def test_the_actions_need_csrf_and_the_workspaces_own_contact(web, acme):
    ada = acme.ids["ada@example.com"]
    other = make_workspace("Other", "someone@other.test", [{"email": "eve@other.test"}])
    eve = other.ids["eve@other.test"]
    csrf = web.csrf_token(f"/contacts/{ada}")
    for action in ("unsubscribe", "allow-email", "delete", "erase"):
        data = {"confirmed": "yes"}
        assert web.post(f"/contacts/{ada}/{action}", data=data).status_code == 400
        data["csrf_token"] = csrf
        assert web.post(f"/contacts/{eve}/{action}", data=data).status_code == 404
    assert stored(ada).unsubscribed_at is None and stored(ada).first_name == "Ada"
    assert stored(eve).email == "eve@other.test" and stored(eve).unsubscribed_at is None


def test_the_timeline_shows_emails_with_subject_and_status_and_events_as_sentences(web, acme):
    ada = acme.ids["ada@example.com"]
    sequence = sequences.get_sequence(acme.workspace.id, acme.sequence_id)
    enrollment.enroll_contacts(sequence, [stored(ada)], NOW)
    run_tick(NOW)
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.contact_id == ada))
    opened = ContactEvent.about_message(message, "opened", {"message_id": "<m>"}, NOW, "tracking")
    record_events([opened], NOW)
    contacts.patch_contact(stored(ada), {"fields": {"plan": "pro"}}, NOW, source="ui")

    page = web.get(f"/contacts/{ada}")

    timeline = page.text[page.text.index('id="contact-timeline"') :]
    assert 'Email “Welcome to PenguinMails!” <span class="badge badge-captured">' in timeline
    assert "Onboarding · Welcome &amp; Getting Started" in timeline
    assert "Opened “Welcome to PenguinMails!”" in timeline
    assert "Set plan to “pro”" in timeline and "via ui" in timeline
    assert "{&#34;" not in timeline and '{"' not in timeline  # no raw JSON
