"""Preview a sequence's timeline for a hypothetical contact: check the request, load the
sequence as the processor loads it, run the pure simulator (`app.core.simulation`) and
render each email's subject as the dispatcher would. Reads only: nothing is written and
nothing is sent.

A request is bounded (MAX_EVENTS events, each within the simulator's horizon of the
start) and so is the run (`simulation.MAX_PASSES` passes, `simulation.HORIZON`).
The live definition is simulated (for a draft, the draft as it stands), or with `version`
a published version as its snapshot has it (what its runs still follow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from app.core import limits, simulation, timing
from app.core.contact_input import (
    ContactInputError,
    field_key_problem,
    field_value_problem,
    json_value_problem,
    parse_contact_input,
)
from app.core.engine import Step
from app.core.events import FIELD_CHANGED, RESERVED, UNCOUNTED
from app.core.steps.email import with_variant
from app.extensions import db
from app.mail.rendering import RenderError
from app.models import Sequence as SequenceRow
from app.models import SequenceStep, Workspace
from app.services.ab_tests import ab_winners
from app.services.dispatcher import render_step_email
from app.services.graphs import load_sequences, loaded_version
from app.services.mail_threads import reply_subject
from app.services.snapshots import load_snapshots

MAX_EVENTS = 100
"""Hypothetical events per request."""
EVENT_NAME = 100
PREVIEW_EMAIL = "preview@example.com"
"""The address of a hypothetical contact that gives none (templates may print it)."""
UNSUBSCRIBE_PLACEHOLDER = "#unsubscribe"
ALLOWED_EMAIL_EVENTS = frozenset(simulation.SIMULATED_EMAIL_EVENTS)


class SimulationInputError(ValueError):
    """A request the simulator refuses; `field` names the part (e.g. `events[2].at`)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Request:
    contact: dict[str, Any]
    segments: frozenset[str]
    start: datetime
    events: list[simulation.HypotheticalEvent]
    version: int | None = None


@dataclass(frozen=True)
class Line:
    """A timeline line as the API answers it and the builder shows it."""

    at: datetime
    local: datetime
    step: str | None
    type: str
    action: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "local": self.local.isoformat(),
            "step": self.step,
            "type": self.type,
            "action": self.action,
            "detail": self.detail,
        }


def parse_request(data: Any, email_steps: set[str]) -> Request:
    """The request checked whole; SimulationInputError names the first bad field.
    `email_steps` are the keys of the sequence's email steps (what email events may name)."""
    if not isinstance(data, Mapping):
        raise SimulationInputError("the request body must be a JSON object", "body")
    unknown = set(data) - {"contact", "start", "events", "version"}
    if unknown:
        raise SimulationInputError(f"unknown key {sorted(unknown)[0]!r}", sorted(unknown)[0])
    version = data.get("version")
    if version is not None and (type(version) is not int or version < 1):
        raise SimulationInputError("version must be a published version's number", "version")
    contact, segments = _contact(data.get("contact", {}))
    start = _instant(data.get("start"), "start")
    raw_events = data.get("events", [])
    if not isinstance(raw_events, list):
        raise SimulationInputError("events must be a list", "events")
    if len(raw_events) > MAX_EVENTS:
        raise SimulationInputError(f"at most {MAX_EVENTS} events per simulation", "events")
    events = [
        _event(raw, f"events[{index}]", start, email_steps) for index, raw in enumerate(raw_events)
    ]
    return Request(contact, segments, start, events, version)


def simulate(sequence: SequenceRow, request: Request) -> list[Line]:
    """The timeline of `request`'s contact through the live definition or a version."""
    if request.version is None:
        loaded = load_sequences({sequence.id: sequence.version})[sequence.id]
        exit_rules, goals = sequence.exit_config or {}, sequence.goals_config or []
        settings = sequence.settings or {}
    else:
        snapshot = load_snapshots([(sequence.id, request.version)]).get(
            (sequence.id, request.version)
        )
        if snapshot is None:
            raise SimulationInputError(f"no version {request.version} of this sequence", "version")
        loaded = loaded_version(snapshot)
        exit_rules = snapshot.definition.get("exit") or {}
        goals = snapshot.definition.get("goals") or []
        settings = snapshot.settings
    workspace_zone = db.session.get_one(Workspace, sequence.workspace_id).timezone
    zone = timing.resolve_zone(request.contact.get("timezone"), loaded.timezone, workspace_zone)
    contact = simulation.Contact(
        zone.zone,
        tags=list(request.contact.get("tags") or []),
        fields=dict(request.contact.get("fields") or {}),
        segments=request.segments,
    )
    rules = simulation.Rules(
        exit_on_reply=exit_rules.get("on_reply") is True,
        goals=list(goals),
        winners=ab_winners([sequence.id]).get(sequence.id, {}),
    )
    subject = _subject_renderer(request.contact, settings)
    entries = simulation.simulate(
        loaded.graph, contact, request.start, request.events, rules, subject
    )
    return [
        Line(e.at, e.at.astimezone(zone.zone), e.step, e.type, e.action, e.detail) for e in entries
    ]


def email_step_keys(sequence: SequenceRow) -> set[str]:
    """Email steps events may name: the live ones and those earlier versions had."""
    stmt = select(SequenceStep.key).where(
        SequenceStep.sequence_id == sequence.id, SequenceStep.type == "email"
    )
    return set(db.session.scalars(stmt))


