"""Benchmark: enroll a 100,000-contact segment in one API request.

`POST /api/sequences/{id}/enroll {"segment": "New Signups"}` through the Flask stack, on a
throwaway PostgreSQL database (and, with --sqlite, an SQLite file). Prints the seconds for:
the first request (everyone new), the same request again (everyone already active: all
skipped with a reason), and a re-enrollment of everyone after their run finished (rule
`always`: each earlier run archived to `enrollment_runs`, the row restarted).

    .venv/bin/python bench/bulk_enroll.py [--contacts 100000] [--sqlite]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Contact,
    ContactSequence,
    EnrollmentRun,
    Segment,
    SegmentMembership,
)
from app.services import accounts, sequences  # noqa: E402
from bench.harness import T0, bench_config, say, throwaway_database  # noqa: E402

DEFINITION = {
    "name": "Bench: bulk enrollment",
    "trigger": {"type": "manual"},
    "re_enrollment": {"mode": "always"},
    "steps": [
        {"id": "e1", "type": "email", "config": {"subject": "Hi", "body": "<p>Hello</p>"}},
    ],
    "connections": [],
}
CHUNK = 10_000


def seed(count: int) -> tuple[str, str]:
    """A workspace with `count` contacts, all in the static segment "New Signups"; returns
    (sequence id, API token)."""
    workspace = accounts.create_workspace("Bench")
    token = accounts.create_token(workspace)
    sequence = sequences.create_sequence(workspace, sequences.parse_input(DEFINITION))
    sequences.set_status(sequence, "activate", T0)
    segment = Segment(tenant_id=workspace.tenant_id, workspace_id=workspace.id, name="New Signups")
    db.session.add(segment)
    db.session.flush()
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    for start in range(0, count, CHUNK):
        ids = [uuid.uuid4() for _ in range(start, min(start + CHUNK, count))]
        db.session.execute(
            insert(Contact),
            [
                {**owner, "id": i, "email": f"p{start + n}@bench.example", "fields": {}, "tags": []}
                for n, i in enumerate(ids)
            ],
        )
        db.session.execute(
            insert(SegmentMembership),
            [{**owner, "segment_id": segment.id, "contact_id": i, "joined_at": T0} for i in ids],
        )
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return str(sequence.id), token


def timed_request(client: Any, path: str, token: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = client.post(
        path, json={"segment": "New Signups"}, headers={"Authorization": f"Bearer {token}"}
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return elapsed, answer.json


def run(url: str, count: int, label: str) -> None:
    app = create_app({**bench_config(url, ""), "SMTP_URL": None})
    with app.app_context():
        upgrade()
        say(f"[{label}] seeding {count:,} contacts in one segment...")
        seq_id, token = seed(count)
        path = f"/api/sequences/{seq_id}/enroll"
        client = app.test_client()
        first, body = timed_request(client, path, token)
        say(f"[{label}] enroll {body['enrolled']:,} new contacts: {first:.2f} s")
        again, body = timed_request(client, path, token)
        say(f"[{label}] same request, {body['skipped']:,} skipped as active: {again:.2f} s")
        db.session.execute(
            update(ContactSequence).values(status="completed", finished_at=T0, current_step_id=None)
        )
        db.session.commit()
        rerun, body = timed_request(client, path, token)
        say(f"[{label}] re-enroll {body['re_enrolled']:,} finished contacts: {rerun:.2f} s")
        runs = db.session.scalar(select(func.count()).select_from(EnrollmentRun))
        rows = db.session.scalar(select(func.count()).select_from(ContactSequence))
        assert rows == count and runs == count, (rows, runs)
        db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--sqlite", action="store_true", help="also run on an SQLite file")
    args = parser.parse_args()
    with throwaway_database() as url:
        run(url, args.contacts, "PostgreSQL")
    if args.sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/bench.db", args.contacts, "SQLite")


if __name__ == "__main__":
    main()
