"""How the dispatcher keeps its SMTP connections busy: on PostgreSQL a group's commit
(the outcomes finished so far, their attempts and the group's `sending` mark) is one
statement in autocommit, and the next batch is claimed while the current one's last group
is still with the server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Connection, event, func, select, text

from app.extensions import db
from app.models import MessageAttempt
from app.services.dispatcher import dispatch_due
from app.services.processor import process_due
from tests.conftest import api_for
from tests.engine.test_dispatcher import launch, messages, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR
from tests.slow_smtp_sink import SlowSmtpSink
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def test_on_postgresql_each_group_is_marked_sending_with_the_outcomes_before_it_in_one_statement(
    pg_app,
):
    people = [(f"p{i}@example.com", f"P{i}") for i in range(10)]
    launch(api_for(pg_app, "Acme"), single_email("Hi", "<p>Hello</p>"), people)
    process_due(NOW)
    marks: list[str] = []
    # the connections themselves, not their id(): a connection freed during the pass may
    # leave its id to the next one
    writers: set[Connection] = set()
    committing: set[Connection] = set()

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "'sending'" in statement:
            marks.append(statement)
            writers.add(conn)

    def committed(conn) -> None:
        committing.add(conn)

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(db.engine, "commit", committed)
    try:
        with SmtpSink() as sink:
            pg_app.config.update(SMTP_URL=sink.url, SMTP_CONNECTIONS=1)  # groups of 4
            stats = dispatch_due(NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        event.remove(db.engine, "commit", committed)

    assert stats.sent == 10 and len(sink.messages) == 10
    assert len(marks) == 3  # groups of 4, 4 and 2
    assert all("UPDATE outbound_messages AS m" in s and "message_attempts" in s for s in marks)
    assert len(writers) == 1 and not writers & committing  # autocommit: no COMMIT sent
    sent = messages().values()
    assert {m.status for m in sent} == {"sent"}
    assert all(m.lease_expires_at is None and m.accepted_at and m.html for m in sent)
    assert db.session.scalar(select(func.count()).select_from(MessageAttempt)) == 10


class ClaimWatchingSink(SlowSmtpSink):
    """Notes, as it answers each message, how many messages are claimed and not yet sent."""

    def __init__(self, delay: float, engine) -> None:
        super().__init__(delay)
        self.engine = engine
        self.claimed_while_answering: list[int] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.engine.connect() as conn:
            claimed = "SELECT count(*) FROM outbound_messages WHERE status = 'claimed'"
            self.claimed_while_answering.append(conn.scalar(text(claimed)))
        return await super().handle_DATA(server, session, envelope)


def test_the_next_batch_is_claimed_while_the_last_group_of_this_one_is_with_the_server(pg_app):
    people = [(f"p{i}@example.com", f"P{i}") for i in range(8)]
    launch(api_for(pg_app, "Acme"), single_email("Hi", "<p>Hello</p>"), people)
    process_due(NOW)
    with ClaimWatchingSink(delay=0.2, engine=db.engine) as sink:
        pg_app.config.update(SMTP_URL=sink.url, SMTP_CONNECTIONS=1)  # one group of 4
        stats = dispatch_due(NOW, batch_size=4)

    assert stats.sent == 8 and len(sink.messages) == 8
    # the first batch's last message: the second batch is claimed by then
    assert sink.claimed_while_answering[3] == 4
    assert sink.claimed_while_answering[7] == 0
    assert {m.status for m in messages().values()} == {"sent"}
