"""SendGrid (Twilio): the Event Webhook, with Signed Event Webhook Requests on.

Each request carries `X-Twilio-Email-Event-Webhook-Timestamp` and
`X-Twilio-Email-Event-Webhook-Signature`, an ECDSA (P-256, SHA-256) signature of the
timestamp followed by the raw body, checked with the verification key SendGrid shows
when signing is turned on (stored here as base64 DER).

The body is a batch of events: `bounce` (`type` bounce: hard; blocked: soft), `dropped`
(by its reason: a bounced or invalid address is hard, a reported one a complaint, the
rest soft) and `spamreport` (a complaint); the others are ignored. The email is named by
the custom argument `penguin_message_id` when the sender set one, else by `smtp-id`, the
Message-ID header of a message sent through SendGrid's SMTP relay.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.services.delivery_events import Delivery
from app.services.provider_hooks.base import (
    HookRefused,
    HookRequest,
    Provider,
    Received,
    bounded,
    event_key,
    message_id_header,
    require_secret,
    text,
    timestamp,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
CUSTOM_ARG = "penguin_message_id"
DROPPED_HARD = ("bounced address", "invalid")
DROPPED_COMPLAINT = ("spam reporting address",)


def receive(request: HookRequest, secret: str | None, now: datetime) -> Received:
    _verify(request, _public_key(require_secret(secret, "SendGrid")))
    events = request.json()
    if not isinstance(events, list):
        raise HookRefused(400, "a SendGrid webhook body is a JSON array of events")
    deliveries: list[Delivery] = []
    ignored = unidentified = 0
    for event in bounded(events):
        kind = _kind(event) if isinstance(event, dict) else None
        if kind is None:
            ignored += 1
            continue
        message_id = message_id_header(event.get(CUSTOM_ARG)) or message_id_header(
            event.get("smtp-id")
        )
        if message_id is None:
            unidentified += 1
            continue
        detail = text(f"{event.get('event')} {event.get('status') or ''} {event.get('reason')}")
        deliveries.append(
            Delivery(
                message_id=message_id,
                kind=kind,
                detail=detail,
                occurred_at=timestamp(event.get("timestamp")),
                receipt_key=event_key(event.get("sg_event_id"), event),
            )
        )
    return Received(deliveries, ignored=ignored, unidentified=unidentified)


def _verify(request: HookRequest, key: ec.EllipticCurvePublicKey) -> None:
    signature = request.headers.get(SIGNATURE, "")
    signed_at = request.headers.get(TIMESTAMP, "")
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, signed_at.encode() + request.body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise HookRefused(401, f"the {SIGNATURE} header is missing or wrong") from None


def _kind(event: dict[str, Any]) -> str | None:
    name = event.get("event")
    if name == "spamreport":
        return "complaint"
    if name == "bounce":
        return "soft_bounce" if event.get("type") == "blocked" else "hard_bounce"
    if name == "dropped":
        reason = str(event.get("reason") or "").lower()
        if reason.startswith(DROPPED_HARD):
            return "hard_bounce"
        return "complaint" if reason.startswith(DROPPED_COMPLAINT) else "soft_bounce"
    return None


def _public_key(stored: str) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(base64.b64decode(stored))
    assert isinstance(key, ec.EllipticCurvePublicKey)  # check_secret accepted only such keys
    return key


def check_secret(value: str) -> str:
    """SendGrid's verification key, base64 DER (PEM armour accepted); stored as base64 DER."""
    lines = [line.strip() for line in value.strip().splitlines()]
    body = "".join(line for line in lines if line and not line.startswith("-----"))
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("paste the verification key SendGrid shows (base64)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("SendGrid's verification key is an elliptic-curve public key")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


PROVIDER = Provider(
    name="sendgrid",
    label="SendGrid",
    secret_label="Verification key",
    secret_hint=(
        "The public key SendGrid shows under Signature Verification once signing is on "
        "(base64). Requests whose signature it does not verify are refused with 401."
    ),
    setup=(
        "In SendGrid: Settings → Mail Settings → Event Webhooks → Create new webhook. Paste "
        "the URL, select Bounced, Dropped and Spam Reports, turn on Signature Verification "
        "and copy its verification key below."
    ),
    receive=receive,
    check_secret=check_secret,
)
