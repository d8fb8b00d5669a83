"""The builder's settings panels over HTTP: forms render, saves store rows and announce the new
state, invalid input and stale versions change nothing, other workspaces see nothing, and the
email preview cannot script the page.

Runs on SQLite and PostgreSQL (the `app` fixture); each request gets a fresh app context
(tests/web/client.py), so the signed-in user does not leak between requests.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import Sequence, SequenceStep, Workspace
from app.services import accounts, contacts, launch, segments, sequences
from tests.web.client import CSRF_INPUT, Web

PASSWORD = "correct-horse-battery"
NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "format": "sequence/v1",
    "name": "Every step",
    "trigger": {"type": "segment_join", "segment": "New Signups"},
    "exit": {"on_reply": True},
    "goals": [{"name": "Paid", "when": {"type": "custom_event", "event": "paid"}}],
    "steps": [
        {
            "id": "email_1",
            "type": "email",
            "name": "Welcome",
            "config": {"subject": "Hi {{ contact.first_name }}", "body": "<p>Welcome</p>"},
        },
        {
            "id": "wait_1",
            "type": "wait_until",
            "config": {
                "conditions": [
                    {
                        "event": "clicked_link",
                        "email_step_id": "email_1",
                        "link_url_contains": "/book-demo",
                        "timeout": "3 days",
                    }
                ]
            },
        },
        {
            "id": "branch_1",
            "type": "branch",
            "config": {
                "condition": {
                    "all": [
                        {"type": "field", "field": "company_size", "op": "gt", "value": 10},
                        {"not": {"type": "tag", "tag": "VIP"}},
                    ]
                }
            },
        },
        {"id": "action_1", "type": "action", "config": {"action": "add_tag", "tag": "Hot"}},
        {"id": "goal_1", "type": "goal", "config": {"goal": "Booked Meeting"}},
        {
            "id": "split_1",
            "type": "split",
            "config": {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]},
        },
        {"id": "delay_1", "type": "delay", "config": {"duration": "2 days"}},
        {"id": "end_1", "type": "end", "config": {}},
    ],
    "connections": [
        {"source": "email_1", "target": "wait_1"},
        {"source": "wait_1", "target": "branch_1", "label": "met"},
        {"source": "wait_1", "target": "split_1", "label": "timeout"},
        {"source": "branch_1", "target": "action_1", "label": "true"},
        {"source": "branch_1", "target": "goal_1", "label": "false"},
        {"source": "action_1", "target": "end_1"},
        {"source": "goal_1", "target": "end_1"},
        {"source": "split_1", "target": "delay_1", "label": "a"},
        {"source": "split_1", "target": "end_1", "label": "b"},
        {"source": "delay_1", "target": "end_1"},
    ],
}

EXPECTED_FIELDS = {
    "email_1": ["name", "subject", "from_name", "body", "text", "preview.contact"],
    "wait_1": ["conditions.0.kind", "conditions.0.email_event", "conditions.0.email_step_id"],
    "branch_1": ["cond.kind", "cond.items.0.field", "cond.items.0.op", "cond.items.1.items.0.tag"],
    "action_1": ["action", "tag"],
    "goal_1": ["goal"],
    "split_1": ["paths.0.label", "paths.0.percent", "paths.1.percent"],
    "delay_1": ["until", "duration", "window.enabled"],
    "end_1": ["name"],
}


class Panels(Web):
    """Signed in; form posts carry the CSRF token, as the panels' forms do."""

    token = ""

    def submit(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        return self.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)


@dataclass
class Seeded:
    workspace: Workspace
    sequence: Sequence
    web: Panels

    def url(self, tail: str) -> str:
        return f"/sequences/{self.sequence.id}/{tail}"

    def fresh(self) -> Sequence:
        db.session.expire_all()
        found = db.session.get(Sequence, self.sequence.id)
        assert found is not None
        return found

    def step(self, key: str) -> SequenceStep:
        return next(step for step in self.fresh().steps if step.key == key)


def seed(app: Flask, name: str = "Acme") -> Seeded:
    workspace = accounts.create_workspace(name)
    email = f"marketer@{name.lower()}.test"
    accounts.create_user(email, workspace, PASSWORD)
    definition = json.loads(json.dumps(DEFINITION))
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    web = Panels(app)
    assert web.sign_in(email, PASSWORD).status_code == 302
    web.token = web.csrf_token("/sequences")
    return Seeded(workspace, sequence, web)


