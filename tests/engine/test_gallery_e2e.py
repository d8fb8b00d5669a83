"""Every shipped gallery template, end to end: created from its file, activated, contacts
enrolled in their own time zones, and `tick` run at explicit instants against a real SMTP
server. Each email must arrive at the first tick at or after the instant its delays and
windows give, and not at a tick one second earlier.

The expected instants are written out by hand in UTC (with the local time in a comment),
never computed with the engine's own timing code. December 2026 and January 2027 have no
daylight-saving change in any zone used here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Contact,
    ContactSequence,
    OutboundMessage,
    Sequence,
    SequenceStep,
    StepLog,
    Workspace,
)
from app.services import accounts, contacts, enrollment, inbound, sequences
from tests.helpers import tick

pytestmark = pytest.mark.local_time  # delays, weekday windows and send times in each contact's zone

GALLERY = Path(__file__).resolve().parents[2] / "app" / "gallery"


@dataclass(frozen=True)
class Due:
    """One email the schedule expects: to whom, which step (by name), and when."""

    to: str
    step: str
    at: datetime


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def start(
    template: str,
    people: list[dict[str, Any]],
    at: datetime,
    variables: dict[str, Any] | None = None,
) -> Sequence:
    """The template's file as a new sequence of a fresh workspace (its `variables` set as
    the marketer would in the settings), active, people enrolled."""
    workspace = accounts.create_workspace(f"Gallery {template}")
    document = yaml.safe_load((GALLERY / f"{template}.yaml").read_text(encoding="utf-8"))
    if variables:
        document["settings"]["variables"] = variables
    sequence = sequences.create_sequence(workspace, sequences.parse_input(document))
    sequences.set_status(sequence, "activate", at)  # the same full check as the UI's button
    found = [contacts.upsert_contact(workspace, person)[0] for person in people]
    result = enrollment.enroll_contacts(sequence, found, at)
    assert len(result.enrolled) == len(people), result.skipped
    return sequence


def step_of(message: EmailMessage) -> tuple[str, str]:
    """(recipient, step name) of a message the SMTP server received, found by the
    Message-ID stored for the step that sent it."""
    name = db.session.scalar(
        select(SequenceStep.name)
        .join(OutboundMessage, OutboundMessage.step_id == SequenceStep.id)
        .where(OutboundMessage.message_id == message["Message-ID"])
    )
    return message["To"].addresses[0].addr_spec, name


def arrived(sink, since: int) -> set[tuple[str, str]]:
    """What the SMTP server received after its first `since` messages."""
    return {step_of(message) for message in sink.messages[since:]}


def run_schedule(app: Flask, sink, schedule: Iterable[Due], quiet: Iterable[datetime] = ()) -> None:
    """Tick through the schedule in time order: one second before each due instant nothing
    arrives, at the instant exactly the emails due then arrive; at a `quiet` instant (where
    a delay without its window would have ended) nothing arrives."""
    by_instant: dict[datetime, set[tuple[str, str]]] = {}
    for due in schedule:
        by_instant.setdefault(due.at, set()).add((due.to, due.step))
    for instant in sorted({*by_instant, *quiet}):
        expected = by_instant.get(instant, set())
        if expected:
            count = len(sink.messages)
            tick(app, instant - timedelta(seconds=1))
            assert arrived(sink, count) == set(), f"sent before {instant:%a %d %b %H:%M} UTC"
        count = len(sink.messages)
        tick(app, instant)
        assert arrived(sink, count) == expected, f"at {instant:%a %d %b %H:%M:%S} UTC"


def assert_delivered(sink, schedule: list[Due], first_names: dict[str, str]) -> None:
    """Each recipient received exactly their emails, in the schedule's order, each sent at
    its due instant, personalised and with no template syntax left over."""
    order: dict[str, list[str]] = {}
    for due in sorted(schedule, key=lambda due: due.at):
        order.setdefault(due.to, []).append(due.step)
    received: dict[str, list[str]] = {}
    for message in sink.messages:
        to, step = step_of(message)
        received.setdefault(to, []).append(step)
        html = message.get_body(("html",)).get_content()
        assert f"Hi {first_names[to]}," in html
        assert "{{" not in html + str(message["Subject"])
    assert received == order
    sent = db.session.execute(
        select(OutboundMessage.to_email, SequenceStep.name, OutboundMessage.sent_at).join(
            SequenceStep, SequenceStep.id == OutboundMessage.step_id
        )
    ).all()
    assert {(to, name): at for to, name, at in sent} == {(d.to, d.step): d.at for d in schedule}


def statuses() -> dict[str, str]:
    return dict(
        db.session.execute(
            select(Contact.email, ContactSequence.status).join(
                ContactSequence, ContactSequence.contact_id == Contact.id
            )
        ).all()
    )


def test_saas_trial_over_14_days_in_new_york_and_tokyo(app, smtp_sink):
    """Signed up Thursday 3 Dec, 20:30 in New York (Friday 10:30 in Tokyo)."""
    signed_up = utc(2026, 12, 4, 1, 30)
    ny, tk = "ny@trial.test", "tk@trial.test"
    start(
        "saas_trial",
        [
            {"email": ny, "first_name": "Ada", "timezone": "America/New_York"},
            {"email": tk, "first_name": "Kenji", "timezone": "Asia/Tokyo"},
        ],
        signed_up,
    )
    schedule = [
        Due(ny, "Welcome", signed_up),
        Due(tk, "Welcome", signed_up),
        # 2 days later is the weekend in both zones: Monday 09:00 local
        Due(tk, "Feature Highlight", utc(2026, 12, 7, 0, 0)),  # Mon 09:00 JST
        Due(ny, "Feature Highlight", utc(2026, 12, 7, 14, 0)),  # Mon 09:00 EST
        Due(tk, "Case Study", utc(2026, 12, 10, 0, 0)),  # Thu 09:00 JST
        Due(ny, "Case Study", utc(2026, 12, 10, 14, 0)),  # Thu 09:00 EST
        Due(tk, "Expiry Warning", utc(2026, 12, 16, 0, 0)),  # Wed 09:00 JST
        Due(ny, "Expiry Warning", utc(2026, 12, 16, 14, 0)),  # Wed 09:00 EST
        # the offer's window is every day: Saturday is fine
        Due(tk, "Offer", utc(2026, 12, 19, 0, 0)),  # Sat 09:00 JST
        Due(ny, "Offer", utc(2026, 12, 19, 14, 0)),  # Sat 09:00 EST
    ]
    two_days_later = signed_up + timedelta(days=2)  # Sat 20:30 EST, Sun 10:30 JST
    run_schedule(app, smtp_sink, schedule, quiet=[two_days_later])
    assert_delivered(smtp_sink, schedule, {ny: "Ada", tk: "Kenji"})
    assert statuses() == {ny: "completed", tk: "completed"}


WEBINAR_AT = {"type": "datetime", "value": "2026-12-17T17:00", "timezone": "Europe/Berlin"}


def test_webinar_promo_times_each_reminder_from_webinar_at(app, smtp_sink):
    """The webinar is Thursday 17 Dec 2026 at 17:00 Berlin time (16:00 UTC); the registrant
    lives in Chicago: the variable's own zone fixes the instant, not theirs."""
    registered = utc(2026, 12, 2, 10, 0)
    who = "reg@webinar.test"
    person = {
        "email": who,
        "first_name": "Grace",
        "timezone": "America/Chicago",
        "fields": {"webinar_join_url": "https://meet.example.com/j/grace-42"},
    }
    start("webinar_promo", [person], registered, {"webinar_at": WEBINAR_AT})
    schedule = [
        Due(who, "Invite", registered),
        Due(who, "Reminder 1 week before", utc(2026, 12, 10, 16, 0)),
        Due(who, "Reminder 1 day before", utc(2026, 12, 16, 16, 0)),
        Due(who, "Link 1 hour before", utc(2026, 12, 17, 15, 0)),
        Due(who, "Replay after", utc(2026, 12, 18, 16, 0)),
    ]
    run_schedule(app, smtp_sink, schedule)
    assert_delivered(smtp_sink, schedule, {who: "Grace"})
    join_links = db.session.scalar(
        select(OutboundMessage.links)
        .join(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(SequenceStep.name == "Link 1 hour before")
    )
    assert "https://meet.example.com/j/grace-42" in join_links  # the registrant's own link
    assert statuses() == {who: "completed"}


def test_webinar_promo_skips_the_week_reminder_for_a_late_sign_up(app, smtp_sink):
    """Registered 3 days before: no "one week to go", the rest on time."""
    registered = utc(2026, 12, 14, 9, 30)
    who = "late@webinar.test"
    person = {
        "email": who,
        "first_name": "Lin",
        "timezone": "Europe/Berlin",
    }
    start("webinar_promo", [person], registered, {"webinar_at": WEBINAR_AT})
    schedule = [
        Due(who, "Invite", registered),
        Due(who, "Reminder 1 day before", utc(2026, 12, 16, 16, 0)),
        Due(who, "Link 1 hour before", utc(2026, 12, 17, 15, 0)),
        Due(who, "Replay after", utc(2026, 12, 18, 16, 0)),
    ]
    run_schedule(app, smtp_sink, schedule)
    assert_delivered(smtp_sink, schedule, {who: "Lin"})
    skipped = db.session.scalar(
        select(StepLog.outcome)
        .join(SequenceStep, SequenceStep.id == StepLog.step_id)
        .where(SequenceStep.name == "Reminder 1 week before")
    )
    assert skipped == "skipped_late"


def reply_to(original: EmailMessage) -> bytes:
    reply = EmailMessage()
    reply["From"] = original["To"]
    reply["To"] = original["From"]
    reply["Subject"] = f"Re: {original['Subject']}"
    reply["Message-ID"] = f"<{uuid.uuid4().hex}@prospect.test>"
    reply["In-Reply-To"] = original["Message-ID"]
    reply.set_content("Interesting, tell me more.")
    return bytes(reply)


def test_cold_outreach_waits_for_weekday_business_hours_and_stops_on_a_reply(app, smtp_sink):
    """Added on Tuesday 12 Jan 2027 at 19:00 in Los Angeles (Wednesday 03:00 in London)."""
    added = utc(2027, 1, 13, 3, 0)
    la, london = "la@prospect.test", "ldn@prospect.test"
    sequence = start(
        "cold_outreach",
        [
            {"email": la, "first_name": "Maya", "timezone": "America/Los_Angeles"},
            {"email": london, "first_name": "Tom", "timezone": "Europe/London"},
        ],
        added,
    )
    first = [
        Due(london, "Value Prop", utc(2027, 1, 13, 9, 0)),  # Wed 09:00 GMT
        Due(la, "Value Prop", utc(2027, 1, 13, 17, 0)),  # Wed 09:00 PST
    ]
    run_schedule(app, smtp_sink, first, quiet=[added])  # 19:00 / 03:00: nothing yet

    replied = inbound.receive(
        db.session.get(Workspace, sequence.workspace_id),
        reply_to(smtp_sink.messages[0]),
        utc(2027, 1, 13, 12, 0),
    )
    assert replied.event == "replied" and replied.enrollment_exited

    rest = [
        # 3 days after Wednesday 09:00 is Saturday: Monday 09:00
        Due(la, "Follow-up 1", utc(2027, 1, 18, 17, 0)),  # Mon 09:00 PST
        Due(la, "Follow-up 2", utc(2027, 1, 22, 17, 0)),  # Fri 09:00 PST
        Due(la, "Breakup", utc(2027, 1, 29, 17, 0)),  # Fri 09:00 PST
    ]
    saturday = utc(2027, 1, 16, 17, 0)  # Sat 09:00 PST, 3 days after the value prop
    london_follow_up = utc(2027, 1, 18, 9, 0)  # when Tom's follow-up would have gone
    run_schedule(app, smtp_sink, rest, quiet=[saturday, london_follow_up])
    assert_delivered(smtp_sink, first + rest, {la: "Maya", london: "Tom"})
    assert statuses() == {la: "completed", london: "exited"}


def test_new_user_onboarding_in_tokyo_and_in_the_sequences_zone(app, smtp_sink):
    """Joined on Thursday 3 Dec at 12:00 UTC (21:00 in Tokyo); one contact has no time
    zone, so the sequence's UTC is theirs."""
    joined = utc(2026, 12, 3, 12, 0)
    tk, nowhere = "tk@onboarding.test", "utc@onboarding.test"
    start(
        "new_user_onboarding",
        [
            {"email": tk, "first_name": "Kenji", "timezone": "Asia/Tokyo"},
            {"email": nowhere, "first_name": "Ada"},
        ],
        joined,
    )
    schedule = [
        Due(tk, "Welcome & Getting Started", joined),
        Due(nowhere, "Welcome & Getting Started", joined),
        Due(tk, "Key Features Overview", utc(2026, 12, 7, 0, 0)),  # Mon 09:00 JST
        Due(nowhere, "Key Features Overview", utc(2026, 12, 7, 9, 0)),  # Mon 09:00 UTC
        Due(tk, "Pro Tips & Best Practices", utc(2026, 12, 10, 0, 0)),  # Thu 09:00 JST
        Due(nowhere, "Pro Tips & Best Practices", utc(2026, 12, 10, 9, 0)),  # Thu 09:00 UTC
    ]
    run_schedule(app, smtp_sink, schedule, quiet=[joined + timedelta(days=2)])  # Saturday
    assert_delivered(smtp_sink, schedule, {tk: "Kenji", nowhere: "Ada"})
    assert statuses() == {tk: "completed", nowhere: "completed"}


def test_re_engagement_follows_up_in_business_hours_then_tags_the_silent(app, smtp_sink):
    """Went quiet and joined the segment on Friday 4 Dec at 21:00 in Berlin (20:00 UTC)."""
    joined = utc(2026, 12, 4, 20, 0)
    who = "quiet@reengage.test"
    start(
        "re_engagement",
        [{"email": who, "first_name": "Lena", "timezone": "Europe/Berlin"}],
        joined,
    )
    schedule = [
        Due(who, "It's been a while", joined),
        # 5 days later is Wednesday 21:00 in Berlin, after hours: Thursday 09:00
        Due(who, "Still interested?", utc(2026, 12, 10, 8, 0)),  # Thu 09:00 CET
    ]
    run_schedule(app, smtp_sink, schedule, quiet=[joined + timedelta(days=5)])
    assert_delivered(smtp_sink, schedule, {who: "Lena"})

    tagged_at = utc(2026, 12, 17, 8, 0)  # 7 days after the follow-up
    tick(app, tagged_at - timedelta(seconds=1))
    contact = db.session.scalar(select(Contact).where(Contact.email == who))
    assert "Unresponsive" not in contact.tags and statuses() == {who: "active"}
    tick(app, tagged_at)
    db.session.refresh(contact)
    assert "Unresponsive" in contact.tags
    assert statuses() == {who: "completed"}
    assert len(smtp_sink.messages) == 2
