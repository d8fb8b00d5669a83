"""Sequences as definitions (format v1) in and out of the step and connection tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from app.core.engine import unsupported_steps
from app.core.format.document import SequenceDefinition
from app.core.format.parse import definition_to_dict, load_document, parse_definition
from app.core.format.problems import DefinitionError
from app.core.graph import Problem
from app.extensions import db
from app.models import (
    ContactSequence,
    Sequence,
    SequenceConnection,
    SequenceStep,
    SequenceVersion,
    Workspace,
)
from app.services.email_design import with_generated_body
from app.services.graphs import build_graph
from app.services.template_budget import check_definition
from app.services.versioning import claim_version

# Keys a GET adds to the definition; they are accepted back on input and ignored.
READ_ONLY_KEYS = ("id", "status", "version", "draft_version", "created_at", "updated_at")
NOTE_MAX = 2000
WHILE_PAUSED = ("queue", "refuse")
"""What becomes of new joiners while a sequence is paused (see services/triggers.py)."""
"""Characters kept of a version's note."""


class SequenceStateError(Exception):
    """The sequence's status does not allow this (e.g. activating an archived one)."""


def parse_input(payload: Any) -> SequenceDefinition:
    """A definition from API or file input (a dict, or JSON or YAML text), with the
    read-only extras of `GET /api/sequences/{id}` removed, so what GET gives imports back."""
    if isinstance(payload, str | bytes):
        payload = load_document(payload)
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k not in READ_ONLY_KEYS}
    return parse_definition(payload)


def get_sequence(workspace_id: uuid.UUID, sequence_id: uuid.UUID) -> Sequence | None:
    return db.session.scalar(Sequence.in_workspace(workspace_id, Sequence.id == sequence_id))


def list_sequences(workspace_id: uuid.UUID) -> list[tuple[Sequence, int]]:
    """Sequences with their count of active enrollments, newest first, in one query."""
    active = (
        select(func.count(ContactSequence.id))
        .where(ContactSequence.sequence_id == Sequence.id, ContactSequence.status == "active")
        .correlate(Sequence)
        .scalar_subquery()
    )
    stmt = (
        select(Sequence, active)
        .where(Sequence.workspace_id == workspace_id, Sequence.listed())
        .order_by(Sequence.created_at.desc())
    )
    return [(seq, count) for seq, count in db.session.execute(stmt)]


def create_sequence(
    workspace: Workspace, definition: SequenceDefinition, created_by: uuid.UUID | None = None
) -> Sequence:
    check_definition(definition)
    sequence = Sequence(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        created_by=created_by,
        status="draft",
        version=1,
    )
    db.session.add(sequence)
    store_definition(sequence, definition)
    db.session.commit()
    return sequence


def patch_definition(sequence: Sequence, changes: dict[str, Any], seen: int) -> Sequence:
    """Merge top-level keys over the stored definition and replace it whole, on the version
    the writer saw: claimed first (services.versioning), so of two writers that saw the same
    version one gets VersionConflict. Nothing is kept when the result is refused."""
    claim_version(sequence, seen)
    try:
        merged = {**export_definition(sequence), **changes}
        _replace_definition(sequence, parse_input(merged))
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return sequence


def _replace_definition(sequence: Sequence, definition: SequenceDefinition) -> None:
    """Replace settings and graph; steps keep their row ids by author id, so enrollments stay."""
    check_definition(definition)
    removed = {s.key for s in sequence.steps} - {s.id for s in definition.steps}
    waiting = enrollments_on_steps(sequence, removed)
    if waiting:
        problems = [
            Problem(
                f"{count} active enrollment(s) are on this step; keep it or move them first",
                "steps",
                key,
            )
            for key, count in waiting.items()
        ]
        raise DefinitionError(problems)
    store_definition(sequence, definition)


def enrollments_on_steps(sequence: Sequence, keys: set[str]) -> dict[str, int]:
    if not keys:
        return {}
    stmt = (
        select(SequenceStep.key, func.count(ContactSequence.id))
        .join(ContactSequence, ContactSequence.current_step_id == SequenceStep.id)
        .where(
            SequenceStep.sequence_id == sequence.id,
            SequenceStep.key.in_(keys),
            ContactSequence.status == "active",
        )
        .group_by(SequenceStep.key)
    )
    return {key: count for key, count in db.session.execute(stmt)}


def store_definition(sequence: Sequence, definition: SequenceDefinition) -> None:
    """Settings into the sequence row, the graph into step and connection rows (steps keep
    their row ids by step id; a step left out is deleted, unless publishing retired it)."""
    data = definition_to_dict(definition)
    _apply_settings(sequence, data)
    db.session.flush()
    _write_graph(sequence, data)


