"""The end step's panel: nothing to configure but its name."""

from __future__ import annotations

from typing import Any

from app.web.form_toolkit import FormReader
from app.web.steps.base import StepForm


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    return []


def _from_form(read: FormReader) -> dict[str, Any]:
    return {}


FORM = StepForm(type="end", to_form=_to_form, from_form=_from_form)
