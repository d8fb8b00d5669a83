"""Signing in with a real browser: the form, the CSRF cookie/token round trip, the list page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts, contacts, enrollment, sequences
from tests.helpers import onboarding_definition

pytestmark = pytest.mark.browser

EMAIL = "demo@penguinmails.test"
PASSWORD = "penguin-demo"


@pytest.fixture
def demo_user(live_app: Flask) -> str:
    """Like `flask demo seed`: a user, the active onboarding sequence and one enrolled contact."""
    now = datetime.now(UTC)
    with live_app.app_context():
        workspace = accounts.create_workspace("Demo")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Demo Marketer")
        sequence = sequences.create_sequence(
            workspace, sequences.parse_input(onboarding_definition())
        )
        sequences.set_status(sequence, "activate", now)
        ada, _ = contacts.upsert_contact(workspace, {"email": "ada@example.com"})
        enrollment.enroll_contacts(sequence, [ada], now)
    return EMAIL


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/sequences")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fsequences$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_signing_in_shows_the_sequence_list(
    page: Page, live_server: str, demo_user: str, tmp_path: Path
):
    sign_in(page, live_server, demo_user, PASSWORD)

    expect(page).to_have_url(f"{live_server}/sequences")
    expect(page.get_by_role("heading", name="Sequences")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="New User Onboarding")
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell").nth(1)).to_have_text("active")
    expect(row.get_by_role("cell").nth(3)).to_have_text("1")
    expect(page.locator(".who")).to_contain_text(f"{EMAIL} · Demo")

    shot = tmp_path / "sequences.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/sign-in")
    page.goto(f"{live_server}/sequences")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))


def test_a_wrong_password_shows_the_inline_error(page: Page, live_server: str, demo_user: str):
    sign_in(page, live_server, demo_user, "not-the-password")

    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an account."
    )
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fsequences$"))
    expect(page.get_by_label("Email")).to_have_value(EMAIL)
    expect(page.get_by_role("heading", name="Sequences")).to_have_count(0)
