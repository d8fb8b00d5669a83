"""The contacts pages in a real browser: htmx live search, and a CSV import whose progress
bar fills by polling and stops polling when done."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts, contact_import, contacts
from tests.browser.htmx import wait_until_bound

pytestmark = pytest.mark.browser

EMAIL = "marketer@acme.test"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def marketer(live_app: Flask) -> str:
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        for email, name in (("ada@example.com", "Ada"), ("bob@example.com", "Bob")):
            contacts.upsert_contact(workspace, {"email": email, "first_name": name})
    return EMAIL


def test_live_search_and_import_progress(
    page: Page, live_app: Flask, live_server: str, marketer: str, tmp_path: Path
):
    page.goto(f"{live_server}/contacts")
    page.get_by_label("Email").fill(marketer)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/contacts")
    rows = page.locator("#contacts-table tbody tr")
    expect(rows).to_have_count(2)

    search = page.get_by_label("Search contacts by email or name")
    # htmx must have bound the box's `input` trigger before typing, or the keystrokes go
    # unheard (a race with page load that once failed this test under CI load)
    wait_until_bound(search)
    search.fill("bo")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob@example.com")
    expect(page).to_have_url(f"{live_server}/contacts")  # swapped in place, no reload

    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email,first_name\ncy@example.com,Cy\nnope,Bad\n")
    page.get_by_role("link", name="Import from CSV").click()
    page.get_by_label("CSV file (UTF-8)").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and import").click()
    expect(page).to_have_url(re.compile(r"/contacts/import/[0-9a-f-]+$"))
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-status", "pending")

    with live_app.app_context():
        assert contact_import.process_pending(datetime.now(UTC)) == 2

    expect(progress).to_have_attribute("data-status", "done", timeout=5000)
    expect(page.locator("#import-bar")).to_have_attribute("value", "2")
    # "2 of 2" looks done: the bar spans the card, not the browser's default 160px
    bar = page.locator("#import-bar").bounding_box()
    card = progress.bounding_box()
    assert bar and card and bar["width"] > 0.9 * card["width"] - 48, (bar, card)
    expect(page.locator("#import-errors")).to_contain_text("'nope' is not an email address")
    expect(progress).not_to_have_attribute("hx-trigger", "every 1s")
