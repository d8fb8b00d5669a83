"""Where each A/B test of a sequence stands, as the builder's email panel shows it.

A fixed number of queries per sequence, however many tested steps and sends: one for the
decisions, and the three of `variant_counts` for the tests still collecting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.steps.email import AbTest
from app.models import Sequence
from app.services import ab_tests
from app.services.variant_stats import variant_counts


@dataclass(frozen=True)
class AbTestState:
    """One tested step's test: `collecting` with each variant's sends so far, or `decided`
    / `stopped` with who decided (auto, fallback or hand, and the actor) and when."""

    state: str
    variants: list[str]
    test: AbTest
    sends: dict[str, int]
    winner: str | None = None
    decided_by: str | None = None
    actor: str | None = None
    decided_at: datetime | None = None
    figures: dict[str, Any] | None = None


def ab_test_states(sequence: Sequence) -> dict[str, AbTestState]:
    """The state of every email step with variants and an `ab_test`, by step key."""
    tested = [
        found
        for step in sequence.steps
        if (found := ab_tests.tested_step(step, sequence)) is not None
    ]
    if not tested:
        return {}
    decided = ab_tests.decisions(sequence)
    collecting = [step for step in tested if step.id not in decided]
    counts = variant_counts(
        [step.id for step in collecting], {step.id: step.attribution() for step in collecting}
    )
    states = {}
    for step in tested:
        decision = decided.get(step.id)
        if decision is None:
            sends = {arm.key: arm.sent for arm in ab_tests.arms(step, counts.get(step.id))}
            states[step.key] = AbTestState("collecting", step.keys, step.test, sends)
            continue
        states[step.key] = AbTestState(
            decision.state,
            step.keys,
            step.test,
            {v["key"]: v["sent"] for v in (decision.figures or {}).get("variants", [])},
            decision.winner,
            decision.decided_by,
            decision.actor,
            decision.decided_at,
            decision.figures,
        )
    return states
