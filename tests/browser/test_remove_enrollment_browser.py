"""The remove-from-sequence button in a real browser: htmx asks for confirmation first;
dismissing keeps the enrollment, accepting ends it and shows the contact page again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence
from app.services import accounts, contacts, enrollment, sequences
from tests.helpers import onboarding_definition

pytestmark = pytest.mark.browser

EMAIL = "marketer@acme.test"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def ada(live_app: Flask) -> str:
    """Ada enrolled in an active sequence; her contact id."""
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        definition = {**onboarding_definition(), "trigger": {"type": "manual"}}
        sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
        now = datetime.now(UTC)
        sequences.set_status(sequence, "activate", now)
        person, _ = contacts.upsert_contact(workspace, {"email": "ada@example.com"})
        enrollment.enroll_contacts(sequence, [person], now)
        return str(person.id)


def status(live_app: Flask) -> str:
    with live_app.app_context():
        return db.session.scalar(select(ContactSequence.status))


def test_remove_asks_first(page: Page, live_app: Flask, live_server: str, ada: str):
    page.goto(f"{live_server}/contacts/{ada}")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/contacts/{ada}")
    button = page.get_by_role("button", name="Remove from sequence")

    page.once("dialog", lambda dialog: dialog.dismiss())
    button.click()
    expect(button).to_be_visible()
    assert status(live_app) == "active"

    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    button.click()
    expect(page.get_by_text("Removed from the sequence")).to_be_visible()
    expect(page.get_by_role("button", name="Remove from sequence")).to_have_count(0)
    assert questions and questions[0].startswith("Remove ada@example.com from ")
    assert status(live_app) == "exited"
