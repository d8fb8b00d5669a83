"""The goal step's panel: the goal that reaching the step records."""

from __future__ import annotations

from typing import Any

from app.models import Sequence
from app.services import panel_choices
from app.web.form_toolkit import FormReader, text_of
from app.web.steps.base import StepForm


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    return [("goal", text_of(config.get("goal")))]


def _from_form(read: FormReader) -> dict[str, Any]:
    return {"goal": read.text("goal")}


def _choices(sequence: Sequence) -> dict[str, Any]:
    return {"goal_names": panel_choices.goal_names(sequence)}


FORM = StepForm(type="goal", to_form=_to_form, from_form=_from_form, choices=_choices)
