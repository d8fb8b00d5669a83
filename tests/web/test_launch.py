"""The launch checklist: test email through the real dispatcher to a real SMTP server,
Activate only once everything is ready; what each trigger needs (segment, form, event,
manual) and moves to existing sequences; and the list's create, duplicate and archive."""

from __future__ import annotations

import html
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.core.format.problems import DefinitionError
from app.extensions import db
from app.models import ContactSequence, Form, Segment, Sequence, SequenceStep, SequenceVersion
from app.services import accounts, builder, contacts, segments, sequences
from tests.helpers import onboarding_definition
from tests.web.client import Web

PASSWORD = "correct-horse-battery"


@pytest.fixture
def web(app: Flask) -> Web:
    workspace = accounts.create_workspace("Acme")
    accounts.create_user("marketer@acme.test", workspace, PASSWORD)
    contacts.upsert_contact(
        workspace, {"email": "dana@customer.test", "first_name": "Dana", "fields": {"plan": "pro"}}
    )
    client = Web(app)
    assert client.sign_in("marketer@acme.test", PASSWORD).status_code == 302
    return client


def onboarding(app: Flask, **changes: Any) -> uuid.UUID:
    definition = {**onboarding_definition(), **changes}
    workspace = accounts.workspace_named("Acme")
    return sequences.create_sequence(workspace, sequences.parse_input(definition)).id


def checklist(web: Web, sequence_id: uuid.UUID) -> dict[str, bool]:
    html = web.get(f"/sequences/{sequence_id}/checklist").text
    return {
        key: f'class="check done" data-check="{key}"' in html
        for key in ("trigger", "content", "delays", "graph", "test")
    }


def item(web: Web, sequence_id: uuid.UUID, key: str) -> str:
    """The checklist item's HTML (its <li>), or "" when the checklist does not show it."""
    page = web.get(f"/sequences/{sequence_id}/checklist").text
    start = page.find(f'data-check="{key}"')
    return "" if start < 0 else page[page.rfind("<li", 0, start) : page.find("</li>", start)]


def mark_tested(app: Flask, sequence_id: uuid.UUID) -> None:
    """As after a successful test send (covered above), so only the item under test is open."""
    with app.app_context():
        sequence = db.session.get(Sequence, sequence_id)
        sequence.test_sent_at, sequence.test_sent_to = datetime.now(UTC), "marketer@acme.test"
        db.session.commit()


def status_of(app: Flask, sequence_id: uuid.UUID) -> str:
    with app.app_context():
        return db.session.get(Sequence, sequence_id).status


def test_test_email_arrives_rendered_for_a_chosen_contact_then_activate(app, web, smtp_sink):
    sequence_id = onboarding(app)
    assert checklist(web, sequence_id) == {
        "trigger": True, "content": True, "delays": True, "graph": True, "test": False,
    }  # fmt: skip
    csrf = web.csrf_token("/sequences")
    refused = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in refused.text
    assert status_of(app, sequence_id) == "draft"

    with app.app_context():
        dana = contacts.contacts_by_email(
            accounts.workspace_named("Acme").id, ["dana@customer.test"]
        )
    contact_id = str(next(iter(dana.values())).id)
    page = web.post(
        f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf, "contact_id": contact_id}
    )

    assert "Sent 3 test email(s) to marketer@acme.test" in page.text
    received = smtp_sink.wait_for(3)
    assert [m["To"] for m in received] == ["Dana <marketer@acme.test>"] * 3
    assert received[0]["Subject"].startswith("[Test 1/3] ")
    assert "Dana" in received[0].get_body(("html",)).get_content()
    assert checklist(web, sequence_id)["test"] is True

    activated = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert activated.headers["HX-Refresh"] == "true"
    assert status_of(app, sequence_id) == "active"
    with app.app_context():  # activation published version 1, by whoever pressed Activate
        first = db.session.scalars(
            select(SequenceVersion).where(SequenceVersion.sequence_id == sequence_id)
        ).one()
        assert (first.number, first.published_by) == (1, "marketer@acme.test")
    web.post(f"/sequences/{sequence_id}/status/pause", data={"csrf_token": csrf})
    assert status_of(app, sequence_id) == "paused"


