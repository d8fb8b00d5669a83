"""Issue 20's segment acceptance in Chromium: "tag is enterprise" built from the condition
builder's fields, without typing JSON, its live count shown as it is typed, then created."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts, contacts
from tests.browser.htmx import wait_until_bound

pytestmark = pytest.mark.browser

EMAIL = "marketer@acme.test"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def marketer(live_app: Flask) -> None:
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        for email, tags in (("ada@x.example", ["enterprise"]), ("bob@x.example", ["smb"])):
            contacts.upsert_contact(workspace, {"email": email, "tags": tags})
        contacts.upsert_contact(workspace, {"email": "cy@x.example", "tags": ["enterprise"]})


def test_tag_is_enterprise_is_built_without_json_and_shows_its_count(
    page: Page, live_server: str, marketer: None
):
    page.goto(f"{live_server}/segments")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/segments")

    page.get_by_label("Name", exact=True).fill("Enterprise")
    page.get_by_label("Rule: contacts join and leave as they match").check()
    page.get_by_label("Check").select_option("field")  # the builder re-renders in place
    expect(page.get_by_label("Comparison")).to_be_visible()
    wait_until_bound(page.get_by_label("Check"))  # the redrawn select, before changing it
    page.get_by_label("Check").select_option("tag")
    expect(page.get_by_label("Comparison")).to_have_count(0)
    page.get_by_label("Tag", exact=True).fill("enterprise")
    expect(page.locator("#rule-count")).to_contain_text("2 contacts match this rule now")
    page.get_by_label("Tag", exact=True).fill("smb")
    expect(page.locator("#rule-count")).to_contain_text("1 contact matches this rule now")
    page.get_by_label("Tag", exact=True).fill("enterprise")
    expect(page.locator("#rule-count")).to_contain_text("2 contacts match")

    page.get_by_role("button", name="Create segment").click()
    expect(page).to_have_url(re.compile(r"/segments/[0-9a-f-]+$"))
    expect(page.locator("h1")).to_have_text("Enterprise")
    expect(page.get_by_text("2 member(s)")).to_be_visible()
