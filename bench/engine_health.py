"""Benchmark: the engine health queries (lag, stuck counts, job runs) at a million rows on
PostgreSQL, with their plans. The rows are made by SQL (generate_series) in a throwaway
database on BENCH_POSTGRES_URL.

The adversarial case is on purpose: a paused sequence holds the oldest due enrollments
and messages, which the lag query (like the processor's claim) must skip.

    .venv/bin/python bench/engine_health.py [--enrollments 1000000] [--messages 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.services import accounts, engine_health, sequences  # noqa: E402
from bench.harness import DEFINITION, say, throwaway_database  # noqa: E402

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def seed(enrollments: int, messages: int) -> None:
    """Two sequences (one paused, holding the oldest due rows); of the enrollments 70%
    completed, 25% waiting, 5% due (half of those in the paused sequence, and overdue for
    days); of the messages 95% sent, 4% queued for later, 1% due (half paused)."""
    workspace = accounts.create_workspace("Bench")
    live = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(live, "activate", NOW)
    paused = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(paused, "activate", NOW)
    sequences.set_status(paused, "pause", NOW)
    step_id = db.session.scalar(
        text("SELECT id FROM sequence_steps WHERE sequence_id = :s LIMIT 1"), {"s": live.id}
    )
    db.session.commit()
    ids = {"t": workspace.tenant_id, "w": workspace.id, "live": live.id, "paused": paused.id}
    started = time.perf_counter()
    db.session.execute(
        text(
            "INSERT INTO contacts (id, email, fields, tags, tenant_id, workspace_id, created_at,"
            " updated_at) SELECT gen_random_uuid(), 'p' || i || '@bench.example', '{}', '[]',"
            " :t, :w, :now, :now FROM generate_series(1, :n) AS i"
        ),
        {**ids, "now": NOW, "n": enrollments},
    )
    db.session.execute(
        text(
            "INSERT INTO contact_sequences (id, sequence_id, contact_id, status, enrolled_at,"
            " next_execution_at, context_data, visits, runs, holdout, skip_wait, tenant_id,"
            " workspace_id, created_at, updated_at)"
            " SELECT gen_random_uuid(),"
            "  CASE WHEN r % 40 = 0 THEN CAST(:paused AS uuid) ELSE CAST(:live AS uuid) END,"
            "  c.id, CASE WHEN r % 100 < 70 THEN 'completed' ELSE 'active' END, :now,"
            "  CASE WHEN r % 100 < 70 THEN NULL"
            "       WHEN r % 20 = 0 THEN CAST(:now AS timestamptz) - (r % 5000) * interval '1 min'"
            "       ELSE CAST(:now AS timestamptz) + (r % 5000) * interval '1 min' END,"
            "  '{}', '{}', 1, false, false, :t, :w, :now, :now"
            " FROM (SELECT id, row_number() OVER () AS r FROM contacts) AS c"
        ),
        {**ids, "now": NOW},
    )
    db.session.execute(
        text(
            "INSERT INTO outbound_messages (id, enrollment_id, sequence_id, step_id, contact_id,"
            " rotation, message_id, to_email, status, attempts, queued_at, next_attempt_at,"
            " tenant_id, workspace_id, created_at, updated_at)"
            " SELECT gen_random_uuid(), e.id, e.sequence_id, :step, e.contact_id, 0,"
            "  '<' || e.r || '@bench.example>', 'p' || e.r || '@bench.example',"
            "  CASE WHEN e.r % 100 < 95 THEN 'sent' ELSE 'queued' END, e.r % 4, :now,"
            "  CASE WHEN e.r % 100 >= 99 THEN CAST(:now AS timestamptz) - interval '2 hours'"
            "       ELSE CAST(:now AS timestamptz) + (e.r % 600) * interval '1 min' END,"
            "  :t, :w, :now, :now"
            " FROM (SELECT id, sequence_id, contact_id, row_number() OVER () AS r"
            "       FROM contact_sequences LIMIT :m) AS e"
        ),
        {**ids, "now": NOW, "m": messages, "step": step_id},
    )
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    say(
        f"  seeded {enrollments:,} enrollments and {messages:,} messages in "
        f"{time.perf_counter() - started:.0f} s"
    )


def timed(label: str, work: Callable[[], Any], repeat: int = 5) -> Any:
    work()  # warm the cache, as a page reloaded every 10 s has it
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    say(f"  {label}: {best * 1000:.1f} ms -> {result}")
    return result


def explain(label: str, sql: str, params: dict[str, Any]) -> None:
    plan = db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS OFF) {sql}"), params)
    say(f"  plan of {label}:")
    for (line,) in plan:
        say(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    with throwaway_database() as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EMBEDDED_SCHEDULER": False})
        with app.app_context():
            upgrade()
            seed(args.enrollments, args.messages)
            workspace_id = db.session.scalar(text("SELECT id FROM workspaces LIMIT 1"))
            timed("lag (oldest due enrollment and message)", lambda: engine_health.lag(NOW))
            timed("stuck, one workspace", lambda: engine_health.stuck(NOW, workspace_id))
            timed("stuck, all workspaces (/metrics)", lambda: engine_health.stuck(NOW, None))
            timed("job runs", lambda: len(engine_health.job_health(NOW)))
            explain(
                "the enrollment lag",
                "SELECT cs.next_execution_at FROM contact_sequences cs JOIN sequences s"
                " ON s.id = cs.sequence_id WHERE cs.status = 'active'"
                " AND cs.next_execution_at <= :now AND s.status = 'active'"
                " ORDER BY cs.next_execution_at LIMIT 1",
                {"now": NOW},
            )
            explain(
                "the stuck enrollments of one workspace",
                "SELECT count(*) FROM contact_sequences WHERE status = 'active'"
                " AND next_execution_at < :before AND workspace_id = :w",
                {"before": NOW - timedelta(seconds=900), "w": workspace_id},
            )
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
