"""Per-step analytics: how many contacts each step has seen, holds now, what it sent, how its
messages were opened, clicked and answered, and the goal conversions that happened while
contacts were on it.

A fixed handful of GROUP BY queries over the step log, the enrollments, the outbox, the
contact events and the conversions, whatever the number of steps or enrollments: no
per-row work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select

from app.core.events import BOUNCED, CLICKED_LINK, OPENED, REPLIED, UNSUBSCRIBED
from app.core.gallery_facts import flow_order
from app.extensions import db
from app.models import (
    ContactEvent,
    ContactSequence,
    Conversion,
    OutboundMessage,
    Sequence,
    StepLog,
)
from app.models.enrollment import ENROLLMENT_STATUSES
from app.models.message import MESSAGE_STATUSES

SENT_STATUSES = ("sent", "captured")
"""Messages that went out (captured: rendered with no SMTP server configured); the
denominator of every engagement rate."""

ENGAGEMENT = {
    OPENED: "opened",
    CLICKED_LINK: "clicked",
    REPLIED: "replied",
    UNSUBSCRIBED: "unsubscribed",
    BOUNCED: "bounced",
}
"""Event type -> the key it is counted under, once per message however often it happened.
`bot_click` (a link scanner, not the recipient) is deliberately not one of them."""


def sequence_analytics(sequence: Sequence) -> dict[str, Any]:
    """Counts for the sequence as a whole and for each of its steps, in author order;
    `flow_order` lists the step keys in the order a contact meets them."""
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
    engaged = _engagement(sequence)
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
            entry |= _engagement_entry(step_mail, engaged.get(step.id, {}))
        steps.append(entry)
    enrollments = {status: statuses.get(status, 0) for status in ENROLLMENT_STATUSES}
    return {
        "enrollments": enrollments,
        "steps": steps,
        "flow_order": _flow_order(sequence),
        "conversions": _conversions(sequence, converted),
        "summary": _summary(sequence, enrollments, mail, engaged),
    }


def _engagement(sequence: Sequence) -> dict[Any, dict[str, int]]:
    """Per step, how many of its sent messages had each engagement event at least once.

    Joined on the contact as well as the message so the events' (contact, type) index
    narrows the search."""
    return _grouped(
        select(
            OutboundMessage.step_id,
            ContactEvent.type,
            func.count(distinct(ContactEvent.message_id)),
        )
        .join(
            ContactEvent,
            (ContactEvent.contact_id == OutboundMessage.contact_id)
            & (ContactEvent.message_id == OutboundMessage.id),
        )
        .where(
            OutboundMessage.sequence_id == sequence.id,
            OutboundMessage.status.in_(SENT_STATUSES),
            ContactEvent.workspace_id == sequence.workspace_id,
            ContactEvent.type.in_(ENGAGEMENT),
        )
        .group_by(OutboundMessage.step_id, ContactEvent.type)
    )


def _engagement_entry(mail: dict[str, int], events: dict[str, int]) -> dict[str, Any]:
    """Sent messages, how many had each engagement, and the open and click rates."""
    sent = sum(mail.get(status, 0) for status in SENT_STATUSES)
    counts = {key: events.get(kind, 0) for kind, key in ENGAGEMENT.items()}
    return {
        "sent": sent,
        **counts,
        "open_rate": _rate(counts["opened"], sent),
        "click_rate": _rate(counts["clicked"], sent),
    }


def _summary(
    sequence: Sequence,
    enrollments: dict[str, int],
    mail: dict[Any, dict[str, int]],
    engaged: dict[Any, dict[str, int]],
) -> dict[str, Any]:
    """Sequence-wide totals, counting steps deleted since as well."""
    total = sum(enrollments.values())
    sent = sum(by.get(status, 0) for by in mail.values() for status in SENT_STATUSES)
    counts = {
        key: sum(by.get(kind, 0) for by in engaged.values()) for kind, key in ENGAGEMENT.items()
    }
    converted = db.session.scalar(
        select(func.count(distinct(Conversion.enrollment_id))).where(
            Conversion.sequence_id == sequence.id
        )
    )
    return {
        "enrolled": total,
        "emails_sent": sent,
        **counts,
        "open_rate": _rate(counts["opened"], sent),
        "click_rate": _rate(counts["clicked"], sent),
        "converted": converted or 0,
        "conversion_rate": _rate(converted or 0, total),
    }


def _rate(part: int, whole: int) -> float | None:
    """A share in 0..1, None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def _flow_order(sequence: Sequence) -> list[str]:
    """Step keys by distance from the start step, a branch's first path before its second."""
    keys = {step.id: step.key for step in sequence.steps}
    document = {
        "steps": [
            {"id": step.key, "type": step.type, "config": step.config} for step in sequence.steps
        ],
        "connections": [
            {
                "source": keys[conn.source_step_id],
                "target": keys[conn.target_step_id],
                "label": conn.condition_label,
            }
            for conn in sequence.connections
            if conn.source_step_id in keys and conn.target_step_id in keys
        ],
    }
    return flow_order(document)


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
