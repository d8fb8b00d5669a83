"""The processor stops instead of spinning when a batch keeps colliding with recorded steps,
fails an enrollment whose step was removed, and lets a bug in a step's run surface."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import IntegrityError

from app.core.engine import Graph, Step
from app.core.steps import KINDS
from app.services import processor
from app.services.graphs import LoadedSequence


def test_a_batch_that_always_collides_is_raised_after_a_few_tries(app, monkeypatch):
    calls = []

    def colliding(now, batch_size):
        calls.append(now)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(processor, "_process_batch", colliding)
    with pytest.raises(IntegrityError):
        processor.process_due(datetime(2026, 12, 7, tzinfo=UTC))
    assert len(calls) == processor.MAX_LOST_RACES + 1


def _claimed(step_id: str) -> SimpleNamespace:
    """A claimed enrollment row as `_advance` reads it, waiting on `step_id`."""
    return SimpleNamespace(
        id=uuid.uuid4(),
        timezone=None,
        workspace_timezone="UTC",
        current_step_id=step_id,
        step_started_at=None,
        visits={},
        fields={},
        context_data={},
        enrolled_at=T0,
        draw=None,
        holdout=False,
        frequency_cap=None,
        skip_wait=False,
    )


def _loaded(*steps: Step) -> LoadedSequence:
    graph = Graph(steps[0].id, {step.id: step for step in steps})
    return LoadedSequence(uuid.uuid4(), 1, graph, None, {s.id: uuid.uuid4() for s in steps})


T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_an_enrollment_on_a_step_no_longer_in_the_sequence_fails_as_step_removed() -> None:
    loaded = _loaded(Step("end", "END", "end", {}, {}))

    outcome = processor._advance(_claimed("gone"), loaded, T0, [])

    assert outcome.status == "failed"
    assert outcome.exit_reason == "step removed"
    assert outcome.taken == []


def test_a_key_error_inside_a_steps_run_is_raised_as_a_bug_not_taken_for_a_removed_step(
    monkeypatch,
) -> None:
    def broken_run(step, ctx):
        return {}["missing"]

    monkeypatch.setitem(KINDS, "end", replace(KINDS["end"], run=broken_run))
    loaded = _loaded(Step("end", "END", "end", {}, {}))

    with pytest.raises(KeyError, match="missing"):
        processor._advance(_claimed("end"), loaded, T0, [])
