"""The Report page in Chromium for a sequence whose first email's A/B test B has won: the
funnel chart and the variant table are on screen and the charts are images with names (the
README's picture of this page is made by docs/screenshots.py from the same data)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts
from tests.report_data import seed_ab_report

pytestmark = pytest.mark.browser

EMAIL = "marketer@acme.test"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def report_url(live_app: Flask, live_server: str) -> str:
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        scenario = seed_ab_report(live_app, workspace, datetime.now(UTC))
        return f"{live_server}/sequences/{scenario.sequence_id}/report"


def test_the_report_shows_the_funnel_and_the_winning_variant(page: Page, report_url: str):
    page.goto(report_url)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(report_url)

    funnel = page.get_by_role("img", name="Funnel by step")
    expect(funnel).to_be_visible()
    box = funnel.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 100
    assert funnel.locator("rect").count() > 7 * 3  # a bar per count and step, and the legend
    expect(page.get_by_role("table").filter(has_text="Entered")).to_be_visible()

    expect(page.get_by_role("img", name="Welcome email: click rate by variant")).to_be_visible()
    state = page.locator("[data-test='email_1'] .test-state")
    expect(state).to_be_visible()
    expect(state).to_have_text(
        re.compile(r"^B wins: click rate \d+\.\d% vs \d+\.\d%, p [<=] [\d.]+, decided ")
    )
    winner = page.locator("[data-test='email_1'] tr[data-variant='B']")
    expect(winner).to_be_visible()
    expect(winner).to_contain_text("winner")
    expect(page.locator("[data-test='email_1'] tr[data-variant='A']")).to_be_visible()
    expect(page.get_by_role("img", name="Conversions per day")).to_be_visible()
    expect(page.get_by_role("img", name="Lift against the holdout")).to_be_visible()
    expect(page.locator("[data-lift='Paid']")).to_contain_text("against a 20% holdout")

    page.set_viewport_size({"width": 1280, "height": 900})
    shot = page.screenshot(full_page=True)
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000  # the whole page, drawn
