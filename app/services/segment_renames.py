"""A segment's rename reaches every definition that names it, in the rename's transaction.

Why propagate rather than add a `segment_id`: the format's `segment` key (a name) is a
contract, and the engine reads it from three places (a sequence's trigger, its step rows,
and the frozen `definition`/`plan` of each published version). Rewriting the name in all
of them, in the same commit as the rename, keeps every reader right with no second key to
resolve, keep in sync or explain in exports; a rename is rare and touches one workspace.
Fixed number of queries: one per table, whatever the number of sequences.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.core.segment_names import renamed
from app.extensions import db
from app.models import Sequence, SequenceStep, SequenceTemplate, SequenceVersion


def rename_references(workspace_id: uuid.UUID, old: str, new: str) -> int:
    """Point the workspace's triggers, step conditions, version snapshots and saved
    templates naming segment `old` at `new`; staged in the session (the caller commits).
    Returns how many sequences are affected."""
    affected: set[uuid.UUID] = set()
    for sequence in db.session.scalars(Sequence.in_workspace(workspace_id)):
        value, hit = renamed(sequence.trigger_config, old, new)
        if hit:
            sequence.trigger_config = value
            affected.add(sequence.id)
    steps = select(SequenceStep).join(Sequence, Sequence.id == SequenceStep.sequence_id)
    for step in db.session.scalars(steps.where(Sequence.workspace_id == workspace_id)):
        value, hit = renamed(step.config, old, new)
        if hit:
            step.config = value
            affected.add(step.sequence_id)
    for version in db.session.scalars(SequenceVersion.in_workspace(workspace_id)):
        definition, in_definition = renamed(version.definition, old, new)
        plan, in_plan = renamed(version.plan, old, new)
        if in_definition or in_plan:
            version.definition, version.plan = definition, plan
            affected.add(version.sequence_id)
    for template in db.session.scalars(SequenceTemplate.in_workspace(workspace_id)):
        definition, hit = renamed(template.definition, old, new)
        if hit:
            template.definition = definition
    return len(affected)
