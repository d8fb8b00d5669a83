"""An email built from blocks in Chromium: switch the panel to blocks, add a heading, text
and a button with the keyboard-usable controls, let autosave store it, and send the test
email to two addresses through a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.services import accounts, sequences
from tests.browser.builder_page import EMAIL, PASSWORD, node, open_builder
from tests.browser.test_builder_flow import settled
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.browser

DEFINITION = {
    "name": "Blocks",
    "steps": [{"id": "email_1", "type": "email", "config": {"subject": "Hello", "body": ""}}],
}


@pytest.fixture
def sequence_id(live_app: Flask) -> str:
    with live_app.app_context():
        workspace = accounts.create_workspace("Penguin Co")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Bea Builder")
        sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
        return str(sequence.id)


@pytest.fixture
def sink(live_app: Flask) -> Iterator[SmtpSink]:
    for running in running_sink():
        live_app.config["SMTP_URL"] = running.url
        yield running


def autosaved(page: Page) -> None:
    settled(page)
    expect(page.locator("#step-panel [data-save-state]")).to_have_text("All changes saved")


def add_block(page: Page, block_type: str) -> None:
    panel = page.locator("#step-panel")
    panel.get_by_label("New block").select_option(block_type)
    with page.expect_response(lambda r: r.request.method == "POST" and "/panel" in r.url):
        panel.get_by_role("button", name="+ Add block").click()
    autosaved(page)


def test_an_email_built_from_blocks_is_autosaved_and_sent_as_a_test(
    page: Page, live_server: str, sequence_id: str, sink: SmtpSink
):
    open_builder(page, live_server, sequence_id)
    node(page, "email_1").locator(".step-name").click()
    panel = page.locator("#step-panel")
    panel.get_by_text("Use the block editor").click()
    with page.expect_response(lambda r: r.request.method == "POST" and "/panel" in r.url):
        panel.get_by_role("button", name="Switch to blocks").click()
    autosaved(page)

    add_block(page, "heading")
    panel.get_by_label("Heading", exact=True).fill("Welcome aboard, {{ contact.first_name }}")
    add_block(page, "text")
    panel.get_by_label("Text", exact=True).fill(
        "Three things to try today.\n\nFirst: **invite** a teammate."
    )
    add_block(page, "button")
    panel.get_by_label("Button label", exact=True).fill("Open your dashboard")
    panel.get_by_label("Link", exact=True).fill("https://app.penguinmails.test/dashboard")
    autosaved(page)
    expect(panel.locator("li.block")).to_have_count(3)
    preview = page.frame_locator("#email-preview iframe")
    expect(preview.get_by_role("heading", name="Welcome aboard, Alex")).to_be_visible()

    checklist = page.locator("#checklist")
    checklist.get_by_label("Send to").fill("ann@team.test, bob@team.test")
    checklist.get_by_role("button", name="Send test email").click()
    expect(checklist.locator(".test-report")).to_contain_text("Sent 2 test email(s)")

    received = sink.wait_for(2)
    assert sorted(m["To"].addresses[0].addr_spec for m in received) == [
        "ann@team.test",
        "bob@team.test",
    ]
    html = received[0].get_body(("html",)).get_content()
    assert "Welcome aboard, Alex" in html
    assert '<a href="https://app.penguinmails.test/dashboard"' in html
    assert ">Open your dashboard</a>" in html
    assert "<strong>invite</strong>" in html
    assert "@media only screen and (min-width:480px)" in html


def test_what_is_typed_in_the_checklist_stays_when_an_edit_refreshes_it(
    page: Page, live_server: str, sequence_id: str
):
    open_builder(page, live_server, sequence_id)
    node(page, "email_1").locator(".step-name").click()
    checklist = page.locator("#checklist")
    send_to = checklist.get_by_label("Send to")
    refreshed = lambda r: r.request.method == "GET" and r.url.endswith("/checklist")  # noqa: E731
    with page.expect_response(refreshed):
        page.locator("#step-panel").get_by_label("Subject", exact=True).fill("Hello again")
        send_to.fill("ann@team.test, bob@")  # still typing when the save refreshes the list
    settled(page)
    expect(send_to).to_have_value("ann@team.test, bob@")
    expect(send_to).to_be_focused()
    send_to.press_sequentially("team.test")  # the caret stayed at the end
    expect(send_to).to_have_value("ann@team.test, bob@team.test")
