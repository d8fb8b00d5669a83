"""The form trigger's acceptance flow in Chromium: a visitor fills in the hosted form of an
active "Ebook Download" sequence, sees the thank-you message, and after the engine's tick
Email 1 arrives at a real SMTP server exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence
from app.services import accounts, forms
from tests.helpers import tick
from tests.services.test_forms import ebook_sequence
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.browser


@pytest.fixture
def sink(live_app: Flask) -> Iterator[SmtpSink]:
    for running in running_sink():
        live_app.config["SMTP_URL"] = running.url
        yield running


@pytest.fixture
def public_id(live_app: Flask) -> str:
    """The active sequence with its form trigger, and the hosted form it gets."""
    with live_app.app_context():
        workspace = accounts.create_workspace("Penguin Books")
        sequence = ebook_sequence(workspace, datetime.now(UTC))
        [form] = forms.ensure_forms_for_workspace(sequence.workspace_id)
        return form.public_id


def test_a_visitor_submits_the_hosted_form_and_gets_email_1_once(
    page: Page, live_server: str, live_app: Flask, public_id: str, sink: SmtpSink
):
    page.goto(f"{live_server}/f/{public_id}")
    expect(page.get_by_role("heading", name="Ebook Download")).to_be_visible()
    expect(page.locator("input[name=website]")).not_to_be_in_viewport()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("status")).to_have_text("Thank you! Check your inbox in a moment.")
    expect(page).to_have_url(f"{live_server}/f/{public_id}")

    now = datetime.now(UTC) + timedelta(seconds=5)
    tick(live_app, now)
    tick(live_app, now + timedelta(minutes=1))
    tick(live_app, now + timedelta(days=1))

    received = sink.wait_for(1)
    assert len(sink.messages) == 1
    assert str(received[0]["Subject"]) == "Here is your ebook"
    assert received[0]["To"].addresses[0].addr_spec == "ada@example.com"
    assert "Hi Ada, here it is." in received[0].get_body(("html",)).get_content()
    with live_app.app_context():
        contact = db.session.scalar(select(Contact))
        assert (contact.email, contact.first_name) == ("ada@example.com", "Ada")
        kinds = db.session.scalars(select(ContactEvent.type)).all()
        assert kinds.count("form_submitted") == 1
        assert db.session.scalar(select(func.count(ContactSequence.id))) == 1
        reason = db.session.scalar(select(ContactSequence.enroll_reason))
        assert "Ebook Download" in reason
