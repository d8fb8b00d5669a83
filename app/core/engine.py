"""Step semantics: move one enrollment through its graph as of a given instant.

Pure: no database, no Flask, no clock. The processor loads a batch of enrollments, calls
`advance` for each, and writes the results in bulk. Consecutive instant steps (email,
goal, end, branch, split, action) run in one call; a waiting step (delay, wait_until) stops
the run until it is due, or until an event it waits for arrives. What each type of step
does is its kind's `run` (app/core/steps/<type>.py); this module applies the verdicts.

Actions stay pure: tag and field changes are applied to the contact view of this pass (a
later branch in the same pass sees them) and returned as `Outcome.effects` for the
processor to write; `move_to_sequence` ends the enrollment and asks for the new one.

A goal step records a conversion (`Outcome.conversions`); when its goal is one of the
sequence's exit goals (`Graph.exit_goals`, from `exit.goals`) the enrollment exits there,
otherwise it carries on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from app.core import conditions, waits
from app.core.format.problems import problems_from
from app.core.frequency import Allowance
from app.core.steps import KINDS, StepKind
from app.core.steps.runtime import Context, Effect

# Guards against a graph that would run forever without waiting (validation forbids it).
MAX_STEPS_PER_PASS = 200
OUTCOME_MAX = 32  # step_logs.outcome is a VARCHAR(32)


class UnsupportedStepError(Exception):
    """The definition is valid, but this engine cannot run this kind of step yet."""

    def __init__(self, step_key: str, what: str) -> None:
        super().__init__(f"step '{step_key}': {what} cannot run yet")
        self.step_key = step_key


@dataclass(frozen=True)
class Step:
    """One step of a graph. Its config is parsed with its kind's model when the step is made
    (once per cached graph version): `parsed` is what the kind's `run` reads; `config` stays
    as stored, for the timing, wait and condition helpers that read plain mappings."""

    id: str
    key: str
    type: str
    config: Mapping[str, Any]
    next: Mapping[str | None, str]  # outgoing label (None = unlabelled) -> target step id
    kind: StepKind | None = field(init=False, repr=False, compare=False)
    parsed: Any = field(init=False, repr=False, compare=False)
    refused: str | None = field(init=False, repr=False, compare=False)
    """The first problem of a stored config its kind's model refuses (a rule newer than the
    row): an enrollment reaching the step fails there, naming it."""
    blocked: str | None = field(init=False, repr=False, compare=False)
    """What this engine cannot run (a type no kind is registered for)."""

    def __post_init__(self) -> None:
        kind = KINDS.get(self.type)
        parsed, refused, blocked = None, None, None
        if kind is None:
            blocked = f"the step type {self.type!r}"
        else:
            try:
                parsed = kind.config_adapter.validate_python(self.config)
            except ValidationError as exc:
                refused = str(problems_from(exc, {"config": self.config}, prefix=("config",))[0])
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "parsed", parsed)
        object.__setattr__(self, "refused", refused)
        object.__setattr__(self, "blocked", blocked)


@dataclass(frozen=True)
class Graph:
    entry_id: str
    steps: Mapping[str, Step]
    exit_goals: frozenset[str] = frozenset()  # goals whose conversion ends the enrollment
    # The sequence's sending hours (`settings.sending_hours`, a window): every email waits
    # for them, and the dispatcher keeps to them.
    sending_hours: Mapping[str, Any] | None = None

    @cached_property
    def blocked(self) -> Mapping[str, str]:
        """Steps this engine cannot run, with what is missing; computed once per graph."""
        return {sid: step.blocked for sid, step in self.steps.items() if step.blocked}

    @cached_property
    def needs(self) -> conditions.Needs:
        """What the graph's conditions read (event types, lookback, segments), for loading."""
        found = conditions.Needs()
        for step in self.steps.values():
            if step.kind is not None and step.kind.reads is not None and step.parsed is not None:
                found = found | step.kind.reads(step.parsed)
        return found


