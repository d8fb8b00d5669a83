"""An enrollment's story in words: the sentences of its timeline and their order by run.

Pure: the story service (app/services/enrollment_story.py) reads the rows and hands them
here as plain values; this module says what each means ("Email 'Welcome' (Welcome email):
sent, 1 open, 2 clicks") and puts the entries of each run in order, so both the page and
the API tell the same story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core import conditions, decisions
from app.core.events import CLICKED_LINK, FIELD_CHANGED
from app.core.steps import KINDS, WAITING_STEP_TYPES
from app.core.timing import describe_local

MAX_DETAIL = 200
"""Characters of free text (an error, a reason) kept in a sentence."""


@dataclass(frozen=True)
class Entry:
    """One thing that happened: when, what kind (enrolled, step, decision, email, event,
    goal, change, waiting, finished), in words, and the structured facts behind the words."""

    at: datetime
    kind: str
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    run: int | None = None  # the run it belongs to, when known from its row (conversions)


@dataclass(frozen=True)
class RunInfo:
    number: int
    status: str
    enrolled_at: datetime
    finished_at: datetime | None
    enroll_reason: str | None
    exit_reason: str | None
    current: bool


@dataclass(frozen=True)
class RunStory:
    run: RunInfo
    entries: list[Entry]


@dataclass(frozen=True)
class StepInfo:
    """A step of the sequence as stored (a retired one too): what the timeline names it."""

    key: str
    name: str | None
    type: str
    retired_in: int | None = None

    @property
    def label(self) -> str:
        named = f"{self.name} ({self.key})" if self.name and self.name != self.key else self.key
        return f"{named}, retired in v{self.retired_in}" if self.retired_in else named


FIRST, LAST = ("enrolled",), ("finished", "waiting")
"""Kinds told first or last among entries of the same instant (a run begins before its
first step, ends after its last)."""


def arrange(runs: Sequence[RunInfo], entries: Sequence[Entry]) -> list[RunStory]:
    """Each entry under its run (its own `run`, else the latest run begun by then), runs
    newest first, entries oldest first (at one instant: enrolled, then the order given,
    then finished or waiting)."""
    ordered = sorted(runs, key=lambda r: r.number)
    by_run: dict[int, list[Entry]] = {run.number: [] for run in ordered}
    for entry in entries:
        number = entry.run
        if number not in by_run:
            begun = [r.number for r in ordered if r.enrolled_at <= entry.at]
            number = begun[-1] if begun else ordered[0].number
        by_run[number].append(entry)
    return [RunStory(run, sorted(by_run[run.number], key=_order)) for run in reversed(ordered)]


def _order(entry: Entry) -> tuple[datetime, int]:
    return entry.at, 0 if entry.kind in FIRST else 2 if entry.kind in LAST else 1


def step_text(step: StepInfo, outcome: str, entered: datetime | None, zone: ZoneInfo) -> str:
    """'Delay step Wait 2 days (wait): waited, entered Mon 7 Dec 10:00 UTC': a step that
    waits says when the contact arrived on it."""
    text = f"{_step_title(step)}: {outcome.replace('_', ' ')}"
    if entered is not None and step.type in WAITING_STEP_TYPES:
        text += f", entered {describe_local(entered, zone)}"
    return text


def _step_title(step: StepInfo) -> str:
    kind = KINDS.get(step.type)
    return f"{kind.label if kind else step.type or 'Unknown'} step {step.label}"


def decision_text(
    step: StepInfo,
    outcome: str,
    decision: Mapping[str, Any],
    names: Mapping[str, str],
    entered: datetime | None,
    zone: ZoneInfo,
) -> str:
    """'Branch step Booked? (check): took the true path; clicked_link on Email 1
    containing /book-demo: yes, at ...'; a wait says when it was entered."""
    why = decisions.describe(decision, names, zone)
    if step.type in WAITING_STEP_TYPES:
        head = step_text(step, outcome, entered, zone)
    else:
        head = f"{_step_title(step)}: took the {outcome} path"
    return head + (f"; {why}" if why else "")


@dataclass(frozen=True)
class EmailFacts:
    step: StepInfo
    subject: str | None
    status: str
    variant: str | None
    sent_at: datetime | None
    last_error: str | None
    opens: int = 0
    clicks: int = 0
    last_click_at: datetime | None = None


def email_text(email: EmailFacts, zone: ZoneInfo) -> str:
    """ "Email 'Welcome' (welcome, variant B): sent, 1 open, 2 clicks (last Mon ...)"."""
    subject = email.subject or email.step.name or email.step.key
    variant = f", variant {email.variant}" if email.variant else ""
    text = f"Email {subject!r} ({email.step.label}{variant}): {email.status}"
    if email.status in ("sent", "captured") or email.opens or email.clicks:
        text += f", {_count(email.opens, 'open')}, {_count(email.clicks, 'click')}"
    if email.last_click_at is not None:
        text += f" (last click {describe_local(email.last_click_at, zone)})"
    if email.last_error:
        text += f"; error: {_short(email.last_error)}"
    return text


def event_text(kind: str, properties: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """A contact event in words: "clicked_link on Email 1: https://...", "plan changed
    from 'free' to 'pro'", "signed_up (plan='pro')"."""
    if kind == FIELD_CHANGED:
        old, new = properties.get("from"), properties.get("to")
        return f"{properties.get('field')} changed from {_value(old)} to {_value(new)}"
    step = properties.get("email_step_id")
    text = f"{kind} on {names.get(str(step)) or step}" if step else kind
    if kind == CLICKED_LINK and properties.get("url"):
        return f"{text}: {conditions.trim(str(properties['url']))}"
    shown = {
        k: v
        for k, v in properties.items()
        if k not in ("email_step_id", "message_id", "url") and v is not None
    }
    if shown:
        pairs = ", ".join(f"{k}={v!r}" for k, v in conditions.trim(shown).items())
        text += f" ({pairs})"
    return text


def goal_text(goal: str, step: StepInfo | None, source: str) -> str:
    where = f" on {step.label}" if step is not None else ""
    how = {"goal_step": "at a goal step", "event": "by an event", "monitor": "found by the monitor"}
    return f"Reached goal {goal!r}{where} ({how.get(source, source)})"


def change_text(change: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """A change made from outside the run: a version migration ("Version 2 -> 3 (move):
    from step a to step b, by ada@example.com") or anything else, generically as
    "<actor> <action>: <detail>"."""
    actor = change.get("actor") or "someone"
    detail = _short(change.get("detail") or "")
    if change.get("kind") == "version_migration":
        text = f"Version {change.get('from_version')} -> {change.get('to_version')} "
        text += f"({change.get('action')})"
        before, after = change.get("from_step"), change.get("to_step")
        if before or after:
            text += f": from {_step_name(before, names)} to {_step_name(after, names)}"
        return text + f", by {actor}" + (f"; {detail}" if detail else "")
    return f"{actor} {str(change.get('action')).replace('_', ' ')}" + (
        f": {detail}" if detail else ""
    )


def _step_name(key: Any, names: Mapping[str, str]) -> str:
    return "the end" if not key else names.get(str(key)) or str(key)


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def _value(value: Any) -> str:
    return "nothing" if value is None else repr(conditions.trim(value))


def _short(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
