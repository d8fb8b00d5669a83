"""The engine health page: the periodic passes, the lag, what is stuck in this workspace,
and RQ's queues, workers and failed jobs (with requeue) when Redis is used. htmx reloads
its panel every 10 seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required
from redis.exceptions import RedisError

from app.extensions import htmx
from app.services import engine_health
from app.web import web_bp

MAX_JOB_ID = 128


@web_bp.get("/health")
@login_required
def health() -> Any:
    report = engine_health.engine_health(datetime.now(UTC), current_user.workspace_id)
    template = "health/_panel.html" if htmx else "health/index.html"
    response = make_response(render_template(template, health=report))
    response.vary.add("HX-Request")
    return response


@web_bp.post("/health/failed-jobs/<job_id>/requeue")
@login_required
def requeue_failed_job(job_id: str) -> Any:
    if len(job_id) > MAX_JOB_ID:
        abort(404)
    try:
        requeued = engine_health.requeue_failed(job_id)
    except engine_health.RedisNotUsed:
        abort(404)
    except RedisError:
        flash("Redis did not answer: nothing was requeued.", "error")
        return redirect(url_for("web.health"))
    if requeued:
        flash(f"Job {job_id} is back on its queue: a worker runs it next.", "ok")
    else:
        flash(f"Job {job_id} is not a failed job any more; nothing was requeued.", "error")
    return redirect(url_for("web.health"))


@web_bp.post("/health/failed-jobs/requeue-all")
@login_required
def requeue_all_failed_jobs() -> Any:
    try:
        count = engine_health.requeue_all_failed()
    except engine_health.RedisNotUsed:
        abort(404)
    except RedisError:
        flash("Redis did not answer: nothing was requeued.", "error")
        return redirect(url_for("web.health"))
    flash(f"{count} failed job(s) back on their queues.", "ok")
    return redirect(url_for("web.health"))
