"""Webhook: POST a signed JSON payload about the contact and enrollment to a URL, then go
on at once. The call is recorded with the step and made (retried with backoff) by the call
delivery job (app/services/outbound_calls/webhook.py); the enrollment never waits for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, JsonValue

from app.core import limits, targets
from app.core.format.values import Model
from app.core.steps.base import StepKind
from app.core.steps.runtime import Verdict

if TYPE_CHECKING:
    from app.core.engine import Step
    from app.core.steps.runtime import Context


def _target_url(url: str) -> str:
    problem = targets.url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url.strip()


def _bounded_payload(value: dict[str, Any]) -> dict[str, Any]:
    problem = limits.json_size_problem(value, limits.CONTEXT)
    if problem is not None:
        raise ValueError(f"the payload {problem}")
    return value


class WebhookConfig(Model):
    """`payload`, when given, is the JSON body: its string values are templates rendered
    for the contact (`{{ contact.email }}`, `{{ enrollment.id }}`, ...). Without it the
    body is the contact, the enrollment, the sequence, the step and the event time."""

    type: Literal["webhook"] | None = None
    url: Annotated[str, Field(max_length=targets.MAX_URL), AfterValidator(_target_url)]
    payload: Annotated[dict[str, JsonValue], AfterValidator(_bounded_payload)] | None = None


def _summary(config: Mapping[str, Any]) -> str:
    host = urlsplit(str(config.get("url") or "")).hostname
    return f"POST to {host}" if host else "Choose a URL"


def _run(step: Step, ctx: Context) -> Verdict:
    """Record the call and go on: the answer never holds the contact up."""
    return Verdict.go("queued", call="webhook")


KIND = StepKind(
    type="webhook",
    label="Webhook",
    hint="POST the contact to a URL",
    colour="#cf222e",
    order=65,
    summary=_summary,
    config_model=WebhookConfig,
    run=_run,
    default_config={"url": ""},
)
