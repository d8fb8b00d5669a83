"""Benchmark: the A/B evaluation's cost as the number of sends grows.

Seeds one running sequence whose first email tests A against B (click rate), with N sent
messages split 50/50, clicks on 8% of A's and 10% of B's, and goal conversions; then runs
the periodic evaluation (`ab_tests.evaluate_tests`) and prints, per size, the SQL statements
it issued, its wall time and its decision. The statement count is the same at every size:
the open tests (1), their sends, engagement and conversions (3, GROUP BY step and variant),
and the decision insert when there is one (on PostgreSQL a COPY through the driver, which
SQLAlchemy's statement events do not see: 4 counted + 1 COPY there).

    .venv/bin/python bench/ab_evaluation.py [--sizes 1000,10000,100000] [--sqlite]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    AbTestDecision,
    Contact,
    ContactEvent,
    ContactSequence,
    Conversion,
    OutboundMessage,
    SequenceStep,
)
from app.services import accounts, sequences  # noqa: E402
from app.services.ab_tests import evaluate_tests  # noqa: E402
from bench.harness import T0, bench_config, counted_statements, on_each_database, say  # noqa: E402

CHUNK = 10_000
DEFINITION = {
    "name": "Bench: A/B subject test",
    "goals": [{"name": "Bought", "when": {"type": "custom_event", "event": "bought"}}],
    "steps": [
        {
            "id": "e1",
            "type": "email",
            "config": {
                "subject": "Hello",
                "body": '<p><a href="https://example.com/x">Go</a></p>',
                "variants": [
                    {"key": "A", "weight": 50, "subject": "Hello from A"},
                    {"key": "B", "weight": 50, "subject": "Hello from B"},
                ],
                "ab_test": {"metric": "click_rate", "min_sends": 200},
            },
        },
    ],
    "connections": [],
}


def seed(sends: int) -> None:
    """N contacts, enrollments and sent messages, clicks and conversions, in bulk."""
    workspace = accounts.create_workspace("Bench")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(sequence, "activate", T0)
    step_id = db.session.scalar(select(SequenceStep.id).where(SequenceStep.key == "e1"))
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    for start in range(0, sends, CHUNK):
        people, enrollments, messages, clicks, bought = [], [], [], [], []
        for n in range(start, min(start + CHUNK, sends)):
            contact, enrollment, message = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            variant = "AB"[n % 2]
            people.append({"id": contact, **owner, "email": f"p{n}@bench.example"})
            enrollments.append(_enrollment(enrollment, contact, sequence.id, owner))
            messages.append(_message(message, enrollment, contact, sequence.id, step_id, n, owner))
            messages[-1]["variant_key"] = variant
            if n % 100 < (8 if variant == "A" else 10):
                clicks.append(_click(contact, enrollment, step_id, message, owner))
            if n % 50 == 0:
                bought.append(_conversion(contact, enrollment, sequence.id, owner))
        db.session.execute(insert(Contact), people)
        db.session.execute(insert(ContactSequence), enrollments)
        db.session.execute(insert(OutboundMessage), messages)
        db.session.execute(insert(ContactEvent), clicks)
        if bought:
            db.session.execute(insert(Conversion), bought)
        db.session.commit()
    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _enrollment(id_: uuid.UUID, contact: uuid.UUID, sequence: uuid.UUID, owner: dict) -> dict:
    return {
        "id": id_,
        **owner,
        "sequence_id": sequence,
        "contact_id": contact,
        "status": "completed",
        "enrolled_at": T0,
        "finished_at": T0,
    }


def _message(
    id_: uuid.UUID,
    enrollment: uuid.UUID,
    contact: uuid.UUID,
    sequence: uuid.UUID,
    step: uuid.UUID,
    n: int,
    owner: dict,
) -> dict[str, Any]:
    return {
        "id": id_,
        **owner,
        "enrollment_id": enrollment,
        "sequence_id": sequence,
        "step_id": step,
        "contact_id": contact,
        "rotation": 0,
        "message_id": f"<{id_.hex}@bench.example>",
        "to_email": f"p{n}@bench.example",
        "status": "sent",
        "attempts": 1,
        "queued_at": T0,
        "next_attempt_at": T0,
        "sent_at": T0,
    }


def _click(
    contact: uuid.UUID, enrollment: uuid.UUID, step: uuid.UUID, message: uuid.UUID, owner: dict
) -> dict[str, Any]:
    return {
        **owner,
        "contact_id": contact,
        "type": "clicked_link",
        "properties": {"url": "https://example.com/x"},
        "occurred_at": T0 + timedelta(hours=1),
        "recorded_at": T0 + timedelta(hours=1),
        "source": "tracking",
        "enrollment_id": enrollment,
        "step_id": step,
        "message_id": message,
    }


def _conversion(
    contact: uuid.UUID, enrollment: uuid.UUID, sequence: uuid.UUID, owner: dict
) -> dict[str, Any]:
    return {
        **owner,
        "enrollment_id": enrollment,
        "sequence_id": sequence,
        "contact_id": contact,
        "run": 1,
        "goal": "Bought",
        "source": "event",
        "converted_at": T0 + timedelta(days=1),
    }


def measure(url: str, sends: int, label: str) -> None:
    app = create_app(bench_config(url, ""))
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        seed(sends)
        say(f"  {label}: seeded {sends:,} sends in {time.perf_counter() - started:.1f} s")
        with counted_statements() as statements:
            started = time.perf_counter()
            decided = evaluate_tests(T0 + timedelta(days=2))
            elapsed = time.perf_counter() - started
        row = db.session.scalars(select(AbTestDecision)).one_or_none()
        verdict = f"{row.state}, winner {row.winner}" if row else "collecting"
        p_value = row.figures.get("p_value") if row else None
        say(
            f"  {label}: {sends:>9,} sends -> {len(statements)} statements, "
            f"{elapsed * 1000:7.1f} ms, {decided} decided ({verdict}, p = {p_value:.2g})"
            if p_value is not None
            else f"  {label}: {sends:>9,} sends -> {len(statements)} statements, "
            f"{elapsed * 1000:7.1f} ms ({verdict})"
        )
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite files")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    say("A/B evaluation: statements and time per pass, by number of sends")
    on_each_database(sizes, args.sqlite, measure)


if __name__ == "__main__":
    main()
