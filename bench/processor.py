"""Benchmark: N enrollments through email -> delay -> email on PostgreSQL, into a local SMTP sink.

Prints enrollment-steps per second for the processor and messages per second for the
dispatcher, with one worker process and then with --workers processes sharing the work
(as `rq worker`s do, through FOR UPDATE SKIP LOCKED). Each run uses a throwaway database
(created and dropped) on BENCH_POSTGRES_URL (default: the local trust-auth server) and an
aiosmtpd sink in its own process.

    .venv/bin/python bench/processor.py [--enrollments 100000] [--dispatch 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import OutboundMessage, StepLog  # noqa: E402
from bench.harness import (  # noqa: E402
    T0,
    bench_config,
    count,
    in_workers,
    say,
    seed,
    smtp_sink_process,
    throwaway_database,
)


def run(enrollments: int, dispatch: int, workers: int) -> tuple[float, float]:
    """One full benchmark run in a fresh database; returns (steps/s, messages/s)."""
    with throwaway_database() as url, smtp_sink_process() as smtp_url:
        app = create_app(bench_config(url, smtp_url))
        with app.app_context():
            upgrade()
            say(f"Seeding {enrollments:,} enrollments (email -> 1 day delay -> email)...")
            seed(enrollments)
            db.session.remove()
        say(f"Processor, {workers} worker process(es):")
        steps1, t1 = in_workers(url, smtp_url, "process", T0, workers)
        say(f"  pass 1 (email 1 queued, delay entered): {t1:.2f} s")
        steps2, t2 = in_workers(url, smtp_url, "process", T0 + timedelta(days=1), workers)
        say(f"  pass 2 (delay done, email 2 queued, completed): {t2:.2f} s")
        with app.app_context():
            assert steps1 + steps2 == count(StepLog) == 3 * enrollments, "each step logged once"
            db.session.execute(
                OutboundMessage.__table__.update()
                .where(
                    OutboundMessage.id.notin_(
                        select(OutboundMessage.id).order_by(OutboundMessage.id).limit(dispatch)
                    )
                )
                .values(next_attempt_at=T0 + timedelta(days=365))
            )
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        sent, t3 = in_workers(url, smtp_url, "dispatch", T0 + timedelta(days=1), workers)
        say(f"  dispatcher: {sent:,} messages rendered and sent over SMTP in {t3:.2f} s")
        assert sent == dispatch, (sent, dispatch)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return (steps1 + steps2) / (t1 + t2), sent / t3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument(
        "--dispatch",
        type=int,
        default=10_000,
        help="messages to send through SMTP (the rest stay queued)",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    figures = {n: run(args.enrollments, args.dispatch, n) for n in sorted({1, args.workers})}
    say("")
    for n, (steps, messages) in figures.items():
        say(
            f"{n} worker(s): processor {steps:,.0f} enrollment-steps/s, "
            f"dispatcher {messages:,.0f} messages/s "
            f"({args.enrollments:,} enrollments x 3 steps; {args.dispatch:,} messages)"
        )


if __name__ == "__main__":
    main()
