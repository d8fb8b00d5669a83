"""Every SMTP transaction (or refusal before one) leaves an attempt row with the server's
own answer, so an operator sees each try and not only the last error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import MessageAttempt
from app.services.dispatcher import dispatch_due
from tests.dropping_smtp import DroppingSmtpSink
from tests.engine.test_dispatcher import NOW, launch, messages, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, tick

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)


def attempts_of(email: str) -> list[MessageAttempt]:
    message = messages()[email]
    return list(
        db.session.scalars(
            select(MessageAttempt)
            .where(MessageAttempt.message_id == message.id)
            .order_by(MessageAttempt.id)
        )
    )


def test_a_sent_message_records_the_servers_250_answer_to_its_content(app, api, smtp_sink):
    launch(api, single_email("Hi", "<p>x</p>"), [("ada@example.com", "Ada")])
    tick(app, NOW)
    [attempt] = attempts_of("ada@example.com")
    assert (attempt.attempt, attempt.outcome) == (1, "sent")
    assert (attempt.smtp_code, attempt.smtp_answer) == (250, "2.0.0 Message accepted")
    assert NOW <= attempt.started_at <= attempt.finished_at
    assert attempt.workspace_id == api.workspace_id


def test_a_permanent_refusal_records_the_5xx_code_and_text(app, api, smtp_sink):
    smtp_sink.reject("gone@example.com", code=550, text="5.1.1 No such user")
    launch(api, single_email("Hi", "<p>x</p>"), [("gone@example.com", "G")])
    tick(app, NOW)
    [attempt] = attempts_of("gone@example.com")
    assert (attempt.outcome, attempt.smtp_code) == ("failed", 550)
    assert attempt.smtp_answer == "5.1.1 No such user"


def test_a_transient_refusal_then_a_success_are_two_numbered_attempts(app, api, smtp_sink):
    smtp_sink.reject("busy@example.com", code=451, text="4.3.0 Try again later")
    launch(api, single_email("Hi", "<p>x</p>"), [("busy@example.com", "B")])
    tick(app, NOW)
    smtp_sink.allow("busy@example.com")
    tick(app, messages()["busy@example.com"].next_attempt_at)
    tried = [
        (a.attempt, a.outcome, a.smtp_code, a.smtp_answer) for a in attempts_of("busy@example.com")
    ]
    assert tried == [
        (1, "retry", 451, "4.3.0 Try again later"),
        (2, "sent", 250, "2.0.0 Message accepted"),
    ]


def test_a_transaction_broken_off_after_the_content_is_an_unknown_attempt_without_a_code(app, api):
    with DroppingSmtpSink() as sink:
        app.config["SMTP_URL"] = sink.url
        launch(api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A")])
        tick(app, NOW)
    [attempt] = attempts_of("a@example.com")
    assert (attempt.outcome, attempt.smtp_code) == ("unknown", None)
    assert "may have accepted it" in attempt.smtp_answer


def test_a_dispatcher_that_died_mid_transaction_leaves_an_unknown_attempt_on_recovery(
    app, api, smtp_sink
):
    launch(api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A")])
    tick(app, NOW)
    message = messages()["a@example.com"]
    db.session.execute(MessageAttempt.__table__.delete())
    message.status, message.lease_expires_at, message.claimed_at = "sending", NOW, NOW
    db.session.commit()
    dispatch_due(NOW + timedelta(seconds=1))
    [attempt] = attempts_of("a@example.com")
    assert (attempt.outcome, attempt.started_at, attempt.finished_at) == ("unknown", NOW, None)
    assert "dispatcher stopped" in attempt.smtp_answer


def test_a_captured_message_records_one_captured_attempt(app, api):
    launch(api, single_email("Hi", "<p>x</p>"), [("a@example.com", "A")])
    tick(app, NOW)
    [attempt] = attempts_of("a@example.com")
    assert (attempt.outcome, attempt.smtp_code, attempt.smtp_answer) == ("captured", None, None)
