"""Enrollment endpoints: an operator's interventions on one enrollment (pause, resume, skip
its wait, move it to a step, take it out), each recorded in the audit log with the token
that made it and the reason given."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp, json_body, owned
from app.models import ContactSequence
from app.services import enrollment as enrollment_service
from app.services import interventions
from app.services.interventions import Applied

MAX_STEP_KEY = 64
Action = Callable[..., Applied]


@api_bp.post("/enrollments/<enrollment_id>/pause")
def pause_enrollment(enrollment_id: str) -> Any:
    """Pause an active enrollment: it stays on its step and its queued emails are held."""
    return _intervene(enrollment_id, interventions.pause, "only an active one can be paused")


@api_bp.post("/enrollments/<enrollment_id>/resume")
def resume_enrollment(enrollment_id: str) -> Any:
    """Resume a paused enrollment: due now if its due time passed meanwhile."""
    return _intervene(enrollment_id, interventions.resume, "only a paused one can be resumed")


@api_bp.post("/enrollments/<enrollment_id>/skip-wait")
def skip_enrollment_wait(enrollment_id: str) -> Any:
    """End the wait (delay or wait_until) an active enrollment is on: its next step runs
    at the processor's next pass."""
    return _intervene(
        enrollment_id, interventions.skip_wait, "only an active one's wait can be skipped"
    )


@api_bp.post("/enrollments/<enrollment_id>/move")
def move_enrollment(enrollment_id: str) -> Any:
    """Move an active or paused enrollment to a step of its sequence's live version
    (`{"step": "<step id>"}`), due now."""
    found = owned(enrollment_service.get_enrollment, enrollment_id, "enrollment")
    step = json_body().get("step") if request.get_data() else None
    if not isinstance(step, str) or not step.strip() or len(step) > MAX_STEP_KEY:
        raise ApiError(422, "step must be the id of a step of the sequence (text)", "step")
    problem = interventions.move_target_problem(found.sequence_id, step.strip())
    if problem is not None:
        raise ApiError(422, str(problem), "step")
    move = partial(interventions.move, step_key=step.strip())
    return _intervene(
        enrollment_id, move, "re-enroll the contact to start a finished run again", found
    )


@api_bp.post("/enrollments/<enrollment_id>/exit")
def exit_enrollment(enrollment_id: str) -> Any:
    """End an active or paused enrollment as `exited`; its queued emails are not sent.
    409 when it has already finished. Optional body: `{"reason": "..."}`."""
    now = datetime.now(UTC)
    found = owned(enrollment_service.get_enrollment, enrollment_id, "enrollment")
    reason = _reason()
    text = "removed through the API" + (f": {reason}" if reason else "")
    ended = enrollment_service.exit_enrollment(
        g.workspace_id, found.id, text, now, g.actor, reason or None
    )
    if ended is None:
        raise ApiError(409, f"this enrollment has already finished ({found.status})")
    return jsonify(enrollment_service.state_to_dict(ended))


def _intervene(
    enrollment_id: str, action: Action, allowed: str, found: ContactSequence | None = None
) -> Any:
    """Apply `action` to the workspace's enrollment; 409 naming its status (or why it
    does not apply) when it cannot be applied, with `allowed` saying what can be."""
    found = found or owned(enrollment_service.get_enrollment, enrollment_id, "enrollment")
    reason = _reason()
    status = found.status
    done = action(g.workspace_id, [found.id], g.actor, reason or None, datetime.now(UTC))
    if not done.changed:
        why = next(iter(done.skipped), status)
        raise ApiError(409, f"this enrollment is {why}; {allowed}")
    return jsonify(enrollment_service.state_to_dict(_reloaded(found)))


def _reloaded(found: ContactSequence) -> ContactSequence:
    changed = enrollment_service.get_enrollment(found.workspace_id, found.id)
    assert changed is not None  # an intervention never deletes it
    return changed


def _reason() -> str:
    """The optional reason; an empty body means none."""
    if not request.get_data():
        return ""
    reason = json_body().get("reason", "")
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > interventions.MAX_REASON:
        raise ApiError(
            422, f"reason must be text of at most {interventions.MAX_REASON} characters", "reason"
        )
    return reason.strip()
