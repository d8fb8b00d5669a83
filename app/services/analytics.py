"""Per-step analytics: how many contacts each step has seen, holds now, what it sent, how its
messages were opened, clicked and answered, and the goal conversions that happened while
contacts were on it; per email step its A/B variants and test, the funnel in flow order,
conversions per day, and the sequence's lift against its holdout group.

A fixed handful of GROUP BY queries over the step log, the enrollments, the outbox, the
contact events, the conversions and the A/B decisions, whatever the number of steps,
variants or enrollments: no per-row work.

An optional range [since, until) narrows each figure by its own clock: enrollments by when
they enrolled, steps taken by when, messages (and their opens, clicks, replies) by when
they were queued, conversions by when they happened. The holdout comparison is a cohort:
the enrollments that enrolled in the range, with their conversions whenever they came.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, distinct, func, null, select, union_all

from app.core import experiments
from app.core.events import BOUNCED, COMPLAINED, SOFT_BOUNCED
from app.core.gallery_facts import flow_order
from app.core.steps import KINDS
from app.core.steps.email import EmailConfig
from app.extensions import db
from app.models import (
    ContactEvent,
    ContactSequence,
    Conversion,
    OutboundMessage,
    Sequence,
    SequenceStep,
    StepLog,
)
from app.models.enrollment import ENROLLMENT_STATUSES
from app.models.message import MESSAGE_STATUSES, SENT_STATUSES
from app.services import ab_tests
from app.services.variant_stats import (
    COUNTED_EVENTS,
    EVENT_OF_MESSAGE,
    METRIC_COUNTS,
    Attribution,
    SendRange,
    StepVariants,
    VariantCounts,
    variant_counts,
)

ENGAGEMENT = COUNTED_EVENTS | {
    BOUNCED: "bounced",
    SOFT_BOUNCED: "soft_bounced",
    COMPLAINED: "complained",
}
"""Event type -> the key a step's messages count it under (a variant's counts leave bounces
and complaints out: no test or rate is about them)."""

FUNNEL_COUNTS = (
    "entered",
    "held_out",
    "sent",
    "opened",
    "clicked",
    "replied",
    "converted",
    "exited",
)
"""A funnel row's counts, in the order the page shows them."""

DEFAULT_CONFIDENCE = 0.95
"""The intervals of a step with variants but no test (a plain weighted split)."""


