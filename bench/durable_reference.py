"""The dispatcher's second reference: its durable writes with nothing else around them.

`bench/dispatcher.py`'s first reference sends prebuilt messages and writes nothing. This
one keeps the project's protocol and drops the product: in each worker process a batch is
claimed (`claimed`, with a lease, `FOR UPDATE SKIP LOCKED`); before a group goes to SMTP,
one statement (the project's own, `dispatch_postgres.GROUP_COMMIT`) writes the outcomes
finished so far with their attempts and marks the group `sending`; the group's prebuilt
messages go out over `smtplib` threads, one connection each. No rendering, no ORM, no relay
process. The project's rate over this one is what its own work per message costs; this
one's over the first is what the guarantees cost on this machine.
"""

from __future__ import annotations

import itertools
import json
import queue
import smtplib
import threading
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row

from app.services.dispatch_postgres import GROUP_COMMIT
from app.services.dispatcher import DEFAULT_BATCH_SIZE, GROUP_PER_CONNECTION

CLAIM = """
WITH due AS MATERIALIZED (
    SELECT id FROM outbound_messages
    WHERE status = 'queued' AND next_attempt_at <= %(now)s AND next_attempt_at > %(after)s
    ORDER BY next_attempt_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED
)
UPDATE outbound_messages AS m
SET status = 'claimed', attempts = m.attempts + 1, claimed_at = %(now)s,
    lease_expires_at = %(lease)s
FROM due WHERE m.id = due.id
RETURNING m.id, m.tenant_id, m.workspace_id, m.attempts, m.to_email
"""

Stored = tuple[str, str, str, list[str]]
"""What the project stored of a message it sent: subject, HTML, text and tracked links."""


def durable_process(
    dsn: str,
    smtp_url: str,
    now: datetime,
    messages: list[bytes],
    stored: Stored,
    connections: int,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    """One worker process: sends the messages due at `now` (and in the hour before), puts
    how many on `done`."""
    host, port = smtp_url.removeprefix("smtp://").split(":")
    handed: queue.SimpleQueue[tuple[Any, bytes] | None] = queue.SimpleQueue()
    answered: queue.SimpleQueue[tuple[Any, datetime, datetime]] = queue.SimpleQueue()

    def connection() -> None:
        with smtplib.SMTP(host, int(port)) as conn:
            conn.ehlo()
            while (job := handed.get()) is not None:
                row, message = job
                started = datetime.now(now.tzinfo)
                conn.sendmail("bench@bench.example", [row.to_email], message)
                answered.put((row, started, datetime.now(now.tzinfo)))

    threads = [threading.Thread(target=connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    lease = now + timedelta(minutes=5)
    after = now - timedelta(hours=1)  # its own slice: the project's may not be sent yet
    group_size = connections * GROUP_PER_CONNECTION
    sent = in_flight = 0
    prebuilt = itertools.cycle(messages)
    with (
        psycopg.connect(dsn, autocommit=True) as db,
        db.cursor(row_factory=namedtuple_row) as cursor,
    ):
        ready.wait()
        go.wait()
        finished: list[tuple[Any, datetime, datetime]] = []
        while rows := cursor.execute(
            CLAIM, {"now": now, "after": after, "batch": DEFAULT_BATCH_SIZE, "lease": lease}
        ).fetchall():
            for start in range(0, len(rows), group_size):
                group = rows[start : start + group_size]
                while in_flight - len(finished) > group_size:  # one group on the wire
                    finished.append(answered.get())
                while not answered.empty():
                    finished.append(answered.get())
                _commit_group(db, finished, [row.id for row in group], lease, now, stored)
                sent, in_flight, finished = sent + len(finished), in_flight - len(finished), []
                for row in group:
                    handed.put((row, next(prebuilt)))
                in_flight += len(group)
        finished = [answered.get() for _ in range(in_flight)]
        _commit_group(db, finished, [], lease, now, stored)
        sent += len(finished)
    for _ in threads:
        handed.put(None)
    for thread in threads:
        thread.join()
    done.put(sent)


def _commit_group(
    db: psycopg.Connection,
    finished: list[tuple[Any, datetime, datetime]],
    group: list[Any],
    lease: datetime,
    now: datetime,
    stored: Stored,
) -> None:
    """The project's group commit: `finished` sent (with their stored content and attempt
    rows), `group` marked `sending`, in one statement."""
    subject, html, text, links = stored
    outcomes = [
        {
            "b_id": str(row.id),
            "b_status": "sent",
            "b_refund": 0,
            "b_sent_at": now.isoformat(),
            "b_accepted_at": accepted.isoformat(),
            "b_next": now.isoformat(),
            "b_error": None,
            "b_subject": subject,
            "b_html": html,
            "b_text": text,
            "b_links": links,
            "b_domain": "bench.example",
            "b_now": now.isoformat(),
        }
        for row, _, accepted in finished
    ]
    attempts = [
        {
            "tenant_id": str(row.tenant_id),
            "workspace_id": str(row.workspace_id),
            "message_id": str(row.id),
            "attempt": row.attempts,
            "started_at": started.isoformat(),
            "finished_at": accepted.isoformat(),
            "outcome": "sent",
            "smtp_code": 250,
            "smtp_answer": "OK",
        }
        for row, started, accepted in finished
    ]
    params = {
        "outcomes": json.dumps(outcomes),
        "attempts": json.dumps(attempts),
        "group": group,
        "lease_until": lease,
    }
    db.execute(GROUP_COMMIT, params).fetchall()


def sent_at(dsn: str, due: datetime) -> int:
    """How many of the messages due at `due` are recorded sent, with an attempt each."""
    with psycopg.connect(dsn) as db:
        sent, attempts = db.execute(
            "SELECT count(*), (SELECT count(*) FROM message_attempts a WHERE a.message_id = ANY("
            "array_agg(m.id))) FROM outbound_messages m "
            "WHERE m.status = 'sent' AND m.next_attempt_at = %s",
            (due,),
        ).fetchone()
    assert sent == attempts, (sent, attempts)
    return int(sent)
