"""POST /api/inbound/email: replies and bounces matched to the workspace's sent emails."""

from __future__ import annotations

import io
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    ContactEvent,
    ContactSequence,
    Conversion,
    EventReceipt,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Suppression,
)
from app.services.suppression import suppressed_emails
from tests.conftest import api_for
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import cheapest_cpu_seconds, iso, onboarding_definition, tick


def sent_messages(app, api, smtp_sink) -> list[OutboundMessage]:
    """Run the onboarding (exit on reply) to its first emails; the three sent messages."""
    _, t0 = start_onboarding(api)
    tick(app, t0)
    smtp_sink.wait_for(3)
    db.session.expire_all()
    messages = list(db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.to_email)))
    assert len(messages) == 3 and all(m.message_id.startswith("<") for m in messages)
    return messages


def post_raw(api, raw: bytes, content_type: str = "message/rfc822"):
    return api.client.post(
        "/api/inbound/email",
        data=raw,
        headers={**api._headers(), "Content-Type": content_type},
    )


def reply_to(
    message: OutboundMessage,
    subject: str = "Re: Welcome to PenguinMails!",
    in_reply_to: bool = True,
    **headers: str,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = message.to_email
    mail["To"] = "team@penguinmails.example"
    mail["Subject"] = subject
    mail["Message-ID"] = f"<reply-{message.id.hex}@mail.example>"
    if in_reply_to:
        mail["In-Reply-To"] = message.message_id
    mail["References"] = f"<older@elsewhere.example> {message.message_id}"
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content("Thanks, sounds great!\n\n> earlier text")
    return bytes(mail)


def dsn(message: OutboundMessage, status: str, action: str, headers_only: bool = False) -> bytes:
    original = (
        f"Message-ID: {message.message_id}\r\nTo: {message.to_email}\r\n"
        "From: team@penguinmails.example\r\nSubject: Welcome to PenguinMails!\r\n"
    )
    returned = (
        "Content-Type: text/rfc822-headers\r\n\r\n" + original
        if headers_only
        else "Content-Type: message/rfc822\r\n\r\n" + original + "\r\nHi there\r\n"
    )
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
        "To: bounces@penguinmails.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-" + message.id.hex + status + "@mx.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {message.to_email}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--B\r\n" + returned + "\r\n--B--\r\n"
    ).encode()


def events(kind: str | None = None) -> list[ContactEvent]:
    db.session.expire_all()
    query = select(ContactEvent).where(ContactEvent.source == "inbound")
    if kind is not None:
        query = query.where(ContactEvent.type == kind)
    return list(db.session.scalars(query.order_by(ContactEvent.id)))


def enrollment(message: OutboundMessage) -> ContactSequence:
    db.session.expire_all()
    return db.session.get_one(ContactSequence, message.enrollment_id)


def step_key(message: OutboundMessage) -> str:
    return db.session.get_one(SequenceStep, message.step_id).key


def test_a_reply_is_recorded_and_exits_the_enrollment_on_reply(app, api, smtp_sink):
    ada, grace, _ = sent_messages(app, api, smtp_sink)

    response = post_raw(api, reply_to(ada))

    assert response.status_code == 202, response.json
    assert response.json == {"matched": True, "event": "replied", "enrollment_exited": True}
    [event] = events()
    assert (event.type, event.contact_id, event.enrollment_id, event.step_id) == (
        "replied",
        ada.contact_id,
        ada.enrollment_id,
        ada.step_id,
    )
    assert event.message_id == ada.id and event.workspace_id == api.workspace_id
    assert event.properties == {
        "email_step_id": "email_1",
        "message_id": ada.message_id,
        "subject": "Re: Welcome to PenguinMails!",
    }
    exited = enrollment(ada)
    assert (exited.status, exited.exit_reason) == ("exited", "replied")
    assert exited.finished_at is not None and exited.next_execution_at is None
    assert enrollment(grace).status == "active"


def test_the_same_reply_delivered_twice_is_recorded_once(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)
    assert post_raw(api, reply_to(ada)).status_code == 202
    again = post_raw(api, reply_to(ada))
    assert again.status_code == 202
    assert again.json["matched"] is True and again.json["duplicate"] is True
    assert len(events()) == 1


def test_a_reply_matches_by_references_alone_and_as_a_form_upload(app, api, smtp_sink):
    _, grace, kenji = sent_messages(app, api, smtp_sink)

    response = post_raw(api, reply_to(grace, in_reply_to=False))
    assert response.json == {"matched": True, "event": "replied", "enrollment_exited": True}

    upload = api.client.post(
        "/api/inbound/email",
        data={"message": (io.BytesIO(reply_to(kenji)), "reply.eml")},
        headers=api._headers(),
        content_type="multipart/form-data",
    )
    assert upload.status_code == 202 and upload.json["event"] == "replied", upload.json
    assert [e.contact_id for e in events("replied")] == [grace.contact_id, kenji.contact_id]


