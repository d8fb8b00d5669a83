"""The dispatcher: sandboxed rendering, real SMTP, retries, failures, and never twice."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage
from app.services.dispatcher import MAX_ATTEMPTS, dispatch_due
from tests.conftest import free_port
from tests.helpers import THE_DAY_WRITTEN_FOR, onboarding_definition, tick

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def launch(api, definition: dict, people: list[tuple[str, str]]) -> str:
    seq_id = api.post("/api/sequences", json=definition).json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    for email, name in people:
        api.post("/api/contacts", json={"email": email, "first_name": name})
    body = {"contacts": [{"email": email} for email, _ in people]}
    assert api.post(f"/api/sequences/{seq_id}/enroll", json=body).json["enrolled"] == len(people)
    return seq_id


def single_email(subject: str, body: str, name: str = "One email") -> dict:
    definition = copy.deepcopy(onboarding_definition())
    definition["name"] = name
    definition["steps"] = [
        {"id": "only", "type": "email", "config": {"subject": subject, "body": body}}
    ]
    definition["connections"] = []
    return definition


def messages() -> dict[str, OutboundMessage]:
    return {m.to_email: m for m in db.session.scalars(select(OutboundMessage))}


def test_the_sandbox_refuses_a_hostile_template_and_the_rest_of_the_batch_is_sent(
    app, api, smtp_sink
):
    hostile = single_email("Hello", "<p>{{ ''.__class__.__mro__ }}</p>", name="Hostile")
    launch(api, hostile, [("eve@example.com", "Eve"), ("mallory@example.com", "Mallory")])
    friendly = single_email("Hi {{ contact.first_name }}", "<p>Hello there</p>", name="Friendly")
    launch(api, friendly, [("ada@example.com", "Ada"), ("bob@example.com", "Bob")])

    tick(app, NOW)

    assert sorted(str(m["Subject"]) for m in smtp_sink.messages) == ["Hi Ada", "Hi Bob"]
    by_email = messages()
    for email in ("eve@example.com", "mallory@example.com"):
        assert by_email[email].status == "failed"
        assert "sandbox" in by_email[email].last_error
        assert by_email[email].sent_at is None
    assert by_email["ada@example.com"].status == "sent"


def test_without_smtp_messages_are_captured_in_the_outbox(app, api):
    launch(
        api, single_email("Hi {{ contact.first_name }}", "<p>Body</p>"), [("a@example.com", "Ann")]
    )
    tick(app, NOW)
    message = messages()["a@example.com"]
    assert message.status == "captured"
    assert message.subject == "Hi Ann" and "Body" in message.text


def test_a_permanent_refusal_is_recorded_and_not_retried(app, api, smtp_sink):
    smtp_sink.reject("gone@example.com", code=550, text="5.1.1 No such user")
    launch(
        api, single_email("Hi", "<p>x</p>"), [("gone@example.com", "G"), ("ok@example.com", "O")]
    )
    tick(app, NOW)
    by_email = messages()
    assert by_email["gone@example.com"].status == "failed"
    assert "550" in by_email["gone@example.com"].last_error
    assert by_email["ok@example.com"].status == "sent"
    tick(app, NOW + timedelta(days=1))
    assert len(smtp_sink.messages) == 1


def test_a_transient_refusal_backs_off_then_succeeds(app, api, smtp_sink):
    smtp_sink.reject("busy@example.com", code=451, text="4.3.0 Try again later")
    launch(api, single_email("Hi", "<p>x</p>"), [("busy@example.com", "B")])
    tick(app, NOW)
    message = messages()["busy@example.com"]
    assert message.status == "queued" and message.attempts == 1
    assert message.next_attempt_at > NOW and "451" in message.last_error
    smtp_sink.allow("busy@example.com")
    tick(app, NOW + timedelta(seconds=1))
    assert smtp_sink.messages == [], "retried before its backoff"
    tick(app, message.next_attempt_at)
    assert len(smtp_sink.messages) == 1
    assert messages()["busy@example.com"].status == "sent"


def test_an_unreachable_server_keeps_messages_queued_until_it_gives_up(app, api):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    launch(api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A")])
    moment = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        tick(app, moment)
        message = messages()["a@example.com"]
        db.session.refresh(message)
        assert message.attempts == attempt
        moment = message.next_attempt_at
    assert message.status == "failed" and "gave up" in message.last_error


def test_a_message_interrupted_mid_send_becomes_unknown_once_its_lease_runs_out(
    app, api, smtp_sink
):
    launch(api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A")])
    tick(app, NOW)
    message = messages()["a@example.com"]
    lease = timedelta(seconds=app.config["DISPATCH_LEASE_SECONDS"])
    message.status, message.lease_expires_at = "sending", NOW + lease
    db.session.commit()
    dispatch_due(NOW + lease - timedelta(seconds=1))
    db.session.refresh(message)
    assert message.status == "sending", "recovered while its dispatcher still held it"
    stats = dispatch_due(NOW + lease + timedelta(seconds=1))
    db.session.refresh(message)
    assert message.status == "unknown" and "may have accepted" in message.last_error
    assert stats.unknown == 1
    assert len(smtp_sink.messages) == 1


def test_a_paused_sequence_holds_its_queued_mail_until_it_resumes(app, api, smtp_sink):
    from app.services.processor import process_due

    seq_id = launch(api, single_email("Held", "<p>x</p>"), [("a@example.com", "A")])
    process_due(NOW)  # the email is queued ...
    assert api.post(f"/api/sequences/{seq_id}/pause").status_code == 200
    dispatch_due(NOW)  # ... but not sent while paused
    assert smtp_sink.messages == [] and messages()["a@example.com"].status == "queued"
    api.post(f"/api/sequences/{seq_id}/resume")
    dispatch_due(NOW + timedelta(minutes=1))
    assert [str(m["Subject"]) for m in smtp_sink.messages] == ["Held"]


def test_names_with_commas_reach_the_server_as_one_recipient_and_one_sender(app, api, smtp_sink):
    contact_name = "Bob, attacker@evil.test, " + "x" * 60
    from_name = "Penguin, Inc., support@evil.test, " + "y" * 60
    definition = single_email("Hi", "<p>x</p>")
    definition["steps"][0]["config"]["from_name"] = from_name
    launch(api, definition, [("bob@example.com", contact_name)])

    tick(app, NOW)

    [received] = smtp_sink.wait_for(1)
    assert [e.rcpt_tos for e in smtp_sink.envelopes] == [("bob@example.com",)]
    [to] = received["To"].addresses
    [sender] = received["From"].addresses
    assert (to.display_name, to.addr_spec) == (contact_name, "bob@example.com")
    assert sender.display_name == from_name