def sequence_analytics(
    sequence: Sequence,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Counts for the sequence as a whole and for each of its steps, in author order;
    `flow_order` lists the step keys in the order a contact meets them, `funnel` the steps'
    counts in that order. `now` is when a collecting test's live figures are taken."""
    now = now or datetime.now(UTC)
    taken = _grouped(
        select(StepLog.step_id, StepLog.outcome, func.count())
        .where(StepLog.sequence_id == sequence.id, *_within(StepLog.executed_at, since, until))
        .group_by(StepLog.step_id, StepLog.outcome)
    )
    enrolled_in = _within(ContactSequence.enrolled_at, since, until)
    here = _grouped(
        select(ContactSequence.current_step_id, ContactSequence.status, func.count())
        .where(ContactSequence.sequence_id == sequence.id, *enrolled_in)
        .group_by(ContactSequence.current_step_id, ContactSequence.status)
    )
    mail = _grouped(
        select(OutboundMessage.step_id, OutboundMessage.status, func.count())
        .where(
            OutboundMessage.sequence_id == sequence.id,
            *_within(OutboundMessage.queued_at, since, until),
        )
        .group_by(OutboundMessage.step_id, OutboundMessage.status)
    )
    by_group = _grouped(
        select(ContactSequence.status, ContactSequence.holdout, func.count())
        .where(ContactSequence.sequence_id == sequence.id, *enrolled_in)
        .group_by(ContactSequence.status, ContactSequence.holdout)
    )
    converted_in = _within(Conversion.converted_at, since, until)
    converted = _grouped(
        select(Conversion.step_id, Conversion.goal, func.count())
        .where(Conversion.sequence_id == sequence.id, *converted_in)
        .group_by(Conversion.step_id, Conversion.goal)
    )
    engaged = _engagement(sequence, since, until)
    variants = _variants(sequence, since, until, now)
    steps = []
    for step in sequence.steps:
        step_mail = mail.get(step.id, {})
        entry: dict[str, Any] = {
            "step": step.key,
            "name": step.name,
            "type": step.type,
            "taken": sum(taken.get(step.id, {}).values()),
            "waiting_here": here.get(step.id, {}).get("active", 0),
            "conversions": sum(converted.get(step.id, {}).values()),
        }
        if step.type == "email":
            entry["emails"] = {status: step_mail.get(status, 0) for status in MESSAGE_STATUSES}
            entry |= _engagement_entry(step_mail, engaged.get(step.id, {}))
            entry |= variants.get(step.id, {})
        steps.append(entry)
    statuses = {status: sum(by_group.get(status, {}).values()) for status in ENROLLMENT_STATUSES}
    order = _flow_order(sequence)
    return {
        "period": {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
        "enrollments": statuses,
        "steps": steps,
        "flow_order": order,
        "funnel": _funnel(sequence, steps, order, taken, here),
        "conversions": _conversions(sequence, converted)
        | {"by_day": _by_day(sequence, since, until)},
        "summary": _summary(sequence, statuses, mail, engaged, converted_in),
        "holdout": _holdout(sequence, by_group, enrolled_in),
    }


def _within(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    """The conditions keeping `column` inside [since, until)."""
    found = []
    if since is not None:
        found.append(column >= since)
    if until is not None:
        found.append(column < until)
    return found


def _engagement(
    sequence: Sequence, since: datetime | None, until: datetime | None
) -> dict[Any, dict[str, int]]:
    """Per step, how many of its sent messages had each engagement event at least once.

    Joined on the contact as well as the message so the events' (contact, type) index
    narrows the search."""
    return _grouped(
        select(
            OutboundMessage.step_id,
            ContactEvent.type,
            func.count(distinct(ContactEvent.message_id)),
        )
        .join(ContactEvent, EVENT_OF_MESSAGE)
        .where(
            OutboundMessage.sequence_id == sequence.id,
            OutboundMessage.status.in_(SENT_STATUSES),
            ContactEvent.workspace_id == sequence.workspace_id,
            ContactEvent.type.in_(ENGAGEMENT),
            *_within(OutboundMessage.queued_at, since, until),
        )
        .group_by(OutboundMessage.step_id, ContactEvent.type)
    )


def _engagement_entry(mail: dict[str, int], events: dict[str, int]) -> dict[str, Any]:
    """Sent messages, how many had each engagement, and the open and click rates."""
    sent = sum(mail.get(status, 0) for status in SENT_STATUSES)
    counts = {key: events.get(kind, 0) for kind, key in ENGAGEMENT.items()}
    return {
        "sent": sent,
        "failed": mail.get("failed", 0),  # never sent: refused for good (see send_failures)
        **counts,
        "open_rate": _rate(counts["opened"], sent),
        "click_rate": _rate(counts["clicked"], sent),
    }


# --- A/B variants ----------------------------------------------------------------------------


def _variants(
    sequence: Sequence, since: datetime | None, until: datetime | None, now: datetime
) -> dict[uuid.UUID, dict[str, Any]]:
    """Per email step with variants, `variants` (counts, rates and intervals) and, when it has
    a test, `ab_test`: three queries for the counts, one for the decisions, and three more
    for a collecting test's live figures when a range narrows the counts."""
    configs = {step.id: config for step, config in _with_variants(sequence.steps)}
    if not configs:
        return {}
    tests = {
        step.id: tested
        for step in sequence.steps
        if step.id in configs and (tested := ab_tests.tested_step(step, sequence)) is not None
    }
    attribution = {step_id: _attribution(step_id, tests) for step_id in configs}
    counts = variant_counts(configs, attribution, SendRange(since, until))
    ranged = since is not None or until is not None
    # A test's progress and live figures cover the whole test, whatever the range.
    standing = ab_tests.standings(sequence, now, None if ranged else counts) if tests else {}
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for step_id, config in configs.items():
        test = tests.get(step_id)
        confidence = test.test.confidence if test else DEFAULT_CONFIDENCE
        entry: dict[str, Any] = {"variants": _variant_rows(config, counts.get(step_id), confidence)}
        if step_id in standing:
            entry["ab_test"] = _test_entry(standing[step_id])
        found[step_id] = entry
    return found


def _with_variants(steps: Iterable[SequenceStep]) -> list[tuple[SequenceStep, EmailConfig]]:
    """Email steps whose configuration has variants (a draft that does not validate: none)."""
    found = []
    for step in steps:
        if step.type != "email" or not (step.config or {}).get("variants"):
            continue
        try:
            config = KINDS["email"].config_adapter.validate_python(step.config)
        except ValueError:
            continue
        if config.variants:
            found.append((step, config))
    return found


def _attribution(step_id: uuid.UUID, tests: dict[uuid.UUID, ab_tests.TestedStep]) -> Attribution:
    """The test's goal and window when the step has a test; any goal within 7 days otherwise."""
    test = tests.get(step_id)
    return test.attribution() if test is not None else Attribution()


def _variant_rows(
    config: EmailConfig, counts: StepVariants | None, confidence: float
) -> list[dict[str, Any]]:
    """Each variant in the author's order with its counts, rates and, per rate, the Wilson
    interval at `confidence`."""
    rows = []
    for variant in config.variants or []:
        found = counts.by_variant.get(variant.key) if counts else None
        tally = found or VariantCounts()
        rows.append(
            {"key": variant.key, "weight": variant.weight}
            | tally.as_dict()
            | {
                "intervals": {
                    metric: _pair(
                        experiments.interval(getattr(tally, count), tally.sent, confidence)
                    )
                    for metric, count in METRIC_COUNTS.items()
                }
            }
        )
    return rows


def _test_entry(standing: ab_tests.Standing) -> dict[str, Any]:
    """Where the test stands, as the API shows it."""
    test = standing.step.test
    decided_at = standing.decided_at
    return {
        "metric": test.metric,
        "goal": test.goal,
        "min_sends": test.sends_needed,
        "confidence": test.confidence,
        "state": standing.state,
        "winner": standing.winner,
        "decided_at": decided_at.isoformat() if decided_at is not None else None,
        "decided_by": standing.decided_by,
        "figures": standing.figures,
        "progress": standing.progress,
    }


# --- funnel, conversions, holdout ------------------------------------------------------------


def _funnel(
    sequence: Sequence,
    steps: list[dict[str, Any]],
    order: list[str],
    taken: dict[Any, dict[str, int]],
    here: dict[Any, dict[str, int]],
) -> list[dict[str, Any]]:
    """Each step in flow order: how many entered it (took it, or stand on it now, whatever
    their status), what it sent, how those sends were answered, the conversions on it and
    the enrollments that ended there by exiting (an exit step, or leaving while waiting)."""
    ids = {step.key: step.id for step in sequence.steps}
    rank = {key: index for index, key in enumerate(order)}
    found = []
    for entry in sorted(steps, key=lambda step: rank.get(step["step"], len(rank))):
        step_id = ids[entry["step"]]
        outcomes, standing = taken.get(step_id, {}), here.get(step_id, {})
        found.append(
            {
                "step": entry["step"],
                "name": entry["name"],
                "type": entry["type"],
                "entered": entry["taken"] + sum(standing.values()),
                "held_out": outcomes.get("held_out", 0),
                **{key: entry.get(key, 0) for key in ("sent", "opened", "clicked", "replied")},
                "converted": entry["conversions"],
                "exited": standing.get("exited", 0) + outcomes.get("exited", 0),
            }
        )
    return found


def _by_day(
    sequence: Sequence, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """Conversions per UTC day and goal, days without any left out, oldest first."""
    day = _utc_day(Conversion.converted_at)
    counts: dict[str, dict[str, int]] = {}
    for when, goal, count in db.session.execute(
        select(day, Conversion.goal, func.count())
        .where(
            Conversion.sequence_id == sequence.id,
            *_within(Conversion.converted_at, since, until),
        )
        .group_by(day, Conversion.goal)
    ):
        counts.setdefault(str(when), {})[goal] = count
    return [
        {"day": when, "total": sum(goals.values()), "goals": dict(sorted(goals.items()))}
        for when, goals in sorted(counts.items())
    ]


def _utc_day(column: Any) -> ColumnElement[Any]:
    """`column`'s UTC day as YYYY-MM-DD; SQLite stores UTC already, PostgreSQL converts."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _holdout(
    sequence: Sequence, by_group: dict[Any, dict[Any, int]], enrolled_in: list[Any]
) -> dict[str, Any]:
    """Enrollments and conversions of the treated group and the holdout, on any goal and
    per goal, with the lift of each: one query (a UNION of the per-goal and the any-goal
    counts), counting each enrollment's current run only."""
    enrolled = {"treated": 0, "holdout": 0}
    for groups in by_group.values():
        for held, count in groups.items():
            enrolled[_group(held)] += count
    current = (
        select(ContactSequence.holdout, Conversion.goal, Conversion.enrollment_id)
        .join(
            Conversion,
            (Conversion.enrollment_id == ContactSequence.id)
            & (Conversion.run == ContactSequence.runs),
        )
        .where(ContactSequence.sequence_id == sequence.id, *enrolled_in)
        .subquery()
    )
    per_goal = select(current.c.holdout, current.c.goal, func.count()).group_by(
        current.c.holdout, current.c.goal
    )
    any_goal = select(
        current.c.holdout, null().label("goal"), func.count(distinct(current.c.enrollment_id))
    ).group_by(current.c.holdout)
    goals = {name: {"treated": 0, "holdout": 0} for name in _goal_names(sequence)}
    overall = {"treated": 0, "holdout": 0}
    for held, goal, count in db.session.execute(union_all(per_goal, any_goal)):
        tally = overall if goal is None else goals.setdefault(goal, {"treated": 0, "holdout": 0})
        tally[_group(held)] = count
    return {
        "percent": int((sequence.settings or {}).get("holdout_percent") or 0),
        "enrolled": enrolled,
        "converted": overall,
        "lift": _lift(overall, enrolled),
        "goals": {
            name: {"converted": tally, "lift": _lift(tally, enrolled)}
            for name, tally in goals.items()
        },
    }


def _group(held: Any) -> str:
    return "holdout" if held else "treated"


def _lift(converted: dict[str, int], enrolled: dict[str, int]) -> dict[str, Any] | None:
    return experiments.lift(
        (converted["treated"], enrolled["treated"]), (converted["holdout"], enrolled["holdout"])
    )


def _summary(
    sequence: Sequence,
    enrollments: dict[str, int],
    mail: dict[Any, dict[str, int]],
    engaged: dict[Any, dict[str, int]],
    converted_in: list[Any],
) -> dict[str, Any]:
    """Sequence-wide totals, counting steps deleted since as well."""
    total = sum(enrollments.values())
    sent = sum(by.get(status, 0) for by in mail.values() for status in SENT_STATUSES)
    counts = {
        key: sum(by.get(kind, 0) for by in engaged.values()) for kind, key in ENGAGEMENT.items()
    }
    converted = db.session.scalar(
        select(func.count(distinct(Conversion.enrollment_id))).where(
            Conversion.sequence_id == sequence.id, *converted_in
        )
    )
    return {
        "enrolled": total,
        "emails_sent": sent,
        "emails_failed": sum(by.get("failed", 0) for by in mail.values()),
        **counts,
        "open_rate": _rate(counts["opened"], sent),
        "click_rate": _rate(counts["clicked"], sent),
        "converted": converted or 0,
        "conversion_rate": _rate(converted or 0, total),
    }


def _rate(part: int, whole: int) -> float | None:
    """A share in 0..1, None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def _pair(pair: tuple[float, float] | None) -> list[float] | None:
    return [round(pair[0], 4), round(pair[1], 4)] if pair is not None else None


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


def _goal_names(sequence: Sequence) -> list[str]:
    """Every goal defined or named by a goal step, reached or not."""
    names = [str(goal.get("name")) for goal in sequence.goals_config or []]
    names += [str(s.config.get("goal")) for s in sequence.steps if s.type == "goal"]
    return list(dict.fromkeys(names))


def _conversions(sequence: Sequence, converted: dict[Any, dict[str, int]]) -> dict[str, Any]:
    """Total, and per goal (every goal of the sequence, reached or not) its total and counts
    by the key of the step it happened on."""
    keys = {step.id: step.key for step in sequence.steps}
    goals: dict[str, dict[str, Any]] = {
        name: {"total": 0, "steps": {}} for name in _goal_names(sequence)
    }
    for step_id, by_goal in converted.items():
        for name, count in by_goal.items():
            entry = goals.setdefault(name, {"total": 0, "steps": {}})
            entry["total"] += count
            if step_id in keys:  # a step deleted since counts in the totals only
                entry["steps"][keys[step_id]] = entry["steps"].get(keys[step_id], 0) + count
    return {"total": sum(entry["total"] for entry in goals.values()), "goals": goals}


def _grouped(stmt: Any) -> dict[Any, dict[Any, int]]:
    out: dict[Any, dict[Any, int]] = {}
    for key, kind, count in db.session.execute(stmt):
        out.setdefault(key, {})[kind] = count
    return out
