"""Which values the steps of a sequence depend on, and which of them nothing supplies.

A delay `until: field` waits for a date; without it the wait is skipped and the emails after
it go out at once (Webinar Promo sent its invite, "starts in 1 hour" and the replay in the
same second). A branch on a field takes its false path; `{{ contact.company }}` without a
default renders empty. The launch checklist asks this module which fields the steps read
and judges each against what the trigger provides (form fields, event properties, the
workspace's contact fields) and the sequence's variables.

Pure: the caller says what is provided; nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.core.draft import DraftStep
from app.core.variables import SequenceVariable, variable_name

BUILTIN_FIELDS = frozenset({"email", "first_name", "last_name", "timezone", "tags", "fields"})
"""The contact's own columns: every contact has them, whatever the trigger."""
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_BARE = re.compile(
    rf"\{{\{{-?\s*(contact(?:\.fields)?|sequence)\.({_NAME})\s*(?:\|\s*(?:e|escape|safe|trim|"
    rf"upper|lower|title|capitalize|string)\s*)*-?\}}\}}"
)
"""`{{ contact.x }}`, `{{ contact.fields.x }}`, `{{ sequence.x }}`, perhaps through filters
that cannot supply a value; anything with `or`, `default` or `if` has its own fallback."""


@dataclass(frozen=True)
class FieldNeed:
    """One step reading one value: `field` is a contact field name, or `sequence.<name>`."""

    step: str  # the step's name as the marketer sees it
    field: str
    use: str  # "delay" | "condition" | "personalisation"


@dataclass(frozen=True)
class Provided:
    """What the trigger can supply for a new enrollment."""

    always: frozenset[str] = frozenset()  # a required or hidden form field, a filtered property
    sometimes: frozenset[str] = frozenset()  # an optional form field, existing contacts' fields
    open_properties: bool = False  # an api_event trigger: any event property may carry it


@dataclass(frozen=True)
class Gap:
    """A value some steps read that may be missing; `blocking` when it breaks the timing."""

    field: str
    steps: tuple[str, ...]
    blocking: bool
    label: str
    detail: str


def field_needs(steps: Iterable[DraftStep]) -> list[FieldNeed]:
    """Every value the steps read, in step order."""
    found: list[FieldNeed] = []
    for step in steps:
        name = step.name or step.id
        config = step.config or {}
        if step.type == "delay" and config.get("until") == "field" and config.get("field"):
            found.append(FieldNeed(name, str(config["field"]), "delay"))
        elif step.type == "branch":
            found += [FieldNeed(name, f, "condition") for f in _condition_fields(config)]
        elif step.type == "email":
            found += [FieldNeed(name, f, "personalisation") for f in _template_fields(config)]
    return found


def gaps(
    needs: Iterable[FieldNeed],
    provided: Provided,
    variables: Mapping[str, SequenceVariable],
) -> list[Gap]:
    """The values that may be missing, one per field, naming the steps that read it."""
    by_field: dict[str, list[FieldNeed]] = {}
    for need in needs:
        by_field.setdefault(need.field, []).append(need)
    found = []
    for field, users in by_field.items():
        gap = _gap(field, users, provided, variables)
        if gap is not None:
            found.append(gap)
    return found


def _gap(
    field: str,
    users: list[FieldNeed],
    provided: Provided,
    variables: Mapping[str, SequenceVariable],
) -> Gap | None:
    steps = tuple(dict.fromkeys(need.step for need in users))
    named = ", ".join(f"'{step}'" for step in steps)
    timed = any(need.use == "delay" for need in users)
    variable = variable_name(field)
    if variable is not None:
        return _variable_gap(variable, steps, named, timed, variables.get(variable))
    if field in BUILTIN_FIELDS or field in provided.always:
        return None
    effect = (
        "its wait is skipped and the next email goes out at once"
        if timed
        else "the condition is false and the personalisation renders empty"
    )
    if field in provided.sometimes or provided.open_properties:
        source = (
            "the triggering event may carry it"
            if provided.open_properties and field not in provided.sometimes
            else "only some contacts have it (an optional form field or existing contacts)"
        )
        return Gap(
            field,
            steps,
            False,
            f"Field {field} may be missing",
            f"{named} use it and {source}; for a contact without it {effect}",
        )
    return Gap(
        field,
        steps,
        timed,
        f"Field {field} is not provided by the trigger",
        f"{named} use it, but the trigger does not supply it and no contact has it: {effect}. "
        "Add it to the form (a hidden field can carry a fixed value), or use a sequence "
        "variable",
    )


def _variable_gap(
    name: str,
    steps: tuple[str, ...],
    named: str,
    timed: bool,
    variable: SequenceVariable | None,
) -> Gap | None:
    where = "in the sequence settings, under Variables"
    if variable is None:
        return Gap(
            f"sequence.{name}",
            steps,
            True,
            f"Sequence variable {name} does not exist",
            f"{named} use it: add it {where}",
        )
    if timed and variable.type != "datetime":
        return Gap(
            f"sequence.{name}",
            steps,
            True,
            f"Sequence variable {name} is not a date and time",
            f"{named} wait until it: make it a date-time {where}",
        )
    if not variable.is_set:
        return Gap(
            f"sequence.{name}",
            steps,
            True,
            f"Sequence variable {name} is not set",
            f"{named} use it: set its value {where}",
        )
    return None


def _condition_fields(config: Mapping[str, Any]) -> list[str]:
    """Field names a branch's condition tests (through all/any/not)."""
    fields: list[str] = []
    stack: list[Any] = [config.get("condition")]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if node.get("type") == "field" and node.get("field"):
            fields.append(str(node["field"]))
        stack.extend(node.get("all") or [])
        stack.extend(node.get("any") or [])
        stack.append(node.get("not"))
    return fields


def _template_fields(config: Mapping[str, Any]) -> list[str]:
    """Values an email's subject, bodies and variants show without a fallback."""
    texts = [config.get(key) for key in ("subject", "body", "text")]
    for variant in config.get("variants") or []:
        if isinstance(variant, Mapping):
            texts += [variant.get(key) for key in ("subject", "body", "text")]
    found = []
    for text in texts:
        if isinstance(text, str):
            for owner, name in _BARE.findall(text):
                found.append(f"sequence.{name}" if owner == "sequence" else name)
    return found
