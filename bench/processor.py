"""Benchmark: the sequence processor against plain set-based SQL, in the same run.

N enrollments through email -> 1 day delay -> email, on PostgreSQL. One database is seeded
with the app, then cloned (`CREATE DATABASE ... TEMPLATE`) so both paths start from the
same rows:

- reference: psycopg alone, per batch of BATCH: claim with `FOR UPDATE SKIP LOCKED`,
  decide the next step in Python, write with `UPDATE ... FROM unnest(...)` plus one outbox
  insert and one step-log insert, commit;
- project: `process_due`, as an `rq worker` runs it.

Both run with 1 worker process and with --workers processes sharing the work, and print
enrollment-steps per second and the project's share of the reference.

    .venv/bin/python bench/processor.py [--enrollments 50000] [--workers 2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from flask_migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import StepLog  # noqa: E402
from app.services.processor import process_due  # noqa: E402
from bench.harness import (  # noqa: E402
    ADMIN_URL,
    BATCH,
    T0,
    bench_config,
    count,
    in_processes,
    in_workers,
    say,
    seed,
    throwaway_database,
)

PASSES = (T0, T0 + timedelta(days=1))
"""Pass 1 queues email 1 and enters the delay; pass 2 ends it, queues email 2, completes."""

CLAIM = """
SELECT cs.id, cs.tenant_id, cs.workspace_id, cs.sequence_id, cs.contact_id,
       cs.current_step_id, c.email
FROM contact_sequences cs JOIN contacts c ON c.id = cs.contact_id
WHERE cs.status = 'active' AND cs.next_execution_at <= %s
ORDER BY cs.next_execution_at LIMIT %s
FOR UPDATE OF cs SKIP LOCKED
"""
UPDATE = """
UPDATE contact_sequences t SET current_step_id = u.step, status = u.status,
  step_started_at = u.started, next_execution_at = u.next, last_step_completed_at = %s,
  finished_at = u.finished, updated_at = %s
FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::timestamptz[], %s::timestamptz[],
            %s::timestamptz[]) AS u(id, step, status, started, next, finished)
WHERE t.id = u.id
"""
OUTBOX = """
INSERT INTO outbound_messages (tenant_id, workspace_id, id, enrollment_id, sequence_id, step_id,
  contact_id, rotation, message_id, to_email, status, attempts, queued_at, next_attempt_at,
  created_at, updated_at)
SELECT u.tenant, u.workspace, u.id, u.enrollment, u.sequence, u.step, u.contact, 1, u.mid,
  u.email, 'queued', 0, %s, %s, %s, %s
FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[],
            %s::text[], %s::text[])
  AS u(tenant, workspace, id, enrollment, sequence, step, contact, mid, email)
"""
STEP_LOG = """
INSERT INTO sequence_step_logs (tenant_id, workspace_id, enrollment_id, sequence_id, step_id,
  rotation, outcome, executed_at)
SELECT u.tenant, u.workspace, u.enrollment, u.sequence, u.step, 1, u.outcome, %s
FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::text[])
  AS u(tenant, workspace, enrollment, sequence, step, outcome)
"""


def _append(columns: list[list], values: tuple) -> None:
    """One row's values onto the per-column lists that travel as `unnest` arrays."""
    for column, value in zip(columns, values, strict=True):
        column.append(value)


def reference_pass(dsn: str, now: datetime) -> int:
    """Advance every due enrollment with plain SQL; returns the steps taken."""
    steps = 0
    with psycopg.connect(dsn) as conn:
        keys = dict(conn.execute("SELECT id, key FROM sequence_steps").fetchall())
        by_key = {key: step_id for step_id, key in keys.items()}
        while True:
            rows = conn.execute(CLAIM, (now, BATCH)).fetchall()
            if not rows:
                conn.rollback()
                return steps
            update: list[list] = [[] for _ in range(6)]
            outbox: list[list] = [[] for _ in range(9)]
            logs: list[list] = [[] for _ in range(6)]
            for id_, tenant, workspace, sequence, contact, current, email in rows:
                key = keys[current]
                taken = ["e1"] if key == "e1" else ["wait", "e2"]
                for step in taken:
                    _append(logs, (tenant, workspace, id_, sequence, by_key[step], "completed"))
                message = uuid.uuid4()
                values = (tenant, workspace, message, id_, sequence, by_key[taken[-1]], contact)
                _append(outbox, (*values, f"<{message.hex}@bench.example>", email))
                done = key != "e1"
                _append(
                    update,
                    (
                        id_,
                        None if done else by_key["wait"],
                        "completed" if done else "active",
                        None if done else now,
                        None if done else now + timedelta(days=1),
                        now if done else None,
                    ),
                )
                steps += len(taken)
            conn.execute(UPDATE, (now, now, *update))
            conn.execute(OUTBOX, (now, now, now, now, *outbox))
            conn.execute(STEP_LOG, (now, *logs))
            conn.commit()


