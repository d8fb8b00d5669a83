"""POST /hooks/<provider>/<token>: each provider's signed bounces and complaints are recorded
against our emails; a request the provider did not sign gets 401 and records nothing; a
provider's retry records once. Real signatures throughout (tests/provider_signing.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.core.events import BOUNCED, COMPLAINED, SOFT_BOUNCED
from app.extensions import db
from app.models import ContactEvent, ContactSequence, OutboundMessage, SequenceStep, Workspace
from app.services import provider_hook_settings as hook_settings
from app.services.provider_hooks.base import MAX_ITEMS
from app.services.suppression import suppressed_emails
from tests.conftest import ApiClient, api_for
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import tick
from tests.provider_signing import (
    TOPIC,
    SendGridKey,
    SnsSigner,
    basic_auth,
    cert_server,
    mailgun_body,
    postmark_bounce,
    sendgrid_event,
    ses_bounce,
    ses_complaint,
)

POSTMARK_PASSWORD = "correct-horse-battery-staple"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8"}


@pytest.fixture
def sent(app, api) -> list[OutboundMessage]:
    """The onboarding's first emails to ada, grace and kenji (captured: no SMTP)."""
    _, t0 = start_onboarding(api)
    tick(app, t0)
    db.session.expire_all()
    messages = list(db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.to_email)))
    assert [m.to_email for m in messages] == [
        "ada@example.com",
        "grace@example.com",
        "kenji@example.com",
    ]
    return messages


@pytest.fixture
def sns(app, tmp_path, monkeypatch) -> Iterator[SnsSigner]:
    """An SNS signer whose certificate a local https server serves, on an allowed host."""
    with cert_server(tmp_path) as (server, ca_file):
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # trust the server's TLS certificate
        app.config["SNS_CERT_HOSTS"] = "127.0.0.1"
        yield SnsSigner(server)


def hook_path(api: ApiClient, provider: str, secret: str) -> str:
    workspace = db.session.get_one(Workspace, api.workspace_id)
    hook = hook_settings.enable(workspace, provider)
    hook_settings.save_secret(hook, secret)
    return f"/hooks/{provider}/{hook.token}"


