"""An operator's interventions from the pages: the buttons of one enrollment (pause, resume,
skip wait, move to a step, send a failed email again; removing it is pages.exit_enrollment)
and the same on every enrollment a filter selects, after a preview of how many it changes.
Each is recorded in the audit log under the signed-in user's email."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from app.extensions import htmx
from app.models import ContactSequence
from app.services import enrollment as enrollment_service
from app.services import enrollment_query, interventions
from app.services.enrollment_query import EnrollmentFilter, FilterError
from app.services.interventions import Applied, Options
from app.web import web_bp
from app.web.back_links import local_path

DONE = {
    "pause": "Paused: it stays on its step and its queued emails are held until resumed.",
    "resume": "Resumed: it goes on from its step.",
    "skip_wait": "Wait skipped: its next step runs with the next processor pass.",
    "move": "Moved: it runs from that step with the next processor pass.",
    "resend": "Queued again: its failed emails go out with the next dispatch.",
}
VERBS = {
    "pause": ("Pause", "pause", "paused"),
    "resume": ("Resume", "resume", "resumed"),
    "skip_wait": ("Skip the wait of", "skip the wait of", "skipped the wait of"),
    "move": ("Move", "move", "moved"),
    "exit": ("Remove", "remove", "removed"),
    "resend": (
        "Re-send the failed emails of",
        "re-send the failed emails of",
        "re-sent the failed emails of",
    ),
}
"""How each action reads in a sentence: button, "This will ...", "... 40 enrollments"."""
ASKED_FIRST = frozenset({"move", "resend"})
"""Single-enrollment actions confirmed first (removing one is asked by pages.exit_enrollment)."""


@web_bp.app_template_global()
def intervention_options(enrollment: ContactSequence) -> Options:
    """What enrollments/_interventions.html offers for this enrollment."""
    return interventions.options_for(enrollment)


@web_bp.post('/enrollments/<uuid:enrollment_id>/<any(pause,resume,"skip-wait",move,resend):act>')
@login_required
def intervene(enrollment_id: uuid.UUID, act: str) -> Any:
    """One button of the partial: applied, then back to `next` (a local path) or the
    enrollment's page, with what happened. Moving and re-sending are asked first: by
    hx-confirm when htmx sent the form, else by a confirmation page posting `confirmed`."""
    workspace_id = current_user.workspace_id
    found = enrollment_service.get_enrollment(workspace_id, enrollment_id)
    if found is None:
        abort(404)
    action = act.replace("-", "_")
    back = local_path(request.form.get("next")) or f"/enrollments/{enrollment_id}"
    step = (request.form.get("step") or "").strip() or None
    problem = _reason_problem(request.form.get("reason"))
    if problem is None and action == "move":
        problem = _step_problem(found.sequence_id, step)
    if problem is not None:
        flash(problem, "error")
        return redirect(back)
    if action in ASKED_FIRST and not htmx and request.form.get("confirmed") != "yes":
        return render_template(
            "enrollments/confirm.html",
            question=f"{VERBS[action][0]} this enrollment"
            + (f" to step '{step}'" if step else "")
            + "?",
            target=request.path,
            fields={"next": back, "step": step or "", "reason": request.form.get("reason", "")},
            button=VERBS[action][0],
            back=back,
        )
    reason = (request.form.get("reason") or "").strip() or None
    now = datetime.now(UTC)
    done = interventions.apply(
        action, workspace_id, [found.id], current_user.email, reason, now, step
    )
    if done.changed:
        flash(DONE[action], "ok")
    else:
        why = next(iter(done.skipped), found.status)
        flash(f"Nothing was done: this enrollment is {why}.", "error")
    return redirect(back)


@web_bp.get("/enrollments/bulk")
@login_required
def bulk_preview() -> Any:
    """The enrollments a filter selects (the list's query parameters), an action to take
    on them and, once chosen, how many it will change and why it leaves the others."""
    return _bulk(request.args, apply=False)


@web_bp.post("/enrollments/bulk")
@login_required
def bulk_apply() -> Any:
    """Apply the previewed action to every enrollment the filter selects now; back to the
    list with what was done and what was left alone."""
    return _bulk(request.form, apply=True)


def _bulk(values: MultiDict[str, str], apply: bool) -> Any:
    workspace_id = current_user.workspace_id
    now = datetime.now(UTC)
    try:
        flt = enrollment_query.parse(values)
    except FilterError as exc:
        return _bulk_page(EnrollmentFilter(), values, exc.message, now), 422
    if enrollment_query.unknown_reference(workspace_id, flt) is not None:
        abort(404)
    action = values.get("action") or None
    to_step = (values.get("to_step") or "").strip() or None
    problem = _bulk_problem(flt, action, to_step, values.get("why"))
    if problem is not None or not apply or action is None:
        page = _bulk_page(flt, values, problem, now, action, to_step)
        return (page, 422) if problem else page
    selection = enrollment_query.matching_ids(workspace_id, flt, now)
    why = (values.get("why") or "").strip() or None
    done = interventions.apply(
        action, workspace_id, selection, current_user.email, why, now, to_step
    )
    flash(_summary(action, done), "ok" if done.changed else "error")
    return redirect(url_for("web.enrollments", **flt.to_args()))


def _bulk_problem(
    flt: EnrollmentFilter, action: str | None, to_step: str | None, why: str | None
) -> str | None:
    if action is not None and action not in interventions.ACTIONS:
        return f"action must be one of {', '.join(interventions.ACTIONS)}"
    if action == "move" and flt.sequence_id is None:
        return "Filter by one sequence first: a move goes to one of its steps."
    if action == "move" and flt.sequence_id is not None:
        return _step_problem(flt.sequence_id, to_step) or _reason_problem(why)
    return _reason_problem(why)


def _bulk_page(
    flt: EnrollmentFilter,
    values: MultiDict[str, str],
    problem: str | None,
    now: datetime,
    action: str | None = None,
    to_step: str | None = None,
) -> str:
    workspace_id = current_user.workspace_id
    selection = enrollment_query.matching_ids(workspace_id, flt, now)
    foreseen = None
    if action is not None and problem is None:
        foreseen = interventions.forecast(workspace_id, selection, action, now, to_step)
    steps = interventions.live_steps(flt.sequence_id) if flt.sequence_id else []
    return render_template(
        "enrollments/bulk.html",
        args=flt.to_args(),
        total=enrollment_query.count(workspace_id, flt, now),
        cap=enrollment_query.COUNT_CAP,
        action=action,
        to_step=to_step,
        why=values.get("why", ""),
        actions=interventions.ACTIONS,
        verbs=VERBS,
        steps=steps,
        foreseen=foreseen,
        problem=problem,
    )


def _summary(action: str, done: Applied) -> str:
    """ "Paused 40 enrollments; 8 left as they were (5 completed, 3 exited)." """
    text = f"{VERBS[action][2].capitalize()} {done.changed} enrollment" + (
        "s" if done.changed != 1 else ""
    )
    left = sum(done.skipped.values())
    if left:
        reasons = ", ".join(f"{n} {why}" for why, n in done.skipped.items())
        text += f"; {left} left as they were ({reasons})"
    return text + "."


def _reason_problem(reason: str | None) -> str | None:
    if reason is not None and len(reason.strip()) > interventions.MAX_REASON:
        return f"The reason must be at most {interventions.MAX_REASON} characters."
    return None


def _step_problem(sequence_id: uuid.UUID, step: str | None) -> str | None:
    if not step:
        return "Choose the step to move to."
    found = interventions.move_target_problem(sequence_id, step)
    return str(found) if found else None
