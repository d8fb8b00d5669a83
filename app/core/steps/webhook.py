"""Webhook: POST a signed JSON payload about the contact and enrollment to a URL, then go
on at once. The call is recorded with the step and delivered (retried with backoff) by the
call delivery job; the enrollment never waits for the answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from app.core import limits, targets
from app.core.steps.base import StepKind


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


class WebhookConfig(BaseModel):
    """`payload`, when given, is the JSON body: its string values are templates rendered
    for the contact (`{{ contact.email }}`, `{{ enrollment.id }}`, ...). Without it the
    body is the contact, the enrollment, the sequence, the step and the event time."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"] | None = None
    url: Annotated[str, Field(max_length=targets.MAX_URL), AfterValidator(_target_url)]
    payload: Annotated[dict[str, JsonValue], AfterValidator(_bounded_payload)] | None = None


def _summary(config: Mapping[str, Any]) -> str:
    host = urlsplit(str(config.get("url") or "")).hostname
    return f"POST to {host}" if host else "Choose a URL"


KIND = StepKind(
    type="webhook",
    label="Webhook",
    hint="POST the contact to a URL",
    colour="#cf222e",
    order=65,
    summary=_summary,
    default_config={"url": ""},
)