def _subject_renderer(
    contact: Mapping[str, Any], settings: Mapping[str, Any]
) -> simulation.Subject:
    """The subject as the dispatcher renders it: the same sandbox, budget and context, the
    contact's tags and fields as they are at the send; a threaded email answers the
    previous one ("Re: <its subject>", services/mail_threads.py)."""
    sent: list[str] = []

    def subject(
        step: Step, variant: str | None, tags: Sequence[str], fields: Mapping[str, Any]
    ) -> str:
        config = with_variant(step.config, variant)
        own = _render_subject(config, tags, fields)
        line = reply_subject(sent[-1]) if config.get("thread") and sent else own
        sent.append(line)
        return line

    def _render_subject(
        config: Mapping[str, Any], tags: Sequence[str], fields: Mapping[str, Any]
    ) -> str:
        row = SimpleNamespace(
            fields=fields,
            email=contact.get("email") or PREVIEW_EMAIL,
            first_name=contact.get("first_name"),
            last_name=contact.get("last_name"),
            timezone=contact.get("timezone"),
            tags=list(tags),
            enrollment_context={},
        )
        try:
            return render_step_email(config, row, UNSUBSCRIBE_PLACEHOLDER, settings).subject
        except RenderError as exc:
            return f"would fail to render: {exc}"

    return subject


def _contact(raw: Any) -> tuple[dict[str, Any], frozenset[str]]:
    if not isinstance(raw, Mapping):
        raise SimulationInputError("contact must be an object", "contact")
    values = dict(raw)
    segments = values.pop("segments", [])
    if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
        raise SimulationInputError("contact.segments must be a list of names", "contact.segments")
    if len(segments) > limits.CHOICES:
        raise SimulationInputError(
            f"contact.segments has at most {limits.CHOICES} names", "contact.segments"
        )
    try:
        contact = parse_contact_input(values, creating=False)
    except ContactInputError as exc:
        raise SimulationInputError(f"contact.{exc}", f"contact.{exc.field}") from None
    return contact, frozenset(segments)


def _instant(raw: Any, where: str) -> datetime:
    if not isinstance(raw, str):
        raise SimulationInputError(
            f"{where} must be an ISO 8601 date and time with its offset, "
            "e.g. 2026-12-03T20:30:00-05:00",
            where,
        )
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise SimulationInputError(
            f"{where}: {raw[:40]!r} is not an ISO 8601 date and time", where
        ) from None
    if value.tzinfo is None:
        raise SimulationInputError(f"{where} needs a UTC offset, e.g. Z or -05:00", where)
    if not limits.YEAR_MIN <= value.year <= limits.YEAR_MAX:
        raise SimulationInputError(
            f"{where} must be between {limits.YEAR_MIN} and {limits.YEAR_MAX}", where
        )
    return value.astimezone(UTC)


def _event(
    raw: Any, where: str, start: datetime, email_steps: set[str]
) -> simulation.HypotheticalEvent:
    if not isinstance(raw, Mapping):
        raise SimulationInputError(f"{where} must be an object", where)
    unknown = set(raw) - {"at", "event", "properties"}
    if unknown:
        key = sorted(unknown)[0]
        raise SimulationInputError(f"{where}: unknown key {key!r}", f"{where}.{key}")
    at = _instant(raw.get("at"), f"{where}.at")
    if at < start:
        raise SimulationInputError(f"{where}.at is before the start", f"{where}.at")
    if at > start + simulation.HORIZON:
        days = simulation.HORIZON.days
        raise SimulationInputError(
            f"{where}.at is more than {days} days after the start", f"{where}.at"
        )
    kind = raw.get("event")
    if not isinstance(kind, str) or not kind.strip() or len(kind) > EVENT_NAME:
        raise SimulationInputError(
            f"{where}.event must be an event name of at most {EVENT_NAME} characters",
            f"{where}.event",
        )
    allowed = ALLOWED_EMAIL_EVENTS | {FIELD_CHANGED}
    if (kind in RESERVED or kind in UNCOUNTED) and kind not in allowed:
        raise SimulationInputError(
            f"{where}.event {kind!r} cannot be simulated; use opened, clicked_link, replied, "
            "field_changed or a custom event",
            f"{where}.event",
        )
    properties = raw.get("properties", {})
    if not isinstance(properties, Mapping):
        raise SimulationInputError(f"{where}.properties must be an object", f"{where}.properties")
    problem = json_value_problem(dict(properties), limits.CONTEXT)
    if problem is not None:
        raise SimulationInputError(f"{where}.properties {problem}", f"{where}.properties")
    if kind in ALLOWED_EMAIL_EVENTS:
        _check_email_event(properties, where, email_steps)
    if kind == FIELD_CHANGED:
        _check_field_change(properties, where)
    return simulation.HypotheticalEvent(at, kind, dict(properties))


def _check_email_event(properties: Mapping[str, Any], where: str, email_steps: set[str]) -> None:
    step = properties.get("email_step_id")
    if step is not None and step not in email_steps:
        raise SimulationInputError(
            f"{where}.properties.email_step_id must name an email step of this sequence "
            f"(its key); {str(step)[:64]!r} is not one",
            f"{where}.properties.email_step_id",
        )
    url = properties.get("url")
    if url is not None and not isinstance(url, str):
        raise SimulationInputError(
            f"{where}.properties.url must be text", f"{where}.properties.url"
        )


def _check_field_change(properties: Mapping[str, Any], where: str) -> None:
    name = properties.get("field")
    problem = field_key_problem(name) if isinstance(name, str) else "give the field's name as text"
    if problem is not None:
        raise SimulationInputError(
            f"{where}.properties.field: {problem}", f"{where}.properties.field"
        )
    if "to" not in properties:
        raise SimulationInputError(
            f"{where}.properties.to: give the field's new value", f"{where}.properties.to"
        )
    problem = field_value_problem(properties["to"])
    if problem is not None:
        raise SimulationInputError(f"{where}.properties.to: {problem}", f"{where}.properties.to")