@dataclass(frozen=True)
class Position:
    """Where an enrollment stands: the step to run, since when it has been waiting there,
    and what its waits may read (contact fields, the enrollment's context, recent events)."""

    step_id: str | None
    waiting_since: datetime | None
    visits: Mapping[str, int]
    zone: ZoneInfo
    fields: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[waits.SeenEvent] = ()
    enrollment_id: str | None = None
    tags: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()  # names of the contact's segments
    enrolled_at: datetime | None = None  # event conditions without a lookback count from here
    draw: int | None = None  # the run's draw number: its A/B variants (experiments.py)
    holdout: bool = False  # in the sequence's holdout group: no email is sent
    winners: Mapping[str, str] = field(default_factory=dict)  # step id -> A/B winner
    allowance: Allowance | None = None  # the workspace's frequency cap for this contact

    @property
    def scope(self) -> dict[str, Any]:
        """What `match` references in wait conditions may read."""
        return {"enrollment": {**self.context, "id": self.enrollment_id}}


@dataclass(frozen=True)
class TakenStep:
    step_id: str
    rotation: int
    # queued | held_out | waited | met | timed_out | reached | completed | exited | true | false
    # | a split path's label | applied
    outcome: str
    # For an email right after a windowed delay: the window, re-checked when it is sent.
    send_window: Mapping[str, Any] | None = None
    variant: str | None = None  # the A/B variant an email step queued
    # Why a branch, wait or split went its way (its step log's detail); an explanation, not
    # part of what the step was, so left out of comparisons.
    decision: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class GoalReached:
    """A goal step taken: the conversion to record, at that step."""

    goal: str
    step_id: str


@dataclass
class Outcome:
    status: str  # active | completed | exited
    step_id: str | None
    waiting_since: datetime | None
    next_execution_at: datetime | None
    visits: dict[str, int]
    taken: list[TakenStep] = field(default_factory=list)
    emails: list[TakenStep] = field(default_factory=list)
    exit_reason: str | None = None
    hold_reason: str | None = None  # why the step it waits on is held (a frequency cap)
    effects: list[Effect] = field(default_factory=list)
    conversions: list[GoalReached] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    """An outside call a step asks for (a webhook, ...): the processor records it with the
    step, once per rotation, and the call delivery job makes it; the enrollment goes on
    without waiting for the answer. `kind` names the handler that delivers it."""

    kind: str
    step_id: str
    rotation: int


