"""Benchmark: a backlog of N enrollments cleared by 2 worker processes, every email sent once.

N contacts enrolled at once (email -> 1 day delay -> email; the first email is due, the
rest waits a day) on a throwaway PostgreSQL database. --workers processes each run the
processor and then the dispatcher until nothing is due, as `rq worker`s share the jobs
through FOR UPDATE SKIP LOCKED; an aiosmtpd sink in its own process writes every
Message-ID it accepts to a file. At the end: one step log and one sent message per
enrollment, unique Message-IDs, and the sink received each of them exactly once.

    .venv/bin/python bench/backlog.py [--enrollments 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import ContactSequence, OutboundMessage, StepLog  # noqa: E402
from app.services.dispatcher import dispatch_due  # noqa: E402
from app.services.processor import process_due  # noqa: E402
from bench.harness import (  # noqa: E402
    BATCH,
    T0,
    bench_config,
    message_ids,
    say,
    seed,
    smtp_sink_process,
    throwaway_database,
)

PROGRESS_EVERY = 10.0


def _worker(url: str, smtp_url: str, now: datetime, results) -> None:
    """One worker: advance what is due, then send what is queued, until neither is left."""
    app = create_app(bench_config(url, smtp_url))
    with app.app_context():
        steps = process_due(now, BATCH).steps
        sent = dispatch_due(now).sent
        results.put((steps, sent))
        db.session.remove()
        db.engine.dispose()


def _progress(url: str, smtp_url: str, log: str) -> str:
    """The counts so far; and ANALYZE of the two tables the claims read, as autovacuum
    would do (on by default, off on the test server here): with the statistics of the
    empty outbox, the dispatcher's claim once sorted the whole backlog (120 emails/s at a
    million queued, 1,500/s once analyzed; its plans no longer depend on them,
    tests/engine/test_dispatch_plans.py)."""
    app = create_app(bench_config(url, smtp_url))
    with app.app_context():
        db.session.execute(text("ANALYZE outbound_messages, contact_sequences"))
        db.session.commit()
        due = db.session.scalar(
            select(func.count())
            .select_from(ContactSequence)
            .where(ContactSequence.status == "active", ContactSequence.next_execution_at <= T0)
        )
        by_status = dict(
            db.session.execute(
                select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
            ).all()
        )
        db.session.remove()
        db.engine.dispose()
    return f"due enrollments {due:,}, outbox {by_status}, sink {len(message_ids(log)):,}"


def run(enrollments: int, workers: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        throwaway_database() as url,
        smtp_sink_process(log=f"{folder}/message-ids") as smtp_url,
    ):
        log = f"{folder}/message-ids"
        app = create_app(bench_config(url, smtp_url))
        with app.app_context():
            upgrade()
            say(f"Seeding {enrollments:,} enrollments (email -> 1 day delay -> email)...")
            seed(enrollments)
            db.session.remove()
            db.engine.dispose()
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        procs = [
            context.Process(target=_worker, args=(url, smtp_url, T0, results))
            for _ in range(workers)
        ]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        while any(proc.is_alive() for proc in procs):
            time.sleep(PROGRESS_EVERY)
            elapsed = time.perf_counter() - started
            say(f"  {elapsed:7.0f} s: {_progress(url, smtp_url, log)}")
        elapsed = time.perf_counter() - started
        done = [results.get(timeout=60) for _ in procs]
        assert all(proc.exitcode == 0 for proc in procs), [proc.exitcode for proc in procs]
        steps, sent = sum(s for s, _ in done), sum(m for _, m in done)
        time.sleep(1)  # the sink writes each ID after its answer: let the last lines land
        received = Counter(message_ids(log))
        with app.app_context():
            logged = db.session.scalar(select(func.count()).select_from(StepLog))
            stored = set(
                db.session.scalars(
                    select(OutboundMessage.message_id).where(OutboundMessage.status == "sent")
                )
            )
            db.session.remove()
            db.engine.dispose()
        say(
            f"{enrollments:,} enrollments, {workers} workers: {steps:,} steps and {sent:,} "
            f"emails in {elapsed:,.0f} s ({steps / elapsed:,.0f} steps/s, "
            f"{sent / elapsed:,.0f} emails/s overall); the sink received {len(received):,}"
        )
        assert steps == logged == enrollments, ("one step each", steps, logged)
        assert sent == len(stored) == enrollments, ("one sent message each", sent, len(stored))
        repeated = [mid for mid, n in received.items() if n > 1]
        assert not repeated, f"{len(repeated)} Message-IDs received more than once"
        assert set(received) == stored, "the sink received exactly the messages marked sent"
        say("Every email was sent exactly once.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run(args.enrollments, args.workers)


if __name__ == "__main__":
    main()