class _Controls(HTMLParser):
    """Form controls (tag, attributes) and the ids that a <label for> points at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[tuple[str, dict[str, str | None]]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        elif tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append((tag, found))


def controls(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def field_names(html: str) -> set[str]:
    return {str(attrs.get("name")) for _, attrs in controls(html).controls}


def panel_values(html: str) -> dict[str, Any]:
    """What a browser would post for the form as rendered (text boxes, selects, checks)."""
    values: dict[str, Any] = dict(
        re.findall(r'<input type="hidden" name="(version)" value="(\d+)">', html)
    )
    for name, value in re.findall(
        r'<input type="(?:text|number|time|email|datetime-local)" id="[^"]*" '
        r'name="([^"]+)" value="([^"]*)"',
        html,
    ):
        values[name] = value
    for name, body in re.findall(
        r'<textarea id="[^"]*" name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S
    ):
        values[name] = body
    for name, options in re.findall(
        r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', options) or re.search(
            r'<option value="([^"]*)"', options
        )
        values[name] = chosen.group(1) if chosen else ""
    for name, value in re.findall(
        r'type="(?:checkbox|radio)" id="[^"]*" name="([^"]+)" value="([^"]*)" checked', html
    ):
        values.setdefault(name, [])
        values[name] = [*values[name], value] if isinstance(values[name], list) else [value]
    return {key: _unescape(value) for key, value in values.items()}


def _unescape(value: Any) -> Any:
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return (
        value.replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<")
        .replace("&gt;", ">").replace("&amp;", "&")
    )  # fmt: skip


def graph_event(response: TestResponse) -> dict[str, Any]:
    return json.loads(response.headers["HX-Trigger"])["pm-graph"]


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="pf-{re.escape(name)}-error">(.*?)</p>', html)
    assert found, f"no error shown for {name}"
    return _unescape(found.group(1))


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(EXPECTED_FIELDS))
def test_each_step_panel_renders_its_fields_with_labels(app, key):
    seeded = seed(app)

    response = seeded.web.get(seeded.url(f"steps/{key}/panel"))

    assert response.status_code == 200
    assert "HX-Request" in response.vary
    html = response.text
    assert set(EXPECTED_FIELDS[key]) <= field_names(html)
    parsed = controls(html)
    unlabelled = [a.get("name") for _, a in parsed.controls if a.get("id") not in parsed.labelled]
    assert unlabelled == [], "every control needs a <label for>"
    assert CSRF_INPUT.search(html), "the form carries the CSRF token"
    assert f'name="version" value="{seeded.sequence.version}"' in html


@pytest.mark.parametrize(
    ("key", "choice", "expected"),
    [
        ("delay_1", {"until": "weekday"}, ["weekday", "time", "timezone"]),
        ("delay_1", {"until": "datetime"}, ["at", "timezone"]),
        ("delay_1", {"until": "field"}, ["field", "offset", "timezone", "if_past"]),
        (
            "delay_1",
            {"window.enabled": "on"},
            ["window.weekdays", "window.start", "window.end", "if_window_missed"],
        ),
        ("wait_1", {"conditions.0.kind": "field"}, ["conditions.0.field", "conditions.0.timeout"]),
        ("wait_1", {"conditions.0.kind": "event"}, ["conditions.0.event", "conditions.0.props"]),
        ("branch_1", {"cond.items.0.kind": "email_event"}, ["cond.items.0.email_step_id"]),
        ("branch_1", {"cond.items.0.kind": "event"}, ["cond.items.0.lookback_window"]),
        ("branch_1", {"cond.items.0.kind": "segment"}, ["cond.items.0.segment"]),
        ("branch_1", {"cond.kind": "not"}, ["cond.items.0.field"]),
        ("action_1", {"action": "update_field"}, ["field", "value"]),
        ("action_1", {"action": "move_to_sequence"}, ["sequence"]),
        ("email_1", {"_op": "add:variants"}, ["variants.0.key", "ab_test.metric"]),
    ],
)
def test_changing_a_choice_shows_the_fields_it_needs(app, key, choice, expected):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url(f"steps/{key}/panel")).text)

    response = seeded.web.submit(
        seeded.url(f"steps/{key}/panel"), data={"_op": "refresh"} | values | choice
    )

    assert response.status_code == 200 and "HX-Trigger" not in response.headers
    names = field_names(response.text)
    for name in expected:
        assert name in names or f"add:{name}" in response.text, name
    parsed = controls(response.text)
    assert all(a.get("id") in parsed.labelled for _, a in parsed.controls)


def test_the_email_panel_offers_variables_including_custom_fields(app):
    seeded = seed(app)
    contacts.upsert_contact(
        seeded.workspace, {"email": "ann@acme.test", "first_name": "Ann", "fields": {"plan": "pro"}}
    )
    html = seeded.web.get(seeded.url("steps/email_1/panel")).text
    for snippet in (
        "contact.first_name",
        "contact.email",
        "contact.fields.plan",
        "unsubscribe_url",
    ):
        assert f'data-insert="{{{{ {snippet} }}}}"' in html
    assert "Ann &lt;ann@acme.test&gt;" in html, "workspace contacts are offered for the preview"
    assert "from:closest form" in html and 'hx-post="' + seeded.url("steps/email_1/preview") in html


def test_the_settings_panel_shows_the_stored_settings(app):
    seeded = seed(app)
    response = seeded.web.get(seeded.url("settings"))
    assert response.status_code == 200
    values = panel_values(response.text)
    assert values["name"] == "Every step"
    assert values["trigger.type"] == "segment_join"
    assert values["trigger.segment"] == "New Signups"
    assert values["exit.on_reply"] == ["on"]
    assert values["re_enrollment.mode"] == ["never"]
    assert 'value="Paid"' in response.text and 'value="Booked Meeting"' in response.text


# --- saving -------------------------------------------------------------------------------------


def test_saving_an_email_stores_it_and_announces_the_new_state(app):
    seeded = seed(app)
    html = seeded.web.get(seeded.url("steps/email_1/panel")).text
    values = panel_values(html) | {
        "name": "Hello <b>",
        "subject": "New subject",
        "body": "<p>B</p>",
    }

    response = seeded.web.submit(seeded.url("steps/email_1/panel"), data=values)

    assert response.status_code == 200
    assert 'class="saved"' in response.text
    state = graph_event(response)
    assert state["version"] == seeded.sequence.version + 1
    step = seeded.step("email_1")
    assert step.config == {"subject": "New subject", "body": "<p>B</p>"}
    assert step.name == "Hello <b>"
    assert "Hello &lt;b&gt;" in response.text
    assert f'name="version" value="{state["version"]}"' in response.text


def test_the_version_header_wins_over_the_form_field(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("steps/goal_1/panel")).text)
    version = seeded.sequence.version
    response = seeded.web.submit(
        seeded.url("steps/goal_1/panel"),
        data=values | {"goal": "Paid", "version": "999"},
        headers={"X-Sequence-Version": str(version)},
    )
    assert response.status_code == 200
    assert seeded.step("goal_1").config == {"goal": "Paid"}


def test_invalid_input_is_shown_inline_and_saves_nothing(app):
    seeded = seed(app)
    version = seeded.sequence.version
    values = panel_values(seeded.web.get(seeded.url("steps/delay_1/panel")).text)

    response = seeded.web.submit(
        seeded.url("steps/delay_1/panel"), data=values | {"duration": "3 months"}
    )

    assert response.status_code == 200
    assert "HX-Trigger" not in response.headers
    assert field_error(response.text, "duration").startswith("Duration: '3 months' uses months")
    assert 'aria-describedby="pf-duration-error"' in response.text
    assert 'value="3 months"' in response.text, "what the user typed is kept"
    assert seeded.step("delay_1").config == {"duration": "2 days"}
    assert seeded.fresh().version == version


def test_split_paths_that_do_not_total_100_name_the_total(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("steps/split_1/panel")).text)
    response = seeded.web.submit(
        seeded.url("steps/split_1/panel"), data=values | {"paths.1.percent": "30"}
    )
    assert "add up to 80" in field_error(response.text, "paths")
    assert seeded.step("split_1").config["paths"][1]["percent"] == 50


def test_renaming_a_split_path_drops_its_connection(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("steps/split_1/panel")).text)
    response = seeded.web.submit(
        seeded.url("steps/split_1/panel"), data=values | {"paths.1.label": "c"}
    )
    state = graph_event(response)
    labels = {c["label"] for c in state["connections"] if c["source"] == "split_1"}
    assert labels == {"a"}
    outputs = next(s["outputs"] for s in state["steps"] if s["id"] == "split_1")
    assert outputs == ["a", "c"]


def test_adding_and_removing_rows_keeps_typed_input_and_saves_nothing(app):
    seeded = seed(app)
    version = seeded.sequence.version
    values = panel_values(seeded.web.get(seeded.url("steps/split_1/panel")).text)
    typed = values | {"paths.0.label": "typed", "_op": "add:paths"}

    added = seeded.web.submit(seeded.url("steps/split_1/panel"), data=typed)

    assert added.status_code == 200 and "HX-Trigger" not in added.headers
    assert {"paths.2.label", "paths.2.percent"} <= field_names(added.text)
    assert 'value="typed"' in added.text
    removed = seeded.web.submit(
        seeded.url("steps/split_1/panel"), data=panel_values(added.text) | {"_op": "remove:paths.0"}
    )
    assert "paths.2.label" not in field_names(removed.text)
    assert 'value="typed"' not in removed.text and 'value="b"' in removed.text
    assert seeded.fresh().version == version
    assert seeded.step("split_1").config["paths"][0]["label"] == "a"


def test_a_branch_group_can_be_added_and_saved(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("steps/branch_1/panel")).text)
    grouped = seeded.web.submit(
        seeded.url("steps/branch_1/panel"), data=values | {"_op": "group:cond.items"}
    )
    assert "cond.items.2.items.0.kind" in field_names(grouped.text)
    values = panel_values(grouped.text) | {
        "cond.items.2.kind": "any",
        "cond.items.2.items.0.kind": "segment",
        "cond.items.2.items.0.segment": "Enterprise",
    }
    switched = seeded.web.submit(
        seeded.url("steps/branch_1/panel"), data=values | {"_op": "refresh"}
    )
    saved = seeded.web.submit(seeded.url("steps/branch_1/panel"), data=panel_values(switched.text))

    assert saved.status_code == 200, saved.text
    assert 'class="saved"' in saved.text
    condition = seeded.step("branch_1").config["condition"]
    assert condition["all"][2] == {"any": [{"type": "segment", "segment": "Enterprise"}]}
    assert condition["all"][0] == {
        "type": "field",
        "field": "company_size",
        "op": "gt",
        "value": 10,
    }


def test_saving_settings_stores_them(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    values |= {
        "name": "Renamed",
        "trigger.type": "api_event",
        "trigger.event": "trial_started",
        "exit.goals": ["Paid"],
        "re_enrollment.mode": "after_delay",
        "re_enrollment.delay": "90 days",
        "settings.timezone": "Europe/Paris",
    }
    response = seeded.web.submit(seeded.url("settings"), data=values)

    assert response.status_code == 200
    assert 'class="saved"' in response.text
    assert graph_event(response)["version"] == seeded.sequence.version + 1
    sequence = seeded.fresh()
    assert sequence.name == "Renamed"
    assert sequence.trigger_config == {"type": "api_event", "event": "trial_started"}
    assert sequence.exit_config == {"on_reply": True, "goals": ["Paid"]}
    assert sequence.re_enrollment_config == {"mode": "after_delay", "delay": "90 days"}
    assert sequence.settings["timezone"] == "Europe/Paris"


def test_invalid_settings_are_shown_inline_and_save_nothing(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    response = seeded.web.submit(
        seeded.url("settings"),
        data=values | {"name": " ", "settings.from_email": "nope", "exit.goals": ["Unknown"]},
    )
    assert response.status_code == 200 and "HX-Trigger" not in response.headers
    assert field_error(response.text, "name") == "Name: must not be empty"
    assert "'nope' is not an email address" in field_error(response.text, "settings.from_email")
    assert "'Unknown' is not a goal" in field_error(response.text, "exit.goals")
    assert seeded.fresh().name == "Every step"


# --- conflicts, permissions, CSRF ---------------------------------------------------------------


def test_a_stale_version_gets_409_and_changes_nothing(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("steps/goal_1/panel")).text)
    stale = str(seeded.sequence.version - 1)

    response = seeded.web.submit(
        seeded.url("steps/goal_1/panel"),
        data=values | {"goal": "Paid"},
        headers={"X-Sequence-Version": stale},
    )
    settings = seeded.web.submit(
        seeded.url("settings"),
        data=panel_values(seeded.web.get(seeded.url("settings")).text) | {"version": stale},
    )

    assert response.status_code == 409 and settings.status_code == 409
    assert "another tab" in response.json["error"]["message"]
    assert seeded.step("goal_1").config == {"goal": "Booked Meeting"}
    assert seeded.fresh().name == "Every step"


def test_a_published_sequence_shows_disabled_forms_and_refuses_saves(app):
    seeded = seed(app)
    sequence = seeded.fresh()
    sequence.status, sequence.published_version = "active", 1
    db.session.commit()
    html = seeded.web.get(seeded.url("steps/goal_1/panel")).text
    assert '<fieldset class="panel-fields" disabled>' in html
    assert "Version 1 is live: to change its steps, edit a draft of version 2." in html

    values = panel_values(html) | {"goal": "Paid", "version": str(sequence.version)}
    response = seeded.web.submit(seeded.url("steps/goal_1/panel"), data=values)

    assert response.status_code == 422
    assert "edit a draft of the next version" in response.json["error"]["message"]
    assert seeded.step("goal_1").config == {"goal": "Booked Meeting"}


def test_another_workspaces_sequence_is_not_found(app):
    mine = seed(app, "Acme")
    theirs = seed(app, "Globex")
    values = {"goal": "Paid", "version": str(theirs.sequence.version)}
    for path in ("steps/goal_1/panel", "settings"):
        assert mine.web.get(theirs.url(path)).status_code == 404
        assert mine.web.submit(theirs.url(path), data=values).status_code == 404
    assert mine.web.submit(theirs.url("steps/email_1/preview")).status_code == 404
    assert theirs.step("goal_1").config == {"goal": "Booked Meeting"}


def test_unknown_steps_and_non_email_previews_are_not_found(app):
    seeded = seed(app)
    assert seeded.web.get(seeded.url("steps/nope/panel")).status_code == 404
    assert seeded.web.submit(seeded.url("steps/goal_1/preview")).status_code == 404


def test_posts_need_the_csrf_token_and_panels_need_sign_in(app):
    seeded = seed(app)
    seeded.web.token = "forged"
    response = seeded.web.submit(seeded.url("steps/goal_1/panel"), data={"goal": "Paid"})
    assert response.status_code == 400
    assert seeded.step("goal_1").config == {"goal": "Booked Meeting"}
    anonymous = Web(app).get(seeded.url("steps/goal_1/panel"))
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]


# --- preview ------------------------------------------------------------------------------------


def test_the_preview_is_escaped_into_a_sandboxed_iframe(app):
    seeded = seed(app)
    contact, _ = contacts.upsert_contact(
        seeded.workspace, {"email": "m@acme.test", "first_name": '"><script>alert(1)</script>'}
    )
    body = "<p>Hi {{ contact.first_name }}</p>"
    body += '<script>parent.alert("x")</script><img src=x onerror=alert(2)>'

    response = seeded.web.submit(
        seeded.url("steps/email_1/preview"),
        data={
            "subject": "Hi {{ contact.first_name }}",
            "body": body,
            "preview.contact": str(contact.id),
        },
    )

    assert response.status_code == 200
    html = response.text
    frame = re.search(r'<iframe class="preview-frame"[^>]*>', html)
    assert frame is not None
    assert 'sandbox=""' in frame.group(0)
    assert "<script" not in html and "<img" not in html, "the email's markup only lives in srcdoc"
    srcdoc = _unescape(re.search(r'srcdoc="([^"]*)"', frame.group(0)).group(1))
    assert (
        '<script>parent.alert("x")</script>' in srcdoc
    )  # the email as written, inert in the sandbox
    assert "&lt;script&gt;alert(1)" in srcdoc, "contact values are escaped inside the email too"
    assert "Hi &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html, (
        "the subject is escaped text"
    )


def test_the_preview_uses_sample_data_and_reports_template_errors(app):
    seeded = seed(app)
    sample = seeded.web.submit(
        seeded.url("steps/email_1/preview"),
        data={"subject": "For {{ contact.first_name }}", "body": "<p>{{ contact.email }}</p>"},
    )
    assert "For Alex" in sample.text and "alex.rivera@example.com" in sample.text

    broken = seeded.web.submit(
        seeded.url("steps/email_1/preview"),
        data={"subject": "x", "body": "{{ contact.__class__.__mro__ }}"},
    )
    assert broken.status_code == 200
    assert "could not be rendered" in broken.text and "sandbox" in broken.text
    syntax = seeded.web.submit(
        seeded.url("steps/email_1/preview"), data={"subject": "{{ oops", "body": ""}
    )
    assert "syntax error" in syntax.text


def test_the_preview_never_shows_another_workspaces_contact(app):
    mine = seed(app, "Acme")
    theirs = seed(app, "Globex")
    other, _ = contacts.upsert_contact(
        theirs.workspace, {"email": "x@globex.test", "first_name": "Zed"}
    )
    response = mine.web.submit(
        mine.url("steps/email_1/preview"),
        data={"subject": "{{ contact.first_name }}", "body": "", "preview.contact": str(other.id)},
    )
    assert "Zed" not in response.text and "Alex" in response.text


def test_the_preview_applies_a_chosen_variant(app):
    seeded = seed(app)
    data = {
        "subject": "Main",
        "body": "<p>Main body</p>",
        "variants.0.key": "A",
        "variants.0.weight": "50",
        "variants.0.subject": "Subject A",
        "variants.1.key": "B",
        "variants.1.weight": "50",
        "variants.1.body": "<p>Body B</p>",
        "preview.variant": "B",
    }
    response = seeded.web.submit(seeded.url("steps/email_1/preview"), data=data)
    assert "Main" in response.text and "Body B" in _unescape(response.text)


def test_goals_are_defined_in_the_settings_panel_and_offered_as_exit_goals(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    added = seeded.web.submit(seeded.url("settings"), data=values | {"_op": "add:goals"})
    values = panel_values(added.text)
    assert values["goals.0.name"] == "Paid", "the stored goal is shown"
    assert values["goals.1.when"] == "field_change" and values["goals.1.action"] == "exit"
    values |= {
        "goals.1.name": "Booked Meeting",
        "goals.1.field": "deal_stage",
        "goals.1.equals": "Meeting Booked",
    }
    moved = seeded.web.submit(
        seeded.url("settings"),
        data=values | {"_op": "refresh", "goals.1.action": "move_to_sequence"},
    )
    assert "goals.1.sequence" in field_names(moved.text)
    values = panel_values(moved.text) | {
        "goals.1.sequence": "Pre-meeting Prep",
        "exit.goals": ["Paid", "Booked Meeting"],
    }

    response = seeded.web.submit(seeded.url("settings"), data=values)

    assert response.status_code == 200 and 'class="saved"' in response.text
    sequence = seeded.fresh()
    assert sequence.goals_config[0]["name"] == "Paid"
    assert sequence.goals_config[1:] == [
        {
            "name": "Booked Meeting",
            "when": {"type": "field_change", "field": "deal_stage", "equals": "Meeting Booked"},
            "action": {"type": "move_to_sequence", "sequence": "Pre-meeting Prep"},
        }
    ]
    assert sequence.exit_config["goals"] == ["Paid", "Booked Meeting"]
    assert 'value="Booked Meeting"' in response.text, "the saved goal is an exit choice"


def test_an_unfinished_goal_is_named_inline_and_nothing_is_saved(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    values = panel_values(
        seeded.web.submit(seeded.url("settings"), data=values | {"_op": "add:goals"}).text
    )
    response = seeded.web.submit(
        seeded.url("settings"), data=values | {"goals.1.when": "url_visit"}
    )
    assert "HX-Trigger" not in response.headers
    assert "must not be empty" in field_error(response.text, "goals.1.name")
    assert "must not be empty" in field_error(response.text, "goals.1.url_contains")
    assert [g["name"] for g in seeded.fresh().goals_config] == ["Paid"]


def test_the_preview_shows_an_over_budget_template_inline_instead_of_spinning(app):
    seeded = seed(app)
    nested = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    started = time.perf_counter()
    response = seeded.web.submit(
        seeded.url("steps/email_1/preview"), data={"subject": "Hi", "body": nested}
    )
    assert time.perf_counter() - started < 5
    assert response.status_code == 200
    assert (
        "The preview could not be rendered: HTML body: template is over the render budget "
        "(more than 1,000,000 loop steps)"
    ) in response.text


def test_the_preview_uses_the_configured_output_budget(app):
    seeded = seed(app)
    app.config["RENDER_MAX_BYTES"] = 1000
    response = seeded.web.submit(
        seeded.url("steps/email_1/preview"), data={"subject": "Hi", "body": "{{ 'x' * 2000 }}"}
    )
    assert "output is larger than 1,000 bytes" in response.text


def test_saving_an_email_over_the_render_budget_is_refused_inline_and_saves_nothing(app):
    seeded = seed(app)
    app.config["RENDER_TIMEOUT_SECONDS"] = 60  # the step budget, not the CPU clock, decides
    version = seeded.sequence.version
    values = panel_values(seeded.web.get(seeded.url("steps/email_1/panel")).text)
    nested = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"

    response = seeded.web.submit(seeded.url("steps/email_1/panel"), data=values | {"text": nested})

    assert response.status_code == 200
    assert "HX-Trigger" not in response.headers
    assert field_error(response.text, "text") == (
        "Plain-text version (optional): template is over the render budget "
        "(more than 1,000,000 loop steps)"
    )
    assert seeded.step("email_1").config == DEFINITION["steps"][0]["config"]
    assert seeded.fresh().version == version


# --- the trigger: a type first, then its own inputs ------------------------------------------


def test_a_new_sequence_has_no_trigger_preselected_and_saving_keeps_it_unset(app):
    seeded = seed(app)
    blank = sequences.create_blank(seeded.workspace, "Fresh", None)
    url = f"/sequences/{blank.id}/settings"
    html = seeded.web.get(url).text
    assert '<option value="">Choose a trigger</option>' in html
    assert re.search(r'name="trigger.type"[^>]*>\s*<option value="">', html)
    assert " selected>" not in html.split('name="trigger.type"')[1].split("</select>")[0]
    assert 'name="trigger.segment"' not in html and 'name="trigger.event"' not in html

    saved = seeded.web.submit(url, data=panel_values(html) | {"name": "Fresh start"})
    assert 'class="saved"' in saved.text
    db.session.expire_all()
    fresh = db.session.get(Sequence, blank.id)
    assert (fresh.name, fresh.trigger_config) == ("Fresh start", None)
    [trigger] = [item for item in launch.launch_checklist(fresh) if item.key == "trigger"]
    assert not trigger.done


def test_choosing_joins_a_segment_shows_only_a_select_of_existing_segments(app):
    seeded = seed(app)
    segments.create_segment(seeded.workspace, "Enterprise", "static", None, NOW)
    html = seeded.web.get(seeded.url("settings")).text
    values = panel_values(html) | {"trigger.type": "segment_join", "trigger.segment": ""}

    shown = seeded.web.submit(seeded.url("settings"), data=values | {"_op": "refresh"}).text
    segment_select = shown.split('name="trigger.segment"')[1].split("</select>")[0]
    assert '<option value="Enterprise">Enterprise</option>' in segment_select
    assert 'name="trigger.event"' not in shown and 'name="trigger.form"' not in shown

    events = seeded.web.submit(
        seeded.url("settings"), data=values | {"trigger.type": "api_event", "_op": "refresh"}
    ).text
    assert 'name="trigger.event"' in events and 'name="trigger.segment"' not in events

    seeded.web.submit(seeded.url("settings"), data=values | {"trigger.segment": "Enterprise"})
    assert seeded.fresh().trigger_config == {"type": "segment_join", "segment": "Enterprise"}


def test_a_duplicate_starts_without_the_originals_trigger(app):
    seeded = seed(app)
    copy = sequences.duplicate_sequence(seeded.sequence, None)
    assert copy.trigger_config is None
    assert seeded.fresh().trigger_config == {"type": "segment_join", "segment": "New Signups"}
    [trigger] = [item for item in launch.launch_checklist(copy) if item.key == "trigger"]
    assert not trigger.done
