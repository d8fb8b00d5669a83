"""Pause and resume from the launch checklist: resuming a sequence that has been live needs
no new test email; contacts who meet the trigger while it is paused are queued (enrolled,
and their first email goes out on resume) or refused and counted, as chosen when pausing.
Emails are received by a real SMTP server; `flask sequences tick --now` runs the engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import ContactEvent, ContactSequence, Sequence
from tests.helpers import tick
from tests.web.test_forms_pages import Seeded, seeded  # noqa: F401 - the fixture


def change(seeded: Seeded, action: str, **form: str):  # noqa: F811
    csrf = seeded.web.csrf_token("/sequences")
    return seeded.web.post(
        f"/sequences/{seeded.sequence_id}/status/{action}", data={"csrf_token": csrf, **form}
    )


def status(app, seeded: Seeded) -> str:  # noqa: F811
    with app.app_context():
        return db.session.get_one(Sequence, uuid.UUID(seeded.sequence_id)).status


def register(seeded: Seeded, email: str) -> None:  # noqa: F811
    done = seeded.public.post(f"/f/{seeded.public_id}", data={"email": email})
    assert done.status_code == 200, done.text


def checklist(seeded: Seeded) -> str:  # noqa: F811
    return seeded.web.get(f"/sequences/{seeded.sequence_id}/checklist").text


def test_resuming_a_sequence_that_has_been_live_needs_no_new_test_email(app, seeded):  # noqa: F811
    with app.app_context():  # activated through the API: no test email was ever sent
        assert db.session.get_one(Sequence, uuid.UUID(seeded.sequence_id)).test_sent_at is None
    change(seeded, "pause")
    assert status(app, seeded) == "paused"
    page = checklist(seeded)
    assert "not sent yet (optional: this sequence has been live)" in page
    assert "Finish the checklist first" not in page  # the Resume button is enabled

    resumed = change(seeded, "resume")
    assert "Finish the checklist" not in resumed.text
    assert status(app, seeded) == "active"


def test_joiners_queued_while_paused_get_their_first_email_on_resume(app, seeded, smtp_sink):  # noqa: F811
    change(seeded, "pause", while_paused="queue")
    register(seeded, "ada@example.com")
    assert "1 enrollment(s) waiting to start" in checklist(seeded)

    later = datetime.now(UTC) + timedelta(minutes=1)
    with app.app_context():
        tick(app, later)
        assert smtp_sink.messages == []  # paused: nothing runs
        assert db.session.scalar(select(ContactSequence.status)) == "active"
    change(seeded, "resume")
    with app.app_context():
        tick(app, later + timedelta(seconds=1))
    [message] = smtp_sink.messages
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert message["Subject"] == "Here is your ebook"


def test_joiners_refused_while_paused_are_counted_in_the_checklist(app, seeded, smtp_sink):  # noqa: F811
    change(seeded, "pause", while_paused="refuse")
    register(seeded, "ada@example.com")
    register(seeded, "bob@example.com")

    page = checklist(seeded)
    start = page.find('data-check="paused"')
    assert 'class="check warn"' in page[page.rfind("<li", 0, start) : start]
    assert "2 joiner(s) refused while paused" in page
    with app.app_context():
        assert db.session.scalar(select(ContactSequence.id)) is None
        refusals = db.session.scalars(
            select(ContactEvent.properties).where(ContactEvent.type == "enrollment_refused")
        ).all()
    assert [r["reason"] for r in refusals] == ["paused", "paused"]
    change(seeded, "resume")
    assert status(app, seeded) == "active"
    with app.app_context():
        tick(app, datetime.now(UTC) + timedelta(minutes=1))
    assert smtp_sink.messages == []  # refused means never enrolled, not enrolled late
