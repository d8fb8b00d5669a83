"""Benchmark: N enrollments through email -> delay -> email on PostgreSQL, into a local SMTP sink.

Prints enrollment-steps per second for the processor and messages per second for the
dispatcher. Uses a throwaway database (created and dropped) on the server given by
BENCH_POSTGRES_URL (default: the local trust-auth server) and an aiosmtpd sink process.

    .venv/bin/python bench/processor.py [--enrollments 100000] [--dispatch 20000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Contact, OutboundMessage, Sequence, StepLog  # noqa: E402
from app.services import accounts, sequences  # noqa: E402
from app.services.dispatcher import dispatch_due  # noqa: E402
from app.services.enrollment import enroll_contacts  # noqa: E402
from app.services.processor import process_due  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = int(os.environ.get("BENCH_BATCH", "1000"))
T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
DEFINITION = {
    "name": "Bench: email, delay, email",
    "steps": [
        {
            "id": "e1",
            "type": "email",
            "config": {
                "subject": "Hi {{ contact.first_name }}",
                "body": "<p>Hello {{ contact.first_name }}</p>",
            },
        },
        {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
        {
            "id": "e2",
            "type": "email",
            "config": {"subject": "Again, {{ contact.first_name }}", "body": "<p>Welcome back</p>"},
        },
    ],
    "connections": [{"source": "e1", "target": "wait"}, {"source": "wait", "target": "e2"}],
}


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def throwaway_database():
    name = f"pm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    netloc = ADMIN_URL.split("://", 1)[1].split("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{netloc}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def smtp_sink_process():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"127.0.0.1:{port}",
        ],
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"smtp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def seed(count: int) -> Sequence:
    workspace = accounts.create_workspace("Bench")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(sequence, "activate", T0)
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "tenant_id": workspace.tenant_id,
            "workspace_id": workspace.id,
            "email": f"person{i}@bench.example",
            "first_name": f"Person{i}",
            "fields": {},
            "tags": [],
        }
        for i in range(count)
    ]
    for start in range(0, count, 10_000):
        db.session.execute(insert(Contact), rows[start : start + 10_000])
    db.session.commit()
    contacts = list(db.session.scalars(select(Contact)))
    started = time.perf_counter()
    enroll_contacts(sequence, contacts, T0)
    say(f"  enrolled {count:,} contacts in {time.perf_counter() - started:.1f} s")
    db.session.expunge_all()
    db.session.execute(text("ANALYZE"))  # a live database has statistics; a fresh one has none
    db.session.commit()
    return sequence


def timed(label: str, action) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    say(f"  {label}: {elapsed:.2f} s")
    return result, elapsed


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument(
        "--dispatch",
        type=int,
        default=20_000,
        help="messages to send through SMTP (the rest stay queued)",
    )
    args = parser.parse_args()

    with throwaway_database() as url, smtp_sink_process() as smtp_url:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "SMTP_URL": smtp_url, "EMBEDDED_SCHEDULER": False}
        )
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            say(f"Seeding {args.enrollments:,} enrollments (email -> 1 day delay -> email)...")
            seed(args.enrollments)

            say("Processor:")
            first, t1 = timed(
                "pass 1 (email 1 queued, delay entered)", lambda: process_due(T0, BATCH)
            )
            second, t2 = timed(
                "pass 2 (delay done, email 2 queued, completed)",
                lambda: process_due(T0 + timedelta(days=1), BATCH),
            )
            steps = first.steps + second.steps
            assert steps == count(StepLog) == 3 * args.enrollments, "every step logged once"

            say(f"Dispatcher ({args.dispatch:,} messages over one SMTP connection per batch):")
            db.session.execute(
                OutboundMessage.__table__.update()
                .where(
                    OutboundMessage.id.notin_(
                        select(OutboundMessage.id).order_by(OutboundMessage.id).limit(args.dispatch)
                    )
                )
                .values(next_attempt_at=T0 + timedelta(days=365))
            )
            db.session.commit()
            sent, t3 = timed("dispatch", lambda: dispatch_due(T0 + timedelta(days=1)))
            assert sent.sent == args.dispatch, sent

    say("")
    say(
        f"processor: {steps / (t1 + t2):,.0f} enrollment-steps/s "
        f"({steps:,} steps, {2 * args.enrollments:,} enrollment passes in {t1 + t2:.1f} s)"
    )
    say(
        f"dispatcher: {sent.sent / t3:,.0f} messages/s ({sent.sent:,} rendered and sent "
        f"over SMTP in {t3:.1f} s)"
    )


if __name__ == "__main__":
    main()
