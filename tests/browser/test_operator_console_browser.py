"""The operator's console in Chromium, as issue 18 accepts it: with 2,000 enrollments across
3 sequences, filter to one step of one sequence and page through every one of them (none
twice, none missing), open one, read its timeline (the branch decision with the click it
saw, its emails), skip its wait, and see the next email arrive at a real SMTP server after
the next tick, with the intervention in the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import insert, select

from app.extensions import db
from app.models import Contact, ContactSequence, OutboundMessage, SequenceStep
from app.services import accounts, contacts, enrollment, sequences, tracking
from tests.enrollment_rows import enroll_many, seed_sequences
from tests.helpers import tick
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.browser

EMAIL = "ops@acme.test"
PASSWORD = "correct-horse-battery"
ON_THE_STEP = 120  # others waiting on the same step as Ada, besides her
BODY = '<p>Hi</p><p><a href="https://example.com/book-demo">Book a demo</a></p>'
CLICKED = {"event": "clicked_link", "email_step_id": "hello", "link_url_contains": "/book-demo"}


def definition() -> dict[str, Any]:
    """Email 1, an hour later a branch on a click of its demo link, then a 3-day wait
    before the demo email for those who clicked."""

    def mail(key: str, name: str, subject: str) -> dict[str, Any]:
        return {
            "id": key,
            "name": name,
            "type": "email",
            "config": {"subject": subject, "body": BODY},
        }

    return {
        "format": "sequence/v1",
        "name": "Demo follow-up",
        "trigger": {"type": "manual"},
        "steps": [
            mail("hello", "Email 1", "Welcome"),
            {
                "id": "hour",
                "name": "Wait an hour",
                "type": "delay",
                "config": {"duration": "1 hour"},
            },
            {
                "id": "check",
                "name": "Clicked the demo?",
                "type": "branch",
                "config": {"condition": {"type": "email_event", **CLICKED}},
            },
            {
                "id": "wait",
                "name": "Wait 3 days",
                "type": "delay",
                "config": {"duration": "3 days"},
            },
            mail("demo", "Demo email", "Pick a time"),
            mail("nurture", "Nurture email", "A case study"),
        ],
        "connections": [
            {"source": "hello", "target": "hour"},
            {"source": "hour", "target": "check"},
            {"source": "check", "target": "wait", "label": "true"},
            {"source": "check", "target": "nurture", "label": "false"},
            {"source": "wait", "target": "demo"},
        ],
    }


@pytest.fixture
def sink(live_app: Flask) -> Iterator[SmtpSink]:
    for running in running_sink():
        live_app.config["SMTP_URL"] = running.url
        yield running


@pytest.fixture
def waiting_step(live_app: Flask, sink: SmtpSink) -> tuple[str, str, set[str], str]:
    """Ada ran through Email 1 and the branch (she clicked the demo link) and waits 3 days;
    120 others wait on that step too, and 1,879 more are in two other sequences. Returns the
    sequence id, the step id, the ids of everyone on that step, and Ada's enrollment id."""
    start = datetime.now(UTC) - timedelta(hours=2)
    with live_app.app_context():
        workspace = accounts.create_workspace("Acme")
        accounts.create_user(EMAIL, workspace, PASSWORD)
        sequence = sequences.create_sequence(workspace, sequences.parse_input(definition()))
        sequences.set_status(sequence, "activate", start)
        ada, _ = contacts.upsert_contact(workspace, {"email": "ada@example.com"})
        enrollment.enroll_contacts(sequence, [ada], start)
        tick(live_app, start)
        assert [str(m["Subject"]) for m in sink.wait_for(1)] == ["Welcome"]
        message = db.session.scalars(select(OutboundMessage)).one()
        click = tracking.resolve_click(tracking.click_token(message.id, 0))
        assert click is not None
        tracking.record_click(click, "203.0.113.9", "Firefox", "GET", start + timedelta(minutes=30))
        tick(live_app, start + timedelta(minutes=61))

        step = db.session.scalars(
            select(SequenceStep).where(
                SequenceStep.sequence_id == sequence.id, SequenceStep.key == "wait"
            )
        ).one()
        ada_run = db.session.scalars(select(ContactSequence)).one()
        assert ada_run.current_step_id == step.id
        _others_on(step, workspace, start)
        enroll_many(seed_sequences(workspace, 2), 2000 - ON_THE_STEP - 1, start)
        on_step = db.session.scalars(
            select(ContactSequence.id).where(ContactSequence.current_step_id == step.id)
        )
        assert db.session.query(ContactSequence).count() == 2000
        return str(sequence.id), str(step.id), {str(i) for i in on_step}, str(ada_run.id)


