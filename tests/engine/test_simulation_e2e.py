"""The timeline simulator against the real engine: for every gallery template, a contact in
America/New_York with a click on day 2 (and, where the template has a goal to reach, the
event that reaches it) is first simulated through the API, then enrolled for real and run
through `flask sequences tick` at each moment the enrollment falls due or an event arrives,
against a real SMTP server. The emails (step, instant to the second, subject as received)
and the end (status and reason) must be the same.

The events are produced through the real services at their simulated instants: the click
through the tracking service behind the `/t/c/<token>` endpoint (which reads the wall
clock), custom events through the events API's service, field changes through the contact
PATCH's service. SQLite only: the comparison is about the engine, not the backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactSequence, OutboundMessage, SequenceStep, Workspace
from app.services import accounts, contacts, enrollment, events, sequences, tracking
from tests.conftest import ApiClient, _app_for
from tests.helpers import tick

pytestmark = pytest.mark.local_time  # emails' instants and waits in New York time

GALLERY = Path(__file__).resolve().parents[2] / "app" / "gallery"
START = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)  # Thursday 3 Dec, 20:30 in New York
DAY = timedelta(days=1)
WHO = "ada@sim.test"


@pytest.fixture
def app(sqlite_backend) -> Iterator[Flask]:
    yield from _app_for(sqlite_backend)


@dataclass(frozen=True)
class Case:
    template: str
    fields: dict[str, Any] = field(default_factory=dict)
    extra: tuple[dict[str, Any], ...] = ()  # events besides the click on day 2
    variables: dict[str, Any] = field(default_factory=dict)  # set in the sequence's settings


CASES = [
    Case("saas_trial", extra=({"at": START + 9 * DAY, "event": "subscription_paid"},)),
    Case(
        "cold_outreach",
        {"company": "Initech"},
        (
            {
                "at": START + 6 * DAY,
                "event": "field_changed",
                "field": "deal_stage",
                "to": "Meeting Booked",
            },
        ),
    ),
    Case("new_user_onboarding"),
    Case("re_engagement"),
    Case(
        "webinar_promo",
        extra=({"at": datetime(2026, 12, 17, 16, 30, tzinfo=UTC), "event": "webinar_attended"},),
        variables={"webinar_at": {"type": "datetime", "value": "2026-12-17T17:00+01:00"}},
    ),
]


def as_api_event(event: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"at": event["at"].isoformat(), "event": event["event"]}
    if event["event"] == "field_changed":
        body["properties"] = {"field": event["field"], "to": event["to"]}
    return body


def utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def produce(workspace: Workspace, event: dict[str, Any]) -> None:
    """The event through the real service, at its instant."""
    at, kind = event["at"], event["event"]
    contact = db.session.scalar(select(Contact).where(Contact.email == WHO))
    if kind == "clicked_link":
        message = db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.sent_at.is_not(None))
            .order_by(OutboundMessage.sent_at.desc())
        ).first()
        click = tracking.resolve_click(tracking.click_token(message.id, 0))
        assert tracking.record_click(
            click, "203.0.113.9", "Mozilla/5.0 (X11) Firefox/128", "GET", at
        )
    elif kind == "field_changed":
        contacts.patch_contact(contact, {"fields": {event["field"]: event["to"]}}, at)
    else:
        events.ingest_events(workspace, {"event": kind, "contact": {"email": WHO}}, at)


def real_run(
    sequence,
    workspace: Workspace,
    app: Flask,
    person: dict[str, Any],
    pending: list[dict[str, Any]],
) -> None:
    """Enroll the contact at the start, then tick at every moment the enrollment is due or
    an event arrives (right after producing it), until the enrollment ends."""
    contact = contacts.upsert_contact(workspace, person)[0]
    enrollment.enroll_contacts(sequence, [contact], START)
    for _ in range(200):
        row = db.session.scalar(select(ContactSequence))
        due = utc(row.next_execution_at) if row.status == "active" else None
        upcoming = pending[0]["at"] if pending else None
        if due is None and upcoming is None:
            return
        if upcoming is not None and (due is None or upcoming <= due):
            produce(workspace, pending.pop(0))
            tick(app, upcoming)
        else:
            tick(app, due)
        db.session.expire_all()
    raise AssertionError("the real run did not end")


@pytest.mark.parametrize("case", CASES, ids=[case.template for case in CASES])
def test_the_simulators_timeline_for_a_new_york_contact_with_a_click_on_day_2_equals_a_real_run(
    app, smtp_sink, case
):
    app.config["BOT_CLICK_SECONDS"] = 0
    workspace = accounts.create_workspace(f"Sim {case.template}")
    api = ApiClient(app.test_client(), accounts.create_token(workspace), workspace.id)
    document = yaml.safe_load((GALLERY / f"{case.template}.yaml").read_text(encoding="utf-8"))
    if case.variables:
        document["settings"]["variables"] = case.variables
    sequence = sequences.create_sequence(workspace, sequences.parse_input(document))
    sequences.set_status(sequence, "activate", START)
    click = {"at": START + DAY, "event": "clicked_link"}
    happenings = sorted([click, *case.extra], key=lambda e: e["at"])

    person = {"email": WHO, "first_name": "Ada", "timezone": "America/New_York"}
    person["fields"] = case.fields
    answer = api.post(
        f"/api/sequences/{sequence.id}/simulate",
        json={
            "contact": person,
            "start": START.isoformat(),
            "events": [as_api_event(e) for e in happenings],
        },
    )
    assert answer.status_code == 200, answer.get_json()
    timeline = answer.get_json()["timeline"]
    simulated = [
        (line["step"], datetime.fromisoformat(line["at"]), line["detail"])
        for line in timeline
        if line["action"] == "queued email"
    ]
    end = timeline[-1]

    real_run(sequence, workspace, app, person, list(happenings))

    received = []
    for message in smtp_sink.messages:
        key, sent_at = db.session.execute(
            select(SequenceStep.key, OutboundMessage.sent_at)
            .join(OutboundMessage, OutboundMessage.step_id == SequenceStep.id)
            .where(OutboundMessage.message_id == message["Message-ID"])
        ).one()
        received.append((key, utc(sent_at), str(message["Subject"])))
    assert simulated == received
    row = db.session.scalar(select(ContactSequence))
    assert (end["action"], end["detail"]) == (row.status, row.exit_reason or "")
    assert len(received) >= 2
