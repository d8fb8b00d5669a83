"""Prometheus metrics at `/metrics`, read from the database at scrape time.

The engine runs in many processes (gunicorn workers, rq workers, the embedded thread), so
no process's in-memory counters are the truth: a custom collector reads `job_runs` (the
passes' running totals), the lag and the stuck counts (engine-wide: only operators hold
the token), and RQ's queues when Redis is used. `METRICS_TOKEN` unset: 404 (the endpoint
does not exist); a missing or wrong bearer token: 401. No session or CSRF is involved.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.config import current_settings
from app.services import engine_health

metrics_bp = Blueprint("metrics", __name__)
PREFIX = "penguinmails"
DISPATCH_STATUSES = ("sent", "captured", "failed", "retrying", "skipped", "deferred", "unknown")
"""The dispatcher's outcomes counted by `emails_total{status}` (its `requeued` is not one:
those messages are sent later and counted then)."""


@metrics_bp.get("/metrics")
def metrics() -> Any:
    token = current_settings().metrics_token
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        return Response(
            "send the metrics token as 'Authorization: Bearer <token>'\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(datetime.now(UTC)))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class EngineCollector(Collector):
    """The engine's figures as of `now`, read when Prometheus scrapes."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Any]:
        jobs = engine_health.job_health(self.now)
        yield from _job_families(jobs)
        totals = {job.name: job.totals for job in jobs}
        processed = totals.get("process_sequences", {})
        steps = CounterMetricFamily(f"{PREFIX}_steps_processed", "Steps the processor ran.")
        steps.add_metric([], processed.get("steps", 0))
        yield steps
        advanced = CounterMetricFamily(
            f"{PREFIX}_enrollments_advanced", "Enrollment advances by the processor."
        )
        advanced.add_metric([], processed.get("enrollments", 0))
        yield advanced
        emails = CounterMetricFamily(
            f"{PREFIX}_emails", "Emails handled by the dispatcher, by outcome.", labels=["status"]
        )
        dispatched = totals.get("dispatch_mail", {})
        for status in DISPATCH_STATUSES:
            emails.add_metric([status], dispatched.get(status, 0))
        yield emails

        lag = engine_health.lag(self.now)
        lags = GaugeMetricFamily(
            f"{PREFIX}_lag_seconds",
            "How long the oldest due enrollment or queued message has waited.",
            labels=["kind"],
        )
        lags.add_metric(["enrollment"], lag.enrollments_seconds)
        lags.add_metric(["message"], lag.messages_seconds)
        yield lags

        stuck = engine_health.stuck(self.now, None)
        yield GaugeMetricFamily(
            f"{PREFIX}_stuck_enrollments",
            "Enrollments due over STUCK_AFTER_SECONDS, all workspaces (counted to 10,000).",
            value=stuck.enrollments,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_failing_messages",
            "Messages failing, all workspaces (counted to 10,000).",
            value=stuck.messages,
        )
        yield from _rq_families()


def _job_families(jobs: list[engine_health.JobHealth]) -> Iterator[Any]:
    runs = CounterMetricFamily(f"{PREFIX}_job_runs", "Runs of each periodic pass.", labels=["job"])
    failures = CounterMetricFamily(
        f"{PREFIX}_job_failures", "Failed runs of each periodic pass.", labels=["job"]
    )
    seconds = CounterMetricFamily(
        f"{PREFIX}_job_duration_seconds", "Time spent in each periodic pass.", labels=["job"]
    )
    last = GaugeMetricFamily(
        f"{PREFIX}_job_last_duration_seconds", "The last run's duration.", labels=["job"]
    )
    success = GaugeMetricFamily(
        f"{PREFIX}_job_last_success_timestamp_seconds",
        "When the last successful run finished (Unix time; 0: never).",
        labels=["job"],
    )
    for job in jobs:
        runs.add_metric([job.name], job.runs)
        failures.add_metric([job.name], job.failures)
        seconds.add_metric([job.name], job.seconds_total)
        last.add_metric([job.name], (job.last_duration_ms or 0) / 1000)
        finished = job.last_finished_at.timestamp() if job.last_finished_at else 0
        success.add_metric([job.name], finished)
    yield from (runs, failures, seconds, last, success)


def _rq_families() -> Iterator[Any]:
    state, _ = engine_health.rq_overview()
    if state is None:
        return
    length = GaugeMetricFamily(
        f"{PREFIX}_rq_queue_length", "Jobs waiting on each RQ queue.", labels=["queue"]
    )
    failed = GaugeMetricFamily(
        f"{PREFIX}_rq_failed_jobs", "Jobs in each RQ queue's failed registry.", labels=["queue"]
    )
    for queue in state.queues:
        length.add_metric([queue.name], queue.length)
        failed.add_metric([queue.name], queue.failed)
    workers = GaugeMetricFamily(
        f"{PREFIX}_rq_workers", "RQ workers alive.", value=len(state.workers)
    )
    yield from (length, failed, workers)
