"""What a provider module is: how it checks a request's signature and reads the reports in
it, and what the workspace stores to make that check (a key, a password, topic ARNs)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.services.delivery_events import Delivery

MAX_ITEMS = 1000
"""Reports one request may carry (SendGrid batches them): more is refused with 413, so the
work one request costs stays bounded."""
_MESSAGE_ID = re.compile(r"<?([^<>\s]{1,250}@[^<>\s]{1,250})>?")


class HookRefused(Exception):
    """The request is not accepted, and nothing is recorded: `status` 401 (not signed by the
    provider for this workspace), 400 (unreadable), 413 (too many reports), or 502/503 (an
    SNS certificate or subscription URL could not be fetched now: SNS retries)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HookRequest:
    """The parts of the HTTP request a provider module reads. `loads` is the app's strict
    JSON parser (bounded depth, finite numbers)."""

    body: bytes
    headers: Mapping[str, str]
    loads: Callable[[str | bytes], Any]

    def json(self) -> Any:
        try:
            return self.loads(self.body)
        except ValueError as exc:
            raise HookRefused(400, f"the body is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class Received:
    """The reports a verified request carries; how many of its events are of no concern
    here (deliveries, opens) and how many are bounces or complaints naming no Message-ID
    (counted with the unknown messages); a note for the response (a confirmed
    subscription)."""

    deliveries: list[Delivery] = field(default_factory=list)
    ignored: int = 0
    unidentified: int = 0
    note: str | None = None


@dataclass(frozen=True)
class Provider:
    """`receive(request, secret, now)` verifies the request with the workspace's stored
    secret (None: none entered yet, so nothing can be verified) and returns its reports,
    or raises HookRefused. `check_secret(text)` normalises what the user enters in
    Settings, or raises ValueError saying what is wrong with it."""

    name: str
    label: str
    secret_label: str
    secret_hint: str
    setup: str
    receive: Callable[[HookRequest, str | None, datetime], Received]
    check_secret: Callable[[str], str]
    secret_visible: bool = False  # typed in clear (SES's topic ARNs are no secret)


def require_secret(secret: str | None, provider: str) -> str:
    if not secret:
        raise HookRefused(401, f"no {provider} signing secret is set for this webhook")
    return secret


def message_id_header(value: Any) -> str | None:
    """A Message-ID as we store it, `<unique@domain>`, from a provider's spelling (some drop
    the angle brackets); None when it is not one."""
    if not isinstance(value, str):
        return None
    found = _MESSAGE_ID.fullmatch(value.strip())
    return f"<{found.group(1)}>" if found else None


def timestamp(value: Any) -> datetime | None:
    """A provider's event time: ISO 8601 text or Unix seconds; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def text(value: Any, limit: int = 500) -> str:
    """A provider's free text (reason, diagnostic) as one bounded line."""
    if value is None:
        return ""
    return " ".join(str(value).split())[:limit]


def event_key(event_id: Any, item: Any) -> str:
    """The provider's id for a report, or a digest of the report itself when it has none
    (a retry sends the same bytes)."""
    if isinstance(event_id, str | int) and not isinstance(event_id, bool) and str(event_id):
        return str(event_id)[:200]
    return "digest:" + hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()


def bounded(items: list[Any]) -> list[Any]:
    if len(items) > MAX_ITEMS:
        raise HookRefused(413, f"a request carries at most {MAX_ITEMS} events")
    return items
