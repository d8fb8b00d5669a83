"""Benchmark: the enrollments list's first page at a million enrollments on PostgreSQL.

Creates a throwaway database, migrates it to 0020, seeds N enrollments set-based (INSERT
... SELECT generate_series: 3 sequences of 5 steps, every contact in all three, mixed
statuses, steps, versions, reasons, pairs sharing an enrolled_at, 1 % stuck), then
migrates to head, so the list's indexes are built over the data as a deploy would. Then,
for no filter and each single filter, times what the page asks of the database: the first
page of 50 (`enrollment_query.page`), the capped count and the capped counts per status.
Prints the median and the maximum over the repetitions, in milliseconds.

    .venv/bin/python bench/enrollment_list.py [--enrollments 1000000] [--repeat 7] [--explain]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import ContactSequence, SequenceStep  # noqa: E402
from app.services import accounts, enrollment_query, sequences  # noqa: E402
from app.services.enrollment_query import EnrollmentFilter  # noqa: E402
from bench.harness import T0, bench_config, say, throwaway_database  # noqa: E402

PAGE = 50
STEPS = [
    {"id": "e1", "type": "email", "name": "Welcome", "config": {"subject": "1", "body": "1"}},
    {"id": "d1", "type": "delay", "name": "Wait 2 days", "config": {"duration": "2 days"}},
    {"id": "e2", "type": "email", "name": "Tips", "config": {"subject": "2", "body": "2"}},
    {"id": "d2", "type": "delay", "name": "Wait 3 days", "config": {"duration": "3 days"}},
    {"id": "e3", "type": "email", "name": "Offer", "config": {"subject": "3", "body": "3"}},
]
ENROLL_REASONS = [
    "joined segment New Signups",
    "added by API",
    "form Demo request",
    "added by ops@acme.test",
    "event signed_up",
]
EXIT_REASONS = ["goal reached: Paid Subscription", "removed by ops@acme.test", "replied"]
# Per 100 enrollments: active 40 (1 of them stuck), completed 35, exited 15, paused 5,
# failed 5 (a hard bounce). One in 10,000 was erased on request (the rare reason).
SEED_SQL = """
INSERT INTO contacts (id, tenant_id, workspace_id, email, first_name, last_name, fields, tags,
                      created_at, updated_at)
SELECT md5('c' || g)::uuid, :tenant, :workspace,
       'user' || g || '@example' || (g % 50) || '.test',
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances'])[1 + g % 7],
       'Person' || (g % 1000), '{}', '[]', :t0, :t0
FROM generate_series(0, :contacts - 1) AS g;

INSERT INTO contact_sequences (
    id, tenant_id, workspace_id, sequence_id, contact_id, status, current_step_id,
    step_started_at, enrolled_at, next_execution_at, finished_at, context_data, visits,
    enroll_reason, exit_reason, runs, holdout, version, skip_wait, created_at, updated_at)
SELECT md5('e' || g)::uuid, :tenant, :workspace, (CAST(:sequences AS uuid[]))[1 + g % 3],
       md5('c' || (g / 3))::uuid, s.status, (CAST(:steps AS uuid[]))[1 + (g % 3) * 5 + (g / 3) % 5],
       t.at, t.at,
       CASE WHEN s.status = 'active' AND g % 100 = 1 THEN :t0 - interval '1 hour'
            WHEN s.status IN ('active', 'paused') THEN :t0 + (g % 7) * interval '1 day' END,
       CASE WHEN s.status IN ('completed', 'exited', 'failed')
            THEN t.at + (g % 20) * interval '1 day' END,
       '{}', '{}',
       (CAST(:enroll_reasons AS text[]))[1 + g % 5],
       CASE WHEN g % 10000 = 7 THEN 'removed through the API: GDPR erasure request'
            WHEN s.status = 'exited' THEN (CAST(:exit_reasons AS text[]))[1 + g % 3]
            WHEN s.status = 'failed' THEN 'hard bounce: 550 5.1.1 user unknown' END,
       1, false, 1 + (g % 10 = 0)::int, false, t.at, t.at
FROM generate_series(0, :enrollments - 1) AS g,
     LATERAL (SELECT :t0 - (g / 6) * interval '1 minute' AS at) AS t,
     LATERAL (SELECT CASE WHEN g % 100 < 40 THEN 'active' WHEN g % 100 < 75 THEN 'completed'
                          WHEN g % 100 < 90 THEN 'exited' WHEN g % 100 < 95 THEN 'paused'
                          ELSE 'failed' END AS status) AS s;
