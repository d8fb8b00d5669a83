"""Benchmark: publishing a new version of a live sequence as the contacts in flight grow.

Seeds one live 3-email sequence (email, 2-day delay, email, 3-day delay, email) with N
enrollments in flight, half waiting in each delay. Then publishes version 2 through the
API's path (`publishing.publish`): Email 2's subject changes, the first delay becomes 4
days (its contacts are retimed) and the second delay is removed, its contacts moved to
Email 3. Prints, per size, the SQL statements the publish issued, its wall time and where
the contacts went. The statement count does not grow with the contacts: the plan's count
(1 GROUP BY), the claim, the graph rewrite and the snapshot (a handful, by number of
steps), and 3 for the contacts (history, move, exit). `--statements` lists them.

    .venv/bin/python bench/publishing.py [--sizes 1000,10000,100000] [--sqlite] [--statements]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Contact, ContactSequence, EnrollmentChange, SequenceStep  # noqa: E402
from app.services import accounts, publishing, sequences  # noqa: E402
from bench.harness import T0, bench_config, counted_statements, on_each_database, say  # noqa: E402

CHUNK = 10_000
DEFINITION: dict[str, Any] = {
    "name": "Bench: three emails",
    "steps": [
        {"id": "e1", "type": "email", "config": {"subject": "One", "body": "<p>1</p>"}},
        {"id": "d1", "type": "delay", "config": {"duration": "2 days"}},
        {"id": "e2", "type": "email", "config": {"subject": "Two", "body": "<p>2</p>"}},
        {"id": "d2", "type": "delay", "config": {"duration": "3 days"}},
        {"id": "e3", "type": "email", "config": {"subject": "Three", "body": "<p>3</p>"}},
    ],
    "connections": [
        {"source": "e1", "target": "d1"},
        {"source": "d1", "target": "e2"},
        {"source": "e2", "target": "d2"},
        {"source": "d2", "target": "e3"},
    ],
}


def version_two() -> dict[str, Any]:
    new = copy.deepcopy(DEFINITION)
    new["steps"] = [s for s in new["steps"] if s["id"] != "d2"]
    new["steps"][1]["config"]["duration"] = "4 days"
    new["steps"][2]["config"]["subject"] = "Two, better"
    new["connections"] = [c for c in new["connections"] if "d2" not in c.values()]
    new["connections"].append({"source": "e2", "target": "e3"})
    return new


def seed(in_flight: int) -> Any:
    """N contacts, each enrolled and waiting in one of the two delays, in bulk."""
    workspace = accounts.create_workspace("Bench")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(sequence, "activate", T0)
    keys = select(SequenceStep.key, SequenceStep.id).where(SequenceStep.key.in_(("d1", "d2")))
    delays = dict(db.session.execute(keys).all())
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    for start in range(0, in_flight, CHUNK):
        people, runs = [], []
        for n in range(start, min(start + CHUNK, in_flight)):
            contact = uuid.uuid4()
            people.append({"id": contact, **owner, "email": f"p{n}@bench.example"})
            runs.append(
                {
                    "id": uuid.uuid4(),
                    **owner,
                    "sequence_id": sequence.id,
                    "contact_id": contact,
                    "status": "active",
                    "current_step_id": delays["d1" if n % 2 else "d2"],
                    "step_started_at": T0,
                    "enrolled_at": T0,
                    "next_execution_at": T0,
                    "version": 1,
                }
            )
        db.session.execute(insert(Contact), people)
        db.session.execute(insert(ContactSequence), runs)
        db.session.commit()
    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return sequence


def measure(url: str, in_flight: int, label: str) -> None:
    app = create_app(bench_config(url, ""))
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        sequence = seed(in_flight)
        seeded = time.perf_counter() - started
        say(f"  {label}: seeded {in_flight:,} contacts in flight in {seeded:.1f} s")
        definition = sequences.parse_input(version_two())
        with counted_statements() as statements:
            started = time.perf_counter()
            version = publishing.publish(
                sequence, definition, {"d2": "e3"}, actor="bench", note=None, now=T0
            )
            elapsed = time.perf_counter() - started
        if "--statements" in sys.argv:
            say("\n".join(" ".join(s.split())[:110] for s in statements))
        actions = Counter(
            dict(
                db.session.execute(
                    select(EnrollmentChange.action, func.count()).group_by(EnrollmentChange.action)
                ).all()
            )
        )
        say(
            f"  {label}: {in_flight:>9,} in flight -> version {version.number} in "
            f"{len(statements)} statements, {elapsed * 1000:8.1f} ms "
            f"(retimed {actions['retime']:,}, moved {actions['move']:,})"
        )
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite files")
    parser.add_argument("--statements", action="store_true", help="list the statements")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    say("Publishing a version: statements and time, by number of contacts in flight")
    on_each_database(sizes, args.sqlite, measure)


if __name__ == "__main__":
    main()
