"""Step semantics: move one enrollment through its graph as of a given instant.

Pure: no database, no Flask, no clock. The processor loads a batch of enrollments, calls
`advance` for each, and writes the results in bulk. Consecutive instant steps (email,
goal, end, branch, split, action) run in one call; a waiting step (delay, wait_until) stops
the run until it is due, or until an event it waits for arrives.

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

from app.core import conditions, timing, waits

# Guards against a graph that would run forever without waiting (validation forbids it).
MAX_STEPS_PER_PASS = 200
OUTCOME_MAX = 32  # step_logs.outcome is a VARCHAR(32)

# Step kinds this engine executes today; the rest are valid definitions awaiting their runtime.
CONTACT_ACTIONS = frozenset({"add_tag", "remove_tag", "update_field"})
SUPPORTED_ACTIONS = CONTACT_ACTIONS | {"exit", "move_to_sequence"}


class UnsupportedStepError(Exception):
    """The definition is valid, but this engine cannot run this kind of step yet."""

    def __init__(self, step_key: str, what: str) -> None:
        super().__init__(f"step '{step_key}': {what} cannot run yet")
        self.step_key = step_key


@dataclass(frozen=True)
class Step:
    id: str
    key: str
    type: str
    config: Mapping[str, Any]
    next: Mapping[str | None, str]  # outgoing label (None = unlabelled) -> target step id


@dataclass(frozen=True)
class Graph:
    entry_id: str
    steps: Mapping[str, Step]
    exit_goals: frozenset[str] = frozenset()  # goals whose conversion ends the enrollment

    @cached_property
    def blocked(self) -> Mapping[str, str]:
        """Steps this engine cannot run, with what is missing; computed once per graph."""
        return {sid: what for sid, step in self.steps.items() if (what := _unsupported(step))}

    @cached_property
    def needs(self) -> conditions.Needs:
        """What the graph's branches read (event types, lookback, segments), for loading."""
        found = conditions.Needs()
        for step in self.steps.values():
            if step.type == "branch" and isinstance(step.config.get("condition"), Mapping):
                found = found | conditions.needs(step.config["condition"])
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

    @property
    def scope(self) -> dict[str, Any]:
        """What `match` references in wait conditions may read."""
        return {"enrollment": {**self.context, "id": self.enrollment_id}}


@dataclass(frozen=True)
class TakenStep:
    step_id: str
    rotation: int
    # queued | waited | met | timed_out | reached | completed | exited | true | false
    # | a split path's label | applied
    outcome: str
    # For an email right after a windowed delay: the window, re-checked when it is sent.
    send_window: Mapping[str, Any] | None = None


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


@dataclass(frozen=True)
class Effect:
    """A change outside the enrollment that an action step asks for, in step order.

    action: add_tag (`tag`) | remove_tag (`tag`) | update_field (`field`, `value`; None
    clears the field) | move_to_sequence (`sequence`: a name in the same workspace).
    """

    action: str
    step_id: str
    tag: str | None = None
    field: str | None = None
    value: Any = None
    sequence: str | None = None


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


def failed(position: Position, reason: str) -> Outcome:
    """The enrollment stops where it stands, with the reason recorded."""
    outcome = Outcome("failed", position.step_id, None, None, dict(position.visits))
    outcome.exit_reason = reason
    return outcome


def unsupported_steps(graph: Graph) -> list[UnsupportedStepError]:
    """Every step this engine could not run, so a sequence is refused before it starts."""
    return [UnsupportedStepError(graph.steps[sid].key, what) for sid, what in graph.blocked.items()]


def _unsupported(step: Step) -> str | None:
    if step.type == "action" and step.config.get("action") not in SUPPORTED_ACTIONS:
        return f"the action {step.config.get('action')!r}"
    if step.type == "email" and step.config.get("variants"):
        return "an email with A/B variants"
    return None


