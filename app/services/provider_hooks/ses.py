"""Amazon SES: bounce and complaint notifications published to an SNS topic, delivered to
this URL by an HTTPS subscription (raw message delivery off, so SNS signs each message).

A valid SNS signature proves only that SNS sent the message, not whose topic it came from:
the workspace therefore stores the ARNs of its topics, and a message from any other topic
is refused (401). A SubscriptionConfirmation from one of them is confirmed at once.

Bounces (`notificationType`, or `eventType` for configuration-set events): Permanent is a
hard bounce, Transient and Undetermined soft; complaints are complaints. SES's
`mail.messageId` is its own id: our Message-ID is read from `mail.headers` (when the
notification includes the original headers), else `mail.commonHeaders.messageId`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from app.services.delivery_events import Delivery
from app.services.provider_hooks import sns
from app.services.provider_hooks.base import (
    HookRefused,
    HookRequest,
    Provider,
    Received,
    event_key,
    message_id_header,
    require_secret,
    text,
    timestamp,
)

TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]{1,30}:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
MAX_TOPICS = 20


def receive(request: HookRequest, secret: str | None, now: datetime) -> Received:
    topics = require_secret(secret, "SES topic ARN").split()
    envelope = request.json()
    if not isinstance(envelope, dict):
        raise HookRefused(400, "an SNS message is one JSON object")
    if envelope.get("TopicArn") not in topics:
        raise HookRefused(401, "TopicArn: not one of this webhook's topics")
    sns.verify(envelope, now)
    kind = envelope["Type"]
    if kind == "SubscriptionConfirmation":
        sns.confirm_subscription(envelope.get("SubscribeURL"))
        return Received(note=f"subscription to {envelope['TopicArn']} confirmed")
    if kind != "Notification":
        return Received(ignored=1)
    try:
        message = request.loads(envelope["Message"])
    except ValueError:
        return Received(ignored=1)  # a test message published by hand
    if not isinstance(message, dict):
        return Received(ignored=1)
    return _notification(message, envelope.get("MessageId"))


def _notification(message: dict[str, Any], sns_id: Any) -> Received:
    kind, report = _report(message)
    if kind is None or report is None:
        return Received(ignored=1)
    message_id = _message_id(message.get("mail"))
    if message_id is None:
        return Received(unidentified=1)
    if kind == "complaint":
        detail = " ".join(
            str(report.get(k) or "") for k in ("complaintFeedbackType", "complaintSubType")
        )
    else:
        recipients = report.get("bouncedRecipients")
        first = recipients[0] if isinstance(recipients, list) and recipients else {}
        first = first if isinstance(first, dict) else {}
        detail = " ".join(
            str(part or "")
            for part in (
                report.get("bounceType"),
                report.get("bounceSubType"),
                first.get("status"),
                first.get("diagnosticCode"),
            )
        )
    delivery = Delivery(
        message_id=message_id,
        kind=kind,
        detail=text(detail),
        occurred_at=timestamp(report.get("timestamp")),
        receipt_key=event_key(report.get("feedbackId") or sns_id, message),
    )
    return Received([delivery])


def _report(message: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The kind of delivery report and its object (`bounce` or `complaint`)."""
    name = message.get("notificationType") or message.get("eventType")
    if name == "Complaint":
        report = message.get("complaint")
        return "complaint", report if isinstance(report, dict) else None
    if name == "Bounce":
        report = message.get("bounce")
        if not isinstance(report, dict):
            return None, None
        hard = report.get("bounceType") == "Permanent"
        return ("hard_bounce" if hard else "soft_bounce"), report
    return None, None


def _message_id(mail: Any) -> str | None:
    if not isinstance(mail, dict):
        return None
    headers = mail.get("headers")
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
                found = message_id_header(header.get("value"))
                if found:
                    return found
    common = mail.get("commonHeaders")
    return message_id_header(common.get("messageId")) if isinstance(common, dict) else None


def check_secret(value: str) -> str:
    """One or more SNS topic ARNs (space, comma or line separated)."""
    topics = [t for t in re.split(r"[\s,]+", value.strip()) if t]
    if not topics:
        raise ValueError("enter the ARN of the SNS topic SES publishes to")
    if len(topics) > MAX_TOPICS:
        raise ValueError(f"at most {MAX_TOPICS} topics")
    for topic in topics:
        if not TOPIC_ARN.fullmatch(topic):
            raise ValueError(f"{topic[:100]!r} is not an SNS topic ARN (arn:aws:sns:…)")
    return " ".join(dict.fromkeys(topics))


PROVIDER = Provider(
    name="ses",
    label="Amazon SES (through SNS)",
    secret_label="SNS topic ARNs",
    secret_hint=(
        "The ARN of each SNS topic SES publishes bounces and complaints to, e.g. "
        "arn:aws:sns:us-east-1:123456789012:ses-bounces. Messages from other topics are "
        "refused; enter the ARNs before subscribing, so the subscription is confirmed."
    ),
    setup=(
        "In Amazon SNS: create a topic (or use yours), then Create subscription with "
        "protocol HTTPS and this URL, raw message delivery off. In SES: set the identity's "
        "bounce and complaint notifications (or a configuration set's event destination) "
        "to that topic, with original headers included."
    ),
    receive=receive,
    check_secret=check_secret,
    secret_visible=True,
)
