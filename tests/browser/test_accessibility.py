"""Issue 20 in Chromium: axe-core finds no serious or critical WCAG 2 A/AA violation on the
pages a marketer and an operator use, at 1440 and at 1024 px wide; and at 1024x768 the
builder's canvas keeps a usable width and the Enrollments table does not scroll sideways.

axe is vendored under app/static/vendor/axe-core and injected by these tests only; no page
loads it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactSequence
from app.services import accounts, sequences
from tests.browser.builder_page import node
from tests.helpers import onboarding_definition
from tests.report_data import seed_ab_report

# The pages' CSP allows no inline script; only the test's own injected axe is let through.
pytestmark = [pytest.mark.browser, pytest.mark.browser_context_args(bypass_csp=True)]

AXE = Path(__file__).parents[2] / "app/static/vendor/axe-core/axe.min.js"
EMAIL = "marketer@acme.test"
PASSWORD = "correct-horse-battery"
SERIOUS = {"serious", "critical"}
LAPTOP = {"width": 1024, "height": 768}
EVERY_BLOCK = [
    {"type": "heading", "text": "Welcome"},
    {"type": "text", "text": "Hello"},
    {"type": "button", "label": "Start", "url": "https://app.test/start"},
    {"type": "image", "src": "https://app.test/logo.png", "alt": "Logo"},
    {"type": "divider"},
    {"type": "footer", "text": "Acme Inc"},
]


@pytest.fixture
def urls(live_app: Flask, live_server: str) -> dict[str, str]:
    """A live sequence with sends, opens, clicks, exits and an A/B decision (so every list
    has rows) and a draft one to edit; the name of each page to check and its URL."""
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        live = seed_ab_report(live_app, workspace, datetime.now(UTC), 30, 10).sequence_id
        definition = {**onboarding_definition(), "trigger": {"type": "manual"}}
        definition["steps"][0]["config"]["blocks"] = EVERY_BLOCK  # the block editor is checked
        draft = sequences.create_sequence(workspace, sequences.parse_input(definition)).id
        contact = db.session.scalars(select(Contact.id).limit(1)).one()
        run = db.session.scalars(select(ContactSequence.id).limit(1)).one()
    paths = {
        "sequences": "/sequences",
        "builder (live)": f"/sequences/{live}",
        "builder (draft)": f"/sequences/{draft}",
        "report": f"/sequences/{live}/report",
        "contacts": "/contacts",
        "contact": f"/contacts/{contact}",
        "enrollments": "/enrollments",
        "enrollment": f"/enrollments/{run}",
        "outbox": "/outbox",
        "health": "/health",
        "audit": "/audit",
        "templates": "/templates",
        "segments": "/segments",
        "forms": "/forms",
        "settings": "/settings",
    }
    return {name: live_server + path for name, path in paths.items()}


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(url)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe's WCAG 2 A/AA violations of serious or critical impact on the page as shown:
    rule, impact, the first few elements and what to fix."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "targets": [n["target"] for n in v["nodes"][:5]],
            "fix": v["nodes"][0]["failureSummary"],
        }
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("width", [1440, 1024])
def test_no_page_has_a_serious_or_critical_accessibility_violation(
    page: Page, urls: dict[str, str], width: int
):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(urls["sequences"])
    found = {"sign-in": serious_violations(page)}
    sign_in(page, urls["sequences"])
    for name, url in urls.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found[name] = serious_violations(page)
    page.goto(urls["builder (draft)"])
    node(page, "email_1").locator(".step-name").click()
    expect(page.locator("#panel-body").get_by_label("Subject", exact=True)).to_be_visible()
    found["builder (draft), Email 1's settings"] = serious_violations(page)

    problems = [f"{name}: {v}" for name, violations in found.items() for v in violations]
    assert not problems, "\n".join(problems)


def test_at_1024_px_the_canvas_is_usable_and_the_enrollments_table_fits(
    page: Page, urls: dict[str, str]
):
    page.set_viewport_size(LAPTOP)
    sign_in(page, urls["builder (draft)"])
    expect(node(page, "email_1")).to_be_visible()
    canvas = page.locator("#drawflow").bounding_box()
    panel = page.locator("#panel").bounding_box()
    assert canvas and panel
    assert canvas["width"] >= 600, canvas  # was 468 beside a 176 px palette and 380 px panel
    assert panel["x"] + panel["width"] <= LAPTOP["width"] and panel["width"] >= 280, panel

    page.goto(urls["enrollments"])
    table = page.locator("table.enrollment-grid")
    expect(table.locator("tbody tr")).to_have_count(30)
    box = table.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"], box
    scroll = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert scroll[0] <= scroll[1], scroll  # the page does not scroll sideways
    expect(table.get_by_role("link", name="Open").first).to_be_in_viewport()
