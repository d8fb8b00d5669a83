"""Refuse, when it is saved, an email whose templates are over the render budget for the
sample contact: the author learns it in the editor (422 naming the step and field), not
from failed sends. Templates that blow up only for some contacts are stopped at send."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from app.core.format.document import SequenceDefinition
from app.core.format.problems import DefinitionError
from app.core.graph import Problem
from app.mail.rendering import RenderBudget, RenderBudgetExceeded, RenderError, render_part
from app.services.dispatcher import template_context
from app.services.email_design import with_generated_body
from app.services.render_limits import render_limits

SAMPLE_CONTACT: dict[str, Any] = {
    "email": "alex.rivera@example.com",
    "first_name": "Alex",
    "last_name": "Rivera",
    "timezone": "America/New_York",
    "fields": {"company": "Acme Inc", "plan": "trial"},
    "tags": ["sample"],
}
"""What a preview, test send or save check uses when no real contact is chosen."""

_SAMPLE_UNSUBSCRIBE = "https://example.com/u/sample"
# (config key, rendered as HTML) in the order `render_email` spends one message's budget
_PARTS = (("body", True), ("text", False), ("subject", False))


def email_budget_problems(step_id: str, config: Mapping[str, Any]) -> list[Problem]:
    """The first over-budget field of the email (its body made from its blocks, if any) and
    of each A/B variant, rendered for the sample contact with the configured limits, as
    `config.<field>` problems; other template errors are left to the preview (they often
    depend on the contact)."""
    context = template_context(SimpleNamespace(**SAMPLE_CONTACT), _SAMPLE_UNSUBSCRIBE)
    problems = []
    for message in _messages(with_generated_body(config)):
        budget = RenderBudget(**render_limits())
        for field, source, html in message:
            try:
                render_part(field, source, context, html=html, budget=budget)
            except RenderBudgetExceeded as exc:
                reason = exc.reason.removeprefix(f"{field}: ")
                problems.append(Problem(reason, f"config.{field}", step_id))
                break
            except RenderError:
                break
    return problems


def check_definition(definition: SequenceDefinition) -> None:
    """Raise DefinitionError (answered 422) if any email step is over the render budget;
    each message names the step and the field, as an API client shows only the message."""
    problems = [
        Problem(f"step {p.step!r} {p.field.removeprefix('config.')}: {p.message}", p.field, p.step)
        for step in definition.steps
        if step.type == "email"
        for p in email_budget_problems(step.id, step.config.model_dump())
        if p.field is not None
    ]
    if problems:
        raise DefinitionError(problems)


def _messages(config: Mapping[str, Any]) -> Iterator[list[tuple[str, str, bool]]]:
    """The parts of each message the step can send: the base email, then each variant
    with its own subject, body or text in place of the base one."""
    yield [(key, config.get(key) or "", html) for key, html in _PARTS]
    for index, variant in enumerate(config.get("variants") or []):
        yield [
            (f"variants[{index}].{key}", variant[key], html)
            if variant.get(key)
            else (key, config.get(key) or "", html)
            for key, html in _PARTS
        ]