def apply_effects(
    effects: Sequence[Effect], tags: Sequence[str], fields: Mapping[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The contact's tags (order kept, no duplicates) and fields after these effects."""
    new_tags, new_fields = list(tags), dict(fields)
    for effect in effects:
        if effect.action == "add_tag" and effect.tag not in new_tags:
            new_tags.append(str(effect.tag))
        elif effect.action == "remove_tag":
            new_tags = [tag for tag in new_tags if tag != effect.tag]
        elif effect.action == "update_field" and effect.field is not None:
            if effect.value is None:
                new_fields.pop(effect.field, None)
            else:
                new_fields[effect.field] = effect.value
    return new_tags, new_fields


@dataclass(frozen=True)
class FieldChange:
    """A contact value an update_field action really changed, in action order."""

    step_id: str
    field: str
    old: Any
    new: Any


def field_changes(effects: Sequence[Effect], fields: Mapping[str, Any]) -> list[FieldChange]:
    """The update_field effects that change a value (setting a field to what it already
    holds changes nothing), each with the value before it: what `field_changed` records."""
    current, found = dict(fields), []
    for effect in effects:
        if effect.action != "update_field" or effect.field is None:
            continue
        old = current.get(effect.field)
        if old == effect.value:
            continue
        current[effect.field] = effect.value
        found.append(FieldChange(effect.step_id, effect.field, old, effect.value))
    return found


def failed(position: Position, reason: str) -> Outcome:
    """The enrollment stops where it stands, with the reason recorded."""
    outcome = Outcome("failed", position.step_id, None, None, dict(position.visits))
    outcome.exit_reason = reason
    return outcome


def unsupported_steps(graph: Graph) -> list[UnsupportedStepError]:
    """Every step this engine could not run, so a sequence is refused before it starts."""
    return [UnsupportedStepError(graph.steps[sid].key, what) for sid, what in graph.blocked.items()]


def advance(graph: Graph, position: Position, now: datetime) -> Outcome:
    """Run the enrollment from its position until it waits, completes or exits.

    Each step's kind runs it (`kind.run(step, ctx)`) and returns a verdict, applied here:
    a waiting step keeps the enrollment; a taken one is logged, may queue its email, record
    a conversion or change the contact (seen by the steps after it in this pass), and leads
    on by its label unless it ends the enrollment.
    """
    visits = dict(position.visits)
    out = Outcome("active", position.step_id, position.waiting_since, now, visits)
    step_id, waiting_since = position.step_id, position.waiting_since

    send_window: Mapping[str, Any] | None = None
    skip_email = False
    tags, fields = frozenset(position.tags), dict(position.fields)
    for _ in range(MAX_STEPS_PER_PASS):
        if step_id is None:
            return _finish(out, "completed", None)
        step = graph.steps[step_id]
        if step.blocked or step.kind is None:
            raise UnsupportedStepError(step.key, step.blocked or step.type)
        if step.refused:
            return _fail_at(out, step, f"step '{step.key}': {step.refused}")

        since = waiting_since or now
        ctx = Context(
            position,
            now,
            since,
            tags,
            fields,
            graph.exit_goals,
            skip_email,
            graph.sending_hours,
            len(out.emails),
        )
        verdict = step.kind.run(step, ctx)
        if verdict.finish == "failed":
            return _fail_at(out, step, verdict.reason)
        if verdict.waiting:
            out.step_id, out.waiting_since, out.next_execution_at = step_id, since, verdict.next_at
            out.hold_reason = verdict.reason
            return out

        outcome = str(verdict.outcome)[:OUTCOME_MAX]  # step_logs.outcome
        window = (send_window or _hours_window(graph, position)) if verdict.email else None
        taken = _take(out, step, outcome, window, verdict.variant, verdict.decision)
        if verdict.email:
            out.emails.append(taken)
        if verdict.call is not None:
            out.calls.append(Call(verdict.call, step.id, taken.rotation))
        if verdict.goal is not None:
            out.conversions.append(GoalReached(verdict.goal, step.id))
        if verdict.effect is not None:
            out.effects.append(verdict.effect)
            new_tags, new_fields = apply_effects([verdict.effect], sorted(tags), fields)
            tags, fields = frozenset(new_tags), new_fields
        if verdict.finish is not None:
            return _finish(out, verdict.finish, verdict.reason)
        if verdict.pacing is not None:
            send_window, skip_email = verdict.pacing.send_window, verdict.pacing.skip_next_email
        else:
            skip_email = False  # only the step right after the delay
        step_id, waiting_since = step.next.get(verdict.label), None

    # Too many instant steps in a row: carry on at the next pass instead of looping here.
    out.step_id, out.waiting_since, out.next_execution_at = step_id, None, now
    return out


def _hours_window(graph: Graph, position: Position) -> Mapping[str, Any] | None:
    """The sequence's sending hours as the window a queued email must be sent inside."""
    if graph.sending_hours is None:
        return None
    return {"window": dict(graph.sending_hours), "zone": position.zone.key}


def _take(
    out: Outcome,
    step: Step,
    outcome: str,
    send_window: Mapping[str, Any] | None = None,
    variant: str | None = None,
    decision: Mapping[str, Any] | None = None,
) -> TakenStep:
    rotation = out.visits.get(step.id, 0)
    out.visits[step.id] = rotation + 1
    taken = TakenStep(step.id, rotation, outcome, send_window, variant, decision)
    out.taken.append(taken)
    return taken


def _fail_at(out: Outcome, step: Step, reason: str | None) -> Outcome:
    """The enrollment stops on `step`; what this pass did before it stands."""
    out.step_id, out.status, out.waiting_since, out.next_execution_at = (
        step.id,
        "failed",
        None,
        None,
    )
    out.exit_reason = reason
    return out


def _finish(out: Outcome, status: str, reason: str | None) -> Outcome:
    out.status, out.step_id, out.waiting_since = status, None, None
    out.next_execution_at, out.exit_reason = None, reason
    return out