def long_thread_reply(message: OutboundMessage, ids: list[str], subject: str = "Re: hi") -> bytes:
    """A reply whose References carries these ids (folded one per line), no In-Reply-To."""
    references = "\r\n ".join(ids)
    return (
        f"From: {message.to_email}\r\nTo: team@penguinmails.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <long-{message.id.hex}@mail.example>\r\n"
        f"References: {references}\r\n\r\nThanks!\r\n"
    ).encode()


def references(newest: str, count: int) -> list[str]:
    """A thread of `count` older Message-IDs, then the newest."""
    return [f"<r{i}@x.t>" for i in range(count)] + [newest]


def test_a_reply_with_100000_references_is_matched_by_its_newest_at_a_linear_cost(
    app, api, smtp_sink
):
    """The ids are found by one regex scan of References' newest end, so a reply costs in
    proportion to its size and no more: ten times the ids cost about seven times as much here
    (the folded lines are still read), and the bound leaves room for noise."""
    ada, *_ = sent_messages(app, api, smtp_sink)

    response = post_raw(api, long_thread_reply(ada, references(ada.message_id, 100_000)))

    assert response.status_code == 202, response.json
    assert response.json == {"matched": True, "event": "replied", "enrollment_exited": True}
    assert [e.contact_id for e in events("replied")] == [ada.contact_id]

    def cost(count: int) -> float:
        reply = long_thread_reply(ada, references(ada.message_id, count))
        return cheapest_cpu_seconds(lambda: post_raw(api, reply))

    assert cost(100_000) < 15 * cost(10_000)


def test_only_the_newest_100_references_are_considered(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)
    ids = [ada.message_id] + [f"<r{i}@x.t>" for i in range(100)]

    response = post_raw(api, long_thread_reply(ada, ids))

    assert response.status_code == 202 and response.json == {"matched": False}
    assert events() == []


def test_a_100000_word_subject_costs_what_10000_words_do_and_is_stored_cut(app, api, smtp_sink):
    """Every header is cut to MAX_HEADER characters as it is read, so a subject ten times as
    long costs about the same (uncut, 10,000 words cost 0.3 s and 100,000 cost 7 s)."""
    ada, *_ = sent_messages(app, api, smtp_sink)

    def reply(subject: str) -> bytes:
        return long_thread_reply(ada, [ada.message_id], subject=subject)

    def subject(words: int) -> str:
        return "Re: " + " ".join(f"w{i}" for i in range(words))

    response = post_raw(api, reply(subject(100_000)))

    assert response.status_code == 202 and response.json["matched"] is True, response.json
    [event] = events("replied")
    assert event.properties["subject"] == subject(100_000)[:998]

    def cost(words: int) -> float:
        raw = reply(subject(words))
        return cheapest_cpu_seconds(lambda: post_raw(api, raw))

    assert cost(100_000) < 3 * cost(10_000)


def test_without_on_reply_a_reply_is_recorded_but_the_enrollment_stays(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)
    sequence = db.session.get_one(Sequence, ada.sequence_id)
    sequence.exit_config = {"on_reply": False}
    db.session.commit()

    response = post_raw(api, reply_to(ada))
    assert response.json == {"matched": True, "event": "replied", "enrollment_exited": False}
    assert enrollment(ada).status == "active"


def test_out_of_office_answers_are_auto_replies_and_change_nothing(app, api, smtp_sink):
    ada, grace, kenji = sent_messages(app, api, smtp_sink)

    by_header = post_raw(api, reply_to(ada, subject="Re: Welcome", Auto_Submitted="auto-replied"))
    german = post_raw(api, reply_to(grace, subject="Abwesenheitsnotiz: Welcome to PenguinMails!"))
    precedence = post_raw(api, reply_to(kenji, subject="Hello", Precedence="auto_reply"))

    for response in (by_header, german, precedence):
        assert response.status_code == 202
        assert response.json == {"matched": True, "event": "auto_reply", "enrollment_exited": False}
    assert [e.type for e in events()] == ["auto_reply"] * 3
    assert events()[1].properties["subject"] == "Abwesenheitsnotiz: Welcome to PenguinMails!"
    assert {enrollment(m).status for m in (ada, grace, kenji)} == {"active"}


def test_auto_submitted_no_is_a_person(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)
    response = post_raw(api, reply_to(ada, Auto_Submitted="no"))
    assert response.json["event"] == "replied"


