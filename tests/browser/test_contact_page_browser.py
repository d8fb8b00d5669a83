"""The contact page in a real browser: the timeline reads as sentences, Unsubscribe sits
behind a disclosure that says what happens, and Delete needs its box ticked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts, contacts, enrollment, sequences
from app.services.scheduling import run_tick
from tests.helpers import onboarding_definition

pytestmark = pytest.mark.browser

EMAIL = "marketer@acme.test"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def ada(live_app: Flask) -> str:
    """Ada, sent the onboarding's first email, with a changed field."""
    now = datetime.now(UTC)
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        definition = {**onboarding_definition(), "trigger": {"type": "manual"}}
        sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
        sequences.set_status(sequence, "activate", now)
        contact, _ = contacts.upsert_contact(workspace, {"email": "ada@example.com"}, now)
        enrollment.enroll_contacts(sequence, [contact], now)
        run_tick(now)
        contacts.patch_contact(contact, {"fields": {"plan": "pro"}}, now, source="ui")
        return str(contact.id)


def test_timeline_unsubscribe_and_delete_on_the_contact_page(
    page: Page, live_server: str, ada: str
):
    page.goto(f"{live_server}/contacts/{ada}")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/contacts/{ada}")
    timeline = page.locator("#contact-timeline")
    expect(timeline).to_contain_text("Email “Welcome to PenguinMails!”")
    expect(timeline).to_contain_text("Set plan to “pro”")

    page.locator("#mail-status summary").click()
    page.get_by_role("button", name="Unsubscribe ada@example.com").click()
    expect(page.locator("#mail-status")).to_contain_text("on the suppression list (unsubscribed)")
    expect(page.locator("#contact-enrollments")).to_contain_text("exited")

    page.locator("#remove-contact .confirm-delete summary").click()
    page.get_by_role("button", name="Delete contact").click()
    expect(page.locator("#removal-error")).to_contain_text("Tick the box")
    page.locator(".confirm-delete").get_by_label("I understand").check()
    page.get_by_role("button", name="Delete contact").click()
    expect(page).to_have_url(f"{live_server}/contacts")
    expect(page.locator("body")).to_contain_text("Deleted ada@example.com")
