"""Follow-ups in the same thread, Reply-To, and sends that can never succeed ending their
enrollment as failed: end to end through `tick` and a real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactSequence
from app.services import accounts, analytics, contacts, enrollment, sequences
from tests.engine.test_gallery_e2e import start, utc
from tests.helpers import tick

pytestmark = pytest.mark.local_time


def by_recipient(sink) -> dict[str, list[Any]]:
    got: dict[str, list[Any]] = {}
    for message in sink.messages:
        got.setdefault(message["To"].addresses[0].addr_spec, []).append(message)
    return got


def run_status(email: str) -> tuple[str, str | None]:
    return db.session.execute(
        select(ContactSequence.status, ContactSequence.exit_reason)
        .join(Contact, Contact.id == ContactSequence.contact_id)
        .where(Contact.email == email)
    ).one()


def test_cold_outreach_follow_up_1_replies_in_the_thread_of_email_1(app, smtp_sink):
    added = utc(2027, 1, 13, 3, 0)
    person = {"email": "ldn@prospect.test", "first_name": "Tom", "fields": {"company": "Initech"}}
    start("cold_outreach", [{**person, "timezone": "Europe/London"}], added)
    for day in range(0, 8):
        tick(app, added + timedelta(days=day, hours=6))
    first, follow_up = by_recipient(smtp_sink)["ldn@prospect.test"][:2]
    assert str(first["Subject"]) == "Quick idea for Initech"
    assert first["In-Reply-To"] is None
    assert follow_up["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in follow_up["References"].split()
    assert str(follow_up["Subject"]) == "Re: Quick idea for Initech"


def threaded_pair(subject_2: str, thread: bool, settings: dict[str, Any] | None = None) -> str:
    return {
        "name": "Two emails",
        "settings": {"timezone": "UTC", **(settings or {})},
        "steps": [
            {
                "id": "one",
                "type": "email",
                "name": "One",
                "config": {"subject": "Hello {{ contact.first_name }}", "body": "<p>1</p>"},
            },
            {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
            {
                "id": "two",
                "type": "email",
                "name": "Two",
                "config": {
                    "subject": subject_2,
                    "body": "<p>2</p>",
                    **({"thread": True} if thread else {}),
                },
            },
        ],
        "connections": [{"source": "one", "target": "wait"}, {"source": "wait", "target": "two"}],
    }


def launch(definition: dict[str, Any], people: list[dict[str, Any]], at: datetime):
    workspace = accounts.create_workspace(f"Threads {uuid.uuid4().hex[:8]}")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", at)
    found = [contacts.upsert_contact(workspace, p)[0] for p in people]
    enrollment.enroll_contacts(sequence, found, at)
    return sequence


T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_threaded_email_takes_the_previous_subject_once_and_an_unthreaded_one_its_own(
    app, smtp_sink
):
    launch(
        threaded_pair("Re: Re: Something else", True),
        [{"email": "a@x.test", "first_name": "Ada"}],
        T0,
    )
    launch(threaded_pair("Something else", False), [{"email": "b@x.test", "first_name": "Bo"}], T0)
    tick(app, T0)
    tick(app, T0 + timedelta(days=1))
    got = by_recipient(smtp_sink)
    assert [str(m["Subject"]) for m in got["a@x.test"]] == ["Hello Ada", "Re: Hello Ada"]
    assert [str(m["Subject"]) for m in got["b@x.test"]] == ["Hello Bo", "Something else"]
    assert got["b@x.test"][1]["In-Reply-To"] is None


def test_the_sequence_reply_to_is_on_every_email(app, smtp_sink):
    settings = {"reply_to": "inbox@sales.test", "from_email": "ana@sales.test", "from_name": "Ana"}
    launch(threaded_pair("Two", False, settings), [{"email": "a@x.test"}], T0)
    tick(app, T0)
    [message] = smtp_sink.messages
    assert message["Reply-To"] == "inbox@sales.test"
    assert message["From"].addresses[0].addr_spec == "ana@sales.test"


def test_an_address_the_server_refuses_ends_its_enrollment_failed_after_the_first_attempt(
    app, smtp_sink
):
    smtp_sink.reject("gone@x.test", code=550, text="5.1.1 No such user")
    sequence = launch(
        threaded_pair("Two", False), [{"email": "gone@x.test"}, {"email": "ok@x.test"}], T0
    )
    tick(app, T0)
    status, reason = run_status("gone@x.test")
    assert status == "failed"
    assert reason.startswith("email 'One' could not be sent: ") and "5.1.1 No such user" in reason
    assert run_status("ok@x.test")[0] == "active"
    tick(app, T0 + timedelta(days=2))
    assert [m["To"].addresses[0].addr_spec for m in smtp_sink.messages] == ["ok@x.test"] * 2
    steps = {s["step"]: s for s in analytics.sequence_analytics(sequence)["steps"]}
    assert steps["one"]["failed"] == 1 and steps["two"]["failed"] == 0


def test_a_sequence_set_to_skip_failed_emails_goes_on_to_the_next(app, smtp_sink):
    smtp_sink.reject("gone@x.test", code=550, text="5.1.1 No such user")
    launch(threaded_pair("Two", False, {"on_send_failure": "skip"}), [{"email": "gone@x.test"}], T0)
    tick(app, T0)
    assert run_status("gone@x.test") == ("active", None)
    tick(app, T0 + timedelta(days=1))
    assert run_status("gone@x.test") == ("completed", None)  # Two was skipped as well
    assert smtp_sink.messages == []
