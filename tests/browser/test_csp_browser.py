"""The builder works under the Content-Security-Policy: no violation is reported while a
marketer drops steps, opens panels and uses the variable picker (which used to be an inline
script that the policy would block)."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import ConsoleMessage, Page, expect

from app.services import accounts
from tests.browser.builder_page import EMAIL, PASSWORD, connect, drop_step
from tests.browser.test_builder_flow import new_sequence, open_panel, settled

pytestmark = pytest.mark.browser


@pytest.fixture
def marketer(live_app: Flask) -> None:
    with live_app.app_context():
        workspace = accounts.create_workspace("Penguin Co")
        accounts.create_user(EMAIL, workspace, PASSWORD)


def test_the_builder_runs_under_the_policy_without_a_violation(
    page: Page, live_server: str, marketer: None
):
    problems: list[str] = []
    page.on("console", lambda m: _note(problems, m))
    page.on("pageerror", lambda error: problems.append(str(error)))

    new_sequence(page, live_server, "Under CSP")
    assert page.evaluate("() => typeof window.Drawflow") == "function"
    email = drop_step(page, "email", 300, 200)
    end = drop_step(page, "end", 700, 200)
    connect(page, email, end)

    open_panel(page, email)
    panel = page.locator("#step-panel")
    body = panel.get_by_label("Body (HTML)", exact=True)
    body.fill("Hello ")
    body.press("End")
    panel.locator("[data-insert]").first.click()
    inserted = panel.locator("[data-insert]").first.get_attribute("data-insert")
    expect(body).to_have_value(f"Hello {inserted}")

    subject = panel.get_by_label("Subject", exact=True)
    subject.fill("Hi ")
    subject.press("End")
    panel.locator("[data-insert]").first.click()
    expect(subject).to_have_value(f"Hi {inserted}")

    # An edit saves, then refreshes the checklist after a 150 ms pause: leaving the page
    # while one of those is in flight aborts it, which htmx reports as a console error
    # (seen once under load) that no policy caused.
    settled(page)
    page.wait_for_timeout(300)
    settled(page)
    page.goto(f"{live_server}/forms")
    assert problems == []


def _note(problems: list[str], message: ConsoleMessage) -> None:
    """Console errors and policy reports; the browser's own favicon probe does not count."""
    if message.location.get("url", "").endswith("/favicon.ico"):
        return
    if message.type == "error" or "Content Security Policy" in message.text:
        problems.append(f"{message.text} at {message.location.get('url')}")
