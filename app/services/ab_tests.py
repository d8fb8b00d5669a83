"""A/B tests of email steps: where each stands, the periodic decision, picking by hand.

A test is `collecting` until a decision row exists for its step: `decided` (every new send
of the step uses the winner) or `stopped` (the split goes on, nothing is decided). The
periodic pass (`evaluate_tests`, run by the scheduler and `flask sequences tick`) costs a
fixed number of queries however many tests and sends there are: one for the open tests,
three for their counts (`variant_stats`), one insert for the decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.core import experiments
from app.core.durations import parse_duration
from app.core.steps import KINDS
from app.core.steps.email import VARIANT_KEY_MAX, AbTest, EmailConfig
from app.extensions import db
from app.models import AbTestDecision, Sequence, SequenceStep
from app.services.bulk import insert_rows
from app.services.variant_stats import (
    METRIC_COUNTS,
    Attribution,
    StepVariants,
    variant_counts,
)


class AbTestError(ValueError):
    """A request about a test that cannot be honoured; the message names step and field."""


@dataclass(frozen=True)
class TestedStep:
    """An email step with variants and an `ab_test`, as the evaluation reads it."""

    id: uuid.UUID
    key: str
    sequence_id: uuid.UUID
    tenant_id: uuid.UUID
    workspace_id: uuid.UUID
    config: EmailConfig

    @property
    def test(self) -> AbTest:
        assert self.config.ab_test is not None
        return self.config.ab_test

    @property
    def keys(self) -> list[str]:
        return [variant.key for variant in self.config.variants or []]

    def rule(self) -> experiments.Rule:
        test = self.test
        limit = _span(test.max_duration) if test.max_duration else None
        return experiments.Rule(test.sends_needed, test.confidence, limit, test.fallback)

    def attribution(self) -> Attribution:
        return Attribution(self.test.goal, _span(self.test.attribution_window))


def _span(text: str) -> timedelta:
    return timedelta(seconds=parse_duration(text).total_seconds_nominal())


def tested_step(step: SequenceStep, sequence: Sequence) -> TestedStep | None:
    """The step as a test, or None when it is not an email step with variants and a test."""
    if step.type != "email":
        return None
    try:
        config = KINDS["email"].config_adapter.validate_python(step.config)
    except ValueError:
        return None
    if not config.variants or config.ab_test is None:
        return None
    return TestedStep(
        step.id, step.key, sequence.id, sequence.tenant_id, sequence.workspace_id, config
    )


def arms(step: TestedStep, counts: StepVariants | None) -> list[experiments.Arm]:
    """Each variant of the step, in the author's order, with its sends and metric count."""
    numerator = METRIC_COUNTS[step.test.metric]
    by_variant = counts.by_variant if counts is not None else {}
    found = []
    for key in step.keys:
        variant = by_variant.get(key)
        sent = variant.sent if variant else 0
        found.append(experiments.Arm(key, sent, getattr(variant, numerator) if variant else 0))
    return found


def first_send(counts: StepVariants | None) -> datetime | None:
    starts = [c.first_sent_at for c in (counts.by_variant.values() if counts else ()) if c.sent]
    return min((s for s in starts if s is not None), default=None)


def evaluate_tests(now: datetime) -> int:
    """Decide every open test that can be decided at `now`; returns how many were. Commits."""
    open_tests = _open_tests()
    counts = variant_counts(
        [step.id for step in open_tests], {step.id: step.attribution() for step in open_tests}
    )
    rows = []
    for step in open_tests:
        found = counts.get(step.id)
        decision = experiments.decide(arms(step, found), step.rule(), first_send(found), now)
        if decision.state != "collecting":
            decided_by = "auto" if decision.reason == "significant" else "fallback"
            rows.append(_decision_row(step, decision, decided_by, None, now))
    try:
        insert_rows(AbTestDecision.__table__, rows)
        db.session.commit()
    except IntegrityError:  # another pass decided the same test first: its decision stands
        db.session.rollback()
        return 0
    return len(rows)


def _open_tests() -> list[TestedStep]:
    """Email steps of running sequences with a test and no decision yet, in one query."""
    stmt = (
        select(SequenceStep, Sequence)
        .join(Sequence, Sequence.id == SequenceStep.sequence_id)
        .outerjoin(AbTestDecision, AbTestDecision.step_id == SequenceStep.id)
        .where(
            Sequence.status == "active",
            SequenceStep.type == "email",
            AbTestDecision.id.is_(None),
        )
    )
    found = (tested_step(step, sequence) for step, sequence in db.session.execute(stmt))
    return [step for step in found if step is not None]


def _decision_row(
    step: TestedStep,
    decision: experiments.Decision,
    decided_by: str,
    actor: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": step.tenant_id,
        "workspace_id": step.workspace_id,
        "sequence_id": step.sequence_id,
        "step_id": step.id,
        "state": decision.state,
        "winner": decision.winner,
        "metric": step.test.metric,
        "decided_by": decided_by,
        "actor": actor,
        "reason": decision.reason,
        "figures": decision.figures,
        "decided_at": now,
    }


