"""The A/B test on a running sequence, steered from the builder in Chromium: the email's
panel says the test is collecting, "Use B for everyone" decides it by hand (the signed-in
marketer recorded as the actor), and the panel then says B wins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import AbTestDecision, Sequence, Workspace
from app.services import accounts, sequences
from tests.browser.builder_page import EMAIL, PASSWORD, node, open_builder

pytestmark = pytest.mark.browser

DEFINITION = {
    "format": "sequence/v1",
    "name": "Subject line test",
    "trigger": {"type": "manual"},
    "steps": [
        {
            "id": "welcome",
            "type": "email",
            "name": "Welcome",
            "position": {"x": 40, "y": 40},
            "config": {
                "subject": "Welcome",
                "body": "<p>Hello</p>",
                "variants": [
                    {"key": "A", "weight": 50, "subject": "Three things to try"},
                    {"key": "B", "weight": 50, "subject": "Your first week"},
                ],
                "ab_test": {"metric": "click_rate", "min_sends": 200},
            },
        }
    ],
    "connections": [],
}


@pytest.fixture
def running_test(live_app: Flask) -> str:
    with live_app.app_context():
        workspace = accounts.create_workspace("Testers")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Bea Builder")
        workspace = db.session.get(Workspace, workspace.id)
        sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
        sequences.set_status(sequence, "activate", datetime.now(UTC))
        assert db.session.get(Sequence, sequence.id).status == "active"
        return str(sequence.id)


def test_a_marketer_picks_the_winner_from_the_running_sequences_panel(
    page: Page, live_server: str, live_app: Flask, running_test: str
) -> None:
    open_builder(page, live_server, running_test)
    with page.expect_response(lambda r: r.url.endswith("/steps/welcome/panel")):
        node(page, "welcome").locator(".step-name").click()
    state = page.locator("[data-ab-state]")
    expect(state).to_have_attribute("data-ab-state", "collecting")
    expect(state).to_contain_text("A 0/200 sends, B 0/200 sends")

    with page.expect_response(lambda r: r.request.method == "POST" and "winner" in r.url) as done:
        page.get_by_role("button", name="Use B for everyone").click()
    assert done.value.status == 200
    expect(page.locator("[data-ab-state]")).to_have_attribute("data-ab-state", "decided")
    expect(page.locator("[data-ab-state]")).to_contain_text("B wins")

    with live_app.app_context():
        decision = db.session.scalars(
            select(AbTestDecision).where(AbTestDecision.sequence_id == uuid.UUID(running_test))
        ).one()
        assert (decision.state, decision.winner, decision.decided_by, decision.actor) == (
            "decided",
            "B",
            "hand",
            EMAIL,
        )
