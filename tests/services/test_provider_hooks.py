"""Delivery reports from providers (services/delivery_events.py) and the provider modules'
parsing and secrets (services/provider_hooks/): what is recorded, suppressed, counted."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from app.core.events import BOUNCED, COMPLAINED, SOFT_BOUNCED
from app.extensions import db
from app.models import ContactEvent, ContactSequence, OutboundMessage, Suppression
from app.services.delivery_events import Delivery, record_deliveries
from app.services.provider_hooks import PROVIDERS, mailgun, ses, sns
from app.services.provider_hooks.base import HookRefused, HookRequest, message_id_header
from tests.conftest import api_for
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import tick
from tests.provider_signing import TOPIC, SendGridKey, mailgun_body

NOW = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)


@pytest.fixture
def sent(app, api) -> list[OutboundMessage]:
    _, t0 = start_onboarding(api)
    tick(app, t0)
    db.session.expire_all()
    return list(db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.to_email)))


def report(message: OutboundMessage, kind: str, key: str, when: datetime | None = None):
    return Delivery(message.message_id, kind, "550 5.1.1 user unknown", when, key)


def events(kind: str | None = None) -> list[ContactEvent]:
    db.session.expire_all()
    query = select(ContactEvent).where(ContactEvent.source == "hook:test")
    if kind is not None:
        query = query.where(ContactEvent.type == kind)
    return list(db.session.scalars(query.order_by(ContactEvent.id)))


def suppressions() -> dict[str, str]:
    db.session.expire_all()
    return {row.email: row.reason for row in db.session.scalars(select(Suppression))}


def status(message: OutboundMessage) -> tuple[str, str | None]:
    db.session.expire_all()
    enrollment = db.session.get_one(ContactSequence, message.enrollment_id)
    return enrollment.status, enrollment.exit_reason


# --- recording ----------------------------------------------------------------------------


def test_a_hard_bounce_is_an_event_on_the_email_that_suppresses_and_ends_enrollments(
    app, api, sent
):
    ada = sent[0]
    bounced_at = NOW - timedelta(minutes=3)

    outcome = record_deliveries(
        api.workspace_id, "test", [report(ada, "hard_bounce", "b1", bounced_at)], NOW
    )

    assert outcome.to_dict() == {"recorded": 1, "duplicates": 0, "unknown_messages": 0}
    [event] = events()
    assert (event.type, event.message_id, event.step_id, event.enrollment_id) == (
        BOUNCED,
        ada.id,
        ada.step_id,
        ada.enrollment_id,
    )
    assert event.occurred_at == bounced_at and event.recorded_at == NOW
    assert event.properties["recipient"] == ada.to_email
    assert event.properties["provider"] == "test"
    assert suppressions() == {ada.to_email: "bounced"}
    assert status(ada) == ("failed", "bounced (test: 550 5.1.1 user unknown)")
    assert status(sent[1]) == ("active", None)


def test_a_complaint_suppresses_with_its_own_reason(app, api, sent):
    grace = sent[1]

    record_deliveries(api.workspace_id, "test", [report(grace, "complaint", "c1")], NOW)

    assert [e.type for e in events()] == [COMPLAINED]
    assert suppressions() == {grace.to_email: "complained"}
    assert status(grace) == ("exited", "complained")


def test_a_soft_bounce_is_recorded_and_nothing_else(app, api, sent):
    kenji = sent[2]

    outcome = record_deliveries(api.workspace_id, "test", [report(kenji, "soft_bounce", "s1")], NOW)

    assert outcome.recorded == 1 and [e.type for e in events()] == [SOFT_BOUNCED]
    assert suppressions() == {} and status(kenji) == ("active", None)


def test_an_email_bounces_once_however_late_the_providers_retry(app, api, sent):
    """A retry after the receipts' day has another receipt key in effect; the email's
    existing bounce still makes it a duplicate, as does a second report in one request."""
    ada = sent[0]
    record_deliveries(api.workspace_id, "test", [report(ada, "hard_bounce", "first")], NOW)

    later = NOW + timedelta(days=3)
    again = [report(ada, "hard_bounce", "retry"), report(ada, "hard_bounce", "retry-2")]
    outcome = record_deliveries(api.workspace_id, "test", again, later)

    assert outcome.to_dict() == {"recorded": 0, "duplicates": 2, "unknown_messages": 0}
    assert len(events(BOUNCED)) == 1


def test_soft_bounces_with_different_ids_each_count_and_a_repeated_id_counts_once(app, api, sent):
    grace = sent[1]
    first = report(grace, "soft_bounce", "s1")
    second = report(grace, "soft_bounce", "s2")

    assert record_deliveries(api.workspace_id, "test", [first, second], NOW).recorded == 2
    outcome = record_deliveries(api.workspace_id, "test", [first], NOW)
    assert (outcome.recorded, outcome.duplicates) == (0, 1)
    assert len(events(SOFT_BOUNCED)) == 2


def test_a_reused_event_id_for_another_email_is_a_duplicate_not_an_error(app, api, sent):
    ada, grace, _ = sent
    record_deliveries(api.workspace_id, "test", [report(ada, "soft_bounce", "same")], NOW)

    outcome = record_deliveries(
        api.workspace_id, "test", [report(grace, "soft_bounce", "same")], NOW
    )

    assert (outcome.recorded, outcome.duplicates) == (0, 1)
    assert [e.message_id for e in events()] == [ada.id]


def test_messages_that_are_not_the_workspaces_are_counted_as_unknown(app, api, sent):
    other = api_for(app, "Other")
    ours = report(sent[0], "hard_bounce", "x1")
    stranger = Delivery("<nobody@nowhere.example>", "complaint", "", None, "x2")

    outcome = record_deliveries(other.workspace_id, "test", [ours, stranger], NOW)

    assert outcome.to_dict() == {"recorded": 0, "duplicates": 0, "unknown_messages": 2}
    assert events() == [] and suppressions() == {}


# --- parsing and secrets ------------------------------------------------------------------


def request(body: object, headers: dict[str, str] | None = None) -> HookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HookRequest(raw, headers or {}, json.loads)


def test_message_ids_are_normalised_to_the_header_form_we_store():
    assert message_id_header("abc.123@pm.example") == "<abc.123@pm.example>"
    assert message_id_header(" <abc.123@pm.example> ") == "<abc.123@pm.example>"
    assert message_id_header("no-at-sign") is None
    assert message_id_header(42) is None


def test_mailgun_refuses_a_timestamp_more_than_15_minutes_off_even_if_signed():
    key = "key-" + "a" * 32
    signed_at = int(NOW.timestamp()) - 16 * 60
    body = mailgun_body(key, "<m@pm.example>", "a@x.test", "failed", "permanent", signed_at)

    with pytest.raises(HookRefused) as refused:
        mailgun.receive(request(body), key, NOW)
    assert refused.value.status == 401

    fresh = mailgun_body(key, "<m@pm.example>", "a@x.test", "failed", "permanent", signed_at + 120)
    [delivery] = mailgun.receive(request(fresh), key, NOW).deliveries
    assert (delivery.message_id, delivery.kind) == ("<m@pm.example>", "hard_bounce")


def test_ses_reads_our_message_id_from_the_common_headers_when_no_headers_are_included():
    message = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Undetermined", "feedbackId": "f-1", "bouncedRecipients": []},
        "mail": {"messageId": "ses-own", "commonHeaders": {"messageId": "<ours@pm.example>"}},
    }

    [delivery] = ses._notification(message, "sns-1").deliveries

    assert (delivery.message_id, delivery.kind, delivery.receipt_key) == (
        "<ours@pm.example>",
        "soft_bounce",
        "f-1",
    )


def test_the_sns_canonical_text_leaves_out_a_missing_subject():
    envelope = {
        "Type": "Notification",
        "Message": "m",
        "MessageId": "id",
        "Timestamp": "t",
        "TopicArn": TOPIC,
    }

    text = sns.canonical(envelope, sns.SIGNED_FIELDS["Notification"])

    expected = f"Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\n{TOPIC}\nType\nNotification\n"
    assert text == expected.encode()


def test_sns_certificate_hosts_match_one_label_per_star():
    patterns = "sns.*.amazonaws.com sns.*.amazonaws.com.cn"
    assert sns.allowed_host("sns.eu-west-1.amazonaws.com", patterns)
    assert sns.allowed_host("SNS.us-east-1.amazonaws.com", patterns)
    assert sns.allowed_host("sns.cn-north-1.amazonaws.com.cn", patterns)
    assert not sns.allowed_host("sns.evil.example.amazonaws.com", patterns)
    assert not sns.allowed_host("sns.us-east-1.amazonaws.com.evil.example", patterns)
    assert not sns.allowed_host("evil.example", patterns)


@pytest.mark.parametrize(
    ("provider", "value", "says"),
    [
        ("ses", "arn:aws:sqs:us-east-1:123456789012:queue", "not an SNS topic ARN"),
        ("ses", "", "enter the ARN"),
        ("postmark", "short", "at least 16"),
        ("mailgun", "two words here and more", "one word"),
        ("sendgrid", "not base64 at all!", "verification key"),
    ],
)
def test_each_provider_refuses_a_secret_it_cannot_use_and_says_why(provider, value, says):
    with pytest.raises(ValueError, match=says):
        PROVIDERS[provider].check_secret(value)


def test_sendgrid_takes_its_key_as_base64_or_pem_but_only_an_elliptic_curve_key():
    key = SendGridKey()
    pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + "\n".join(key.public[i : i + 64] for i in range(0, len(key.public), 64))
        + "\n-----END PUBLIC KEY-----\n"
    )
    assert PROVIDERS["sendgrid"].check_secret(pem) == key.public
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="elliptic-curve"):
        PROVIDERS["sendgrid"].check_secret(base64.b64encode(rsa_der).decode())


def test_ses_keeps_each_topic_once():
    value = f"{TOPIC}, {TOPIC}\narn:aws:sns:eu-west-1:123456789012:complaints"
    assert ses.check_secret(value) == f"{TOPIC} arn:aws:sns:eu-west-1:123456789012:complaints"
