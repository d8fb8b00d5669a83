"""The builder page and the canvas's JSON edits (see docs/builder.md for the contract)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

from flask import abort, jsonify, render_template, request
from flask_login import current_user, login_required

from app.core import limits
from app.core.steps import KINDS
from app.http.numbers import INT32_MAX, ParameterError, bounded_int
from app.models import Sequence
from app.services import builder, drafts
from app.services.launch import MAX_TEST_RECIPIENTS, launch_checklist, ready_to_launch
from app.services.sequences import get_sequence
from app.web import web_bp
from app.web.form_toolkit import timezone_names


def owned_sequence(sequence_id: uuid.UUID) -> Sequence:
    """The sequence if it belongs to the signed-in user's workspace, else 404."""
    sequence = get_sequence(current_user.workspace_id, sequence_id)
    if sequence is None:
        abort(404)
    return sequence


@web_bp.get("/sequences/<uuid:sequence_id>")
@login_required
def builder_page(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    if builder.is_editable(sequence):
        # Graphs created through the API or an import arrive without positions.
        state = builder.lay_out(sequence, sequence.version, only_missing=True)
    else:
        state = builder.draft_state(sequence)
    items = launch_checklist(sequence)
    return render_template(
        "builder/page.html",
        sequence=sequence,
        state=state,
        # a published sequence's draft of its next version, or a draft's live sequence
        draft=drafts.draft_for(sequence) if sequence.published_version else None,
        live=drafts.live_of(sequence),
        palette=KINDS.values(),
        kinds={kind.type: {"label": kind.label, "colour": kind.colour} for kind in KINDS.values()},
        checklist=items,
        ready=ready_to_launch(items),
        max_recipients=MAX_TEST_RECIPIENTS,
        timezones=timezone_names(),
    )


@web_bp.get("/sequences/<uuid:sequence_id>/graph")
@login_required
def graph_state(sequence_id: uuid.UUID) -> Any:
    return jsonify(state=builder.draft_state(owned_sequence(sequence_id)))


@web_bp.post("/sequences/<uuid:sequence_id>/graph/steps")
@login_required
def graph_add_step(sequence_id: uuid.UUID) -> Any:
    """A new step where it was dropped, or, with `insert`, in the middle of that connection."""
    body = _body()
    step_type = str(body.get("type"))
    if body.get("insert") is not None:
        link = _edge(body["insert"] if isinstance(body["insert"], dict) else {}, "insert")
        return _edit(
            sequence_id,
            lambda seq, version: _added(builder.insert_step(seq, step_type, link, version)),
        )
    position = _position(body)
    return _edit(
        sequence_id,
        lambda seq, version: _added(builder.add_step(seq, step_type, position, version)),
    )


def _added(result: tuple[str, dict[str, Any]]) -> Any:
    key, state = result
    return jsonify(step=key, state=state), 201


@web_bp.patch("/sequences/<uuid:sequence_id>/graph/steps/<step_id>")
@login_required
def graph_move_step(sequence_id: uuid.UUID, step_id: str) -> Any:
    body = _body()
    return _edit(
        sequence_id,
        lambda seq, version: jsonify(
            state=builder.move_step(seq, step_id, _position(body), version)
        ),
    )


@web_bp.delete("/sequences/<uuid:sequence_id>/graph/steps/<step_id>")
@login_required
def graph_delete_step(sequence_id: uuid.UUID, step_id: str) -> Any:
    reconnect = bool(_body().get("reconnect"))

    def delete(seq: Sequence, version: int) -> Any:
        undo, state = builder.delete_step(seq, step_id, reconnect, version)
        return jsonify(undo=undo, state=state)

    return _edit(sequence_id, delete)


@web_bp.post("/sequences/<uuid:sequence_id>/graph/restore")
@login_required
def graph_restore(sequence_id: uuid.UUID) -> Any:
    token = str(_body().get("undo") or "")
    return _edit(
        sequence_id, lambda seq, version: jsonify(state=builder.restore_step(seq, token, version))
    )


@web_bp.post("/sequences/<uuid:sequence_id>/graph/connections")
@login_required
def graph_connect(sequence_id: uuid.UUID) -> Any:
    source, target, label = _edge(_body())
    return _edit(
        sequence_id,
        lambda seq, version: (
            jsonify(state=builder.connect(seq, source, target, label, version)),
            201,
        ),
    )


@web_bp.delete("/sequences/<uuid:sequence_id>/graph/connections")
@login_required
def graph_disconnect(sequence_id: uuid.UUID) -> Any:
    source, target, label = _edge(_body())
    return _edit(
        sequence_id,
        lambda seq, version: jsonify(state=builder.disconnect(seq, source, target, label, version)),
    )


@web_bp.post("/sequences/<uuid:sequence_id>/graph/layout")
@login_required
def graph_layout(sequence_id: uuid.UUID) -> Any:
    return _edit(sequence_id, lambda seq, version: jsonify(state=builder.lay_out(seq, version)))


def _edit(sequence_id: uuid.UUID, apply: Callable[[Sequence, int], Any]) -> Any:
    """Run one edit with the version the editor saw; conflicts and refusals become JSON."""
    sequence = owned_sequence(sequence_id)
    try:
        return apply(sequence, editor_version())
    except (builder.VersionConflict, builder.EditRefused) as exc:
        return refusal(exc)


def refusal(exc: builder.VersionConflict | builder.EditRefused) -> Any:
    """A stale editor gets 409, an impossible edit 422, both as JSON naming the step."""
    if isinstance(exc, builder.VersionConflict):
        return _error(409, str(exc))
    return _error(422, exc.message, exc.field, exc.step)


def editor_version() -> int:
    """The version the editor last saw: `X-Sequence-Version`, or a form's `version` field."""
    raw = request.headers.get("X-Sequence-Version") or request.form.get("version")
    if not raw:
        abort(_error(400, "X-Sequence-Version header is required", "version"))
    try:
        return bounded_int(raw, "X-Sequence-Version", 0, 0, INT32_MAX)
    except ParameterError as exc:
        abort(_error(400, str(exc.description), "version"))


def _error(status: int, message: str, field: str | None = None, step: str | None = None) -> Any:
    response = jsonify(error={"message": message, "field": field, "step": step})
    response.status_code = status
    response.vary.add("HX-Request")  # panels ask for fragments at the same URLs
    return response


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(_error(400, "send a JSON object"))
    return body


def _position(body: dict[str, Any]) -> tuple[int, int]:
    """Canvas coordinates: finite numbers within `limits.POSITION` (the columns are integers)."""
    position = body.get("position")
    try:
        x, y = float(position["x"]), float(position["y"])
    except (TypeError, KeyError, ValueError):
        abort(_error(422, "position needs numbers x and y", "position"))
    if not all(math.isfinite(v) and abs(v) < limits.POSITION for v in (x, y)):
        message = f"position x and y must be between -{limits.POSITION} and {limits.POSITION}"
        abort(_error(422, message, "position"))
    return round(x), round(y)


def _edge(body: dict[str, Any], field: str = "") -> tuple[str, str, str | None]:
    source, target, label = body.get("source"), body.get("target"), body.get("label")
    where = f"{field}." if field else ""
    if not isinstance(source, str) or not isinstance(target, str):
        message = "a connection needs a source and a target step id"
        abort(_error(422, message, f"{where}source"))
    if label is not None and not isinstance(label, str):
        abort(_error(422, "label must be text or null", f"{where}label"))
    return source, target, label or None