def test_a_failed_test_send_does_not_tick_the_checklist(app, web, smtp_sink):
    sequence_id = onboarding(app)
    smtp_sink.reject("marketer@acme.test")
    csrf = web.csrf_token("/sequences")
    page = web.post(f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf})
    assert "could not be sent" in page.text
    assert checklist(web, sequence_id)["test"] is False


def test_test_emails_go_to_every_address_typed_and_tick_the_checklist(app, web, smtp_sink):
    sequence_id = onboarding(app)
    csrf = web.csrf_token("/sequences")
    form = web.get(f"/sequences/{sequence_id}/checklist").text
    assert 'name="to" value="marketer@acme.test"' in form  # the signed-in user by default

    page = web.post(
        f"/sequences/{sequence_id}/test-email",
        data={"csrf_token": csrf, "to": "boss@acme.test, Copy@Agency.test ,boss@ACME.test"},
    )

    assert "Sent 6 test email(s) to boss@acme.test, Copy@agency.test" in page.text
    received = smtp_sink.wait_for(6)
    to = sorted(m["To"].addresses[0].addr_spec for m in received)
    assert to == ["Copy@agency.test"] * 3 + ["boss@acme.test"] * 3
    assert item(web, sequence_id, "test").count("boss@acme.test, Copy@agency.test") == 1
    assert checklist(web, sequence_id)["test"] is True


def test_render_for_lists_a_few_contacts_and_searches_the_rest(app, web, smtp_sink):
    sequence_id = onboarding(app)
    acme = accounts.workspace_named("Acme")
    for n in range(25):
        contacts.upsert_contact(acme, {"email": f"a{n:02}@people.test"})
    contacts.upsert_contact(acme, {"email": "zoe@zeta.test", "first_name": "Zoe"})
    rival = accounts.create_workspace("Rival")
    contacts.upsert_contact(rival, {"email": "zoe@rival.test", "first_name": "Zoe"})

    listed = web.get(f"/sequences/{sequence_id}/checklist").text
    select = listed[
        listed.find('<select id="render-for"') : listed.find(
            "</select>", listed.find('id="render-for"')
        )
    ]
    assert select.count("@people.test</option>") == 20
    assert "zoe@zeta.test" not in select
    assert "7 more: search to narrow the list" in select  # 27 contacts, 20 shown

    found = web.get(f"/sequences/{sequence_id}/contact-options?q=zoe").text
    assert "zoe@zeta.test" in found and "rival" not in found and "@people.test" not in found
    zoe = re.search(r'<option value="([0-9a-f-]+)" >zoe@zeta.test', found)
    assert zoe

    csrf = web.csrf_token("/sequences")
    sent = web.post(
        f"/sequences/{sequence_id}/test-email",
        data={"csrf_token": csrf, "contact_id": zoe.group(1)},
    )
    assert f'<option value="{zoe.group(1)}" selected>zoe@zeta.test' in sent.text
    assert "Zoe" in smtp_sink.wait_for(3)[0].get_body(("html",)).get_content()


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("boss@acme.test, not-an-address", "Send to: 'not-an-address' is not an email address"),
        (", ".join(f"p{n}@acme.test" for n in range(11)), "Send to: at most 10 addresses"),
    ],
)
def test_a_bad_send_to_list_is_refused_naming_the_field(app, web, smtp_sink, typed, problem):
    sequence_id = onboarding(app)
    csrf = web.csrf_token("/sequences")

    page = web.post(f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf, "to": typed})

    assert problem in html.unescape(page.text)
    assert 'aria-invalid="true"' in page.text and html.escape(typed) in page.text
    assert smtp_sink.messages == []
    assert checklist(web, sequence_id)["test"] is False


def test_an_unfinished_draft_cannot_be_activated(app, web, smtp_sink):
    csrf = web.csrf_token("/sequences")
    created = web.post("/sequences", data={"csrf_token": csrf, "name": "Trial nurture"})
    assert created.status_code == 302
    sequence_id = uuid.UUID(created.headers["Location"].rsplit("/", 1)[1])
    state = checklist(web, sequence_id)
    assert state == {
        "trigger": False, "content": False, "delays": True, "graph": False, "test": False,
    }  # fmt: skip
    response = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in response.text
    assert status_of(app, sequence_id) == "draft"


