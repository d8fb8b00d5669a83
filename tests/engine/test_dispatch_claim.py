"""A batch's claim reads, in the statement that claims it, which of its messages must not go
(to a suppressed address, or for an enrollment that exited after the message was queued),
and writes the outbox again only for those. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactSequence, OutboundMessage
from app.services.dispatcher import dispatch_due
from app.services.processor import process_due
from app.services.suppression import suppress
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR
from tests.sql_statements import statements_sent

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
PEOPLE = [("ada@x.test", "Ada"), ("bob@x.test", "Bob"), ("cy@x.test", "Cy")]


def two_emails() -> dict:
    """An email, a day's wait and another: a run still active once the first is queued."""
    definition = single_email("Hi", "<p>Hello</p>")
    definition["steps"] += [
        {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
        {"id": "again", "type": "email", "config": {"subject": "Again", "body": "<p>Hi</p>"}},
    ]
    definition["connections"] = [
        {"source": "only", "target": "wait"},
        {"source": "wait", "target": "again"},
    ]
    return definition


def claiming(sent: list[str]) -> list[str]:
    """Of the statements a pass sent, those on the outbox from its first claim (`WITH
    due`) until it loads that batch."""
    start = next(i for i, statement in enumerate(sent) if "WITH due" in statement)
    end = next(i for i, statement in enumerate(sent) if "JOIN contacts" in statement)
    return [statement for statement in sent[start:end] if "outbound_messages" in statement]


def test_a_batch_with_nothing_to_skip_is_claimed_in_one_statement_on_the_outbox(
    app, api, smtp_sink
):
    launch(api, single_email("Hi", "<p>Hello</p>"), PEOPLE)
    process_due(NOW)

    with statements_sent() as sent:
        stats = dispatch_due(NOW)

    assert stats.sent == 3 and len(smtp_sink.messages) == 3
    assert len(claiming(sent)) == 1, claiming(sent)  # the claim alone


def test_the_claim_skips_a_suppressed_address_and_an_exited_enrollment_with_their_reasons(
    app, api, smtp_sink
):
    launch(api, two_emails(), PEOPLE)
    queued = datetime.now(UTC)  # before the exit, which the API stamps with the clock
    process_due(queued)
    suppress(api.workspace_id, "Bob@X.test", "bounced", queued)
    cy = db.session.scalar(
        select(ContactSequence.id).join(Contact).where(Contact.email == "cy@x.test")
    )
    assert api.post(f"/api/enrollments/{cy}/exit", json={"reason": "asked"}).status_code == 200
    db.session.commit()

    with statements_sent() as sent:
        stats = dispatch_due(datetime.now(UTC))

    assert [m["To"] for m in smtp_sink.messages] == ["Ada <ada@x.test>"]
    assert stats.sent == 1
    outbox = {m.to_email: m for m in db.session.scalars(select(OutboundMessage))}
    assert outbox["bob@x.test"].status == outbox["cy@x.test"].status == "skipped"
    assert outbox["bob@x.test"].last_error == "address suppressed: bounced"
    assert outbox["cy@x.test"].last_error == (
        "the enrollment exited before it was sent: removed through the API: asked"
    )
    bob = db.session.scalar(
        select(ContactSequence).join(Contact).where(Contact.email == "bob@x.test")
    )
    assert (bob.status, bob.exit_reason) == ("exited", "bounced")
    assert len(claiming(sent)) == 2, claiming(sent)  # the claim, then both skipped at once
