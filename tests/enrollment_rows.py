"""Many enrollments at once for the enrollments list's tests: real sequences (with their
steps), contacts and enrollment rows written set-based, with varied statuses, steps,
reasons and times, so each filter has something to find and something to leave out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from app.extensions import db
from app.models import Contact, ContactSequence, Sequence, SequenceStep, Workspace
from app.services import sequences
from tests.helpers import onboarding_definition

STATUSES = ("active", "active", "completed", "exited", "paused", "failed")


@dataclass
class Seeded:
    workspace: Workspace
    sequences: list[Sequence]
    steps: dict[uuid.UUID, list[uuid.UUID]]  # sequence id -> its step ids, in order


def seed_sequences(workspace: Workspace, count: int, prefix: str = "Flow") -> Seeded:
    """`count` active copies of the onboarding sequence, named "<prefix> 1", ..."""
    made = []
    for n in range(1, count + 1):
        definition = onboarding_definition()
        definition["name"] = f"{prefix} {n}"
        sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
        made.append(sequence)
    steps: dict[uuid.UUID, list[uuid.UUID]] = {s.id: [] for s in made}
    for step in db.session.execute(
        select(SequenceStep.sequence_id, SequenceStep.id)
        .where(SequenceStep.sequence_id.in_(steps))
        .order_by(SequenceStep.sort_order, SequenceStep.key)
    ):
        steps[step.sequence_id].append(step.id)
    return Seeded(workspace, made, steps)


def enroll_many(
    seeded: Seeded, count: int, start: datetime, *, same_time: bool = False, domain: str = "x.test"
) -> list[uuid.UUID]:
    """`count` contacts n0@domain..., the nth enrolled in sequence n % len, enrolled an
    hour apart from `start` backwards (or all at `start`), with a status, step and
    reasons cycling through the variants. Returns the enrollment ids."""
    workspace = seeded.workspace
    owner = {"tenant_id": workspace.tenant_id, "workspace_id": workspace.id}
    contact_ids = [uuid.uuid4() for _ in range(count)]
    db.session.execute(
        insert(Contact),
        [
            {
                **owner,
                "id": cid,
                "email": f"n{n}@{domain}",
                "first_name": f"Name{n}",
                "fields": {},
                "tags": [],
            }
            for n, cid in enumerate(contact_ids)
        ],
    )
    ids = [uuid.uuid4() for _ in range(count)]
    rows = []
    for n, (eid, cid) in enumerate(zip(ids, contact_ids, strict=True)):
        sequence = seeded.sequences[n % len(seeded.sequences)]
        steps = seeded.steps[sequence.id]
        status = STATUSES[n % len(STATUSES)]
        enrolled = start if same_time else start - timedelta(hours=n)
        live = status in ("active", "paused")
        rows.append(
            {
                **owner,
                "id": eid,
                "sequence_id": sequence.id,
                "contact_id": cid,
                "status": status,
                "current_step_id": steps[n % len(steps)],
                "enrolled_at": enrolled,
                "next_execution_at": enrolled + timedelta(days=1) if live else None,
                "finished_at": None if live else enrolled + timedelta(days=2),
                "enroll_reason": "added by API" if n % 2 else "joined segment New Signups",
                "exit_reason": None if live else f"goal reached #{n % 7}",
                "version": 1 + n % 2,
                "context_data": {},
                "visits": {},
            }
        )
    db.session.execute(insert(ContactSequence), rows)
    db.session.commit()
    return ids
