"""Sending providers' webhooks: `POST /hooks/<provider>/<token>`, one URL per workspace and
provider (made on the Settings page), answered in JSON.

- An unknown provider or token: 404.
- A request the provider's signature scheme does not verify with the workspace's secret
  (or with none stored yet): 401, and nothing is recorded.
- Otherwise 200 `{"recorded", "duplicates", "unknown_messages", "ignored"}`: providers
  retry anything else, so an email that is not ours, or an event of no concern here, is
  counted rather than refused.

No CSRF (providers have no session) and no cookies are read; the body is bounded by
MAX_REQUEST_BYTES and the events per request by `provider_hooks.base.MAX_ITEMS`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.api import error_body
from app.services import provider_hook_settings as hook_settings
from app.services.delivery_events import record_deliveries
from app.services.provider_hooks import PROVIDERS
from app.services.provider_hooks.base import HookRefused, HookRequest
from app.services.secret_box import SecretUnreadable

log = logging.getLogger(__name__)
hooks_bp = Blueprint("hooks", __name__)


@hooks_bp.post("/hooks/<provider>/<token>")
def receive(provider: str, token: str) -> tuple[Any, int]:
    hook = hook_settings.find(provider, token)
    if hook is None:
        return jsonify(error_body("no such webhook")), 404
    try:
        secret = hook_settings.secret_of(hook)
    except SecretUnreadable as exc:  # the key changed: a retry may find the secret re-entered
        log.error("provider webhook %s of workspace %s: %s", provider, hook.workspace_id, exc)
        return jsonify(error_body(str(exc))), 503
    now = datetime.now(UTC)
    incoming = HookRequest(request.get_data(cache=True), request.headers, current_app.json.loads)
    try:
        received = PROVIDERS[provider].receive(incoming, secret, now)
    except HookRefused as exc:
        log.info(
            "provider webhook %s of workspace %s refused: %s", provider, hook.workspace_id, exc
        )
        return jsonify(error_body(str(exc))), exc.status
    outcome = record_deliveries(hook.workspace_id, provider, received.deliveries, now)
    body: dict[str, Any] = {
        **outcome.to_dict(),
        "unknown_messages": outcome.unknown_messages + received.unidentified,
        "ignored": received.ignored,
    }
    if received.note:
        body["note"] = received.note
    return jsonify(body), 200
