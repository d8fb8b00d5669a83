"""`GET /api/health`: the health page's figures as JSON, for the token's workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify

from app.api import api_bp
from app.services import engine_health


@api_bp.get("/health")
def engine_health_json() -> Any:
    report = engine_health.engine_health(datetime.now(UTC), g.workspace_id)
    return jsonify(engine_health.as_json(report))
