"""Where the contacts in flight go when a new version of a sequence is published.

For every step of the live version that has contacts on it (and every step the new version
removes), one entry: a step the new version keeps (same id) keeps its contacts; a kept step
that waits and whose settings changed keeps them and recomputes their due time from when
they entered; a removed step needs a choice: move them to a step of the new version, exit
them, or let them finish on the old version ("stay"). Pure: the counts come in, a plan goes
out; services/publishing.py applies it in a fixed number of statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.core.graph import Problem
from app.core.steps import kind_of
from app.core.summary import step_summary
from app.core.version_diff import VersionDiff, diff_definitions

Action = Literal["keep", "retime", "move", "exit", "stay"]
CHOICE_WORDS = ("exit", "stay")


@dataclass(frozen=True)
class PlanEntry:
    step: str
    name: str | None
    type: str
    contacts: int
    action: Action | None  # None: removed with contacts on it, and no choice made yet
    target: str | None = None  # the step of the new version they move to
    target_name: str | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        return _label(self.name, self.step)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "name": self.name,
            "type": self.type,
            "contacts": self.contacts,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class MigrationPlan:
    entries: tuple[PlanEntry, ...]
    problems: tuple[Problem, ...]
    diff: VersionDiff

    @property
    def ready(self) -> bool:
        return not self.problems

    def of(self, action: Action) -> list[PlanEntry]:
        return [e for e in self.entries if e.action == action]

    @property
    def removed(self) -> list[PlanEntry]:
        """Removed steps, with or without contacts on them (the publish dialog's choices)."""
        keys = self.diff.keys("removed")
        return [e for e in self.entries if e.step in keys]


def plan_migration(
    live: Mapping[str, Any],
    new: Mapping[str, Any],
    counts: Mapping[str, int],
    choices: Mapping[str, Any],
) -> MigrationPlan:
    """The plan for publishing `new` over `live`, given how many contacts are on each step
    of the live version (by step id) and the choices made for removed steps."""
    diff = diff_definitions(live, new)
    removed, changed = diff.keys("removed"), {d.step: d for d in diff.steps}
    old_steps = {s["id"]: s for s in live.get("steps", [])}
    new_steps = {s["id"]: s for s in new.get("steps", [])}
    problems = _choice_problems(choices, old_steps, new_steps, removed)
    entries = []
    for key, spec in old_steps.items():
        contacts = int(counts.get(key, 0))
        if key in removed:
            entry = _removed(spec, contacts, choices.get(key), new_steps)
            if entry.action is None and key not in choices:  # a bad choice is reported
                problems.append(
                    Problem(
                        f"{contacts} contact(s) are on {entry.label}, which this version "
                        "removes: move them to a step of the new version, 'exit' or 'stay'",
                        f"migrate.{key}",
                        key,
                    )
                )
            entries.append(entry)
        elif contacts:
            entries.append(_kept(spec, new_steps[key], contacts, key in changed))
    return MigrationPlan(tuple(entries), tuple(problems), diff)


def _removed(
    spec: Mapping[str, Any], contacts: int, choice: Any, new_steps: Mapping[str, Any]
) -> PlanEntry:
    name, type_ = spec.get("name"), spec["type"]
    if contacts == 0:
        return PlanEntry(spec["id"], name, type_, 0, "exit", detail="removed; nobody is on it")
    if choice in CHOICE_WORDS:
        detail = (
            "they exit the sequence"
            if choice == "exit"
            else "they finish on the version they started"
        )
        return PlanEntry(spec["id"], name, type_, contacts, choice, detail=detail)
    target = new_steps.get(choice) if isinstance(choice, str) else None
    if target is None:
        return PlanEntry(spec["id"], name, type_, contacts, None, detail="removed: choose")
    target_name = target.get("name")
    return PlanEntry(
        spec["id"],
        name,
        type_,
        contacts,
        "move",
        choice,
        target_name,
        f"they move to {_label(target_name, choice)}",
    )


def _kept(
    before: Mapping[str, Any], after: Mapping[str, Any], contacts: int, changed: bool
) -> PlanEntry:
    name, type_ = after.get("name"), after["type"]
    kind = kind_of(type_)
    if changed and kind is not None and kind.waits and before.get("config") != after.get("config"):
        was = step_summary(before["type"], before.get("config") or {})
        now = step_summary(type_, after.get("config") or {})
        detail = f"{was} → {now}: due times recomputed from when each contact entered"
        return PlanEntry(after["id"], name, type_, contacts, "retime", detail=detail)
    return PlanEntry(after["id"], name, type_, contacts, "keep", detail="they stay on it")


def _choice_problems(
    choices: Mapping[str, Any],
    old_steps: Mapping[str, Any],
    new_steps: Mapping[str, Any],
    removed: set[str],
) -> list[Problem]:
    problems = []
    for key, choice in choices.items():
        field = f"migrate.{key}"
        if key not in old_steps:
            problems.append(Problem(f"'{key}' is not a step of the live version", field))
        elif key not in removed:
            problems.append(
                Problem("this step is kept by the new version; only removed steps move", field, key)
            )
        elif not (isinstance(choice, str) and (choice in CHOICE_WORDS or choice in new_steps)):
            problems.append(
                Problem(
                    "choose a step id of the new version, 'exit' or 'stay'",
                    field,
                    key,
                )
            )
    return problems


def _label(name: str | None, key: str) -> str:
    return f"'{name}' ({key})" if name else f"'{key}'"