def test_a_hard_bounce_suppresses_the_address_and_ends_the_enrollment_failed(app, api, smtp_sink):
    ada, grace, _ = sent_messages(app, api, smtp_sink)

    response = post_raw(api, dsn(ada, "5.1.1", "failed"))

    assert response.status_code == 202, response.json
    assert response.json == {"matched": True, "event": "bounced", "enrollment_exited": True}
    [event] = events()
    assert event.type == "bounced" and event.message_id == ada.id
    assert (event.enrollment_id, event.step_id) == (ada.enrollment_id, ada.step_id)
    assert event.properties == {
        "email_step_id": step_key(ada),
        "message_id": ada.message_id,
        "status": "5.1.1",
        "hard": True,
        "recipient": ada.to_email,
    }
    assert suppressed_emails(api.workspace_id, [ada.to_email]) == {ada.to_email: "bounced"}
    ended = enrollment(ada)
    assert (ended.status, ended.exit_reason) == (
        "failed",
        f"bounced (status 5.1.1 for {ada.to_email})",
    )
    assert enrollment(grace).status == "active"


def test_a_soft_bounce_is_recorded_without_suppression(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)

    response = post_raw(api, dsn(ada, "4.2.2", "delayed", headers_only=True))

    assert response.json == {"matched": True, "event": "bounced", "enrollment_exited": False}
    [event] = events()
    assert event.properties["status"] == "4.2.2" and event.properties["hard"] is False
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert enrollment(ada).status == "active"


def test_an_unknown_message_id_matches_nothing(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)
    mail = EmailMessage()
    mail["From"] = ada.to_email
    mail["Subject"] = "Re: something else"
    mail["In-Reply-To"] = "<not-ours@elsewhere.example>"
    mail.set_content("hello")
    response = post_raw(api, bytes(mail))
    assert response.status_code == 202 and response.json == {"matched": False}
    no_refs = EmailMessage()
    no_refs["From"] = ada.to_email
    no_refs["Subject"] = "Hello"
    no_refs.set_content("hello")
    assert post_raw(api, bytes(no_refs)).json == {"matched": False}
    assert events() == []
    assert enrollment(ada).status == "active"


def test_another_workspaces_message_matches_nothing(app, api, smtp_sink):
    ada, *_ = sent_messages(app, api, smtp_sink)
    other = api_for(app, "Globex")

    assert post_raw(other, reply_to(ada)).json == {"matched": False}
    assert post_raw(other, dsn(ada, "5.1.1", "failed")).json == {"matched": False}

    assert events() == []
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert enrollment(ada).status == "active"


def test_a_missing_or_unreadable_message_is_refused(app, api):
    for body in (b"", b"   \r\n", b"\x00\x01 garbage without any header \xff"):
        response = post_raw(api, body)
        assert response.status_code == 400, body
        assert response.json["error"]["field"] == "message"
    form = api.client.post("/api/inbound/email", data={"other": "x"}, headers=api._headers())
    assert form.status_code == 400 and form.json["error"]["field"] == "message"
    assert events() == []


def test_the_endpoint_needs_a_token(app):
    response = app.test_client().post(
        "/api/inbound/email", data=b"Subject: hi\r\n\r\nx", content_type="message/rfc822"
    )
    assert response.status_code == 401


def test_a_reply_wakes_a_contact_waiting_for_it(app, api, smtp_sink):
    definition = onboarding_definition()
    definition["name"] = "Reply wait"
    definition["exit"] = {"on_reply": False}
    definition["steps"] = [
        {"id": "mail", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}},
        {
            "id": "wait",
            "type": "wait_until",
            "config": {
                "conditions": [{"event": "replied", "email_step_id": "mail", "timeout": "7 days"}]
            },
        },
        {"id": "answered", "type": "end", "config": {}},
        {"id": "silent", "type": "end", "config": {}},
    ]
    definition["connections"] = [
        {"source": "mail", "target": "wait"},
        {"source": "wait", "target": "answered", "label": "met"},
        {"source": "wait", "target": "silent", "label": "timeout"},
    ]
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    assert api.post("/api/contacts", json={"email": "ada@example.com"}).status_code == 201
    enrolled = api.post(
        f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": "ada@example.com"}]}
    )
    assert enrolled.json["enrolled"] == 1, enrolled.json
    start = iso(
        api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"][0]["next_execution_at"]
    )
    tick(app, start)
    smtp_sink.wait_for(1)
    db.session.expire_all()
    message = db.session.scalars(select(OutboundMessage)).one()
    waiting = enrollment(message)
    assert waiting.status == "active" and waiting.next_execution_at > start + timedelta(days=6)

    response = post_raw(api, reply_to(message))

    assert response.json == {"matched": True, "event": "replied", "enrollment_exited": False}
    woken = enrollment(message)
    assert woken.status == "active" and woken.next_execution_at < start + timedelta(days=1)


