"""The gallery's acceptance flow in Chromium: use Cold Outreach, change a subject in the
builder, export it as YAML, import the file back to an identical graph; a bad file is
refused with its problems listed and creates nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.core.draft import DraftConnection
from app.core.layout import auto_layout
from app.core.steps import step_outputs
from app.extensions import db
from app.models import Sequence
from app.services import accounts
from app.services.gallery import GALLERY_DIR
from tests.browser.builder_page import EMAIL, PASSWORD, drawn_links, drawn_position, node
from tests.browser.test_builder_flow import open_panel, save_panel

pytestmark = pytest.mark.browser

NEW_SUBJECT = "Quick question about {{ contact.company }}, from the gallery test"


@pytest.fixture
def token(live_app: Flask) -> str:
    """The marketer's workspace and an API token for it, to read sequences back."""
    with live_app.app_context():
        workspace = accounts.create_workspace("Penguin Co")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Gail Gallery")
        return accounts.create_token(workspace)


def api_export(app: Flask, token: str, sequence_id: str) -> dict[str, Any]:
    answer = app.test_client().get(
        f"/api/sequences/{sequence_id}/export?format=json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json


def sequence_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Sequence.id)))


def builder_id(page: Page, base: str) -> str:
    expect(page).to_have_url(re.compile(re.escape(base) + r"/sequences/[0-9a-f-]{36}$"))
    expect(page.locator("#drawflow .drawflow")).to_be_attached()
    return page.url.rsplit("/", 1)[1]


def test_use_cold_outreach_edit_export_and_import_back(
    page: Page, live_server: str, live_app: Flask, token: str, tmp_path: Path
):
    template = yaml.safe_load((GALLERY_DIR / "cold_outreach.yaml").read_text())
    first_email = next(s["id"] for s in template["steps"] if s["type"] == "email")

    page.goto(f"{live_server}/templates")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Templates", exact=True)).to_be_visible()
    card = page.locator('.template-card[data-template="cold_outreach"]')
    expect(card.locator("svg rect")).to_have_count(len(template["steps"]))
    expect(card).to_contain_text("4 emails")
    card.get_by_role("button", name="Use this template").click()

    used_id = builder_id(page, live_server)
    expect(page.locator("#sequence-name")).to_have_text("Cold Outreach")
    expect(page.locator("#drawflow .drawflow-node")).to_have_count(len(template["steps"]))
    laid_out = auto_layout(  # templates carry no positions: the builder tidies them up
        [step["id"] for step in template["steps"]],
        [
            DraftConnection(c["source"], c["target"], c.get("label"))
            for c in template["connections"]
        ],
        {step["id"]: step_outputs(step["type"], step["config"]) for step in template["steps"]},
    )
    for step in template["steps"]:
        assert drawn_position(page, step["id"]) == laid_out[step["id"]]

    open_panel(page, first_email)
    page.locator("#step-panel").get_by_label("Subject", exact=True).fill(NEW_SUBJECT)
    save_panel(page)
    expect(node(page, first_email)).to_contain_text("from the gallery test")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export YAML").click()
    download = download_info.value
    assert download.suggested_filename == "cold-outreach.yaml"
    exported_file = tmp_path / download.suggested_filename
    download.save_as(exported_file)
    exported = yaml.safe_load(exported_file.read_text())
    subjects = {s["id"]: s["config"].get("subject") for s in exported["steps"]}
    assert subjects[first_email] == NEW_SUBJECT

    page.goto(f"{live_server}/sequences/import")
    page.get_by_label("Definition file").set_input_files(exported_file)
    page.get_by_role("button", name="Import").click()
    imported_id = builder_id(page, live_server)
    assert imported_id != used_id
    expect(page.locator("#sequence-name")).to_have_text("Cold Outreach (2)")
    expect(page.locator("#drawflow .drawflow-node")).to_have_count(len(template["steps"]))
    assert drawn_links(page) == {
        (c["source"], c.get("label"), c["target"]) for c in exported["connections"]
    }
    for step in exported["steps"]:
        assert drawn_position(page, step["id"]) == (step["position"]["x"], step["position"]["y"])

    used = api_export(live_app, token, used_id)
    imported = api_export(live_app, token, imported_id)
    assert imported.pop("name") == "Cold Outreach (2)"
    assert used.pop("name") == "Cold Outreach"
    assert imported == used == {k: v for k, v in exported.items() if k != "name"}

    before = sequence_count(live_app)
    broken = tmp_path / "broken.yaml"
    broken.write_text(re.sub(r"duration: .*", "duration: next tuesday", exported_file.read_text()))
    page.goto(f"{live_server}/sequences/import")
    page.get_by_label("Definition file").set_input_files(broken)
    page.get_by_role("button", name="Import").click()
    problems = page.locator(".import-problems")
    expect(problems).to_be_visible()
    first_delay = next(s["id"] for s in exported["steps"] if "duration" in s["config"])
    expect(problems.locator("li").first).to_contain_text(
        f"Step {first_delay}, field config.duration: 'next tuesday' is not a duration"
    )
    expect(page.locator(".error").first).to_contain_text("broken.yaml was not imported")
    assert sequence_count(live_app) == before
