"""The call delivery job's leases: a call whose job stopped mid-attempt is made again once
its lease runs out (never dropped), and not before (never made by two jobs at once)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from app.extensions import db
from app.models import OutboundCall
from app.services.call_delivery import _claim, deliver_due
from app.services.outbound_calls import HANDLERS
from app.services.processor import process_due
from tests.conftest import api_for
from tests.engine.test_webhook_e2e import allow_private, email_webhook_end, launch, the_call
from tests.helpers import THE_DAY_WRITTEN_FOR
from tests.planner_statistics import analyzed_empty, plans_made, reads_of, statistics_kept
from tests.webhook_receiver import running_receiver

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def test_a_call_whose_job_stopped_is_made_again_once_its_lease_has_run_out(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        launch(api, email_webhook_end(receiver.url()))
        process_due(NOW)
        # A job claimed it at NOW and died before recording anything.
        db.session.execute(
            update(OutboundCall).values(
                status="claimed", attempts=1, lease_expires_at=NOW + timedelta(seconds=60)
            )
        )
        db.session.commit()

        assert deliver_due(NOW + timedelta(seconds=30), lease_seconds=60).delivered == 0
        assert receiver.requests == []
        assert deliver_due(NOW + timedelta(seconds=61), lease_seconds=60).delivered == 1

    assert len(receiver.requests) == 1
    call = the_call()
    assert (call.status, call.attempts, call.lease_expires_at) == ("delivered", 2, None)


def test_a_paused_sequence_holds_its_calls_until_it_resumes(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        seq_id = launch(api, email_webhook_end(receiver.url()))
        process_due(NOW)
        assert api.post(f"/api/sequences/{seq_id}/pause").status_code == 200
        assert deliver_due(NOW).delivered == 0
        assert api.post(f"/api/sequences/{seq_id}/resume").status_code == 200
        assert deliver_due(NOW + timedelta(seconds=1)).delivered == 1
    assert len(receiver.requests) == 1


CLONES = """
CREATE TEMP TABLE clones AS
SELECT (jsonb_populate_record(c, jsonb_build_object(
    'id', gen_random_uuid(), 'rotation', c.rotation + g))).*
FROM outbound_calls AS c CROSS JOIN generate_series(1, 1000) AS g
"""


@pytest.fixture
def waiting_calls(pg_app) -> Iterator[None]:
    """1,001 calls waiting, the table's statistics taken when none was (as autovacuum leaves
    a queue that is empty most of the time)."""
    allow_private(pg_app)
    launch(api_for(pg_app, "Acme"), email_webhook_end("http://127.0.0.1:9/hook"))
    process_due(NOW)
    db.session.execute(text(CLONES))
    db.session.execute(text("DELETE FROM outbound_calls"))
    with statistics_kept("outbound_calls"):
        analyzed_empty(
            "outbound_calls",
            lambda: db.session.execute(text("INSERT INTO outbound_calls SELECT * FROM clones")),
        )
        yield


def test_a_job_claims_its_batch_and_no_more_with_the_statistics_of_an_empty_queue(
    waiting_calls,
):
    """A claim whose UPDATE picked its calls with `IN (locking subquery)` rescanned the
    subquery for every waiting call, and claimed them all instead of the batch."""
    assert len(_claim(NOW, 10, timedelta(seconds=60))) == 10
    assert len(_claim(NOW, 10, timedelta(seconds=60))) == 10


def test_a_job_marks_its_batch_claimed_by_key_with_the_statistics_of_an_empty_queue(
    waiting_calls,
):
    """With its due guard as a plain condition, the UPDATE read every waiting call's entry
    of the due index (and the calls) to claim the ten it had picked."""
    with plans_made("outbound_calls") as explained:
        assert len(_claim(NOW, 10, timedelta(seconds=60))) == 10
    [plan] = [plan for statement, plan in explained if statement.startswith("UPDATE")]
    assert reads_of(plan, "outbound_calls") == [("Index Scan", "pk_outbound_calls")]


def test_call_handlers_are_found_by_module_and_each_delivers_its_own_kind():
    assert "webhook" in HANDLERS
    assert all(kind == handler.kind for kind, handler in HANDLERS.items())


def test_the_processor_records_the_call_with_the_step_and_does_not_make_it(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        launch(api, email_webhook_end(receiver.url()))
        assert process_due(NOW).calls == 1
    assert receiver.requests == []
    [call] = db.session.scalars(select(OutboundCall)).all()
    assert (call.status, call.kind, call.rotation, call.attempts) == ("queued", "webhook", 0, 0)
