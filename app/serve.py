"""`flask serve`: the embedded mode's web server plus its in-process scheduler."""

from __future__ import annotations

import click
from flask import Flask
from werkzeug.serving import run_simple

from app.embedded_scheduler import EmbeddedScheduler
from app.http.security_headers import QuietRequestHandler


def register_serve_cli(app: Flask) -> None:
    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def serve(host: str, port: int) -> None:
        """Serve the app; without REDIS_URL the engine runs in a thread beside it."""
        from flask import current_app

        real_app = current_app._get_current_object()  # type: ignore[attr-defined]
        if real_app.config["EMBEDDED_SCHEDULER"]:
            EmbeddedScheduler(real_app).start()
            click.echo("Embedded scheduler: processing and sending every few seconds.")
        else:
            click.echo(
                "Embedded scheduler off: run `rq worker -w jobs.worker.InProcessWorker` "
                "and `rq cron jobs.cron`."
            )
        run_simple(
            host,
            port,
            real_app,
            threaded=True,
            use_reloader=False,
            request_handler=QuietRequestHandler,
        )
