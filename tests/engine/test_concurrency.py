"""Two `tick` processes racing on PostgreSQL send each email exactly once."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import Contact, OutboundMessage, Sequence, StepLog
from app.services.enrollment import enroll_contacts
from tests.conftest import api_for
from tests.helpers import onboarding_definition, tick_process
from tests.smtp_sink import running_sink

CONTACTS = 300
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def add_contacts(
    workspace_id: uuid.UUID, tenant_id: uuid.UUID, count: int = CONTACTS
) -> list[Contact]:
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "workspace_id": workspace_id,
            "email": f"racer{i}@example.com",
            "first_name": f"Racer{i}",
            "fields": {},
            "tags": [],
        }
        for i in range(count)
    ]
    db.session.execute(insert(Contact), rows)
    db.session.commit()
    return list(db.session.scalars(select(Contact).where(Contact.workspace_id == workspace_id)))


def racing_ticks(now: datetime, env: dict[str, str]) -> list[str]:
    procs = [tick_process(now, env) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        outputs.append(out)
    return outputs


def test_two_racing_tick_processes_send_each_email_once(pg_app):
    api = api_for(pg_app, "Race")
    seq_id = uuid.UUID(api.post("/api/sequences", json=onboarding_definition()).json["id"])
    api.post(f"/api/sequences/{seq_id}/activate")
    sequence = db.session.get_one(Sequence, seq_id)
    contacts = add_contacts(api.workspace_id, sequence.tenant_id)
    assert len(enroll_contacts(sequence, contacts, T0).enrolled) == CONTACTS

    for sink in running_sink():
        env = {
            **os.environ,
            "DATABASE_URL": pg_app.config["SQLALCHEMY_DATABASE_URI"],
            "SMTP_URL": sink.url,
            "EMBEDDED_SCHEDULER": "0",
            "PROCESSOR_BATCH_SIZE": "20",
            "DISPATCH_BATCH_SIZE": "15",
        }
        advanced = Counter()
        for moment in (T0, T0 + timedelta(days=2), T0 + timedelta(days=5)):
            for i, output in enumerate(racing_ticks(moment, env)):
                advanced[i] += int(re.search(r"(\d+) enrollment\(s\) advanced", output).group(1))
        sink.wait_for(3 * CONTACTS, timeout=10)
        sent = Counter((str(m["To"]), str(m["Subject"])) for m in sink.messages)
        assert len(sent) == 3 * CONTACTS and set(sent.values()) == {1}
        assert sum(advanced.values()) == 3 * CONTACTS
        print("enrollments advanced per process:", dict(advanced))

    statuses = Counter(db.session.scalars(select(OutboundMessage.status)))
    assert statuses == {"sent": 3 * CONTACTS}
    assert db.session.scalar(select(func.count(StepLog.id))) == 5 * CONTACTS
