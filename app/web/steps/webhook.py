"""The webhook step's panel: the URL to POST to and, optionally, the JSON payload to send
(its string values are templates); left empty, the default payload is sent."""

from __future__ import annotations

import json
from typing import Any

from app.web.form_toolkit import FormReader, text_of
from app.web.steps.base import StepForm


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    payload = config.get("payload")
    shown = json.dumps(payload, indent=2, ensure_ascii=False) if payload is not None else ""
    return [("url", text_of(config.get("url"))), ("payload", shown)]


def _from_form(read: FormReader) -> dict[str, Any]:
    config: dict[str, Any] = {"url": read.text("url")}
    text = read.optional_long_text("payload")
    if text is None:
        return config
    try:
        payload = json.loads(text)
    except ValueError as exc:
        read.form.add_error("payload", f"the payload is not valid JSON: {exc}")
        return config
    if not isinstance(payload, dict):
        read.form.add_error("payload", 'the payload must be a JSON object, such as {"a": 1}')
        return config
    return config | {"payload": payload}


FORM = StepForm(type="webhook", to_form=_to_form, from_form=_from_form)
