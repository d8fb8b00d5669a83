"""The Settings page in a real browser: make a token, see it once, use it, revoke it."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts

pytestmark = pytest.mark.browser

EMAIL = "ops@acme.test"
PASSWORD = "correct-horse-battery"


def api_status(page: Page, base: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return page.request.get(f"{base}/api/sequences", headers=headers).status


def test_a_token_is_shown_once_then_listed_by_prefix_and_revoked(
    page: Page, live_server: str, live_app: Flask
):
    with live_app.app_context():
        accounts.create_user(EMAIL, accounts.create_workspace("Acme"), PASSWORD)
    page.goto(f"{live_server}/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Name of the new token").fill("CRM sync")
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_label("New API token")
    token = shown.input_value()
    assert re.fullmatch(r"pm_[A-Za-z0-9_-]{40,}", token)
    assert api_status(page, live_server, token) == 200

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("New API token")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text="CRM sync")
    expect(row).to_contain_text(f"{token[:10]}…")
    assert token not in page.content()

    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked")
    expect(page.get_by_role("row").filter(has_text="CRM sync")).to_contain_text("revoked")
    assert api_status(page, live_server, token) == 401
