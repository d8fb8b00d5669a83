"""Benchmark: what the step log, outbox and events tables cost per enrollment, and what a
retention pass takes back.

Seeds N enrollments through email -> 1 day -> email on a throwaway PostgreSQL database
(the real processor; the dispatcher renders a sample of the messages for real, the rest
get that sample's body, as sent), adds events (first opens on 45% of messages, a repeat
open on half of those, a proxy open on 20%, a click on 8%, one API product event per
contact), prints each table's size with its indexes (pg_total_relation_size) per enrollment
and per million, then runs retention passes 500 days later keeping 400 and prints what they
removed, how long they took, and the sizes after VACUUM.

    .venv/bin/python bench/growth.py [--enrollments 100000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Sequence, SequenceStep, SequenceVersion  # noqa: E402
from app.services import retention  # noqa: E402
from app.services.dispatcher import dispatch_due  # noqa: E402
from app.services.processor import process_due  # noqa: E402
from bench.harness import BATCH, T0, bench_config, say, seed, throwaway_database  # noqa: E402

TABLES = ("sequence_step_logs", "outbound_messages", "message_attempts", "contact_events")
BODY = (
    "<p>Hi {{ contact.first_name }},</p>"
    + "<p>A paragraph of a typical sequence email, a few sentences long, about the product"
    " and why it matters to the reader, with a link to read more.</p>"
    * 8
    + '<p><a href="https://example.com/pricing">Pricing</a> · '
    '<a href="https://example.com/book-demo">Book a demo</a></p>'
)


def vacuum(what: str = "VACUUM ANALYZE") -> None:
    """VACUUM outside a transaction, on a connection of its own."""
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(what))


def sizes() -> dict[str, int]:
    return {
        table: db.session.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
        for table in TABLES
    }


def rows() -> dict[str, int]:
    return {table: db.session.scalar(text(f"SELECT count(*) FROM {table}")) for table in TABLES}


def show(title: str, enrollments: int) -> dict[str, int]:
    found, counted = sizes(), rows()
    say(f"{title}:")
    head = f"  {'table (+ indexes, TOAST)':<28}{'rows':>10}{'MB':>9}{'B/enrollment':>14}"
    say(f"{head}{'GB/million':>12}")
    for table in TABLES:
        per = found[table] / enrollments
        say(
            f"  {table:<28}{counted[table]:>10,}{found[table] / 2**20:>9.1f}"
            f"{per:>14,.0f}{per * 1e6 / 2**30:>12.2f}"
        )
    total = sum(found.values()) / enrollments
    say(
        f"  {'total':<28}{'':>10}{sum(found.values()) / 2**20:>9.1f}{total:>14,.0f}"
        f"{total * 1e6 / 2**30:>12.2f}"
    )
    return found


def seed_events() -> None:
    """Engagement on the messages and a product event per contact, set-based."""
    engagement = """
        INSERT INTO contact_events (tenant_id, workspace_id, contact_id, type, properties,
            occurred_at, recorded_at, source, enrollment_id, step_id, message_id)
        SELECT tenant_id, workspace_id, contact_id, CAST(:kind AS varchar), '{}',
            sent_at + CAST(:after AS interval), sent_at + CAST(:after AS interval),
            'tracking', enrollment_id, step_id, id
        FROM outbound_messages
        WHERE abs(hashtext(id::text || CAST(:kind AS text))) % 100 < :percent
    """
    for kind, percent, after in (
        ("opened", 45, "1 hour"),
        ("machine_open", 20, "1 second"),
        ("clicked_link", 8, "2 hours"),
    ):
        db.session.execute(text(engagement), {"kind": kind, "percent": percent, "after": after})
    db.session.execute(  # a repeat open on half the opened messages
        text("""
        INSERT INTO contact_events (tenant_id, workspace_id, contact_id, type, properties,
            occurred_at, recorded_at, source, enrollment_id, step_id, message_id)
        SELECT tenant_id, workspace_id, contact_id, type, properties,
            occurred_at + interval '1 day', recorded_at + interval '1 day', source,
            enrollment_id, step_id, message_id
        FROM contact_events WHERE type = 'opened' AND id % 2 = 0
        """)
    )
    db.session.execute(
        text("""
        INSERT INTO contact_events (tenant_id, workspace_id, contact_id, type, properties,
            occurred_at, recorded_at, source)
        SELECT tenant_id, workspace_id, id, 'page_viewed', '{"path": "/pricing"}',
            :at, :at, 'api' FROM contacts
        """),
        {"at": T0 + timedelta(hours=3)},
    )
    db.session.commit()


def fill_bodies(sample: int) -> None:
    """Send `sample` messages through the dispatcher (captured: rendered, tracked, stored);
    give the rest the body of a rendered one of their step, as the dispatcher would have."""
    db.session.execute(
        text("""
        UPDATE outbound_messages SET next_attempt_at = next_attempt_at + interval '1000 days'
        WHERE id NOT IN (SELECT id FROM outbound_messages ORDER BY id LIMIT :n)
        """),
        {"n": sample},
    )
    db.session.commit()
    stats = dispatch_due(T0 + timedelta(days=2))
    assert stats.captured == sample, stats
    db.session.execute(
        text("""
        UPDATE outbound_messages m SET status = 'sent', attempts = 1, subject = s.subject,
            html = s.html, text = s.text, links = s.links,
            sent_at = m.queued_at + interval '1 minute',
            accepted_at = m.queued_at + interval '1 minute', updated_at = m.queued_at
        FROM (SELECT DISTINCT ON (step_id) step_id, subject, html, text, links
              FROM outbound_messages WHERE html IS NOT NULL) s
        WHERE s.step_id = m.step_id
        """)
    )
    db.session.execute(
        text("""
        INSERT INTO message_attempts (tenant_id, workspace_id, message_id, attempt,
            started_at, finished_at, outcome, smtp_code, smtp_answer)
        SELECT tenant_id, workspace_id, id, 1, sent_at, sent_at, 'sent', 250,
            '2.0.0 Ok: queued as ' || substr(md5(id::text), 1, 12)
        FROM outbound_messages m
        WHERE NOT EXISTS (SELECT 1 FROM message_attempts a WHERE a.message_id = m.id)
        """)
    )
    db.session.commit()


def with_body(sequence_id) -> None:
    """Give the seeded emails a typical body, in the steps and the published version the
    dispatcher renders from."""

    def swap(document):
        if isinstance(document, dict):
            return {k: swap(v) for k, v in document.items()}
        if isinstance(document, list):
            return [swap(v) for v in document]
        return BODY if document == "<p>Hello {{ contact.first_name }}</p>" else document

    for step in db.session.scalars(
        select(SequenceStep).where(SequenceStep.sequence_id == sequence_id)
    ):
        step.config = swap(step.config)
    for version in db.session.scalars(
        select(SequenceVersion).where(SequenceVersion.sequence_id == sequence_id)
    ):
        version.definition = swap(version.definition)
    db.session.commit()


def run(enrollments: int, sample: int) -> None:
    with throwaway_database() as url:
        app = create_app(bench_config(url, ""))
        with app.app_context():
            upgrade()
            say(f"Seeding {enrollments:,} enrollments (email -> 1 day -> email, ~1.3 KB body)...")
            seed(enrollments)
            with_body(db.session.scalar(select(Sequence.id)))
            started = time.perf_counter()
            process_due(T0, BATCH)
            process_due(T0 + timedelta(days=1), BATCH)
            say(f"  processed in {time.perf_counter() - started:.1f} s")
            fill_bodies(sample)
            seed_events()
            vacuum()
            before = show("Before retention", enrollments)

            now, days, passes = T0 + timedelta(days=500), 400, 0
            total = retention.Retained()
            started = time.perf_counter()
            slowest = 0.0
            while True:
                began = time.perf_counter()
                done = retention.retain(now, days)
                slowest = max(slowest, time.perf_counter() - began)
                passes += 1
                for name, value in done.counts().items():
                    setattr(total, name, getattr(total, name) + value)
                if not done.more:
                    break
            elapsed = time.perf_counter() - started
            say(
                f"Retention ({days} days, {passes} pass(es), {elapsed:.1f} s, slowest pass "
                f"{slowest:.1f} s, {total.chunks} chunks of <= {retention.CHUNK_ROWS:,}):"
            )
            say(f"  {total.text(days)}")
            say(f"  {(total.messages_trimmed + total.events_deleted) / elapsed:,.0f} rows/s")
            show("After retention, before VACUUM (space is reusable, not returned)", enrollments)
            vacuum()
            after = show("After VACUUM (what new rows reuse; VACUUM FULL returns it)", enrollments)
            saved = 1 - sum(after.values()) / sum(before.values())
            say("  note: plain VACUUM keeps the files' size; the saving is free space")
            vacuum("VACUUM FULL")
            full = show("After VACUUM FULL (what the data now takes)", enrollments)
            say(
                f"Kept per enrollment after retention: {sum(full.values()) / enrollments:,.0f} B "
                f"({1 - sum(full.values()) / sum(before.values()):.0%} less; "
                f"plain VACUUM {saved:.0%})"
            )
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000)
    args = parser.parse_args()
    run(args.enrollments, args.sample)


if __name__ == "__main__":
    main()
