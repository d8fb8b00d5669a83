"""The periodic jobs. Each reads the clock once, here, and hands `now` to the engine.

`now` may be given (ISO 8601) to replay a moment, as tests and operators sometimes need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask, has_app_context

from app import create_app
from app.services import goals
from app.services.contact_import import process_pending
from app.services.events import purge_receipts
from app.services.scheduling import run_call_delivery, run_dispatcher, run_processor
from app.services.segments import refresh_all
from app.services.tracking import purge_tracking_hits

_worker_app: Flask | None = None


@contextmanager
def app_context() -> Iterator[None]:
    """Reuse the caller's app (embedded mode) or one app per worker process (RQ)."""
    global _worker_app
    if has_app_context():
        yield
        return
    if _worker_app is None:
        _worker_app = create_app()
    with _worker_app.app_context():
        yield


def _instant(now: str | None) -> datetime:
    return datetime.fromisoformat(now).astimezone(UTC) if now else datetime.now(UTC)


def process_sequences(now: str | None = None) -> str:
    """The sequence processor: advance every due enrollment."""
    with app_context():
        stats = run_processor(_instant(now))
    return f"advanced {stats.enrollments} enrollment(s), {stats.steps} step(s)"


def dispatch_mail(now: str | None = None) -> str:
    """The mail dispatcher: send every queued message that is due."""
    with app_context():
        stats = run_dispatcher(_instant(now))
    return (
        f"sent {stats.sent}, captured {stats.captured}, failed {stats.failed}, "
        f"unknown {stats.unknown}, requeued {stats.requeued}"
    )


def deliver_calls(now: str | None = None) -> str:
    """The call delivery job: make every outside call (webhook, ...) that is due."""
    with app_context():
        stats = run_call_delivery(_instant(now))
    return f"delivered {stats.delivered}, retrying {stats.retrying}, failed {stats.failed}"


def purge_event_receipts(now: str | None = None) -> str:
    """Forget the events API's client ids older than the idempotency window (24 hours) and
    the tracking endpoints' claims older than their dedup window (a minute)."""
    with app_context():
        moment = _instant(now)
        purged = purge_receipts(moment)
        hits = purge_tracking_hits(moment)
    return f"purged {purged} event receipt(s), {hits} tracking hit(s)"


def process_contact_imports(now: str | None = None) -> str:
    """The next chunk of the oldest unfinished CSV import of contacts."""
    with app_context():
        rows = process_pending(_instant(now))
    return f"imported {rows} row(s)"


def refresh_segments(now: str | None = None) -> str:
    """Re-evaluate rule segments for everyone: rules that change with time alone."""
    with app_context():
        changes = refresh_all(_instant(now))
    return f"{changes} segment join(s) and leave(s)"


def monitor_goals(now: str | None = None) -> str:
    """The goal monitor: convert goals no event announced (a field set by an import)."""
    with app_context():
        converted = goals.monitor(_instant(now))
    return f"recorded {converted} conversion(s)"
