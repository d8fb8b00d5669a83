"""The timeline simulator: a hypothetical contact through a sequence on a simulated clock.

Pure: no database, no sends, no wall clock. It drives the engine's own `advance` the way
the processor and the event paths would, pass by pass:

- a pass runs at the moment the enrollment is next due (as `flask sequences tick` would
  claim it), with the events recorded so far visible and the contact's tags and fields as
  earlier passes and events left them;
- a hypothetical event is handled at its instant, before a pass due at the same instant
  (the real event is recorded before the tick that follows it): a reply ends the
  enrollment when the sequence says `exit.on_reply`; the goals the event reaches are
  converted and the first one's action ends the enrollment (`services.goals.check_events`);
  a wait_until that names the event is made due at once (`services.waits`);
- an action's field change is a `field_changed` event too, so it may reach a goal or wake
  a wait, as the processor's `record_events` makes it.

The enrollment is simulated outside any holdout group; an A/B draw uses the fixed id
`SIMULATED_ENROLLMENT` (a decided winner is used as the processor uses it). The simulation
stops after `max_passes` passes or past `horizon` after the start, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core import engine, goals, waits
from app.core.events import CLICKED_LINK, EMAIL_EVENTS, FIELD_CHANGED, OPENED, REPLIED

SIMULATED_ENROLLMENT = "simulation"
"""The enrollment id the simulated events and A/B draws carry."""
MAX_PASSES = 1000
HORIZON = timedelta(days=400)
SIMULATED_EMAIL_EVENTS = (OPENED, CLICKED_LINK, REPLIED)
"""What a hypothetical contact may do with an email (bounces are not simulated)."""

Subject = Callable[[engine.Step, str | None, Sequence[str], Mapping[str, Any]], str]
"""The detail of a queued email: its rendered subject for (step, variant, tags, fields)."""


@dataclass(frozen=True)
class HypotheticalEvent:
    """Something the contact does: an email event (`properties.email_step_id` names the
    email step by key, `url` the clicked link), `field_changed` (`field`, `to`), or a custom
    event with its properties."""

    at: datetime
    type: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    zone: ZoneInfo
    tags: Sequence[str] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    segments: frozenset[str] = frozenset()
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """What of the sequence lies outside the graph: `exit.on_reply` and the goals."""

    exit_on_reply: bool = False
    goals: Sequence[Mapping[str, Any]] = ()
    winners: Mapping[str, str] = field(default_factory=dict)  # step id -> A/B winner


@dataclass(frozen=True)
class Entry:
    """One line of the timeline; `step` is the step's key (None for the contact's own
    events and for the end of the simulation)."""

    at: datetime
    step: str | None
    type: str
    action: str
    detail: str


@dataclass
class _State:
    step_id: str | None
    due: datetime | None
    tags: list[str]
    fields: dict[str, Any]
    waiting_since: datetime | None = None
    visits: dict[str, int] = field(default_factory=dict)
    status: str = "active"
    reason: str | None = None
    seen: list[waits.SeenEvent] = field(default_factory=list)
    last_email: str | None = None  # key of the last email sent, for untied email events
    entries: list[Entry] = field(default_factory=list)


def simulate(
    graph: engine.Graph,
    contact: Contact,
    start: datetime,
    events: Sequence[HypotheticalEvent],
    rules: Rules,
    subject: Subject,
    max_passes: int = MAX_PASSES,
    horizon: timedelta = HORIZON,
) -> list[Entry]:
    """The timeline of the contact enrolled at `start`, given these events."""
    state = _State(graph.entry_id, start, list(contact.tags), dict(contact.fields))
    pending = sorted(events, key=lambda event: event.at)
    passes, end = 0, start + horizon
    while state.status == "active":
        upcoming = pending[0] if pending else None
        if upcoming is not None and (state.due is None or upcoming.at <= state.due):
            pending.pop(0)
            if upcoming.at > end:
                return _stop(state, end, f"stopped: past the {horizon.days}-day horizon")
            _on_event(graph, state, upcoming, rules)
            continue
        if state.due is None:
            break
        if state.due > end:
            return _stop(state, end, f"stopped: past the {horizon.days}-day horizon")
        passes += 1
        if passes > max_passes:
            return _stop(state, state.due, f"stopped after {max_passes} passes")
        _pass(graph, contact, start, state, rules, subject, state.due)
    last = state.entries[-1].at if state.entries else start
    if state.status == "active":
        return _stop(state, last, "still waiting, with nothing left to happen")
    state.entries.append(Entry(last, None, "sequence", state.status, state.reason or ""))
    return state.entries


def _stop(state: _State, at: datetime, why: str) -> list[Entry]:
    state.entries.append(Entry(at, None, "sequence", "stopped", why))
    return state.entries


def _pass(
    graph: engine.Graph,
    contact: Contact,
    start: datetime,
    state: _State,
    rules: Rules,
    subject: Subject,
    now: datetime,
) -> None:
    """One processor pass at `now`, then what its recorded field changes set off."""
    position = engine.Position(
        state.step_id,
        state.waiting_since,
        state.visits,
        contact.zone,
        fields=state.fields,
        context=contact.context,
        events=[event for event in state.seen if event.occurred_at <= now],
        enrollment_id=SIMULATED_ENROLLMENT,
        tags=frozenset(state.tags),
        segments=contact.segments,
        enrolled_at=start,
        winners=rules.winners,
    )
    try:
        outcome = engine.advance(graph, position, now)
    except engine.UnsupportedStepError as exc:
        outcome = engine.failed(position, str(exc))
    changes = _field_changes(outcome.effects, state.fields, now)
    state.tags, state.fields = engine.apply_effects(outcome.effects, state.tags, state.fields)
    for taken in outcome.taken:
        step = graph.steps[taken.step_id]
        detail = _detail(step, taken, position, now, state, subject)
        state.entries.append(Entry(now, step.key, step.type, _action(step, taken), detail))
        if taken in outcome.emails:
            state.last_email = step.key
    state.step_id, state.waiting_since = outcome.step_id, outcome.waiting_since
    state.visits, state.due = outcome.visits, outcome.next_execution_at
    state.status, state.reason = outcome.status, outcome.exit_reason
    for change in changes:
        _record(graph, state, change, rules)


def _on_event(graph: engine.Graph, state: _State, event: HypotheticalEvent, rules: Rules) -> None:
    """The contact does something: record it as the real path would, or say why not."""
    properties = dict(event.properties)
    if event.type in EMAIL_EVENTS:
        properties.setdefault("email_step_id", state.last_email)
        if properties["email_step_id"] is None:
            state.entries.append(
                Entry(event.at, None, "event", event.type, "ignored: no email was sent before")
            )
            return
    if event.type == FIELD_CHANGED:
        name, value = str(properties.get("field")), properties.get("to")
        old = state.fields.get(name)
        if goals.json_equal(old, value):
            state.entries.append(
                Entry(event.at, None, "event", event.type, f"{name} already {value!r}")
            )
            return
        state.fields[name] = value
        properties = {"field": name, "from": old, "to": value}
    _record(
        graph, state, waits.SeenEvent(event.type, properties, event.at, SIMULATED_ENROLLMENT), rules
    )


def _record(graph: engine.Graph, state: _State, event: waits.SeenEvent, rules: Rules) -> None:
    """A recorded event's consequences: the reply exit, goals, waking a waiting step."""
    state.seen.append(event)
    state.entries.append(Entry(event.occurred_at, None, "event", event.type, _event_text(event)))
    if state.status != "active":
        return
    if event.type == REPLIED and rules.exit_on_reply:
        _end(state, "exited", "replied")
        return
    found = goals.GoalEvent(None, event.type, event.properties, event.occurred_at)
    reached = goals.reached(rules.goals, [found], event.occurred_at)
    for hit in reached:
        state.entries.append(
            Entry(event.occurred_at, None, "goal", "goal reached", f"goal '{hit.name}'")
        )
    if reached:
        _end(state, "exited", goals.exit_reason(reached[0].goal))
        return
    step = graph.steps.get(state.step_id) if state.step_id else None
    if (
        step is not None
        and step.type == "wait_until"
        and waits.waits_for(step.config, event.type, event.properties)
        and (state.due is None or state.due > event.occurred_at)
    ):
        state.due = event.occurred_at


