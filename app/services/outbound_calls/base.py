"""What a call handler is: how to build a call's request and how to make one attempt."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PendingCall:
    """One claimed call with what its request may be built from."""

    id: uuid.UUID
    kind: str
    attempt: int  # 1 for the first attempt
    queued_at: datetime  # when the step ran: the event time the call reports
    request: Mapping[str, Any] | None  # as built by the first attempt; None before it
    config: Mapping[str, Any]  # the step's config
    workspace_id: uuid.UUID
    enrollment_id: uuid.UUID
    enrollment_context: Mapping[str, Any]
    sequence_id: uuid.UUID
    sequence_name: str
    step_key: str
    contact: Mapping[str, Any]  # email, first_name, last_name, timezone, fields, tags


@dataclass(frozen=True)
class CallSettings:
    """What the operator configured for outside calls."""

    allow_private: bool  # WEBHOOK_ALLOW_PRIVATE: private and loopback targets allowed
    render_timeout_seconds: float
    render_max_bytes: int


@dataclass(frozen=True)
class Attempt:
    """What one attempt gave: delivered when `error` is None; otherwise retried (with
    backoff) when `retry`, else failed for good."""

    status_code: int | None = None
    error: str | None = None
    retry: bool = False
    excerpt: str | None = None


class RequestError(Exception):
    """The request cannot be built (a template the sandbox refused): failed, not retried."""


@dataclass(frozen=True)
class CallHandler:
    """`build(call, settings)` makes the request (JSON-ready) on the first attempt, and may
    raise RequestError; `send(request, call, settings)` makes one attempt."""

    kind: str
    build: Callable[[PendingCall, CallSettings], dict[str, Any]]
    send: Callable[[Mapping[str, Any], PendingCall, CallSettings], Attempt]
