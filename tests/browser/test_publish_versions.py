"""Publishing the next version of a live sequence in Chromium, as a marketer does it: open a
sequence with contacts waiting, edit a draft of version 2 (a subject changed in the panel, a
delay with contacts deleted on the canvas), review the impact, choose where the waiting
contacts go, publish, and read the versions page and the diff."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, Sequence, SequenceStep
from app.services import accounts, contacts, enrollment, sequences
from tests.browser.builder_page import EMAIL, PASSWORD, is_graph_call, node, open_builder
from tests.helpers import onboarding_definition, tick

pytestmark = pytest.mark.browser


@pytest.fixture
def live_sequence(live_app: Flask) -> str:
    """The onboarding sequence, version 1 live, with 3 contacts waiting at 'Wait 2 days'."""
    now = datetime.now(UTC)
    with live_app.app_context():
        workspace = accounts.create_workspace("Penguin Co")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        sequence = sequences.create_sequence(
            workspace, sequences.parse_input(onboarding_definition())
        )
        sequences.set_status(sequence, "activate", now)
        people = [
            contacts.upsert_contact(workspace, {"email": f"p{i}@example.com"})[0] for i in range(3)
        ]
        enrollment.enroll_contacts(sequence, people, now)
        sequence_id = str(sequence.id)
    tick(live_app, now)
    return sequence_id


def runs_at(app: Flask, sequence_id: str) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(SequenceStep.key, func.count())
            .join(ContactSequence, ContactSequence.current_step_id == SequenceStep.id)
            .where(
                ContactSequence.sequence_id == uuid.UUID(sequence_id),
                ContactSequence.status == "active",
            )
            .group_by(SequenceStep.key)
        )
        return dict(rows.all())


def test_a_marketer_publishes_version_2_and_moves_the_waiting_contacts(
    page: Page, live_server: str, live_app: Flask, live_sequence: str
) -> None:
    assert runs_at(live_app, live_sequence) == {"wait_2d": 3}
    open_builder(page, live_server, live_sequence)
    expect(page.locator("#version-bar")).to_contain_text("Version 1 is live.")
    expect(page.locator(".palette-item").first).to_have_attribute("draggable", "false")

    page.get_by_role("button", name="Edit a draft of version 2").click()
    expect(page.locator("#version-bar")).to_contain_text(
        "Editing draft of version 2 (version 1 is live)."
    )
    draft_id = page.url.rsplit("/", 1)[1]
    assert draft_id != live_sequence
    expect(page.locator("#checklist")).not_to_contain_text("Activate")

    # a subject changed in the panel
    node(page, "email_2").locator(".step-name").click()
    panel = page.locator('#step-panel[data-step="email_2"]')
    expect(panel).to_be_visible()
    panel.get_by_label("Subject", exact=True).fill("Three things to try today")
    with page.expect_response(lambda r: r.request.method == "POST" and "/preview" not in r.url):
        panel.get_by_role("button", name="Save").click()
    expect(panel.locator(".saved")).to_have_text("All changes saved")

    # the delay the contacts wait on deleted on the canvas, its neighbours reconnected
    node(page, "wait_2d").locator(".step-name").click()
    page.keyboard.press("Delete")
    dialog = page.locator("#delete-dialog")
    with page.expect_response(is_graph_call("DELETE", "/steps/wait_2d")) as answer:
        dialog.get_by_role("button", name="Delete and reconnect").click()
    assert answer.value.ok
    expect(node(page, "wait_2d")).to_have_count(0)

    page.get_by_role("link", name="Review and publish").first.click()
    expect(
        page.get_by_role("heading", name="Publish version 2 of New User Onboarding")
    ).to_be_visible()
    line = page.locator('.impact-line[data-step="wait_2d"]')
    expect(line).to_contain_text("3 contacts wait at 'Wait 2 days'")
    expect(page.locator(".changes")).to_contain_text(
        "'Key Features Overview' (email): config.subject"
    )
    assert runs_at(live_app, live_sequence) == {"wait_2d": 3}  # nothing changed yet

    line.get_by_role("combobox").select_option(label="move them to 'Key Features Overview'")
    page.get_by_label("Note").fill("Second email sooner")
    page.get_by_role("button", name="Publish version 2").click()

    expect(page).to_have_url(f"{live_server}/sequences/{live_sequence}/versions")
    expect(page.locator(".flash")).to_have_text(
        "Version 2 is live: 3 contacts moved to 'Key Features Overview'."
    )
    newest = page.locator('tr[data-version="2"]')
    expect(newest).to_contain_text("live")
    expect(newest).to_contain_text("Second email sooner")
    expect(newest).to_contain_text(EMAIL)
    assert "wait_2d" not in runs_at(live_app, live_sequence)
    with live_app.app_context():
        assert db.session.get(Sequence, uuid.UUID(live_sequence)).published_version == 2
        assert db.session.get(Sequence, uuid.UUID(draft_id)) is None

    newest.get_by_role("link", name="View changes").click()
    expect(page).to_have_url(f"{live_server}/sequences/{live_sequence}/versions/1/diff/2")
    removed = page.locator('.vcard[data-step="wait_2d"]')
    expect(removed).to_have_class(re.compile(r"\bvcard-removed\b"))
    expect(removed.locator(".vcard-name")).to_have_css("text-decoration-line", "line-through")
    expect(removed).to_have_css("border-top-color", "rgb(220, 38, 38)")
    changed = page.locator('.vcard[data-step="email_2"]')
    expect(changed).to_have_class(re.compile(r"\bvcard-changed\b"))
    expect(changed.locator(".vcard-fields")).to_contain_text("config.subject")
    expect(changed).to_have_css("border-top-color", "rgb(217, 119, 6)")
    expect(page.locator('.vcard[data-step="email_3"]')).to_have_class(re.compile(r"\bvcard-same\b"))
    expect(page.locator('.vedge-removed[data-target="wait_2d"]')).to_have_count(1)
    expect(
        page.locator('.vedge-added[data-source="email_1"][data-target="email_2"]')
    ).to_have_count(1)
