"""Publishing: a fixed number of statements whatever the contacts in flight, retimed delays
counted from when each contact entered, and one publisher per live version."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, Sequence
from app.services import publishing
from app.services.sequences import export_definition, parse_input
from tests.conftest import api_for
from tests.helpers import iso, onboarding_definition, tick
from tests.sql_statements import statements_sent

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def live_onboarding(api, people: int) -> tuple[Sequence, datetime]:
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    api.post(f"/api/sequences/{seq_id}/activate")
    emails = [f"p{n}@example.com" for n in range(people)]
    for email in emails:
        api.post("/api/contacts", json={"email": email})
    api.post(f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": e} for e in emails]})
    rows = api.get(f"/api/sequences/{seq_id}/enrollments?limit=1000").json["enrollments"]
    start = max((iso(r["next_execution_at"]) for r in rows), default=T0)
    return db.session.get_one(Sequence, uuid.UUID(seq_id)), start


def with_first_delay(sequence: Sequence, duration: str) -> Any:
    document = export_definition(sequence)
    for step in document["steps"]:
        if step["id"] == "wait_2d":
            step["config"] = {"duration": duration}
    return parse_input(document)


def statements_of_a_publish(app, api, people: int) -> int:
    sequence, start = live_onboarding(api, people)
    tick(app, start)  # everyone waits in the 2-day delay
    definition = with_first_delay(sequence, "3 days")
    with statements_sent() as seen:
        publishing.publish(sequence, definition, {}, actor="test", note=None, now=start)
    mine = select(ContactSequence.version).where(ContactSequence.sequence_id == sequence.id)
    moved = db.session.scalars(mine).all()
    assert moved == [2] * people
    return len(seen)


@pytest.mark.local_time
def test_publishing_takes_the_same_statements_for_3_or_60_contacts_in_flight(app, api):
    few = statements_of_a_publish(app, api, 3)
    many = statements_of_a_publish(app, api, 60)
    assert few == many


@pytest.mark.local_time
def test_a_lengthened_delay_holds_its_contacts_until_the_new_duration_from_when_they_entered(
    app, api, smtp_sink
):
    sequence, start = live_onboarding(api, 2)
    tick(app, start)
    tick(app, start + timedelta(days=1))
    publishing.publish(
        sequence,
        with_first_delay(sequence, "3 days"),
        {},
        actor="t",
        note=None,
        now=start + timedelta(days=1),
    )
    tick(app, start + timedelta(days=2, minutes=5))
    assert len(smtp_sink.messages) == 2, "the old 2 days no longer apply"
    due = db.session.scalars(select(ContactSequence.next_execution_at)).all()
    assert due == [start + timedelta(days=3)] * 2
    tick(app, start + timedelta(days=3))
    assert len(smtp_sink.messages) == 4


@pytest.mark.local_time
def test_a_shortened_delay_releases_contacts_already_past_the_new_duration_at_once(
    app, api, smtp_sink
):
    sequence, start = live_onboarding(api, 1)
    tick(app, start)
    later = start + timedelta(days=1, hours=2)
    publishing.publish(
        sequence, with_first_delay(sequence, "1 day"), {}, actor="t", note=None, now=later
    )
    tick(app, later)
    assert len(smtp_sink.messages) == 2


def test_of_two_publishers_that_read_the_same_live_version_the_second_is_refused(pg_app):
    """PostgreSQL: the claim's row lock makes the second wait for the first, then miss."""
    api = api_for(pg_app, "Race")
    sequence, _ = live_onboarding(api, 0)
    seq_id = sequence.id
    barrier = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def publisher(duration: str) -> None:
        with pg_app.app_context():
            mine = db.session.get_one(Sequence, seq_id)
            definition = with_first_delay(mine, duration)
            barrier.wait()
            try:
                publishing.publish(mine, definition, {}, actor=duration, note=None, now=T0, seen=1)
                outcomes.append("published")
            except publishing.PublishConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=publisher, args=(d,)) for d in ("3 days", "4 days")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "published"]
    db.session.expire_all()
    assert db.session.get_one(Sequence, seq_id).published_version == 2
