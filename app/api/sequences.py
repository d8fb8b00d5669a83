"""Sequence endpoints: define, read, replace, change status, enroll, list enrollments, and
steer an email step's A/B test (pick its winner, stop it)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp, json_body, owned
from app.api.versions import version_summary
from app.core import limits
from app.core.contact_input import json_value_problem
from app.extensions import db
from app.http.dates import date_range
from app.http.numbers import INT32_MAX, bounded_int
from app.models import AbTestDecision, Segment, Sequence, Workspace
from app.services import ab_tests, drafts, publishing, simulation
from app.services import analytics as analytics_service
from app.services import contacts as contact_service
from app.services import enrollment as enrollment_service
from app.services import sequences as sequence_service
from app.services.launch import activation_warnings
from app.services.versioning import NotEditable, VersionConflict

MIGRATE_SHAPE = "migrate maps each removed step id to a new step id, 'exit' or 'stay'"
MAX_DETAILS = 1000
"""Ids and skip details listed per enroll answer; a 100,000-contact segment gets counts."""


def _sequence(sequence_id: str) -> Sequence:
    """The sequence if it is in the token's workspace; 404 otherwise, whatever the reason."""
    return owned(sequence_service.get_sequence, sequence_id, "sequence")


def sequence_document(sequence: Sequence) -> dict[str, Any]:
    """The live definition; `version` is the live version's number once published (the
    draft's edit count before), `draft_version` the number a started draft would get."""
    document = sequence_service.export_definition(sequence)
    body: dict[str, Any] = {
        "id": str(sequence.id),
        "status": sequence.status,
        "version": api_version(sequence),
    }
    if sequence.published_version is not None and drafts.draft_for(sequence) is not None:
        body["draft_version"] = sequence.published_version + 1
    return {**body, **document}


def api_version(sequence: Sequence) -> int:
    return sequence.published_version or sequence.version


@api_bp.post("/sequences")
def create_sequence() -> tuple[Any, int]:
    definition = sequence_service.parse_input(json_body())
    workspace = db.session.get_one(Workspace, g.workspace_id)
    sequence = sequence_service.create_sequence(workspace, definition)
    return jsonify(sequence_document(sequence)), 201


@api_bp.get("/sequences")
def list_sequences() -> Any:
    rows = sequence_service.list_sequences(g.workspace_id)
    return jsonify(
        {
            "sequences": [
                {
                    "id": str(seq.id),
                    "name": seq.name,
                    "status": seq.status,
                    "version": api_version(seq),
                    "active_enrollments": active,
                }
                for seq, active in rows
            ]
        }
    )


@api_bp.get("/sequences/<sequence_id>")
def get_sequence(sequence_id: str) -> Any:
    return jsonify(sequence_document(_sequence(sequence_id)))


@api_bp.patch("/sequences/<sequence_id>")
def patch_sequence(sequence_id: str) -> Any:
    """Merge the given top-level keys over the current definition, then replace it whole, on
    the `version` sent (or the one just read). A published sequence gets its next version,
    published at once, with `migrate` saying where the contacts on removed steps go."""
    sequence = _sequence(sequence_id)
    changes = json_body()
    seen = changes.pop("version", None)
    migrate = changes.pop("migrate", None) or {}
    note = changes.pop("note", None)
    if seen is None:
        seen = api_version(sequence)
    if type(seen) is not int:
        raise ApiError(422, "version must be the integer version GET answered", "version")
    if not isinstance(migrate, dict):
        raise ApiError(422, MIGRATE_SHAPE, "migrate")
    if note is not None and not isinstance(note, str):
        raise ApiError(422, "note must be text", "note")
    if sequence.published_version is not None:
        return _publish(sequence, changes, migrate, note, seen)
    try:
        sequence_service.patch_definition(sequence, changes, seen)
    except VersionConflict as exc:
        raise ApiError(
            409,
            f"the sequence changed since version {exc.seen} (now {exc.current}); "
            "reload it and apply your change again",
            "version",
        ) from None
    except NotEditable as exc:
        raise ApiError(409, str(exc), "status") from None
    return jsonify(sequence_document(sequence))


