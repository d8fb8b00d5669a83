"""Email: send one message to the contact (the dispatcher renders and delivers it)."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind


def _summary(config: Mapping[str, Any]) -> str:
    subject = str(config.get("subject") or "").strip()
    return subject or "No subject yet"


KIND = StepKind(
    type="email",
    label="Email",
    hint="Send an email",
    colour="#1f6feb",
    order=10,
    summary=_summary,
    default_config={"subject": "", "body": ""},
)
