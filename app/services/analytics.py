"""Per-step analytics: how many contacts each step has seen, holds now, what it sent, and
the goal conversions that happened while contacts were on it.

GROUP BY queries over the step log, the enrollments, the outbox and the conversions: no
per-row work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, Conversion, OutboundMessage, Sequence, StepLog
from app.models.enrollment import ENROLLMENT_STATUSES
from app.models.message import MESSAGE_STATUSES


def sequence_analytics(sequence: Sequence) -> dict[str, Any]:
    """Counts for the sequence as a whole and for each of its steps, in author order."""
    taken = _grouped(
        select(StepLog.step_id, StepLog.outcome, func.count())
        .where(StepLog.sequence_id == sequence.id)
        .group_by(StepLog.step_id, StepLog.outcome)
    )
    here = _grouped(
        select(ContactSequence.current_step_id, ContactSequence.status, func.count())
        .where(ContactSequence.sequence_id == sequence.id, ContactSequence.status == "active")
        .group_by(ContactSequence.current_step_id, ContactSequence.status)
    )
    mail = _grouped(
        select(OutboundMessage.step_id, OutboundMessage.status, func.count())
        .where(OutboundMessage.sequence_id == sequence.id)
        .group_by(OutboundMessage.step_id, OutboundMessage.status)
    )
    statuses = dict(
        db.session.execute(
            select(ContactSequence.status, func.count())
            .where(ContactSequence.sequence_id == sequence.id)
            .group_by(ContactSequence.status)
        ).all()
    )
    converted = _grouped(
        select(Conversion.step_id, Conversion.goal, func.count())
        .where(Conversion.sequence_id == sequence.id)
        .group_by(Conversion.step_id, Conversion.goal)
    )
    steps = []
    for step in sequence.steps:
        step_mail = mail.get(step.id, {})
        entry: dict[str, Any] = {
            "step": step.key,
            "name": step.name,
            "type": step.type,
            "taken": sum(taken.get(step.id, {}).values()),
            "waiting_here": sum(here.get(step.id, {}).values()),
            "conversions": sum(converted.get(step.id, {}).values()),
        }
        if step.type == "email":
            entry["emails"] = {status: step_mail.get(status, 0) for status in MESSAGE_STATUSES}
        steps.append(entry)
    return {
        "enrollments": {status: statuses.get(status, 0) for status in ENROLLMENT_STATUSES},
        "steps": steps,
        "conversions": _conversions(sequence, converted),
    }


def _conversions(sequence: Sequence, converted: dict[Any, dict[str, int]]) -> dict[str, Any]:
    """Total, and per goal (every goal defined or named by a goal step, reached or not) its
    total and counts by the key of the step it happened on."""
    keys = {step.id: step.key for step in sequence.steps}
    names = [str(goal.get("name")) for goal in sequence.goals_config or []]
    names += [str(s.config.get("goal")) for s in sequence.steps if s.type == "goal"]
    goals: dict[str, dict[str, Any]] = {name: {"total": 0, "steps": {}} for name in names}
    for step_id, by_goal in converted.items():
        for name, count in by_goal.items():
            entry = goals.setdefault(name, {"total": 0, "steps": {}})
            entry["total"] += count
            if step_id in keys:  # a step deleted since counts in the totals only
                entry["steps"][keys[step_id]] = entry["steps"].get(keys[step_id], 0) + count
    return {"total": sum(entry["total"] for entry in goals.values()), "goals": goals}


def _grouped(stmt: Any) -> dict[Any, dict[str, int]]:
    out: dict[Any, dict[str, int]] = {}
    for key, kind, count in db.session.execute(stmt):
        out.setdefault(key, {})[kind] = count
    return out
