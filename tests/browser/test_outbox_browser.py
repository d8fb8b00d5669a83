"""The outbox in a real browser: filter with the form, open a message, read its body in the
sandboxed frame without the browser fetching the open pixel or a tracked link, and cancel
a queued one."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage
from app.services import accounts, contacts, enrollment, sequences
from app.services.dispatcher import dispatch_due
from app.services.processor import process_due
from tests.engine.test_dispatcher import single_email

pytestmark = pytest.mark.browser

EMAIL = "ops@acme.test"
PASSWORD = "correct-horse-battery"
BODY = '<p>Hello {{ contact.first_name }}, <a href="https://example.com/demo">book a demo</a></p>'


@pytest.fixture
def outbox(live_app: Flask) -> None:
    """Ada's email captured (tracked, as sent), Bob's still queued."""
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        now = datetime.now(UTC)
        for name, person in (("Welcome", "ada"), ("Later", "bob")):
            definition = {**single_email(f"{name} mail", BODY, name), "trigger": {"type": "manual"}}
            sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
            sequences.set_status(sequence, "activate", now)
            contact, _ = contacts.upsert_contact(
                workspace, {"email": f"{person}@example.com", "first_name": person.title()}
            )
            enrollment.enroll_contacts(sequence, [contact], now)
            process_due(now)
            if person == "ada":
                dispatch_due(now)


def test_filter_open_read_untracked_and_cancel(
    page: Page, live_app: Flask, live_server: str, outbox
):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(f"{live_server}/outbox")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_label("Address contains").fill("ADA@")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/outbox\?.*address=ADA%40"))
    expect(page.get_by_role("link", name="bob@example.com")).to_have_count(0)
    page.get_by_role("link", name="ada@example.com").click()

    expect(page.get_by_role("heading", name="Welcome mail")).to_be_visible()
    body = page.frame_locator("iframe[title='HTML body']")
    expect(body.get_by_text("Hello Ada")).to_be_visible()
    expect(body.get_by_role("link", name="book a demo")).to_have_attribute(
        "href", "https://example.com/demo"
    )
    assert not [url for url in fetched if "/t/o/" in url or "/t/c/" in url]

    page.goto(f"{live_server}/outbox?status=queued")
    page.get_by_role("link", name="bob@example.com").click()
    page.get_by_role("button", name="Cancel this email").click()
    expect(page.get_by_text("Cancelled: it will not be sent.")).to_be_visible()
    expect(page.get_by_text(f"cancelled by {EMAIL}")).to_be_visible()
    with live_app.app_context():
        bob = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.to_email == "bob@example.com")
        ).one()
        assert bob.status == "cancelled"
