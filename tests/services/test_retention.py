"""Retention on a real flow (email -> 1 day -> email, with opens, clicks and product
events): old finished history is trimmed in chunks, what running work or a frequency cap
reads is kept, the analytics read the same before and after, an old tracked link still
redirects, and with the setting off nothing goes. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from app.core.events import CLICKED_LINK, MACHINE_OPEN, OPENED, PAGE_VIEWED
from app.extensions import db
from app.models import (
    ContactEvent,
    ContactSequence,
    MessageAttempt,
    OutboundMessage,
    Segment,
    Sequence,
)
from app.services import retention, tracking
from app.services.analytics import sequence_analytics
from app.services.scheduling import retain_history
from tests.engine.test_dispatcher import launch
from tests.helpers import THE_DAY_WRITTEN_FOR, onboarding_definition, tick

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=500)  # the pass runs here, keeping 400 days
BODY = '<p>Hi</p><p><a href="https://example.com/pricing">Pricing</a></p>'


def two_emails(name: str) -> dict:
    definition = copy.deepcopy(onboarding_definition())
    definition["name"] = name
    definition["steps"] = [
        {"id": "e1", "type": "email", "config": {"subject": "One", "body": BODY}},
        {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
        {"id": "e2", "type": "email", "config": {"subject": "Two", "body": BODY}},
    ]
    definition["connections"] = [
        {"source": "e1", "target": "wait"},
        {"source": "wait", "target": "e2"},
    ]
    return definition


def event(message: OutboundMessage, kind: str, at: datetime) -> dict:
    return {
        "tenant_id": message.tenant_id,
        "workspace_id": message.workspace_id,
        "contact_id": message.contact_id,
        "type": kind,
        "properties": {},
        "occurred_at": at,
        "recorded_at": at,
        "source": "tracking",
        "enrollment_id": message.enrollment_id,
        "step_id": message.step_id,
        "message_id": message.id,
    }


def product_event(contact_id, workspace: Sequence, at: datetime, kind: str = PAGE_VIEWED):
    return {
        "tenant_id": workspace.tenant_id,
        "workspace_id": workspace.workspace_id,
        "contact_id": contact_id,
        "type": kind,
        "properties": {"path": "/pricing"},
        "occurred_at": at,
        "recorded_at": at,
        "source": "api",
    }


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def history(app, api):
    """Three contacts through both emails a year and a half ago, each email opened twice
    (and once by a proxy) with a product event each, one click; then a fourth contact
    enrolled recently (its first email sent, waiting), with an old product event."""
    old_id = uuid.UUID(
        launch(api, two_emails("Old"), [(f"p{i}@x.test", f"P{i}") for i in range(3)])
    )
    tick(app, NOW)
    tick(app, NOW + timedelta(days=1, minutes=1))
    sent = list(db.session.scalars(select(OutboundMessage)))
    assert len(sent) == 6 and {m.status for m in sent} == {"captured"}
    sequence = db.session.get(Sequence, old_id)
    rows = []
    for message in sent:
        opened = message.sent_at + timedelta(hours=1)
        rows += [event(message, OPENED, opened), event(message, OPENED, opened + timedelta(1))]
        rows.append(event(message, MACHINE_OPEN, message.sent_at))
        rows.append(product_event(message.contact_id, sequence, opened))
    db.session.execute(insert(ContactEvent), rows)
    db.session.commit()
    first = sent[0]
    token = tracking.click_token(first.id, 0)
    rows = [event(first, CLICKED_LINK, first.sent_at + timedelta(hours=2))]
    db.session.execute(insert(ContactEvent), rows)
    db.session.execute(
        insert(MessageAttempt),
        [
            {
                "tenant_id": m.tenant_id,
                "workspace_id": m.workspace_id,
                "message_id": m.id,
                "attempt": 1,
                "started_at": m.sent_at,
                "finished_at": m.sent_at,
                "outcome": "sent",
            }
            for m in sent
        ],
    )
    db.session.commit()
    new_id = uuid.UUID(launch(api, two_emails("New"), [("new@x.test", "New")]))
    tick(app, LATER - timedelta(days=3))  # within the frequency cap's week of the pass
    new = db.session.scalars(select(ContactSequence).where(ContactSequence.sequence_id == new_id))
    running = new.one()
    assert running.status == "active"
    db.session.execute(
        insert(ContactEvent),
        [product_event(running.contact_id, db.session.get(Sequence, new_id), NOW)],
    )
    db.session.commit()
    return {"old": old_id, "new": new_id, "clicked": first.id, "token": token}


def test_old_finished_history_is_trimmed_in_chunks_and_running_work_kept(app, history):
    assert count(ContactEvent) == 6 * 4 + 1 + 1  # and the click

    done = retention.retain(LATER, 400, chunk_rows=2, max_chunks=2)
    assert done.more and done.chunks == 4 and done.messages_trimmed == 4
    while retention.retain(LATER, 400, chunk_rows=2, max_chunks=2).more:
        pass

    old = OutboundMessage.sequence_id == history["old"]
    assert count(OutboundMessage, old) == 6  # rows stay: analytics and caps read them
    assert count(OutboundMessage, old, OutboundMessage.html.is_not(None)) == 0
    old_ids = select(OutboundMessage.id).where(old)
    assert count(MessageAttempt, MessageAttempt.message_id.in_(old_ids)) == 0
    assert count(MessageAttempt) == 1  # the recent message's
    kinds = {
        kind: number
        for kind, number in db.session.execute(
            select(ContactEvent.type, func.count()).group_by(ContactEvent.type)
        )
    }
    # one open per message and the click stay; repeats, proxy opens and old product
    # events of finished contacts go; the running contact's old product event stays
    assert kinds == {OPENED: 6, CLICKED_LINK: 1, PAGE_VIEWED: 1}
    recent = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.sequence_id == history["new"])
    ).one()
    assert recent.html is not None and recent.status == "captured"


def test_the_analytics_read_the_same_before_and_after(app, history):
    sequence = db.session.get(Sequence, history["old"])
    before = sequence_analytics(sequence, now=LATER)
    ranged = sequence_analytics(sequence, NOW, NOW + timedelta(days=2), now=LATER)

    while retention.retain(LATER, 400).more:
        pass

    db.session.expire_all()
    sequence = db.session.get(Sequence, history["old"])
    assert sequence_analytics(sequence, now=LATER) == before
    assert sequence_analytics(sequence, NOW, NOW + timedelta(days=2), now=LATER) == ranged
    assert before["summary"]["opened"] == 6 and before["summary"]["clicked"] == 1


def test_an_old_tracked_link_still_leads_where_it_did(app, history):
    retention.retain(LATER, 400)

    client = app.test_client()
    answer = client.get(f"/t/c/{history['token']}", headers={"User-Agent": "Firefox"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://example.com/pricing"
    assert client.get("/t/o/" + tracking.open_token(history["clicked"]) + ".gif").status_code == 200


def test_a_segment_reading_events_forever_keeps_their_type(app, api, history):
    sequence = db.session.get(Sequence, history["old"])
    rule = {"type": "event", "event": PAGE_VIEWED}  # no lookback: every one ever
    db.session.add(
        Segment(
            tenant_id=sequence.tenant_id,
            workspace_id=sequence.workspace_id,
            name="Ever viewed",
            kind="rule",
            rule=rule,
        )
    )
    db.session.commit()

    retention.retain(LATER, 400)

    assert count(ContactEvent, ContactEvent.type == PAGE_VIEWED) == 6 + 1


def test_with_the_setting_off_nothing_goes(app, history):
    assert "RETENTION_DAYS" not in app.config or not app.config["RETENTION_DAYS"]
    events, bodies = count(ContactEvent), count(OutboundMessage, OutboundMessage.html.is_not(None))

    report = retain_history(LATER)

    assert report.text.startswith("off")
    assert count(ContactEvent) == events
    assert count(OutboundMessage, OutboundMessage.html.is_not(None)) == bodies
    app.config["RETENTION_DAYS"] = 400
    assert "trimmed 6 message body(ies)" in retain_history(LATER).text


def test_a_retention_shorter_than_a_month_is_refused(app):
    with pytest.raises(ValueError, match="RETENTION_DAYS must be 0 \\(off\\) or at least 30"):
        retention.retain(NOW, 7)