def ab_winners(sequence_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    """Decided winners of these sequences' steps, by sequence and step id, in one query."""
    ids = list(sequence_ids)
    if not ids:
        return {}
    found: dict[uuid.UUID, dict[str, str]] = {}
    stmt = select(AbTestDecision.sequence_id, AbTestDecision.step_id, AbTestDecision.winner).where(
        AbTestDecision.sequence_id.in_(ids), AbTestDecision.winner.is_not(None)
    )
    for sequence_id, step_id, winner in db.session.execute(stmt):
        found.setdefault(sequence_id, {})[str(step_id)] = winner
    return found


def decisions(sequence: Sequence) -> dict[uuid.UUID, AbTestDecision]:
    """The sequence's decisions by step id."""
    rows = db.session.scalars(
        AbTestDecision.in_workspace(
            sequence.workspace_id, AbTestDecision.sequence_id == sequence.id
        )
    )
    return {row.step_id: row for row in rows}


@dataclass(frozen=True)
class Standing:
    """Where one step's test stands: `collecting` with live figures, or `decided` / `stopped`
    with the figures stored with the decision, who decided (auto, fallback or hand, and the
    actor) and when. The builder's panel, the Report page and the analytics API show it."""

    step: TestedStep
    state: str
    winner: str | None = None
    decided_by: str | None = None
    actor: str | None = None
    decided_at: datetime | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def sends(self) -> dict[str, int]:
        """Each variant's sends, as of the figures."""
        return {row["key"]: row["sent"] for row in self.figures.get("variants", [])}

    @property
    def progress(self) -> dict[str, int] | None:
        """While collecting: the weakest variant's sends and the sends each one needs."""
        if self.state != "collecting":
            return None
        weakest = min((self.sends.get(key, 0) for key in self.step.keys), default=0)
        return {"sent": weakest, "needed": self.step.test.sends_needed}


def standings(
    sequence: Sequence, now: datetime, counts: dict[uuid.UUID, StepVariants] | None = None
) -> dict[uuid.UUID, Standing]:
    """Every tested step's standing, by step id: one query for the decisions and, unless the
    caller has them (`counts`, over the whole test), three for the collecting tests' counts."""
    tested = [found for s in sequence.steps if (found := tested_step(s, sequence)) is not None]
    if not tested:
        return {}
    decided = decisions(sequence)
    if counts is None:
        collecting = [step for step in tested if step.id not in decided]
        counts = variant_counts(
            [step.id for step in collecting], {step.id: step.attribution() for step in collecting}
        )
    found = {}
    for step in tested:
        row = decided.get(step.id)
        if row is None:
            found_counts = counts.get(step.id)
            live = experiments.decide(
                arms(step, found_counts), step.rule(), first_send(found_counts), now
            )
            found[step.id] = Standing(step, "collecting", figures=live.figures)
        else:
            found[step.id] = Standing(
                step,
                row.state,
                row.winner,
                row.decided_by,
                row.actor,
                row.decided_at,
                row.figures or {},
            )
    return found


def _tested(sequence: Sequence, step_key: str) -> TestedStep:
    step = next((s for s in sequence.steps if s.key == step_key), None)
    if step is None:
        raise AbTestError(f"step '{step_key}' is not in this sequence")
    tested = tested_step(step, sequence)
    if tested is None:
        raise AbTestError(f"step '{step_key}': it has no A/B test (variants and ab_test)")
    return tested


def pick_winner(
    sequence: Sequence, step_key: str, variant: str, actor: str | None, now: datetime
) -> AbTestDecision:
    """Decide the test by hand: from now on every new send of the step uses `variant`.
    A decision already taken (by the test or by hand) is replaced. Commits."""
    step = _tested(sequence, step_key)
    if len(variant) > VARIANT_KEY_MAX:
        raise AbTestError(
            f"step '{step_key}': a variant key has at most {VARIANT_KEY_MAX} characters"
        )
    if variant not in step.keys:
        known = ", ".join(repr(key) for key in step.keys)
        raise AbTestError(f"step '{step_key}': variant {variant!r} is not one of {known}")
    return _replace(step, "decided", variant, actor, now)


def stop_test(
    sequence: Sequence, step_key: str, actor: str | None, now: datetime
) -> AbTestDecision:
    """Stop the test by hand without a winner: sends keep being split by weight. Commits."""
    return _replace(_tested(sequence, step_key), "stopped", None, actor, now)


def _replace(
    step: TestedStep, state: str, winner: str | None, actor: str | None, now: datetime
) -> AbTestDecision:
    counts = variant_counts([step.id], {step.id: step.attribution()}).get(step.id)
    figures = experiments.decide(arms(step, counts), step.rule(), first_send(counts), now).figures
    decision = experiments.Decision(state, winner, "hand", figures)  # type: ignore[arg-type]
    db.session.execute(delete(AbTestDecision).where(AbTestDecision.step_id == step.id))
    row = AbTestDecision(**_decision_row(step, decision, "hand", actor, now))
    db.session.add(row)
    db.session.commit()
    return row
