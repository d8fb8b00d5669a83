"""The outbox list: keyset pages newest first that show every message exactly once (also
while new ones are queued), each filter, and the counts per status under the other filters.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from app.extensions import db
from app.models import ContactSequence, OutboundMessage, SequenceStep
from app.services import outbox
from app.services.outbox import BadCursor, OutboxFilter
from tests.conftest import ApiClient, api_for
from tests.engine.test_dispatcher import launch, single_email

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


class Run:
    """One sequence with one email step and one enrollment, whose outbox rows a test writes
    directly (rotation numbers them), with the fields the filters read."""

    def __init__(self, api: ApiClient, name: str) -> None:
        self.api = api
        self.sequence_id = uuid.UUID(
            launch(api, single_email("Hi", "<p>x</p>", name=name), [(f"{name}@x.test", "X")])
        )
        self.step_id = db.session.scalar(
            select(SequenceStep.id).where(SequenceStep.sequence_id == self.sequence_id)
        )
        enrollment = db.session.scalars(
            select(ContactSequence).where(ContactSequence.sequence_id == self.sequence_id)
        ).one()
        self.enrollment_id, self.contact_id = enrollment.id, enrollment.contact_id
        self.tenant_id = enrollment.tenant_id
        self.rotation = 0

    def queue(self, count: int, *, queued_at=NOW, **fields) -> list[uuid.UUID]:
        rows = []
        for _ in range(count):
            message_uuid = uuid.uuid4()
            rows.append(
                {
                    "tenant_id": self.tenant_id,
                    "workspace_id": self.api.workspace_id,
                    "id": message_uuid,
                    "enrollment_id": self.enrollment_id,
                    "sequence_id": self.sequence_id,
                    "step_id": self.step_id,
                    "contact_id": self.contact_id,
                    "rotation": self.rotation,
                    "message_id": f"<{message_uuid.hex}@x.test>",
                    "to_email": "someone@x.test",
                    "status": "sent",
                    "attempts": 1,
                    "queued_at": queued_at,
                    "next_attempt_at": queued_at,
                    "created_at": queued_at,
                    "updated_at": queued_at,
                    **fields,
                }
            )
            self.rotation += 1
        db.session.execute(insert(OutboundMessage), rows)
        db.session.commit()
        return [row["id"] for row in rows]


def every_page(workspace_id, limit=50, between=None) -> list[list]:
    pages, cursor = [], None
    while True:
        page = outbox.list_page(workspace_id, OutboxFilter(), NOW, cursor, limit)
        pages.append([row.OutboundMessage.id for row in page.rows])
        if page.next_cursor is None:
            return pages
        if between is not None:
            between()
        cursor = page.next_cursor


def test_paging_through_500_messages_50_at_a_time_lists_each_once_newest_first(app, api):
    run = Run(api, "seq")
    ids = []
    for minute in range(100):  # five messages to a minute: ties broken by id
        ids += run.queue(5, queued_at=NOW - timedelta(minutes=minute))
    newer_while_paging = []

    pages = every_page(
        api.workspace_id,
        between=lambda: newer_while_paging.extend(run.queue(1, queued_at=NOW + timedelta(hours=1))),
    )

    assert [len(page) for page in pages] == [50] * 10
    listed = [message_id for page in pages for message_id in page]
    assert sorted(listed) == sorted(ids) and len(set(listed)) == 500
    queued = {m.id: m.queued_at for m in db.session.scalars(select(OutboundMessage))}
    moments = [queued[message_id] for message_id in listed]
    assert moments == sorted(moments, reverse=True)
    assert len(newer_while_paging) == 9  # queued meanwhile: on a new first page, not mixed in
    assert set(every_page(api.workspace_id, limit=500)[0][:9]) == set(newer_while_paging)


def test_a_cursor_the_list_did_not_give_is_refused(app, api):
    for bad in ("nonsense", "WyIyMDI2Il0", "e30", "WyIyMDI2LTEyLTA3VDE0OjAwOjAwIiwgIngiXQ"):
        with pytest.raises(BadCursor):
            outbox.list_page(api.workspace_id, OutboxFilter(), NOW, bad)


def test_each_filter_and_the_counts_per_status_under_the_other_filters(app, api):
    first, second = Run(api, "first"), Run(api, "second")
    failed = first.queue(2, status="failed", to_email="Ada.Lovelace@Example.com")
    sent = first.queue(3, status="sent", to_email="bob@example.com")
    percent = first.queue(1, status="sent", to_email="100%_real@example.com")
    retrying = second.queue(1, status="queued", attempts=3, to_email="cy@example.com")
    overdue = second.queue(1, status="queued", next_attempt_at=NOW - timedelta(days=1))
    fresh = second.queue(1, status="queued", to_email="dee@example.com")

    def listed(**filters) -> set[uuid.UUID]:
        page = outbox.list_page(api.workspace_id, OutboxFilter(**filters), NOW, limit=100)
        return {row.OutboundMessage.id for row in page.rows}

    assert listed(status="failed") == set(failed)
    assert listed(sequence_id=second.sequence_id) == set(retrying + overdue + fresh)
    assert listed(step_id=first.step_id) == set(failed + sent + percent)
    assert listed(address="ada.LOVELACE@example") == set(failed)
    assert listed(address="%_") == set(percent)  # the characters themselves, not wildcards
    assert listed(failing=True) == set(retrying + overdue)
    assert listed(status="sent", address="bob") == set(sent)

    counts = outbox.status_counts(
        api.workspace_id, OutboxFilter(sequence_id=first.sequence_id), NOW
    )
    assert counts == {"failed": 2, "sent": 4}
    everything = outbox.status_counts(api.workspace_id, OutboxFilter(status="failed"), NOW)
    assert everything == {"failed": 2, "sent": 4, "queued": 3}


def test_another_workspaces_messages_are_never_listed_or_counted(app, api):
    Run(api, "mine").queue(2)
    other = api_for(app, "Other")
    assert outbox.list_page(other.workspace_id, OutboxFilter(), NOW).rows == []
    assert outbox.status_counts(other.workspace_id, OutboxFilter(), NOW) == {}
