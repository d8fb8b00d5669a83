"""SMTP_CONNECTIONS: a dispatcher sends over that many connections at once (threads doing
only the SMTP I/O), seen at a real aiosmtpd server, and every message still goes once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from app.extensions import db
from app.models import MessageAttempt, OutboundMessage
from app.services.dispatcher import dispatch_due
from app.services.processor import process_due
from tests.engine.test_dispatcher import launch, messages, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR
from tests.slow_smtp_sink import SlowSmtpSink

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


class CountingSink(SlowSmtpSink):
    """Counts the messages it is answering at the same moment (its handlers all run in the
    server's one event loop, so plain counters do)."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.answering = self.most_at_once = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.answering += 1
        self.most_at_once = max(self.most_at_once, self.answering)
        try:
            return await super().handle_DATA(server, session, envelope)
        finally:
            self.answering -= 1


@pytest.mark.parametrize("connections", [1, 3])
def test_a_dispatcher_sends_over_as_many_connections_at_once_as_configured(app, api, connections):
    people = [(f"p{i}@example.com", f"P{i}") for i in range(2 * connections + 1)]
    launch(api, single_email("Hi {{ contact.first_name }}", "<p>Hello</p>"), people)
    process_due(NOW)
    with CountingSink(delay=0.4) as sink:
        app.config.update(SMTP_URL=sink.url, SMTP_CONNECTIONS=connections)
        stats = dispatch_due(NOW)
        received = sink.messages

    assert stats.sent == len(people)
    assert len({envelope.peer for envelope in sink.envelopes}) == connections
    assert sink.most_at_once == connections
    assert max(Counter(str(m["Message-ID"]) for m in received).values()) == 1
    assert sorted(str(m["To"]) for m in received) == sorted(f"{n} <{e}>" for e, n in people)
    assert {m.status for m in messages().values()} == {"sent"}
    assert db.session.scalar(select(func.count()).select_from(MessageAttempt)) == len(people)
    db.session.rollback()
    assert all(m.accepted_at is not None for m in db.session.scalars(select(OutboundMessage)))