def _publish(
    sequence: Sequence,
    changes: dict[str, Any],
    migrate: dict[str, Any],
    note: str | None,
    seen: int,
) -> Any:
    if sequence.status == "archived":
        raise ApiError(409, "the sequence is archived: it is read-only", "status")
    merged = {**sequence_service.export_definition(sequence), **changes}
    definition = sequence_service.parse_input(merged)
    try:
        version = publishing.publish(
            sequence,
            definition,
            migrate,
            actor=g.actor,
            note=note,
            now=datetime.now(UTC),
            seen=seen,
        )
    except publishing.PublishConflict as exc:
        raise ApiError(409, str(exc), "version") from None
    return jsonify({**sequence_document(sequence), "published": version_summary(version)})


def _status_change(sequence_id: str, action: str) -> Any:
    sequence = _sequence(sequence_id)
    try:
        sequence_service.set_status(sequence, action, datetime.now(UTC))
    except sequence_service.SequenceStateError as exc:
        raise ApiError(409, str(exc), "status") from None
    body: dict[str, Any] = {"id": str(sequence.id), "status": sequence.status}
    if action != "pause":  # not refused: the segment or target may be created after
        body["warnings"] = [
            {"message": p.message, "field": p.field, "step": p.step}
            for p in activation_warnings(sequence)
        ]
    return jsonify(body)


@api_bp.post("/sequences/<sequence_id>/activate")
def activate(sequence_id: str) -> Any:
    return _status_change(sequence_id, "activate")


@api_bp.post("/sequences/<sequence_id>/pause")
def pause(sequence_id: str) -> Any:
    return _status_change(sequence_id, "pause")


@api_bp.post("/sequences/<sequence_id>/resume")
def resume(sequence_id: str) -> Any:
    return _status_change(sequence_id, "resume")


@api_bp.post("/sequences/<sequence_id>/enroll")
def enroll(sequence_id: str) -> Any:
    sequence = _sequence(sequence_id)
    body = json_body()
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise ApiError(
            400, 'context must be an object, e.g. {"trigger": {"properties": {}}}', "context"
        )
    problem = json_value_problem(context, limits.CONTEXT)
    if problem is not None:
        raise ApiError(422, f"context {problem.removeprefix('the value ')}", "context")
    now = datetime.now(UTC)
    if "segment" in body:
        segment = _segment(body["segment"])
        reason = f"added by API with segment {segment.name!r}"
        done = enrollment_service.enroll_segment(sequence, segment.id, now, reason)
        skipped = done.skipped
    else:
        try:
            contacts, skipped = contact_service.resolve_targets(g.workspace_id, body)
        except contact_service.ContactError as exc:
            raise ApiError(400, str(exc), exc.field) from None
        done = enrollment_service.enroll_contacts(sequence, contacts, now, "added by API", context)
        skipped = skipped + done.skipped
    return jsonify(
        {
            "enrolled": len(done.enrolled),
            "re_enrolled": done.re_enrolled,
            "skipped": len(skipped),
            "skipped_reasons": dict(Counter(item["reason"] for item in skipped)),
            "enrolled_contact_ids": [str(i) for i in done.enrolled[:MAX_DETAILS]],
            "skipped_details": skipped[:MAX_DETAILS],
            "details_truncated": max(len(done.enrolled), len(skipped)) > MAX_DETAILS,
        }
    )


@api_bp.get("/sequences/<sequence_id>/enrollments")
def enrollments(sequence_id: str) -> Any:
    """A page of enrollments, newest first: `?limit=` (at most 1000) and `?offset=`."""
    sequence = _sequence(sequence_id)
    limit = bounded_int(request.args.get("limit"), "limit", 100, 1, 1000)
    offset = bounded_int(request.args.get("offset"), "offset", 0, 0, INT32_MAX)
    rows = enrollment_service.list_enrollments(g.workspace_id, sequence.id, limit + 1, offset)
    history = enrollment_service.earlier_runs(r.ContactSequence.id for r in rows[:limit])
    body: dict[str, Any] = {
        "enrollments": [
            enrollment_service.enrollment_to_dict(r, history[r.ContactSequence.id])
            for r in rows[:limit]
        ],
        "next_offset": offset + limit if len(rows) > limit else None,
    }
    return jsonify(body)


