"""A runaway template fails only its own messages: the batch and other workspaces go on."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import OutboundMessage, SequenceStep
from tests.conftest import api_for
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, tick

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


def test_a_nested_loop_template_fails_only_its_own_messages_and_the_tick_goes_on(
    app, api, smtp_sink
):
    noisy = api_for(app, "Noisy")
    runaway = launch(
        noisy,
        single_email("Loops", "<p>fine for now</p>", name="Runaway"),
        [("eve@example.com", "Eve"), ("mallory@example.com", "Mallory")],
    )
    # a template saved before the save-time check existed: the budget must stop it at send
    db.session.execute(
        update(SequenceStep)
        .where(SequenceStep.key == "only", SequenceStep.sequence_id == uuid.UUID(runaway))
        .values(config={"subject": "Loops", "body": NESTED_LOOPS})
    )
    db.session.commit()
    launch(
        api,
        single_email("Hi {{ contact.first_name }}", "<p>Hello there</p>", name="Friendly"),
        [("ada@example.com", "Ada"), ("bob@example.com", "Bob")],
    )

    started = time.perf_counter()
    tick(app, NOW)
    elapsed = time.perf_counter() - started

    assert sorted(str(m["Subject"]) for m in smtp_sink.messages) == ["Hi Ada", "Hi Bob"]
    by_email = {m.to_email: m for m in db.session.scalars(select(OutboundMessage))}
    assert by_email["ada@example.com"].status == by_email["bob@example.com"].status == "sent"
    for email in ("eve@example.com", "mallory@example.com"):
        assert by_email[email].status == "failed"
        assert by_email[email].last_error == (
            "HTML body: template is over the render budget (more than 1,000,000 loop steps)"
        )
    assert elapsed < 10, f"the tick took {elapsed:.1f} s"


def test_the_configured_cpu_budget_is_what_stops_a_send(app, api, smtp_sink):
    app.config["RENDER_TIMEOUT_SECONDS"] = 0.2
    heavy = "{% for i in range(contact.fields.n | int) %}{{ range(100000) | sum }}{% endfor %}"
    launch(api, single_email("Heavy", heavy), [("ann@example.com", "Ann")])
    api.post("/api/contacts", json={"email": "ann@example.com", "fields": {"n": 100000}})
    tick(app, NOW)
    message = db.session.scalars(select(OutboundMessage)).one()
    assert message.status == "failed"
    assert message.last_error == (
        "HTML body: template is over the render budget (more than 0.2 s of CPU time)"
    )
    assert smtp_sink.messages == []
