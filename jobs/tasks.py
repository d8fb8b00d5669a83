"""The periodic jobs. Each takes the clock once, here, and hands `now` to the engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask, has_app_context

_worker_app: Flask | None = None


@contextmanager
def app_context() -> Iterator[None]:
    """Reuse the caller's app (embedded mode) or one app per worker process (RQ)."""
    global _worker_app
    if has_app_context():
        yield
        return
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        yield


def process_sequences() -> str:
    """The sequence processor: advance every due enrollment."""
    from app.services.processor import process_due

    with app_context():
        stats = process_due(datetime.now(UTC))
    return f"advanced {stats.enrollments} enrollment(s), {stats.steps} step(s)"


def dispatch_mail() -> str:
    """The mail dispatcher: send every queued message that is due."""
    from app.services.dispatcher import dispatch_due

    with app_context():
        stats = dispatch_due(datetime.now(UTC))
    return f"sent {stats.sent}, captured {stats.captured}, failed {stats.failed}"
