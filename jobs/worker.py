"""The rq worker class to run (`rq worker -w jobs.worker.AppWorker`) and the one Flask app
of a worker process. The class builds the app before the worker forks its work horses,
so each horse starts with the app imported and built instead of paying for both on every
job (about a second on a slow machine: most of an event's wake-up latency)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq.worker import Worker

from app import create_app

_app: Flask | None = None


def worker_app() -> Flask:
    """This process's app, built on first use."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


class AppWorker(Worker):
    """A plain rq Worker whose horses inherit one ready Flask app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        worker_app()
