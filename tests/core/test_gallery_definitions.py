"""The shipped gallery templates (app/gallery/*.yaml): each one imports as is, could be
activated unchanged, reads well on the canvas, and keeps the rules its title promises."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from app.core.draft import Draft, DraftConnection, DraftStep, check_draft
from app.core.engine import Graph, Step, unsupported_steps
from app.core.format.document import STEP_MODELS, SequenceDefinition, StepModel
from app.core.format.parse import definition_to_dict, parse_definition
from app.core.graph import entry_step_id
from app.core.layout import auto_layout
from app.core.steps import step_outputs
from app.core.steps.delay import DelayFor
from app.mail.rendering import render_email

GALLERY = Path(__file__).resolve().parents[2] / "app" / "gallery"
NODE_WIDTH, NODE_HEIGHT = 220, 120
"""A step's box on the canvas: builder.css's width, and more height than a step card uses."""

EMAILS = {
    "saas_trial": ["Welcome", "Feature Highlight", "Case Study", "Expiry Warning", "Offer"],
    "webinar_promo": [
        "Invite",
        "Reminder 1 week before",
        "Reminder 1 day before",
        "Link 1 hour before",
        "Replay after",
    ],
    "cold_outreach": ["Value Prop", "Follow-up 1", "Follow-up 2", "Breakup"],
    "new_user_onboarding": [
        "Welcome & Getting Started",
        "Key Features Overview",
        "Pro Tips & Best Practices",
    ],
    "re_engagement": ["It's been a while", "Still interested?"],
}
TITLES = {
    "saas_trial": "SaaS Trial",
    "webinar_promo": "Webinar Promo",
    "cold_outreach": "Cold Outreach",
    "new_user_onboarding": "New User Onboarding",
    "re_engagement": "Re-engagement",
}
BUSINESS_HOURS = {
    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:00",
    "end": "17:00",
    "timezone": "recipient",
}


EmailStep, DelayStep = STEP_MODELS["email"], STEP_MODELS["delay"]


def load(key: str) -> SequenceDefinition:
    return parse_definition((GALLERY / f"{key}.yaml").read_text(encoding="utf-8"))


def in_flow_order(defn: SequenceDefinition) -> list[Any]:
    """The steps from the entry along the single path each template draws."""
    by_id = {step.id: step for step in defn.steps}
    following = {conn.source: conn.target for conn in defn.connections}
    assert len(following) == len(defn.connections), "a gallery template is one straight path"
    step_id: str | None = entry_step_id(defn.steps, defn.connections)
    ordered = []
    while step_id is not None:
        ordered.append(by_id[step_id])
        step_id = following.get(step_id)
    assert len(ordered) == len(defn.steps)
    return ordered


def emails(defn: SequenceDefinition) -> list[StepModel]:
    return [step for step in in_flow_order(defn) if isinstance(step, EmailStep)]


def delays_before_emails(defn: SequenceDefinition) -> list[tuple[StepModel, StepModel]]:
    flow = in_flow_order(defn)
    return [
        (before, step)
        for before, step in pairwise(flow)
        if isinstance(step, EmailStep) and isinstance(before, DelayStep)
    ]


def test_the_gallery_ships_exactly_the_five_templates() -> None:
    assert {path.stem for path in GALLERY.glob("*.yaml")} == set(EMAILS)


@pytest.mark.parametrize("key", sorted(EMAILS))
def test_a_template_passes_every_check_activation_makes(key: str) -> None:
    defn = load(key)  # strict parse: unknown keys, bad configs and graph rules all raise
    assert parse_definition(definition_to_dict(defn)) == defn, "the export re-imports unchanged"
    draft = Draft(
        [DraftStep(s.id, s.type, s.config_dict(), s.name) for s in defn.steps],
        [DraftConnection(c.source, c.target, c.label) for c in defn.connections],
    )
    assert [finding.to_dict() for finding in check_draft(draft)] == []  # no errors, no warnings
    following = {conn.source: conn.target for conn in defn.connections}
    steps = {
        s.id: Step(s.id, s.id, s.type, s.config_dict(), {None: following[s.id]})
        if s.id in following
        else Step(s.id, s.id, s.type, s.config_dict(), {})
        for s in defn.steps
    }
    graph = Graph(entry_id=entry_step_id(defn.steps, defn.connections), steps=steps)
    assert unsupported_steps(graph) == []


@pytest.mark.parametrize("key", sorted(EMAILS))
def test_a_template_is_named_for_the_gallery_and_says_what_it_does(key: str) -> None:
    defn = load(key)
    assert defn.name == TITLES[key]
    assert defn.description and "\n" not in defn.description.strip()


@pytest.mark.parametrize("key", sorted(EMAILS))
def test_the_emails_are_the_seeds_in_flow_order(key: str) -> None:
    assert [step.name for step in emails(load(key))] == EMAILS[key]


@pytest.mark.parametrize("key", sorted(EMAILS))
def test_the_builder_lays_every_template_out_top_to_bottom_without_overlaps(key: str) -> None:
    """Templates carry no positions: the builder places them as Tidy up does."""
    defn = load(key)
    assert all(step.position is None for step in defn.steps)
    positions = auto_layout(
        [step.id for step in defn.steps],
        [DraftConnection(c.source, c.target, c.label) for c in defn.connections],
        {step.id: step_outputs(step.type, step.config_dict()) for step in defn.steps},
    )
    for conn in defn.connections:
        assert positions[conn.target][1] > positions[conn.source][1], conn
    boxes = sorted(positions.items())
    for index, (first, (x1, y1)) in enumerate(boxes):
        for second, (x2, y2) in boxes[index + 1 :]:
            apart = abs(x1 - x2) >= NODE_WIDTH or abs(y1 - y2) >= NODE_HEIGHT
            assert apart, f"{first} and {second} overlap"


@pytest.mark.parametrize("key", sorted(EMAILS))
def test_every_email_is_personal_has_a_call_to_action_and_renders(key: str) -> None:
    for step in emails(load(key)):
        config = step.config
        assert "{{" in config.subject + config.body, step.name
        assert "{{ unsubscribe_url }}" in config.body, step.name
        for contact, greeting in (
            ({"first_name": "Ada", "company": "Northwind", "fields": {}}, "Hi Ada,"),
            ({"first_name": "", "fields": {}}, "Hi there,"),
        ):
            context = {"contact": contact, "unsubscribe_url": "https://pm.test/u/x"}
            rendered = render_email(config.subject, config.body, config.text, context)
            assert greeting in rendered.html and greeting in rendered.text, step.name
            assert "{{" not in rendered.subject + rendered.html
            assert "https://pm.test/u/x" in rendered.html
            assert 'href="https://example.com/' in rendered.html, f"{step.name}: no call to action"


def test_the_trial_ends_when_the_contact_pays() -> None:
    defn = load("saas_trial")
    assert defn.trigger.model_dump() == {"type": "api_event", "event": "trial_started"}
    assert "Paid Subscription" in defn.exit.goals
    [goal] = [goal for goal in defn.goals if goal.name == "Paid Subscription"]
    assert goal.action.type == "exit"


def test_the_trial_follows_the_14_day_calendar_in_business_hours() -> None:
    waits = [
        (delay.config.duration, email.name)
        for delay, email in delays_before_emails(load("saas_trial"))
    ]
    assert waits == [
        ("2 days", "Feature Highlight"),
        ("3 days", "Case Study"),
        ("6 days", "Expiry Warning"),
        ("3 days", "Offer"),
    ]
    for delay, _ in delays_before_emails(load("saas_trial")):
        window = delay.config.model_dump()["window"]
        assert (window["start"], window["end"], window["timezone"]) == (
            "09:00",
            "17:00",
            "recipient",
        )


def test_cold_outreach_sends_only_on_weekdays_in_business_hours_and_stops_on_a_reply() -> None:
    defn = load("cold_outreach")
    assert defn.exit.on_reply is True
    flow = in_flow_order(defn)
    pairs = delays_before_emails(defn)
    assert [email.name for _, email in pairs] == EMAILS["cold_outreach"], "every email waits"
    assert isinstance(flow[0], DelayStep), "even the first email waits for business hours"
    for delay, email in pairs:
        assert isinstance(delay.config, DelayFor), email.name
        config = delay.config.model_dump()
        assert config["window"] == BUSINESS_HOURS, email.name
        assert config["if_window_missed"] == "next_window", email.name
    assert [delay.config.duration for delay, _ in pairs] == [
        "0 minutes",
        "3 days",
        "4 days",
        "7 days",
    ]


def test_cold_outreach_exits_when_a_meeting_is_booked() -> None:
    defn = load("cold_outreach")
    assert defn.trigger.type == "manual"
    assert "Booked Meeting" in defn.exit.goals
    [goal] = [goal for goal in defn.goals if goal.name == "Booked Meeting"]
    assert goal.when.model_dump() == {
        "type": "field_change",
        "field": "deal_stage",
        "equals": "Meeting Booked",
    }


def test_webinar_reminders_are_timed_from_the_sequences_webinar_at_variable() -> None:
    """One date set by the marketer, not a field the registration form cannot ask for."""
    defn = load("webinar_promo")
    assert defn.trigger.model_dump() == {"type": "form_submission", "form": "Webinar Registration"}
    assert defn.settings.model_dump()["variables"] == {"webinar_at": {"type": "datetime"}}
    assert emails(defn)[0] is in_flow_order(defn)[0], "the invite goes out at once"
    timed = [(delay.config.model_dump(), email.name) for delay, email in delays_before_emails(defn)]
    skip = {"if_past": "skip_next_email"}  # a late sign-up never hears "a week to go"
    assert timed == [
        ({"until": "field", "field": "sequence.webinar_at", "offset": offset, **extra}, name)
        for offset, extra, name in [
            ("-7 days", skip, "Reminder 1 week before"),
            ("-1 day", skip, "Reminder 1 day before"),
            ("-1 hour", {}, "Link 1 hour before"),
            ("+1 day", {}, "Replay after"),
        ]
    ]


def test_onboarding_is_the_seeds_three_emails_two_and_three_days_apart() -> None:
    defn = load("new_user_onboarding")
    assert defn.trigger.model_dump() == {"type": "segment_join", "segment": "New Signups"}
    assert defn.exit.on_reply is True and defn.exit.goals == ["Paid Subscription"]
    assert [email.config.subject for email in emails(defn)] == [
        "Welcome to PenguinMails!",
        "3 things you can do today",
        "Become a pro user",
    ]
    pairs = delays_before_emails(defn)
    assert [delay.config.duration for delay, _ in pairs] == ["2 days", "3 days"]
    assert all(delay.config.model_dump()["window"] == BUSINESS_HOURS for delay, _ in pairs)


def test_re_engagement_may_run_again_after_90_days_and_ends_when_the_contact_returns() -> None:
    defn = load("re_engagement")
    assert defn.re_enrollment.model_dump() == {"mode": "after_delay", "delay": "90 days"}
    assert defn.trigger.model_dump() == {"type": "segment_join", "segment": "Inactive 90 days"}
    assert defn.exit.on_reply is True and defn.exit.goals == ["Came Back"]
    [goal] = defn.goals
    assert goal.when.model_dump() == {"type": "custom_event", "event": "user_login"}
    assert goal.action.type == "exit"
    last = in_flow_order(defn)[-1]
    assert last.config.model_dump() == {"action": "add_tag", "tag": "Unresponsive"}
