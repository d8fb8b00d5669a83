""" "Preview timeline" in Chromium: a marketer opens the form on the builder, gives a
hypothetical contact in New York and a click after a day, and reads the simulated timeline
(the emails with their rendered subjects, the delay, the end) without anything being sent."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import OutboundMessage, Workspace
from app.services import accounts, sequences
from tests.browser.builder_page import EMAIL, PASSWORD, open_builder

pytestmark = pytest.mark.browser

DEFINITION = {
    "format": "sequence/v1",
    "name": "Two emails",
    "trigger": {"type": "manual"},
    "steps": [
        {
            "id": "hello",
            "type": "email",
            "position": {"x": 40, "y": 40},
            "config": {
                "subject": "Hi {{ contact.first_name }}",
                "body": '<p><a href="https://example.com/start">Start</a></p>',
            },
        },
        {
            "id": "wait",
            "type": "delay",
            "position": {"x": 340, "y": 40},
            "config": {"duration": "2 days"},
        },
        {
            "id": "again",
            "type": "email",
            "position": {"x": 640, "y": 40},
            "config": {"subject": "Still there, {{ contact.first_name }}?", "body": "<p>Hi</p>"},
        },
    ],
    "connections": [{"source": "hello", "target": "wait"}, {"source": "wait", "target": "again"}],
}


@pytest.fixture
def draft(live_app: Flask) -> str:
    with live_app.app_context():
        workspace = accounts.create_workspace("Previewers")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Bea Builder")
        workspace = db.session.get(Workspace, workspace.id)
        return str(sequences.create_sequence(workspace, sequences.parse_input(DEFINITION)).id)


def test_a_marketer_previews_a_contacts_timeline_from_the_builder(
    page: Page, live_server: str, live_app: Flask, draft: str
) -> None:
    open_builder(page, live_server, draft)
    preview = page.locator("details.timeline-preview")
    preview.get_by_text("Preview timeline").click()
    preview.get_by_label("First name").fill("Ada <b>")
    preview.get_by_label("Time zone").fill("America/New_York")
    preview.get_by_label("Start (in that zone)").fill("2026-12-07T09:00:00")
    preview.get_by_label("Event 1: after").fill("1")
    preview.get_by_label("Event 1: unit").select_option("days")
    preview.get_by_label("Event 1: event", exact=True).select_option("clicked_link")
    preview.get_by_role("button", name="Preview", exact=True).click()

    table = preview.locator("#timeline-result table")
    expect(table).to_be_visible()
    expect(table).to_contain_text("Hi Ada <b>")
    expect(table).to_contain_text("Still there, Ada <b>?")
    expect(table.locator("tr", has_text="Hi Ada")).to_contain_text("Mon 07 Dec 2026 09:00 EST")
    expect(table.locator("tr", has_text="Still there")).to_contain_text("Wed 09 Dec 2026 09:00")
    with live_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 0