def test_a_reply_delivered_twice_is_one_event_and_one_receipt_and_reaches_a_goal_at_once(
    app, api, smtp_sink
):
    """Inbound mail is de-duplicated by the events' shared receipts (its Message-ID), and
    the recorded reply reaches goals at once like any other event, not at the next monitor."""
    definition = onboarding_definition()
    definition["name"] = "Answer goal"
    definition["exit"] = {"on_reply": False, "goals": []}
    answered = {"type": "custom_event", "event": "replied"}
    definition["goals"] = [{"name": "Answered", "when": answered, "action": {"type": "exit"}}]
    definition["steps"] = [
        {"id": "mail", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}},
        {"id": "later", "type": "delay", "config": {"duration": "7 days"}},
    ]
    definition["connections"] = [{"source": "mail", "target": "later"}]
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    assert api.post("/api/contacts", json={"email": "ada@example.com"}).status_code == 201
    body = {"contacts": [{"email": "ada@example.com"}]}
    assert api.post(f"/api/sequences/{seq_id}/enroll", json=body).json["enrolled"] == 1
    [enrolled] = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    tick(app, iso(enrolled["next_execution_at"]))
    smtp_sink.wait_for(1)
    db.session.expire_all()
    message = db.session.scalars(select(OutboundMessage)).one()

    first = post_raw(api, reply_to(message))
    again = post_raw(api, reply_to(message))

    assert first.json == {"matched": True, "event": "replied", "enrollment_exited": False}
    assert again.json == {**first.json, "duplicate": True}
    [event] = events()
    [receipt] = db.session.scalars(select(EventReceipt)).all()
    assert receipt.client_event_id.startswith("inbound:") and receipt.event_id == event.id
    ended = enrollment(message)
    assert (ended.status, ended.exit_reason) == ("exited", "goal 'Answered' reached")
    [conversion] = db.session.scalars(select(Conversion)).all()
    assert (conversion.goal, conversion.event_id) == ("Answered", event.id)


def arf(message: OutboundMessage, full_original: bool = True) -> bytes:
    """A feedback-loop complaint as mailbox providers send them (ARF, RFC 5965)."""
    original = (
        f"Message-ID: {message.message_id}\r\nTo: {message.to_email}\r\n"
        "From: team@penguinmails.example\r\nSubject: Welcome to PenguinMails!\r\n"
    )
    returned = (
        "Content-Type: message/rfc822\r\n\r\n" + original + "\r\nHi there\r\n"
        if full_original
        else "Content-Type: text/rfc822-headers\r\n\r\n" + original
    )
    return (
        "From: Feedback Loop <fbl@isp.example>\r\n"
        "To: abuse@penguinmails.example\r\n"
        "Subject: FW: Welcome to PenguinMails!\r\n"
        "Message-ID: <arf-" + message.id.hex + "@isp.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n--F\r\nContent-Type: text/plain\r\n\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.1.\r\n"
        "\r\n--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {message.to_email}\r\n"
        "Arrival-Date: Thu, 8 Mar 2026 14:00:00 EDT\r\n"
        "\r\n--F\r\n" + returned + "\r\n--F--\r\n"
    ).encode()


def test_a_feedback_loop_complaint_suppresses_the_address_and_exits(app, api, smtp_sink):
    ada, grace, kenji = sent_messages(app, api, smtp_sink)

    response = post_raw(api, arf(ada))
    headers_only = post_raw(api, arf(grace, full_original=False))

    assert response.json == {"matched": True, "event": "complained", "enrollment_exited": True}
    assert headers_only.json["event"] == "complained", headers_only.json
    complaints = events("complained")
    assert [(e.contact_id, e.message_id, e.step_id) for e in complaints] == [
        (ada.contact_id, ada.id, ada.step_id),
        (grace.contact_id, grace.id, grace.step_id),
    ]
    assert complaints[0].properties == {
        "email_step_id": "email_1",
        "message_id": ada.message_id,
        "feedback_type": "abuse",
        "recipient": ada.to_email,
    }
    assert suppressed_emails(api.workspace_id, [ada.to_email, grace.to_email, kenji.to_email]) == {
        ada.to_email: "complained",
        grace.to_email: "complained",
    }
    assert (enrollment(ada).status, enrollment(ada).exit_reason) == ("exited", "complained")
    assert enrollment(kenji).status == "active"
