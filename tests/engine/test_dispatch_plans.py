"""On PostgreSQL the dispatcher reads the outbox by its due index, in order, and by key,
whatever the table's statistics say.

Statistics taken before a large send was queued put the queued messages at a handful, and
the planner then read all the due, claimed or sending messages (or every message of the
workspace) for each batch or group: a backlog of N cost N rows a batch. Here they are taken
when the outbox held 30,000 sent messages and no queued one, or not at all (the
table not yet analyzed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from app.extensions import db
from app.services.dispatcher import dispatch_due
from app.services.processor import process_due
from tests.conftest import api_for
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR
from tests.planner_statistics import plan_nodes, plans_made, reads_of, statistics_kept
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
BY_KEY = "pk_outbound_messages"
DUE = "ix_outbound_messages_status_due"


# 1,500 copies of the 20 messages: at 300 (6,000 rows) reading the whole table was close
# enough in cost to 100 lookups by key that the group commit's plan changed with the tests
# run before it in the same process (a seq scan, seen in parallel runs).
HISTORY = """
INSERT INTO outbound_messages (id, tenant_id, workspace_id, enrollment_id, sequence_id,
    step_id, contact_id, rotation, message_id, sequence_version, to_email, status, attempts,
    queued_at, next_attempt_at, sent_at, created_at, updated_at)
SELECT gen_random_uuid(), tenant_id, workspace_id, enrollment_id, sequence_id, step_id,
    contact_id, rotation + g, message_id || '.' || g, sequence_version, to_email, 'sent', 1,
    queued_at, next_attempt_at, queued_at, created_at, updated_at
FROM outbound_messages CROSS JOIN generate_series(1, 1500) AS g
"""


STATISTICS = {
    "taken before the send": ["ANALYZE outbound_messages"],
    # as on a table autovacuum has not analyzed yet (as superuser, which the tests are)
    "never taken": [
        "DELETE FROM pg_statistic WHERE starelid = 'outbound_messages'::regclass",
        "UPDATE pg_class SET reltuples = -1 WHERE oid = 'outbound_messages'::regclass",
    ],
}


@pytest.fixture(params=list(STATISTICS))
def plans(request, pg_app) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """A pass over a send of 60 emails, the outbox holding 30,000 sent messages and its
    statistics either taken before the send was queued or never; each statement's plan as
    PostgreSQL made it for that statement, in its transaction and with its parameters
    (EXPLAIN on the same cursor, just before it)."""
    with statistics_kept("outbound_messages"):
        api = api_for(pg_app, "Acme")
        earlier = [(f"e{i}@example.com", f"E{i}") for i in range(20)]
        launch(api, single_email("Earlier", "<p>Hello</p>", name="Earlier"), earlier)
        process_due(NOW)
        db.session.execute(text(HISTORY))
        db.session.execute(
            text("UPDATE outbound_messages SET status = 'sent', sent_at = queued_at")
        )
        for statement in STATISTICS[request.param]:
            db.session.execute(text(statement))
        db.session.commit()
        people = [(f"p{i}@example.com", f"P{i}") for i in range(60)]
        launch(api, single_email("Hi", "<p>Hello</p>"), people)
        process_due(NOW)
        with plans_made("outbound_messages") as explained, SmtpSink() as sink:
            pg_app.config.update(SMTP_URL=sink.url, SMTP_CONNECTIONS=1)
            stats = dispatch_due(NOW, batch_size=100)
        assert stats.sent == 60 and len(sink.messages) == 60
        yield explained


def outbox_reads(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    return reads_of(plan, "outbound_messages")


def of(plans: list[tuple[str, dict[str, Any]]], marker: str) -> list[dict[str, Any]]:
    found = [plan for statement, plan in plans if marker in statement]
    assert found, marker
    return found


def test_each_batch_is_claimed_in_the_due_index_order_and_marked_by_key(plans):
    for plan in of(plans, "SKIP LOCKED"):
        assert not [node for node in plan_nodes(plan) if node["Node Type"] == "Sort"]
        reads = outbox_reads(plan)
        assert reads.count(("Index Scan", DUE)) == 1, reads  # the walk in due order
        assert set(reads) == {("Index Scan", DUE), ("Index Scan", BY_KEY)}, reads


def test_a_batch_is_loaded_and_each_group_committed_by_the_messages_keys(plans):
    loads = of(plans, "JOIN contacts")
    group_commits = of(plans, "json_to_recordset")
    for plan in loads + group_commits:
        reads = outbox_reads(plan)
        assert reads and all(
            index == BY_KEY or kind == "Bitmap Heap Scan" for kind, index in reads
        ), reads
