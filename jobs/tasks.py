"""The RQ entry points of the periodic passes (app.services.scheduling does the work,
app.schedule's jobs record each run).

Each reads the clock once, here, unless `now` is given (ISO 8601) to replay a moment, as
tests and operators sometimes need. `app.schedule` says how often each one runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import has_app_context

from app.schedule import JOBS_BY_NAME
from jobs.worker import worker_app


def _run(name: str, now: str | None) -> str:
    """Run the named pass, recorded in `job_runs`, and keep its report's text as the job's
    result; reuse the caller's app context, else the worker process's one app."""
    moment = datetime.fromisoformat(now).astimezone(UTC) if now else datetime.now(UTC)
    if has_app_context():
        return JOBS_BY_NAME[name](moment).text
    with worker_app().app_context():
        return JOBS_BY_NAME[name](moment).text


def process_sequences(now: str | None = None) -> str:
    """The sequence processor: advance every due enrollment."""
    return _run("process_sequences", now)


def dispatch_mail(now: str | None = None) -> str:
    """The mail dispatcher: send every queued message that is due."""
    return _run("dispatch_mail", now)


def deliver_calls(now: str | None = None) -> str:
    """The call delivery job: make every outside call (webhook, ...) that is due."""
    return _run("deliver_calls", now)


def purge_event_receipts(now: str | None = None) -> str:
    """Forget expired event receipts and tracking claims."""
    return _run("purge_event_receipts", now)


def process_contact_imports(now: str | None = None) -> str:
    """The next chunk of the oldest unfinished CSV import of contacts."""
    return _run("process_contact_imports", now)


def refresh_segments(now: str | None = None) -> str:
    """Re-evaluate rule segments for everyone."""
    return _run("refresh_segments", now)


def monitor_goals(now: str | None = None) -> str:
    """The goal monitor: convert goals no event announced."""
    return _run("monitor_goals", now)


def evaluate_ab_tests(now: str | None = None) -> str:
    """The A/B evaluation: decide the tests that can be decided."""
    return _run("evaluate_ab_tests", now)


def poll_inboxes(now: str | None = None) -> str:
    """The connected inboxes: read every mailbox's new messages."""
    return _run("poll_inboxes", now)


def retain_history(now: str | None = None) -> str:
    """Retention: trim the history of finished work older than RETENTION_DAYS."""
    return _run("retain_history", now)