def _others_on(step: SequenceStep, workspace: Any, start: datetime) -> None:
    """ON_THE_STEP more runs waiting on `step`, written set-based."""
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    people = [uuid.uuid4() for _ in range(ON_THE_STEP)]
    db.session.execute(
        insert(Contact),
        [
            {**owner, "id": p, "email": f"w{n}@wait.test", "fields": {}, "tags": []}
            for n, p in enumerate(people)
        ],
    )
    db.session.execute(
        insert(ContactSequence),
        [
            {
                **owner,
                "sequence_id": step.sequence_id,
                "contact_id": person,
                "status": "active",
                "current_step_id": step.id,
                "step_started_at": start,
                "enrolled_at": start - timedelta(minutes=n),
                "next_execution_at": start + timedelta(days=3),
                "version": 1,
                "context_data": {},
                "visits": {},
            }
            for n, person in enumerate(people)
        ],
    )
    db.session.commit()


def test_an_operator_pages_one_step_opens_a_run_skips_its_wait_and_the_next_email_arrives(
    page: Page, live_app: Flask, live_server: str, sink: SmtpSink, waiting_step
):
    sequence_id, step_id, on_step, ada = waiting_step
    page.goto(f"{live_server}/enrollments")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enrollments")).to_be_visible()

    page.get_by_label("Sequence").select_option(label="Demo follow-up")
    page.get_by_role("button", name="Apply").click()
    page.get_by_label("Current step").select_option(label="Wait 3 days")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#enrollment-total")).to_have_text(str(len(on_step)))

    seen: list[str] = []
    while True:
        rows = page.locator("tr[data-enrollment]")
        expect(rows.first).to_be_visible()
        seen += [rows.nth(i).get_attribute("data-enrollment") or "" for i in range(rows.count())]
        following = page.locator("#enrollment-pager a[rel=next]")
        if following.count() == 0:
            break
        target = following.get_attribute("href")
        following.click()
        page.wait_for_url(f"{live_server}{target}")
    assert len(seen) == len(set(seen)) == len(on_step)
    assert set(seen) == on_step

    page.goto(f"{live_server}/enrollments?sequence_id={sequence_id}&step={step_id}&contact=ada")
    page.locator(f"tr[data-enrollment='{ada}']").get_by_role("link", name="Open").click()
    expect(page).to_have_url(f"{live_server}/enrollments/{ada}")
    expect(page.get_by_text("clicked_link on Email 1 containing /book-demo: yes")).to_be_visible()
    expect(page.get_by_text("Email 'Welcome'")).to_be_visible()

    page.locator("#skip-wait-reason").fill("asked for the demo on the phone")
    page.get_by_role("button", name="Skip wait").click()
    expect(page.get_by_text("asked for the demo on the phone").first).to_be_visible()

    tick(live_app, datetime.now(UTC) + timedelta(seconds=1))
    received = sink.wait_for(2)
    assert [str(m["Subject"]) for m in received] == ["Welcome", "Pick a time"]

    page.goto(f"{live_server}/audit")
    entry = page.locator("tr[data-action='skip_wait']")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(EMAIL)
    expect(entry).to_contain_text("ada@example.com")
    expect(entry).to_contain_text("asked for the demo on the phone")
