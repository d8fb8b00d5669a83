"""The seed's demo branch end to end: real SMTP, a real click on the tracked link that
arrived, the clicker fast-tracked to sales, the other nurtured; replies and unsubscribes."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence, OutboundMessage, Workspace
from app.services import contacts, enrollment, sequences
from app.services.scheduling import run_dispatcher, run_processor
from app.services.suppression import suppress
from tests.helpers import tick

pytestmark = pytest.mark.local_time  # waits and the click's lookback

DEMO_BRANCH = {
    "format": "sequence/v1",
    "name": "Demo fast-track",
    "trigger": {"type": "manual"},
    "exit": {"on_reply": True},
    "steps": [
        {
            "id": "step_1",
            "type": "email",
            "name": "Product Intro",
            "config": {
                "subject": "Meet the product",
                "body": '<p>Hi {{ contact.first_name }}, <a href="https://example.com/book-demo">'
                'Book a demo</a> or read <a href="https://example.com/docs">the docs</a>.</p>',
            },
        },
        {"id": "wait_3d", "type": "delay", "config": {"duration": "3 days"}},
        {
            "id": "clicked",
            "type": "branch",
            "config": {
                "type": "branch",
                "condition": {
                    "type": "email_event",
                    "email_step_id": "step_1",
                    "event": "clicked_link",
                    "link_url_contains": "/book-demo",
                    "lookback_window": "3 days",
                },
            },
        },
        {"id": "tag", "type": "action", "config": {"action": "add_tag", "tag": "High Intent"}},
        {
            "id": "step_2a_sales",
            "type": "email",
            "name": "Calendar Link",
            "config": {"subject": "Pick a time", "body": "<p>Here is my calendar.</p>"},
        },
        {
            "id": "step_2b_nurture",
            "type": "email",
            "name": "Case Study",
            "config": {"subject": "How Acme did it", "body": "<p>A case study.</p>"},
        },
    ],
    "connections": [
        {"source": "step_1", "target": "wait_3d"},
        {"source": "wait_3d", "target": "clicked"},
        {"source": "clicked", "target": "tag", "label": "true"},
        {"source": "tag", "target": "step_2a_sales"},
        {"source": "clicked", "target": "step_2b_nurture", "label": "false"},
    ],
}


def start(api, definition: dict[str, Any], people: list[str], at: datetime):
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", at)
    found = [
        contacts.upsert_contact(workspace, {"email": person, "first_name": person[0].upper()})[0]
        for person in people
    ]
    enrollment.enroll_contacts(sequence, found, at)
    return sequence


def inbox(sink) -> dict[str, list[EmailMessage]]:
    got: dict[str, list[EmailMessage]] = {}
    for message in sink.messages:
        got.setdefault(message["To"].addresses[0].addr_spec, []).append(message)
    return got


def subjects(sink) -> dict[str, list[str]]:
    return {who: [str(m["Subject"]) for m in got] for who, got in inbox(sink).items()}


def tracked_link(message: EmailMessage, text: str) -> str:
    html = message.get_body(("html",)).get_content()
    found = re.search(rf'<a href="([^"]+)"[^>]*>{re.escape(text)}</a>', html)
    assert found, f"no link {text!r} in {html}"
    return found.group(1)


def test_the_clicker_is_fast_tracked_and_the_other_is_nurtured(app, api, smtp_sink):
    sent = datetime.now(UTC) - timedelta(minutes=1)  # clicks happen on the real clock
    start(api, DEMO_BRANCH, ["ann@x.test", "bob@x.test"], sent)
    tick(app, sent)
    assert subjects(smtp_sink) == {
        "ann@x.test": ["Meet the product"],
        "bob@x.test": ["Meet the product"],
    }

    link = tracked_link(inbox(smtp_sink)["ann@x.test"][0], "Book a demo")
    assert "/t/c/" in link and "example.com" not in link
    client = app.test_client()
    response = client.get(urlsplit(link).path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux)"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/book-demo"

    tick(app, sent + timedelta(days=3))
    assert subjects(smtp_sink) == {
        "ann@x.test": ["Meet the product", "Pick a time"],
        "bob@x.test": ["Meet the product", "How Acme did it"],
    }
    ann = db.session.scalar(select(Contact).where(Contact.email == "ann@x.test"))
    db.session.refresh(ann)
    assert "High Intent" in ann.tags
    click = db.session.scalar(select(ContactEvent).where(ContactEvent.type == "clicked_link"))
    assert click.properties["email_step_id"] == "step_1" and click.enrollment_id is not None


def reply_to(original: EmailMessage, subject: str, **headers: str) -> bytes:
    reply = EmailMessage()
    reply["From"] = original["To"]
    reply["To"] = original["From"]
    reply["Subject"] = subject
    reply["Message-ID"] = f"<{uuid.uuid4().hex}@customer.test>"
    reply["In-Reply-To"] = original["Message-ID"]
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    reply.set_content("Thanks, sounds good.")
    return bytes(reply)


def test_a_reply_ends_the_enrollment_and_an_out_of_office_does_not(app, api, smtp_sink):
    sent = datetime.now(UTC) - timedelta(minutes=1)
    start(api, DEMO_BRANCH, ["ooo@x.test", "fan@x.test"], sent)
    tick(app, sent)
    mail = inbox(smtp_sink)
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "message/rfc822"}

    away = reply_to(mail["ooo@x.test"][0], "Automatic reply: Meet the product",
                    Auto_Submitted="auto-replied")  # fmt: skip
    answer = api.client.post("/api/inbound/email", data=away, headers=headers)
    assert answer.status_code == 202 and answer.json["event"] == "auto_reply"
    real = reply_to(mail["fan@x.test"][0], "Re: Meet the product")
    answer = api.client.post("/api/inbound/email", data=real, headers=headers)
    assert answer.status_code == 202 and answer.json["event"] == "replied"

    states = {
        email: status
        for email, status in db.session.execute(
            select(Contact.email, ContactSequence.status).join(
                ContactSequence, ContactSequence.contact_id == Contact.id
            )
        )
    }
    assert states == {"ooo@x.test": "active", "fan@x.test": "exited"}
    tick(app, sent + timedelta(days=3))
    assert [str(m["Subject"]) for m in inbox(smtp_sink)["fan@x.test"]] == ["Meet the product"]
    assert len(inbox(smtp_sink)["ooo@x.test"]) == 2


TWO_EMAILS = {
    "format": "sequence/v1",
    "name": "Two in a row",
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "one", "type": "email", "config": {"subject": "One", "body": "<p>1</p>"}},
        {"id": "wait", "type": "delay", "config": {"duration": "1 hour"}},
        {"id": "two", "type": "email", "config": {"subject": "Two", "body": "<p>2</p>"}},
    ],
    "connections": [{"source": "one", "target": "wait"}, {"source": "wait", "target": "two"}],
}


def test_a_one_click_unsubscribe_stops_an_email_already_queued(app, api, smtp_sink):
    t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    start(api, TWO_EMAILS, ["leaver@x.test"], t0)
    tick(app, t0)
    first = inbox(smtp_sink)["leaver@x.test"][0]
    one_click = re.search(r"<([^>]+)>", str(first["List-Unsubscribe"])).group(1)
    assert f'<a href="{one_click}">Unsubscribe</a>' in first.get_body(("html",)).get_content()

    run_processor(t0 + timedelta(hours=1))  # email two is queued, not yet sent
    queued = db.session.scalar(select(OutboundMessage).where(OutboundMessage.status == "queued"))
    assert queued is not None
    response = app.test_client().post(
        urlsplit(one_click).path, data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    run_dispatcher(t0 + timedelta(hours=1, minutes=1))

    assert [str(m["Subject"]) for m in smtp_sink.messages] == ["One"]
    db.session.refresh(queued)
    assert queued.status == "skipped"
    state = db.session.scalar(select(ContactSequence))
    db.session.refresh(state)
    assert state.status == "exited" and state.exit_reason == "unsubscribed"


def test_a_bounced_address_is_skipped_at_send_time_even_if_queued_before(app, api, smtp_sink):
    t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    start(api, TWO_EMAILS, ["gone@x.test", "here@x.test"], t0)
    tick(app, t0)
    run_processor(t0 + timedelta(hours=1))  # both second emails queued
    suppress(api.workspace_id, "Gone@X.test", "bounced", t0 + timedelta(minutes=61))
    db.session.commit()

    stats = run_dispatcher(t0 + timedelta(hours=1, minutes=2))

    assert stats.sent == 1
    assert subjects(smtp_sink) == {"gone@x.test": ["One"], "here@x.test": ["One", "Two"]}
    skipped = db.session.scalar(select(OutboundMessage).where(OutboundMessage.status == "skipped"))
    assert skipped.to_email == "gone@x.test"
    assert skipped.last_error == "address suppressed: bounced"
    reasons = dict(
        db.session.execute(
            select(Contact.email, ContactSequence.exit_reason).join(
                ContactSequence, ContactSequence.contact_id == Contact.id
            )
        ).all()
    )
    assert reasons == {"gone@x.test": "bounced", "here@x.test": None}