def _reference_worker(dsn: str, now: datetime, ready, go, results) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")
    ready.wait()
    go.wait()
    results.put(reference_pass(dsn, now))


def reference_in_workers(dsn: str, now: datetime, workers: int) -> tuple[int, float]:
    """The reference pass in `workers` processes at once; returns (steps, wall seconds)."""
    return in_processes(_reference_worker, (dsn, now), workers)


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def clone(template_url: str) -> Iterator[str]:
    """A throwaway copy of the seeded database (same rows, same statistics)."""
    name = f"pm_bench_{uuid.uuid4().hex[:8]}"
    source = template_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield f"{template_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def step_logs(url: str) -> int:
    with psycopg.connect(_dsn(url)) as conn:
        return conn.execute("SELECT count(*) FROM sequence_step_logs").fetchone()[0]


def measure(template: str, enrollments: int, workers: int) -> tuple[float, float]:
    """(reference steps/s, project steps/s) with `workers` processes, each on its own clone."""
    with clone(template) as url:
        done, elapsed = 0, 0.0
        for now in PASSES:
            steps, seconds = reference_in_workers(_dsn(url), now, workers)
            done, elapsed = done + steps, elapsed + seconds
        assert done == step_logs(url) == 3 * enrollments, "reference: each step logged once"
        reference = done / elapsed
    with clone(template) as url:
        done, elapsed = 0, 0.0
        for now in PASSES:
            steps, seconds = in_workers(url, "smtp://127.0.0.1:1", "process", now, workers)
            done, elapsed = done + steps, elapsed + seconds
        assert done == step_logs(url) == 3 * enrollments, "project: each step logged once"
        project = done / elapsed
    say(
        f"  {workers} worker(s): reference {reference:,.0f} steps/s, "
        f"project {project:,.0f} steps/s, ratio {project / reference:.0%}"
    )
    return reference, project


def profile(template: str) -> None:
    """Both passes of `process_due` in this process under cProfile: where the time goes."""
    with clone(template) as url:
        app = create_app(bench_config(url, "smtp://127.0.0.1:1"))
        with app.app_context():
            profiler = cProfile.Profile()
            profiler.enable()
            for now in PASSES:
                process_due(now, BATCH)
            profiler.disable()
            db.session.remove()
            db.engine.dispose()
    for order in ("cumulative", "tottime"):
        pstats.Stats(profiler).sort_stats(order).print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one worker")
    args = parser.parse_args()
    with throwaway_database() as template:
        app = create_app(bench_config(template, "smtp://127.0.0.1:1"))
        with app.app_context():
            upgrade()
            say(f"Seeding {args.enrollments:,} enrollments (email -> 1 day delay -> email)...")
            seed(args.enrollments)
            assert count(StepLog) == 0
            db.session.remove()
            db.engine.dispose()
        if args.profile:
            profile(template)
            return
        say(f"Processor, {args.enrollments:,} enrollments x 3 steps, batches of {BATCH}:")
        figures = {n: measure(template, args.enrollments, n) for n in sorted({1, args.workers})}
    say("")
    say("workers  reference steps/s  project steps/s  ratio")
    for n, (reference, project) in figures.items():
        say(f"{n:>7}  {reference:>17,.0f}  {project:>15,.0f}  {project / reference:>5.0%}")


if __name__ == "__main__":
    main()