def _end(state: _State, status: str, reason: str) -> None:
    state.status, state.reason, state.step_id, state.due = status, reason, None, None


def _field_changes(
    effects: Sequence[engine.Effect], fields: Mapping[str, Any], now: datetime
) -> list[waits.SeenEvent]:
    """`field_changed` events for the values update_field actions really change."""
    return [
        waits.SeenEvent(
            FIELD_CHANGED,
            {"field": change.field, "from": change.old, "to": change.new},
            now,
            SIMULATED_ENROLLMENT,
        )
        for change in engine.field_changes(effects, fields)
    ]


_ACTIONS = {
    "queued": "queued email",
    "held_out": "held out",
    "skipped_late": "skipped (too late)",
    "reached": "goal reached",
}


def _action(step: engine.Step, taken: engine.TakenStep) -> str:
    if step.type == "split":
        return "split path"
    if step.type == "webhook":
        return "queued call"
    return _ACTIONS.get(taken.outcome, taken.outcome)


def _detail(
    step: engine.Step,
    taken: engine.TakenStep,
    position: engine.Position,
    now: datetime,
    state: _State,
    subject: Subject,
) -> str:
    """The step's reason in words: an email's subject, a wait's or a branch's reason."""
    summary = step.kind.summary(step.config) if step.kind is not None else step.type
    if step.type == "email" and taken.outcome == "queued":
        text = subject(step, taken.variant, state.tags, state.fields)
        return f"{text} (variant {taken.variant})" if taken.variant else text
    resumed = taken.step_id == position.step_id and position.waiting_since is not None
    since = position.waiting_since if resumed and position.waiting_since else now
    if step.type == "delay":
        return f"{summary}: waited {_duration(now - since)}"
    if step.type == "wait_until":
        found = waits.verdict(
            step.config, since, now, position.events, position.zone, position.scope
        )
        if taken.outcome == "met":
            return f"met by {found.reason}"
        return f"nothing it waits for came within its timeout ({summary})"
    if step.type == "branch":
        return f"{summary}: {'yes' if taken.outcome == 'true' else 'no'}"
    if step.type == "split":
        return f"path {taken.outcome}"
    return summary


def _duration(span: timedelta) -> str:
    days, rest = divmod(int(span.total_seconds()), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n]
    return " ".join(words) or "0 minutes"


def _event_text(event: waits.SeenEvent) -> str:
    props = event.properties
    if event.type == FIELD_CHANGED:
        return f"{props.get('field')} changed from {props.get('from')!r} to {props.get('to')!r}"
    if event.type in EMAIL_EVENTS:
        url = f" ({props['url']})" if props.get("url") else ""
        return f"{event.type.replace('_', ' ')} on {props.get('email_step_id')}{url}"
    return f"{event.type} {dict(props)}" if props else event.type
