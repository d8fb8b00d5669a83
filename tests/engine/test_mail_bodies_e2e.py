"""What the recipient gets, sent by `tick` to a real SMTP server: the open pixel only when
the sequence tracks opens (on by default, off in the Cold Outreach template), a step can be
plain text only (no HTML part, so no pixel), every email carries List-Id, and the derived
plain-text part reads as text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage
from app.services import accounts, contacts, enrollment, sequences
from tests.helpers import tick

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
GALLERY = Path(__file__).resolve().parents[2] / "app" / "gallery"
BODY = (
    '<p>Hi {{ contact.first_name }},</p><p>Our guide: <a href="https://example.com/guide">'
    "read it here</a> &amp; tell me what you think.</p>"
)


def send(app, settings: dict[str, Any], config: dict[str, Any] | None = None):
    workspace = accounts.create_workspace("Acme")
    definition = {
        "name": "Welcome",
        "settings": {"timezone": "UTC", **settings},
        "steps": [
            {
                "id": "hello",
                "type": "email",
                "config": {"subject": "Welcome", "body": BODY, **(config or {})},
            }
        ],
        "connections": [],
    }
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", NOW)
    person = {"email": "ana@example.com", "first_name": "Ana"}
    contact = contacts.upsert_contact(workspace, person)[0]
    assert enrollment.enroll_contacts(sequence, [contact], NOW).enrolled
    tick(app, NOW)
    return sequence


def test_open_tracking_is_on_by_default(app, smtp_sink):
    send(app, {})
    [message] = smtp_sink.messages
    html = message.get_body(("html",)).get_content()
    assert "/t/o/" in html and "/t/c/" in html


def test_a_sequence_without_open_tracking_sends_no_pixel_but_still_tracks_clicks(app, smtp_sink):
    send(app, {"open_tracking": False})
    [message] = smtp_sink.messages
    html = message.get_body(("html",)).get_content()
    assert "/t/o/" not in html and "<img" not in html
    assert "/t/c/" in html
    assert "/t/o/" not in db.session.scalar(select(OutboundMessage.html))


def test_a_plain_text_only_step_sends_text_alone_with_readable_links(app, smtp_sink):
    sequence = send(app, {}, {"plain_text_only": True})
    [message] = smtp_sink.messages
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    text = message.get_content()
    assert "Our guide: read it here (https://example.com/guide) & tell me" in text
    assert "Unsubscribe: http://pm.test/u/" in text
    assert "<" not in text.replace("<http", "") and "&amp;" not in text and "/t/o/" not in text
    assert str(sequence.id) in message["List-Id"]
    assert db.session.scalar(select(OutboundMessage.html)) == ""


def test_the_derived_text_part_of_an_html_email_reads_as_text(app, smtp_sink):
    sequence = send(app, {})
    [message] = smtp_sink.messages
    lines = message.get_body(("plain",)).get_content().splitlines()
    assert lines[:3] == [
        "Hi Ana,",
        "",
        "Our guide: read it here (https://example.com/guide) & tell me what you think.",
    ]
    assert not any("<" in line or "&amp;" in line for line in lines)
    assert message["List-Id"] == f'"Welcome" <{sequence.id}.pm.test>'


def test_the_cold_outreach_template_does_not_track_opens():
    text = (GALLERY / "cold_outreach.yaml").read_text(encoding="utf-8")
    assert sequences.parse_input(text).settings.open_tracking is False