"""


def seed(enrollments: int) -> tuple[Any, dict[str, EnrollmentFilter]]:
    """The workspace and its data; the filters to time, by label."""
    workspace = accounts.create_workspace("Bench")
    made = []
    for n in range(1, 4):
        definition = {
            "name": f"Bench flow {n}",
            "steps": STEPS,
            "connections": [{"source": a["id"], "target": b["id"]} for a, b in pairwise(STEPS)],
        }
        made.append(sequences.create_sequence(workspace, sequences.parse_input(definition)))
    steps = []
    for sequence in made:
        stmt = select(SequenceStep.id).where(SequenceStep.sequence_id == sequence.id)
        steps += list(db.session.scalars(stmt.order_by(SequenceStep.sort_order)))
    params = {
        "tenant": workspace.tenant_id,
        "workspace": workspace.id,
        "t0": T0,
        "contacts": (enrollments + 2) // 3,
        "enrollments": enrollments,
        "sequences": [s.id for s in made],
        "steps": steps,
        "enroll_reasons": ENROLL_REASONS,
        "exit_reasons": EXIT_REASONS,
    }
    for statement in SEED_SQL.split(";\n\n"):
        db.session.execute(text(statement), params)
    db.session.commit()
    day = T0 - timedelta(days=30)
    filters = {
        "none": EnrollmentFilter(),
        "sequence": EnrollmentFilter(sequence_id=made[1].id),
        "version 2": EnrollmentFilter(version=2),
        "status active": EnrollmentFilter(status="active"),
        "status failed": EnrollmentFilter(status="failed"),
        "current step": EnrollmentFilter(step=steps[7]),
        "started in one day": EnrollmentFilter(started_from=day, started_to=day + timedelta(1)),
        "ended in one day": EnrollmentFilter(ended_from=day, ended_to=day + timedelta(1)),
        "reason (common)": EnrollmentFilter(reason="new signups"),
        "reason (rare: 1 in 10,000)": EnrollmentFilter(reason="GDPR"),
        "contact (one)": EnrollmentFilter(contact="user123456@"),
        "contact (common: 2 %)": EnrollmentFilter(contact="example7."),
        "stuck (1 %)": EnrollmentFilter(stuck=True),
    }
    return workspace, filters


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median and maximum milliseconds of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return statistics.median(times), max(times), result


def explain(workspace_id: Any, flt: EnrollmentFilter) -> None:
    """The plan of the page's id query, for finding out why a filter is slow."""
    where = enrollment_query.criteria(workspace_id, flt, T0)
    ids = (
        select(ContactSequence.id)
        .where(*where)
        .order_by(ContactSequence.enrolled_at.desc(), ContactSequence.id.desc())
        .limit(PAGE + 1)
    )
    compiled = ids.compile(db.engine, compile_kwargs={"literal_binds": True})
    for (line,) in db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")):
        say(f"      {line}")


def measure(url: str, enrollments: int, repeat: int, show_plans: bool) -> None:
    app = create_app(bench_config(url, ""))
    with app.app_context():
        upgrade(revision="0020")
        started = time.perf_counter()
        workspace, filters = seed(enrollments)
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        upgrade()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # as autovacuum leaves a settled table
        indexed = time.perf_counter() - started
        say(f"seeded {enrollments:,} enrollments in {seeded:.1f} s, indexed in {indexed:.1f} s")
        say("")
        say("| filter | matching | first page: median / max ms | count | counts by status |")
        say("|---|---|---|---|---|")
        for label, flt in filters.items():
            page_ms, page_max, page = timed(
                lambda f=flt: enrollment_query.page(workspace.id, f, T0, None, PAGE), repeat
            )
            count_ms, count_max, total = timed(
                lambda f=flt: enrollment_query.count(workspace.id, f, T0), repeat
            )
            by_ms, by_max, _ = timed(
                lambda f=flt: enrollment_query.status_counts(workspace.id, f, T0), repeat
            )
            cap = enrollment_query.COUNT_CAP
            shown = f"{cap:,}+" if total > cap else f"{total:,}"
            say(
                f"| {label} | {shown} | {page_ms:.1f} / {page_max:.1f} "
                f"| {count_ms:.1f} / {count_max:.1f} | {by_ms:.1f} / {by_max:.1f} |"
            )
            assert len(page.rows) == min(PAGE, total), label
            if show_plans:
                explain(workspace.id, flt)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print each id query's plan")
    args = parser.parse_args()
    say(f"Enrollments list on PostgreSQL: {args.enrollments:,} enrollments, 3 sequences")
    with throwaway_database() as url:
        measure(url, args.enrollments, args.repeat, args.explain)


if __name__ == "__main__":
    main()
