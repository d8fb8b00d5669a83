"""Edits from the visual builder, one small change at a time, straight into the tables.

Each edit names the version the editor last saw and claims the next one first
(services.versioning, the same rule as the API PATCH), so of two tabs editing the same
sequence the second one learns it is stale (VersionConflict) instead of silently
overwriting. Drafts may be unfinished: problems are
reported in the state (see core.draft), not refused, except for edits that could never
make sense (a port the step lacks, a second connection on one port, a loop to itself).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from app.config import current_settings
from app.core.draft import Draft, DraftConnection, DraftStep, check_draft
from app.core.layout import ROW_HEIGHT, auto_layout
from app.core.problem_words import in_words, step_names
from app.core.steps import KINDS, STEP_TYPES
from app.core.steps import step_outputs as outputs_for
from app.core.summary import step_summary
from app.extensions import db
from app.models import Sequence, SequenceConnection, SequenceStep
from app.services.email_design import with_generated_body
from app.services.sequences import enrollments_on_steps
from app.services.versioning import NotEditable, claim_version, is_editable
from app.services.versioning import VersionConflict as VersionConflict  # the web layer's name


class EditRefused(Exception):
    """An edit that cannot be applied, located like a definition problem."""

    def __init__(self, message: str, field: str | None = None, step: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field, self.step = message, field, step


def find_step(sequence: Sequence, step_id: str) -> SequenceStep | None:
    return next((step for step in sequence.steps if step.key == step_id), None)


# --- State -------------------------------------------------------------------------------


def draft_of(sequence: Sequence) -> Draft:
    key_of = {step.id: step.key for step in sequence.steps}
    return Draft(
        steps=[
            DraftStep(step.key, step.type, step.config or {}, step.name)
            for step in _ordered(sequence)
        ],
        connections=[
            DraftConnection(key_of[c.source_step_id], key_of[c.target_step_id], c.condition_label)
            for c in sequence.connections
        ],
    )


def draft_state(sequence: Sequence) -> dict[str, Any]:
    """Everything the canvas draws: steps with ports, connections, problems, version."""
    draft = draft_of(sequence)
    by_key = {step.key: step for step in sequence.steps}
    names = step_names((step.id, step.name, step.type) for step in draft.steps)
    return {
        "name": sequence.name,
        "version": sequence.version,
        "status": sequence.status,
        "editable": is_editable(sequence),
        "steps": [
            {
                "id": step.id,
                "type": step.type,
                "name": step.name,
                "summary": step_summary(step.type, step.config),
                "outputs": outputs_for(step.type, step.config),
                "position": _position(by_key[step.id]),
            }
            for step in draft.steps
        ],
        "connections": [
            {"source": c.source, "target": c.target, "label": c.label} for c in draft.connections
        ],
        # the canvas speaks of steps by name; `step` keeps the id it marks
        "problems": [
            {**finding.to_dict(), "message": in_words(finding.problem, names)}
            for finding in check_draft(draft)
        ],
    }


def _position(step: SequenceStep) -> dict[str, int] | None:
    if step.ui_position_x is None or step.ui_position_y is None:
        return None
    return {"x": step.ui_position_x, "y": step.ui_position_y}


def _ordered(sequence: Sequence) -> list[SequenceStep]:
    return sorted(sequence.steps, key=lambda step: step.sort_order)


# --- Edits ---------------------------------------------------------------------------------


def add_step(
    sequence: Sequence, step_type: str, position: tuple[int, int], version: int
) -> tuple[str, dict[str, Any]]:
    _check_type(step_type)
    _claim_version(sequence, version)
    step = _new_step(sequence, step_type, position)
    return step.key, _commit(sequence)


def insert_step(
    sequence: Sequence, step_type: str, link: tuple[str, str, str | None], version: int
) -> tuple[str, dict[str, Any]]:
    """A new step in the middle of the connection `link` (source, target, label): the source
    leads to it on the same path and it leads to the target on its first path. It takes the
    target's place and every step from that height down moves one row lower, so the flow
    keeps reading top to bottom without overlaps."""
    source, target, label = link
    source_step, target_step = _step(sequence, source), _step(sequence, target)
    conn = _connection(sequence, source_step, target_step, label)
    if conn is None:
        raise EditRefused(f"{source!r} does not lead to {target!r} there", "insert", source)
    _check_type(step_type)
    ports = outputs_for(step_type, KINDS[step_type].default_config)
    if not ports:
        message = f"{KINDS[step_type].label} ends the sequence, so it cannot go between two steps"
        raise EditRefused(message, "type")
    _claim_version(sequence, version)
    x, top = target_step.ui_position_x or 0, target_step.ui_position_y or 0
    for step in sequence.steps:
        if step.ui_position_y is not None and step.ui_position_y >= top:
            step.ui_position_y += ROW_HEIGHT
    step = _new_step(sequence, step_type, (x, top))
    sequence.connections.remove(conn)
    db.session.flush()  # the new step's id, for its connections
    _append_connection(sequence, source_step, step, label)
    _append_connection(sequence, step, target_step, ports[0])
    return step.key, _commit(sequence)


def _check_type(step_type: str) -> None:
    if step_type not in STEP_TYPES:
        expected = ", ".join(STEP_TYPES)
        raise EditRefused(f"unknown step type {step_type!r}; expected one of {expected}", "type")


def _new_step(sequence: Sequence, step_type: str, position: tuple[int, int]) -> SequenceStep:
    step = SequenceStep(
        key=_free_key(sequence, step_type),
        sequence_id=sequence.id,
        type=step_type,
        config=copy.deepcopy(dict(KINDS[step_type].default_config)),
        ui_position_x=position[0],
        ui_position_y=position[1],
        sort_order=max((s.sort_order for s in sequence.steps), default=-1) + 1,
    )
    sequence.steps.append(step)
    return step


def _free_key(sequence: Sequence, step_type: str) -> str:
    taken = {step.key for step in sequence.steps}
    number = 1
    while f"{step_type}_{number}" in taken:
        number += 1
    return f"{step_type}_{number}"


def move_step(
    sequence: Sequence, step_id: str, position: tuple[int, int], version: int
) -> dict[str, Any]:
    step = _step(sequence, step_id)
    _claim_version(sequence, version)
    step.ui_position_x, step.ui_position_y = position
    return _commit(sequence)


def update_step(
    sequence: Sequence, step_id: str, *, name: str | None, config: dict[str, Any], version: int
) -> dict[str, Any]:
    """Store a step's settings as given (the panel validates them first; an email's body
    is made from its blocks); connections on ports the new settings no longer have (a
    renamed split path) are removed."""
    step = _step(sequence, step_id)
    _claim_version(sequence, version)
    step.name = name or None
    step.config = with_generated_body(config) if step.type == "email" else config
    ports = outputs_for(step.type, config)
    for conn in list(sequence.connections):
        if conn.source_step_id == step.id and conn.condition_label not in ports:
            sequence.connections.remove(conn)
    return _commit(sequence)


def update_settings(
    sequence: Sequence,
    *,
    version: int,
    name: str,
    description: str | None,
    trigger: dict[str, Any] | None,
    exit: dict[str, Any] | None,
    re_enrollment: dict[str, Any] | None,
    settings: dict[str, Any],
    goals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    _claim_version(sequence, version)
    if goals is not None:
        sequence.goals_config = goals
    sequence.name = name
    sequence.description = description or None
    sequence.trigger_config = trigger
    sequence.exit_config = exit
    sequence.re_enrollment_config = re_enrollment
    sequence.settings = settings
    return _commit(sequence)


def connect(
    sequence: Sequence, source: str, target: str, label: str | None, version: int
) -> dict[str, Any]:
    source_step, target_step = _step(sequence, source), _step(sequence, target)
    _check_connection(sequence, source_step, target_step, label)
    _claim_version(sequence, version)
    _append_connection(sequence, source_step, target_step, label)
    return _commit(sequence)


def _check_connection(
    sequence: Sequence, source: SequenceStep, target: SequenceStep, label: str | None
) -> None:
    if source.id == target.id:
        raise EditRefused("a step cannot lead to itself", "target", source.key)
    ports = outputs_for(source.type, source.config)
    if label not in ports:
        raise EditRefused(_port_message(source, ports, label), "label", source.key)
    taken = next(
        (
            c
            for c in sequence.connections
            if c.source_step_id == source.id and c.condition_label == label
        ),
        None,
    )
    if taken is not None:
        path = f"'{label}' path" if label else "output"
        raise EditRefused(
            f"the {path} of {source.key!r} already leads to another step; "
            "remove that connection first",
            "label",
            source.key,
        )


def _port_message(step: SequenceStep, ports: list[str | None], label: str | None) -> str:
    if not ports:
        return f"{step.type} {step.key!r} ends the sequence, so nothing can follow it"
    named = ", ".join(repr(p) for p in ports if p is not None)
    if named:
        return f"{step.type} {step.key!r} has no {label!r} path; its paths are {named}"
    return f"{step.type} {step.key!r} has one unlabelled output, not a {label!r} path"


def _append_connection(
    sequence: Sequence, source: SequenceStep, target: SequenceStep, label: str | None
) -> None:
    sequence.connections.append(
        SequenceConnection(
            sequence_id=sequence.id,
            source_step_id=source.id,
            target_step_id=target.id,
            condition_label=label,
            sort_order=max((c.sort_order for c in sequence.connections), default=-1) + 1,
        )
    )


def disconnect(
    sequence: Sequence, source: str, target: str, label: str | None, version: int
) -> dict[str, Any]:
    source_step, target_step = _step(sequence, source), _step(sequence, target)
    conn = _connection(sequence, source_step, target_step, label)
    if conn is None:
        raise EditRefused(f"{source!r} does not lead to {target!r} there", "connections", source)
    _claim_version(sequence, version)
    sequence.connections.remove(conn)
    return _commit(sequence)


def _connection(
    sequence: Sequence, source: SequenceStep, target: SequenceStep, label: str | None
) -> SequenceConnection | None:
    return next(
        (
            c
            for c in sequence.connections
            if c.source_step_id == source.id
            and c.target_step_id == target.id
            and c.condition_label == label
        ),
        None,
    )


def delete_step(
    sequence: Sequence, step_id: str, reconnect: bool, version: int
) -> tuple[str, dict[str, Any]]:
    """Remove a step and its connections; with `reconnect`, whatever led into it leads to
    its one next step instead. Returns a signed undo token and the new state."""
    step = _step(sequence, step_id)
    waiting = enrollments_on_steps(sequence, {step.key})
    if waiting:
        raise EditRefused(
            f"{waiting[step.key]} active enrollment(s) are on this step; it cannot be deleted",
            step=step.key,
        )
    incoming = [c for c in sequence.connections if c.target_step_id == step.id]
    outgoing = [c for c in sequence.connections if c.source_step_id == step.id]
    if reconnect and len(outgoing) != 1:
        raise EditRefused("only a step with exactly one next step can be bridged", step=step.key)
    _claim_version(sequence, version)
    key_of = {s.id: s.key for s in sequence.steps}
    removed = [_conn_dict(c, key_of) for c in incoming + outgoing]
    added: list[dict[str, Any]] = []
    for conn in incoming + outgoing:
        sequence.connections.remove(conn)
    if reconnect:
        successor = outgoing[0].target_step_id
        for conn in incoming:
            if conn.source_step_id != successor:
                source = next(s for s in sequence.steps if s.id == conn.source_step_id)
                target = next(s for s in sequence.steps if s.id == successor)
                _append_connection(sequence, source, target, conn.condition_label)
                added.append(
                    {"source": source.key, "target": target.key, "label": conn.condition_label}
                )
    snapshot = {
        "sequence": str(sequence.id),
        "step": {
            "id": step.key,
            "type": step.type,
            "name": step.name,
            "config": step.config,
            "position": _position(step),
            "sort_order": step.sort_order,
        },
        "removed": removed,
        "added": added,
    }
    sequence.steps.remove(step)
    return _undo_serializer().dumps(snapshot), _commit(sequence)


def restore_step(sequence: Sequence, token: str, version: int) -> dict[str, Any]:
    """Undo the last delete: put the step back with its settings and connections."""
    try:
        snapshot = _undo_serializer().loads(token)
    except BadSignature:
        raise EditRefused("this undo is not valid any more", "undo") from None
    if snapshot.get("sequence") != str(sequence.id):
        raise EditRefused("this undo belongs to another sequence", "undo")
    spec = snapshot["step"]
    if find_step(sequence, spec["id"]) is not None:
        raise EditRefused(f"a step {spec['id']!r} exists again; nothing to undo", step=spec["id"])
    _claim_version(sequence, version)
    position = spec.get("position") or {}
    restored = SequenceStep(
        key=spec["id"],
        sequence_id=sequence.id,
        type=spec["type"],
        name=spec.get("name"),
        config=spec.get("config") or {},
        ui_position_x=position.get("x"),
        ui_position_y=position.get("y"),
        sort_order=spec.get("sort_order", 0),
    )
    sequence.steps.append(restored)
    db.session.flush()
    by_key = {s.key: s for s in sequence.steps}
    for conn in snapshot["added"]:
        for existing in list(sequence.connections):
            if (
                existing.source_step_id == by_key.get(conn["source"], restored).id
                and existing.target_step_id == by_key.get(conn["target"], restored).id
                and existing.condition_label == conn["label"]
            ):
                sequence.connections.remove(existing)
    for conn in snapshot["removed"]:
        source, target = by_key.get(conn["source"]), by_key.get(conn["target"])
        if source is not None and target is not None:
            _append_connection(sequence, source, target, conn["label"])
    return _commit(sequence)


def lay_out(sequence: Sequence, version: int, only_missing: bool = False) -> dict[str, Any]:
    """Place steps automatically; with `only_missing`, only when some step has no position."""
    steps = _ordered(sequence)
    if only_missing and all(_position(step) for step in steps):
        return draft_state(sequence)
    draft = draft_of(sequence)
    positions = auto_layout(
        [step.key for step in steps],
        draft.connections,
        {step.key: outputs_for(step.type, step.config) for step in steps},
    )
    _claim_version(sequence, version)
    for step in steps:
        step.ui_position_x, step.ui_position_y = positions[step.key]
    return _commit(sequence)


# --- Helpers -------------------------------------------------------------------------------


def _step(sequence: Sequence, step_id: str) -> SequenceStep:
    step = find_step(sequence, step_id)
    if step is None:
        raise EditRefused(f"there is no step {step_id!r} in this sequence", "step", step_id)
    return step


def _claim_version(sequence: Sequence, version: int) -> None:
    """The shared version claim; a status refusal is an edit refused on `status` (422)."""
    try:
        claim_version(sequence, version)
    except NotEditable as exc:
        raise EditRefused(str(exc), "status") from None


def _commit(sequence: Sequence) -> dict[str, Any]:
    db.session.flush()
    state = draft_state(sequence)
    db.session.commit()
    return state


def _conn_dict(conn: SequenceConnection, key_of: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "source": key_of[conn.source_step_id],
        "target": key_of[conn.target_step_id],
        "label": conn.condition_label,
    }


def _undo_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_settings().secret_key, salt="builder-undo")