def test_activation_refuses_an_incomplete_graph_even_through_the_service(app):
    workspace = accounts.create_workspace("Acme")
    blank = sequences.create_blank(workspace, "Draft", None)
    from datetime import UTC, datetime

    from app.core.format.problems import DefinitionError

    with pytest.raises(DefinitionError):
        sequences.set_status(blank, "activate", datetime(2026, 12, 1, tzinfo=UTC))


def test_create_needs_a_name(app, web):
    csrf = web.csrf_token("/sequences")
    response = web.post("/sequences", data={"csrf_token": csrf, "name": "   "})
    assert response.status_code == 422
    assert "give the sequence a name" in response.text


def test_duplicate_copies_the_graph_and_archive_hides_edits(app, web):
    sequence_id = onboarding(app)
    csrf = web.csrf_token("/sequences")
    copied = web.post(f"/sequences/{sequence_id}/duplicate", data={"csrf_token": csrf})
    copy_id = uuid.UUID(copied.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        keys = lambda sid: sorted(  # noqa: E731
            db.session.scalars(select(SequenceStep.key).where(SequenceStep.sequence_id == sid))
        )
        assert keys(copy_id) == keys(sequence_id) and keys(copy_id)
        assert db.session.get(Sequence, copy_id).name.startswith("Copy of ")
    web.post(f"/sequences/{copy_id}/archive", data={"csrf_token": csrf, "confirmed": "yes"})
    assert status_of(app, copy_id) == "archived"
    listing = web.get("/sequences").text
    assert "archived" in listing


def test_archive_asks_first_and_changes_nothing_until_confirmed(app, web):
    sequence_id = onboarding(app)
    csrf = web.csrf_token("/sequences")
    listing = web.get("/sequences").text
    assert (
        f'action="/sequences/{sequence_id}/archive" hx-boost="true" hx-confirm="Archive ' in listing
    )

    asked = web.post(f"/sequences/{sequence_id}/archive", data={"csrf_token": csrf})

    assert asked.status_code == 200
    assert "becomes read-only until you unarchive it" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert status_of(app, sequence_id) == "draft"
    by_htmx = web.post(
        f"/sequences/{sequence_id}/archive",
        data={"csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert by_htmx.status_code == 302  # hx-confirm asked in the browser
    assert status_of(app, sequence_id) == "archived"


def test_unarchive_returns_a_never_published_sequence_to_draft_and_a_published_one_to_paused(
    app, web
):
    never = onboarding(app, name="Never published")
    published = onboarding(app)
    now = datetime.now(UTC)
    with app.app_context():
        sequences.set_status(db.session.get_one(Sequence, published), "activate", now)
        sequences.set_status(db.session.get_one(Sequence, published), "pause", now)
        for sid in (never, published):
            sequences.archive_sequence(db.session.get_one(Sequence, sid), now)
    csrf = web.csrf_token("/sequences")
    assert f'action="/sequences/{never}/unarchive"' in web.get("/sequences").text

    for sid in (never, published):
        done = web.post(f"/sequences/{sid}/unarchive", data={"csrf_token": csrf})
        assert done.status_code == 302

    assert status_of(app, never) == "draft"
    assert status_of(app, published) == "paused"
    with app.app_context():
        assert db.session.get_one(Sequence, published).archived_at is None
    again = web.post(f"/sequences/{never}/unarchive", data={"csrf_token": csrf})
    assert "only an archived sequence can be unarchived" in web.get(again.headers["Location"]).text


def test_another_workspace_cannot_send_tests_or_activate(app, web):
    sequence_id = onboarding(app)
    rival = accounts.create_workspace("Rival")
    accounts.create_user("spy@rival.test", rival, PASSWORD)
    spy = Web(app)
    spy.sign_in("spy@rival.test", PASSWORD)
    csrf = spy.csrf_token("/sequences")
    for path in ("test-email", "status/activate", "duplicate", "archive", "checklist"):
        method = spy.get if path == "checklist" else spy.post
        kwargs = {} if path == "checklist" else {"data": {"csrf_token": csrf}}
        assert method(f"/sequences/{sequence_id}/{path}", **kwargs).status_code == 404, path
    assert status_of(app, sequence_id) == "draft"


def test_a_missing_trigger_segment_is_a_warning_with_a_one_click_create(app, web):
    sequence_id = onboarding(app)  # segment_join: New Signups, not created yet
    mark_tested(app, sequence_id)
    warning = html.unescape(item(web, sequence_id, "segment"))
    assert 'class="check warn"' in warning
    assert "Segment 'New Signups' does not exist yet" in warning
    assert 'href="/segments"' in warning and "Create segment 'New Signups'" in warning
    assert "Activate</button>" in web.get(f"/sequences/{sequence_id}/checklist").text
    assert 'disabled title="Finish' not in web.get(f"/sequences/{sequence_id}/checklist").text

    path = f"/sequences/{sequence_id}/trigger-segment"
    assert web.post(path).status_code == 400  # no CSRF token
    csrf = web.csrf_token("/sequences")
    rival = accounts.create_workspace("Rival")
    accounts.create_user("spy@rival.test", rival, PASSWORD)
    spy = Web(app)
    spy.sign_in("spy@rival.test", PASSWORD)
    assert spy.post(path, data={"csrf_token": spy.csrf_token("/sequences")}).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(Segment)).all() == []

    page = web.post(path, data={"csrf_token": csrf})

    assert page.status_code == 200 and 'data-check="segment"' not in page.text
    with app.app_context():
        [segment] = db.session.scalars(select(Segment)).all()
        acme = accounts.workspace_named("Acme")
        assert (segment.name, segment.kind, segment.workspace_id) == (
            "New Signups",
            "static",
            acme.id,
        )
    trigger = item(web, sequence_id, "trigger")
    assert 'class="check done"' in trigger
    assert "0 contact(s) in" in trigger and f'href="/segments/{segment.id}"' in trigger
    again = web.post(path, data={"csrf_token": csrf})
    assert "already" in again.text  # a second click names the existing segment, adds none
    with app.app_context():
        assert len(db.session.scalars(select(Segment)).all()) == 1


def test_segment_members_are_counted_and_not_enrolled_by_activation(app, web):
    with app.app_context():
        acme = accounts.workspace_named("Acme")
        segment = segments.create_segment(acme, "New Signups", "static", None, datetime.now(UTC))
        dana = contacts.contacts_by_email(acme.id, ["dana@customer.test"])
        segments.add_members(segment, [c.id for c in dana.values()], datetime.now(UTC))
        segment_id = segment.id
    sequence_id = onboarding(app)
    mark_tested(app, sequence_id)
    trigger = item(web, sequence_id, "trigger")
    assert "1 contact(s) in" in trigger
    assert "does <strong>not</strong> enroll them" in trigger
    assert f'href="/segments/{segment_id}"' in trigger and "Add all to sequence" in trigger
    assert item(web, sequence_id, "segment") == ""

    csrf = web.csrf_token("/sequences")
    web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert status_of(app, sequence_id) == "active"
    with app.app_context():
        assert db.session.scalars(select(ContactSequence)).all() == []  # as the note says


def test_a_form_trigger_shows_its_hosted_form(app, web):
    sequence_id = onboarding(app, trigger={"type": "form_submission", "form": "Webinar signup"})
    trigger = item(web, sequence_id, "trigger")
    with app.app_context():
        form = db.session.scalars(select(Form).where(Form.name == "Webinar signup")).one()
    assert f"/f/{form.public_id}" in trigger and 'href="/forms"' in trigger
    assert web.get(f"/f/{form.public_id}").status_code == 200


def test_an_api_event_trigger_shows_a_curl_with_the_event_and_its_properties(app, web):
    properties = {"plan": "it's <pro>"}
    trigger = {"type": "api_event", "event": "trial_started", "properties": properties}
    sequence_id = onboarding(app, trigger=trigger)
    shown = html.unescape(item(web, sequence_id, "trigger"))
    assert "curl -X POST http" in shown and "/api/events" in shown
    assert "<pro>" not in item(web, sequence_id, "trigger")  # escaped in the page
    body = (
        '{"event": "trial_started", "contact": {"email": "alex.rivera@example.com"}, '
        '"properties": {"plan": "it\'"\'"\'s <pro>"}}'
    )
    assert f"-d '{body}'" in shown  # the quote closed, escaped and reopened for the shell


def test_a_manual_trigger_says_where_to_add_contacts(app, web):
    sequence_id = onboarding(app, trigger={"type": "manual"})
    trigger = item(web, sequence_id, "trigger")
    assert 'href="/contacts"' in trigger and "Add all to sequence" in trigger


def with_moves(app: Flask, target: str) -> uuid.UUID:
    definition = onboarding_definition()
    definition["goals"].append(
        {
            "name": "Booked Meeting",
            "when": {"type": "custom_event", "event": "meeting_booked"},
            "action": {"type": "move_to_sequence", "sequence": target},
        }
    )
    definition["steps"].append(
        {
            "id": "handover",
            "type": "action",
            "name": "Hand over",
            "config": {"action": "move_to_sequence", "sequence": target},
        }
    )
    definition["connections"].append({"source": "email_3", "target": "handover"})
    return onboarding(app, **definition)


def test_a_move_to_a_missing_sequence_blocks_activation_in_the_builder(app, web):
    sequence_id = with_moves(app, "Pre-meeting Prep")
    mark_tested(app, sequence_id)
    moves = html.unescape(item(web, sequence_id, "moves"))
    assert 'class="check todo"' in moves
    assert (
        "Goal 'Booked Meeting' moves contacts to 'Pre-meeting Prep', which does not exist" in moves
    )
    assert "Step 'Hand over' moves contacts to 'Pre-meeting Prep', which does not exist" in moves
    csrf = web.csrf_token("/sequences")
    refused = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in refused.text
    assert status_of(app, sequence_id) == "draft"

    with app.app_context():
        acme = accounts.workspace_named("Acme")
        prep = sequences.create_blank(acme, "Pre-meeting Prep", None)
        sequences.archive_sequence(prep, datetime.now(UTC))
    assert 'class="check todo"' in item(web, sequence_id, "moves")  # archived is gone

    with app.app_context():
        sequences.create_blank(accounts.workspace_named("Acme"), "Pre-meeting Prep", None)
    moves = html.unescape(item(web, sequence_id, "moves"))
    assert 'class="check done"' in moves and "'Pre-meeting Prep' is still a draft" in moves
    activated = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert activated.headers["HX-Refresh"] == "true"
    assert status_of(app, sequence_id) == "active"


def test_a_move_target_in_another_workspace_does_not_count(app, web):
    sequence_id = with_moves(app, "Pre-meeting Prep")
    rival = accounts.create_workspace("Rival")
    sequences.create_blank(rival, "Pre-meeting Prep", None)
    assert 'class="check todo"' in item(web, sequence_id, "moves")
    assert item(web, onboarding(app), "moves") == ""  # no moves, no item


def test_the_api_activates_but_warns_of_missing_segment_and_move_targets(app, web):
    sequence_id = with_moves(app, "Pre-meeting Prep")
    with app.app_context():
        token = accounts.create_token(accounts.workspace_named("Acme"))
    client = app.test_client()
    response = client.post(
        f"/api/sequences/{sequence_id}/activate", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.json["status"] == "active"
    assert response.json["warnings"] == [
        {
            "message": "segment 'New Signups' does not exist yet",
            "field": "trigger.segment",
            "step": None,
        },
        {
            "message": "Goal 'Booked Meeting' moves contacts to 'Pre-meeting Prep', "
            "which does not exist",
            "field": "goals[1].action.sequence",
            "step": None,
        },
        {
            "message": "Step 'Hand over' moves contacts to 'Pre-meeting Prep', "
            "which does not exist",
            "field": "config.sequence",
            "step": "handover",
        },
    ]


def test_a_test_send_stops_a_template_that_runs_away_for_the_chosen_contact(app, web, smtp_sink):
    definition = onboarding_definition()
    per_contact = "{% for i in range(contact.fields.n | int) %}{% for j in range(contact.fields.n | int) %}x{% endfor %}{% endfor %}"  # noqa: E501
    definition["steps"][0]["config"]["body"] = per_contact  # empty for the sample contact
    with app.app_context():
        workspace = accounts.workspace_named("Acme")
        sequence_id = sequences.create_sequence(workspace, sequences.parse_input(definition)).id
        heavy, _ = contacts.upsert_contact(
            workspace, {"email": "heavy@customer.test", "fields": {"n": 100000}}
        )
        heavy_id = str(heavy.id)
    csrf = web.csrf_token("/sequences")

    started = time.perf_counter()
    page = web.post(
        f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf, "contact_id": heavy_id}
    )

    assert time.perf_counter() - started < 5
    assert "Some test emails could not be sent" in page.text
    reason = "HTML body: template is over the render budget (more than 1,000,000 loop steps)"
    assert html.escape(reason) in page.text
    assert len(smtp_sink.wait_for(2)) == 2, "the other two steps are still sent"
    assert checklist(web, sequence_id)["test"] is False


VARIANTS = [{"key": "A", "weight": 50}, {"key": "B", "weight": 50, "subject": "Welcome, B"}]


def with_ab_test(app: Flask, ab_test: dict[str, Any], **settings: Any) -> uuid.UUID:
    definition = onboarding_definition()
    definition["steps"][0]["config"] |= {"variants": VARIANTS, "ab_test": ab_test}
    definition["settings"] |= settings
    return onboarding(app, **definition)


def test_the_checklist_states_each_tests_plan_and_the_holdout(app, web):
    sequence_id = with_ab_test(app, {"metric": "click_rate"}, holdout_percent=20)
    plan = html.unescape(item(web, sequence_id, "ab_test"))
    assert 'class="check done"' in plan
    assert "A/B on Welcome & Getting Started" in plan
    assert (
        "click rate, at least 200 sends each, 95% confidence, up to 14 days, then the best" in plan
    )
    holdout = html.unescape(item(web, sequence_id, "holdout"))
    assert "Holdout group: 20%" in holdout
    assert "20% of enrollments get no email" in holdout
    other = with_ab_test(
        app,
        {
            "metric": "conversion_rate",
            "goal": "Paid Subscription",
            "attribution_window": "3 days",
            "pick_winner_after": 500,
            "confidence": 0.99,
            "max_duration": None,
            "fallback": "keep_split",
        },
        holdout_percent=0,
    )
    assert (
        "conversion rate ('Paid Subscription' within 3 days), at least 500 sends each, "
        "99% confidence, no time limit, then keep the split"
    ) in html.unescape(item(web, other, "ab_test"))
    assert item(web, other, "holdout") == ""
    assert item(web, onboarding(app), "ab_test") == ""


def test_a_conversion_test_on_a_goal_the_sequence_lacks_blocks_activation(app, web):
    ab_test = {"metric": "conversion_rate", "goal": "Paid Subscription"}
    sequence_id = with_ab_test(app, ab_test)
    mark_tested(app, sequence_id)
    with app.app_context():  # the panel stores a step's settings alone: its goal may be gone
        sequence = db.session.get(Sequence, sequence_id)
        email = next(step for step in sequence.steps if step.key == "email_1")
        config = {**email.config, "ab_test": {**ab_test, "goal": "Renewed"}}
        builder.update_step(sequence, "email_1", name=email.name, config=config, version=1)
    blocked = html.unescape(item(web, sequence_id, "ab_test"))
    assert 'class="check todo"' in blocked
    assert (
        "step 'email_1', config.ab_test.goal: the A/B test counts goal 'Renewed', "
        "which is neither in 'goals' nor a goal step"
    ) in blocked
    csrf = web.csrf_token("/sequences")
    refused = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in refused.text
    with app.app_context(), pytest.raises(DefinitionError) as refusal:
        sequences.set_status(db.session.get(Sequence, sequence_id), "activate", datetime.now(UTC))
    problem = refusal.value.problems[0]
    assert (problem.step, problem.field) == ("email_1", "config.ab_test.goal")
    assert status_of(app, sequence_id) == "draft"