def _apply_settings(sequence: Sequence, data: dict[str, Any]) -> None:
    sequence.name = data["name"]
    sequence.description = data.get("description")
    sequence.trigger_config = data.get("trigger")
    sequence.exit_config = data.get("exit")
    sequence.re_enrollment_config = data.get("re_enrollment")
    sequence.goals_config = data.get("goals", [])
    sequence.settings = data.get("settings", {})


def _write_graph(sequence: Sequence, data: dict[str, Any]) -> None:
    existing = {step.key: step for step in sequence.steps}
    for conn in list(sequence.connections):
        sequence.connections.remove(conn)
    keep: list[SequenceStep] = []
    for order, spec in enumerate(data["steps"]):
        step = existing.get(spec["id"]) or SequenceStep(key=spec["id"], sequence_id=sequence.id)
        step.name = spec.get("name")
        step.type = spec["type"]
        config = spec.get("config", {})
        step.config = with_generated_body(config) if step.type == "email" else config
        position = spec.get("position") or {}
        step.ui_position_x = position.get("x")
        step.ui_position_y = position.get("y")
        step.sort_order = order
        keep.append(step)
    sequence.steps = keep
    db.session.flush()
    by_key = {step.key: step for step in keep}
    for order, conn in enumerate(data.get("connections", [])):
        sequence.connections.append(
            SequenceConnection(
                sequence_id=sequence.id,
                source_step_id=by_key[conn["source"]].id,
                target_step_id=by_key[conn["target"]].id,
                condition_label=conn.get("label"),
                sort_order=order,
            )
        )
    db.session.flush()


def export_definition(sequence: Sequence) -> dict[str, Any]:
    """The sequence as a format v1 document, exactly what parse_definition accepts."""
    key_of = {step.id: step.key for step in sequence.steps}
    document: dict[str, Any] = {"format": "sequence/v1", "name": sequence.name}
    if sequence.description:
        document["description"] = sequence.description
    for key, value in (
        ("trigger", sequence.trigger_config),
        ("exit", sequence.exit_config),
        ("goals", sequence.goals_config),
        ("re_enrollment", sequence.re_enrollment_config),
        ("settings", sequence.settings),
    ):
        if value:
            document[key] = value
    document["steps"] = [_export_step(step) for step in sequence.steps]
    document["connections"] = [
        {
            "source": key_of[conn.source_step_id],
            "target": key_of[conn.target_step_id],
            "label": conn.condition_label,
        }
        for conn in sequence.connections
    ]
    return document


def _export_step(step: SequenceStep) -> dict[str, Any]:
    out: dict[str, Any] = {"id": step.key, "type": step.type}
    if step.name:
        out["name"] = step.name
    out["config"] = step.config
    if step.ui_position_x is not None and step.ui_position_y is not None:
        out["position"] = {"x": step.ui_position_x, "y": step.ui_position_y}
    return out


def set_status(
    sequence: Sequence,
    action: str,
    now: datetime,
    actor: str | None = None,
    while_paused: str | None = None,
) -> Sequence:
    """activate | pause | resume, with the checks each needs; the first activation
    publishes version 1. Pausing may say what becomes of new joiners meanwhile
    (`while_paused`: queue | refuse, kept in the settings; see triggers.py)."""
    allowed = {"activate": ("draft", "paused"), "pause": ("active",), "resume": ("paused",)}
    if sequence.draft_of_id is not None:
        raise SequenceStateError(
            "this is the draft of the next version of a live sequence: publish it instead"
        )
    if sequence.status not in allowed[action]:
        raise SequenceStateError(f"cannot {action} a sequence that is {sequence.status}")
    if action in ("activate", "resume"):
        try:
            _check_runnable(sequence)
        except DefinitionError:
            db.session.rollback()  # a refusal leaves nothing pending for the caller's next write
            raise
    if action == "activate" and sequence.published_version is None:
        sequence.published_version = 1
        db.session.add(snapshot_version(sequence, 1, actor=actor, note="First version", now=now))
    if action == "pause" and while_paused is not None:
        if while_paused not in WHILE_PAUSED:
            raise SequenceStateError(f"while paused, new joiners are {' or '.join(WHILE_PAUSED)}")
        sequence.settings = {**(sequence.settings or {}), "while_paused": while_paused}
    sequence.status = "paused" if action == "pause" else "active"
    sequence.updated_at = now
    db.session.commit()
    return sequence


