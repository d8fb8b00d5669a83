"""The engine's periodic passes as operators watch them: when each last ran, how long it
took, what it reported, and running totals for /metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, json_column


class JobRun(db.Model):
    """One row per periodic pass (`app.schedule`), upserted by every run, whichever
    process (embedded scheduler, `rq worker`, `flask tick`) ran it."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_report: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failures: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    seconds_total: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Cumulative counts the pass reported ({"steps": n, "sent": n, ...}): Prometheus counters.
    totals: Mapped[dict[str, Any]] = json_column({})
