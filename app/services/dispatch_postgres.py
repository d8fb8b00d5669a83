"""The dispatcher's group commit on PostgreSQL in one statement, committed on its own.

Why: before a group goes to SMTP, the writer thread records the outcomes finished so far
and marks the group `sending`, durably. As an UPDATE executed once per outcome, an INSERT
of their attempts, the mark and a COMMIT, that was four round trips, and the thread had to
win the GIL back from the rendering thread after each (up to the 5 ms switch interval):
about 12 ms per group of 16, during which rendering waited for the writer. Here one
statement, in autocommit, does all three, reading the outcomes and attempts from two JSON
parameters: one round trip and one durable commit.

It changes only rows this dispatcher still holds (`claimed` or `sending`), as the general
path (`dispatcher.write_outcomes`, then the mark) does; the outcomes and the group are
always different messages, so no row is changed twice in the statement. Its guards on the
status are written `(...) IS TRUE`, a condition no index serves: the rows are found by key.
As plain conditions, the planner (its statistics putting claimed and sending messages at a
handful) read them from the due index, whose claimed and sending entries include those of
every message sent since the last vacuum: a pass of N messages read N entries a group.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

GROUP_COMMIT = """
WITH outcome AS (
    UPDATE outbound_messages AS m SET
        status = o.b_status,
        attempts = m.attempts - o.b_refund,
        sent_at = o.b_sent_at,
        accepted_at = o.b_accepted_at,
        lease_expires_at = NULL,
        next_attempt_at = o.b_next,
        last_error = o.b_error,
        subject = o.b_subject,
        html = o.b_html,
        text = o.b_text,
        links = o.b_links,
        sender_domain = o.b_domain,
        updated_at = o.b_now
    FROM json_to_recordset(%(outcomes)s::json) AS o(
        b_id uuid, b_status text, b_refund integer, b_sent_at timestamptz,
        b_accepted_at timestamptz, b_next timestamptz, b_error text, b_subject text,
        b_html text, b_text text, b_links jsonb, b_domain text, b_now timestamptz)
    WHERE m.id = o.b_id AND (m.status IN ('claimed', 'sending')) IS TRUE
),
attempt AS (
    INSERT INTO message_attempts (tenant_id, workspace_id, message_id, attempt,
        started_at, finished_at, outcome, smtp_code, smtp_answer)
    SELECT * FROM json_to_recordset(%(attempts)s::json) AS a(
        tenant_id uuid, workspace_id uuid, message_id uuid, attempt integer,
        started_at timestamptz, finished_at timestamptz, outcome text, smtp_code integer,
        smtp_answer text)
)
UPDATE outbound_messages SET status = 'sending', lease_expires_at = %(lease_until)s
WHERE id = ANY(%(group)s) AND (status = 'claimed') IS TRUE
RETURNING id
"""


def commit_group(
    conn: Connection,
    outcomes: Iterable[Mapping[str, Any]],
    attempts: Iterable[Mapping[str, Any]],
    group: list[uuid.UUID],
    lease_until: datetime,
) -> set[uuid.UUID]:
    """Write the outcomes (`dispatcher._record_result`'s parameters) and their attempt
    rows, and mark the group `sending` until `lease_until`, on `conn` in autocommit; the
    ids of the group this dispatcher still held, which alone may go to SMTP."""
    params = {
        "outcomes": _json(outcomes),
        "attempts": _json(attempts),
        "group": group,
        "lease_until": lease_until,
    }
    return set(conn.exec_driver_sql(GROUP_COMMIT, params).scalars())


def _json(rows: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(rows), default=_plain, separators=(",", ":"))


def _plain(value: object) -> str:
    """A UUID or a datetime as JSON text PostgreSQL reads back into its column's type."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
