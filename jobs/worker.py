"""The rq worker classes to run and the one Flask app of a worker process.

`rq worker -w jobs.worker.InProcessWorker` (production): runs each job in the worker
process itself, with its app and database connections kept from job to job. Wake-ups make
jobs short and frequent (a dispatcher run per processor pass that queued email), so the
~12 ms fork and the fresh connections of a forking worker would be most of their cost.
A job that crashes the process ends the worker: run it under a supervisor that restarts it.

`rq worker -w jobs.worker.AppWorker`: forks a work horse per job, as rq does by default,
after building the app once, so each horse starts with it instead of paying for it on every
job (about a second on a slow machine)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq.worker import SimpleWorker, Worker

from app import create_app
from app.config import current_settings
from app.mail.smtp_pool import start_relay

_app: Flask | None = None

PUBSUB_POLL_SECONDS = 1
"""How long the worker's command-channel thread blocks at a time (rq's default: 60 s)."""


def worker_app() -> Flask:
    """This process's app, built on first use."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


class PromptShutdown:
    """Mixin for an rq worker: stop within a second instead of up to a minute.

    rq's `unsubscribe` stops the command-channel thread with redis-py's
    `PubSubWorkerThread.stop()`, which (redis-py 8) waits for the thread to end. After the
    unsubscribe the thread can be back in `get_message`, waiting `sleep_time` for a
    subscription that never comes, so a stopping worker (SIGTERM, the end of a burst) often
    hung for rq's 60 s. The same subscription as rq's, with a one-second poll."""

    pubsub: Any
    pubsub_thread: Any
    pubsub_channel_name: str
    connection: Any

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})  # type: ignore[attr-defined]
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,  # type: ignore[attr-defined]
        )


class AppWorker(PromptShutdown, Worker):
    """A plain rq Worker whose horses inherit one ready Flask app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        worker_app()


class InProcessWorker(PromptShutdown, SimpleWorker):
    """An rq SimpleWorker (no fork per job) with the process's Flask app built up front,
    and its SMTP relay (app/mail/smtp_pool.py) started, so no job waits for either."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = worker_app()
        with app.app_context():
            if current_settings().smtp_url:
                start_relay()
