"""Liveness and readiness for load balancers and orchestrators, without a session or token.

`/healthz` answers 200 while the process serves requests (it touches nothing else), so a
restart is only asked for when the process itself is stuck. `/readyz` says whether this
process can do its work now: the database answers a query, and Redis (when `REDIS_URL` is
set) answers PING, each within READY_TIMEOUT_SECONDS; 503 names what failed, so traffic is
held off until it is back. It also gives the engine's lag (seconds the oldest due enrollment
and message have waited) for monitors to read, but stays 200 however large: a lagging engine
needs workers, not a process restarted or taken out of the load balancer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.config import current_settings
from app.extensions import db
from app.services.engine_health import lag

log = logging.getLogger(__name__)
health_bp = Blueprint("health", __name__)
READY_TIMEOUT_SECONDS = 2.0


@health_bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@health_bp.get("/readyz")
def readyz() -> Any:
    checks = {"database": _database(), "redis": _redis()}
    ready = all(result in ("ok", "not used") for result in checks.values())
    lag_now = _lag() if checks["database"] == "ok" else None
    body = {"status": "ready" if ready else "not ready", "checks": checks, "lag": lag_now}
    return jsonify(body), 200 if ready else 503


def _lag() -> dict[str, float] | None:
    """The engine's lag in seconds; None when the database cannot say."""
    try:
        found = lag(datetime.now(UTC))
    except Exception as exc:  # the database went away since its check
        log.warning("readiness: lag: %s", exc)
        return None
    finally:
        db.session.rollback()
    return {
        "enrollments_seconds": found.enrollments_seconds,
        "messages_seconds": found.messages_seconds,
    }


def _database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as exc:  # any driver error means: not ready
        db.session.rollback()
        log.warning("readiness: database: %s", exc)
        return "unavailable"
    return "ok"


def _redis() -> str:
    url = current_settings().redis_url
    if not url:
        return "not used"
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        client = Redis.from_url(
            url, socket_timeout=READY_TIMEOUT_SECONDS, socket_connect_timeout=READY_TIMEOUT_SECONDS
        )
        client.ping()
    except RedisError as exc:
        log.warning("readiness: redis: %s", exc)
        return "unavailable"
    return "ok"
