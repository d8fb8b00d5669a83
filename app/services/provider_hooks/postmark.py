"""Postmark: Bounce and SpamComplaint webhooks.

Postmark signs nothing; it can send HTTP Basic credentials with each webhook (the
webhook's "Basic auth" fields, or `https://user:password@host/...` in its URL). The
password stored here must match (compared in constant time); the user name is not checked.

Postmark's `MessageID` is its own id, not our Message-ID header. Ours is read from the
message's metadata (`penguin_message_id`, set by an `X-PM-Metadata-penguin_message_id`
header, when one was sent), else from the returned original in the bounce's `Content` (the
webhook's "Include bounce content" option).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from typing import Any

from app.services import inbound
from app.services.delivery_events import Delivery
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

METADATA_KEY = "penguin_message_id"
HARD = frozenset({"HardBounce", "BadEmailAddress"})
NOT_A_FAILURE = frozenset(
    {
        "AutoResponder",
        "Subscribe",
        "Unsubscribe",
        "AddressChange",
        "OpenRelayTest",
        "ChallengeVerification",
        "InboundError",
        "ManuallyDeactivated",
        "Unconfirmed",
    }
)
"""Bounce types that say nothing about the address's delivery; the others are soft."""
MIN_PASSWORD = 16


def receive(request: HookRequest, secret: str | None, now: datetime) -> Received:
    _authenticate(request, require_secret(secret, "Postmark"))
    record = request.json()
    if not isinstance(record, dict):
        raise HookRefused(400, "a Postmark webhook body is one JSON object")
    kind = _kind(record)
    if kind is None:
        return Received(ignored=1)
    message_id = _message_id(record)
    if message_id is None:
        return Received(unidentified=1)
    detail = text(" ".join(str(record.get(k) or "") for k in ("Type", "Description", "Details")))
    delivery = Delivery(
        message_id=message_id,
        kind=kind,
        detail=detail,
        occurred_at=timestamp(record.get("BouncedAt")),
        receipt_key=event_key(_record_id(record), record),
    )
    return Received([delivery])


def _authenticate(request: HookRequest, password: str) -> None:
    """HTTP Basic: the password must be the stored one."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    given = b""
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(encoded.strip(), validate=True).partition(b":")[2]
        except (binascii.Error, ValueError):
            given = b""
    if not hmac.compare_digest(given, password.encode()):
        raise HookRefused(401, "the webhook's Basic auth password is missing or wrong")


def _kind(record: dict[str, Any]) -> str | None:
    if record.get("RecordType") == "SpamComplaint" or record.get("Type") == "SpamComplaint":
        return "complaint"
    if record.get("RecordType") != "Bounce":
        return None  # deliveries, opens, clicks, subscription changes
    bounce_type = record.get("Type")
    if bounce_type in HARD:
        return "hard_bounce"
    return None if bounce_type in NOT_A_FAILURE else "soft_bounce"


def _message_id(record: dict[str, Any]) -> str | None:
    metadata = record.get("Metadata")
    if isinstance(metadata, dict):
        found = message_id_header(metadata.get(METADATA_KEY))
        if found:
            return found
    content = record.get("Content")
    if isinstance(content, str) and content.strip():
        try:
            original = inbound.parse_bounce(inbound.parse_message(content.encode()))
        except inbound.InboundError:
            return None
        return original.original_ids[0] if original.original_ids else None
    return None


def _record_id(record: dict[str, Any]) -> Any:
    """Postmark's id of the bounce record, per kind of record (a complaint is one too)."""
    found = record.get("ID")
    return None if found is None else f"{record.get('RecordType')}:{found}"


def check_secret(value: str) -> str:
    password = value.strip()
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"use a password of at least {MIN_PASSWORD} characters")
    if len(password) > 200:
        raise ValueError("the password is longer than 200 characters")
    return password


PROVIDER = Provider(
    name="postmark",
    label="Postmark",
    secret_label="Basic auth password",
    secret_hint=(
        f"A password of at least {MIN_PASSWORD} characters that you also enter in the "
        "webhook's Basic auth fields in Postmark (any user name). Postmark signs nothing; "
        "this password is what proves a request comes from your Postmark server."
    ),
    setup=(
        "In Postmark: Servers → your server → your message stream → Webhooks → Add webhook. "
        "Paste the URL, set Basic auth with the password below, tick Bounce and Spam "
        "Complaint, and tick Include bounce content: the returned original in it names "
        "our email (Postmark's own message id does not)."
    ),
    receive=receive,
    check_secret=check_secret,
)
