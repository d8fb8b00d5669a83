"""Mailgun: webhooks for `failed` (permanent: a hard bounce; temporary: soft) and
`complained` events.

Mailgun signs each request in its JSON body: `signature.signature` is the hex HMAC-SHA256
of `signature.timestamp` followed by `signature.token`, keyed with the account's HTTP
webhook signing key (stored here). A timestamp more than MAX_AGE off is refused, so a
captured request cannot be replayed later. Mailgun gives the Message-ID without its angle
brackets (`event-data.message.headers.message-id`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

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

MAX_AGE = timedelta(minutes=15)


def receive(request: HookRequest, secret: str | None, now: datetime) -> Received:
    key = require_secret(secret, "Mailgun")
    body = request.json()
    if not isinstance(body, dict):
        raise HookRefused(400, "a Mailgun webhook body is one JSON object")
    _verify(body.get("signature"), key, now)
    event = body.get("event-data")
    if not isinstance(event, dict):
        raise HookRefused(400, "event-data: expected an object")
    kind = _kind(event)
    if kind is None:
        return Received(ignored=1)
    message = event.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    found = message_id_header(headers.get("message-id")) if isinstance(headers, dict) else None
    if found is None:
        return Received(unidentified=1)
    status = event.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    detail = text(
        " ".join(
            str(part)
            for part in (
                event.get("severity"),
                event.get("reason"),
                status.get("code"),
                status.get("description") or status.get("message"),
            )
            if part
        )
    )
    delivery = Delivery(
        message_id=found,
        kind=kind,
        detail=detail or str(event.get("event")),
        occurred_at=timestamp(event.get("timestamp")),
        receipt_key=event_key(event.get("id"), event),
    )
    return Received([delivery])


def _verify(signature: Any, key: str, now: datetime) -> None:
    if not isinstance(signature, dict):
        raise HookRefused(401, "signature: the Mailgun signature object is missing")
    signed_at, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(part, str) for part in (signed_at, token, given)):
        raise HookRefused(401, "signature: timestamp, token and signature must be strings")
    expected = hmac.new(key.encode(), f"{signed_at}{token}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise HookRefused(401, "signature: the Mailgun signature is wrong")
    when = timestamp(int(signed_at)) if signed_at.isdigit() and len(signed_at) <= 12 else None
    if when is None or abs(now - when) > MAX_AGE:
        raise HookRefused(401, "signature: the timestamp is missing or more than 15 minutes off")


def _kind(event: dict[str, Any]) -> str | None:
    name = event.get("event")
    if name == "complained":
        return "complaint"
    if name == "failed":
        return "hard_bounce" if event.get("severity") == "permanent" else "soft_bounce"
    return None


def check_secret(value: str) -> str:
    key = value.strip()
    if len(key) < 16 or len(key) > 200 or any(c.isspace() for c in key):
        raise ValueError("paste Mailgun's HTTP webhook signing key (one word, 16+ characters)")
    return key


PROVIDER = Provider(
    name="mailgun",
    label="Mailgun",
    secret_label="HTTP webhook signing key",
    secret_hint=(
        "Mailgun → Settings → API Security → HTTP webhook signing key. Requests whose "
        "signature it does not verify, or signed more than 15 minutes ago, get 401."
    ),
    setup=(
        "In Mailgun: Sending → Webhooks → your domain. Add the URL for Permanent Failure, "
        "Temporary Failure and Spam Complaints."
    ),
    receive=receive,
    check_secret=check_secret,
)