@api_bp.post("/sequences/<sequence_id>/simulate")
def simulate(sequence_id: str) -> Any:
    """The timeline a hypothetical contact would take through the live definition (or a
    published `version`), on a simulated clock, given hypothetical events; nothing is
    written or sent."""
    sequence = _sequence(sequence_id)
    try:
        wanted = simulation.parse_request(json_body(), simulation.email_step_keys(sequence))
        timeline = simulation.simulate(sequence, wanted)
    except simulation.SimulationInputError as exc:
        raise ApiError(422, exc.message, exc.field) from None
    return jsonify({"timeline": [line.as_json() for line in timeline]})


@api_bp.get("/sequences/<sequence_id>/analytics")
def analytics(sequence_id: str) -> Any:
    """Per-step counts: contacts that took each step, wait there now, and its emails.

    Email steps also carry `sent` (sent or captured), `opened`, `clicked`, `replied`,
    `unsubscribed` and `bounced` (messages with such an event at least once; `bot_click`
    is not a click) and `open_rate`/`click_rate` (0..1, null with nothing sent);
    `flow_order` lists step keys as a contact meets them, and `summary` has the totals,
    rates and `converted` enrollments with their `conversion_rate`. `?from=` and `?to=`
    (YYYY-MM-DD, UTC days, both included) narrow the figures to a date range."""
    sequence = _sequence(sequence_id)
    dates = date_range(request.args.get("from"), request.args.get("to"))
    return jsonify(analytics_service.sequence_analytics(sequence, dates.since, dates.until))


@api_bp.post("/sequences/<sequence_id>/steps/<step_id>/winner")
def pick_winner(sequence_id: str, step_id: str) -> Any:
    """Decide the step's test by hand: every new send of the step uses `variant`."""
    sequence = _sequence(sequence_id)
    variant = json_body().get("variant")
    if not isinstance(variant, str) or not variant.strip():
        raise ApiError(
            422,
            "variant must be the key of one of the step's variants, e.g. 'B'",
            "variant",
            step_id,
        )
    _tested_step(sequence, step_id)
    try:
        decision = ab_tests.pick_winner(sequence, step_id, variant, g.actor, datetime.now(UTC))
    except ab_tests.AbTestError as exc:  # the step and its test exist: the variant does not
        raise ApiError(422, str(exc), "variant", step_id) from None
    return jsonify(decision_to_dict(step_id, decision))


@api_bp.post("/sequences/<sequence_id>/steps/<step_id>/ab-test/stop")
def stop_test(sequence_id: str, step_id: str) -> Any:
    """Stop the step's test without a winner: sends stay split by weight."""
    sequence = _sequence(sequence_id)
    _tested_step(sequence, step_id)
    decision = ab_tests.stop_test(sequence, step_id, g.actor, datetime.now(UTC))
    return jsonify(decision_to_dict(step_id, decision))


def _tested_step(sequence: Sequence, step_id: str) -> None:
    """422 naming the step when it is not in the sequence or has no A/B test."""
    step = next((s for s in sequence.steps if s.key == step_id), None)
    if step is None:
        raise ApiError(422, f"step '{step_id}' is not in this sequence", "step_id", step_id)
    if ab_tests.tested_step(step, sequence) is None:
        message = f"step '{step_id}' has no A/B test: give it 'variants' and 'ab_test'"
        raise ApiError(422, message, "config.ab_test", step_id)


def decision_to_dict(step_key: str, decision: AbTestDecision) -> dict[str, Any]:
    return {
        "step": step_key,
        "state": decision.state,
        "winner": decision.winner,
        "metric": decision.metric,
        "decided_at": decision.decided_at.isoformat(),
        "decided_by": decision.decided_by,
        "actor": decision.actor,
        "figures": decision.figures,
    }


def _segment(name: Any) -> Segment:
    """The workspace's segment of this name; 422 naming the field when there is none."""
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "segment must be a segment's name, e.g. 'New Signups'", "segment")
    segment = db.session.scalar(Segment.in_workspace(g.workspace_id, Segment.name == name))
    if segment is None:
        raise ApiError(422, f"no segment named {name!r} in this workspace", "segment")
    return segment