def snapshot_version(
    sequence: Sequence,
    number: int,
    *,
    actor: str | None,
    now: datetime,
    note: str | None = None,
    plan: list[dict[str, Any]] | None = None,
) -> SequenceVersion:
    """Version `number` as the rows now stand: the definition and each step's row id."""
    return SequenceVersion(
        tenant_id=sequence.tenant_id,
        workspace_id=sequence.workspace_id,
        sequence_id=sequence.id,
        number=number,
        definition=export_definition(sequence),
        step_ids={step.key: str(step.id) for step in sequence.steps},
        plan=plan or [],
        note=(note or "").strip()[:NOTE_MAX] or None,
        published_by=actor,
        published_at=now,
    )


def _check_runnable(sequence: Sequence) -> None:
    """The builder stores unfinished drafts: only a complete definition may run."""
    parse_definition(export_definition(sequence))
    problems = [
        Problem(str(err), "type", err.step_key)
        for err in unsupported_steps(build_graph(sequence.steps, sequence.connections))
    ]
    if problems:
        raise DefinitionError(problems)


def create_blank(workspace: Workspace, name: str, created_by: uuid.UUID | None) -> Sequence:
    """A new, empty draft from the builder; its trigger is left for the author to choose."""
    name = name.strip()
    if not name:
        raise DefinitionError([Problem("give the sequence a name", "name")])
    sequence = create_sequence(workspace, SequenceDefinition(name=name[:255]), created_by)
    sequence.trigger_config = None
    db.session.commit()
    return sequence


def duplicate_sequence(sequence: Sequence, created_by: uuid.UUID | None) -> Sequence:
    """A draft copy with the same settings and graph, unfinished parts included, but no
    trigger: a copy of a live segment or form trigger, once activated, would enroll the
    same joiners twice, so the author chooses the copy's own."""
    copy = copy_sequence(sequence, f"Copy of {sequence.name}"[:255], created_by)
    copy.trigger_config = None
    db.session.commit()
    return copy


def copy_sequence(
    sequence: Sequence,
    name: str,
    created_by: uuid.UUID | None,
    draft_of: Sequence | None = None,
) -> Sequence:
    """A new draft with the same settings and graph (step ids kept), not yet committed; with
    `draft_of`, it is that live sequence's draft of its next version."""
    copy = Sequence(
        tenant_id=sequence.tenant_id,
        workspace_id=sequence.workspace_id,
        created_by=created_by,
        name=name,
        description=sequence.description,
        status="draft",
        version=1,
        trigger_config=sequence.trigger_config,
        exit_config=sequence.exit_config,
        re_enrollment_config=sequence.re_enrollment_config,
        goals_config=sequence.goals_config,
        settings=sequence.settings,
        draft_of_id=draft_of.id if draft_of else None,
        draft_base=draft_of.published_version if draft_of else None,
    )
    db.session.add(copy)
    db.session.flush()
    new_ids: dict[uuid.UUID, uuid.UUID] = {}
    for step in sequence.steps:
        twin = SequenceStep(
            sequence_id=copy.id,
            key=step.key,
            name=step.name,
            type=step.type,
            config=step.config,
            ui_position_x=step.ui_position_x,
            ui_position_y=step.ui_position_y,
            sort_order=step.sort_order,
        )
        copy.steps.append(twin)
        db.session.flush()
        new_ids[step.id] = twin.id
    for conn in sequence.connections:
        copy.connections.append(
            SequenceConnection(
                sequence_id=copy.id,
                source_step_id=new_ids[conn.source_step_id],
                target_step_id=new_ids[conn.target_step_id],
                condition_label=conn.condition_label,
                sort_order=conn.sort_order,
            )
        )
    db.session.flush()
    return copy


def unarchive_sequence(sequence: Sequence, now: datetime) -> Sequence:
    """Bring an archived sequence back, never straight to sending: paused when a version
    was published (its enrollments wait for Resume; new joiners follow its while-paused
    choice), else a draft to edit and launch."""
    if sequence.status != "archived":
        raise SequenceStateError("only an archived sequence can be unarchived")
    sequence.status = "paused" if sequence.published_version else "draft"
    sequence.archived_at = None
    sequence.updated_at = now
    db.session.commit()
    return sequence


def archive_sequence(sequence: Sequence, now: datetime) -> Sequence:
    """Archived sequences stop and leave the builder read-only, until unarchived."""
    if sequence.status == "active":
        raise SequenceStateError("pause the sequence before archiving it")
    if sequence.status == "archived":
        raise SequenceStateError("the sequence is already archived")
    sequence.status = "archived"
    sequence.archived_at = now
    db.session.execute(delete(Sequence).where(Sequence.draft_of_id == sequence.id))
    sequence.updated_at = now
    db.session.commit()
    return sequence