def advance(graph: Graph, position: Position, now: datetime) -> Outcome:
    """Run the enrollment from its position until it waits, completes or exits."""
    visits = dict(position.visits)
    out = Outcome("active", position.step_id, position.waiting_since, now, visits)
    step_id, waiting_since = position.step_id, position.waiting_since

    send_window: Mapping[str, Any] | None = None
    skip_email = False
    tags, fields = set(position.tags), dict(position.fields)
    for _ in range(MAX_STEPS_PER_PASS):
        if step_id is None:
            return _finish(out, "completed", None)
        step = graph.steps[step_id]
        what = graph.blocked.get(step_id)
        if what:
            raise UnsupportedStepError(step.key, what)

        label: str | None = None
        if step.type == "delay":
            since = waiting_since or now
            try:
                due = _delay_due(step, since, now, position, fields)
            except timing.TargetOutOfRange as exc:
                out.step_id = step_id  # what this pass did before the delay stands
                out.status, out.waiting_since, out.next_execution_at = "failed", None, None
                out.exit_reason = f"step '{step.key}': {exc}"
                return out
            if due > now:
                out.step_id, out.waiting_since, out.next_execution_at = step_id, since, due
                return out
            _take(out, step, "waited")
            send_window = _send_window(step.config, position.zone)
            # An `until` delay gives back its arrival time when the target had passed.
            skip_email = step.config.get("if_past") == "skip_next_email" and due <= since
        elif step.type == "wait_until":
            since = waiting_since or now
            verdict = waits.verdict(
                step.config, since, now, position.events, position.zone, position.scope
            )
            if verdict.path is None:
                out.step_id, out.waiting_since = step_id, since
                out.next_execution_at = verdict.next_at
                return out
            _take(out, step, "met" if verdict.path == "met" else "timed_out")
            label = verdict.path
        elif step.type == "email" and skip_email:
            _take(out, step, "skipped_late")
        elif step.type == "email":
            out.emails.append(_take(out, step, "queued", send_window))
        elif step.type == "goal":
            _take(out, step, "reached")
            goal = str(step.config.get("goal"))
            out.conversions.append(GoalReached(goal, step.id))
            if goal in graph.exit_goals:
                return _finish(out, "exited", f"goal '{goal}' reached")
        elif step.type == "webhook":
            taken = _take(out, step, "queued")
            out.calls.append(Call("webhook", step.id, taken.rotation))
        elif step.type == "end":
            _take(out, step, "completed")
            return _finish(out, "completed", None)
        elif step.type == "branch":
            facts = _facts(position, tags, fields)
            label = "true" if conditions.evaluate(step.config["condition"], facts, now) else "false"
            _take(out, step, label)
        elif step.type == "split":
            label = conditions.split_label(
                step.config["paths"], position.enrollment_id or "", step.id
            )
            _take(out, step, label[:OUTCOME_MAX])  # the path's label (step_logs.outcome)
        elif step.type == "action":
            action = step.config.get("action")
            if action == "exit":
                _take(out, step, "exited")
                return _finish(out, "exited", f"exit step '{step.key}'")
            effect = _effect(step)
            out.effects.append(effect)
            _take(out, step, "applied")
            if action == "move_to_sequence":
                return _finish(out, "exited", f"moved to sequence '{effect.sequence}'")
            new_tags, new_fields = apply_effects([effect], sorted(tags), fields)
            tags, fields = set(new_tags), new_fields

        step_id, waiting_since = step.next.get(label), None
        skip_email = skip_email and step.type == "delay"  # only the step right after

    # Too many instant steps in a row: carry on at the next pass instead of looping here.
    out.step_id, out.waiting_since, out.next_execution_at = step_id, None, now
    return out


def _facts(position: Position, tags: set[str], fields: dict[str, Any]) -> conditions.Facts:
    return conditions.Facts(
        fields=fields,
        tags=frozenset(tags),
        segments=position.segments,
        events=position.events,
        enrollment_id=position.enrollment_id,
        enrolled_at=position.enrolled_at,
        zone=position.zone,
    )


def _effect(step: Step) -> Effect:
    config = step.config
    action = str(config.get("action"))
    if action in ("add_tag", "remove_tag"):
        return Effect(action, step.id, tag=str(config.get("tag")))
    if action == "update_field":
        return Effect(action, step.id, field=str(config.get("field")), value=config.get("value"))
    return Effect(action, step.id, sequence=str(config.get("sequence")))


def _delay_due(
    step: Step, since: datetime, now: datetime, position: Position, fields: Mapping[str, Any]
) -> datetime:
    """When the delay lets the contact on; a window missed while the contact was due (a
    backlog, a pause) is waited for again unless the step says `send_anyway`."""
    config = step.config
    due = timing.delay_due(config, since, position.zone, fields, position.context)
    window = config.get("window")
    if due > now or not window or config.get("if_window_missed") == "send_anyway":
        return due
    return timing.next_window_open(now, window, position.zone)


def _send_window(config: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any] | None:
    """The window the next emails must still be inside when the dispatcher sends them."""
    window = config.get("window")
    if not window or config.get("if_window_missed") == "send_anyway":
        return None
    return {"window": dict(window), "zone": zone.key}


def _take(
    out: Outcome, step: Step, outcome: str, send_window: Mapping[str, Any] | None = None
) -> TakenStep:
    rotation = out.visits.get(step.id, 0)
    out.visits[step.id] = rotation + 1
    taken = TakenStep(step.id, rotation, outcome, send_window)
    out.taken.append(taken)
    return taken


def _finish(out: Outcome, status: str, reason: str | None) -> Outcome:
    out.status, out.step_id, out.waiting_since = status, None, None
    out.next_execution_at, out.exit_reason = None, reason
    return out
