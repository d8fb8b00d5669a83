"""Webhook calls: POST a signed JSON payload about the contact and enrollment to a URL.

Signature scheme: `X-PenguinMails-Timestamp` is the Unix time of the attempt, and
`X-PenguinMails-Signature` is `sha256=` followed by the hex HMAC-SHA256, keyed with the
workspace's webhook secret, of `<timestamp>.<raw body>`. A receiver recomputes it, compares
in constant time, and refuses timestamps more than a few minutes old (replays).
`X-PenguinMails-Delivery` names the call and stays the same across retries, so a receiver
can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from app.mail.rendering import RenderBudget, RenderError, render_part
from app.services import guarded_http
from app.services.outbound_calls.base import (
    Attempt,
    CallHandler,
    CallSettings,
    PendingCall,
    RequestError,
)
from app.services.webhook_secrets import secret_for

TIMEOUT_SECONDS = 5.0
"""The whole attempt: connect, send and read the answer."""
RETRIED_STATUSES = frozenset({408, 429})
"""Besides 5xx: answers that say "not now" rather than "no"."""
USER_AGENT = "PenguinMails-Webhooks/1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for this body sent at this timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _build(call: PendingCall, settings: CallSettings) -> dict[str, Any]:
    """The URL and the exact JSON body; built once, so every retry sends the same bytes."""
    context = _template_context(call)
    template = call.config.get("payload")
    if isinstance(template, Mapping):
        budget = RenderBudget(settings.render_timeout_seconds, settings.render_max_bytes)
        try:
            payload = _render(template, context, budget, "payload")
        except RenderError as exc:
            raise RequestError(exc.reason) from None
    else:
        payload = _default_payload(call)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return {"url": str(call.config["url"]), "body": body}


def _default_payload(call: PendingCall) -> dict[str, Any]:
    contact = call.contact
    return {
        "event": "sequence.webhook",
        "occurred_at": call.queued_at.isoformat().replace("+00:00", "Z"),
        "contact": {
            "email": contact["email"],
            "first_name": contact.get("first_name"),
            "last_name": contact.get("last_name"),
            "fields": dict(contact.get("fields") or {}),
            "tags": list(contact.get("tags") or []),
        },
        "enrollment": {"id": str(call.enrollment_id)},
        "sequence": {"id": str(call.sequence_id), "name": call.sequence_name},
        "step": {"id": call.step_key},
    }


def _template_context(call: PendingCall) -> dict[str, Any]:
    """What payload templates may use; the contact as email templates see it."""
    fields = dict(call.contact.get("fields") or {})
    contact = {
        **fields,
        **{key: value for key, value in call.contact.items() if key != "fields"},
        "fields": fields,
    }
    return {
        "contact": contact,
        "enrollment": {**call.enrollment_context, "id": str(call.enrollment_id)},
        "sequence": {"id": str(call.sequence_id), "name": call.sequence_name},
        "step": {"id": call.step_key},
        "occurred_at": call.queued_at.isoformat().replace("+00:00", "Z"),
    }


def _render(value: Any, context: dict[str, Any], budget: RenderBudget, where: str) -> Any:
    """String values rendered as templates (in the sandbox, within one budget), nested
    mappings and lists walked, other values kept."""
    if isinstance(value, str):
        return render_part(where, value, context, html=False, budget=budget)
    if isinstance(value, Mapping):
        return {k: _render(item, context, budget, f"{where}.{k}") for k, item in value.items()}
    if isinstance(value, list):
        return [_render(item, context, budget, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _send(request: Mapping[str, Any], call: PendingCall, settings: CallSettings) -> Attempt:
    body = str(request["body"]).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-PenguinMails-Delivery": str(call.id),
        "X-PenguinMails-Timestamp": timestamp,
        "X-PenguinMails-Signature": sign(secret_for(call.workspace_id), timestamp, body),
    }
    try:
        answer = guarded_http.post(
            str(request["url"]),
            body,
            headers,
            timeout_seconds=TIMEOUT_SECONDS,
            allow_private=settings.allow_private,
        )
    except guarded_http.RefusedTarget as exc:
        return Attempt(error=f"refused: {exc}")
    except guarded_http.CallFailed as exc:
        return Attempt(error=str(exc), retry=True)
    return _judge(answer)


def _judge(answer: guarded_http.Answer) -> Attempt:
    status, excerpt = answer.status, answer.excerpt
    if 200 <= status < 300:
        return Attempt(status, excerpt=excerpt)
    if 300 <= status < 400:
        return Attempt(status, f"answered {status}: redirects are not followed", excerpt=excerpt)
    retry = status >= 500 or status in RETRIED_STATUSES
    return Attempt(status, f"answered {status}", retry=retry, excerpt=excerpt)


HANDLER = CallHandler(kind="webhook", build=_build, send=_send)