def post(api: ApiClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.client.post(path, data=data, headers=headers)


def hook_events() -> list[ContactEvent]:
    db.session.expire_all()
    query = select(ContactEvent).where(ContactEvent.source.like("hook:%"))
    return list(db.session.scalars(query.order_by(ContactEvent.id)))


def enrollment_of(message: OutboundMessage) -> ContactSequence:
    db.session.expire_all()
    return db.session.get_one(ContactSequence, message.enrollment_id)


def suppressed(api: ApiClient, *emails: str) -> dict[str, str]:
    db.session.expire_all()
    return suppressed_emails(api.workspace_id, emails)


def assert_attributed(event: ContactEvent, message: OutboundMessage, kind: str) -> None:
    step_key = db.session.get_one(SequenceStep, message.step_id).key
    assert (event.type, event.message_id, event.step_id, event.enrollment_id) == (
        kind,
        message.id,
        message.step_id,
        message.enrollment_id,
    )
    assert event.contact_id == message.contact_id
    assert event.properties["message_id"] == message.message_id
    assert event.properties["email_step_id"] == step_key


def counts(response: Any) -> tuple[int, int, int]:
    assert response.status_code == 200, response.text
    body = response.json
    return body["recorded"], body["duplicates"], body["unknown_messages"]


# --- Amazon SES through SNS ---------------------------------------------------------------


def test_an_ses_hard_bounce_signed_by_sns_is_recorded_and_suppresses_the_address(
    app, api, sent, sns
):
    ada = sent[0]
    path = hook_path(api, "ses", TOPIC)

    response = post(
        api, path, sns.notification(ses_bounce(ada.message_id, ada.to_email)), SNS_HEADERS
    )

    assert counts(response) == (1, 0, 0)
    [event] = hook_events()
    assert_attributed(event, ada, BOUNCED)
    assert event.source == "hook:ses" and event.properties["hard"] is True
    assert "5.1.1" in event.properties["detail"]
    assert suppressed(api, ada.to_email) == {ada.to_email: "bounced"}
    ended = enrollment_of(ada)
    assert ended.status == "failed"
    assert (
        ended.exit_reason == "bounced (ses: Permanent General 5.1.1 smtp; 550 5.1.1 user unknown)"
    )
    assert enrollment_of(sent[1]).status == "active"


def test_an_ses_complaint_with_signature_version_1_is_recorded_and_suppresses(app, api, sent, sns):
    grace = sent[1]
    path = hook_path(api, "ses", TOPIC)
    envelope = sns.notification(ses_complaint(grace.message_id, grace.to_email), version="1")

    assert counts(post(api, path, envelope, SNS_HEADERS)) == (1, 0, 0)
    [event] = hook_events()
    assert_attributed(event, grace, COMPLAINED)
    assert suppressed(api, grace.to_email) == {grace.to_email: "complained"}
    assert (enrollment_of(grace).status, enrollment_of(grace).exit_reason) == (
        "exited",
        "complained",
    )


def test_an_ses_transient_bounce_is_counted_as_soft_and_suppresses_nothing(app, api, sent, sns):
    kenji = sent[2]
    path = hook_path(api, "ses", TOPIC)
    message = ses_bounce(kenji.message_id, kenji.to_email, bounce_type="Transient")

    assert counts(post(api, path, sns.notification(message), SNS_HEADERS)) == (1, 0, 0)
    [event] = hook_events()
    assert_attributed(event, kenji, SOFT_BOUNCED)
    assert event.properties["hard"] is False
    assert suppressed(api, kenji.to_email) == {}
    assert enrollment_of(kenji).status == "active"


def test_a_replayed_sns_notification_records_once(app, api, sent, sns):
    ada = sent[0]
    path = hook_path(api, "ses", TOPIC)
    envelope = sns.notification(ses_bounce(ada.message_id, ada.to_email))

    assert counts(post(api, path, envelope, SNS_HEADERS)) == (1, 0, 0)
    assert counts(post(api, path, envelope, SNS_HEADERS)) == (0, 1, 0)
    assert len(hook_events()) == 1


def test_an_sns_message_with_a_wrong_signature_gets_401_and_records_nothing(app, api, sent, sns):
    ada = sent[0]
    path = hook_path(api, "ses", TOPIC)
    envelope = sns.notification(ses_bounce(ada.message_id, ada.to_email))
    forged = json.loads(envelope["Message"])
    forged["bounce"]["bouncedRecipients"][0]["status"] = "5.7.1"  # changed after signing
    envelope["Message"] = json.dumps(forged)

    response = post(api, path, envelope, SNS_HEADERS)

    assert response.status_code == 401 and "Signature" in response.json["error"]["message"]
    assert hook_events() == [] and suppressed(api, ada.to_email) == {}
    assert enrollment_of(ada).status == "active"


def test_an_sns_certificate_on_a_host_not_allowed_gets_401_and_is_never_fetched(
    app, api, sent, sns
):
    ada = sent[0]
    path = hook_path(api, "ses", TOPIC)
    app.config["SNS_CERT_HOSTS"] = "sns.*.amazonaws.com"  # the default: 127.0.0.1 is not one
    envelope = sns.notification(ses_bounce(ada.message_id, ada.to_email))

    response = post(api, path, envelope, SNS_HEADERS)

    assert response.status_code == 401
    assert "not an Amazon SNS host" in response.json["error"]["message"]
    assert sns.server.fetched == [] and hook_events() == []


def test_an_sns_message_from_a_topic_the_workspace_did_not_enter_gets_401(app, api, sent, sns):
    ada = sent[0]
    path = hook_path(api, "ses", "arn:aws:sns:us-east-1:123456789012:another-topic")
    envelope = sns.notification(ses_bounce(ada.message_id, ada.to_email))

    assert post(api, path, envelope, SNS_HEADERS).status_code == 401
    assert hook_events() == []


def test_a_subscription_confirmation_from_the_workspaces_topic_is_confirmed(app, api, sns):
    path = hook_path(api, "ses", TOPIC)

    response = post(api, path, sns.subscription(), SNS_HEADERS)

    assert response.status_code == 200, response.text
    assert response.json["note"] == f"subscription to {TOPIC} confirmed"
    assert len(sns.server.confirmed) == 1


# --- Postmark -----------------------------------------------------------------------------


def test_a_postmark_hard_bounce_with_the_right_password_is_recorded_and_suppresses(app, api, sent):
    ada = sent[0]
    path = hook_path(api, "postmark", POSTMARK_PASSWORD)
    body = postmark_bounce(ada.message_id, ada.to_email)

    response = post(api, path, body, basic_auth("postmark", POSTMARK_PASSWORD))

    assert counts(response) == (1, 0, 0)
    [event] = hook_events()
    assert_attributed(event, ada, BOUNCED)
    assert suppressed(api, ada.to_email) == {ada.to_email: "bounced"}
    assert enrollment_of(ada).status == "failed"
    assert enrollment_of(ada).exit_reason.startswith("bounced (postmark: HardBounce")


def test_a_postmark_spam_complaint_named_by_metadata_suppresses(app, api, sent):
    grace = sent[1]
    path = hook_path(api, "postmark", POSTMARK_PASSWORD)
    body = postmark_bounce(grace.message_id, grace.to_email, "SpamComplaint", "SpamComplaint")
    body.pop("Content")
    body["Metadata"] = {"penguin_message_id": grace.message_id}

    assert counts(post(api, path, body, basic_auth("pm", POSTMARK_PASSWORD))) == (1, 0, 0)
    assert_attributed(hook_events()[0], grace, COMPLAINED)
    assert suppressed(api, grace.to_email) == {grace.to_email: "complained"}


def test_a_postmark_soft_bounce_is_counted_and_suppresses_nothing(app, api, sent):
    kenji = sent[2]
    path = hook_path(api, "postmark", POSTMARK_PASSWORD)
    body = postmark_bounce(kenji.message_id, kenji.to_email, "SoftBounce")

    assert counts(post(api, path, body, basic_auth("pm", POSTMARK_PASSWORD))) == (1, 0, 0)
    assert_attributed(hook_events()[0], kenji, SOFT_BOUNCED)
    assert suppressed(api, kenji.to_email) == {} and enrollment_of(kenji).status == "active"


def test_a_postmark_request_with_a_wrong_or_no_password_gets_401_and_records_nothing(
    app, api, sent
):
    ada = sent[0]
    path = hook_path(api, "postmark", POSTMARK_PASSWORD)
    body = postmark_bounce(ada.message_id, ada.to_email)

    wrong = post(api, path, body, basic_auth("postmark", POSTMARK_PASSWORD + "x"))
    missing = post(api, path, body, {"Content-Type": "application/json"})

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert hook_events() == [] and suppressed(api, ada.to_email) == {}


def test_a_postmark_retry_records_once(app, api, sent):
    ada = sent[0]
    path = hook_path(api, "postmark", POSTMARK_PASSWORD)
    body = postmark_bounce(ada.message_id, ada.to_email, "SoftBounce")
    headers = basic_auth("postmark", POSTMARK_PASSWORD)

    assert counts(post(api, path, body, headers)) == (1, 0, 0)
    assert counts(post(api, path, body, headers)) == (0, 1, 0)
    assert len(hook_events()) == 1


# --- SendGrid -----------------------------------------------------------------------------


def test_a_signed_sendgrid_batch_records_each_bounce_and_complaint(app, api, sent):
    ada, grace, kenji = sent
    key = SendGridKey()
    path = hook_path(api, "sendgrid", key.public)
    batch = [
        sendgrid_event(ada.message_id, ada.to_email, "bounce", type="bounce", status="5.1.1"),
        sendgrid_event(grace.message_id, grace.to_email, "bounce", type="blocked"),
        sendgrid_event(kenji.message_id, kenji.to_email, "spamreport"),
        sendgrid_event(kenji.message_id, kenji.to_email, "delivered"),
        sendgrid_event("<not-ours@elsewhere.example>", "x@elsewhere.example", "dropped"),
    ]
    body = json.dumps(batch).encode()

    response = post(api, path, body, key.headers(body))

    assert counts(response) == (3, 0, 1) and response.json["ignored"] == 1
    by_type = {event.type: event for event in hook_events()}
    assert_attributed(by_type[BOUNCED], ada, BOUNCED)
    assert_attributed(by_type[SOFT_BOUNCED], grace, SOFT_BOUNCED)
    assert_attributed(by_type[COMPLAINED], kenji, COMPLAINED)
    assert suppressed(api, ada.to_email, grace.to_email, kenji.to_email) == {
        ada.to_email: "bounced",
        kenji.to_email: "complained",
    }
    assert [enrollment_of(m).status for m in sent] == ["failed", "active", "exited"]
    stats = api.get(f"/api/sequences/{ada.sequence_id}/analytics").json
    email_1 = next(step for step in stats["steps"] if step["step"] == "email_1")
    assert (email_1["bounced"], email_1["soft_bounced"], email_1["complained"]) == (1, 1, 1)
    assert (stats["enrollments"]["failed"], stats["enrollments"]["exited"]) == (1, 1)


def test_a_sendgrid_batch_changed_after_signing_gets_401_and_records_nothing(app, api, sent):
    ada = sent[0]
    key = SendGridKey()
    path = hook_path(api, "sendgrid", key.public)
    signed = json.dumps([sendgrid_event(ada.message_id, ada.to_email, "bounce")]).encode()
    other = SendGridKey()

    tampered = post(api, path, signed.replace(b"bounce", b"spamreport"), key.headers(signed))
    wrong_key = post(api, path, signed, other.headers(signed))

    assert (tampered.status_code, wrong_key.status_code) == (401, 401)
    assert hook_events() == [] and suppressed(api, ada.to_email) == {}


def test_a_sendgrid_retry_records_once(app, api, sent):
    grace = sent[1]
    key = SendGridKey()
    path = hook_path(api, "sendgrid", key.public)
    body = json.dumps([sendgrid_event(grace.message_id, grace.to_email, "spamreport")]).encode()

    assert counts(post(api, path, body, key.headers(body))) == (1, 0, 0)
    assert counts(post(api, path, body, key.headers(body))) == (0, 1, 0)
    assert len(hook_events()) == 1


def test_a_sendgrid_batch_over_the_event_cap_gets_413_and_records_nothing(app, api, sent):
    ada = sent[0]
    key = SendGridKey()
    path = hook_path(api, "sendgrid", key.public)
    event = sendgrid_event(ada.message_id, ada.to_email, "bounce")
    body = json.dumps([event] * (MAX_ITEMS + 1)).encode()

    assert post(api, path, body, key.headers(body)).status_code == 413
    assert hook_events() == []


# --- Mailgun ------------------------------------------------------------------------------


def test_signed_mailgun_failures_and_complaints_are_recorded(app, api, sent):
    ada, grace, kenji = sent
    path = hook_path(api, "mailgun", MAILGUN_KEY)
    json_headers = {"Content-Type": "application/json"}

    permanent = mailgun_body(MAILGUN_KEY, ada.message_id, ada.to_email, "failed", "permanent")
    temporary = mailgun_body(MAILGUN_KEY, grace.message_id, grace.to_email, "failed", "temporary")
    complained = mailgun_body(MAILGUN_KEY, kenji.message_id, kenji.to_email, "complained")

    for body in (permanent, temporary, complained):
        assert counts(post(api, path, body, json_headers)) == (1, 0, 0)
    events = hook_events()
    assert_attributed(events[0], ada, BOUNCED)
    assert_attributed(events[1], grace, SOFT_BOUNCED)
    assert_attributed(events[2], kenji, COMPLAINED)
    assert "No such user here" in events[0].properties["detail"]
    assert suppressed(api, ada.to_email, grace.to_email, kenji.to_email) == {
        ada.to_email: "bounced",
        kenji.to_email: "complained",
    }


def test_a_mailgun_request_with_a_wrong_key_or_an_old_timestamp_gets_401(app, api, sent):
    ada = sent[0]
    path = hook_path(api, "mailgun", MAILGUN_KEY)
    headers = {"Content-Type": "application/json"}
    wrong_key = mailgun_body("key-" + "0" * 32, ada.message_id, ada.to_email, "failed", "permanent")
    stale = mailgun_body(
        MAILGUN_KEY, ada.message_id, ada.to_email, "failed", "permanent", int(time.time()) - 3600
    )

    assert post(api, path, wrong_key, headers).status_code == 401
    response = post(api, path, stale, headers)
    assert response.status_code == 401 and "15 minutes" in response.json["error"]["message"]
    assert hook_events() == [] and suppressed(api, ada.to_email) == {}


def test_a_mailgun_retry_records_once(app, api, sent):
    ada = sent[0]
    path = hook_path(api, "mailgun", MAILGUN_KEY)
    body = mailgun_body(MAILGUN_KEY, ada.message_id, ada.to_email, "failed", "temporary")
    headers = {"Content-Type": "application/json"}

    assert counts(post(api, path, body, headers)) == (1, 0, 0)
    assert counts(post(api, path, body, headers)) == (0, 1, 0)
    assert len(hook_events()) == 1


# --- every provider -----------------------------------------------------------------------


def test_an_unknown_provider_or_token_is_404(app, api):
    path = hook_path(api, "mailgun", MAILGUN_KEY)
    token = path.rsplit("/", 1)[1]
    headers = {"Content-Type": "application/json"}

    assert api.client.post(f"/hooks/mailgun/{token}x", json={}, headers=headers).status_code == 404
    assert api.client.post(f"/hooks/postmark/{token}", json={}).status_code == 404
    assert api.client.post(f"/hooks/smtp2go/{token}", json={}).status_code == 404


def test_a_hook_without_its_secret_refuses_every_request(app, api, sent):
    ada = sent[0]
    workspace = db.session.get_one(Workspace, api.workspace_id)
    token = hook_settings.enable(workspace, "mailgun").token
    body = mailgun_body(MAILGUN_KEY, ada.message_id, ada.to_email, "failed", "permanent")

    assert api.client.post(f"/hooks/mailgun/{token}", json=body).status_code == 401
    assert hook_events() == []


def test_an_email_of_another_workspace_is_an_unknown_message_there(app, api, sent):
    ada = sent[0]
    other = api_for(app, "Other")
    path = hook_path(other, "mailgun", MAILGUN_KEY)
    body = mailgun_body(MAILGUN_KEY, ada.message_id, ada.to_email, "failed", "permanent")

    assert counts(post(other, path, body, {"Content-Type": "application/json"})) == (0, 0, 1)
    assert hook_events() == [] and suppressed(api, ada.to_email) == {}
