"""The call delivery job's leases: a call whose job stopped mid-attempt is made again once
its lease runs out (never dropped), and not before (never made by two jobs at once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import OutboundCall
from app.services.call_delivery import deliver_due
from app.services.outbound_calls import HANDLERS
from app.services.processor import process_due
from tests.engine.test_webhook_e2e import allow_private, email_webhook_end, launch, the_call
from tests.helpers import THE_DAY_WRITTEN_FOR
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
