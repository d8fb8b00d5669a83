"""Crash-safe dispatch: a dispatcher killed mid-batch (kill -9, real processes, PostgreSQL)
leaves every message delivered exactly once or `unknown`; none lost, none twice."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import OutboundMessage, Sequence
from app.services.dispatcher import GROUP_PER_CONNECTION, dispatch_due
from app.services.enrollment import enroll_contacts
from app.services.processor import process_due
from tests.conftest import api_for
from tests.dropping_smtp import DroppingSmtpSink
from tests.engine.test_concurrency import add_contacts
from tests.engine.test_dispatcher import launch, messages, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, tick, tick_process
from tests.slow_smtp_sink import SlowSmtpSink

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
BATCH = 200


def finished_tick(now: datetime, env: dict[str, str]) -> str:
    proc = tick_process(now, env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (here: a dispatcher's SMTP relay)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def statuses() -> Counter[str]:
    db.session.rollback()  # read what the other processes committed
    return Counter(db.session.scalars(select(OutboundMessage.status)))


def queue_one_batch(pg_app) -> None:
    api = api_for(pg_app, "Crash")
    definition = single_email("Crash test {{ contact.first_name }}", "<p>Hello</p>")
    seq_id = uuid.UUID(api.post("/api/sequences", json=definition).json["id"])
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    sequence = db.session.get_one(Sequence, seq_id)
    contacts = add_contacts(api.workspace_id, sequence.tenant_id, BATCH)
    assert len(enroll_contacts(sequence, contacts, NOW).enrolled) == BATCH
    process_due(NOW)
    assert statuses() == {"queued": BATCH}


@pytest.mark.slow
@pytest.mark.parametrize("connections", [1, 4])
def test_a_dispatcher_killed_mid_batch_delivers_every_message_once_or_marks_it_unknown(
    pg_app, connections
):
    """Also with several SMTP connections sending at once: at most two groups (each of
    GROUP_PER_CONNECTION messages per connection) can be `sending` when it dies."""
    queue_one_batch(pg_app)
    lease = timedelta(seconds=pg_app.config["DISPATCH_LEASE_SECONDS"])
    with SlowSmtpSink(delay=0.02 * connections) as sink:
        env = {
            **os.environ,
            "DATABASE_URL": pg_app.config["SQLALCHEMY_DATABASE_URI"],
            "SMTP_URL": sink.url,
            "EMBEDDED_SCHEDULER": "0",
            "DISPATCH_BATCH_SIZE": str(BATCH),
            "SMTP_CONNECTIONS": str(connections),
        }
        dispatcher = tick_process(NOW, env)
        sink.wait_for(60, timeout=60)
        relays = children_of(dispatcher.pid)
        assert relays, "the dispatcher sends from a relay process of its own"
        sink.delay = 0.4  # so that what the relay still holds would take seconds to go
        dispatcher.send_signal(signal.SIGKILL)
        dispatcher.wait(timeout=10)
        assert dispatcher.returncode == -signal.SIGKILL
        time.sleep(0.6)  # the sink finishes the messages it was answering
        received_at_kill = len(sink.messages)
        time.sleep(1.2)  # what the relay was given and had not begun stays unsent
        assert len(sink.messages) == received_at_kill
        assert not any(running(pid) for pid in relays), "the relay ends with its dispatcher"
        sink.delay = 0.02 * connections
        at_kill = statuses()
        assert at_kill["claimed"] > 0, f"the kill did not land mid-batch: {at_kill}"
        in_flight = at_kill["sending"]
        assert in_flight <= 2 * GROUP_PER_CONNECTION * connections
        assert at_kill["sent"] + in_flight >= received_at_kill
        assert set(at_kill) <= {"sent", "sending", "claimed"}

        held = finished_tick(NOW + lease - timedelta(seconds=1), env)
        assert "requeued 0" in held and statuses() == at_kill, "recovered within the lease"

        recovered = finished_tick(NOW + lease + timedelta(minutes=1), env)
        assert f"requeued {at_kill['claimed']}" in recovered, recovered
        assert f"unknown {at_kill['sending']}" in recovered, recovered
        time.sleep(0.2)
        received = Counter(str(m["Message-ID"]) for m in sink.messages)

    assert max(received.values()) == 1, "a message was delivered twice"
    db.session.rollback()
    rows = db.session.execute(
        select(OutboundMessage.message_id, OutboundMessage.status, OutboundMessage.accepted_at)
    ).all()
    assert len(rows) == BATCH
    unknown = [row for row in rows if row.status == "unknown"]
    assert len(unknown) == at_kill["sending"]
    assert len({envelope.peer for envelope in sink.envelopes}) >= connections
    for row in rows:
        if row.status == "sent":
            assert received[row.message_id] == 1 and row.accepted_at is not None
        else:  # only an interrupted SMTP transaction may be unknown, delivered at most once
            assert row.status == "unknown" and received[row.message_id] <= 1
    print(
        f"killed after {received_at_kill} of {BATCH} accepted; {at_kill['claimed']} requeued, "
        f"{len(unknown)} unknown; {sum(received.values())} delivered in all"
    )


def test_a_connection_dropped_after_the_content_leaves_the_message_unknown_never_resent(app, api):
    with DroppingSmtpSink() as sink:
        app.config["SMTP_URL"] = sink.url
        launch(
            api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A"), ("b@example.com", "B")]
        )
        output = tick(app, NOW)
        assert re.search(r"sent 0, .* unknown 2,", output), output
        for message in messages().values():
            assert message.status == "unknown" and message.accepted_at is None
            assert "may have accepted it" in message.last_error
        tick(app, NOW + timedelta(days=1))
        assert sorted(str(m["To"]) for m in sink.messages) == [
            "A <a@example.com>",
            "B <b@example.com>",
        ]
    assert {m.status for m in messages().values()} == {"unknown"}


def test_messages_claimed_by_a_dispatcher_that_stopped_are_sent_once_its_lease_runs_out(
    app, api, smtp_sink
):
    launch(api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A")])
    process_due(NOW)
    lease = timedelta(seconds=app.config["DISPATCH_LEASE_SECONDS"])
    db.session.execute(  # what a dispatcher that died right after claiming leaves behind
        update(OutboundMessage).values(status="claimed", attempts=1, lease_expires_at=NOW + lease)
    )
    db.session.commit()

    assert dispatch_due(NOW + timedelta(minutes=1)).requeued == 0
    assert smtp_sink.messages == []
    stats = dispatch_due(NOW + lease + timedelta(seconds=1))

    assert (stats.requeued, stats.sent) == (1, 1)
    assert len(smtp_sink.wait_for(1)) == 1
    message = messages()["a@example.com"]
    db.session.refresh(message)
    assert message.status == "sent" and message.attempts == 1
    assert NOW + lease < message.accepted_at < NOW + lease + timedelta(minutes=1)
