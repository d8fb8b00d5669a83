"""The List-Unsubscribe link of a real sent message: GET confirms, POST (one-click) unsubscribes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    OutboundMessage,
    Sequence,
    Suppression,
)
from app.services.suppression import suppressed_emails
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import tick

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def request(app: Flask, method: str, path: str, **kwargs: Any) -> TestResponse:
    """As a mail client would: a new client (no cookies), its own app context."""
    with app.app_context():
        return app.test_client().open(path, method=method, **kwargs)


def first_send(app, api, smtp_sink) -> tuple[str, Contact, Any]:
    """Start the onboarding, send the first emails, return (unsubscribe path, contact, t0)."""
    _, t0 = start_onboarding(api)
    tick(app, t0)
    message = smtp_sink.wait_for(3)[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = re.search(r"<(https?://[^>]+)>", message["List-Unsubscribe"])
    assert found, message["List-Unsubscribe"]
    url = urlsplit(found.group(1))
    assert url.netloc == "pm.test" and url.path.startswith("/u/")
    contact = db.session.scalar(
        select(Contact).where(Contact.email == message["To"].addresses[0].addr_spec)
    )
    assert contact is not None and contact.unsubscribed_at is None
    return url.path, contact, t0


def unsubscribe_events(contact: Contact) -> list[ContactEvent]:
    return list(
        db.session.scalars(
            select(ContactEvent).where(
                ContactEvent.contact_id == contact.id, ContactEvent.type == "unsubscribed"
            )
        )
    )


def test_get_shows_a_confirmation_and_changes_nothing(app, api, smtp_sink):
    path, contact, _ = first_send(app, api, smtp_sink)

    page = request(app, "GET", path)

    assert page.status_code == 200
    assert "Unsubscribe?" in page.text and '<form method="post">' in page.text
    db.session.expire_all()
    assert db.session.get_one(Contact, contact.id).unsubscribed_at is None
    assert unsubscribe_events(contact) == []


def test_one_click_post_without_cookies_unsubscribes_once(app, api, smtp_sink):
    path, contact, _ = first_send(app, api, smtp_sink)

    response = request(app, "POST", path, data=ONE_CLICK)

    assert response.status_code == 200  # RFC 8058: no redirect, no CSRF token, no cookies
    assert "You are unsubscribed" in response.text
    db.session.expire_all()
    unsubscribed_at = db.session.get_one(Contact, contact.id).unsubscribed_at
    assert unsubscribed_at is not None
    events = unsubscribe_events(contact)
    assert len(events) == 1
    assert events[0].properties == {"method": "one_click"}
    assert events[0].message_id is not None

    again = request(app, "POST", path, data=ONE_CLICK)
    assert again.status_code == 200
    db.session.expire_all()
    assert len(unsubscribe_events(contact)) == 1
    assert db.session.get_one(Contact, contact.id).unsubscribed_at == unsubscribed_at


def test_the_confirmation_form_post_unsubscribes_too(app, api, smtp_sink):
    path, contact, _ = first_send(app, api, smtp_sink)
    response = request(app, "POST", path)  # the page's own button: an empty form
    assert response.status_code == 200
    db.session.expire_all()
    assert [e.properties for e in unsubscribe_events(contact)] == [{"method": "link"}]


def test_a_tampered_token_is_not_found(app, api, smtp_sink):
    path, contact, _ = first_send(app, api, smtp_sink)
    token = path.removeprefix("/u/")
    # change a character inside the signature (the last one may only carry padding bits)
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    for bad in (f"/u/{flipped}", f"/u/x{token}", "/u/not-a-token"):
        assert request(app, "GET", bad).status_code == 404, bad
        assert request(app, "POST", bad, data=ONE_CLICK).status_code == 404, bad
    db.session.expire_all()
    assert db.session.get_one(Contact, contact.id).unsubscribed_at is None
    assert unsubscribe_events(contact) == []


def test_after_unsubscribing_the_enrollment_has_ended_and_nothing_more_is_sent(app, api, smtp_sink):
    path, contact, t0 = first_send(app, api, smtp_sink)
    assert request(app, "POST", path, data=ONE_CLICK).status_code == 200

    tick(app, t0 + timedelta(days=2))

    received = smtp_sink.wait_for(5)
    assert [str(m["To"].addresses[0].addr_spec) for m in received].count(contact.email) == 1
    assert len(received) == 5, "the other two contacts still get email 2"
    db.session.expire_all()
    sent = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.contact_id == contact.id)
    ).all()
    assert [m.status for m in sent] == ["sent"], "an exited enrollment queues nothing more"


def enrollments_of(contact: Contact) -> list[ContactSequence]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(ContactSequence).where(ContactSequence.contact_id == contact.id))
    )


def test_unsubscribing_suppresses_the_address_and_exits_the_enrollments(app, api, smtp_sink):
    path, contact, _ = first_send(app, api, smtp_sink)
    others = [
        e.id
        for e in db.session.scalars(
            select(ContactSequence).where(ContactSequence.contact_id != contact.id)
        )
    ]

    assert request(app, "GET", path).status_code == 200
    assert suppressed_emails(contact.workspace_id, [contact.email]) == {}
    assert [e.status for e in enrollments_of(contact)] == ["active"]

    assert request(app, "POST", path, data=ONE_CLICK).status_code == 200

    assert suppressed_emails(contact.workspace_id, [contact.email]) == {
        contact.email: "unsubscribed"
    }
    [enrollment] = enrollments_of(contact)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unsubscribed")
    assert enrollment.finished_at is not None and enrollment.next_execution_at is None
    assert {db.session.get_one(ContactSequence, i).status for i in others} == {"active"}

    assert request(app, "POST", path).status_code == 200  # again: still one row
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_the_page_speaks_for_the_sender_not_the_product(app, api, smtp_sink):
    path, _, _ = first_send(app, api, smtp_sink)
    message = db.session.scalars(select(OutboundMessage)).first()
    sequence = db.session.get_one(Sequence, message.sequence_id)
    sequence.settings = {**sequence.settings, "from_name": "Acme Growth"}
    db.session.commit()

    page = request(app, "GET", path)

    assert page.status_code == 200
    assert "Acme Growth" in page.text
    assert "PenguinMails <span>Sequences</span>" not in page.text
    done = request(app, "POST", path, data=ONE_CLICK)
    assert "emails from Acme Growth" in done.text
