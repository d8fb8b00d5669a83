"""The email panel's A/B test over HTTP: its settings save, its state shows on a live
sequence, and a marketer picks the winner or stops the test there (and only there, and only
in their own workspace).

Runs on SQLite and PostgreSQL (the `app` fixture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import AbTestDecision, Sequence
from app.services import accounts, sequences
from tests.helpers import onboarding_definition
from tests.web.test_panels import PASSWORD, Panels, panel_values

VARIANTS = [
    {"key": "A", "weight": 50, "subject": "Subject A"},
    {"key": "B", "weight": 50, "subject": "Subject B", "from_name": "Bo at Acme"},
]
EMAIL = "ann@acme.test"


@dataclass
class Seeded:
    sequence: Sequence
    web: Panels

    @property
    def panel(self) -> str:
        return f"/sequences/{self.sequence.id}/steps/email_1/panel"

    def action(self, tail: str) -> str:
        return f"/sequences/{self.sequence.id}/steps/email_1/ab-test/{tail}"


def seeded_test(app: Flask, status: str = "draft", name: str = "Acme", ab_test: dict | None = None):
    """A marketer signed in to a sequence whose first email tests variants A and B."""
    workspace = accounts.create_workspace(name)
    user = f"ann@{name.lower()}.test"
    accounts.create_user(user, workspace, PASSWORD)
    definition = onboarding_definition()
    definition["steps"][0]["config"] |= {
        "variants": VARIANTS,
        "ab_test": ab_test or {"metric": "click_rate", "min_sends": 200},
    }
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    now = datetime.now(UTC)
    if status in ("active", "paused"):
        sequences.set_status(sequence, "activate", now)
    if status == "paused":
        sequences.set_status(sequence, "pause", now)
    web = Panels(app)
    assert web.sign_in(user, PASSWORD).status_code == 302
    web.token = web.csrf_token("/sequences")
    return Seeded(sequence, web)


def decisions() -> list[tuple[str, str | None, str | None]]:
    db.session.expire_all()
    rows = select(AbTestDecision.state, AbTestDecision.winner, AbTestDecision.actor)
    return [tuple(row) for row in db.session.execute(rows)]


def buttons(html: str) -> list[str]:
    return re.findall(r"<button[^>]*hx-post=\"[^\"]*/ab-test/[^>]*>([^<]+)</button>", html)


def test_the_panel_shows_the_tests_settings_and_saves_a_conversion_test_on_a_goal(app):
    seeded = seeded_test(app)
    page = seeded.web.get(seeded.panel).text
    values = panel_values(page)
    assert values["ab_test.metric"] == "click_rate"
    assert (values["ab_test.min_sends"], values["ab_test.confidence"]) == ("200", "95")
    assert (values["ab_test.max_duration"], values["ab_test.fallback"]) == ("14 days", "best")
    assert values["variants.1.from_name"] == "Bo at Acme"
    assert "ab_test.goal" not in values, "a goal only shows for the conversion rate"
    assert "data-ab-state" not in page, "a draft's test has not started"

    chosen = seeded.web.submit(
        seeded.panel, values | {"ab_test.metric": "conversion_rate", "_op": "refresh"}
    )
    assert '<option value="Paid Subscription">Paid Subscription</option>' in chosen.text
    values = panel_values(chosen.text) | {"ab_test.goal": "Paid Subscription"}
    values |= {"ab_test.attribution_window": "3 days", "ab_test.confidence": "99"}
    saved = seeded.web.submit(seeded.panel, values)
    assert saved.status_code == 200 and "HX-Trigger" in saved.headers, saved.text
    db.session.expire_all()
    step = next(s for s in db.session.get(Sequence, seeded.sequence.id).steps if s.key == "email_1")
    assert step.config["ab_test"] == {
        "metric": "conversion_rate",
        "goal": "Paid Subscription",
        "attribution_window": "3 days",
        "min_sends": 200,
        "confidence": 0.99,
        "max_duration": "14 days",
        "fallback": "best",
    }


def test_a_bad_setting_is_shown_beside_its_field_and_nothing_is_saved(app):
    seeded = seeded_test(app)
    values = panel_values(seeded.web.get(seeded.panel).text) | {"ab_test.confidence": "45"}
    answer = seeded.web.submit(seeded.panel, values).text
    assert re.search(
        r'id="pf-ab_test.confidence-error">Confidence \(%\): give a percentage', answer
    )
    db.session.expire_all()
    step = next(s for s in db.session.get(Sequence, seeded.sequence.id).steps if s.key == "email_1")
    assert step.config["ab_test"]["confidence"] == 0.95


def test_a_live_test_shows_its_progress_and_the_buttons_outside_the_locked_fields(app):
    seeded = seeded_test(app, "active")
    page = seeded.web.get(seeded.panel).text
    assert "<strong>Collecting</strong>: A 0/200 sends, B 0/200 sends." in page
    assert (
        "click rate, at least 200 sends each, 95% confidence, up to 14 days, then the best" in page
    )
    assert buttons(page) == ["Use A for everyone", "Use B for everyone", "Stop the test"]
    locked = page.index("</fieldset>", page.index('class="panel-fields" disabled'))
    assert page.index("Use A for everyone") > page.rindex("</fieldset>"), "not in disabled fields"
    assert locked < page.index("Stop the test")


def test_use_b_for_everyone_decides_the_test_as_the_signed_in_marketer(app):
    seeded = seeded_test(app, "active")
    answer = seeded.web.submit(seeded.action("winner"), {"variant": "B"})
    assert answer.status_code == 200
    assert '<form id="step-panel"' in answer.text
    assert (
        "<strong>B wins</strong>: every new send uses it. Decided by ann@acme.test," in answer.text
    )
    assert buttons(answer.text) == ["Use A for everyone"]
    assert decisions() == [("decided", "B", "ann@acme.test")]


def test_stop_the_test_keeps_the_split_and_leaves_each_winner_button(app):
    seeded = seeded_test(app, "active")
    answer = seeded.web.submit(seeded.action("stop"))
    assert answer.status_code == 200
    assert "<strong>Stopped</strong> by ann@acme.test," in answer.text
    assert "sends stay split by weight" in answer.text
    assert buttons(answer.text) == ["Use A for everyone", "Use B for everyone"]
    assert decisions() == [("stopped", None, "ann@acme.test")]


def test_a_paused_sequence_shows_the_decision_without_buttons(app):
    seeded = seeded_test(app, "paused")
    seeded.web.submit(seeded.action("winner"), {"variant": "A"})
    page = seeded.web.get(seeded.panel).text
    assert "<strong>A wins</strong>" in page
    assert buttons(page) == []


def test_an_unknown_variant_is_refused_as_json_naming_the_step(app):
    seeded = seeded_test(app, "active")
    answer = seeded.web.submit(seeded.action("winner"), {"variant": "Z"})
    assert answer.status_code == 422
    assert answer.json["error"]["step"] == "email_1"
    assert "'Z'" in answer.json["error"]["message"]
    assert decisions() == []


def test_another_workspaces_marketer_gets_404_and_decides_nothing(app):
    seeded = seeded_test(app, "active")
    other = seeded_test(app, "active", name="Globex")
    for tail, data in (("winner", {"variant": "A"}), ("stop", {})):
        assert other.web.submit(seeded.action(tail), data).status_code == 404
    assert decisions() == []


def test_a_decision_needs_the_csrf_token(app):
    seeded = seeded_test(app, "active")
    assert seeded.web.post(seeded.action("winner"), data={"variant": "A"}).status_code == 400
    assert decisions() == []


def test_the_settings_panel_saves_a_holdout_share_and_explains_it(app):
    seeded = seeded_test(app)
    url = f"/sequences/{seeded.sequence.id}/settings"
    page = seeded.web.get(url).text
    assert (
        "Contacts in the holdout get no email; the report compares their goal conversions" in page
    )
    saved = seeded.web.submit(url, panel_values(page) | {"settings.holdout_percent": "25"})
    assert saved.status_code == 200 and "HX-Trigger" in saved.headers, saved.text
    assert panel_values(saved.text)["settings.holdout_percent"] == "25"
    db.session.expire_all()
    assert db.session.get(Sequence, seeded.sequence.id).settings["holdout_percent"] == 25


def test_a_holdout_over_half_is_refused_beside_its_field(app):
    seeded = seeded_test(app)
    url = f"/sequences/{seeded.sequence.id}/settings"
    values = panel_values(seeded.web.get(url).text) | {"settings.holdout_percent": "51"}
    answer = seeded.web.submit(url, values).text
    assert re.search(
        r'id="pf-settings.holdout_percent-error">[^<]*less than or equal to 50', answer
    )
    db.session.expire_all()
    assert "holdout_percent" not in (db.session.get(Sequence, seeded.sequence.id).settings or {})
